//! The Bitrix Push & Pull wire protocol, without any I/O: channel ids and their
//! signatures, message ids, the text envelope, protobuf messages and error codes.
//! Source of truth: `shared/spec/bitrix-pull-protocol.md`.

pub mod backend_channel;
pub mod channel;
pub mod descriptor;
pub mod envelope;
pub mod error;
pub mod mid;
pub mod proto;
pub mod pull_batch;
pub mod query;
pub mod request;
pub mod sign;

#[cfg(test)]
pub(crate) mod testdata;

pub use channel::{ChannelId, ChannelKey};
pub use descriptor::{Descriptor, Trust};
pub use error::ErrorCode;
pub use mid::MessageId;
pub use request::{Command, Incoming, Limits};
pub use sign::{SignatureAlgo, Signer};
