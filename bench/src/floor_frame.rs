//! The bytes the server writes to one subscriber's socket for one message, as the floor
//! writes them (`floor`): built with the server's own encoders, so the floor's writes are
//! the size the server's are.
//!
//! - WebSocket: the envelope (or protobuf batch) in one unmasked frame;
//! - long polling: the whole `200` response, head and body, as the server sends it;
//! - SSE: the event in one chunk of the stream's chunked encoding.

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use bytes::Bytes;

use bxpush::message::{Message, Sender};
use bxpush::protocol::MessageId;
use bxpush::transport::frames::Wire;
use bxpush::transport::{http1_wire, longpoll};

use crate::worker::Transport;

/// What the server writes per socket for one `message_size`-byte message on `transport`.
pub fn server_bytes(transport: Transport, message_size: usize) -> Vec<u8> {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    let msg = Arc::new(Message::new(
        MessageId::new(now.as_secs() as u32, 1),
        Vec::new(),
        Bytes::from(vec![b'x'; message_size]),
        600,
        now.as_millis() as u64,
        Sender::Backend,
    ));
    let one = std::slice::from_ref(&msg);
    match transport {
        Transport::Ws => ws_frame(0x81, &Wire::Text.encode(one)),
        Transport::WsBinary => ws_frame(0x82, &Wire::Binary.encode(one)),
        Transport::Longpoll | Transport::LongpollBinary => {
            let binary = transport.binary();
            let wire = if binary { Wire::Binary } else { Wire::Text };
            let body = wire.encode(one);
            let mut out = http1_wire::response_head(
                &longpoll::reply_head(binary, false),
                http1_wire::BodyLen::Known(body.len()),
            );
            out.extend_from_slice(&body);
            out
        }
        Transport::Sse => http1_wire::chunk(&Wire::Sse.encode(one)).to_vec(),
    }
}

/// An unmasked (server → client) final frame with `first_byte` (FIN + opcode).
pub fn ws_frame(first_byte: u8, payload: &[u8]) -> Vec<u8> {
    let mut f = Vec::with_capacity(payload.len() + 10);
    f.push(first_byte);
    match payload.len() {
        n if n < 126 => f.push(n as u8),
        n if n <= 0xffff => {
            f.push(126);
            f.extend_from_slice(&(n as u16).to_be_bytes());
        }
        n => {
            f.push(127);
            f.extend_from_slice(&(n as u64).to_be_bytes());
        }
    }
    f.extend_from_slice(payload);
    f
}

#[cfg(test)]
mod tests {
    use super::*;
    use bxpush::protocol::envelope::{END, START};

    #[test]
    fn the_websocket_frame_is_the_servers_envelope_in_one_text_frame() {
        let f = server_bytes(Transport::Ws, 200);
        assert_eq!(f[0], 0x81);
        // 200 B body + the envelope's ~160 B: a 16-bit length.
        assert_eq!(f[1], 126);
        let len = u16::from_be_bytes([f[2], f[3]]) as usize;
        assert_eq!(len, f.len() - 4);
        let payload = &f[4..];
        assert!(payload.starts_with(START));
        assert!(payload.ends_with(END));
        assert_eq!(ws_frame(0x81, &[b'a'; 125])[1], 125);
        assert_eq!(ws_frame(0x81, &vec![b'a'; 70_000])[1], 127);
        assert_eq!(server_bytes(Transport::WsBinary, 200)[0], 0x82);
    }

    /// The long poll's response is a whole HTTP/1.1 `200` whose `content-length` is the
    /// envelope that follows the head.
    #[test]
    fn the_long_poll_response_is_head_and_envelope_with_its_length() {
        let r = server_bytes(Transport::Longpoll, 200);
        let text = String::from_utf8(r.clone()).unwrap();
        assert!(text.starts_with("HTTP/1.1 200 OK\r\n"), "{text}");
        let split = text.find("\r\n\r\n").unwrap() + 4;
        let (head, body) = text.split_at(split);
        let len: usize = head
            .lines()
            .find_map(|l| l.strip_prefix("content-length: "))
            .unwrap()
            .parse()
            .unwrap();
        assert_eq!(len, body.len());
        assert!(body.as_bytes().starts_with(START) && body.as_bytes().ends_with(END));
        assert!(head.contains("access-control-allow-origin: *\r\n"));
        assert!(head.contains("\r\ndate: "));
        // Binary: the protobuf batch, its own content type.
        let b = server_bytes(Transport::LongpollBinary, 200);
        assert!(String::from_utf8_lossy(&b).contains("application/octet-stream"));
    }

    /// The SSE chunk: its size in hex, the event (`id:` and `data:` lines), CRLF.
    #[test]
    fn the_sse_chunk_is_one_event_with_its_size() {
        let c = server_bytes(Transport::Sse, 200);
        let text = String::from_utf8(c).unwrap();
        let (size, rest) = text.split_once("\r\n").unwrap();
        let size = usize::from_str_radix(size, 16).unwrap();
        assert_eq!(rest.len(), size + 2);
        assert!(rest.starts_with("id: ") && rest.ends_with("\n\n\r\n"));
        assert!(rest.contains("\ndata: {"));
    }
}
