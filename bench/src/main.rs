//! `bxpush-bench` (also reached as `bxpush bench`, which execs this binary): see the
//! library's doc for what it measures and how.

use std::process::ExitCode;

use clap::Parser;

#[derive(Parser)]
#[command(
    name = "bxpush bench",
    bin_name = "bxpush bench",
    version,
    about = "Load-test a push server (bxpush or Bitrix's Node push-server): subscribers, \
             open-loop publishing, latency, loss, server memory and CPU."
)]
struct Cli {
    #[command(flatten)]
    args: bxpush_bench::BenchArgs,
}

fn main() -> ExitCode {
    match bxpush_bench::run(Cli::parse().args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("bxpush bench: {e}");
            ExitCode::FAILURE
        }
    }
}
