//! The `bxpush serve` binary as an administrator runs it: history survives SIGKILL and
//! SIGTERM on the same --data-dir, config comes from flags, env, TOML or Node JSON, and
//! bad settings are refused with a message naming the fix.
mod common;

use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::*;

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

struct Proc {
    child: Child,
    sub: SocketAddr,
    publ: SocketAddr,
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn spawn(args: &[&str], sub: u16, publ: u16) -> Proc {
    let child = Command::new(env!("CARGO_BIN_EXE_bxpush"))
        .arg("serve")
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn bxpush");
    let p = Proc {
        child,
        sub: format!("127.0.0.1:{sub}").parse().unwrap(),
        publ: format!("127.0.0.1:{publ}").parse().unwrap(),
    };
    eventually(10, async || {
        tokio::net::TcpStream::connect(p.sub).await.is_ok()
            && tokio::net::TcpStream::connect(p.publ).await.is_ok()
    })
    .await;
    p
}

async fn spawn_on(dir: &TempDir, sub: u16, publ: u16) -> Proc {
    let (s, p) = (format!("127.0.0.1:{sub}"), format!("127.0.0.1:{publ}"));
    let d = dir.0.to_str().unwrap().to_string();
    spawn(
        &[
            "--listen-sub",
            &s,
            "--listen-pub",
            &p,
            "--signature-key",
            KEY,
            "--data-dir",
            &d,
        ],
        sub,
        publ,
    )
    .await
}

async fn publish(p: &Proc, c: &Channel, text: &str, expiry: u32) {
    let body = php_body("m", text);
    let req = format!(
        "POST /bitrix/pub/?CHANNEL_ID={} HTTP/1.1\r\nHost: x\r\nMessage-Expiry: {expiry}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        c.private.to_hex(),
        body.len()
    );
    assert_eq!(raw(p.publ, req.as_bytes()).await.status, 200);
}

async fn replay(p: &Proc, c: &Channel, mid: &str) -> Vec<serde_json::Value> {
    let r = get(
        p.sub,
        &format!("/bitrix/sub/?CHANNEL_ID={}&mid={mid}", enc(&c.descriptor())),
    )
    .await;
    envelopes(&r.text())
}

const ZERO: &str = "00000000000000000000000000";

#[tokio::test]
async fn history_survives_sigkill_and_ids_keep_increasing() {
    let dir = TempDir::new("kill");
    let (sub, publ) = (free_port(), free_port());
    let c = Channel::random();
    let p = spawn_on(&dir, sub, publ).await;
    for i in 0..50 {
        publish(&p, &c, &i.to_string(), 86400).await;
    }
    publish(&p, &c, "live", 0).await;
    let before = replay(&p, &c, ZERO).await;
    assert_eq!(before.len(), 50);
    let last_before = before.last().unwrap()["mid"].as_str().unwrap().to_string();
    drop(p); // SIGKILL
    let p = spawn_on(&dir, sub, publ).await;
    let after = replay(&p, &c, ZERO).await;
    assert_eq!(
        after, before,
        "every stored message is back, in order, unchanged"
    );
    publish(&p, &c, "new", 86400).await;
    let newer = replay(&p, &c, &last_before).await;
    assert_eq!(newer.len(), 1);
    assert_eq!(newer[0]["text"]["params"]["text"], "new");
    assert!(newer[0]["mid"].as_str().unwrap() > last_before.as_str());
}

#[tokio::test]
async fn sigterm_closes_websockets_with_1001_and_keeps_history() {
    let dir = TempDir::new("term");
    let (sub, publ) = (free_port(), free_port());
    let c = Channel::random();
    let mut p = spawn_on(&dir, sub, publ).await;
    publish(&p, &c, "kept", 86400).await;
    let mut ws = ws_connect(p.sub, &format!("CHANNEL_ID={}", enc(&c.descriptor()))).await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    unsafe { libc::kill(p.child.id() as i32, libc::SIGTERM) };
    assert_eq!(ws_close_code(&mut ws, 10).await, Some(1001));
    let status = p.child.wait().unwrap();
    assert!(status.success(), "exit status {status:?}");
    let p = spawn_on(&dir, sub, publ).await;
    assert_eq!(replay(&p, &c, ZERO).await.len(), 1);
}

#[tokio::test]
async fn node_json_config_and_env_and_toml_set_the_server_up() {
    let dir = TempDir::new("cfg");
    let (sub, publ) = (free_port(), free_port());
    let json = dir.0.join("push-server-sub-8010.json");
    std::fs::write(
        &json,
        format!(
            r#"{{"servers":[{{"name":"sub","port":{sub},"hostname":"127.0.0.1","routes":{{"sub":"/bitrix/subws/"}}}},
                {{"name":"pub","port":{publ},"hostname":"127.0.0.1","routes":{{"pub":"/bitrix/pub/","stat":"/server-stat/"}}}}],
              "security":{{"key":"{KEY}","algo":"sha1"}},"limits":{{"maxPayload":2048}}}}"#
        ),
    )
    .unwrap();
    let p = spawn(&["--config", json.to_str().unwrap()], sub, publ).await;
    let stat = get(p.publ, "/server-stat/").await;
    let v: serde_json::Value = serde_json::from_slice(&stat.body).unwrap();
    assert_eq!(v[0]["limits"]["maxPayload"], 2048);
    // The key from the JSON is in force: a descriptor signed with it subscribes.
    let c = Channel::random();
    let _ws = ws_connect(p.sub, &format!("CHANNEL_ID={}", enc(&c.descriptor()))).await;
    drop(p);

    let toml = dir.0.join("bxpush.toml");
    std::fs::write(
        &toml,
        format!("listen_sub = \"127.0.0.1:{sub}\"\nmax_payload = 4096\n"),
    )
    .unwrap();
    let child = Command::new(env!("CARGO_BIN_EXE_bxpush"))
        .args([
            "serve",
            "--config",
            toml.to_str().unwrap(),
            "--signature-key",
            KEY,
        ])
        .env("BXPUSH_LISTEN_PUB", format!("127.0.0.1:{publ}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let p = Proc {
        child,
        sub: format!("127.0.0.1:{sub}").parse().unwrap(),
        publ: format!("127.0.0.1:{publ}").parse().unwrap(),
    };
    eventually(10, async || {
        tokio::net::TcpStream::connect(p.publ).await.is_ok()
    })
    .await;
    let v: serde_json::Value =
        serde_json::from_slice(&get(p.publ, "/server-stat/").await.body).unwrap();
    assert_eq!(v[0]["limits"]["maxPayload"], 4096);
}

#[test]
fn bad_settings_are_refused_with_a_message_naming_the_fix() {
    let run = |args: &[&str]| {
        let out = Command::new(env!("CARGO_BIN_EXE_bxpush"))
            .arg("serve")
            .args(args)
            .output()
            .unwrap();
        assert!(!out.status.success(), "{args:?} should fail");
        String::from_utf8_lossy(&out.stderr).into_owned()
    };
    assert!(run(&[
        "--signature-algo",
        "md5",
        "--listen-sub",
        "127.0.0.1:0",
        "--listen-pub",
        "127.0.0.1:0"
    ])
    .contains("signature_algo"));
    assert!(run(&["--listen-sub", "not-an-address"]).contains("listen-sub"));
    assert!(run(&["--config", "/nonexistent/bxpush.toml"]).contains("cannot read config file"));
    // A port already in use names the flag to change.
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let msg = run(&[
        "--listen-sub",
        &addr,
        "--listen-pub",
        "127.0.0.1:0",
        "--signature-key",
        KEY,
    ]);
    assert!(msg.contains("--listen-sub"), "{msg}");
}
