//! The nginx findings: the push locations reach bxpush with the settings long polls,
//! SSE and WebSocket need; the trusted listener is not reachable from the internet;
//! nginx's connection limits fit the expected users.

use std::path::Path;

use super::nginx_conf_parser::{Directive, Parser};
use super::nginx_model::{
    effective, effective_all, listen_is_public, location, proxy_target, reaches, seconds, Chain,
    Model, ProxyTarget,
};
use super::report::Finding;
use crate::config::Config;
use crate::nginx_snippet::{generated_read_timeout, required_read_timeout};

const CHECK: &str = "nginx";
/// nginx's default `proxy_read_timeout`.
const DEFAULT_READ_TIMEOUT: f64 = 60.0;

/// Where a finding points: `file:line (location ^~ /bitrix/sub/)`.
fn place(d: &Directive) -> String {
    if d.args.is_empty() {
        format!("{} ({})", d.at(), d.name)
    } else {
        format!("{} ({} {})", d.at(), d.name, d.args.join(" "))
    }
}

fn server_label(server: &Directive) -> String {
    let listens: Vec<String> = server
        .children()
        .iter()
        .filter(|d| d.name == "listen")
        .filter_map(|d| d.args.first().cloned())
        .collect();
    let names: Vec<String> = server
        .children()
        .iter()
        .filter(|d| d.name == "server_name")
        .flat_map(|d| d.args.clone())
        .collect();
    format!(
        "server {} (listen {}) at {}",
        if names.is_empty() {
            "_".to_string()
        } else {
            names.join(" ")
        },
        if listens.is_empty() {
            "80".to_string()
        } else {
            listens.join(", ")
        },
        server.at()
    )
}

fn how_to_add() -> [String; 4] {
    [
        "bxpush nginx-conf --part http > /etc/nginx/conf.d/bxpush.conf".into(),
        "bxpush nginx-conf --part locations > /etc/nginx/bxpush-locations.conf".into(),
        "in your site's server { }: include bxpush-locations.conf;".into(),
        "nginx -t && systemctl reload nginx".into(),
    ]
}

pub fn check(path: &Path, c: &Config, expect_users: Option<u64>) -> Vec<Finding> {
    let (tree, files) = match Parser::parse_main(path) {
        Ok(t) => t,
        Err(e) => {
            return vec![Finding::error(
                CHECK,
                format!("the nginx config does not parse: {e}"),
                "nginx refuses to (re)load it, and the checks below cannot run",
            )
            .fix(format!(
                "fix {}:{}, then: nginx -t",
                e.file.display(),
                e.line
            ))]
        }
    };
    if let Some(d) = wrong_arity(&tree) {
        return vec![Finding::error(
            CHECK,
            format!(
                "the nginx config is invalid: {}: \"{}\" takes one argument, not {} (a missing \";\"?)",
                d.at(),
                d.name,
                d.args.len()
            ),
            "nginx refuses to (re)load it, and the checks below cannot run",
        )
        .fix(format!("fix {}, then: nginx -t", d.at()))];
    }
    let model = Model::new(&tree);
    let mut out = vec![Finding::ok(
        CHECK,
        format!(
            "parsed {} ({} files with includes)",
            path.display(),
            files.len()
        ),
    )];
    let servers = model.servers();
    let push_servers: Vec<&Directive> = servers
        .iter()
        .copied()
        .filter(|s| routes_to(&model, &model.route(s, "/bitrix/sub/"), c.listen_sub))
        .collect();
    if push_servers.is_empty() {
        let mut f = Finding::error(
            CHECK,
            format!(
                "no server {{}} proxies /bitrix/sub/ to bxpush (listen_sub {})",
                c.listen_sub
            ),
            "browsers get the site's 404 or a 502 instead of push: no live updates, and the pull client retries in a loop",
        );
        for l in how_to_add() {
            f = f.fix(l);
        }
        out.push(f);
    }
    for server in &push_servers {
        out.extend(check_push_server(&model, server, c));
    }
    out.extend(check_publish_exposure(&model, &servers, c));
    out.extend(check_limits(&model, expect_users));
    out
}

