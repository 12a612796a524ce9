//! RFC 6455 framing without sockets: the reader of client frames (bytes in, events out)
//! and the encoder of server frames. `websocket` feeds the reader whatever its socket
//! read gave, however the frames are cut; the fuzz target `ws_frames` (fuzz/checks/)
//! feeds it the same way.
//!
//! The reader holds no buffer while idle: a data message is collected in a `Vec` from its
//! first frame's header to its last byte, a control frame's payload (at most 125 bytes)
//! likewise, and both are given away with the event. What a peer may make it hold is
//! bounded by `max_payload` (checked on each header, before a byte of the payload is
//! kept) and, in time, by the caller's deadline on an unfinished message
//! ([`Reader::in_message`]: a peer that starts a message and then sends only pongs kept up
//! to `max_payload` pinned forever before that deadline; issue 10).
//!
//! What the reader refuses, with the close code RFC 6455 §7.4.1 gives it:
//! - 1002: a reserved bit (no extension is negotiated), a reserved opcode, an unmasked
//!   frame (§5.1: clients must mask), a fragmented control frame or one over 125 bytes,
//!   a continuation with no message begun or a new message before the last one ended, a
//!   64-bit length with its top bit set, a close frame of one byte or with a code no
//!   endpoint may send;
//! - 1007: a text message or a close reason that is not UTF-8;
//! - 1009: a frame or message over `max_payload`.

/// Opcodes (§5.2).
pub const OP_CONTINUATION: u8 = 0x0;
pub const OP_TEXT: u8 = 0x1;
pub const OP_BINARY: u8 = 0x2;
pub const OP_CLOSE: u8 = 0x8;
pub const OP_PING: u8 = 0x9;
pub const OP_PONG: u8 = 0xA;

/// Largest control frame payload (§5.5).
const MAX_CONTROL: u64 = 125;

/// What a client sent, whole.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// A data message, its fragments joined; a text one is valid UTF-8.
    Message {
        binary: bool,
        data: Vec<u8>,
    },
    /// A ping, to be answered with a pong carrying the same payload.
    Ping(Vec<u8>),
    Pong,
    /// The peer's close frame, with its status code when it gave one (to echo).
    Close(Option<u16>),
}

/// A broken rule: the close code to send and why (for the close frame and the counters).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Violation {
    pub code: u16,
    pub reason: &'static str,
}

const fn protocol(reason: &'static str) -> Violation {
    Violation { code: 1002, reason }
}

#[derive(Debug, Clone, Copy)]
enum State {
    /// Reading a frame header: `have` bytes of it are in `buf`.
    Header { buf: [u8; 14], have: u8 },
    /// Reading a frame's payload.
    Payload(Frame),
    /// A rule was broken: the stream cannot be followed any further.
    Failed(Violation),
}

#[derive(Debug, Clone, Copy)]
struct Frame {
    opcode: u8,
    fin: bool,
    /// Payload bytes still to come.
    left: u64,
    mask: [u8; 4],
    /// Payload bytes read so far, mod 4: where in the mask the next byte is.
    offset: u8,
}

const FRESH: State = State::Header {
    buf: [0; 14],
    have: 0,
};

/// A data message being collected.
#[derive(Debug)]
struct Partial {
    binary: bool,
    data: Vec<u8>,
}

/// Client frames → [`Event`]s. Feed it bytes as they come ([`Reader::feed`]).
#[derive(Debug)]
pub struct Reader {
    max_payload: usize,
    state: State,
    /// `Some` from a data message's first header to its last payload byte.
    message: Option<Partial>,
    /// The payload of the control frame being read.
    control: Vec<u8>,
}

impl Reader {
    pub fn new(max_payload: usize) -> Self {
        Reader {
            max_payload,
            state: FRESH,
            message: None,
            control: Vec::new(),
        }
    }

    /// Whether a data message has begun (its first frame's header is in) and not ended:
    /// the caller's deadline for it runs meanwhile. Control frames between its fragments
    /// neither start nor end it.
    pub fn in_message(&self) -> bool {
        self.message.is_some()
    }

