//! The bench message: a pull-module-shaped JSON body carrying what the receiver needs to
//! account for it, and the parsers that find it again in what each transport delivers
//! (text envelopes, protobuf `ResponseBatch`, SSE events).
//!
//! `{"module_id":"bench","command":"m","params":{"k":"s","c":3,"s":17,"g":99,"t":<unix ns>,"p":"xx…"}}`
//! - `command`: `m` a measured message, `w` a warm-up message (not counted);
//! - `k`/`c`: the channel (`p` a subscriber's private channel, `s` a shared one) and its index;
//! - `s`: the message's number on that channel (0, 1, …); `g`: its number in the run;
//! - `t`: the publisher's clock (unix nanoseconds) right before the publish request;
//! - `p`: padding up to the requested body size.

use prost::Message as _;

use bxpush::protocol::envelope::{END, START};
use bxpush::protocol::proto;

const PREFIX: &[u8] = b"{\"module_id\":\"bench\",\"command\":\"";

/// Which kind of channel a message went to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum ChannelKind {
    /// A subscriber's own private channel (index = subscriber index).
    Private,
    /// A shared channel (private-only descriptor) several subscribers listen to.
    Shared,
}

impl ChannelKind {
    fn letter(self) -> u8 {
        match self {
            ChannelKind::Private => b'p',
            ChannelKind::Shared => b's',
        }
    }
}

/// What a received bench message says about itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fields {
    pub warmup: bool,
    pub kind: ChannelKind,
    pub channel: u32,
    pub seq: u32,
    pub global: u64,
    pub sent_ns: u64,
}

/// The body of one message, `size` bytes long when `size` is larger than the fields.
pub fn build(f: &Fields, size: usize) -> Vec<u8> {
    use std::io::Write;
    let mut out = Vec::with_capacity(size.max(128));
    out.extend_from_slice(PREFIX);
    out.push(if f.warmup { b'w' } else { b'm' });
    out.extend_from_slice(b"\",\"params\":{\"k\":\"");
    out.push(f.kind.letter());
    write!(
        out,
        "\",\"c\":{},\"s\":{},\"g\":{},\"t\":{},\"p\":\"",
        f.channel, f.seq, f.global, f.sent_ns
    )
    .expect("Vec write");
    let tail = b"\"}}";
    let pad = size.saturating_sub(out.len() + tail.len());
    out.resize(out.len() + pad, b'x');
    out.extend_from_slice(tail);
    out
}

/// Parse a body produced by [`build`]; `None` for anything else.
pub fn parse(body: &[u8]) -> Option<Fields> {
    let mut c = Cursor(body.strip_prefix(PREFIX)?);
    let warmup = match c.byte()? {
        b'm' => false,
        b'w' => true,
        _ => return None,
    };
    c.lit(b"\",\"params\":{\"k\":\"")?;
    let kind = match c.byte()? {
        b'p' => ChannelKind::Private,
        b's' => ChannelKind::Shared,
        _ => return None,
    };
    c.lit(b"\",\"c\":")?;
    let channel = u32::try_from(c.num()?).ok()?;
    c.lit(b",\"s\":")?;
    let seq = u32::try_from(c.num()?).ok()?;
    c.lit(b",\"g\":")?;
    let global = c.num()?;
    c.lit(b",\"t\":")?;
    let sent_ns = c.num()?;
    Some(Fields {
        warmup,
        kind,
        channel,
        seq,
        global,
        sent_ns,
    })
}

struct Cursor<'a>(&'a [u8]);

impl Cursor<'_> {
    fn byte(&mut self) -> Option<u8> {
        let (&b, rest) = self.0.split_first()?;
        self.0 = rest;
        Some(b)
    }
    fn lit(&mut self, l: &[u8]) -> Option<()> {
        self.0 = self.0.strip_prefix(l)?;
        Some(())
    }
    fn num(&mut self) -> Option<u64> {
        let n = self.0.iter().take_while(|b| b.is_ascii_digit()).count();
        if n == 0 || n > 20 {
            return None;
        }
        let mut v: u64 = 0;
        for &d in &self.0[..n] {
            v = v.checked_mul(10)?.checked_add(u64::from(d - b'0'))?;
        }
        self.0 = &self.0[n..];
        Some(v)
    }
}

use std::sync::LazyLock;

use memchr::memmem::Finder;

static START_F: LazyLock<Finder<'static>> = LazyLock::new(|| Finder::new(START));
static END_F: LazyLock<Finder<'static>> = LazyLock::new(|| Finder::new(END));
static MID_F: LazyLock<Finder<'static>> = LazyLock::new(|| Finder::new(b"\"mid\":\""));
static PREFIX_F: LazyLock<Finder<'static>> = LazyLock::new(|| Finder::new(PREFIX));

