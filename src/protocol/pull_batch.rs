//! The pull module's protobuf transport as data: what `\Bitrix\Pull\ProtobufTransport::
//! sendMessages()` turns its queue into (`shared/spec/pull-transport-vectors.md` §3–4).
//!
//! The PHP extension uses it twice: [`wire_expiry`] and [`label`] for the messages it hands
//! to the owner (the transport shim of the Bitrix module), and [`batches`] for the exact
//! `RequestBatch` bodies the stock transport would POST, when the shim must still talk HTTP
//! (an explicit `serverUrl`). The packing reproduces the module's own rule byte for byte,
//! quirks included (see [`batches`]), so a capture of either path is identical.

use prost::encoding::{encode_varint, encoded_len_varint};

use super::proto::{field_len, put_header};
use super::ChannelId;

/// The pull module's batching options (`limit_max_*`), with its defaults.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PullLimits {
    /// `limit_max_channels_per_request`: receivers per message.
    pub channels_per_message: usize,
    /// `limit_max_messages_per_request`: messages per request.
    pub messages_per_request: usize,
    /// `limit_max_payload`: the byte budget of a request is this minus 200.
    pub max_payload: i64,
}

impl Default for PullLimits {
    fn default() -> Self {
        Self {
            channels_per_message: 100,
            messages_per_request: 100,
            max_payload: 1_048_576,
        }
    }
}

/// One selected queue entry: its body (already encoded JSON), expiry as the queue holds
/// it (a PHP int, unclamped), statistics label and receivers in order (duplicates kept:
/// the transport keeps them).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PullEntry {
    pub channels: Vec<ChannelId>,
    pub body: Vec<u8>,
    pub expiry: i64,
    pub label: String,
}

/// `module_id . '_' . command` with every byte that is not an ASCII letter, digit or `_`
/// removed (vectors §3.3; case i1: non-ASCII letters vanish).
pub fn label(module_id: &[u8], command: &[u8]) -> String {
    let keep = |b: &&u8| b.is_ascii_alphanumeric() || **b == b'_';
    let mut s = String::with_capacity(module_id.len() + command.len() + 1);
    s.extend(module_id.iter().filter(keep).map(|&b| b as char));
    s.push('_');
    s.extend(command.iter().filter(keep).map(|&b| b as char));
    s
}

/// The expiry a `uint32` reader (every push server) takes from the varint the transport
/// writes for the PHP int: its low 32 bits. 4294967301 → 5, -1 → 4294967295 (vectors §4).
pub fn wire_expiry(expiry: i64) -> u32 {
    expiry as u64 as u32
}

const RECEIVER_LEN: usize = 2 + 16 + 2; // id (key, len, 16 bytes) + isPrivate (key, 1)

/// One `IncomingMessage` (its fields, without an outer tag and length): every receiver
/// `{id, isPrivate: true}`, the body, the expiry always (also 0; a negative one as the
/// 10-byte two's complement), the label. No sender, no signatures (vectors §3.4).
pub fn encode_incoming_message(
    channels: &[ChannelId],
    body: &[u8],
    expiry: i64,
    label: &str,
) -> Vec<u8> {
    let len = channels.len() * field_len(RECEIVER_LEN)
        + field_len(body.len())
        + 1
        + encoded_len_varint(expiry as u64)
        + field_len(label.len());
    let mut out = Vec::with_capacity(len);
    for c in channels {
        put_header(&mut out, 0x0a, RECEIVER_LEN);
        put_header(&mut out, 0x0a, 16);
        out.extend_from_slice(c.as_bytes());
        out.extend_from_slice(&[0x10, 0x01]);
    }
    put_header(&mut out, 0x1a, body.len());
    out.extend_from_slice(body);
    out.push(0x20);
    encode_varint(expiry as u64, &mut out);
    put_header(&mut out, 0x2a, label.len());
    out.extend_from_slice(label.as_bytes());
    debug_assert_eq!(out.len(), len);
    out
}

/// `RequestBatch{requests: [{incomingMessages: {messages}}]}` from encoded messages.
fn request_batch(messages: &[Vec<u8>]) -> Vec<u8> {
    let imr: usize = messages.iter().map(|m| field_len(m.len())).sum();
    let request = field_len(imr);
    let mut out = Vec::with_capacity(field_len(request));
    put_header(&mut out, 0x0a, request);
    put_header(&mut out, 0x0a, imr);
    for m in messages {
        put_header(&mut out, 0x0a, m.len());
        out.extend_from_slice(m);
    }
    out
}