    /// Consume bytes from the front of `input` until one event is whole (returned; the
    /// rest of `input` is left for the next call) or `input` is used up (`Ok(None)`).
    /// After an error every call returns the same error: the caller closes.
    pub fn feed(&mut self, input: &mut &[u8]) -> Result<Option<Event>, Violation> {
        loop {
            match &mut self.state {
                State::Failed(v) => return Err(*v),
                State::Header { buf, have } => {
                    if input.is_empty() {
                        return Ok(None);
                    }
                    let need = if *have < 2 { 2 } else { header_len(buf[1]) };
                    let n = (need - *have as usize).min(input.len());
                    buf[*have as usize..*have as usize + n].copy_from_slice(&input[..n]);
                    *have += n as u8;
                    *input = &input[n..];
                    let (buf, have) = (*buf, *have as usize);
                    if have == 2 {
                        if let Err(v) = self.check_start(buf[0], buf[1]) {
                            return Err(self.fail(v));
                        }
                    }
                    if have >= 2 && have == header_len(buf[1]) {
                        if let Some(event) = self.header_done(&buf)? {
                            return Ok(Some(event));
                        }
                    }
                }
                State::Payload(f) => {
                    if input.is_empty() {
                        return Ok(None);
                    }
                    let n = f.left.min(input.len() as u64) as usize;
                    let dest = if f.opcode >= OP_CLOSE {
                        &mut self.control
                    } else {
                        &mut self
                            .message
                            .as_mut()
                            .expect("a data frame belongs to a message")
                            .data
                    };
                    let start = dest.len();
                    dest.extend_from_slice(&input[..n]);
                    unmask(&mut dest[start..], f.mask, f.offset);
                    f.offset = ((f.offset as usize + n) % 4) as u8;
                    f.left -= n as u64;
                    *input = &input[n..];
                    if f.left == 0 {
                        let f = *f;
                        if let Some(event) = self.frame_done(f)? {
                            return Ok(Some(event));
                        }
                    }
                }
            }
        }
    }

    /// The rules the first two header bytes can break (fail fast: nothing more is read
    /// of a frame that is refused anyway).
    fn check_start(&self, b0: u8, b1: u8) -> Result<(), Violation> {
        let opcode = b0 & 0x0f;
        let fin = b0 & 0x80 != 0;
        if b0 & 0x70 != 0 {
            return Err(protocol("reserved bits set, no extension was negotiated"));
        }
        if b1 & 0x80 == 0 {
            return Err(protocol("client frames must be masked"));
        }
        match opcode {
            OP_CLOSE | OP_PING | OP_PONG => {
                if !fin {
                    return Err(protocol("fragmented control frame"));
                }
                if (b1 & 0x7f) as u64 > MAX_CONTROL {
                    return Err(protocol("control frame over 125 bytes"));
                }
            }
            OP_CONTINUATION if self.message.is_none() => {
                return Err(protocol("continuation frame without a message"));
            }
            OP_TEXT | OP_BINARY if self.message.is_some() => {
                return Err(protocol("new message before the last one ended"));
            }
            OP_CONTINUATION | OP_TEXT | OP_BINARY => {}
            _ => return Err(protocol("reserved opcode")),
        }
        Ok(())
    }

    fn header_done(&mut self, h: &[u8; 14]) -> Result<Option<Event>, Violation> {
        let opcode = h[0] & 0x0f;
        let fin = h[0] & 0x80 != 0;
        let (len, mask_at) = match h[1] & 0x7f {
            126 => (u16::from_be_bytes([h[2], h[3]]) as u64, 4),
            127 => (
                u64::from_be_bytes(h[2..10].try_into().expect("8 bytes")),
                10,
            ),
            n => (n as u64, 2),
        };
        if len >> 63 != 0 {
            return Err(self.fail(protocol("frame length with its top bit set")));
        }
        let mask: [u8; 4] = h[mask_at..mask_at + 4].try_into().expect("4 bytes");
        if opcode < OP_CLOSE {
            let so_far = self.message.as_ref().map_or(0, |m| m.data.len() as u64);
            if so_far.saturating_add(len) > self.max_payload as u64 {
                return Err(self.fail(Violation {
                    code: 1009,
                    reason: "message over max_payload",
                }));
            }
            if opcode != OP_CONTINUATION {
                self.message = Some(Partial {
                    binary: opcode == OP_BINARY,
                    data: Vec::new(),
                });
            }
        }
        let f = Frame {
            opcode,
            fin,
            left: len,
            mask,
            offset: 0,
        };
        if len == 0 {
            self.frame_done(f)
        } else {
            self.state = State::Payload(f);
            Ok(None)
        }
    }

