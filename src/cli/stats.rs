//! `bxpush stats`: the running bxpush's figures for the shell (its `/server-stat/`).

use std::process::ExitCode;

use clap::Args;

use super::target::ConfigArg;

#[derive(Args, Debug)]
pub struct StatsArgs {
    #[command(flatten)]
    pub target: ConfigArg,
    /// Print /server-stat/ as it is (JSON).
    #[arg(long)]
    pub json: bool,
}

pub fn run(args: StatsArgs) -> ExitCode {
    let target = match args.target.load() {
        Ok(t) => t,
        Err(e) => {
            eprintln!("bxpush stats: {e}");
            return ExitCode::from(2);
        }
    };
    let addr = target.config.listen_pub;
    let reply = match super::http::request(addr, "GET", "/server-stat/", &[], b"") {
        Ok(r) if r.status == 200 => r,
        Ok(r) => {
            eprintln!(
                "bxpush stats: {addr} answered {}: is it bxpush's listen_pub?",
                r.status
            );
            return ExitCode::FAILURE;
        }
        Err(e) => {
            eprintln!(
                "bxpush stats: bxpush does not answer on listen_pub {addr} ({e}): is it running? systemctl start bxpush (config: {})",
                target.source
            );
            return ExitCode::FAILURE;
        }
    };
    let v: serde_json::Value = match serde_json::from_str(&reply.body) {
        Ok(v) => v,
        Err(e) => {
            eprintln!("bxpush stats: {addr} did not answer with JSON ({e})");
            return ExitCode::FAILURE;
        }
    };
    if args.json {
        println!("{v}");
        return ExitCode::SUCCESS;
    }
    print!("{}", render(&v[0]));
    ExitCode::SUCCESS
}

/// A few aligned lines an operator reads at a glance.
pub fn render(s: &serde_json::Value) -> String {
    let b = &s["bxpush"];
    let i = &b["ingress"];
    let rows = [
        (
            "version",
            format!(
                "{} (pid {}, up {} s)",
                b["version"].as_str().unwrap_or("?"),
                s["pid"],
                b["uptimeSeconds"]
            ),
        ),
        (
            "connections",
            format!(
                "{} websocket, {} long polling, {} sse ({} TCP in all)",
                s["websockets"], s["pollings"], b["sse"], b["connections"]
            ),
        ),
        ("channels", s["channels"].to_string()),
        ("published", format!("{} messages", b["published"])),
        (
            "history",
            format!(
                "{} messages in {} channels, {} bytes",
                b["storedMessages"], b["storedChannels"], b["storedBytes"]
            ),
        ),
        (
            "refused",
            format!(
                "{} bad requests, {} connections over max_connections, {} slow readers cut",
                b["badRequests"], b["refusedConnections"], b["slowReadersCut"]
            ),
        ),
        (
            "PHP hand-off",
            format!(
                "{} applied, {} duplicates, {} rejected, {} workers connected",
                i["applied"], i["duplicates"], i["rejected"], i["connections"]
            ),
        ),
    ];
    rows.iter().map(|(k, v)| format!("{k:<13} {v}\n")).collect()
}
