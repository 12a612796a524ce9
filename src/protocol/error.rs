//! The Node server's protocol error codes (spec §6.5) and how they reach the client
//! (spec §2.0): WebSocket close code + reason, or HTTP status + `text/plain` body.
//!
//! Only the personal-mode codes are modelled; the cloud-mode ones of push-server 0.4.0
//! (4022…4036) are never produced by a local drop-in server. Two answers are ours, for
//! what the Node server never tells a publisher (it answers 200 before it stores, and
//! drops what fails to store): [`ErrorCode::NotStored`] and [`ErrorCode::QuotaExceeded`].
//! Their codes are HTTP statuses, which the Node mapping (spec §2.0: a code below 1000
//! *is* the HTTP status) carries through unchanged; over WebSocket, where a close code
//! must be ≥ 1000, they close with the RFC 6455 codes 1011 and 1008.

use std::fmt;

/// A protocol error. The numeric code and the text are part of the wire format: clients
/// react to 4010 (config reload) and the reason string is shown in logs verbatim.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorCode {
    /// 4010: no valid channel in `CHANNEL_ID` (any bad descriptor invalidates the list).
    WrongChannelId,
    /// 4011: history could not be read for a resume.
    CouldntGetLastMessages,
    /// 4012: a client publish needs a connection with a public id.
    PublicChannelIdRequired,
    /// 4013: the body is not a decodable protobuf `RequestBatch`.
    WrongRequestData,
    /// 4014: a command the caller may not use (untrusted `serverStats`).
    CommandNotAllowed,
    /// 4015: no request, no command, or an unsupported command.
    WrongRequestCommand,
    /// 4016: zero messages, or more than `maxMessagesPerRequest`.
    TooManyMessages,
    /// 4017: a message or stats request without channels.
    NoChannels,
    /// 4018: more than `maxChannelsPerRequest` channels.
    TooManyChannels,
    /// 4019: a protobuf channel id that is not exactly 16 bytes.
    InvalidChannelId,
    /// 4020: an untrusted client addressed a private channel.
    PrivateChannelNotAllowed,
    /// 4021: an untrusted client's public channel signature does not verify.
    InvalidChannelSignature,
    /// 4029: `maxConnPerChannel` exceeded; the oldest connection is closed.
    TooManyConnections,
    /// 503 (ours): the message could not be written to the history (full disk,
    /// unwritable data dir) and was neither stored nor delivered: a retry may succeed.
    /// A server-side condition, so a 5xx: PHP reports the send as failed, and nothing
    /// tells the publisher "accepted" for a message that is gone.
    NotStored,
    /// 429 (ours): a client publish over the per-publisher or per-channel rate or
    /// history quota (`client_publish_*`, `channel_publish_*` settings): refused, counted.
    QuotaExceeded,
}

impl ErrorCode {
    /// Every code, for exhaustive tests and tables.
    pub const ALL: [ErrorCode; 15] = [
        ErrorCode::WrongChannelId,
        ErrorCode::CouldntGetLastMessages,
        ErrorCode::PublicChannelIdRequired,
        ErrorCode::WrongRequestData,
        ErrorCode::CommandNotAllowed,
        ErrorCode::WrongRequestCommand,
        ErrorCode::TooManyMessages,
        ErrorCode::NoChannels,
        ErrorCode::TooManyChannels,
        ErrorCode::InvalidChannelId,
        ErrorCode::PrivateChannelNotAllowed,
        ErrorCode::InvalidChannelSignature,
        ErrorCode::TooManyConnections,
        ErrorCode::NotStored,
        ErrorCode::QuotaExceeded,
    ];

    /// The numeric code, also used as the WebSocket close code.
    pub fn code(self) -> u16 {
        match self {
            ErrorCode::WrongChannelId => 4010,
            ErrorCode::CouldntGetLastMessages => 4011,
            ErrorCode::PublicChannelIdRequired => 4012,
            ErrorCode::WrongRequestData => 4013,
            ErrorCode::CommandNotAllowed => 4014,
            ErrorCode::WrongRequestCommand => 4015,
            ErrorCode::TooManyMessages => 4016,
            ErrorCode::NoChannels => 4017,
            ErrorCode::TooManyChannels => 4018,
            ErrorCode::InvalidChannelId => 4019,
            ErrorCode::PrivateChannelNotAllowed => 4020,
            ErrorCode::InvalidChannelSignature => 4021,
            ErrorCode::TooManyConnections => 4029,
            ErrorCode::NotStored => 503,
            ErrorCode::QuotaExceeded => 429,
        }
    }