    fn frame_done(&mut self, f: Frame) -> Result<Option<Event>, Violation> {
        self.state = FRESH;
        match f.opcode {
            OP_PING => Ok(Some(Event::Ping(std::mem::take(&mut self.control)))),
            OP_PONG => {
                self.control.clear();
                Ok(Some(Event::Pong))
            }
            OP_CLOSE => {
                let payload = std::mem::take(&mut self.control);
                match close_code(&payload) {
                    Ok(code) => Ok(Some(Event::Close(code))),
                    Err(v) => Err(self.fail(v)),
                }
            }
            _ if !f.fin => Ok(None),
            _ => {
                let m = self
                    .message
                    .take()
                    .expect("a data frame belongs to a message");
                if !m.binary && std::str::from_utf8(&m.data).is_err() {
                    return Err(self.fail(Violation {
                        code: 1007,
                        reason: "invalid UTF-8 in a text message",
                    }));
                }
                Ok(Some(Event::Message {
                    binary: m.binary,
                    data: m.data,
                }))
            }
        }
    }

    /// Stop for good and let go of whatever was being collected.
    fn fail(&mut self, v: Violation) -> Violation {
        self.state = State::Failed(v);
        self.message = None;
        self.control = Vec::new();
        v
    }
}

/// The whole header's length once its second byte is known (clients always mask).
fn header_len(b1: u8) -> usize {
    let ext = match b1 & 0x7f {
        126 => 2,
        127 => 8,
        _ => 0,
    };
    2 + ext + 4
}

fn unmask(bytes: &mut [u8], mask: [u8; 4], offset: u8) {
    for (i, b) in bytes.iter_mut().enumerate() {
        *b ^= mask[(i + offset as usize) % 4];
    }
}

/// A close frame's payload: empty, or a code an endpoint may send and a UTF-8 reason.
fn close_code(payload: &[u8]) -> Result<Option<u16>, Violation> {
    match payload {
        [] => Ok(None),
        [_] => Err(protocol("close frame of one byte")),
        [a, b, reason @ ..] => {
            let code = u16::from_be_bytes([*a, *b]);
            // §7.4: 1004–1006 and 1015 are never sent; 1016–2999 are not assigned.
            if !matches!(code, 1000..=1003 | 1007..=1014 | 3000..=4999) {
                return Err(protocol("close code no endpoint may send"));
            }
            if std::str::from_utf8(reason).is_err() {
                return Err(Violation {
                    code: 1007,
                    reason: "invalid UTF-8 in a close reason",
                });
            }
            Ok(Some(code))
        }
    }
}