/// The 26-digit `mid` of an envelope's JSON (`{"id":…,"mid":"…",…}`).
fn envelope_mid(json: &[u8]) -> Option<&[u8]> {
    let at = MID_F.find(json)? + 7;
    let mid = json.get(at..at + 26)?;
    mid.iter().all(u8::is_ascii_digit).then_some(mid)
}

/// The message body inside an envelope's JSON (the value of `text`, ours start with
/// [`PREFIX`]).
fn envelope_body(json: &[u8]) -> Option<&[u8]> {
    let at = PREFIX_F.find(json)?;
    Some(&json[at..])
}

/// Every message of a text frame / long-poll body (concatenated envelopes): the bench
/// fields (`None` for someone else's message) and the `mid`, in order.
pub fn for_each_text<'a>(data: &'a [u8], mut f: impl FnMut(Option<Fields>, Option<&'a [u8]>)) {
    let mut rest = data;
    while let Some(s) = START_F.find(rest) {
        let after = &rest[s + START.len()..];
        let Some(e) = END_F.find(after) else { break };
        let json = &after[..e];
        f(envelope_body(json).and_then(parse), envelope_mid(json));
        rest = &after[e + END.len()..];
    }
}

/// One SSE event's `data` (the envelope JSON without markers).
pub fn envelope_json(json: &[u8]) -> (Option<Fields>, Option<&[u8]>) {
    (envelope_body(json).and_then(parse), envelope_mid(json))
}

/// Every message of a binary frame / long-poll body (`ResponseBatch`), with its `mid` as
/// 26 digits.
pub fn for_each_binary(data: &[u8], mut f: impl FnMut(Option<Fields>, Option<String>)) -> bool {
    let Ok(batch) = proto::ResponseBatch::decode(data) else {
        return false;
    };
    for r in batch.responses {
        if let Some(proto::response::Command::OutgoingMessages(m)) = r.command {
            for msg in m.messages {
                f(parse(msg.body.as_ref()), Some(hex::encode(&msg.id)));
            }
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Fields {
        Fields {
            warmup: false,
            kind: ChannelKind::Shared,
            channel: 3,
            seq: 17,
            global: 99,
            sent_ns: 1_700_000_000_123_456_789,
        }
    }

    #[test]
    fn round_trip_and_size() {
        let f = sample();
        let b = build(&f, 200);
        assert_eq!(b.len(), 200);
        assert_eq!(parse(&b), Some(f));
        let v: serde_json::Value = serde_json::from_slice(&b).unwrap();
        assert_eq!(v["params"]["g"], 99);
        let w = Fields {
            warmup: true,
            kind: ChannelKind::Private,
            ..f
        };
        let small = build(&w, 0);
        assert_eq!(parse(&small), Some(w));
    }

    #[test]
    fn foreign_bodies_are_ignored() {
        assert_eq!(parse(b"{\"module_id\":\"im\"}"), None);
        assert_eq!(parse(b"0123456789abcdef0123456789abcdef"), None);
    }

    #[test]
    fn text_frames_with_several_envelopes() {
        use bxpush::protocol::envelope::text_envelope;
        use bxpush::protocol::MessageId;
        let a = build(&sample(), 150);
        let b = build(
            &Fields {
                seq: 18,
                global: 100,
                ..sample()
            },
            150,
        );
        let mut frame = text_envelope(&MessageId::new(1_700_000_000, 1), &a, 1);
        frame.extend(text_envelope(
            &MessageId::new(1_700_000_000, 2),
            b"{\"x\":1}",
            2,
        ));
        frame.extend(text_envelope(&MessageId::new(1_700_000_000, 3), &b, 3));
        let mut seen = Vec::new();
        for_each_text(&frame, |f, mid| {
            seen.push((f.map(|f| f.seq), mid.map(|m| m.to_vec())));
        });
        assert_eq!(seen.len(), 3);
        assert_eq!(seen[0].0, Some(17));
        assert_eq!(seen[1].0, None);
        assert_eq!(seen[2].0, Some(18));
        assert_eq!(
            seen[2].1.as_deref(),
            Some(&b"17000000000000000000000003"[..])
        );
    }

    #[test]
    fn binary_frames() {
        use bxpush::protocol::proto::{encode_outgoing_message, response_batch_of_messages};
        use bxpush::protocol::MessageId;
        let body = build(&sample(), 100);
        let mid = MessageId::new(1_700_000_000, 5);
        let one = encode_outgoing_message(&mid, &body, 60, 1, &proto::Sender::backend());
        let frame = response_batch_of_messages([&one[..]]);
        let mut got = Vec::new();
        assert!(for_each_binary(&frame, |f, m| got.push((f, m))));
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].0, Some(sample()));
        assert_eq!(got[0].1.as_deref(), Some("17000000000000000000000005"));
    }
}
