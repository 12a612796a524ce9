//! The last warnings and errors, for the status page: operators open the page when
//! something is wrong, and the journal may be on another machine or rotated.
//!
//! Fed two ways: [`RecentLayer`] takes every WARN/ERROR log event (whatever the log
//! filter), and [`note`] takes events logged at debug on purpose (a client's bad request)
//! that are still worth showing there.

use std::collections::VecDeque;
#[cfg(feature = "cli")]
use std::fmt::Write as _;

use parking_lot::Mutex;
use serde::Serialize;
#[cfg(feature = "cli")]
use tracing::field::{Field, Visit};
#[cfg(feature = "cli")]
use tracing::{Event, Level, Subscriber};
#[cfg(feature = "cli")]
use tracing_subscriber::layer::Context;

/// Entries kept; the oldest goes first.
pub const KEEP: usize = 50;

#[derive(Debug, Clone, Serialize)]
pub struct Entry {
    /// Unix milliseconds.
    pub time_ms: u64,
    /// `warn`, `error` or `client` (a bad request, logged at debug).
    pub level: &'static str,
    pub text: String,
}

static RING: Mutex<VecDeque<Entry>> = Mutex::new(VecDeque::new());

/// Remember one entry.
pub fn note(level: &'static str, text: String) {
    let mut ring = RING.lock();
    if ring.len() == KEEP {
        ring.pop_front();
    }
    ring.push_back(Entry {
        time_ms: crate::hub::now_ms(),
        level,
        text,
    });
}

/// The kept entries, newest last.
pub fn entries() -> Vec<Entry> {
    RING.lock().iter().cloned().collect()
}

/// A tracing layer that copies WARN and ERROR events into the ring.
#[cfg(feature = "cli")]
pub struct RecentLayer;

#[cfg(feature = "cli")]
impl<S: Subscriber> tracing_subscriber::Layer<S> for RecentLayer {
    fn on_event(&self, event: &Event<'_>, _ctx: Context<'_, S>) {
        let level = match *event.metadata().level() {
            Level::ERROR => "error",
            Level::WARN => "warn",
            _ => return,
        };
        let mut line = Line::default();
        event.record(&mut line);
        note(level, line.0);
    }
}

/// `message key=value …`, as the text log shows it.
#[cfg(feature = "cli")]
#[derive(Default)]
struct Line(String);

#[cfg(feature = "cli")]
impl Visit for Line {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            let rest = std::mem::take(&mut self.0);
            let _ = write!(self.0, "{value:?}");
            if !rest.is_empty() {
                self.0.push(' ');
                self.0.push_str(&rest);
            }
        } else {
            if !self.0.is_empty() {
                self.0.push(' ');
            }
            let _ = write!(self.0, "{}={value:?}", field.name());
        }
    }

    // Strings without the quotes Debug would add.
    fn record_str(&mut self, field: &Field, value: &str) {
        self.record_debug(field, &format_args!("{value}"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_ring_keeps_the_newest() {
        for i in 0..(KEEP + 5) {
            note("client", format!("ring-test {i}"));
        }
        let mine: Vec<_> = entries()
            .into_iter()
            .filter(|e| e.text.starts_with("ring-test"))
            .collect();
        assert!(mine.len() <= KEEP);
        assert_eq!(mine.last().unwrap().text, format!("ring-test {}", KEEP + 4));
    }
}
