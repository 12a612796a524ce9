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
    Serve(Box<ServeArgs>),
    /// Load-test a push server (bxpush or Bitrix's Node push-server): subscribers,
    /// open-loop publishing, latency, loss, server memory and CPU. Runs the
    /// `bxpush-bench` binary installed beside this one (`bxpush bench --help`).
    #[command(disable_help_flag = true)]
    Bench {
        /// Passed on to `bxpush-bench` as they are.
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<std::ffi::OsString>,
    },
    /// Print the nginx configuration for this bxpush (upstreams, the push locations, the
    /// Upgrade map, timeouts from its settings).
    NginxConf(bxpush::cli::nginx_conf::NginxConfArgs),
    /// Check bxpush, nginx, php.ini and the pull module for the common push failures;
    /// each finding says why it matters and the exact fix. Exit 0/1/2 = ok/warnings/errors.
    Doctor(bxpush::doctor::DoctorArgs),
    /// Publish a message through the running bxpush (to channel ids or users).
    Send(bxpush::cli::send::SendArgs),
    /// Show the running bxpush's connections, channels and counters.
    Stats(bxpush::cli::stats::StatsArgs),
}

/// Every flag may also come from `BXPUSH_<NAME>` or from the config file. The flags are
/// `config::Layer`'s: each key is declared once, in src/config.rs.
#[derive(Args)]
struct ServeArgs {
    /// Config file: TOML with the same keys as these flags (underscores), or the Node
    /// push-server's JSON (`push-server-sub-8010.json`).
    #[arg(long, env = "BXPUSH_CONFIG")]
    config: Option<PathBuf>,
    #[command(flatten)]
    layer: Layer,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Command::Bench { args } = &cli.command {
        // Before the log subscriber: the bench prints its own progress.
        let e = exec_bench(args);
        eprintln!("bxpush bench: {e}");
        return ExitCode::FAILURE;
    }
    if let Err(e) = bxpush::logging::init_from_env() {
        eprintln!("bxpush: {e}");
        return ExitCode::from(2);
    }
    match cli.command {
        Command::Bench { .. } => unreachable!("handled above"),
        Command::NginxConf(args) => bxpush::cli::nginx_conf::run(args),
        Command::Doctor(args) => bxpush::doctor::run(args),
        Command::Send(args) => bxpush::cli::send::run(args),
        Command::Stats(args) => bxpush::cli::stats::run(args),
        Command::Serve(args) => match serve(args) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("bxpush: {e}");
                ExitCode::FAILURE
            }
        },
    }
}

fn serve(args: Box<ServeArgs>) -> Result<(), String> {
    let ServeArgs { config, mut layer } = *args;
    if let Some(path) = &config {
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
    println!("  Status page:  http://{publ}/   (Prometheus: http://{publ}/metrics)");
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
    match (&config.store, &config.data_dir) {
        (bxpush::store::StoreKind::Memory, Some(d)) => println!("  History:      {}", d.display()),
        (bxpush::store::StoreKind::Memory, None) => {
            println!("  History:      memory only (use --data-dir to keep it across restarts)")
        }
        // Display hides the password.
        #[allow(unreachable_patterns)]
        (store, _) => println!("  History:      {store} (shared by every node of the cluster)"),
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
