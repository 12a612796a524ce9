//! The open-loop publisher: messages scheduled at a fixed rate whatever the server's
//! answers, sent through the trusted `/bitrix/pub/` endpoint (text with
//! `Message-Expiry`, or protobuf `RequestBatch`) over a few keep-alive connections.

use std::cell::{Cell, RefCell};
use std::net::SocketAddr;
use std::rc::Rc;
use std::time::Duration;

use hdrhistogram::Histogram;
use prost::Message as _;
use serde::{Deserialize, Serialize};

use super::body::{self, Fields};
use super::http::HttpConn;
use super::plan::Plan;
use super::worker::{new_histogram, now_ns};
use bxpush::protocol::proto;

/// How messages are published.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum PublishMode {
    /// `POST /bitrix/pub/?CHANNEL_ID=…` with `Message-Expiry`, one message per request.
    Text,
    /// `POST /bitrix/pub/?binaryMode=true` with a `RequestBatch` of `--batch` messages.
    Protobuf,
}

pub struct PubConfig {
    pub pub_addr: SocketAddr,
    pub mode: PublishMode,
    /// Messages per second.
    pub rate: f64,
    /// Messages of the run: `first .. first + messages` of the plan's numbering (a run
    /// that publishes in several phases continues where the last one stopped).
    pub first: u64,
    pub messages: u64,
    pub size: usize,
    pub expiry: u32,
    pub conns: usize,
    pub batch: usize,
    pub plan: Plan,
}

impl PubConfig {
    /// The publisher of a run with these settings: `messages` in all, to `plan`'s channels.
    pub fn of(s: &crate::Settings, messages: u64, plan: Plan) -> Self {
        Self {
            pub_addr: s.pub_addr,
            mode: s.publish_mode,
            rate: s.rate,
            first: 0,
            messages,
            size: s.message_size,
            expiry: s.expiry,
            conns: s.pub_conns,
            batch: s.batch,
            plan,
        }
    }
}

pub struct PubResult {
    pub failed: Vec<u64>,
    pub requests: u64,
    pub errors: Vec<String>,
    pub start_ns: u64,
    pub end_ns: u64,
    /// How late each request left after its scheduled time, ns.
    pub lateness: Histogram<u64>,
    /// Request → response time, ns.
    pub request_latency: Histogram<u64>,
}

struct State {
    failed: RefCell<Vec<u64>>,
    requests: Cell<u64>,
    errors: RefCell<Vec<String>>,
    lateness: RefCell<Histogram<u64>>,
    request_latency: RefCell<Histogram<u64>>,
}

impl State {
    fn error(&self, e: String) {
        let mut v = self.errors.borrow_mut();
        if v.len() < 20 {
            v.push(e);
        }
    }
}

fn text_request(cfg: &PubConfig, channels: &str, body: &[u8]) -> Vec<u8> {
    let mut req = format!(
        "POST /bitrix/pub/?CHANNEL_ID={channels} HTTP/1.1\r\nHost: {}\r\nMessage-Expiry: {}\r\nContent-Type: text/plain\r\nContent-Length: {}\r\n\r\n",
        cfg.pub_addr,
        cfg.expiry,
        body.len()
    )
    .into_bytes();
    req.extend_from_slice(body);
    req
}

fn protobuf_request(cfg: &PubConfig, msgs: Vec<proto::IncomingMessage>) -> Vec<u8> {
    let batch = proto::RequestBatch {
        requests: vec![proto::Request {
            command: Some(proto::request::Command::IncomingMessages(
                proto::IncomingMessagesRequest { messages: msgs },
            )),
        }],
    };
    let body = batch.encode_to_vec();
    let mut req = format!(
        "POST /bitrix/pub/?binaryMode=true&hostname=bench HTTP/1.1\r\nHost: {}\r\nContent-Type: application/octet-stream\r\nContent-Length: {}\r\n\r\n",
        cfg.pub_addr,
        body.len()
    )
    .into_bytes();
    req.extend_from_slice(&body);
    req
}

/// The request carrying messages `gs` of the run, stamped now.
fn build(cfg: &PubConfig, gs: &[u64]) -> Vec<u8> {
    let stamp = |g: u64| {
        let (kind, channel, seq) = cfg.plan.target_of(g);
        let f = Fields {
            warmup: false,
            kind,
            channel,
            seq,
            global: g,
            sent_ns: now_ns(),
        };
        (kind, channel, body::build(&f, cfg.size))
    };
    match cfg.mode {
        PublishMode::Text => {
            let (kind, channel, b) = stamp(gs[0]);
            text_request(cfg, &cfg.plan.channel_hex(kind, channel), &b)
        }
        PublishMode::Protobuf => {
            let msgs = gs
                .iter()
                .map(|&g| {
                    let (kind, channel, b) = stamp(g);
                    let id = hex::decode(cfg.plan.channel_hex(kind, channel)).expect("hex");
                    proto::IncomingMessage {
                        receivers: vec![proto::Receiver {
                            id,
                            is_private: true,
                            signature: Vec::new(),
                        }],
                        sender: None,
                        body: b.into(),
                        expiry: cfg.expiry,
                        r#type: "bench_m".into(),
                    }
                })
                .collect();
            protobuf_request(cfg, msgs)
        }
    }
}

/// The first request of a run, as the publisher would send it now: one message (text
/// mode) or a batch of `cfg.batch` (protobuf). The floors write these bytes.
pub(crate) fn first_request(cfg: &PubConfig) -> Vec<u8> {
    let n = match cfg.mode {
        PublishMode::Text => 1,
        PublishMode::Protobuf => cfg.batch.max(1) as u64,
    };
    let gs: Vec<u64> = (cfg.first..cfg.first + n).collect();
    build(cfg, &gs)
}

