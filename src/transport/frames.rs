//! Turning queued messages into what goes on the wire: one text frame / long-poll body
//! of concatenated envelopes, or one protobuf `ResponseBatch`. A single message reuses
//! its shared encoding without a copy.

use std::sync::Arc;

use bytes::{Bytes, BytesMut};

use crate::message::Message;
use crate::protocol::proto;

/// Concatenated text envelopes (`#!NGINXNMS!#…#!NGINXNME!#` back to back).
pub fn text_batch(msgs: &[Arc<Message>]) -> Bytes {
    if let [one] = msgs {
        return one.text_envelope().clone();
    }
    let len = msgs.iter().map(|m| m.text_envelope().len()).sum();
    let mut out = BytesMut::with_capacity(len);
    for m in msgs {
        out.extend_from_slice(m.text_envelope());
    }
    out.freeze()
}

/// A protobuf `ResponseBatch` with one `outgoingMessages` response.
pub fn binary_batch(msgs: &[Arc<Message>]) -> Bytes {
    Bytes::from(proto::response_batch_of_messages(
        msgs.iter().map(|m| m.outgoing_proto().as_ref()),
    ))
}

/// SSE events: `id: <mid>` and the envelope's JSON as `data:` (one `data:` line per
/// line of it, so a body with a raw newline still parses).
pub fn sse_events(msgs: &[Arc<Message>]) -> Bytes {
    let mut out = BytesMut::new();
    for m in msgs {
        out.extend_from_slice(b"id: ");
        out.extend_from_slice(m.mid.to_string().as_bytes());
        out.extend_from_slice(b"\n");
        let json = m.envelope_json();
        for line in json.split(|&b| b == b'\n') {
            let line = line.strip_suffix(b"\r").unwrap_or(line);
            out.extend_from_slice(b"data: ");
            out.extend_from_slice(line);
            out.extend_from_slice(b"\n");
        }
        out.extend_from_slice(b"\n");
    }
    out.freeze()
}
