//! The findings outside nginx: bxpush answers on every listener, its descriptor limit,
//! the signature key and algorithm in bxpush, php.ini and the pull module, and the PHP
//! workers' spool backlog.

use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::time::Duration;

use sha2::{Digest, Sha256};

use super::report::Finding;
use crate::cli::http::dial;
use crate::config::Config;
use crate::handoff::PhpTarget;

const TIMEOUT: Duration = Duration::from_secs(2);

/// `GET path` on `addr`: the body of a 200, else why not.
pub fn http_get(addr: SocketAddr, path: &str) -> Result<String, String> {
    let r = crate::cli::http::request(addr, "GET", path, &[], b"")?;
    if r.status != 200 {
        return Err(format!("answered {}", r.status));
    }
    Ok(r.body)
}

/// The running bxpush's `/server-stat/` entry, if it answers.
pub fn server_stat(c: &Config) -> Result<serde_json::Value, String> {
    let body = http_get(c.listen_pub, "/server-stat/")?;
    let v: serde_json::Value = serde_json::from_str(&body)
        .map_err(|_| "answered, but not with bxpush's /server-stat/".to_string())?;
    let first = v.get(0).cloned().unwrap_or_default();
    if first.get("bxpush").is_none() {
        return Err("answers, but is not bxpush (no bxpush section in /server-stat/)".into());
    }
    Ok(first)
}

pub fn runtime(c: &Config, source: &str, stat: &Result<serde_json::Value, String>) -> Vec<Finding> {
    let mut out = Vec::new();
    let down =
        |key: &str, addr: String, e: &str| {
            Finding::error(
            "runtime",
            format!("bxpush does not answer on {key} {addr}: {e}"),
            "nginx answers 502 to every push client, and PHP's events wait in the workers' spool",
        )
        .fix(format!("systemctl start bxpush   (or: bxpush serve --config {source})"))
        .fix("journalctl -u bxpush -n 50   (why it stopped)")
        };
    match stat {
        Ok(s) => out.push(Finding::ok(
            "runtime",
            format!(
                "bxpush {} answers on listen_pub {} (pid {}, up {} s)",
                s["bxpush"]["version"].as_str().unwrap_or("?"),
                c.listen_pub,
                s["pid"],
                s["bxpush"]["uptimeSeconds"]
            ),
        )),
        Err(e) => out.push(down("listen_pub", c.listen_pub.to_string(), e)),
    }
    match TcpStream::connect_timeout(&dial(c.listen_sub), TIMEOUT) {
        Ok(_) => out.push(Finding::ok(
            "runtime",
            format!("listen_sub {} accepts connections", c.listen_sub),
        )),
        Err(e) => out.push(down("listen_sub", c.listen_sub.to_string(), &e.to_string())),
    }
    match &c.listen_php {
        None => {}
        Some(PhpTarget::Unix(p)) => match std::os::unix::net::UnixStream::connect(p) {
            Ok(_) => out.push(Finding::ok(
                "runtime",
                format!("listen_php {} accepts connections", p.display()),
            )),
            Err(e) => out.push(down("listen_php", p.display().to_string(), &e.to_string())),
        },
        Some(PhpTarget::Tcp(a)) => match TcpStream::connect_timeout(&dial(*a), TIMEOUT) {
            Ok(_) => out.push(Finding::ok(
                "runtime",
                format!("listen_php {a} accepts connections"),
            )),
            Err(e) => out.push(down("listen_php", a.to_string(), &e.to_string())),
        },
    }
    out
}

/// The soft "Max open files" of a process (`/proc/PID/limits`).
pub fn nofile_of(pid: u64) -> Option<u64> {
    let limits = std::fs::read_to_string(format!("/proc/{pid}/limits")).ok()?;
    let line = limits.lines().find(|l| l.starts_with("Max open files"))?;
    line.split_whitespace().nth(3)?.parse().ok()
}

/// The running nginx master's descriptor limit (its pid file at the Debian default).
pub fn running_nginx_nofile() -> Option<u64> {
    let pid = std::fs::read_to_string("/run/nginx.pid").ok()?;
    nofile_of(pid.trim().parse().ok()?)
}

