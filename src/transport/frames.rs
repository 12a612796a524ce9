//! Turning queued messages into what goes on the wire: one text frame / long-poll body
//! of concatenated envelopes, or one protobuf `ResponseBatch`, or SSE events. A single
//! message reuses its shared encoding without a copy.
//!
//! Many messages (a replay, a batch that queued while the socket was busy) are cut into
//! chunks of at most `max_send_chunk` bytes ([`next_chunk`]): one chunk is one WebSocket
//! frame, one long-poll reply or one SSE write. Both stock clients take any number of
//! whole messages per frame or reply (`pull.client.js` and the b24jssdk scan a text
//! frame for `#!NGINXNMS!#…#!NGINXNME!#`; a binary frame is a `ResponseBatch` of any
//! length), never a message split across two, so a chunk always holds whole messages and
//! a message larger than the bound goes alone.

use std::collections::VecDeque;
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

/// Which of the encodings above a connection gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wire {
    Text,
    Binary,
    Sse,
}

impl Wire {
    pub fn encode(self, msgs: &[Arc<Message>]) -> Bytes {
        match self {
            Wire::Text => text_batch(msgs),
            Wire::Binary => binary_batch(msgs),
            Wire::Sse => sse_events(msgs),
        }
    }

    /// About what `m` adds to a chunk (exact for text; protobuf and SSE framing add a
    /// few bytes, a long id, and `data: ` per line).
    fn cost(self, m: &Message) -> usize {
        match self {
            Wire::Text => m.text_envelope().len(),
            Wire::Binary => m.outgoing_proto().len() + 6,
            Wire::Sse => m.text_envelope().len() + 40,
        }
    }
}

/// How many of `msgs`, from the front, make one chunk of at most `bound` bytes: at least
/// one (a message is never split), at most all.
pub fn chunk_len(msgs: &[Arc<Message>], wire: Wire, bound: usize) -> usize {
    let mut size = 0;
    for (i, m) in msgs.iter().enumerate() {
        size += wire.cost(m);
        if size > bound && i > 0 {
            return i;
        }
    }
    msgs.len()
}

/// Take the next chunk off the front of `pending`, with the messages it holds (for the
/// delivery counters); `None` when nothing is pending. What is taken is released from
/// `pending` at once, so a replay being sent holds only what is still to go.
pub fn next_chunk(
    pending: &mut VecDeque<Arc<Message>>,
    wire: Wire,
    bound: usize,
) -> Option<(Vec<Arc<Message>>, Bytes)> {
    if pending.is_empty() {
        return None;
    }
    let n = chunk_len(pending.make_contiguous(), wire, bound);
    let msgs: Vec<_> = pending.drain(..n).collect();
    let bytes = wire.encode(&msgs);
    Some((msgs, bytes))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::Sender;
    use crate::protocol::MessageId;

    fn msgs(sizes: &[usize]) -> VecDeque<Arc<Message>> {
        sizes
            .iter()
            .enumerate()
            .map(|(i, &n)| {
                Arc::new(Message::new(
                    MessageId::new(1_700_000_000, i as u64 + 1),
                    Vec::new(),
                    Bytes::from(vec![b'x'; n]),
                    60,
                    1_700_000_000_000,
                    Sender::Backend,
                ))
            })
            .collect()
    }

    /// Chunks keep order, hold whole messages, stay under the bound unless one message
    /// alone is larger, and together hold every message once.
    #[test]
    fn chunks_hold_whole_messages_in_order_under_the_bound() {
        for wire in [Wire::Text, Wire::Binary, Wire::Sse] {
            let mut pending = msgs(&[100, 100, 100, 5000, 100, 100, 100, 100]);
            let three: Vec<_> = pending.iter().take(3).cloned().collect();
            let bound = wire.encode(&three).len() + 5;
            let mut seen = Vec::new();
            let mut sizes = Vec::new();
            while let Some((taken, bytes)) = next_chunk(&mut pending, wire, bound) {
                if taken.len() > 1 {
                    assert!(bytes.len() <= bound, "{wire:?}: {} > {bound}", bytes.len());
                }
                assert_eq!(bytes, wire.encode(&taken));
                if taken.iter().any(|m| m.body.len() == 5000) {
                    assert_eq!(taken.len(), 1, "{wire:?}: the large message goes alone");
                }
                seen.extend(taken.iter().map(|m| m.mid));
                sizes.push(taken.len());
            }
            let want: Vec<_> = msgs(&[0; 8]).iter().map(|m| m.mid).collect();
            assert_eq!(seen, want, "{wire:?}");
            assert!(
                sizes.len() >= 4 && sizes.iter().all(|&n| n <= 3),
                "{wire:?}: {sizes:?}"
            );
        }
        assert!(next_chunk(&mut VecDeque::new(), Wire::Text, 10).is_none());
    }
}
