//! What goes wrong on the hand-off: [`ErrorCode`] (the codes of an Error frame) and
//! [`WireError`] (a code with its text).

use std::fmt;
use std::io;

use super::frame::Frame;

/// Why a frame, an item or a connection was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorCode {
    BadFrame,
    FrameTooLarge,
    TooManyItems,
    Auth,
    Version,
    /// One item could not be applied and was skipped; the connection stays open.
    Rejected,
    /// The owner cannot apply items now (history write failed, shutting down): retry.
    Unavailable,
    Unexpected,
    Other(u16),
}

impl ErrorCode {
    pub fn code(self) -> u16 {
        match self {
            ErrorCode::BadFrame => 1,
            ErrorCode::FrameTooLarge => 2,
            ErrorCode::TooManyItems => 3,
            ErrorCode::Auth => 4,
            ErrorCode::Version => 5,
            ErrorCode::Rejected => 6,
            ErrorCode::Unavailable => 7,
            ErrorCode::Unexpected => 8,
            ErrorCode::Other(c) => c,
        }
    }

    pub fn from_code(c: u16) -> Self {
        match c {
            1 => ErrorCode::BadFrame,
            2 => ErrorCode::FrameTooLarge,
            3 => ErrorCode::TooManyItems,
            4 => ErrorCode::Auth,
            5 => ErrorCode::Version,
            6 => ErrorCode::Rejected,
            7 => ErrorCode::Unavailable,
            8 => ErrorCode::Unexpected,
            c => ErrorCode::Other(c),
        }
    }

    /// Whether the sender closes the connection after this error.
    pub fn is_fatal(self) -> bool {
        self != ErrorCode::Rejected
    }
}

/// A decoding or protocol error: what goes into an Error frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WireError {
    pub code: ErrorCode,
    pub text: String,
}

impl WireError {
    pub fn new(code: ErrorCode, text: impl Into<String>) -> Self {
        Self {
            code,
            text: text.into(),
        }
    }

    pub(super) fn bad(what: impl fmt::Display) -> Self {
        Self::new(
            ErrorCode::BadFrame,
            format!("malformed hand-off frame: {what}"),
        )
    }

    pub fn to_frame(&self) -> Frame {
        Frame::Error {
            code: self.code,
            text: self.text.clone(),
        }
    }
}

impl fmt::Display for WireError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} (hand-off error {})", self.text, self.code.code())
    }
}

impl std::error::Error for WireError {}

impl From<WireError> for io::Error {
    fn from(e: WireError) -> Self {
        let kind = match e.code {
            ErrorCode::Auth => io::ErrorKind::PermissionDenied,
            ErrorCode::Unavailable => io::ErrorKind::ConnectionAborted,
            _ => io::ErrorKind::InvalidData,
        };
        io::Error::new(kind, e.to_string())
    }
}
