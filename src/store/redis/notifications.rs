//! The cluster's message stream: `PSUBSCRIBE pushserver:*` on a connection of its own
//! (a subscribed connection can send nothing else), each publication decoded from the
//! Node `NotificationBatch`.
//!
//! Redis delivers publications to every subscriber in the one order it executed the
//! PUBLISH commands, so every node sees the same sequence; the stream keeps the node's
//! own publications in it (unlike Node, which skips its own uid) so that a bxpush node
//! fans out its own messages at their place in that sequence.

use futures_util::StreamExt;
use redis::aio::PubSubStream;
use redis::{Client, RedisResult};

use super::layout::{self, DecodeError};
use super::url::RedisUrl;
use crate::message::Message;

/// One publication of the cluster.
#[derive(Debug)]
pub struct Notified {
    /// The publishing node's uid (`pushserver:<uid>`).
    pub from_uid: String,
    /// Its messages, or why they could not be read (a foreign or corrupt publisher:
    /// the caller counts and logs it; it must not end the stream).
    pub messages: Result<Vec<Message>, DecodeError>,
}

pub struct Notifications {
    stream: PubSubStream,
}

impl Notifications {
    /// Connect and subscribe. Publications made before this returns are not seen: the
    /// caller reads history after subscribing, never before (DESIGN.md).
    pub async fn subscribe(url: &RedisUrl) -> RedisResult<Self> {
        let client = Client::open(url.connection_info())?;
        let mut pubsub = client.get_async_pubsub().await?;
        pubsub.psubscribe(layout::PUBSUB_PATTERN).await?;
        Ok(Self {
            stream: pubsub.into_on_message(),
        })
    }

    /// The next publication; `None` once the connection is lost (the caller then marks
    /// itself degraded, reconnects and resubscribes).
    pub async fn next(&mut self) -> Option<Notified> {
        let msg = self.stream.next().await?;
        let channel: Vec<u8> = msg.get_channel().unwrap_or_default();
        Some(Notified {
            from_uid: String::from_utf8_lossy(layout::uid_of_channel(&channel)).into_owned(),
            messages: layout::decode_notification(msg.get_payload_bytes()),
        })
    }
}
