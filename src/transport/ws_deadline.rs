//! A deadline for an unfinished WebSocket message. tungstenite keeps the fragments of a
//! message until its last frame arrives and says nothing while it waits; a peer that
//! starts a fragmented message and then sends only pongs kept up to `max_payload` pinned
//! per connection, forever (issue 10: 482 MB for 300 connections). This reader sits under
//! tungstenite, follows the client's frame headers as the bytes pass (no copy), and fails
//! the read with `TimedOut` when a data message is still incomplete `timeout` after its
//! first frame began. Control frames (ping, pong, close) neither start nor end a message.
//! Idle, it costs a few words: the timer exists only while a message is in progress.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::{Instant, Sleep};

/// Where the parser is in the client's frame stream.
#[derive(Debug, Clone, Copy)]
enum State {
    /// Reading a frame header: `have` of `need` bytes (need grows once byte 1 is in).
    Header { buf: [u8; 14], have: u8, need: u8 },
    /// Skipping `left` payload bytes of a frame; `ends_message` if it is the final frame
    /// of a data message.
    Payload { left: u64, ends_message: bool },
}

const FRESH: State = State::Header {
    buf: [0; 14],
    have: 0,
    need: 2,
};

pub struct Deadline<S> {
    inner: S,
    timeout: Duration,
    state: State,
    /// Inside a data message (between its first frame's header and its last byte).
    in_message: bool,
    /// Armed while `in_message`.
    timer: Option<Pin<Box<Sleep>>>,
}

impl<S> Deadline<S> {
    pub fn new(inner: S, timeout: Duration) -> Self {
        Deadline {
            inner,
            timeout,
            state: FRESH,
            in_message: false,
            timer: None,
        }
    }

    /// Whether a data message has begun and not ended: its deadline is running. Read by
    /// the fuzz target `ws_frames` (fuzz/checks/), which checks the follower against a
    /// whole-buffer reading of the same frames however the bytes are cut.
    pub fn in_message(&self) -> bool {
        self.in_message
    }

    /// Follow `bytes` read from the peer.
    fn observe(&mut self, mut bytes: &[u8]) {
        while !bytes.is_empty() {
            match &mut self.state {
                State::Header { buf, have, need } => {
                    buf[*have as usize] = bytes[0];
                    *have += 1;
                    bytes = &bytes[1..];
                    if *have == 2 {
                        let ext = match buf[1] & 0x7f {
                            126 => 2,
                            127 => 8,
                            _ => 0,
                        };
                        let mask = if buf[1] & 0x80 != 0 { 4 } else { 0 };
                        *need = 2 + ext + mask;
                    }
                    if *have == *need {
                        let h = *buf;
                        self.header_done(&h);
                    }
                }
                State::Payload { left, ends_message } => {
                    let n = (*left).min(bytes.len() as u64);
                    *left -= n;
                    bytes = &bytes[n as usize..];
                    if *left == 0 {
                        let ends = *ends_message;
                        self.state = FRESH;
                        if ends {
                            self.end_message();
                        }
                    }
                }
            }
        }
    }

    fn header_done(&mut self, h: &[u8; 14]) {
        let fin = h[0] & 0x80 != 0;
        let opcode = h[0] & 0x0f;
        let len = match h[1] & 0x7f {
            126 => u16::from_be_bytes([h[2], h[3]]) as u64,
            127 => u64::from_be_bytes(h[2..10].try_into().expect("8 bytes")),
            n => n as u64,
        };
        let data = opcode < 8; // continuation, text, binary (and reserved data opcodes)
        if data && !self.in_message {
            self.in_message = true;
            self.timer = Some(Box::pin(tokio::time::sleep_until(
                Instant::now() + self.timeout,
            )));
        }
        let ends_message = data && fin;
        if len == 0 {
            self.state = FRESH;
            if ends_message {
                self.end_message();
            }
        } else {
            self.state = State::Payload {
                left: len,
                ends_message,
            };
        }
    }

    fn end_message(&mut self) {
        self.in_message = false;
        self.timer = None;
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Deadline<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = &mut *self;
        let before = buf.filled().len();
        match Pin::new(&mut this.inner).poll_read(cx, buf) {
            Poll::Ready(Ok(())) => {
                this.observe(&buf.filled()[before..]);
                Poll::Ready(Ok(()))
            }
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
            Poll::Pending => {
                if let Some(t) = this.timer.as_mut() {
                    if t.as_mut().poll(cx).is_ready() {
                        return Poll::Ready(Err(io::Error::new(
                            io::ErrorKind::TimedOut,
                            "websocket message not finished within read_timeout",
                        )));
                    }
                }
                Poll::Pending
            }
        }
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Deadline<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(fin: bool, opcode: u8, payload_len: usize) -> Vec<u8> {
        let mut f = vec![(if fin { 0x80 } else { 0 }) | opcode];
        if payload_len < 126 {
            f.push(0x80 | payload_len as u8);
        } else {
            f.push(0x80 | 126);
            f.extend_from_slice(&(payload_len as u16).to_be_bytes());
        }
        f.extend_from_slice(&[1, 2, 3, 4]);
        f.extend(std::iter::repeat_n(0u8, payload_len));
        f
    }

    #[tokio::test]
    async fn follows_messages_byte_by_byte_and_across_control_frames() {
        let mut d = Deadline::new(tokio::io::empty(), Duration::from_secs(1));
        let mut stream = frame(false, 1, 300);
        stream.extend(frame(true, 0xA, 5)); // a pong inside the message
        let first_part = stream.len();
        stream.extend(frame(true, 0, 200));
        for (i, b) in stream.iter().enumerate() {
            d.observe(std::slice::from_ref(b));
            if i + 1 == first_part {
                assert!(d.in_message, "a pong does not end a message");
            }
        }
        assert!(!d.in_message && d.timer.is_none());
        d.observe(&frame(true, 0x9, 0));
        assert!(!d.in_message, "a ping does not start one");
        d.observe(&frame(true, 2, 0));
        assert!(!d.in_message, "an empty final frame is a whole message");
    }
}
