//! `bxpush doctor` against real nginx configs laid out as Debian does (nginx.conf
//! including conf.d/*.conf and sites-enabled/*, the site including the push locations),
//! a live bxpush, php.ini files and a Bitrix .settings.php: the good layout passes with
//! exit 0, and each broken variant is found with exit 1 or 2 and the exact fix line.
mod ops_support;

use std::path::PathBuf;

use ops_support::{run, Bxpush, Scratch, KEY};

/// A site: the layout on disk and the doctor arguments for it.
struct Site {
    bx: Bxpush,
    dir: Scratch,
    locations: String,
    http: String,
}

impl Site {
    fn new() -> Site {
        let dir = Scratch::new("doctor");
        let sock = dir.path("php.sock");
        let bx = Bxpush::start(
            &format!("listen_php = \"{}\"\nmax_connections = 500", sock.display()),
            &[],
        );
        let conf = bx.config.to_str().unwrap().to_string();
        let part = |p: &str| {
            let (code, out, err) = run(&["nginx-conf", "--config", &conf, "--part", p]);
            assert_eq!(code, 0, "{err}");
            out
        };
        let site = Site {
            locations: part("locations"),
            http: part("http"),
            bx,
            dir,
        };
        site.write_nginx(&site.locations, &site.http, "worker_connections 1024;");
        site.dir.write(
            "php/conf.d/20-bxpush.ini",
            &format!(
                "; bxpush\nextension=bxpush\nbxpush.server = \"{}\"\nbxpush.signature_key = \"{KEY}\"\nbxpush.spool_dir = \"{}\"\n",
                sock.display(),
                site.dir.path("spool").display()
            ),
        );
        std::fs::create_dir_all(site.dir.path("spool")).unwrap();
        site
    }

    fn write_nginx(&self, locations: &str, http: &str, events: &str) {
        self.dir.write(
            "nginx/nginx.conf",
            &format!(
                "user www-data;\nworker_processes 1;\npid /run/nginx.pid;\nevents {{\n    {events}\n}}\nhttp {{\n    include mime.types;\n    include conf.d/*.conf;\n    include sites-enabled/*;\n}}\n"
            ),
        );
        self.dir
            .write("nginx/mime.types", "types { text/html html; }\n");
        self.dir.write("nginx/conf.d/bxpush.conf", http);
        self.dir.write("nginx/bxpush-locations.conf", locations);
        self.dir.write(
            "nginx/sites-enabled/bitrix.conf",
            "server {\n    listen 80;\n    server_name bitrix.example.com;\n    root /var/www/bitrix;\n    include bxpush-locations.conf;\n    location ~ \\.php$ { fastcgi_pass unix:/run/php/php8.2-fpm.sock; }\n    location / { try_files $uri $uri/ /bitrix/urlrewrite.php$is_args$args; }\n}\n",
        );
    }

    fn doctor(&self, extra: &[&str]) -> (i32, String) {
        let mut args = vec!["doctor", "--config", self.bx.config.to_str().unwrap()];
        let nginx = self.dir.path("nginx/nginx.conf");
        let php = self.dir.path("php/conf.d");
        let (n, p) = (
            nginx.to_str().unwrap().to_string(),
            php.to_str().unwrap().to_string(),
        );
        args.extend(["--nginx-conf", &n, "--php-ini", &p]);
        args.extend(extra);
        let (code, out, err) = run(&args);
        assert!(err.is_empty(), "doctor wrote to stderr: {err}");
        assert!(
            !out.contains(KEY),
            "the signature key is in doctor's output:\n{out}"
        );
        (code, out)
    }

    fn locations_file(&self) -> PathBuf {
        self.dir.path("nginx/bxpush-locations.conf")
    }
}

fn line_with(out: &str, needle: &str) -> bool {
    out.lines().any(|l| l.contains(needle))
}

#[test]
fn good_layout_passes() {
    let s = Site::new();
    let (code, out) = s.doctor(&["--expect-users", "100"]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("0 errors, 0 warnings"), "{out}");
    assert!(
        out.contains("parsed") && out.contains("5 files with includes"),
        "{out}"
    );
    assert!(
        out.contains("/bitrix/sub/: proxy_read_timeout 130 s ≥ 125 s"),
        "{out}"
    );
    assert!(out.contains("listen_php"), "{out}");
    let (code, json) = s.doctor(&["--json"]);
    assert_eq!(code, 0);
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(v["exit"], 0);
    assert_eq!(v["errors"], 0);
    assert!(v["findings"].as_array().unwrap().len() >= 8);
}

