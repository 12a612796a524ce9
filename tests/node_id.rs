//! A node's `processUniqueId` (`/server-stat/`, and its field in Redis's `stats` hash):
//! `bxpush-<hostname>-<port>` by default, so that two hosts on the default port do not
//! overwrite each other's entry (it was `bxpush-<port>`); `node_id` (TOML, `--node-id`,
//! `BXPUSH_NODE_ID`, Node's `processUniqueId`) names it; an empty one is refused.

mod ops_support;

use ops_support::{get, run, Bxpush};

fn listed_id(b: &Bxpush) -> String {
    let r = get(b.publ, "/server-stat/");
    assert_eq!(r.status, 200, "{}", r.body);
    let v: serde_json::Value = serde_json::from_str(&r.body).unwrap();
    v[0]["processUniqueId"].as_str().unwrap().to_string()
}

#[test]
fn the_default_names_the_host_and_the_subscriber_port() {
    let b = Bxpush::start("", &[]);
    let id = listed_id(&b);
    assert_eq!(
        id,
        format!("bxpush-{}-{}", bxpush::node_id::hostname(), b.sub.port())
    );
    assert!(
        id.contains(&bxpush::node_id::hostname()),
        "two hosts on one port must differ: {id}"
    );
}

#[test]
fn node_id_names_the_node_and_an_empty_one_is_refused() {
    let b = Bxpush::start("node_id = \"web1-8010\"", &[]);
    assert_eq!(listed_id(&b), "web1-8010");
    let c = Bxpush::start("", &[("BXPUSH_NODE_ID", "web2-8010")]);
    assert_eq!(listed_id(&c), "web2-8010");

    let (code, _, err) = run(&["serve", "--node-id", ""]);
    assert_ne!(code, 0);
    assert!(err.contains("node_id is empty"), "{err}");
}