/// The `RequestBatch` bodies the stock transport POSTs for `entries`, in order.
///
/// Each entry's channels are cut into chunks of `channels_per_message`, one message per
/// chunk. Messages are packed into requests by the module's rule, reproduced as it is:
/// a request is closed when the running byte total plus the next message reaches
/// `max_payload - 200` or it holds `messages_per_request` messages; the running total is
/// never reset and the message that caused the split is not added to it. So after the
/// first split every message travels alone, and a first message over the budget is
/// preceded by an empty request (vectors §3.5, cases f3 and f4). One request per batch.
pub fn batches(entries: &[PullEntry], limits: &PullLimits) -> Vec<Vec<u8>> {
    let per_message = limits.channels_per_message.max(1);
    let budget = limits.max_payload.saturating_sub(200);
    let mut out = Vec::new();
    let mut current: Vec<Vec<u8>> = Vec::new();
    let mut total: i64 = 0;
    for e in entries {
        for chunk in e.channels.chunks(per_message) {
            let m = encode_incoming_message(chunk, &e.body, e.expiry, &e.label);
            let mut size = m.len() as i64;
            if total.saturating_add(size) >= budget || current.len() >= limits.messages_per_request
            {
                out.push(request_batch(&current));
                current.clear();
                size = 0;
            }
            current.push(m);
            total = total.saturating_add(size);
        }
    }
    if !current.is_empty() {
        out.push(request_batch(&current));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vectors() -> Vec<serde_json::Value> {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/vectors/pull-transport-vectors.json"
        );
        let text =
            std::fs::read_to_string(path).expect("tests/vectors/pull-transport-vectors.json");
        serde_json::from_str(&text).expect("vectors are JSON")
    }

    fn hex(b: &[u8]) -> String {
        b.iter().map(|x| format!("{x:02x}")).collect()
    }

    fn limits_of(v: &serde_json::Value) -> PullLimits {
        let mut l = PullLimits::default();
        let get = |k: &str| {
            v["limits"][k]
                .as_str()
                .map(|s| s.parse::<i64>().unwrap())
                .or_else(|| v["limits"][k].as_i64())
        };
        if let Some(n) = get("limit_max_channels_per_request") {
            l.channels_per_message = n as usize;
        }
        if let Some(n) = get("limit_max_messages_per_request") {
            l.messages_per_request = n as usize;
        }
        if let Some(n) = get("limit_max_payload") {
            l.max_payload = n;
        }
        l
    }

    /// Entries rebuilt from the decoded batches: consecutive messages with the same body,
    /// expiry and label are the chunks of one entry (true of every vector).
    fn entries_of(v: &serde_json::Value) -> Vec<PullEntry> {
        let mut entries: Vec<PullEntry> = Vec::new();
        for b in v["batches_decoded"].as_array().unwrap() {
            for r in b["requests"].as_array().unwrap() {
                for m in r["incomingMessages"]["messages"].as_array().unwrap() {
                    let body = m["body"].as_str().unwrap().as_bytes().to_vec();
                    let expiry = m["expiry"].as_i64().unwrap();
                    let label = m["type"].as_str().unwrap().to_string();
                    let chans: Vec<ChannelId> = m["receivers"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .map(|r| ChannelId::from_hex(r["id"].as_str().unwrap()).unwrap())
                        .collect();
                    match entries.last_mut() {
                        Some(e) if e.body == body && e.expiry == expiry && e.label == label => {
                            e.channels.extend(chans)
                        }
                        _ => entries.push(PullEntry {
                            channels: chans,
                            body,
                            expiry,
                            label,
                        }),
                    }
                }
            }
        }
        entries
    }

    #[test]
    fn every_recorded_flush_is_reproduced_byte_for_byte() {
        let mut checked = 0;
        for v in vectors() {
            if v["kind"] != "flush" || v["batches_hex"].as_array().is_none_or(|b| b.is_empty()) {
                continue;
            }
            let got: Vec<String> = batches(&entries_of(&v), &limits_of(&v))
                .iter()
                .map(|b| hex(b))
                .collect();
            let want: Vec<String> = v["batches_hex"]
                .as_array()
                .unwrap()
                .iter()
                .map(|h| h.as_str().unwrap().to_string())
                .collect();
            assert_eq!(got, want, "case {}", v["case"]);
            checked += 1;
        }
        assert!(checked >= 15, "only {checked} flush cases found");
    }

    #[test]
    fn message_sizes_match_the_recorded_ones() {
        for v in vectors() {
            let Some(sizes) = v["message_sizes"].as_array() else {
                continue;
            };
            // Cases that threw (i2, j) list sizes but have no batches to rebuild them from.
            if sizes.is_empty() || v["batches_decoded"].as_array().is_none_or(|b| b.is_empty()) {
                continue;
            }
            let l = limits_of(&v);
            let got: Vec<u64> = entries_of(&v)
                .iter()
                .flat_map(|e| {
                    e.channels
                        .chunks(l.channels_per_message)
                        .map(|c| {
                            encode_incoming_message(c, &e.body, e.expiry, &e.label).len() as u64
                        })
                        .collect::<Vec<_>>()
                })
                .collect();
            let want: Vec<u64> = sizes.iter().map(|s| s.as_u64().unwrap()).collect();
            assert_eq!(got, want, "case {}", v["case"]);
        }
    }

    #[test]
    fn label_keeps_only_ascii_word_bytes() {
        assert_eq!(
            label(b"im", "Some.Command-1 \u{fc}".as_bytes()),
            "im_SomeCommand1"
        );
        assert_eq!(label("м".as_bytes(), b"x"), "_x");
    }

    #[test]
    fn wire_expiry_is_what_a_uint32_reader_takes() {
        assert_eq!(wire_expiry(120), 120);
        assert_eq!(wire_expiry(4_294_967_301), 5);
        assert_eq!(wire_expiry(-1), u32::MAX);
        assert_eq!(wire_expiry(0), 0);
    }

    #[test]
    fn a_first_message_over_the_budget_is_preceded_by_an_empty_request() {
        let e = PullEntry {
            channels: vec![ChannelId([7; 16])],
            body: vec![b'x'; 400],
            expiry: 1,
            label: "a_b".into(),
        };
        let l = PullLimits {
            max_payload: 500,
            ..PullLimits::default()
        };
        let b = batches(&[e.clone(), e], &l);
        assert_eq!(hex(&b[0]), "0a020a00");
        assert_eq!(b.len(), 3);
        assert!(batches(&[], &l).is_empty());
    }
}
