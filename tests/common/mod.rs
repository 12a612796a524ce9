//! Shared helpers of the integration tests: a real server on loopback ports, raw HTTP
//! over TCP (exact bytes, HTTP/1.0 too), WebSocket clients, and signed test channels.
#![allow(dead_code)]

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use bxpush::config::{Config, Layer};
use bxpush::protocol::descriptor::{sign_private_descriptor, sign_public_descriptor};
use bxpush::protocol::{ChannelId, SignatureAlgo, Signer};
use bxpush::runtime::Server;
use futures_util::{SinkExt, StreamExt};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message as WsMessage;
use tokio_tungstenite::WebSocketStream;

pub const KEY: &str = "test-signature-key";

/// A unique empty directory under the system temp dir, removed on drop.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> Self {
        static N: AtomicU32 = AtomicU32::new(0);
        let p = std::env::temp_dir().join(format!(
            "bxpush-test-{tag}-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).unwrap();
        TempDir(p)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Config for an in-process server on free loopback ports.
pub fn test_config() -> Config {
    Layer {
        listen_sub: Some("127.0.0.1:0".parse().unwrap()),
        listen_pub: Some("127.0.0.1:0".parse().unwrap()),
        signature_key: Some(KEY.into()),
        ..Default::default()
    }
    .resolve()
    .unwrap()
}

pub struct TestServer {
    pub server: Option<Server>,
    pub sub: SocketAddr,
    pub publ: SocketAddr,
    _dir: Option<TempDir>,
}

impl TestServer {
    pub async fn start() -> Self {
        Self::with(|_| {}).await
    }

    pub async fn with(f: impl FnOnce(&mut Config)) -> Self {
        let mut c = test_config();
        let dir = TempDir::new("srv");
        c.data_dir = Some(dir.0.clone());
        f(&mut c);
        let server = Server::start(c).await.expect("server starts");
        let (sub, publ) = (server.sub_addr(), server.pub_addr());
        TestServer {
            server: Some(server),
            sub,
            publ,
            _dir: Some(dir),
        }
    }

    /// Wrap a server started by the test itself (its data dir is the test's).
    pub fn from_server(server: Server) -> Self {
        TestServer {
            sub: server.sub_addr(),
            publ: server.pub_addr(),
            server: Some(server),
            _dir: None,
        }
    }

    pub async fn stop(&mut self) {
        if let Some(s) = self.server.take() {
            s.shutdown(Duration::from_secs(2)).await.unwrap();
        }
    }

    /// Text publish to private channel ids (unsigned hex is fine on the trusted path).
    pub async fn publish(&self, channels: &[&Channel], body: &str, expiry: u32) -> Reply {
        let list: Vec<String> = channels.iter().map(|c| c.private.to_hex()).collect();
        let req = format!(
            "POST /bitrix/pub/?CHANNEL_ID={} HTTP/1.1\r\nHost: x\r\nMessage-Expiry: {expiry}\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            list.join("/"),
            body.len()
        );
        let r = raw(self.publ, req.as_bytes()).await;
        assert_eq!(r.status, 200, "publish failed: {r:?}");
        r
    }
}

/// A user's channels signed like the pull module does (spec §3.2).
#[derive(Clone)]
pub struct Channel {
    pub private: ChannelId,
    pub public: ChannelId,
}

pub fn signer() -> Signer {
    Signer::new(KEY, SignatureAlgo::Sha1)
}

impl Channel {
    pub fn random() -> Self {
        Channel {
            private: ChannelId(rand::random()),
            public: ChannelId(rand::random()),
        }
    }

    /// `private:public.sig`
    pub fn descriptor(&self) -> String {
        sign_private_descriptor(&signer(), &self.private, Some(&self.public))
    }

    /// `private.sig` (a shared channel has no public id)
    pub fn shared_descriptor(&self) -> String {
        sign_private_descriptor(&signer(), &self.private, None)
    }

    pub fn public_descriptor(&self) -> String {
        sign_public_descriptor(&signer(), &self.public)
    }
}

/// Percent-encode like the JS client's `encodeURIComponent`.
pub fn enc(s: &str) -> String {
    s.replace(':', "%3A").replace('/', "%2F")
}

#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    pub headers: HashMap<String, String>,
    pub body: Vec<u8>,
}

impl Reply {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .get(&name.to_ascii_lowercase())
            .map(String::as_str)
    }
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// Send raw request bytes, read until the server closes, parse status/headers/body
/// (Content-Length or read-to-EOF; chunked bodies are de-chunked).
pub async fn raw(addr: SocketAddr, req: &[u8]) -> Reply {
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(req).await.unwrap();
    let mut buf = Vec::new();
    tokio::time::timeout(Duration::from_secs(60), s.read_to_end(&mut buf))
        .await
        .expect("response within 60 s")
        .unwrap();
    parse_reply(&buf)
}

pub fn parse_reply(buf: &[u8]) -> Reply {
    let end = buf
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or_else(|| panic!("no header end in {:?}", String::from_utf8_lossy(buf)));
    let head = String::from_utf8_lossy(&buf[..end]).into_owned();
    let mut lines = head.split("\r\n");
    let status: u16 = lines
        .next()
        .unwrap()
        .split(' ')
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    let headers: HashMap<String, String> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    let mut body = buf[end + 4..].to_vec();
    if headers.get("transfer-encoding").map(String::as_str) == Some("chunked") {
        body = dechunk(&body);
    }
    Reply {
        status,
        headers,
        body,
    }
}

fn dechunk(mut b: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(p) = b.windows(2).position(|w| w == b"\r\n") {
        let n = usize::from_str_radix(std::str::from_utf8(&b[..p]).unwrap().trim(), 16).unwrap();
        if n == 0 {
            break;
        }
        out.extend_from_slice(&b[p + 2..p + 2 + n]);
        b = &b[p + 2 + n + 2..];
    }
    out
}

pub async fn get(addr: SocketAddr, path_and_query: &str) -> Reply {
    raw(
        addr,
        format!("GET {path_and_query} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").as_bytes(),
    )
    .await
}

pub async fn post(addr: SocketAddr, path_and_query: &str, body: &[u8]) -> Reply {
    let mut req = format!(
        "POST {path_and_query} HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    )
    .into_bytes();
    req.extend_from_slice(body);
    raw(addr, &req).await
}

pub type Ws = WebSocketStream<TcpStream>;

/// Open a WebSocket subscriber with the given query string.
pub async fn ws_connect(addr: SocketAddr, query: &str) -> Ws {
    let stream = TcpStream::connect(addr).await.unwrap();
    let url = format!("ws://{addr}/bitrix/subws/?{query}");
    let (ws, resp) = tokio_tungstenite::client_async(url, stream)
        .await
        .expect("websocket handshake");
    assert_eq!(resp.status(), 101);
    ws
}

/// Next data frame (text or binary), skipping pings/pongs; panics after `secs`.
pub async fn ws_next(ws: &mut Ws, secs: u64) -> WsMessage {
    tokio::time::timeout(Duration::from_secs(secs), async {
        loop {
            match ws.next().await {
                Some(Ok(WsMessage::Ping(_) | WsMessage::Pong(_))) => continue,
                Some(Ok(m)) => return m,
                other => panic!("websocket ended: {other:?}"),
            }
        }
    })
    .await
    .expect("websocket frame in time")
}

/// Wait until the server closes the socket; returns the close code (None if no frame).
pub async fn ws_close_code(ws: &mut Ws, secs: u64) -> Option<u16> {
    tokio::time::timeout(Duration::from_secs(secs), async {
        loop {
            match ws.next().await {
                Some(Ok(WsMessage::Close(f))) => return f.map(|f| u16::from(f.code)),
                Some(Ok(_)) => continue,
                _ => return None,
            }
        }
    })
    .await
    .expect("close in time")
}

pub async fn ws_send_binary(ws: &mut Ws, data: Vec<u8>) {
    ws.send(WsMessage::Binary(data.into())).await.unwrap();
}

/// Extract `(id counter, mid, text)` from concatenated text envelopes.
pub fn envelopes(body: &str) -> Vec<serde_json::Value> {
    let mut out = Vec::new();
    let mut rest = body;
    while let Some(s) = rest.find("#!NGINXNMS!#") {
        let after = &rest[s + 12..];
        let e = after.find("#!NGINXNME!#").expect("envelope end");
        out.push(serde_json::from_str(&after[..e]).expect("envelope is JSON"));
        rest = &after[e + 12..];
    }
    out
}

/// A body like PHP's (spec §4.1).
pub fn php_body(command: &str, text: &str) -> String {
    format!(
        r#"{{"module_id":"im","command":"{command}","params":{{"text":"{text}"}},"extra":{{"server_time":"2024-01-01T03:00:00+03:00","server_time_unix":1704067200.5,"server_name":"example.com","revision_web":19,"revision_mobile":3}}}}"#
    )
}

/// Poll until `f` holds (for presence and counters); panics after `secs`.
pub async fn eventually(secs: u64, mut f: impl AsyncFnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(secs);
    while tokio::time::Instant::now() < deadline {
        if f().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("condition not reached in {secs} s");
}

/// Wait until `c`'s private channel is online on the server whose publish listener is
/// `publ`: a subscriber is registered on it (its replay read and live registration are
/// done), so what is published from now on reaches it. Only for a channel nobody
/// subscribed before: presence outlives a connection by `online_ttl`.
pub async fn wait_online(publ: SocketAddr, c: &Channel) {
    let hex = c.private.to_hex();
    eventually(10, async || {
        let r = get(publ, &format!("/bitrix/pub/?CHANNEL_ID={hex}")).await;
        r.status == 200 && r.text().contains(&hex)
    })
    .await;
}

/// A real full disk: a small tmpfs mounted on a temp dir (needs root, as the tests run
/// here and in CI), which [`SmallDisk::fill`] fills to ENOSPC and [`SmallDisk::free`]
/// frees again. Unmounted on drop.
pub struct SmallDisk {
    pub mount: PathBuf,
    _dir: TempDir,
}

impl SmallDisk {
    pub fn mount(tag: &str, size_kib: u32) -> Self {
        let dir = TempDir::new(tag);
        let mount = dir.0.join("fs");
        std::fs::create_dir_all(&mount).unwrap();
        let ok = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size_kib}k,mode=0755")])
            .arg("tmpfs")
            .arg(&mount)
            .status()
            .is_ok_and(|s| s.success());
        assert!(
            ok,
            "cannot mount a {size_kib} KiB tmpfs on {}: the full-disk tests need root (CAP_SYS_ADMIN), as in CI",
            mount.display()
        );
        SmallDisk { mount, _dir: dir }
    }

    /// Where a data dir on this disk goes.
    pub fn data(&self) -> PathBuf {
        self.mount.join("data")
    }

    /// Write a filler file until the disk says ENOSPC.
    pub fn fill(&self) {
        use std::io::Write;
        let mut f = std::fs::File::create(self.mount.join("filler")).unwrap();
        let chunk = vec![0u8; 4096];
        loop {
            match f.write(&chunk) {
                Ok(0) => break,
                Ok(_) => {}
                Err(e) if e.raw_os_error() == Some(28) => break,
                Err(e) => panic!("filling the small disk: {e}"),
            }
        }
    }

    /// Remove the filler.
    pub fn free(&self) {
        std::fs::remove_file(self.mount.join("filler")).unwrap();
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .arg("-l")
            .arg(&self.mount)
            .status();
    }
}

/// (mid, n) of each text envelope of a frame whose body is `{"n":N}`.
pub fn numbered(frame: &str) -> Vec<(String, u64)> {
    envelopes(frame)
        .into_iter()
        .map(|e| {
            (
                e["mid"].as_str().unwrap().to_string(),
                e["text"]["n"].as_u64().unwrap(),
            )
        })
        .collect()
}

/// Read frames until `want` numbered messages arrived in all, or `secs` pass.
pub async fn read_until(ws: &mut Ws, got: &mut Vec<(String, u64)>, want: usize, secs: u64) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(secs);
    while got.len() < want {
        match tokio::time::timeout_at(deadline, ws.next()).await {
            Ok(Some(Ok(WsMessage::Text(t)))) => got.extend(numbered(&t)),
            Ok(Some(Ok(_))) => {}
            _ => break,
        }
    }
}

pub fn ns(got: &[(String, u64)]) -> Vec<u64> {
    got.iter().map(|(_, n)| *n).collect()
}
