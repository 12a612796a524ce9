//! deploy/: the systemd unit passes `systemd-analyze verify` (no warning either), the
//! example TOML is a valid bxpush config that matches the unit's directories, and the
//! php.ini snippet names only settings the extension has.
mod ops_support;

use std::path::Path;
use std::process::Command;

use bxpush::config::Layer;
use bxpush::handoff::PhpTarget;
use ops_support::{Scratch, BIN};

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

#[test]
fn systemd_unit_verifies_cleanly() {
    let unit = std::fs::read_to_string(Path::new(ROOT).join("deploy/bxpush.service")).unwrap();
    for want in [
        "LimitNOFILE=",
        "Restart=on-failure",
        "ProtectSystem=strict",
        "NoNewPrivileges=yes",
    ] {
        assert!(unit.contains(want), "the unit lacks {want}");
    }
    assert!(unit.contains("ExecStart=/usr/local/bin/bxpush serve --config /etc/bxpush/bxpush.toml"));
    // verify checks that ExecStart exists: point it at the binary under test.
    let dir = Scratch::new("unit");
    let path = dir.write(
        "bxpush.service",
        &unit.replace("/usr/local/bin/bxpush", BIN),
    );
    let out = Command::new("systemd-analyze")
        .arg("verify")
        .arg(&path)
        .output()
        .expect("systemd-analyze (apt-get install systemd; make test installs it)");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "systemd-analyze verify failed:\n{err}"
    );
    assert!(
        err.trim().is_empty(),
        "systemd-analyze verify warned:\n{err}"
    );
}

#[test]
fn example_toml_is_a_valid_config_matching_the_unit() {
    let c = Layer::from_file(&Path::new(ROOT).join("deploy/bxpush.toml"))
        .unwrap()
        .resolve()
        .unwrap();
    assert!(c.listen_pub.ip().is_loopback());
    assert_eq!(
        c.listen_php,
        Some(PhpTarget::Unix("/run/bxpush/php.sock".into()))
    );
    // The unit's StateDirectory / RuntimeDirectory.
    assert_eq!(c.data_dir.as_deref(), Some(Path::new("/var/lib/bxpush")));
    let unit = std::fs::read_to_string(Path::new(ROOT).join("deploy/bxpush.service")).unwrap();
    assert!(unit.contains("StateDirectory=bxpush") && unit.contains("RuntimeDirectory=bxpush"));
}

#[test]
fn php_snippet_names_real_settings_matching_the_toml() {
    let snippet = std::fs::read_to_string(Path::new(ROOT).join("deploy/php-bxpush.ini")).unwrap();
    let full = std::fs::read_to_string(Path::new(ROOT).join("ext/bxpush.ini")).unwrap();
    let mut n = 0;
    for line in snippet.lines().filter(|l| l.starts_with("bxpush.")) {
        let key = line.split('=').next().unwrap().trim();
        assert!(
            full.contains(key),
            "{key} is not a setting of the extension (ext/bxpush.ini)"
        );
        n += 1;
    }
    assert!(n >= 3);
    assert!(snippet.contains("bxpush.server = \"/run/bxpush/php.sock\""));
}
