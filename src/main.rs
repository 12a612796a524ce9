//! `bxpush`: the command line. `serve` runs the push server.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};
use rand::RngCore;

use bxpush::config::{Config, Layer};
use bxpush::runtime::Server;

#[derive(Parser)]
#[command(
    name = "bxpush",
    version,
    about = "Push & Pull server for 1C-Bitrix sites"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the push server (replaces Bitrix's Node push-server).
    Serve(ServeArgs),
    /// Load-test a push server (bxpush or Bitrix's Node push-server): subscribers,
    /// open-loop publishing, latency, loss, server memory and CPU. Runs the
    /// `bxpush-bench` binary installed beside this one (`bxpush bench --help`).
    #[command(disable_help_flag = true)]
    Bench {
        /// Passed on to `bxpush-bench` as they are.
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<std::ffi::OsString>,
    },
}

/// Every flag may also come from `BXPUSH_<NAME>` or from the config file.
#[derive(Args)]
struct ServeArgs {
    /// Config file: TOML with the same keys as these flags (underscores), or the Node
    /// push-server's JSON (`push-server-sub-8010.json`).
    #[arg(long, env = "BXPUSH_CONFIG")]
    config: Option<PathBuf>,
    /// Subscribers (WebSocket, long polling, SSE, client publish). Default 127.0.0.1:8010.
    #[arg(long, env = "BXPUSH_LISTEN_SUB")]
    listen_sub: Option<std::net::SocketAddr>,
    /// Trusted publishing and stats. Default 127.0.0.1:9010.
    #[arg(long, env = "BXPUSH_LISTEN_PUB")]
    listen_pub: Option<std::net::SocketAddr>,
    /// Where PHP-FPM workers (extension=bxpush) hand events over: a unix socket path
    /// (`/run/bxpush/php.sock`, `unix:/path`) or `127.0.0.1:PORT` (frames authenticated with
    /// the signature key). Default: none.
    #[arg(long, env = "BXPUSH_LISTEN_PHP")]
    listen_php: Option<bxpush::handoff::PhpTarget>,
    /// The pull module's signature key. Absent: one is generated (and kept in
    /// --data-dir). Empty: channels are not signed.
    #[arg(long, env = "BXPUSH_SIGNATURE_KEY", hide_env_values = true)]
    signature_key: Option<String>,
    /// sha1 (default) or sha256, as the pull module's signature_algo.
    #[arg(long, env = "BXPUSH_SIGNATURE_ALGO")]
    signature_algo: Option<String>,
    /// Where history survives restarts. Absent: memory only.
    #[arg(long, env = "BXPUSH_DATA_DIR")]
    data_dir: Option<PathBuf>,
    /// Seconds a long poll is held before 304. Default 40.
    #[arg(long, env = "BXPUSH_LONG_POLL_TIMEOUT")]
    long_poll_timeout: Option<u64>,
    /// Seconds between WebSocket pings; a peer that misses one is dropped. Default 120.
    #[arg(long, env = "BXPUSH_WS_PING_INTERVAL")]
    ws_ping_interval: Option<u64>,
    /// Seconds between SSE heartbeat comments. Default 15.
    #[arg(long, env = "BXPUSH_SSE_HEARTBEAT")]
    sse_heartbeat: Option<u64>,
    /// Longest a message is kept in history, seconds. Default 86400.
    #[arg(long, env = "BXPUSH_MESSAGE_TTL")]
    message_ttl: Option<u32>,
    /// Seconds a channel stays online after its last activity. Default 130.
    #[arg(long, env = "BXPUSH_ONLINE_TTL")]
    online_ttl: Option<u64>,
    /// Largest request body or WebSocket frame, bytes. Default 1048576.
    #[arg(long, env = "BXPUSH_MAX_PAYLOAD")]
    max_payload: Option<usize>,
    /// Connections per public channel; the oldest is closed with 4029. Default 100.
    #[arg(long, env = "BXPUSH_MAX_CONN_PER_CHANNEL")]
    max_conn_per_channel: Option<usize>,
    /// Messages per publish request. Default 100.
    #[arg(long, env = "BXPUSH_MAX_MESSAGES_PER_REQUEST")]
    max_messages_per_request: Option<usize>,
    /// Channels per request. Default 100.
    #[arg(long, env = "BXPUSH_MAX_CHANNELS_PER_REQUEST")]
    max_channels_per_request: Option<usize>,
    /// Messages kept per channel. Default 1000.
    #[arg(long, env = "BXPUSH_MAX_HISTORY_PER_CHANNEL")]
    max_history_per_channel: Option<usize>,
    /// Body bytes kept in history in all; the oldest go first. Default 268435456 (256 MiB).
    #[arg(long, env = "BXPUSH_MAX_HISTORY_BYTES")]
    max_history_bytes: Option<u64>,
    /// Messages queued for one connection before it is cut off. Default 1024.
    #[arg(long, env = "BXPUSH_MAX_QUEUE_PER_CONNECTION")]
    max_queue_per_connection: Option<usize>,
    /// Open connections on both listeners together. Default 19000.
    #[arg(long, env = "BXPUSH_MAX_CONNECTIONS")]
    max_connections: Option<usize>,
    /// fsync the history log after every stored message (survives power loss).
    #[arg(long, env = "BXPUSH_FSYNC")]
    fsync: Option<bool>,
}

