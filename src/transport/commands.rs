//! Executing a decoded protobuf `RequestBatch` command, the same for the trusted publisher
//! (`/bitrix/pub/?binaryMode=true`) and for clients (WebSocket frames, `/bitrix/rest/`):
//! what may be asked was already decided by the parser's trust rules.

use super::{server_stat, App};
use crate::hub::Publish;
use crate::message::Sender;
use crate::protocol::request::Command;
use crate::protocol::{proto, ErrorCode};

/// Run `cmd`; `Ok(Some(bytes))` is a binary `ResponseBatch` to send back. `sender` is who
/// publishes: `Backend` for the trusted path, the connection's public id for a client,
/// `None` for a client without one (it may query, not publish: 4012).
pub fn execute(
    app: &App,
    cmd: Command,
    sender: Option<Sender>,
) -> Result<Option<Vec<u8>>, ErrorCode> {
    let now = crate::hub::now_unix();
    let counters = &app.hub.counters;
    match cmd {
        Command::IncomingMessages(messages) => {
            counters.count_request("incomingMessages", now);
            let sender = sender.ok_or(ErrorCode::PublicChannelIdRequired)?;
            let n = messages.len();
            for (i, m) in messages.into_iter().enumerate() {
                app.hub
                    .publish(Publish::incoming(m, sender).batched(i + 1 < n))
                    .map_err(|e| e.code())?;
            }
            Ok(None)
        }
        Command::ChannelStats(keys) => {
            counters.count_request("channelStats", now);
            let stats: Vec<_> = keys
                .iter()
                .map(|k| (k.id, !k.public, app.hub.is_online(k)))
                .collect();
            Ok(Some(proto::channel_stats_response(&stats)))
        }
        Command::ServerStats => {
            counters.count_request("serverStats", now);
            let json = server_stat::json(app).to_string();
            Ok(Some(proto::server_stats_response(&json)))
        }
    }
}