    /// The Node server's text for the code, exactly (trailing dots included or not).
    pub fn text(self) -> &'static str {
        match self {
            ErrorCode::WrongChannelId => "Wrong Channel Id.",
            ErrorCode::CouldntGetLastMessages => "Couldn't get last messages.",
            ErrorCode::PublicChannelIdRequired => "Public Channel Id is Required.",
            ErrorCode::WrongRequestData => "Wrong Request Data.",
            ErrorCode::CommandNotAllowed => "Request command is not allowed.",
            ErrorCode::WrongRequestCommand => "Wrong Request Command.",
            ErrorCode::TooManyMessages => "Request exceeded the maximum number of messages.",
            ErrorCode::NoChannels => "No channels found.",
            ErrorCode::TooManyChannels => "Request exceeded the maximum number of channels.",
            ErrorCode::InvalidChannelId => "Request has an invalid channel id.",
            ErrorCode::PrivateChannelNotAllowed => "Private channel is not allowed.",
            ErrorCode::InvalidChannelSignature => "Channel has an invalid signature.",
            ErrorCode::TooManyConnections => "Too many connections",
            ErrorCode::NotStored => {
                "Message not stored: history write failed (disk full, data dir not writable, or Redis unreachable); retry later."
            }
            ErrorCode::QuotaExceeded => {
                "Publish quota exceeded (messages per second or history bytes); slow down."
            }
        }
    }

    /// `"<code>: <text>"`: the HTTP error body and the WebSocket close reason.
    pub fn reason(self) -> String {
        format!("{}: {}", self.code(), self.text())
    }

    /// HTTP status for the code (spec §2.0): a code below 1000 is the status itself,
    /// 4029 → 429, every other 40xx → 400.
    pub fn http_status(self) -> u16 {
        match self.code() {
            c if c < 1000 => c,
            4029 => 429,
            _ => 400,
        }
    }

    /// The WebSocket close code and reason. A close code must be ≥ 1000, so our
    /// HTTP-status codes become RFC 6455's: 1011 (the server could not do it) for
    /// [`ErrorCode::NotStored`], 1008 (policy) for [`ErrorCode::QuotaExceeded`]; the
    /// reason names the close code too.
    pub fn ws_close(self) -> (u16, String) {
        let code = match self {
            ErrorCode::NotStored => 1011,
            ErrorCode::QuotaExceeded => 1008,
            other => other.code(),
        };
        (code, format!("{code}: {}", self.text()))
    }

    /// The error with this numeric code, if it is one we model.
    pub fn from_code(code: u16) -> Option<Self> {
        Self::ALL.into_iter().find(|e| e.code() == code)
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code(), self.text())
    }
}

impl std::error::Error for ErrorCode {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_and_texts_match_spec_6_5() {
        let table: [(ErrorCode, u16, &str); 13] = [
            (ErrorCode::WrongChannelId, 4010, "Wrong Channel Id."),
            (
                ErrorCode::CouldntGetLastMessages,
                4011,
                "Couldn't get last messages.",
            ),
            (
                ErrorCode::PublicChannelIdRequired,
                4012,
                "Public Channel Id is Required.",
            ),
            (ErrorCode::WrongRequestData, 4013, "Wrong Request Data."),
            (
                ErrorCode::CommandNotAllowed,
                4014,
                "Request command is not allowed.",
            ),
            (
                ErrorCode::WrongRequestCommand,
                4015,
                "Wrong Request Command.",
            ),
            (
                ErrorCode::TooManyMessages,
                4016,
                "Request exceeded the maximum number of messages.",
            ),
            (ErrorCode::NoChannels, 4017, "No channels found."),
            (
                ErrorCode::TooManyChannels,
                4018,
                "Request exceeded the maximum number of channels.",
            ),
            (
                ErrorCode::InvalidChannelId,
                4019,
                "Request has an invalid channel id.",
            ),
            (
                ErrorCode::PrivateChannelNotAllowed,
                4020,
                "Private channel is not allowed.",
            ),
            (
                ErrorCode::InvalidChannelSignature,
                4021,
                "Channel has an invalid signature.",
            ),
            (ErrorCode::TooManyConnections, 4029, "Too many connections"),
        ];
        for (e, code, text) in table {
            assert_eq!(e.code(), code);
            assert_eq!(e.text(), text);
            assert_eq!(ErrorCode::from_code(code), Some(e));
        }
        assert_eq!(ErrorCode::from_code(4000), None);
    }

    /// Spec §11.6: the 400 body is exactly `4010: Wrong Channel Id.`.
    #[test]
    fn reason_is_code_colon_text() {
        assert_eq!(
            ErrorCode::WrongChannelId.reason(),
            "4010: Wrong Channel Id."
        );
        assert_eq!(
            ErrorCode::PublicChannelIdRequired.reason(),
            "4012: Public Channel Id is Required."
        );
        assert_eq!(
            ErrorCode::WrongRequestData.reason(),
            "4013: Wrong Request Data."
        );
        assert_eq!(
            ErrorCode::TooManyConnections.to_string(),
            "4029: Too many connections"
        );
        for e in ErrorCode::ALL {
            assert_eq!(e.to_string(), e.reason());
        }
    }

    #[test]
    fn http_status_is_429_for_4029_else_400() {
        for e in ErrorCode::ALL {
            let want = match e {
                ErrorCode::TooManyConnections | ErrorCode::QuotaExceeded => 429,
                ErrorCode::NotStored => 503,
                _ => 400,
            };
            assert_eq!(e.http_status(), want, "{e}");
        }
    }

    #[test]
    fn our_codes_close_a_websocket_with_rfc_6455_codes() {
        assert_eq!(ErrorCode::NotStored.ws_close().0, 1011);
        assert!(ErrorCode::NotStored
            .ws_close()
            .1
            .starts_with("1011: Message not stored"));
        assert_eq!(ErrorCode::QuotaExceeded.ws_close().0, 1008);
        assert_eq!(
            ErrorCode::WrongRequestData.ws_close(),
            (4013, "4013: Wrong Request Data.".to_string())
        );
        assert_eq!(ErrorCode::from_code(503), Some(ErrorCode::NotStored));
    }

    #[test]
    fn close_reasons_fit_a_websocket_close_frame() {
        // A close frame's reason is at most 123 bytes.
        for e in ErrorCode::ALL {
            assert!(e.reason().len() <= 123, "{e}");
            assert!(e.ws_close().1.len() <= 123, "{e}");
        }
    }

    #[test]
    fn is_a_std_error() {
        let e: Box<dyn std::error::Error> = Box::new(ErrorCode::NoChannels);
        assert_eq!(e.to_string(), "4017: No channels found.");
    }
}