pub fn bxpush_limits(
    c: &Config,
    stat: &Result<serde_json::Value, String>,
    expect_users: Option<u64>,
) -> Vec<Finding> {
    let mut out = Vec::new();
    if let Some(users) = expect_users {
        if (c.max_connections as u64) < users {
            out.push(
                Finding::error(
                    "limits",
                    format!(
                        "bxpush's max_connections {} is below the {users} expected users",
                        c.max_connections
                    ),
                    "connections past it are refused (bxpush_connections_refused_total)",
                )
                .fix(format!(
                    "in bxpush.toml: max_connections = {}",
                    users + users / 10
                ))
                .fix("systemctl restart bxpush"),
            );
        }
    }
    let Ok(s) = stat else { return out };
    let Some(nofile) = s["pid"].as_u64().and_then(nofile_of) else {
        return out;
    };
    let need = (c.max_connections as u64).max(expect_users.unwrap_or(0)) + 256;
    if nofile < need {
        out.push(
            Finding::error(
                "limits",
                format!(
                    "bxpush may open {nofile} files, but max_connections {}{} needs about {need}",
                    c.max_connections,
                    expect_users.map_or(String::new(), |u| format!(" / {u} expected users"))
                ),
                "past the limit accept fails with \"Too many open files\" and clients are dropped",
            )
            .fix(format!(
                "systemctl edit bxpush   →   [Service] LimitNOFILE={}",
                need.next_power_of_two()
            ))
            .fix("systemctl restart bxpush"),
        );
    } else {
        out.push(Finding::ok(
            "limits",
            format!("bxpush may open {nofile} files (needs {need})"),
        ));
    }
    out
}

/// The first 8 hex digits of SHA-256: shows whether two keys are the same, not the key.
pub fn fingerprint(key: &str) -> String {
    hex::encode(&Sha256::digest(key.as_bytes())[..4])
}

/// `bxpush.*` settings and `extension=` lines of php.ini files, later files win.
#[derive(Default)]
pub struct PhpIni {
    pub values: std::collections::BTreeMap<String, (String, String)>,
    pub extension: bool,
}

pub fn read_php_ini(files: &[PathBuf]) -> Result<PhpIni, String> {
    let mut ini = PhpIni::default();
    for f in files {
        let paths: Vec<PathBuf> = if f.is_dir() {
            let mut v: Vec<PathBuf> = std::fs::read_dir(f)
                .map_err(|e| format!("cannot read {}: {e}", f.display()))?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|x| x == "ini"))
                .collect();
            v.sort();
            v
        } else {
            vec![f.clone()]
        };
        for p in paths {
            let text = std::fs::read_to_string(&p)
                .map_err(|e| format!("cannot read {}: {e}", p.display()))?;
            for (n, line) in text.lines().enumerate() {
                let line = line.trim();
                if line.starts_with(';') || line.starts_with('[') {
                    continue;
                }
                let Some((k, v)) = line.split_once('=') else {
                    continue;
                };
                let (k, v) = (k.trim(), v.trim().trim_matches('"').trim_matches('\''));
                if k == "extension" && (v == "bxpush" || v.ends_with("bxpush.so")) {
                    ini.extension = true;
                } else if k.starts_with("bxpush.") {
                    ini.values.insert(
                        k.to_string(),
                        (v.to_string(), format!("{}:{}", p.display(), n + 1)),
                    );
                }
            }
        }
    }
    Ok(ini)
}

