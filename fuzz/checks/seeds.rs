//! Valid inputs of each target, made with the crate's own encoders: where the stable runner
//! and a fresh libFuzzer corpus start from (`tests/fuzz_props.rs` runs them and writes them
//! into `fuzz/corpus/<target>/` when BXPUSH_FUZZ_WRITE_SEEDS is set).

use bxpush::handoff::wire::{encode_item, encode_spool, Frame};
use bxpush::handoff::{Item, Query, Reply};
use bxpush::message::{Message, Sender};
use bxpush::protocol::descriptor::{public_signature, sign_private_descriptor};
use bxpush::protocol::proto::{self, request};
use bxpush::protocol::{ChannelId, ChannelKey, MessageId};
use bxpush::store::log::{self, MAGIC};
use bytes::Bytes;
use prost::Message as _;

fn ids() -> (ChannelId, ChannelId) {
    (ChannelId([0x11; 16]), ChannelId([0x22; 16]))
}

fn items() -> Vec<Item> {
    let (a, b) = ids();
    vec![
        Item::Publish {
            receivers: vec![ChannelKey::private(a), ChannelKey::public(b)],
            body: Bytes::from_static(br#"{"module_id":"im","command":"message","params":{}}"#),
            expiry: 86400,
            kind: "im_message".into(),
        },
        Item::WatchAdd {
            user_id: 7,
            tags: vec!["TASK_1".into(), "CHAT_2".into()],
            ttl: 1920,
        },
        Item::WatchDelete {
            user_id: 7,
            tag: Some("TASK_1".into()),
        },
        Item::WatchDelete {
            user_id: 8,
            tag: None,
        },
        Item::PublishToTags {
            tags: vec!["TASK_1".into()],
            skip_users: vec![1, 2],
            body: Bytes::from_static(b"{}"),
            expiry: 0,
            kind: "tasks_update".into(),
        },
    ]
}

fn ws_frame(opcode: u8, fin: bool, payload: &[u8]) -> Vec<u8> {
    let mut f = vec![(if fin { 0x80 } else { 0 }) | opcode];
    match payload.len() {
        n if n < 126 => f.push(0x80 | n as u8),
        n if n < 65536 => {
            f.push(0x80 | 126);
            f.extend_from_slice(&(n as u16).to_be_bytes());
        }
        n => {
            f.push(0x80 | 127);
            f.extend_from_slice(&(n as u64).to_be_bytes());
        }
    }
    let mask = [0x12, 0x34, 0x56, 0x78];
    f.extend_from_slice(&mask);
    f.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
    f
}

fn request_batches() -> Vec<Vec<u8>> {
    let (_, b) = ids();
    let signer = super::signer();
    let incoming = request::Command::IncomingMessages(proto::IncomingMessagesRequest {
        messages: vec![proto::IncomingMessage {
            receivers: vec![proto::Receiver {
                id: b.0.to_vec(),
                is_private: false,
                signature: public_signature(&signer, &b),
            }],
            sender: None,
            body: Bytes::from_static(b"{\"hello\":1}"),
            expiry: 60,
            r#type: "im_message".into(),
        }],
    });
    let stats = request::Command::ChannelStats(proto::ChannelStatsRequest {
        channels: vec![proto::ProtoChannelId {
            id: b.0.to_vec(),
            is_private: false,
            signature: public_signature(&signer, &b),
        }],
    });
    let server = request::Command::ServerStats(proto::ServerStatsRequest {});
    [incoming, stats, server]
        .into_iter()
        .map(|c| {
            proto::RequestBatch {
                requests: vec![proto::Request { command: Some(c) }],
            }
            .encode_to_vec()
        })
        .collect()
}

fn log_bytes(n: u64) -> Vec<u8> {
    let (a, b) = ids();
    let mut out = MAGIC.to_vec();
    for i in 0..n {
        let m = Message::new(
            MessageId::new(1_700_000_000, i + 1),
            vec![ChannelKey::private(a), ChannelKey::public(b)],
            Bytes::from(format!("{{\"n\":{i}}}")),
            3600,
            1_700_000_000_000 + i,
            if i % 2 == 0 {
                Sender::Backend
            } else {
                Sender::Client(b)
            },
        );
        log::encode_message(&m, &mut out).expect("encodes");
    }
    out
}

/// The seed inputs of target `name`.
pub fn seeds(name: &str) -> Vec<Vec<u8>> {
    let (a, b) = ids();
    let signer = super::signer();
    match name {
        "query" => {
            let d = sign_private_descriptor(&signer, &a, Some(&b));
            vec![
                format!("CHANNEL_ID={}&mid=00017000000000000000000042", d.replace(':', "%3A"))
                    .into_bytes(),
                format!("?binaryMode=true&CHANNEL_ID={d}/{d}&revision=19").into_bytes(),
            ]
        }
        "descriptor" => vec![
            [b"\x00".as_slice(), sign_private_descriptor(&signer, &a, Some(&b)).as_bytes()].concat(),
            [b"\x00".as_slice(), sign_private_descriptor(&signer, &a, None).as_bytes()].concat(),
            [b"\x01".as_slice(), a.to_hex().as_bytes()].concat(),
        ],
        "request_batch" => request_batches(),
        "ws_frames" => {
            let batches = request_batches();
            let mut s = vec![3, 7];
            s.extend(ws_frame(2, true, &batches[0]));
            s.extend(ws_frame(9, true, b"ping"));
            s.extend(ws_frame(1, false, b"part one "));
            s.extend(ws_frame(10, true, b""));
            s.extend(ws_frame(0, true, b"part two"));
            s.extend(ws_frame(8, true, &[0x03, 0xe8]));
            let mut big = vec![1, 200];
            big.extend(ws_frame(2, true, &vec![0u8; 300]));
            vec![s, big]
        }
        "handoff_frame" => {
            let frames = vec![
                Frame::Challenge {
                    version: 1,
                    auth: true,
                    nonce: [5; 16],
                },
                Frame::Hello {
                    version: 1,
                    origin: 42,
                    nonce: [6; 16],
                    mac: [7; 32],
                },
                Frame::Batch {
                    origin: 42,
                    first_seq: 1,
                    items: items().into_iter().map(Ok).collect(),
                },
                Frame::Ack { origin: 42, seq: 5 },
                Frame::Query(Query::ChannelStats(vec![ChannelKey::public(b)])),
                Frame::Query(Query::WatchUsers(vec!["TASK_1".into()])),
                Frame::Reply(Reply::Users(vec![1, 2, 3])),
                Frame::Reply(Reply::ChannelStats(vec![true, false])),
                Frame::Reply(Reply::ServerStats("{}".into())),
            ];
            frames
                .iter()
                .map(|f| {
                    let mut body = f.to_body();
                    let len = (body.len() - 4) as u32;
                    body[..4].copy_from_slice(&len.to_be_bytes());
                    body
                })
                .collect()
        }
        "handoff_item" => {
            let all: Vec<u8> = items().iter().flat_map(encode_item).collect();
            vec![[vec![5u8], all].concat()]
        }
        "spool" => {
            let enc: Vec<Vec<u8>> = items().iter().map(encode_item).collect();
            let refs: Vec<&[u8]> = enc.iter().map(Vec::as_slice).collect();
            vec![encode_spool(42, 1, &refs), encode_spool(1, 9, &[])]
        }
        "config_json" => vec![br#"{"servers":[{"name":"sub-8010","port":8010,"hostname":"127.0.0.1","routes":{"sub":"/bitrix/sub/","rest":"/bitrix/rest/"}},{"name":"pub-9010","port":9010,"hostname":"127.0.0.1","routes":{"pub":"/bitrix/pub/","stat":"/server-stat/"}}],"security":{"key":"secret","algo":"sha1"},"storage":{"type":"memory","messageTTL":86400,"onlineTTL":120,"onlineDelta":10},"limits":{"maxPayload":1048576,"maxConnPerChannel":100,"maxMessagesPerRequest":100,"maxChannelsPerRequest":100}}"#.to_vec()],
        "config_toml" => vec![
            b"listen_sub = \"127.0.0.1:8010\"\nlisten_pub = \"127.0.0.1:9010\"\nsignature_key = \"k\"\nsignature_algo = \"sha256\"\nmax_payload = 1048576\nread_timeout = 30\nfsync = false\n".to_vec(),
            b"listen_php = \"/run/bxpush/php.sock\"\ndata_dir = \"/var/lib/bxpush\"\nmax_history_bytes = 268435456\n".to_vec(),
        ],
        "log_recover" => {
            let log = log_bytes(4);
            let mut damaged = log[MAGIC.len()..].to_vec();
            damaged[3] ^= 0x40;
            vec![[vec![0u8], damaged].concat(), [vec![0u8], log[8..].to_vec()].concat()]
        }
        "log_file" => vec![vec![0x55; 64], (0..255u8).collect(), vec![0xff; 200]],
        other => panic!("no seeds for {other}"),
    }
}
