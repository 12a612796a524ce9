//! Once a second, on the engine's command connection: the online keys of the channels
//! with a subscriber on this node (one pipelined `SETEX` batch, not a call per
//! subscription or pong), this process's `/server-stat/` object in the `stats` hash,
//! and the other processes' objects read back for this node's `/server-stat/`.

use super::Cluster;
use crate::hub::{now_ms, Hub};
use crate::store::redis::{layout, RedisConn};

pub async fn refresh(cluster: &Cluster, hub: &Hub, conn: &mut RedisConn) -> redis::RedisResult<()> {
    let local = hub.local_channels();
    conn.set_online(&local, layout::ONLINE_TTL_SECS).await?;
    let own = cluster.stats_source.lock().as_ref().map(|f| f());
    if let Some(json) = own {
        conn.write_stats(&cluster.process_id, &json.to_string())
            .await?;
    }
    let others: Vec<_> = conn
        .read_stats(now_ms())
        .await?
        .into_iter()
        .filter(|v| v.get("processUniqueId").and_then(|p| p.as_str()) != Some(&cluster.process_id))
        .collect();
    *cluster.others.lock() = others;
    Ok(())
}
