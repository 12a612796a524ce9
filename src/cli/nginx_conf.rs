//! `bxpush nginx-conf`: print the nginx configuration for this bxpush (see
//! [`crate::nginx_snippet`]).

use std::process::ExitCode;

use clap::{Args, ValueEnum};

use super::target::ConfigArg;
use crate::nginx_snippet::{self, Options, Part};

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum PartArg {
    /// map + upstreams + a server {} with the push locations
    All,
    /// map + upstreams only (http context, /etc/nginx/conf.d/bxpush.conf)
    Http,
    /// the push locations only (include them inside your site's server {})
    Locations,
}

#[derive(Args, Debug)]
pub struct NginxConfArgs {
    #[command(flatten)]
    pub target: ConfigArg,
    /// server_name of the generated server {}.
    #[arg(long, default_value = "_")]
    pub server_name: String,
    /// Serve HTTPS: listen 443 ssl, with certificate lines to fill in.
    #[arg(long)]
    pub ssl: bool,
    /// The listen value of the server {} (default 80, or 443 ssl with --ssl), e.g.
    /// 127.0.0.1:8080.
    #[arg(long)]
    pub listen: Option<String>,
    /// Which part to print.
    #[arg(long, value_enum, default_value = "all")]
    pub part: PartArg,
}

pub fn run(args: NginxConfArgs) -> ExitCode {
    let target = match args.target.load() {
        Ok(t) => t,
        Err(e) => {
            eprintln!("bxpush nginx-conf: {e}");
            return ExitCode::from(2);
        }
    };
    let part = match args.part {
        PartArg::All => Part::All,
        PartArg::Http => Part::Http,
        PartArg::Locations => Part::Locations,
    };
    print!(
        "{}",
        nginx_snippet::render(
            &target.config,
            &Options {
                part,
                server_name: args.server_name,
                listen: args.listen,
                ssl: args.ssl,
                source: target.source,
            },
        )
    );
    ExitCode::SUCCESS
}