/// Directives the checks read that take exactly one argument: a different count means the
/// value read would be wrong (typically a `;` forgotten, swallowing the next line).
const ONE_ARG: &[&str] = &[
    "proxy_buffering",
    "proxy_read_timeout",
    "proxy_send_timeout",
    "proxy_http_version",
    "proxy_pass",
    "worker_connections",
    "worker_processes",
    "worker_rlimit_nofile",
    "client_max_body_size",
];

fn wrong_arity(tree: &[Directive]) -> Option<&Directive> {
    tree.iter().find_map(|d| {
        if ONE_ARG.contains(&d.name.as_str()) && d.args.len() != 1 {
            return Some(d);
        }
        wrong_arity(d.children())
    })
}

fn routes_to(model: &Model<'_>, chain: &Chain<'_>, listen: std::net::SocketAddr) -> bool {
    let Some(loc) = location(chain) else {
        return false;
    };
    let Some(pp) = loc.children().iter().find(|d| d.name == "proxy_pass") else {
        return false;
    };
    match proxy_target(model, pp) {
        ProxyTarget::Addrs(a) => a.iter().any(|a| reaches(a, listen)),
        ProxyTarget::Unknown(_) => false,
    }
}

fn check_push_server(model: &Model<'_>, server: &Directive, c: &Config) -> Vec<Finding> {
    let mut out = Vec::new();
    let label = server_label(server);
    let required = required_read_timeout(c).as_secs();
    let write = generated_read_timeout(c);
    for uri in [
        "/bitrix/sub/",
        "/bitrix/subws/",
        "/bitrix/rest/",
        "/bitrix/pubweb/",
    ] {
        let chain = model.route(server, uri);
        if !routes_to(model, &chain, c.listen_sub) {
            let goes = location(&chain).map_or("no location".to_string(), place);
            out.push(
                Finding::error(
                    CHECK,
                    format!("{label}: {uri} is not proxied to bxpush (it ends in {goes})"),
                    match uri {
                        "/bitrix/subws/" => "WebSocket clients fail and fall back to long polling (more requests, more latency)",
                        "/bitrix/rest/" | "/bitrix/pubweb/" => "browsers cannot publish (typing notifications, client events)",
                        _ => "long polling clients get no messages",
                    },
                )
                .fix(format!("location ^~ {uri} {{ proxy_pass http://bxpush_sub; … }}  (bxpush nginx-conf --part locations prints it whole)")),
            );
            continue;
        }
        let loc = location(&chain).expect("routes_to found a location");
        let at = place(loc);
        if uri == "/bitrix/sub/" || uri == "/bitrix/subws/" {
            let timeout = effective(&chain, "proxy_read_timeout");
            let secs = timeout
                .and_then(|d| d.args.first())
                .and_then(|v| seconds(v))
                .unwrap_or(DEFAULT_READ_TIMEOUT);
            if secs < required as f64 {
                out.push(
                    Finding::error(
                        CHECK,
                        format!(
                            "{uri}: proxy_read_timeout is {secs} s{}, shorter than bxpush's longest silence + 5 s ({required} s)",
                            if timeout.is_none() { " (nginx's default)" } else { "" }
                        ),
                        format!(
                            "nginx cuts a long poll held {} s or a WebSocket between pings ({} s) with 504 / a closed socket; clients reconnect over and over",
                            c.long_poll_timeout.as_secs(),
                            c.ws_ping_interval.as_secs()
                        ),
                    )
                    .fix(format!("in {at}: proxy_read_timeout {write}s;"))
                    .fix("nginx -t && systemctl reload nginx"),
                );
            } else {
                out.push(Finding::ok(
                    CHECK,
                    format!("{uri}: proxy_read_timeout {secs} s ≥ {required} s"),
                ));
            }
        }
        if uri == "/bitrix/sub/" {
            let buffering =
                effective(&chain, "proxy_buffering").and_then(|d| d.args.first().cloned());
            if buffering.as_deref() != Some("off") {
                out.push(
                    Finding::error(
                        CHECK,
                        format!("{uri}: proxy_buffering is {}", buffering.as_deref().unwrap_or("on (nginx's default)")),
                        "SSE events and long-poll answers wait in nginx's buffer instead of reaching the browser",
                    )
                    .fix(format!("in {at}: proxy_buffering off;")),
                );
            } else {
                out.push(Finding::ok(CHECK, format!("{uri}: proxy_buffering off")));
            }
        }
        if uri == "/bitrix/subws/" {
            let version =
                effective(&chain, "proxy_http_version").and_then(|d| d.args.first().cloned());
            let headers = effective_all(&chain, "proxy_set_header");
            let header = |name: &str| {
                headers
                    .iter()
                    .find(|d| d.args.first().is_some_and(|h| h.eq_ignore_ascii_case(name)))
                    .and_then(|d| d.args.get(1).cloned())
            };
            let upgrade_ok = header("Upgrade").is_some_and(|v| v == "$http_upgrade");
            let connection_ok = header("Connection")
                .is_some_and(|v| v.to_ascii_lowercase().contains("upgrade") || v.starts_with('$'));
            if version.as_deref() != Some("1.1") || !upgrade_ok || !connection_ok {
                let mut missing = Vec::new();
                if version.as_deref() != Some("1.1") {
                    missing.push(format!(
                        "proxy_http_version is {}",
                        version.as_deref().unwrap_or("1.0 (nginx's default)")
                    ));
                }
                if !upgrade_ok {
                    missing.push("no proxy_set_header Upgrade $http_upgrade".into());
                }
                if !connection_ok {
                    missing.push("no proxy_set_header Connection upgrade".into());
                }
                out.push(
                    Finding::error(
                        CHECK,
                        format!("{uri}: WebSocket upgrade is not passed on: {}", missing.join(", ")),
                        "the handshake never reaches bxpush: every client falls back to long polling",
                    )
                    .fix(format!("in {at}:"))
                    .fix("    proxy_http_version 1.1;")
                    .fix("    proxy_set_header Upgrade $http_upgrade;")
                    .fix("    proxy_set_header Connection $bxpush_connection;   # the map from bxpush nginx-conf --part http")
                    .fix("(proxy_set_header in a location replaces every one inherited from server/http)"),
                );
            } else {
                out.push(Finding::ok(
                    CHECK,
                    format!("{uri}: HTTP/1.1 with Upgrade and Connection"),
                ));
            }
        }
        if uri == "/bitrix/rest/" || uri == "/bitrix/pubweb/" {
            let size = effective(&chain, "client_max_body_size")
                .and_then(|d| d.args.first().cloned())
                .unwrap_or_else(|| "1m".into());
            if size_bytes(&size).is_some_and(|b| b != 0 && b < c.max_payload as u64) {
                out.push(
                    Finding::warning(
                        CHECK,
                        format!(
                            "{uri}: client_max_body_size {size} is below bxpush's max_payload ({})",
                            c.max_payload
                        ),
                        "nginx refuses larger client publishes with 413 before bxpush sees them",
                    )
                    .fix(format!("in {at}: client_max_body_size {};", c.max_payload)),
                );
            }
        }
    }
    out
}