/// The header of an unmasked (server → client) final frame: its bytes and length.
pub fn header(opcode: u8, len: usize) -> ([u8; 10], usize) {
    let mut h = [0u8; 10];
    h[0] = 0x80 | opcode;
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

/// A whole unmasked data frame (header and `payload` in one buffer): what the writer pass
/// hands every socket with one plain `write`.
pub fn data_frame(opcode: u8, payload: &[u8]) -> Vec<u8> {
    let (h, n) = header(opcode, payload.len());
    let mut f = Vec::with_capacity(n + payload.len());
    f.extend_from_slice(&h[..n]);
    f.extend_from_slice(payload);
    f
}

/// The server's ping: `ws ping`, as the Node server sends (clients ignore the payload).
pub const PING: &[u8; 9] = b"\x89\x07ws ping";

/// A control frame (pong, close) with a payload of at most 125 bytes.
pub fn control(opcode: u8, payload: &[u8]) -> Vec<u8> {
    let payload = &payload[..payload.len().min(MAX_CONTROL as usize)];
    let mut f = Vec::with_capacity(2 + payload.len());
    f.extend_from_slice(&[0x80 | opcode, payload.len() as u8]);
    f.extend_from_slice(payload);
    f
}

/// A close frame: the code and as much of `reason` as fits (cut at a character).
pub fn close(code: u16, reason: &str) -> Vec<u8> {
    let mut end = reason.len().min(MAX_CONTROL as usize - 2);
    while !reason.is_char_boundary(end) {
        end -= 1;
    }
    let mut payload = code.to_be_bytes().to_vec();
    payload.extend_from_slice(&reason.as_bytes()[..end]);
    control(OP_CLOSE, &payload)
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;
    use tokio_tungstenite::tungstenite::protocol::frame::coding::{Data, OpCode};
    use tokio_tungstenite::tungstenite::protocol::frame::Frame as TFrame;

    const MASK: [u8; 4] = [0x12, 0x34, 0x56, 0x78];

    /// A client frame: `b0` is FIN/RSV/opcode as sent, masked unless `masked` is false.
    fn raw(b0: u8, payload: &[u8], masked: bool) -> Vec<u8> {
        let mut f = vec![b0];
        let m = if masked { 0x80 } else { 0 };
        match payload.len() {
            n if n < 126 => f.push(m | n as u8),
            n if n <= 65_535 => {
                f.push(m | 126);
                f.extend_from_slice(&(n as u16).to_be_bytes());
            }
            n => {
                f.push(m | 127);
                f.extend_from_slice(&(n as u64).to_be_bytes());
            }
        }
        if masked {
            f.extend_from_slice(&MASK);
            f.extend(payload.iter().enumerate().map(|(i, b)| b ^ MASK[i % 4]));
        } else {
            f.extend_from_slice(payload);
        }
        f
    }

    fn frame(fin: bool, opcode: u8, payload: &[u8]) -> Vec<u8> {
        raw(if fin { 0x80 } else { 0 } | opcode, payload, true)
    }

    /// Every event of `bytes` fed in pieces of `step`, and the error that ended it.
    fn read_all(max: usize, bytes: &[u8], step: usize) -> (Vec<Event>, Option<Violation>) {
        let mut r = Reader::new(max);
        let mut events = Vec::new();
        for mut piece in bytes.chunks(step) {
            loop {
                match r.feed(&mut piece) {
                    Ok(Some(e)) => events.push(e),
                    Ok(None) => break,
                    Err(v) => return (events, Some(v)),
                }
            }
        }
        (events, None)
    }

    /// The same events however the bytes are cut (1 byte at a time, odd sizes, whole).
    fn read(max: usize, bytes: &[u8]) -> (Vec<Event>, Option<Violation>) {
        let whole = read_all(max, bytes, bytes.len().max(1));
        for step in [1, 2, 3, 7, 13] {
            assert_eq!(read_all(max, bytes, step), whole, "in pieces of {step}");
        }
        whole
    }

    fn code(max: usize, bytes: &[u8]) -> u16 {
        read(max, bytes).1.expect("a violation").code
    }

    #[test]
    fn messages_fragments_and_control_frames_between_them() {
        let mut s = frame(false, OP_TEXT, b"hel");
        s.extend(frame(true, OP_PING, b"are you there"));
        s.extend(frame(false, OP_CONTINUATION, b"lo "));
        s.extend(frame(true, OP_PONG, b""));
        s.extend(frame(true, OP_CONTINUATION, "wörld".as_bytes()));
        s.extend(frame(true, OP_BINARY, &[0, 255, 7]));
        s.extend(frame(true, OP_BINARY, b""));
        s.extend(frame(true, OP_TEXT, &vec![b'x'; 70_000]));
        s.extend(frame(true, OP_CLOSE, &[0x03, 0xe8, b'o', b'k']));
        let (events, err) = read(100_000, &s);
        assert_eq!(err, None);
        assert_eq!(
            events,
            vec![
                Event::Ping(b"are you there".to_vec()),
                Event::Pong,
                Event::Message {
                    binary: false,
                    data: "hello wörld".as_bytes().to_vec()
                },
                Event::Message {
                    binary: true,
                    data: vec![0, 255, 7]
                },
                Event::Message {
                    binary: true,
                    data: vec![]
                },
                Event::Message {
                    binary: false,
                    data: vec![b'x'; 70_000]
                },
                Event::Close(Some(1000)),
            ]
        );
        assert_eq!(
            read(10, &frame(true, OP_CLOSE, b"")).0,
            [Event::Close(None)]
        );
    }

    #[test]
    fn in_message_from_the_first_header_to_the_last_byte() {
        let mut r = Reader::new(1000);
        let first = frame(false, OP_BINARY, b"abc");
        // Header only: the message has begun.
        r.feed(&mut &first[..6]).unwrap();
        assert!(r.in_message());
        r.feed(&mut &first[6..]).unwrap();
        assert!(r.in_message());
        // A pong between fragments neither ends nor restarts it.
        assert_eq!(
            r.feed(&mut &frame(true, OP_PONG, b"")[..]),
            Ok(Some(Event::Pong))
        );
        assert!(r.in_message());
        let last = frame(true, OP_CONTINUATION, b"d");
        r.feed(&mut &last[..last.len() - 1]).unwrap();
        assert!(r.in_message(), "one byte is still missing");
        let got = r.feed(&mut &last[last.len() - 1..]).unwrap();
        assert!(matches!(got, Some(Event::Message { .. })));
        assert!(!r.in_message());
        // A ping does not start one.
        r.feed(&mut &frame(true, OP_PING, b"")[..]).unwrap();
        assert!(!r.in_message());
    }

    #[test]
    fn idle_it_holds_no_buffer() {
        let mut r = Reader::new(1 << 20);
        let mut s = frame(true, OP_BINARY, &[1; 5000]);
        s.extend(frame(true, OP_PING, b"p"));
        let mut input = &s[..];
        while r.feed(&mut input).unwrap().is_some() {}
        assert!(r.message.is_none());
        assert_eq!(r.control.capacity(), 0);
    }

    #[test]
    fn protocol_errors_close_with_1002() {
        let cases: Vec<(&str, Vec<u8>)> = vec![
            ("rsv1", raw(0x80 | 0x40 | OP_TEXT, b"hi", true)),
            ("rsv2", raw(0x80 | 0x20 | OP_TEXT, b"hi", true)),
            ("rsv3", raw(0x80 | 0x10 | OP_BINARY, b"hi", true)),
            ("opcode 3", raw(0x83, b"", true)),
            ("opcode 7", raw(0x87, b"", true)),
            ("opcode 0xB", raw(0x8B, b"", true)),
            ("opcode 0xF", raw(0x8F, b"", true)),
            ("unmasked", raw(0x80 | OP_TEXT, b"hi", false)),
            ("fragmented ping", frame(false, OP_PING, b"")),
            ("ping over 125", frame(true, OP_PING, &[0; 126])),
            ("close over 125", frame(true, OP_CLOSE, &[0; 126])),
            ("continuation first", frame(true, OP_CONTINUATION, b"x")),
            (
                "text inside a message",
                [frame(false, OP_TEXT, b"a"), frame(true, OP_TEXT, b"b")].concat(),
            ),
            (
                "binary inside a message",
                [frame(false, OP_BINARY, b"a"), frame(true, OP_BINARY, b"b")].concat(),
            ),
            ("close of one byte", frame(true, OP_CLOSE, &[3])),
            (
                "close code 999",
                frame(true, OP_CLOSE, &999u16.to_be_bytes()),
            ),
            (
                "close code 1005",
                frame(true, OP_CLOSE, &1005u16.to_be_bytes()),
            ),
            (
                "close code 1006",
                frame(true, OP_CLOSE, &1006u16.to_be_bytes()),
            ),
            (
                "close code 1015",
                frame(true, OP_CLOSE, &1015u16.to_be_bytes()),
            ),
            (
                "close code 2000",
                frame(true, OP_CLOSE, &2000u16.to_be_bytes()),
            ),
            (
                "close code 5000",
                frame(true, OP_CLOSE, &5000u16.to_be_bytes()),
            ),
            (
                "length top bit",
                [
                    vec![0x82, 0x80 | 127, 0x80, 0, 0, 0, 0, 0, 0, 1],
                    MASK.to_vec(),
                ]
                .concat(),
            ),
        ];
        for (what, bytes) in cases {
            assert_eq!(code(1 << 20, &bytes), 1002, "{what}");
        }
        // Refused on the first two bytes: the rest of the frame is never waited for.
        let mut r = Reader::new(100);
        assert_eq!(r.feed(&mut &[0xC1u8, 0x85][..]).unwrap_err().code, 1002);
        // Once failed, always failed.
        assert_eq!(
            r.feed(&mut &frame(true, OP_PING, b"")[..])
                .unwrap_err()
                .code,
            1002
        );
    }

    #[test]
    fn events_before_an_error_are_given_first() {
        let mut s = frame(true, OP_PING, b"1");
        s.extend(raw(0x80 | 0x40 | OP_TEXT, b"hi", true));
        let (events, err) = read(100, &s);
        assert_eq!(events, [Event::Ping(b"1".to_vec())]);
        assert_eq!(err.unwrap().code, 1002);
    }

    #[test]
    fn bad_utf8_closes_with_1007() {
        assert_eq!(code(100, &frame(true, OP_TEXT, &[0xff, 0xfe])), 1007);
        // A character split across fragments is fine; the message is checked whole.
        let e = "é".as_bytes();
        let s = [
            frame(false, OP_TEXT, &e[..1]),
            frame(true, OP_CONTINUATION, &e[1..]),
        ]
        .concat();
        assert_eq!(read(100, &s).1, None);
        // Binary messages are not text.
        assert_eq!(read(100, &frame(true, OP_BINARY, &[0xff])).1, None);
        let mut close = 1000u16.to_be_bytes().to_vec();
        close.push(0xff);
        assert_eq!(code(100, &frame(true, OP_CLOSE, &close)), 1007);
    }

    #[test]
    fn over_max_payload_closes_with_1009_before_keeping_it() {
        assert_eq!(read(100, &frame(true, OP_BINARY, &[0; 100])).1, None);
        assert_eq!(code(100, &frame(true, OP_BINARY, &[0; 101])), 1009);
        // The whole message counts, across fragments.
        let s = [
            frame(false, OP_TEXT, &[b'a'; 60]),
            frame(true, OP_CONTINUATION, &[b'a'; 41]),
        ]
        .concat();
        assert_eq!(code(100, &s), 1009);
        // Refused on its header: a peer announcing 4 GiB makes nothing be allocated.
        let mut r = Reader::new(1 << 20);
        let head = [
            vec![0x82, 0x80 | 127, 0, 0, 0, 1, 0, 0, 0, 0],
            MASK.to_vec(),
        ]
        .concat();
        assert_eq!(r.feed(&mut &head[..]).unwrap_err().code, 1009);
        assert!(r.message.is_none());
    }

    /// The encoder writes the same bytes as tungstenite's at every length form.
    #[test]
    fn headers_match_tungstenite() {
        for len in [0usize, 1, 125, 126, 65_535, 65_536, 5_000_000] {
            for binary in [false, true] {
                let payload = Bytes::from(vec![b'x'; len]);
                let op = OpCode::Data(if binary { Data::Binary } else { Data::Text });
                let mut want = Vec::new();
                TFrame::message(payload.clone(), op, true)
                    .format(&mut want)
                    .unwrap();
                let (h, n) = header(if binary { OP_BINARY } else { OP_TEXT }, len);
                let mut got = h[..n].to_vec();
                got.extend_from_slice(&payload);
                assert!(got == want, "len {len} binary {binary}");
            }
        }
        let mut want = Vec::new();
        TFrame::ping(Bytes::from_static(b"ws ping"))
            .format(&mut want)
            .unwrap();
        assert_eq!(PING.to_vec(), want);
        let long = "ж".repeat(100);
        let c = close(1008, &long);
        assert_eq!(c[1] as usize, c.len() - 2);
        assert!(c.len() - 2 <= 125);
        assert!(std::str::from_utf8(&c[4..]).is_ok(), "cut at a character");
    }
}
