//! `bxpush doctor`: finds the failures Bitrix administrators meet with push (bxpush down,
//! nginx cutting or buffering long polls, WebSocket headers missing, connection and
//! descriptor limits, a signature key that differs, events piling up in the spool) and
//! says for each what is wrong, why it matters and the exact fix. Exit 0 / 1 / 2 =
//! ok / warnings / errors.

pub mod checks;
pub mod nginx_checks;
pub mod nginx_conf_parser;
pub mod nginx_model;
pub mod report;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;

use crate::cli::target::ConfigArg;
use report::Finding;

/// Debian's main nginx config, used when --nginx-conf is not given and it exists.
const DEFAULT_NGINX: &str = "/etc/nginx/nginx.conf";
/// The extension's default spool directory.
const DEFAULT_SPOOL: &str = "/var/spool/bxpush";

#[derive(Args, Debug)]
pub struct DoctorArgs {
    #[command(flatten)]
    pub target: ConfigArg,
    /// The main nginx config (includes are followed). Default: /etc/nginx/nginx.conf if it
    /// exists.
    #[arg(long)]
    pub nginx_conf: Option<PathBuf>,
    /// php.ini files or conf.d directories of PHP-FPM (repeatable; later ones win).
    #[arg(long)]
    pub php_ini: Vec<PathBuf>,
    /// The site's document root: the pull module's options in bitrix/.settings.php.
    #[arg(long)]
    pub bitrix_root: Option<PathBuf>,
    /// Users expected online at once: checks nginx's and bxpush's connection and file limits.
    #[arg(long)]
    pub expect_users: Option<u64>,
    /// Machine-readable output.
    #[arg(long)]
    pub json: bool,
}

pub fn run(args: DoctorArgs) -> ExitCode {
    let target = match args.target.load() {
        Ok(t) => t,
        Err(e) => {
            eprintln!("bxpush doctor: {e}");
            return ExitCode::from(2);
        }
    };
    let c = &target.config;
    let mut findings: Vec<Finding> = Vec::new();
    let stat = checks::server_stat(c);
    findings.extend(checks::runtime(c, &target.source, &stat));
    findings.extend(checks::bxpush_limits(c, &stat, args.expect_users));
    findings.extend(checks::node_redis(&target.source, c));
    let nginx = args
        .nginx_conf
        .clone()
        .or_else(|| Some(PathBuf::from(DEFAULT_NGINX)).filter(|p| p.exists()));
    match &nginx {
        Some(p) => findings.extend(nginx_checks::check(p, c, args.expect_users)),
        None => findings.push(
            Finding::warning(
                "nginx",
                "no nginx config checked (/etc/nginx/nginx.conf does not exist)",
                "nginx timeouts, buffering and WebSocket headers are the most common push failures",
            )
            .fix("bxpush doctor --nginx-conf /path/to/nginx.conf"),
        ),
    }
    let ini = if args.php_ini.is_empty() {
        None
    } else {
        match checks::read_php_ini(&args.php_ini) {
            Ok(i) => Some(i),
            Err(e) => {
                findings.push(
                    Finding::error("php", e, "the PHP side cannot be checked")
                        .fix("pass readable files to --php-ini"),
                );
                None
            }
        }
    };
    let pull = match &args.bitrix_root {
        Some(root) => {
            match checks::read_pull_options(root) {
                Ok(p) => Some(p),
                Err(e) => {
                    findings.push(Finding::warning("signature", e, "the pull module's key cannot be compared").fix("bxpush doctor --bitrix-root /var/www/site (the directory holding bitrix/)"));
                    None
                }
            }
        }
        None => None,
    };
    findings.extend(checks::signature(
        c,
        &target.source,
        ini.as_ref(),
        pull.as_ref(),
    ));
    let spool_dir = ini
        .as_ref()
        .and_then(|i| {
            i.values
                .get("bxpush.spool_dir")
                .map(|v| PathBuf::from(&v.0))
        })
        .unwrap_or_else(|| PathBuf::from(DEFAULT_SPOOL));
    findings.extend(checks::spool(&spool_dir, stat.is_ok()));

    let code = report::exit_code(&findings);
    if args.json {
        println!("{}", report::json(&findings, &target.source));
    } else {
        print!(
            "{}",
            report::text(
                &findings,
                &format!("bxpush doctor: config {}", target.source)
            )
        );
    }
    ExitCode::from(code)
}
