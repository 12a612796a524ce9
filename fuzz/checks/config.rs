//! Targets `config_json` and `config_toml`: a config file as an operator (or a migration
//! from the Node push-server) writes it: the Node server's JSON (`Layer::from_node_json`)
//! and bxpush's own TOML (the `Layer` serde reading of `Layer::from_file`), each then
//! resolved over the defaults.
//!
//! Properties: no input panics (overflowing numbers included); an accepted TOML file has
//! only known keys; the Node JSON's numbers arrive as given (capped where the key's type
//! is narrower); a refused layer's message names the key at fault.

use bxpush::config::{Config, Layer};

/// The keys of the settings table, read from `Config`'s `Debug` (`name: value, …`), so the
/// list cannot fall behind the table.
fn keys() -> Vec<String> {
    let dbg = format!("{:?}", Config::default());
    let inner = dbg
        .strip_prefix("Config { ")
        .and_then(|s| s.strip_suffix(" }"))
        .expect("Config's Debug is a struct");
    inner
        .split(", ")
        .filter_map(|f| f.split_once(": ").map(|(k, _)| k))
        .filter(|k| !k.is_empty() && k.bytes().all(|c| c.is_ascii_lowercase() || c == b'_'))
        .map(str::to_string)
        .collect()
}

fn check_resolve(layer: Layer, keys: &[String], input: &str) {
    if let Err(msg) = layer.resolve() {
        assert!(
            keys.iter().any(|k| msg.contains(k.as_str())),
            "error names no key: {msg:?} (input {input:?})"
        );
    }
}

pub fn check_json(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let Ok(layer) = Layer::from_node_json(&text) else {
        return;
    };
    let v: serde_json::Value = serde_json::from_str(&text).expect("accepted JSON parses");
    let num = |s: &str, k: &str| v.get(s).and_then(|x| x.get(k)).and_then(|n| n.as_u64());
    assert_eq!(
        layer.max_payload,
        num("limits", "maxPayload").map(|n| n as usize)
    );
    assert_eq!(
        layer.message_ttl,
        num("storage", "messageTTL").map(|n| n.min(u32::MAX as u64) as u32)
    );
    if let Some(ttl) = num("storage", "onlineTTL") {
        let delta = num("storage", "onlineDelta").unwrap_or(10);
        assert_eq!(layer.online_ttl, Some(ttl.saturating_add(delta)));
    }
    check_resolve(layer, &keys(), &text);
}

pub fn check_toml(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let Ok(layer) = toml::from_str::<Layer>(&text) else {
        return;
    };
    let keys = keys();
    let table: toml::Table = toml::from_str(&text).expect("accepted TOML is a table");
    for k in table.keys() {
        assert!(keys.contains(k), "unknown key {k:?} accepted");
    }
    check_resolve(layer, &keys, &text);
}