impl ServeArgs {
    fn layer(&self) -> Layer {
        Layer {
            listen_sub: self.listen_sub,
            listen_pub: self.listen_pub,
            listen_php: self.listen_php.clone(),
            signature_key: self.signature_key.clone(),
            signature_algo: self.signature_algo.clone(),
            data_dir: self.data_dir.clone(),
            long_poll_timeout: self.long_poll_timeout,
            ws_ping_interval: self.ws_ping_interval,
            sse_heartbeat: self.sse_heartbeat,
            message_ttl: self.message_ttl,
            online_ttl: self.online_ttl,
            max_payload: self.max_payload,
            max_conn_per_channel: self.max_conn_per_channel,
            max_messages_per_request: self.max_messages_per_request,
            max_channels_per_request: self.max_channels_per_request,
            max_history_per_channel: self.max_history_per_channel,
            max_history_bytes: self.max_history_bytes,
            max_queue_per_connection: self.max_queue_per_connection,
            max_connections: self.max_connections,
            fsync: self.fsync,
        }
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Command::Bench { args } = &cli.command {
        // Before the log subscriber: the bench prints its own progress.
        let e = exec_bench(args);
        eprintln!("bxpush bench: {e}");
        return ExitCode::FAILURE;
    }
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("BXPUSH_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    match cli.command {
        Command::Bench { .. } => unreachable!("handled above"),
        Command::Serve(args) => match serve(args) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("bxpush: {e}");
                ExitCode::FAILURE
            }
        },
    }
}

fn serve(args: ServeArgs) -> Result<(), String> {
    let mut layer = args.layer();
    if let Some(path) = &args.config {
        layer = layer.over(Layer::from_file(path)?);
    }
    let generated = layer.signature_key.is_none();
    if generated {
        layer.signature_key = Some(key_for(layer.data_dir.as_deref())?);
    }
    let config = layer.resolve()?;
    if config.signature_key.is_none() {
        tracing::warn!("signature key is empty: channel ids are not signed; anyone who guesses an id can listen");
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the runtime: {e}"))?;
    rt.block_on(async move {
        let server = Server::start(config.clone())
            .await
            .map_err(|e| e.to_string())?;
        print_banner(&config, &server, generated);
        wait_for_signal().await;
        tracing::info!("shutting down");
        server
            .shutdown(Duration::from_secs(5))
            .await
            .map_err(|e| format!("history flush failed: {e}"))
    })
}

/// `bxpush bench ARGS` = `bxpush-bench ARGS`: the load generator is a crate of its own
/// (`bench/`) so that the server library and the PHP extension never compile it. The
/// binary beside this one wins over one on PATH (the pair is built and installed together).
/// `exec` keeps the pid, so `--server-pid $$`-style scripts and signals behave as before.
/// Returns only on failure.
fn exec_bench(args: &[std::ffi::OsString]) -> String {
    use std::os::unix::process::CommandExt;
    const NAME: &str = "bxpush-bench";
    let beside = std::env::current_exe()
        .ok()
        .and_then(|exe| exe.parent().map(|dir| dir.join(NAME)))
        .filter(|p| p.is_file());
    let program = beside.clone().unwrap_or_else(|| PathBuf::from(NAME));
    let e = std::process::Command::new(&program).args(args).exec();
    match beside {
        Some(p) => format!("cannot run {}: {e}", p.display()),
        None => format!(
            "{NAME} is neither beside this binary nor on PATH ({e}); build it with `cargo build --release -p bxpush-bench` (`make build` does)"
        ),
    }
}

/// A generated key is kept in the data dir so that channels stay valid across restarts.
fn key_for(data_dir: Option<&Path>) -> Result<String, String> {
    if let Some(dir) = data_dir {
        let path = dir.join("signature.key");
        if let Ok(k) = std::fs::read_to_string(&path) {
            let k = k.trim().to_string();
            if !k.is_empty() {
                return Ok(k);
            }
        }
        let key = random_key();
        std::fs::create_dir_all(dir)
            .map_err(|e| format!("cannot create data dir {}: {e}", dir.display()))?;
        write_private(&path, &key).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
        return Ok(key);
    }
    Ok(random_key())
}

fn random_key() -> String {
    let mut b = [0u8; 32];
    rand::rng().fill_bytes(&mut b);
    hex::encode(b)
}

fn write_private(path: &Path, text: &str) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?;
    f.write_all(text.as_bytes())?;
    f.sync_all()
}

fn print_banner(config: &Config, server: &Server, generated: bool) {
    let sub = server.sub_addr();
    let publ = server.pub_addr();
    println!("bxpush {} is running.", env!("CARGO_PKG_VERSION"));
    println!("  WebSocket:    ws://{sub}/bitrix/subws/");
    println!(
        "  Long polling: http://{sub}/bitrix/sub/   (SSE: same URL with Accept: text/event-stream)"
    );
    println!("  Publish:      http://{publ}/bitrix/pub/   (trusted; keep it on loopback)");
    println!("  Stats:        http://{publ}/server-stat/");
    match server.php_target() {
        Some(php) => println!("  PHP workers:  {php}   (php.ini: bxpush.server = \"{php}\")"),
        None => println!(
            "  PHP workers:  off (add --listen-php /run/bxpush/php.sock for the bxpush extension)"
        ),
    }
    if generated {
        if let Some(k) = &config.signature_key {
            println!("  Signature key (generated; set it as the pull module's signature_key): {k}");
        }
    }
    match &config.data_dir {
        Some(d) => println!("  History:      {}", d.display()),
        None => println!("  History:      memory only (use --data-dir to keep it across restarts)"),
    }
    println!("In Bitrix: Settings > Push and Pull > server version \"Bitrix Push server 2.0\", publish URL http://{publ}/bitrix/pub/.");
}

async fn wait_for_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate()).expect("SIGTERM handler");
    let mut int = signal(SignalKind::interrupt()).expect("SIGINT handler");
    tokio::select! {
        _ = term.recv() => {}
        _ = int.recv() => {}
    }
}