#[test]
fn short_read_timeout_names_the_file_line_and_value() {
    let s = Site::new();
    let locs = s
        .locations
        .replace("proxy_read_timeout 130s;", "proxy_read_timeout 30s;");
    s.write_nginx(&locs, &s.http, "worker_connections 1024;");
    let (code, out) = s.doctor(&[]);
    assert_eq!(code, 2, "{out}");
    assert!(
        out.contains("/bitrix/sub/: proxy_read_timeout is 30 s, shorter than"),
        "{out}"
    );
    let want = format!("fix: in {}:", s.locations_file().display());
    assert!(
        line_with(&out, &want)
            && line_with(&out, "(location ^~ /bitrix/sub/): proxy_read_timeout 130s;"),
        "{out}"
    );
    // Removed altogether: nginx's 60 s default is reported as such.
    let locs = s.locations.replace("    proxy_read_timeout 130s;\n", "");
    s.write_nginx(&locs, &s.http, "worker_connections 1024;");
    let (code, out) = s.doctor(&[]);
    assert_eq!(code, 2, "{out}");
    assert!(
        out.contains("proxy_read_timeout is 60 s (nginx's default)"),
        "{out}"
    );
}

#[test]
fn buffering_on_is_an_error_with_the_line_to_write() {
    let s = Site::new();
    let locs = s
        .locations
        .replace("proxy_buffering off;", "proxy_buffering on;");
    s.write_nginx(&locs, &s.http, "worker_connections 1024;");
    let (code, out) = s.doctor(&[]);
    assert_eq!(code, 2, "{out}");
    assert!(out.contains("/bitrix/sub/: proxy_buffering is on"), "{out}");
    assert!(line_with(&out, "proxy_buffering off;"), "{out}");
}

#[test]
fn missing_websocket_headers_are_found_through_inheritance() {
    let s = Site::new();
    // Upgrade set only at the server level: a location with its own proxy_set_header
    // does not inherit it (nginx's rule), so the upgrade is lost.
    let locs = s
        .locations
        .replace("    proxy_set_header Upgrade $http_upgrade;\n", "");
    s.write_nginx(&locs, &s.http, "worker_connections 1024;");
    let site = s.dir.path("nginx/sites-enabled/bitrix.conf");
    let text = std::fs::read_to_string(&site).unwrap().replace(
        "    root /var/www/bitrix;\n",
        "    root /var/www/bitrix;\n    proxy_set_header Upgrade $http_upgrade;\n",
    );
    std::fs::write(&site, text).unwrap();
    let (code, out) = s.doctor(&[]);
    assert_eq!(code, 2, "{out}");
    assert!(out.contains("/bitrix/subws/: WebSocket upgrade is not passed on: no proxy_set_header Upgrade $http_upgrade"), "{out}");
    assert!(
        line_with(&out, "proxy_set_header Upgrade $http_upgrade;"),
        "{out}"
    );
    let locs = s.locations.replace(
        "proxy_http_version 1.1;                  # WebSocket",
        "# WebSocket",
    );
    s.write_nginx(&locs, &s.http, "worker_connections 1024;");
    let (_, out) = s.doctor(&[]);
    assert!(
        out.contains("proxy_http_version is 1.0 (nginx's default)"),
        "{out}"
    );
}

#[test]
fn exposed_publish_and_missing_locations_are_errors() {
    let s = Site::new();
    let locs = s.locations.replace(
        "location ^~ /bitrix/pub/ {\n    deny all;\n}",
        "location ^~ /bitrix/pub/ {\n    proxy_pass http://bxpush_pub;\n}",
    );
    assert_ne!(locs, s.locations);
    s.write_nginx(&locs, &s.http, "worker_connections 1024;");
    let (code, out) = s.doctor(&[]);
    assert_eq!(code, 2, "{out}");
    assert!(out.contains("proxies bxpush's trusted listener"), "{out}");
    assert!(line_with(&out, "allow 127.0.0.1; deny all;"), "{out}");

    // No push locations at all: the fix is the commands that add them.
    s.write_nginx("# nothing\n", &s.http, "worker_connections 1024;");
    let (code, out) = s.doctor(&[]);
    assert_eq!(code, 2, "{out}");
    assert!(
        out.contains("no server {} proxies /bitrix/sub/ to bxpush"),
        "{out}"
    );
    assert!(
        line_with(
            &out,
            "bxpush nginx-conf --part locations > /etc/nginx/bxpush-locations.conf"
        ),
        "{out}"
    );
}

