//! `bxpush send` and `bxpush stats` against a running bxpush, as from an operator's shell:
//! a message to a channel id and to a user's derived channel arrives at a long-poll
//! subscriber; bad input is refused naming the fix; a stopped server is reported.
mod common;
mod ops_support;

use bxpush::protocol::descriptor::sign_private_descriptor;
use bxpush::protocol::{SignatureAlgo, Signer};
use common::{enc, envelopes, Channel};
use ops_support::{get, run, wait_until, Bxpush, KEY};

fn online(b: &Bxpush, hex: &str) -> bool {
    get(b.publ, &format!("/bitrix/pub/?CHANNEL_ID={hex}"))
        .body
        .contains(hex)
}

/// A long poll on `descriptor` in a thread, parked before `send` runs; returns the texts.
fn receive_while(
    b: &Bxpush,
    descriptor: &str,
    hex: &str,
    send: impl FnOnce(),
) -> Vec<serde_json::Value> {
    let addr = b.sub;
    let path = format!("/bitrix/sub/?CHANNEL_ID={}", enc(descriptor));
    let poll = std::thread::spawn(move || get(addr, &path));
    wait_until(10, "subscriber parked", || online(b, hex));
    send();
    let r = poll.join().unwrap();
    assert_eq!(r.status, 200, "{r:?}");
    envelopes(&r.body)
        .into_iter()
        .map(|e| e["text"].clone())
        .collect()
}

#[test]
fn send_to_a_channel_and_to_a_user() {
    let b = Bxpush::start("", &[]);
    let cfg = b.config.to_str().unwrap().to_string();
    let ch = Channel::random();
    let hex = ch.private.to_hex();
    let got = receive_while(&b, &ch.descriptor(), &hex, || {
        let (code, out, err) = run(&[
            "send",
            "--config",
            &cfg,
            "--channel",
            &hex,
            "--message",
            r#"{"module_id":"main","command":"test","params":{"n":1}}"#,
        ]);
        assert_eq!(code, 0, "{err}");
        assert_eq!(out.trim(), "sent to 1 channel (expiry 86400 s)");
    });
    assert_eq!(got[0]["params"]["n"], 1, "{got:?}");

    // User 7's channel, derived from the key as the extension derives it.
    let now = bxpush::hub::now_unix();
    let uc = bxpush::users::user_channels(KEY.as_bytes(), 7, now);
    let signer = Signer::new(KEY, SignatureAlgo::Sha1);
    let desc = sign_private_descriptor(&signer, &uc.private, uc.public.as_ref());
    let got = receive_while(&b, &desc, &uc.private.to_hex(), || {
        let (code, _, err) = run(&[
            "send",
            "--config",
            &cfg,
            "--user",
            "7",
            "--expiry",
            "0",
            "--message",
            r#"{"module_id":"im","command":"hello","params":{}}"#,
        ]);
        assert_eq!(code, 0, "{err}");
    });
    assert_eq!(got[0]["command"], "hello", "{got:?}");
}

#[test]
fn send_refuses_bad_input_naming_the_fix() {
    let mut b = Bxpush::start("", &[]);
    let cfg = b.config.to_str().unwrap().to_string();
    let (code, _, err) = run(&[
        "send",
        "--config",
        &cfg,
        "--channel",
        "00",
        "--message",
        "{}",
    ]);
    assert_eq!(code, 2);
    assert!(err.contains("32 lowercase hex digits"), "{err}");
    let hex = "0123456789abcdef0123456789abcdef";
    let (code, _, err) = run(&[
        "send",
        "--config",
        &cfg,
        "--channel",
        hex,
        "--message",
        "not json",
    ]);
    assert_eq!(code, 2);
    assert!(
        err.contains("--message is not JSON") && err.contains("module_id"),
        "{err}"
    );
    b.stop();
    let (code, _, err) = run(&[
        "send",
        "--config",
        &cfg,
        "--channel",
        hex,
        "--message",
        "{}",
    ]);
    assert_eq!(code, 1);
    assert!(
        err.contains("does not answer on listen_pub") && err.contains("systemctl start bxpush"),
        "{err}"
    );
}

#[test]
fn stats_shows_live_connections() {
    let b = Bxpush::start("", &[]);
    let cfg = b.config.to_str().unwrap().to_string();
    let ch = Channel::random();
    let hex = ch.private.to_hex();
    let addr = b.sub;
    let path = format!("/bitrix/sub/?CHANNEL_ID={}", enc(&ch.descriptor()));
    let poll = std::thread::spawn(move || get(addr, &path));
    wait_until(10, "subscriber parked", || online(&b, &hex));
    let (code, out, err) = run(&["stats", "--config", &cfg]);
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains("connections   0 websocket, 1 long polling, 0 sse"),
        "{out}"
    );
    assert!(out.contains("version       0.1.0"), "{out}");
    let (code, out, _) = run(&["stats", "--config", &cfg, "--json"]);
    assert_eq!(code, 0);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v[0]["pollings"], 1);
    let (code, _, _) = run(&[
        "send",
        "--config",
        &cfg,
        "--channel",
        &ch.private.to_hex(),
        "--message",
        "{}",
    ]);
    assert_eq!(code, 0);
    assert_eq!(poll.join().unwrap().status, 200);
}
