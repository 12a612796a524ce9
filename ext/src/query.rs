//! Questions to the owner (channel presence, tag watchers, server stats), with the one
//! timeout they all get.

use std::time::Duration;

use bxcore::handoff::{Query, Reply};

use crate::{dispatch, settings};

/// How long a question may take: the connect timeout plus a second to answer.
fn timeout() -> Duration {
    Duration::from_millis(settings::get().connect_timeout_ms.max(100) + 1000)
}

/// Ask the owner (or the runtime this process hosts).
pub fn ask(q: Query) -> Result<Reply, String> {
    dispatch::query(q, timeout())
}
