//! Target `ws_frames`: the bytes a WebSocket client sends after the upgrade, cut into
//! reads of varying size (from the first two input bytes).
//!
//! Properties:
//! - the frame-header follower of `transport::ws_deadline` (which arms the unfinished
//!   message deadline) agrees after every read with a whole-buffer reading of the same
//!   frames, however the bytes are cut (headers split across reads included);
//! - tungstenite, configured exactly as the server configures it (`websocket::ws_config`),
//!   never yields a message over `max_payload` and holds a bounded amount of memory;
//! - each binary message goes to the client-request parser (as the server does in binary
//!   mode) and fails, if it does, only with a documented code.

use std::io;
use std::pin::Pin;
use std::sync::OnceLock;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use bxpush::protocol::request::parse_request_batch;
use bxpush::protocol::{Limits, Trust};
use bxpush::transport::websocket::ws_config;
use bxpush::transport::ws_deadline::Deadline;
use futures_util::StreamExt;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio_tungstenite::tungstenite::protocol::Role;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::WebSocketStream;

const MAX_PAYLOAD: usize = 4096;

/// The client's bytes, handed out in reads of the given sizes (in turn); writes vanish.
struct Chunks<'a> {
    data: &'a [u8],
    pos: usize,
    sizes: [usize; 2],
    turn: usize,
}

impl AsyncRead for Chunks<'_> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        _: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let size = self.sizes[self.turn % 2];
        self.turn += 1;
        let n = size.min(buf.remaining()).min(self.data.len() - self.pos);
        buf.put_slice(&self.data[self.pos..self.pos + n]);
        self.pos += n;
        Poll::Ready(Ok(()))
    }
}

impl AsyncWrite for Chunks<'_> {
    fn poll_write(self: Pin<&mut Self>, _: &mut Context<'_>, b: &[u8]) -> Poll<io::Result<usize>> {
        Poll::Ready(Ok(b.len()))
    }
    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

/// Whether a data message is in progress after the first `x` bytes, read frame by frame
/// from the whole buffer (RFC 6455 §5.2 header layout).
fn model_in_message(s: &[u8], x: usize) -> bool {
    let (mut o, mut in_msg) = (0usize, false);
    loop {
        if o + 2 > x {
            return in_msg;
        }
        let (b0, b1) = (s[o], s[o + 1]);
        let ext = match b1 & 0x7f {
            126 => 2,
            127 => 8,
            _ => 0,
        };
        let hl = 2 + ext + if b1 & 0x80 != 0 { 4 } else { 0 };
        if o + hl > x {
            return in_msg;
        }
        let pl: u64 = match b1 & 0x7f {
            126 => u16::from_be_bytes([s[o + 2], s[o + 3]]) as u64,
            127 => u64::from_be_bytes(s[o + 2..o + 10].try_into().unwrap()),
            n => n as u64,
        };
        let data = b0 & 0x0f < 8;
        if data {
            in_msg = true;
        }
        let end = ((o + hl) as u64).saturating_add(pl);
        if end > x as u64 {
            return in_msg;
        }
        if data && b0 & 0x80 != 0 {
            in_msg = false;
        }
        o = end as usize;
    }
}

fn runtime() -> &'static tokio::runtime::Runtime {
    static RT: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RT.get_or_init(|| {
        tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .expect("a runtime")
    })
}

pub fn check(data: &[u8]) {
    let [a, b, stream @ ..] = data else {
        return;
    };
    let sizes = [1 + *a as usize % 23, 1 + *b as usize % 211];
    let rt = runtime();
    let _in_rt = rt.enter();

    // The follower, read by read.
    let chunks = Chunks {
        data: stream,
        pos: 0,
        sizes,
        turn: 0,
    };
    let mut d = Deadline::new(chunks, Duration::from_secs(60));
    let mut cx = Context::from_waker(Waker::noop());
    let mut consumed = 0;
    loop {
        let mut space = [0u8; 256];
        let mut rb = ReadBuf::new(&mut space);
        match Pin::new(&mut d).poll_read(&mut cx, &mut rb) {
            Poll::Ready(Ok(())) if rb.filled().is_empty() => break,
            Poll::Ready(Ok(())) => consumed += rb.filled().len(),
            other => panic!("reading a slice failed: {other:?}"),
        }
        assert_eq!(
            d.in_message(),
            model_in_message(stream, consumed),
            "follower disagrees after {consumed} bytes (reads of {sizes:?})"
        );
    }

    // The server's WebSocket reader over the same bytes.
    let signer = super::signer();
    let limits = Limits::default();
    let bound = 16 * MAX_PAYLOAD + 16 * stream.len() + 256 * 1024;
    super::alloc::bounded("websocket read", bound, || {
        rt.block_on(async {
            let chunks = Chunks {
                data: stream,
                pos: 0,
                sizes,
                turn: 0,
            };
            let mut ws = WebSocketStream::from_raw_socket(
                Deadline::new(chunks, Duration::from_secs(60)),
                Role::Server,
                Some(ws_config(MAX_PAYLOAD)),
            )
            .await;
            while let Some(Ok(msg)) = ws.next().await {
                assert!(msg.len() <= MAX_PAYLOAD, "a message over max_payload");
                if let Message::Binary(body) = msg {
                    if let Err(code) =
                        parse_request_batch(&body, Trust::Untrusted, Some(&signer), &limits)
                    {
                        assert!(super::request_batch::DOCUMENTED.contains(&code));
                    }
                }
            }
        })
    });
}
