//! Helpers of the operations tests (logs, metrics, nginx, doctor, CLI): the real
//! `bxpush` binary on free loopback ports, stopped by pid, and blocking HTTP over TCP.
#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

pub const BIN: &str = env!("CARGO_BIN_EXE_bxpush");
/// The same key as `common::KEY`, so its signed test channels work against these servers.
pub const KEY: &str = "test-signature-key";

/// A unique empty directory under the system temp dir, removed on drop.
pub struct Scratch(pub PathBuf);

impl Scratch {
    pub fn new(tag: &str) -> Self {
        static N: AtomicU32 = AtomicU32::new(0);
        let p = std::env::temp_dir().join(format!(
            "bxpush-ops-{tag}-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).unwrap();
        Scratch(p)
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }

    pub fn write(&self, name: &str, text: &str) -> PathBuf {
        let p = self.0.join(name);
        if let Some(d) = p.parent() {
            std::fs::create_dir_all(d).unwrap();
        }
        std::fs::write(&p, text).unwrap();
        p
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Poll `f` every 20 ms until it holds; panics after `secs` naming `what`.
pub fn wait_until(secs: u64, what: &str, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while Instant::now() < deadline {
        if f() {
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    panic!("not reached in {secs} s: {what}");
}

/// A running `bxpush serve` child; killed on drop if still running.
pub struct Bxpush {
    pub child: Child,
    pub sub: SocketAddr,
    pub publ: SocketAddr,
    pub stderr: PathBuf,
    pub config: PathBuf,
    pub dir: Scratch,
}

impl Bxpush {
    /// Start with a TOML config on free loopback ports (`extra` is appended to the TOML),
    /// stderr to a file, and wait until both listeners accept.
    pub fn start(extra: &str, env: &[(&str, &str)]) -> Bxpush {
        let dir = Scratch::new("srv");
        let (sub, publ) = (free_port(), free_port());
        let config = dir.write(
            "bxpush.toml",
            &format!(
                "listen_sub = \"127.0.0.1:{sub}\"\nlisten_pub = \"127.0.0.1:{publ}\"\nsignature_key = \"{KEY}\"\n{extra}\n"
            ),
        );
        let stderr = dir.path("stderr.log");
        let child = Command::new(BIN)
            .args(["serve", "--config"])
            .arg(&config)
            .env_remove("BXPUSH_LOG")
            .envs(env.iter().copied())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&stderr).unwrap())
            .spawn()
            .expect("spawn bxpush");
        let b = Bxpush {
            child,
            sub: format!("127.0.0.1:{sub}").parse().unwrap(),
            publ: format!("127.0.0.1:{publ}").parse().unwrap(),
            stderr,
            config,
            dir,
        };
        wait_until(10, "bxpush listens", || {
            TcpStream::connect(b.sub).is_ok() && TcpStream::connect(b.publ).is_ok()
        });
        b
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// SIGTERM and wait for the exit.
    pub fn stop(&mut self) -> ExitStatus {
        unsafe { libc::kill(self.child.id() as i32, libc::SIGTERM) };
        self.child.wait().unwrap()
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.stderr).unwrap_or_default()
    }
}

impl Drop for Bxpush {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// A parsed HTTP/1.1 response (Content-Length or read to EOF; no chunked bodies).
#[derive(Debug)]
pub struct Resp {
    pub status: u16,
    pub head: String,
    pub body: String,
}

impl Resp {
    pub fn header(&self, name: &str) -> Option<String> {
        self.head.lines().find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.trim()
                .eq_ignore_ascii_case(name)
                .then(|| v.trim().to_string())
        })
    }
}

/// One request with `Connection: close`; reads to EOF.
pub fn request(addr: SocketAddr, method: &str, path: &str, headers: &str, body: &str) -> Resp {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(90))).unwrap();
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\nContent-Length: {}\r\n{headers}\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut buf = Vec::new();
    s.read_to_end(&mut buf).unwrap();
    let text = String::from_utf8_lossy(&buf).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    Resp {
        status,
        head: head.to_string(),
        body: body.to_string(),
    }
}

pub fn get(addr: SocketAddr, path: &str) -> Resp {
    request(addr, "GET", path, "", "")
}

/// Run `bxpush ARGS` to completion: (exit code, stdout, stderr).
pub fn run(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(BIN).args(args).output().expect("run bxpush");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

pub fn exists(p: &Path) -> bool {
    p.exists()
}

/// A real nginx (the Debian package's binary) with its own prefix, in the foreground,
/// stopped by pid on drop.
pub struct Nginx {
    pub child: Child,
    pub port: u16,
    pub dir: Scratch,
}

pub const NGINX: &str = "/usr/sbin/nginx";

impl Nginx {
    /// Run nginx on 127.0.0.1:<free port> with `http_conf` included in its http {}
    /// (the text may use `{listen}` for the address the server {} listens on).
    pub fn start(http_conf: &str) -> Nginx {
        assert!(
            Path::new(NGINX).exists(),
            "{NGINX} is missing: apt-get install nginx (make test installs it)"
        );
        let dir = Scratch::new("nginx");
        let port = free_port();
        for d in ["tmp", "logs"] {
            std::fs::create_dir_all(dir.path(d)).unwrap();
        }
        // Workers run as nobody when the master is root: let them use the temp dirs.
        let _ = Command::new("chmod")
            .args(["-R", "a+rwx"])
            .arg(&dir.0)
            .status();
        let tmp = dir.path("tmp");
        let tmp = tmp.display();
        dir.write(
            "site.conf",
            &http_conf.replace("{listen}", &format!("127.0.0.1:{port}")),
        );
        dir.write(
            "nginx.conf",
            &format!(
                "daemon off;\nmaster_process on;\nworker_processes 1;\npid {pid};\nerror_log {err} info;\n\
                 events {{ worker_connections 256; }}\n\
                 http {{\n  access_log off;\n  client_body_temp_path {tmp}/body;\n  proxy_temp_path {tmp}/proxy;\n\
                 fastcgi_temp_path {tmp}/fastcgi;\n  uwsgi_temp_path {tmp}/uwsgi;\n  scgi_temp_path {tmp}/scgi;\n\
                 include site.conf;\n}}\n",
                pid = dir.path("nginx.pid").display(),
                err = dir.path("logs/error.log").display(),
            ),
        );
        let test = Command::new(NGINX)
            .arg("-p")
            .arg(&dir.0)
            .arg("-c")
            .arg(dir.path("nginx.conf"))
            .args(["-e", "stderr", "-t"])
            .output()
            .unwrap();
        assert!(
            test.status.success(),
            "nginx -t refused the config:\n{}\n{}",
            String::from_utf8_lossy(&test.stderr),
            std::fs::read_to_string(dir.path("site.conf")).unwrap()
        );
        let child = Command::new(NGINX)
            .arg("-p")
            .arg(&dir.0)
            .arg("-c")
            .arg(dir.path("nginx.conf"))
            .args(["-e", "stderr"])
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(dir.path("logs/stderr.log")).unwrap())
            .spawn()
            .expect("spawn nginx");
        let n = Nginx { child, port, dir };
        wait_until(10, "nginx listens", || {
            TcpStream::connect(("127.0.0.1", port)).is_ok()
        });
        n
    }

    pub fn addr(&self) -> SocketAddr {
        format!("127.0.0.1:{}", self.port).parse().unwrap()
    }

    pub fn error_log(&self) -> String {
        std::fs::read_to_string(self.dir.path("logs/error.log")).unwrap_or_default()
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        // SIGQUIT: graceful stop of master and workers.
        unsafe { libc::kill(self.child.id() as i32, libc::SIGQUIT) };
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
