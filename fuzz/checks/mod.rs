//! The fuzz targets' check functions: one definition of each target, used by both runners.
//!
//! - `fuzz/fuzz_targets/<name>.rs`: libFuzzer through cargo-fuzz (nightly, by hand):
//!   `cargo +nightly fuzz run <name>` in fuzz/.
//! - `tests/fuzz_props.rs`: stable `cargo test`, over the committed corpus
//!   (`fuzz/corpus/<name>/`) plus a bounded number of generated and mutated inputs.
//!
//! Each check takes the raw input bytes and panics when a property of its parser does not
//! hold (see each module's doc for what it asserts, beyond "does not crash"). Both runners
//! install [`alloc::Counting`] as the global allocator, so checks can bound memory.
#![allow(dead_code)]

pub mod alloc;
pub mod config;
pub mod descriptor;
pub mod handoff_frame;
pub mod handoff_item;
pub mod log;
pub mod query;
pub mod request_batch;
pub mod seeds;
pub mod spool;
pub mod ws_frames;

use bxpush::protocol::{SignatureAlgo, Signer};

/// A target's check: panics when a property does not hold for this input.
pub type Check = fn(&[u8]);

/// Every target: its name (the cargo-fuzz target and corpus directory) and its check.
pub const TARGETS: &[(&str, Check)] = &[
    ("query", query::check),
    ("descriptor", descriptor::check),
    ("request_batch", request_batch::check),
    ("ws_frames", ws_frames::check),
    ("handoff_frame", handoff_frame::check),
    ("handoff_item", handoff_item::check),
    ("spool", spool::check),
    ("config_json", config::check_json),
    ("config_toml", config::check_toml),
    ("log_recover", log::check_recover),
    ("log_file", log::check_file),
];

/// The signature key the checks sign and verify with.
pub const KEY: &str = "fuzz-signature-key";

pub fn signer() -> Signer {
    Signer::new(KEY, SignatureAlgo::Sha1)
}

/// The check of target `name`.
pub fn target(name: &str) -> Check {
    TARGETS
        .iter()
        .find(|(n, _)| *n == name)
        .unwrap_or_else(|| panic!("no fuzz target {name}"))
        .1
}
