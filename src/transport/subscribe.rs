//! The subscription request shared by long polling, WebSocket and SSE:
//! `?CHANNEL_ID=<descriptors>[&binaryMode=true][&mid=<26 digits>]`.

use crate::protocol::descriptor::{parse_channel_list, Trust};
use crate::protocol::query::{parse_query, query_param};
use crate::protocol::{ChannelId, ChannelKey, ErrorCode, MessageId, Signer};

#[derive(Debug, Clone)]
pub struct SubscribeRequest {
    /// Private ids and their public ids, in the order of the descriptors.
    pub channels: Vec<ChannelKey>,
    /// The first public id: the sender id of what this connection publishes.
    pub publisher: Option<ChannelId>,
    /// `binaryMode=true`: protobuf frames instead of text envelopes.
    pub binary: bool,
    /// Resume point; an invalid `mid` is ignored, as the Node server does.
    pub mid: Option<MessageId>,
}

/// Parse a raw query string (untrusted: every descriptor must be signed when a key is set).
pub fn parse(query: Option<&str>, signer: Option<&Signer>) -> Result<SubscribeRequest, ErrorCode> {
    let pairs = parse_query(query.unwrap_or(""));
    let descriptors = parse_channel_list(
        query_param(&pairs, "CHANNEL_ID").unwrap_or(""),
        signer,
        Trust::Untrusted,
    )?;
    let mut channels = Vec::with_capacity(descriptors.len() * 2);
    let mut publisher = None;
    for d in &descriptors {
        push_unique(&mut channels, ChannelKey::private(d.private));
        if let Some(p) = d.public {
            push_unique(&mut channels, ChannelKey::public(p));
            publisher.get_or_insert(p);
        }
    }
    Ok(SubscribeRequest {
        channels,
        publisher,
        binary: query_param(&pairs, "binaryMode") == Some("true"),
        mid: query_param(&pairs, "mid").and_then(MessageId::parse),
    })
}

fn push_unique(v: &mut Vec<ChannelKey>, k: ChannelKey) {
    if !v.contains(&k) {
        v.push(k);
    }
}
