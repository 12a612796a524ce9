//! TEMPORARY stand-in for `bxcore::forward` until the core lands it.
#![allow(dead_code)]
use std::io;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use bxcore::handoff::{Item, PhpTarget, Query, Reply};

pub struct ForwarderConfig { pub target: PhpTarget, pub signature_key: Option<String>, pub spool_dir: PathBuf, pub queue_items: usize, pub queue_bytes: usize, pub connect_timeout: Duration }
#[derive(Debug)]
pub struct FlushReport;
impl FlushReport { pub fn complete(&self) -> bool { false } }
#[derive(Debug, Default)]
pub struct ForwarderStats { pub connected: bool, pub queued: u64, pub acked: u64, pub spooled: u64 }
#[derive(Debug)]
pub struct SubmitError;
impl std::fmt::Display for SubmitError { fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result { f.write_str("forwarder not implemented yet") } }
pub struct Forwarder;
impl Forwarder {
    pub fn global(_cfg: &ForwarderConfig) -> Arc<Forwarder> { Arc::new(Forwarder) }
    pub fn submit(&self, _item: Item) -> Result<(), SubmitError> { Err(SubmitError) }
    pub fn flush(&self, _t: Duration) -> FlushReport { FlushReport }
    pub fn stats(&self) -> ForwarderStats { ForwarderStats::default() }
    pub fn shutdown(&self, _t: Duration) -> FlushReport { FlushReport }
}
pub fn query(_t: &PhpTarget, _k: Option<&str>, _q: Query, _to: Duration) -> io::Result<Reply> { Err(io::Error::other("forwarder not implemented yet")) }