#[test]
fn limits_against_expected_users() {
    let s = Site::new();
    s.write_nginx(&s.locations, &s.http, "worker_connections 256;");
    let (code, out) = s.doctor(&["--expect-users", "400"]);
    assert_eq!(code, 2, "{out}");
    assert!(
        out.contains("worker_connections 256); 400 users need about 880"),
        "{out}"
    );
    assert!(line_with(&out, "worker_connections 880;"), "{out}");
    // bxpush's own max_connections (500 in this config).
    assert!(!out.contains("max_connections 500 is below"), "{out}");
    let (_, out) = s.doctor(&["--expect-users", "600"]);
    assert!(
        out.contains("bxpush's max_connections 500 is below the 600 expected users"),
        "{out}"
    );
    assert!(line_with(&out, "max_connections = 660"), "{out}");
}

#[test]
fn differing_signature_key_shows_fingerprints_never_the_key() {
    let s = Site::new();
    let ini = s.dir.path("php/conf.d/20-bxpush.ini");
    let text = std::fs::read_to_string(&ini).unwrap().replace(
        &format!("bxpush.signature_key = \"{KEY}\""),
        "bxpush.signature_key = \"some-other-secret\"",
    );
    std::fs::write(&ini, text).unwrap();
    let (code, out) = s.doctor(&[]);
    assert_eq!(code, 2, "{out}");
    assert!(out.contains("differs from bxpush's (fingerprint "), "{out}");
    assert!(!out.contains("some-other-secret"), "{out}");
    assert!(line_with(&out, "set bxpush.signature_key in"), "{out}");
}

#[test]
fn pull_module_options_are_read_from_settings_php() {
    let s = Site::new();
    let root = s.dir.path("www");
    s.dir.write(
        "www/bitrix/.settings.php",
        "<?php\nreturn array(\n  'pull' => array('value' => array('signature_key' => 'not-the-same', 'signature_algo' => 'sha256'), 'readonly' => true),\n);\n",
    );
    let r = root.to_str().unwrap().to_string();
    let (code, out) = s.doctor(&["--bitrix-root", &r]);
    assert_eq!(code, 2, "{out}");
    assert!(
        out.contains("the pull module's signature_key in") && out.contains("differs"),
        "{out}"
    );
    assert!(
        out.contains("the pull module's signature_algo is sha256, bxpush's sha1"),
        "{out}"
    );
    assert!(!out.contains("not-the-same"), "{out}");
}

#[test]
fn spool_backlog_is_a_warning_while_bxpush_runs_and_an_error_when_it_is_down() {
    let mut s = Site::new();
    s.dir.write(
        "spool/00000000000000000001-0000000001-0000000000000001-00000000000000000001.spool",
        "x",
    );
    let (code, out) = s.doctor(&[]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("1 spool files wait in"), "{out}");
    s.bx.stop();
    let (code, out) = s.doctor(&[]);
    assert_eq!(code, 2, "{out}");
    assert!(
        out.contains("bxpush does not answer on listen_pub"),
        "{out}"
    );
    assert!(out.contains("and bxpush is down"), "{out}");
    assert!(line_with(&out, "systemctl start bxpush"), "{out}");
}

#[test]
fn a_config_that_does_not_parse_names_file_and_line() {
    let s = Site::new();
    let locs = s
        .locations
        .replace("proxy_buffering off;", "proxy_buffering off");
    s.write_nginx(&locs, &s.http, "worker_connections 1024;");
    let (code, out) = s.doctor(&[]);
    assert_eq!(code, 2, "{out}");
    let want = format!(
        "the nginx config is invalid: {}:",
        s.locations_file().display()
    );
    assert!(out.contains(&want), "{out}");
    assert!(
        out.contains("\"proxy_buffering\" takes one argument, not 3 (a missing \";\"?)"),
        "{out}"
    );
    // A block left open in the included file.
    let locs = s.locations.replace("    deny all;\n}", "    deny all;\n");
    s.write_nginx(&locs, &s.http, "worker_connections 1024;");
    let (code, out) = s.doctor(&[]);
    assert_eq!(code, 2, "{out}");
    let want = format!(
        "the nginx config does not parse: {}:",
        s.locations_file().display()
    );
    assert!(
        out.contains(&want) && out.contains("expecting \"}\""),
        "{out}"
    );
}