pub fn signature(
    c: &Config,
    source: &str,
    ini: Option<&PhpIni>,
    pull: Option<&PullOptions>,
) -> Vec<Finding> {
    let mut out = Vec::new();
    let ours = c.signature_key.clone().unwrap_or_default();
    let algo = c.signature_algo.to_string();
    let key_word = |k: &str| {
        if k.is_empty() {
            "empty".to_string()
        } else {
            format!("fingerprint {}", fingerprint(k))
        }
    };
    if let Some(ini) = ini {
        if !ini.extension {
            out.push(Finding::warning(
                "php",
                "php.ini does not load the bxpush extension (no extension=bxpush)",
                "PHP publishes over HTTP to /bitrix/pub/ instead of the hand-off socket (slower, lost while bxpush is down)",
            ).fix("make install   (writes and enables bxpush.ini), then: systemctl restart php8.2-fpm"));
        }
        let (theirs, at) = ini
            .values
            .get("bxpush.signature_key")
            .cloned()
            .unwrap_or_default();
        if theirs != ours {
            out.push(
                Finding::error(
                    "signature",
                    format!(
                        "bxpush.signature_key in php.ini{} differs from bxpush's ({} vs {})",
                        if at.is_empty() { " (unset)".to_string() } else { format!(" ({at})") },
                        key_word(&theirs),
                        key_word(&ours)
                    ),
                    "channels PHP signs are refused by bxpush (4021), and TCP hand-off is refused: clients get no messages",
                )
                .fix(format!("set bxpush.signature_key in {} to signature_key of {source}", if at.is_empty() { "php.ini".into() } else { at.clone() }))
                .fix("systemctl restart php8.2-fpm"),
            );
        } else {
            out.push(Finding::ok(
                "signature",
                format!("php.ini and bxpush have the same key ({})", key_word(&ours)),
            ));
        }
        let (their_algo, at) = ini
            .values
            .get("bxpush.signature_algo")
            .cloned()
            .unwrap_or(("sha1".into(), String::new()));
        if !their_algo.eq_ignore_ascii_case(&algo) {
            out.push(
                Finding::error(
                    "signature",
                    format!("bxpush.signature_algo is {their_algo} in php.ini, {algo} in bxpush"),
                    "every signature differs: channels are refused (4021)",
                )
                .fix(format!(
                    "in {}: bxpush.signature_algo = \"{algo}\"",
                    if at.is_empty() { "php.ini".into() } else { at }
                )),
            );
        }
        let (server, at) = ini
            .values
            .get("bxpush.server")
            .cloned()
            .unwrap_or(("/run/bxpush/php.sock".into(), String::new()));
        match &c.listen_php {
            None => out.push(
                Finding::warning(
                    "php",
                    "bxpush has no listen_php: PHP workers have nowhere to hand events over",
                    "every event waits in the workers' spool",
                )
                .fix(format!("in {source}: listen_php = \"{server}\""))
                .fix("systemctl restart bxpush"),
            ),
            Some(t) => {
                let same = match t {
                    PhpTarget::Unix(p) => server.trim_start_matches("unix:") == p.to_string_lossy(),
                    PhpTarget::Tcp(a) => server == a.to_string(),
                };
                if !same {
                    out.push(
                        Finding::error(
                            "php",
                            format!("bxpush.server is {server} in php.ini, but bxpush listens for PHP on {t}"),
                            "workers cannot reach bxpush: their events pile up in the spool",
                        )
                        .fix(format!("in {}: bxpush.server = \"{t}\"", if at.is_empty() { "php.ini".into() } else { at })),
                    );
                }
            }
        }
    }
    if let Some(p) = pull {
        match &p.signature_key {
            Some(k) if *k != ours => out.push(
                Finding::error(
                    "signature",
                    format!("the pull module's signature_key in {} differs from bxpush's ({} vs {})", p.source, key_word(k), key_word(&ours)),
                    "the signed channels Bitrix gives browsers are refused by bxpush (4021)",
                )
                .fix(format!("set signature_key in {} (or Settings > Push and Pull) to signature_key of {source}", p.source)),
            ),
            Some(_) => out.push(Finding::ok("signature", format!("the pull module ({}) has bxpush's key", p.source))),
            None => out.push(Finding::ok(
                "signature",
                format!("{} sets no pull signature_key: it is in the database; compare it in Settings > Push and Pull (bxpush's is {})", p.source, key_word(&ours)),
            )),
        }
        if let Some(a) = &p.signature_algo {
            if !a.eq_ignore_ascii_case(&algo) {
                out.push(
                    Finding::error(
                        "signature",
                        format!("the pull module's signature_algo is {a}, bxpush's {algo}"),
                        "every signature differs: channels are refused (4021)",
                    )
                    .fix(format!(
                        "set signature_algo = {algo} in {} (or Settings > Push and Pull)",
                        p.source
                    )),
                );
            }
        }
    }
    out
}

/// The pull module's options a site sets in `bitrix/.settings.php` (section `pull`).
pub struct PullOptions {
    pub source: String,
    pub signature_key: Option<String>,
    pub signature_algo: Option<String>,
}