/// `1m`, `512k`, `1048576` in bytes (`0` = unlimited).
fn size_bytes(v: &str) -> Option<u64> {
    let (num, mul) = match v.chars().last()? {
        'k' | 'K' => (&v[..v.len() - 1], 1024),
        'm' | 'M' => (&v[..v.len() - 1], 1024 * 1024),
        'g' | 'G' => (&v[..v.len() - 1], 1024 * 1024 * 1024),
        _ => (v, 1),
    };
    num.parse::<u64>().ok().map(|n| n * mul)
}

/// Every location (nested too) with its chain.
fn all_locations<'a>(model: &Model<'a>, server: &'a Directive) -> Vec<Chain<'a>> {
    fn walk<'a>(chain: Chain<'a>, block: &'a Directive, out: &mut Vec<Chain<'a>>) {
        for loc in block.children().iter().filter(|d| d.name == "location") {
            let mut c = chain.clone();
            c.push(loc);
            out.push(c.clone());
            walk(c, loc, out);
        }
    }
    let mut base: Chain<'a> = model.http.into_iter().collect();
    base.push(server);
    let mut out = Vec::new();
    walk(base, server, &mut out);
    out
}

fn check_publish_exposure(model: &Model<'_>, servers: &[&Directive], c: &Config) -> Vec<Finding> {
    let mut out = Vec::new();
    for server in servers {
        let public = {
            let listens: Vec<&Directive> = server
                .children()
                .iter()
                .filter(|d| d.name == "listen")
                .collect();
            listens.is_empty() || listens.iter().any(|l| listen_is_public(l))
        };
        if !public {
            continue;
        }
        for chain in all_locations(model, server) {
            if !routes_to(model, &chain, c.listen_pub) {
                continue;
            }
            let denied = effective_all(&chain, "deny")
                .iter()
                .any(|d| d.args.first().is_some_and(|a| a == "all"));
            if denied {
                continue;
            }
            let loc = location(&chain).expect("a location chain");
            out.push(
                Finding::error(
                    CHECK,
                    format!(
                        "{}: {} proxies bxpush's trusted listener (listen_pub {}) to the internet",
                        server_label(server),
                        place(loc),
                        c.listen_pub
                    ),
                    "anyone can publish to every channel and read the server's statistics",
                )
                .fix(format!(
                    "in {}: allow 127.0.0.1; deny all;   (or remove the location)",
                    place(loc)
                ))
                .fix(format!(
                    "Bitrix publishes directly to http://{}/bitrix/pub/ (Settings > Push and Pull)",
                    c.listen_pub
                )),
            );
        }
    }
    if out.is_empty() {
        out.push(Finding::ok(
            CHECK,
            "the trusted listener is not proxied to the internet",
        ));
    }
    out
}