/// Publish `cfg.messages` messages at `cfg.rate`; `sent` counts messages handed to the
/// server so far (for progress).
pub async fn run(cfg: Rc<PubConfig>, sent: Rc<Cell<u64>>) -> PubResult {
    let batch = match cfg.mode {
        PublishMode::Text => 1,
        PublishMode::Protobuf => cfg.batch.max(1) as u64,
    };
    // All messages of a channel go through the same connection, in order: otherwise
    // two requests racing on different connections would reorder a channel's messages
    // (and the bench would count it against the server).
    let conns = (cfg.conns.max(1) as u64).min(u64::from(cfg.plan.targets()));
    let st = Rc::new(State {
        failed: RefCell::new(Vec::new()),
        requests: Cell::new(0),
        errors: RefCell::new(Vec::new()),
        lateness: RefCell::new(new_histogram()),
        request_latency: RefCell::new(new_histogram()),
    });
    let start = tokio::time::Instant::now() + Duration::from_millis(20);
    let start_ns = now_ns() + 20_000_000;
    let mut tasks = Vec::new();
    for k in 0..conns {
        let (cfg, st, sent) = (cfg.clone(), st.clone(), sent.clone());
        tasks.push(tokio::task::spawn_local(async move {
            let mut conn: Option<HttpConn> = None;
            let mine = (cfg.first..cfg.first + cfg.messages)
                .filter(|&g| u64::from(cfg.plan.target_of(g).1) % conns == k)
                .collect::<Vec<u64>>();
            for chunk in mine.chunks(batch as usize) {
                let at = start + Duration::from_secs_f64((chunk[0] - cfg.first) as f64 / cfg.rate);
                tokio::time::sleep_until(at).await;
                let late = tokio::time::Instant::now().saturating_duration_since(at);
                st.lateness
                    .borrow_mut()
                    .saturating_record(late.as_nanos() as u64 + 1);
                if conn.is_none() {
                    match HttpConn::connect(cfg.pub_addr).await {
                        Ok(c) => conn = Some(c),
                        Err(e) => st.error(format!("publish connect: {e}")),
                    }
                }
                let req = build(&cfg, chunk);
                let t0 = now_ns();
                let ok = match conn.as_mut() {
                    Some(c) => match c.request(&req).await {
                        Ok(r) if r.head.status == 200 => true,
                        Ok(r) => {
                            st.error(format!(
                                "publish: status {} {}",
                                r.head.status,
                                String::from_utf8_lossy(&r.body)
                            ));
                            false
                        }
                        Err(e) => {
                            st.error(format!("publish: {e}"));
                            conn = None;
                            false
                        }
                    },
                    None => false,
                };
                if conn.as_ref().is_some_and(|c| c.closed) {
                    conn = None;
                }
                st.request_latency
                    .borrow_mut()
                    .saturating_record(now_ns().saturating_sub(t0).max(1));
                st.requests.set(st.requests.get() + 1);
                if !ok {
                    st.failed.borrow_mut().extend_from_slice(chunk);
                }
                sent.set(sent.get() + chunk.len() as u64);
            }
        }));
    }
    for t in tasks {
        let _ = t.await;
    }
    let end_ns = now_ns();
    let st = Rc::try_unwrap(st).ok().expect("every task is done");
    let mut failed = st.failed.into_inner();
    failed.sort_unstable();
    PubResult {
        failed,
        requests: st.requests.get(),
        errors: st.errors.into_inner(),
        start_ns,
        end_ns,
        lateness: st.lateness.into_inner(),
        request_latency: st.request_latency.into_inner(),
    }
}

/// One warm-up message to every channel messages go to (100 channels per request), so
/// that each subscriber proves it is subscribed before the measured run.
pub async fn warmup(pub_addr: SocketAddr, plan: &Plan, expiry: u32) -> Result<(), String> {
    let mut conn = HttpConn::connect(pub_addr)
        .await
        .map_err(|e| format!("warm-up publish: connect {pub_addr}: {e}"))?;
    let targets = plan.targets();
    let (kind, _, _) = plan.target_of(0);
    let cfg = PubConfig {
        pub_addr,
        mode: PublishMode::Text,
        rate: 1.0,
        first: 0,
        messages: 0,
        size: 0,
        expiry,
        conns: 1,
        batch: 1,
        plan: plan.clone(),
    };
    let mut c = 0;
    while c < targets {
        let end = (c + 100).min(targets);
        let ids: Vec<String> = (c..end).map(|i| plan.channel_hex(kind, i)).collect();
        let f = Fields {
            warmup: true,
            kind,
            channel: 0,
            seq: 0,
            global: 0,
            sent_ns: now_ns(),
        };
        let req = text_request(&cfg, &ids.join("/"), &body::build(&f, 0));
        let r = conn
            .request(&req)
            .await
            .map_err(|e| format!("warm-up publish: {e}"))?;
        if r.head.status != 200 {
            return Err(format!(
                "warm-up publish: status {} {}",
                r.head.status,
                String::from_utf8_lossy(&r.body)
            ));
        }
        if conn.closed {
            conn = HttpConn::connect(pub_addr)
                .await
                .map_err(|e| format!("warm-up publish: connect {pub_addr}: {e}"))?;
        }
        c = end;
    }
    Ok(())
}
