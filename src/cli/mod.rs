//! Subcommands for the operator's shell, besides `serve`: `nginx-conf`, `doctor`, `send`
//! and `stats`. Each reads the same config file as `bxpush serve` ([`target`]) so it
//! talks to the server the unit runs, and prints an answer that names the fix.

pub mod http;
pub mod nginx_conf;
pub mod send;
pub mod stats;
pub mod target;