fn check_limits(model: &Model<'_>, expect_users: Option<u64>) -> Vec<Finding> {
    let mut out = Vec::new();
    let wc_dir = model.events_value("worker_connections");
    let wc: u64 = wc_dir
        .and_then(|d| d.args.first())
        .and_then(|v| v.parse().ok())
        .unwrap_or(512);
    let wp_dir = model.main_value("worker_processes");
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get() as u64);
    let wp: u64 = match wp_dir.and_then(|d| d.args.first()).map(String::as_str) {
        Some("auto") => cpus,
        Some(n) => n.parse().unwrap_or(1),
        None => 1,
    };
    let where_wc = wc_dir.map_or(
        "the events { } block of the main nginx.conf".to_string(),
        |d| d.at(),
    );
    if let Some(users) = expect_users {
        // Each proxied client holds two connections in a worker: the client's and the
        // upstream one; keep 10 % for the site's own requests.
        let need_total = users * 2 + users / 5;
        let have = wc * wp;
        if have < need_total {
            let per_worker = need_total.div_ceil(wp);
            out.push(
                Finding::error(
                    "limits",
                    format!(
                        "nginx handles {have} connections ({wp} workers × worker_connections {wc}); {users} users need about {need_total} (client + upstream each)"
                    ),
                    "past the limit nginx logs \"worker_connections are not enough\" and drops new clients",
                )
                .fix(format!("in {where_wc}: worker_connections {per_worker};"))
                .fix(format!("in the main nginx.conf: worker_rlimit_nofile {};", per_worker * 2)),
            );
        } else {
            out.push(Finding::ok(
                "limits",
                format!("nginx: {wp} workers × {wc} connections fit {users} users"),
            ));
        }
    }
    match model
        .main_value("worker_rlimit_nofile")
        .and_then(|d| d.args.first())
        .and_then(|v| v.parse::<u64>().ok())
    {
        Some(n) if n < wc => out.push(
            Finding::warning(
                "limits",
                format!("nginx's worker_rlimit_nofile {n} is below worker_connections {wc}"),
                "workers run out of descriptors before reaching worker_connections",
            )
            .fix(format!(
                "in the main nginx.conf: worker_rlimit_nofile {};",
                wc * 2
            )),
        ),
        Some(_) => {}
        None => {
            if let Some(limit) = super::checks::running_nginx_nofile() {
                if limit < wc {
                    out.push(
                        Finding::warning(
                            "limits",
                            format!("the running nginx may open {limit} files per process, below worker_connections {wc}"),
                            "workers run out of descriptors (\"Too many open files\") before reaching worker_connections",
                        )
                        .fix(format!("in the main nginx.conf: worker_rlimit_nofile {};", wc * 2)),
                    );
                }
            }
        }
    }
    out
}
