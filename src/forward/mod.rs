//! The worker side of the PHP hand-off: a PHP-FPM worker hands [`Item`]s to the owner
//! process without ever blocking on the network, and without losing them.
//!
//! - [`Forwarder::submit`] (PHP thread): encode the item, push the bytes into a bounded
//!   in-memory queue, wake the forwarder thread. When the queue is full, the whole queue
//!   and the item are written to the spool directory instead (in order; see below).
//! - The forwarder thread (started lazily by the first submit or flush, all signals
//!   blocked) connects to the owner, sends batches, and drops items from the queue as the
//!   owner acknowledges them. Before each batch it checks the spool directory and replays
//!   every spool file (of any worker), in name order, under an exclusive `flock`.
//! - [`Forwarder::flush`] (RSHUTDOWN, MSHUTDOWN): wait until everything submitted so far is
//!   acknowledged, at most `timeout`; whatever is not is written to the spool directory.
//!
//! Exactly-once and order: every item carries (origin, seq): origin is random per
//! forwarder instance, seq counts its items from 1. The owner applies items of an origin
//! only if their seq is above the highest it has applied, so a resend after a lost ack,
//! or a spooled copy of an item that did arrive, is skipped. The forwarder keeps one
//! origin's items in seq order on every path: the queue is only ever spooled whole (so a
//! spool file holds a contiguous range and everything after it is still in memory), and
//! the thread sends nothing from memory while a spool file of its own origin is waiting.
//!
//! Plain std threads and sockets: no tokio in the worker process. Every wait is bounded
//! and the thread notices a stop within about 50 ms ([`link::SLICE`]).
//!
//! Files: [`config`] (settings and their defaults), `forwarder` (the PHP thread's calls),
//! `queue` (the state shared with the thread), `thread` (the forwarder thread's loop),
//! [`link`] (one connection), [`spool`] (the directory), `query` (a question to the
//! owner), [`registry`] (the process's forwarder and the fork rule).

pub mod config;
mod forwarder;
pub mod link;
mod query;
mod queue;
pub mod registry;
pub mod spool;
mod thread;

pub use config::{ForwarderConfig, Owners};
pub use forwarder::{FlushReport, Forwarder, ForwarderStats, SubmitError, MAX_ITEM_BYTES};
pub use query::{query, query_owners};
pub use registry::PerProcess;
