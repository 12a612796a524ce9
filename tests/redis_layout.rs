//! The Redis engine's foundation against a real `redis-server`: what a Node push-server
//! process writes (the spec's byte vectors, written with plain commands) is what bxpush
//! reads, what bxpush writes is byte-identical to them, and the operations (ids, history,
//! TTLs, online keys, stats, pub/sub, reconnection) do what the layout says.

mod redis_support;

use std::collections::HashSet;
use std::time::Duration;

use bytes::Bytes;
use futures_util::StreamExt;
use redis::AsyncCommands;

use bxpush::message::{Message, Sender};
use bxpush::protocol::{ChannelId, ChannelKey, MessageId};
use bxpush::store::redis::{layout, Backoff, Notifications, RedisConn, RedisUrl};
use redis_support::{raw, unhex, RedisServer};

/// Spec §11.2 private channel id and §11.4 body.
const PRIVATE: &str = "f6fcf2d5d6c2764e292968f0d64b7530";
const BODY: &str = r#"{"module_id":"im","command":"message","params":{"text":"hi"},"extra":{"server_time":"2024-01-01T03:00:00+03:00","server_time_unix":1704067200.5,"server_name":"example.com","revision_web":19,"revision_mobile":3}}"#;
/// Spec §11.5 binary reply: `ResponseBatch` › `Response` › `OutgoingMessagesResponse` ›
/// the `OutgoingMessage` that Node stores under `message:<id>` (from byte 9 on).
const OUTGOING_BATCH: &str = "0af8010af5010af2010a0d1700000000000000000000004212d3017b226d6f64756c655f6964223a22696d222c22636f6d6d616e64223a226d657373616765222c22706172616d73223a7b2274657874223a226869227d2c226578747261223a7b227365727665725f74696d65223a22323032342d30312d30315430333a30303a30302b30333a3030222c227365727665725f74696d655f756e6978223a313730343036373230302e352c227365727665725f6e616d65223a226578616d706c652e636f6d222c227265766973696f6e5f776562223a31392c227265766973696f6e5f6d6f62696c65223a337d7d1880a30525810092652a020802";
/// Spec §11.3.
const MID_HEX: &str = "17000000000000000000000042";

fn stored_vector() -> Vec<u8> {
    unhex(OUTGOING_BATCH)[9..].to_vec()
}

/// `NotificationBatch{[{ipcMessages: {[{receivers: [{id: PRIVATE, isPrivate: true}],
/// outgoingMessage: <stored vector>}]}}]}`: the spec's receiver bytes (`0a10<id>1001`,
/// as in the §11.5 PHP publish) and `OutgoingMessage` bytes under their field keys.
fn notification_vector() -> Vec<u8> {
    let om = stored_vector();
    let mut ipc = unhex(&format!("0a140a10{PRIVATE}1001"));
    ipc.extend_from_slice(&[0x1a, 0xf2, 0x01]);
    ipc.extend_from_slice(&om);
    let wrap = |inner: Vec<u8>| {
        let mut out = vec![0x0a];
        prost::encoding::encode_varint(inner.len() as u64, &mut out);
        out.extend_from_slice(&inner);
        out
    };
    wrap(wrap(wrap(ipc)))
}

fn private() -> ChannelKey {
    ChannelKey::private(ChannelId::from_hex(PRIVATE).unwrap())
}

fn ch(n: u8) -> ChannelKey {
    ChannelKey::private(ChannelId([n; 16]))
}

fn vector_message() -> Message {
    Message::new(
        MessageId::parse(MID_HEX).unwrap(),
        vec![private()],
        Bytes::from_static(BODY.as_bytes()),
        86_400,
        1_704_067_201_000,
        Sender::Backend,
    )
}

fn msg(mid: MessageId, receivers: Vec<ChannelKey>, body: &str, expiry: u32) -> Message {
    Message::new(
        mid,
        receivers,
        Bytes::copy_from_slice(body.as_bytes()),
        expiry,
        1_704_067_201_000,
        Sender::Backend,
    )
}

fn bodies(msgs: &[Message]) -> Vec<String> {
    msgs.iter()
        .map(|m| String::from_utf8(m.body.to_vec()).unwrap())
        .collect()
}

