//! Target `ws_frames`: the bytes a WebSocket client sends after the upgrade, cut into
//! reads of varying size (from the first two input bytes), read by the server's own frame
//! reader (`transport::ws_codec::Reader`, as `transport::websocket` feeds it).
//!
//! Properties:
//! - however the bytes are cut (headers split across reads included), the reader gives
//!   the same events and the same error as when it is handed the whole buffer at once;
//! - after every read, until an error, `in_message` (which arms the unfinished-message
//!   deadline) agrees with a whole-buffer reading of the same frames;
//! - no message is over `max_payload`, a text message is UTF-8, a ping's payload is at
//!   most 125 bytes, an error's code is 1002, 1007 or 1009, and the reader holds a
//!   bounded amount of memory;
//! - each binary message goes to the client-request parser (as the server does in binary
//!   mode) and fails, if it does, only with a documented code.

use bxpush::protocol::request::parse_request_batch;
use bxpush::protocol::{Limits, Trust};
use bxpush::transport::ws_codec::{Event, Reader, Violation};

const MAX_PAYLOAD: usize = 4096;

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

/// What one event was, small enough to keep for every event of a run.
#[derive(Debug, PartialEq, Eq)]
enum Seen {
    Message { binary: bool, len: usize, crc: u32 },
    Ping(usize),
    Pong,
    Close(Option<u16>),
}

/// Read `stream` in reads of `sizes` (in turn); check each event as it comes and each
/// read's `in_message` against the model. Returns the events and the error, if any.
fn read(stream: &[u8], sizes: [usize; 2]) -> (Vec<Seen>, Option<Violation>) {
    let signer = super::signer();
    let limits = Limits::default();
    let mut r = Reader::new(MAX_PAYLOAD);
    let mut seen = Vec::new();
    let (mut pos, mut turn) = (0, 0);
    while pos < stream.len() {
        let n = sizes[turn % 2].min(stream.len() - pos);
        turn += 1;
        let mut piece = &stream[pos..pos + n];
        pos += n;
        loop {
            match r.feed(&mut piece) {
                Ok(None) => break,
                Ok(Some(e)) => seen.push(check_event(e, &signer, &limits)),
                Err(v) => {
                    assert!([1002, 1007, 1009].contains(&v.code), "{v:?}");
                    return (seen, Some(v));
                }
            }
        }
        assert_eq!(
            r.in_message(),
            model_in_message(stream, pos),
            "reader disagrees after {pos} bytes (reads of {sizes:?})"
        );
    }
    (seen, None)
}

fn check_event(e: Event, signer: &bxpush::protocol::Signer, limits: &Limits) -> Seen {
    match e {
        Event::Message { binary, data } => {
            assert!(data.len() <= MAX_PAYLOAD, "a message over max_payload");
            if binary {
                if let Err(code) =
                    parse_request_batch(&data, Trust::Untrusted, Some(signer), limits)
                {
                    assert!(super::request_batch::DOCUMENTED.contains(&code));
                }
            } else {
                assert!(
                    std::str::from_utf8(&data).is_ok(),
                    "a text message not UTF-8"
                );
            }
            Seen::Message {
                binary,
                len: data.len(),
                crc: crc32fast::hash(&data),
            }
        }
        Event::Ping(p) => {
            assert!(p.len() <= 125, "a ping of {} bytes", p.len());
            Seen::Ping(p.len())
        }
        Event::Pong => Seen::Pong,
        Event::Close(code) => Seen::Close(code),
    }
}

pub fn check(data: &[u8]) {
    let [a, b, stream @ ..] = data else {
        return;
    };
    let sizes = [1 + *a as usize % 23, 1 + *b as usize % 211];
    // The message being collected, a control payload and the events' digests.
    let bound = 4 * MAX_PAYLOAD + 64 * stream.len() + 4096;
    let cut = super::alloc::bounded("websocket read", bound, || read(stream, sizes));
    let whole = read(stream, [stream.len().max(1); 2]);
    assert_eq!(cut, whole, "reads of {sizes:?} differ from one read");
}
