//! Authentication of a TCP hand-off connection: the handshake MACs that prove the
//! signature key both ways (bound to both nonces), the session key derived from them, and
//! [`Session`], which tags every later frame over a per-direction counter so replayed,
//! reordered or reflected frames fail. Over a unix socket a session stays plain.

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;
use subtle::ConstantTimeEq;

use super::error::{ErrorCode, WireError};
use super::frame::{check_len, Frame, MAC_LEN, NONCE_LEN, TAG_LEN};

type HmacSha256 = Hmac<Sha256>;

fn hmac_parts(key: &[u8], parts: &[&[u8]]) -> [u8; 32] {
    let mut m = <HmacSha256 as KeyInit>::new_from_slice(key).expect("HMAC accepts any key");
    for p in parts {
        m.update(p);
    }
    m.finalize().into_bytes().into()
}

/// The worker's proof of the key in Hello.
pub fn hello_mac(
    key: &[u8],
    version: u16,
    origin: u64,
    owner_nonce: &[u8; NONCE_LEN],
    worker_nonce: &[u8; NONCE_LEN],
) -> [u8; MAC_LEN] {
    hmac_parts(
        key,
        &[
            b"BXPH-hello",
            &version.to_be_bytes(),
            &origin.to_be_bytes(),
            owner_nonce,
            worker_nonce,
        ],
    )
}

/// The owner's proof of the key in Welcome.
pub fn welcome_mac(
    key: &[u8],
    owner_nonce: &[u8; NONCE_LEN],
    worker_nonce: &[u8; NONCE_LEN],
    origin: u64,
    applied: u64,
) -> [u8; MAC_LEN] {
    hmac_parts(
        key,
        &[
            b"BXPH-welcome",
            owner_nonce,
            worker_nonce,
            &origin.to_be_bytes(),
            &applied.to_be_bytes(),
        ],
    )
}

/// The key that tags every later frame of the connection.
pub fn session_key(
    key: &[u8],
    owner_nonce: &[u8; NONCE_LEN],
    worker_nonce: &[u8; NONCE_LEN],
) -> [u8; 32] {
    hmac_parts(key, &[b"BXPH-session", owner_nonce, worker_nonce])
}

/// Constant-time comparison of two MACs.
pub fn macs_equal(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && bool::from(a.ct_eq(b))
}

/// Which end of the connection a [`Session`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Worker,
    Owner,
}

impl Role {
    fn dir(self) -> u8 {
        match self {
            Role::Worker => 0,
            Role::Owner => 1,
        }
    }
    fn peer(self) -> Role {
        match self {
            Role::Worker => Role::Owner,
            Role::Owner => Role::Worker,
        }
    }
}

/// Frames on one connection: plain, or tagged with the session key (TCP after Welcome).
pub struct Session {
    mac: Option<HmacSha256>,
    role: Role,
    sent: u64,
    received: u64,
}

impl Session {
    pub fn plain(role: Role) -> Self {
        Self {
            mac: None,
            role,
            sent: 0,
            received: 0,
        }
    }

    pub fn keyed(session_key: &[u8; 32], role: Role) -> Self {
        Self {
            mac: Some(<HmacSha256 as KeyInit>::new_from_slice(session_key).expect("32-byte key")),
            role,
            sent: 0,
            received: 0,
        }
    }

    pub fn is_keyed(&self) -> bool {
        self.mac.is_some()
    }

    fn tag(mac: &HmacSha256, dir: u8, counter: u64, body: &[u8]) -> [u8; TAG_LEN] {
        let mut m = mac.clone();
        m.update(&[dir]);
        m.update(&counter.to_be_bytes());
        m.update(body);
        let full = m.finalize().into_bytes();
        full[..TAG_LEN].try_into().expect("16 of 32 bytes")
    }

    /// Finish a body made by [`Frame::to_body`] or [`super::frame::batch_body`]: append the tag when
    /// keyed, fill in `len`. Fails when the frame would exceed [`MAX_FRAME`].
    pub fn seal_body(&mut self, mut body: Vec<u8>) -> Result<Vec<u8>, WireError> {
        if let Some(mac) = &self.mac {
            let tag = Self::tag(mac, self.role.dir(), self.sent, &body[4..]);
            self.sent += 1;
            body.extend_from_slice(&tag);
        }
        let len = body.len() - 4;
        check_len(len.min(u32::MAX as usize) as u32)?;
        body[..4].copy_from_slice(&(len as u32).to_be_bytes());
        Ok(body)
    }

    /// The wire bytes of `frame`.
    pub fn seal(&mut self, frame: &Frame) -> Result<Vec<u8>, WireError> {
        self.seal_body(frame.to_body())
    }

    /// Verify and strip the tag of a received frame (the bytes after `len`), then decode.
    pub fn open(&mut self, mut body: Vec<u8>) -> Result<Frame, WireError> {
        if let Some(mac) = &self.mac {
            if body.len() < TAG_LEN + 1 {
                return Err(WireError::new(
                    ErrorCode::Auth,
                    "frame without its authentication tag",
                ));
            }
            let at = body.len() - TAG_LEN;
            let want = Self::tag(mac, self.role.peer().dir(), self.received, &body[..at]);
            if !macs_equal(&want, &body[at..]) {
                return Err(WireError::new(
                    ErrorCode::Auth,
                    "frame authentication failed: wrong tag (different signature key, or the stream was altered)",
                ));
            }
            self.received += 1;
            body.truncate(at);
        }
        Frame::decode(&body)
    }
}