const NOW: u32 = 1_700_000_000;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn what_node_writes_bxpush_reads() {
    let server = RedisServer::start();
    let mut node = raw(&server).await;
    let mid = unhex(MID_HEX);
    // As storages/redis.js saveMessage: SETEX message:<id>, ZADD channel:messages:<id>.
    let _: () = node
        .set_ex(
            [b"message:".as_slice(), &mid].concat(),
            stored_vector(),
            86_400,
        )
        .await
        .unwrap();
    let _: () = node
        .zadd(
            [b"channel:messages:".as_slice(), &unhex(PRIVATE)].concat(),
            mid.as_slice(),
            0,
        )
        .await
        .unwrap();
    // As cluster.js setOnline: SETEX channel:online:<id> 130 1.
    let _: () = node
        .set_ex(
            [b"channel:online:".as_slice(), &unhex(PRIVATE)].concat(),
            1,
            130,
        )
        .await
        .unwrap();

    let mut bx = RedisConn::connect(&server.url()).await.unwrap();
    let got = bx
        .history_after(&[private()], &MessageId([0; 13]))
        .await
        .unwrap();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].mid.to_string(), MID_HEX);
    assert_eq!(bodies(&got), [BODY]);
    assert_eq!((got[0].expiry, got[0].created), (86_400, 1_704_067_201));
    assert_eq!(got[0].sender, Sender::Backend);
    // Read back, the message encodes to the very bytes Node stored.
    assert_eq!(got[0].outgoing_proto().as_ref(), stored_vector().as_slice());
    assert_eq!(
        bx.newest(&[private(), ch(9)]).await.unwrap(),
        Some(MessageId::parse(MID_HEX).unwrap())
    );
    assert_eq!(bx.online(&[private(), ch(9)]).await.unwrap(), [true, false]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn what_bxpush_writes_is_byte_identical_to_what_node_writes() {
    let server = RedisServer::start();
    let mut node = raw(&server).await;
    let mut bx = RedisConn::connect(&server.url()).await.unwrap();
    bx.store_and_publish(&vector_message(), "bxnode01")
        .await
        .unwrap();
    let mid = unhex(MID_HEX);
    let message_key = [b"message:".as_slice(), &mid].concat();
    let stored: Vec<u8> = node.get(&message_key).await.unwrap();
    assert_eq!(stored, stored_vector());
    let zset = [b"channel:messages:".as_slice(), &unhex(PRIVATE)].concat();
    let members: Vec<(Vec<u8>, f64)> = node.zrange_withscores(&zset, 0, -1).await.unwrap();
    assert_eq!(members, [(mid, 0.0)]);
    // TTLs as the layout says: the message its expiry, the channel index channelTTL.
    let ttl: i64 = node.ttl(&message_key).await.unwrap();
    assert!((86_390..=86_400).contains(&ttl), "message TTL {ttl}");
    let ttl: i64 = node.ttl(&zset).await.unwrap();
    assert!((86_390..=86_400).contains(&ttl), "channel TTL {ttl}");

    // An index that has a TTL keeps it (Node never refreshes it).
    let _: () = node.expire(&zset, 100).await.unwrap();
    let mut later = vector_message();
    later.mid = MessageId::new(1_700_000_000, 43);
    bx.store_and_publish(&later, "bxnode01").await.unwrap();
    let ttl: i64 = node.ttl(&zset).await.unwrap();
    assert!((90..=100).contains(&ttl), "channel TTL refreshed: {ttl}");

    // Expiry 0: published, not stored.
    let mut live_only = vector_message();
    live_only.mid = MessageId::new(1_700_000_000, 44);
    live_only.expiry = 0;
    bx.store_and_publish(&live_only, "bxnode01").await.unwrap();
    let exists: bool = node
        .exists(layout::message_key(&live_only.mid))
        .await
        .unwrap();
    assert!(!exists);
    let count: usize = node.zcard(&zset).await.unwrap();
    assert_eq!(count, 2);

    // Online keys: "1" for 130 s.
    bx.set_online(&[private()], layout::ONLINE_TTL_SECS)
        .await
        .unwrap();
    let online_key = [b"channel:online:".as_slice(), &unhex(PRIVATE)].concat();
    let v: Vec<u8> = node.get(&online_key).await.unwrap();
    assert_eq!(v, b"1");
    let ttl: i64 = node.ttl(&online_key).await.unwrap();
    assert!((120..=130).contains(&ttl), "online TTL {ttl}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_connections_get_distinct_increasing_ids_from_one_counter() {
    let server = RedisServer::start();
    let url = server.url();
    let mut tasks = Vec::new();
    for _ in 0..2 {
        let url = url.clone();
        tasks.push(tokio::spawn(async move {
            let mut c = RedisConn::connect(&url).await.unwrap();
            let mut ids = Vec::new();
            for _ in 0..300 {
                ids.push(c.allocate_mid(NOW).await.unwrap());
            }
            ids
        }));
    }
    let mut all = HashSet::new();
    let mut startdates = HashSet::new();
    for t in tasks {
        let ids = t.await.unwrap();
        assert!(ids.windows(2).all(|w| w[0] < w[1]), "not increasing");
        for id in ids {
            startdates.insert(id.startdate());
            assert!(all.insert(id.counter()), "id {id} given twice");
        }
    }
    assert_eq!(all, (1..=600).collect::<HashSet<u64>>());
    // SETNX: the first process's start date is every process's.
    assert_eq!(startdates, HashSet::from([u64::from(NOW)]));
    let mut late = RedisConn::connect(&url).await.unwrap();
    let id = late.allocate_mid(NOW + 500).await.unwrap();
    assert_eq!((id.startdate(), id.counter()), (u64::from(NOW), 601));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn history_after_a_mid_is_exactly_the_later_ones_in_order_each_once() {
    let server = RedisServer::start();
    let mut bx = RedisConn::connect(&server.url()).await.unwrap();
    let (a, b) = (ch(1), ch(2));
    let mut mids = Vec::new();
    for (i, receivers) in [vec![a], vec![b], vec![a, b], vec![a], vec![b]]
        .into_iter()
        .enumerate()
    {
        let mid = bx.allocate_mid(NOW).await.unwrap();
        mids.push(mid);
        bx.store_and_publish(&msg(mid, receivers, &format!("m{i}"), 3600), "bxnode01")
            .await
            .unwrap();
    }
    let got = bx.history_after(&[a, b], &mids[0]).await.unwrap();
    assert_eq!(bodies(&got), ["m1", "m2", "m3", "m4"]);
    let got = bx.history_after(&[a], &mids[1]).await.unwrap();
    assert_eq!(bodies(&got), ["m2", "m3"]);
    assert!(bx
        .history_after(&[a, b], &mids[4])
        .await
        .unwrap()
        .is_empty());
    // An expired message (its key gone, its id still in the index) is skipped.
    let mut node = raw(&server).await;
    let _: () = node.del(layout::message_key(&mids[2])).await.unwrap();
    let got = bx.history_after(&[a, b], &mids[0]).await.unwrap();
    assert_eq!(bodies(&got), ["m1", "m3", "m4"]);
    assert_eq!(bx.newest(&[a]).await.unwrap(), Some(mids[3]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pubsub_carries_the_node_notification_format_both_ways() {
    let server = RedisServer::start();
    let url = server.url();
    let mut notes = Notifications::subscribe(&url).await.unwrap();
    // A raw subscriber sees what bxpush publishes, byte for byte.
    let mut raw_sub = redis::Client::open(url.connection_info())
        .unwrap()
        .get_async_pubsub()
        .await
        .unwrap();
    raw_sub.psubscribe("pushserver:*").await.unwrap();
    let mut raw_stream = raw_sub.into_on_message();

    // As cluster.js broadcast: PUBLISH pushserver:<uid> NotificationBatch.
    let mut node = raw(&server).await;
    let _: () = node
        .publish("pushserver:k3x9a0bq", notification_vector())
        .await
        .unwrap();
    let n = notes.next().await.unwrap();
    assert_eq!(n.from_uid, "k3x9a0bq");
    let messages = n.messages.unwrap();
    assert_eq!(messages.len(), 1);
    assert_eq!(messages[0].mid.to_string(), MID_HEX);
    assert_eq!(&*messages[0].receivers, &[private()]);
    assert_eq!(bodies(&messages), [BODY]);
    let seen = raw_stream.next().await.unwrap();
    assert_eq!(seen.get_payload_bytes(), notification_vector().as_slice());

    let mut bx = RedisConn::connect(&url).await.unwrap();
    bx.store_and_publish(&vector_message(), "bxnode01")
        .await
        .unwrap();
    let seen = raw_stream.next().await.unwrap();
    assert_eq!(seen.get_channel_name(), "pushserver:bxnode01");
    assert_eq!(seen.get_payload_bytes(), notification_vector().as_slice());
    let n = notes.next().await.unwrap();
    assert_eq!(n.from_uid, "bxnode01");
    assert_eq!(n.messages.unwrap()[0].mid.to_string(), MID_HEX);

    // A publication that is not a NotificationBatch is reported, and the stream goes on.
    let _: () = node
        .publish("pushserver:junk0000", b"\xff\xff")
        .await
        .unwrap();
    assert!(notes.next().await.unwrap().messages.is_err());
    let _: () = node
        .publish("pushserver:k3x9a0bq", notification_vector())
        .await
        .unwrap();
    assert!(notes.next().await.unwrap().messages.is_ok());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stats_hash_lists_live_processes_of_both_kinds() {
    let server = RedisServer::start();
    let mut bx = RedisConn::connect(&server.url()).await.unwrap();
    let mut node = raw(&server).await;
    let now = 1_795_953_224_140u64;
    let _: () = node
        .hset(
            "stats",
            "sub-18010",
            format!(r#"{{"pid":18010,"date":{now},"processUniqueId":"sub-18010"}}"#),
        )
        .await
        .unwrap();
    let _: () = node
        .hset("stats", "sub-gone", r#"{"pid":1,"date":1}"#)
        .await
        .unwrap();
    bx.write_stats(
        "bxpush-1",
        &format!(r#"{{"pid":2,"date":{now},"processUniqueId":"bxpush-1"}}"#),
    )
    .await
    .unwrap();
    let live = bx.read_stats(now + 1000).await.unwrap();
    let mut ids: Vec<_> = live
        .iter()
        .map(|v| v["processUniqueId"].as_str().unwrap().to_owned())
        .collect();
    ids.sort();
    assert_eq!(ids, ["bxpush-1", "sub-18010"]);
    let fields: Vec<String> = node.hkeys("stats").await.unwrap();
    assert!(!fields.contains(&"sub-gone".to_owned()), "{fields:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_redis_server_is_reconnected_to_with_back_off() {
    let mut server = RedisServer::start();
    let url = server.url();
    let mut bx = RedisConn::connect(&url).await.unwrap();
    let mut notes = Notifications::subscribe(&url).await.unwrap();
    assert_eq!(bx.allocate_mid(NOW).await.unwrap().counter(), 1);

    server.kill();
    // Operations fail with an error (not a hang), and the stream ends.
    let failed = tokio::time::timeout(Duration::from_secs(5), bx.allocate_mid(NOW)).await;
    assert!(matches!(failed, Ok(Err(_))), "{failed:?}");
    let ended = tokio::time::timeout(Duration::from_secs(5), notes.next()).await;
    assert!(matches!(ended, Ok(None)), "stream did not end");

    // Reconnect with back-off while the server is down, then bring it back.
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let reconnect = tokio::spawn({
        let url = url.clone();
        async move {
            let mut backoff = Backoff::new(Duration::from_millis(20), Duration::from_millis(200));
            RedisConn::connect_with_backoff(&url, &mut backoff, |_, wait| {
                let _ = tx.send(wait);
            })
            .await
        }
    });
    // Two failed attempts are seen before the server comes back.
    assert!(rx.recv().await.is_some());
    assert!(rx.recv().await.is_some());
    let server = RedisServer::start_on(server.port);
    let mut bx = tokio::time::timeout(Duration::from_secs(10), reconnect)
        .await
        .expect("reconnected")
        .unwrap();
    // A Redis without persistence came back empty: a new start date and counter.
    let mid = bx.allocate_mid(NOW + 10).await.unwrap();
    assert_eq!((mid.startdate(), mid.counter()), (u64::from(NOW + 10), 1));
    let mut notes = Notifications::subscribe(&url).await.unwrap();
    bx.store_and_publish(&vector_message(), "bxnode01")
        .await
        .unwrap();
    let n = notes.next().await.unwrap();
    assert_eq!(n.messages.unwrap()[0].mid.to_string(), MID_HEX);
    drop(server);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unix_socket_password_and_database_come_from_the_url() {
    let dir = std::env::temp_dir().join(format!("bxpush-redis-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let sock = dir.join("redis.sock");
    let port = RedisServer::free_port();
    let server = RedisServer::start_with(
        port,
        &[
            "--unixsocket",
            sock.to_str().unwrap(),
            "--unixsocketperm",
            "700",
            "--requirepass",
            "s3cr@t",
        ],
    );
    let unix: RedisUrl = format!("redis+unix://{}?db=2&password=s3cr%40t", sock.display())
        .parse()
        .unwrap();
    let tcp2: RedisUrl = format!("redis://:s3cr%40t@127.0.0.1:{port}/2")
        .parse()
        .unwrap();
    let tcp0: RedisUrl = format!("redis://:s3cr%40t@127.0.0.1:{port}/0")
        .parse()
        .unwrap();
    let wrong: RedisUrl = format!("redis://:nope@127.0.0.1:{port}/2").parse().unwrap();
    let none: RedisUrl = format!("redis://127.0.0.1:{port}/2").parse().unwrap();

    let mut over_unix = RedisConn::connect(&unix).await.unwrap();
    let mid = over_unix.allocate_mid(NOW).await.unwrap();
    over_unix
        .store_and_publish(&msg(mid, vec![ch(1)], "via unix", 60), "bxnode01")
        .await
        .unwrap();
    let mut in_db2 = RedisConn::connect(&tcp2).await.unwrap();
    let got = in_db2
        .history_after(&[ch(1)], &MessageId([0; 13]))
        .await
        .unwrap();
    assert_eq!(bodies(&got), ["via unix"]);
    let mut in_db0 = RedisConn::connect(&tcp0).await.unwrap();
    assert!(in_db0
        .history_after(&[ch(1)], &MessageId([0; 13]))
        .await
        .unwrap()
        .is_empty());
    assert!(RedisConn::connect(&wrong).await.is_err());
    assert!(RedisConn::connect(&none).await.is_err());
    drop(server);
    let _ = std::fs::remove_dir_all(&dir);
}
