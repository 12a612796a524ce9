//! Data frames to a WebSocket peer, written straight to the socket rather than through
//! tungstenite. tungstenite copies every frame into one `Vec` write buffer, which keeps
//! its largest size for the connection's life (one 1 MiB replay frame = 1 MiB per socket
//! from then on), drains it by moving the rest down after every partial write, and fails
//! a frame over `max_write_buffer_size` with an error that ended the connection without
//! a close frame (issue 10, finding 2: a 4.5 MB replay was never delivered). Here the
//! frame header is written and then the shared bytes, with no copy and nothing kept.
//! tungstenite still writes control frames (pong, ping, close): its buffer is flushed
//! first, so frames never interleave.

use std::io;

use bytes::Bytes;
use futures_util::SinkExt;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use tokio_tungstenite::tungstenite::Error as WsError;
use tokio_tungstenite::WebSocketStream;

/// RFC 6455 §5.2 header of an unmasked (server → client) final data frame.
pub fn header(binary: bool, len: usize) -> ([u8; 10], usize) {
    let mut h = [0u8; 10];
    h[0] = 0x80 | if binary { 0x2 } else { 0x1 };
    let n = if len < 126 {
        h[1] = len as u8;
        2
    } else if len <= u16::MAX as usize {
        h[1] = 126;
        h[2..4].copy_from_slice(&(len as u16).to_be_bytes());
        4
    } else {
        h[1] = 127;
        h[2..10].copy_from_slice(&(len as u64).to_be_bytes());
        10
    };
    (h, n)
}

/// Write one data frame and wait until the socket took it all: the caller builds the
/// next one only then (backpressure). A text payload must be UTF-8.
pub async fn data_frame<S>(
    ws: &mut WebSocketStream<S>,
    binary: bool,
    payload: &Bytes,
) -> Result<(), WsError>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    // A pong or close tungstenite has queued goes first, whole. (If that was the answer to
    // the peer's close, the frame below follows it and is ignored by the peer; the read
    // loop then ends the connection.)
    ws.flush().await?;
    let (h, n) = header(binary, payload.len());
    let io = ws.get_mut();
    async {
        io.write_all(&h[..n]).await?;
        io.write_all(payload).await?;
        io.flush().await
    }
    .await
    .map_err(|e: io::Error| WsError::Io(e))
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio_tungstenite::tungstenite::protocol::frame::coding::{Data, OpCode};
    use tokio_tungstenite::tungstenite::protocol::frame::Frame;

    /// Same bytes as tungstenite's own encoder, at every length form.
    #[test]
    fn headers_match_tungstenite() {
        for len in [0usize, 1, 125, 126, 65_535, 65_536, 5_000_000] {
            for binary in [false, true] {
                let payload = Bytes::from(vec![b'x'; len]);
                let op = OpCode::Data(if binary { Data::Binary } else { Data::Text });
                let mut want = Vec::new();
                Frame::message(payload.clone(), op, true)
                    .format(&mut want)
                    .unwrap();
                let (h, n) = header(binary, len);
                let mut got = h[..n].to_vec();
                got.extend_from_slice(&payload);
                assert!(got == want, "len {len} binary {binary}");
            }
        }
    }
}