/// Read `.settings.php` with PHP itself (it is PHP code returning an array).
pub fn read_pull_options(root: &Path) -> Result<PullOptions, String> {
    let file = root.join("bitrix/.settings.php");
    if !file.exists() {
        return Err(format!(
            "{} does not exist: is --bitrix-root the site's document root?",
            file.display()
        ));
    }
    let code = r#"$s = include $argv[1]; $p = is_array($s) && isset($s['pull']['value']) ? $s['pull']['value'] : []; echo json_encode(['key' => $p['signature_key'] ?? null, 'algo' => $p['signature_algo'] ?? null]);"#;
    let out = std::process::Command::new("php")
        .args(["-n", "-r", code])
        .arg(&file)
        .output()
        .map_err(|e| format!("cannot run php to read {}: {e}", file.display()))?;
    if !out.status.success() {
        return Err(format!(
            "php could not read {}: {}",
            file.display(),
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    let v: serde_json::Value =
        serde_json::from_slice(&out.stdout).map_err(|e| format!("{}: {e}", file.display()))?;
    Ok(PullOptions {
        source: file.display().to_string(),
        signature_key: v["key"].as_str().map(str::to_string),
        signature_algo: v["algo"].as_str().map(str::to_string),
    })
}

/// Files waiting in the workers' spool (`*.spool`), and ones set aside (`*.bad`).
pub fn spool(dir: &Path, runtime_up: bool) -> Vec<Finding> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return vec![Finding::ok(
            "spool",
            format!("{} does not exist yet (workers create it)", dir.display()),
        )];
    };
    let mut waiting = 0;
    let mut oldest: Option<std::time::SystemTime> = None;
    let mut bad = 0;
    for e in entries.filter_map(Result::ok) {
        let name = e.file_name().to_string_lossy().into_owned();
        if name.ends_with(".spool") && !name.starts_with('.') {
            waiting += 1;
            if let Ok(t) = e.metadata().and_then(|m| m.modified()) {
                oldest = Some(oldest.map_or(t, |o| o.min(t)));
            }
        } else if name.ends_with(".bad") {
            bad += 1;
        }
    }
    let mut out = Vec::new();
    if waiting == 0 {
        out.push(Finding::ok(
            "spool",
            format!("no events waiting in {}", dir.display()),
        ));
    } else {
        let age = oldest
            .and_then(|t| t.elapsed().ok())
            .map_or(0, |d| d.as_secs());
        let f = if runtime_up {
            Finding::warning(
                "spool",
                format!("{waiting} spool files wait in {} (oldest {age} s)", dir.display()),
                "these events were not delivered yet; the next PHP request that sends an event replays them",
            )
            .fix("if the count does not fall: check bxpush.server in php.ini and the socket's group (www-data)")
        } else {
            Finding::error(
                "spool",
                format!("{waiting} spool files wait in {} (oldest {age} s) and bxpush is down", dir.display()),
                "events pile up while bxpush is down; users see them only after it is back",
            )
            .fix("systemctl start bxpush   (the next PHP request that sends replays them, in order, once)")
        };
        out.push(f);
    }
    if bad > 0 {
        out.push(
            Finding::warning(
                "spool",
                format!(
                    "{bad} spool files in {} were set aside as .bad (they do not decode)",
                    dir.display()
                ),
                "their events are lost; they are kept for inspection only",
            )
            .fix(format!("rm {}/*.bad   (after a look)", dir.display())),
        );
    }
    out
}

/// Which store the server uses when it is Redis (`--store`, or a Node config's
/// `storage.type = "redis"`, which selects it too): said, without the password, so the
/// operator sees the nodes share it. The memory store needs no finding.
pub fn node_redis(_source: &str, c: &Config) -> Vec<Finding> {
    match &c.store {
        #[cfg(feature = "redis")]
        crate::store::StoreKind::Redis(url) => vec![Finding::ok(
            "redis",
            format!("ids, history and presence in Redis at {url}, shared by every node (bxpush and Node push-server)"),
        )],
        _ => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(feature = "redis")]
    #[test]
    fn a_redis_store_is_named_without_its_password() {
        let text =
            r#"{"storage":{"type":"redis","host":"127.0.0.1","port":6380,"password":"s3cret"}}"#;
        let c = crate::config::Layer::from_node_json(text)
            .unwrap()
            .resolve()
            .unwrap();
        let f = node_redis("push-server-sub-8010.json", &c);
        assert_eq!(f[0].severity, super::super::report::Severity::Ok);
        assert!(
            f[0].what.contains("redis://:***@127.0.0.1:6380/0"),
            "{}",
            f[0].what
        );
        assert!(node_redis("bxpush.toml", &Config::default()).is_empty());
    }
}
