//! How `bxpush` writes its log: to stderr, one line per event an operator should read
//! (start, stop, configuration problems, store errors). Per-connection noise (resets,
//! disconnects, a client's bad request) is logged at debug and counted in `/metrics`.
//!
//! - `BXPUSH_LOG`: the filter (`info` by default; `debug`, `bxpush=debug,hyper=info`, …).
//! - `BXPUSH_LOG_FORMAT`: `text` (default) or `json` (one JSON object per line, for log
//!   shippers).
//! - Colour only when stderr is a terminal and `NO_COLOR` is unset: a redirected log
//!   (systemd, `make run > file`) holds no escape codes.
//!
//! Warnings and errors are also kept in a small ring ([`recent`]) that the status page
//! shows, so an operator sees them without reading the journal.

//!
//! The subscriber is the binary's (feature `cli`); the ring is the library's, so a runtime
//! hosted by the PHP extension keeps it too (fed by [`recent::note`] only).

pub mod recent;
pub mod streak;

#[cfg(feature = "cli")]
use std::io::IsTerminal;

#[cfg(feature = "cli")]
use tracing_subscriber::layer::SubscriberExt;
#[cfg(feature = "cli")]
use tracing_subscriber::util::SubscriberInitExt;
#[cfg(feature = "cli")]
use tracing_subscriber::{EnvFilter, Layer};

/// The line format of the log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Text,
    Json,
}

impl Format {
    /// `BXPUSH_LOG_FORMAT`'s value; an unknown one is refused with the accepted values.
    pub fn parse(value: Option<&str>) -> Result<Format, String> {
        match value.map(str::trim) {
            None | Some("") | Some("text") => Ok(Format::Text),
            Some("json") => Ok(Format::Json),
            Some(other) => Err(format!(
                "BXPUSH_LOG_FORMAT={other:?} is not a log format: use text (the default) or json"
            )),
        }
    }
}

#[cfg(feature = "cli")]
/// Whether escape codes may be written: stderr is a terminal and `NO_COLOR` is not set
/// (https://no-color.org).
pub fn use_colour() -> bool {
    std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
}

#[cfg(feature = "cli")]
/// Install the global subscriber from the environment. Errors name the variable and the
/// accepted values; the caller prints them and exits.
pub fn init_from_env() -> Result<(), String> {
    let format = Format::parse(std::env::var("BXPUSH_LOG_FORMAT").ok().as_deref())?;
    let filter = match std::env::var("BXPUSH_LOG") {
        Ok(v) if !v.trim().is_empty() => EnvFilter::try_new(&v).map_err(|e| {
            format!("BXPUSH_LOG={v:?} is not a log filter ({e}): use a level such as info or debug, or target=level pairs")
        })?,
        _ => EnvFilter::new("info"),
    };
    let lines = match format {
        Format::Text => tracing_subscriber::fmt::layer()
            .with_writer(std::io::stderr)
            .with_ansi(use_colour())
            .boxed(),
        Format::Json => tracing_subscriber::fmt::layer()
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .with_span_list(false)
            .with_writer(std::io::stderr)
            .boxed(),
    };
    tracing_subscriber::registry()
        .with(lines.with_filter(filter))
        .with(recent::RecentLayer)
        .try_init()
        .map_err(|e| format!("cannot install the logger: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn format_names_the_accepted_values() {
        assert_eq!(Format::parse(None).unwrap(), Format::Text);
        assert_eq!(Format::parse(Some("json")).unwrap(), Format::Json);
        let e = Format::parse(Some("yaml")).unwrap_err();
        assert!(e.contains("text") && e.contains("json"), "{e}");
    }
}
