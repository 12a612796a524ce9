//! This request's queue of events (the compat classes' `Event::add`, `CPullWatch::AddToStack`,
//! …): a [`RequestQueue`] per PHP thread, sent in order by `Event::send()`,
//! `CPullStack::Send()`, `BxPush\flush()` or at the end of the request.

use std::cell::RefCell;

use bxcore::handoff::queue::RequestQueue;

use crate::{dispatch, php};

thread_local! {
    static QUEUE: RefCell<RequestQueue> = RefCell::new(RequestQueue::default());
}

/// Run `f` on this request's queue (`f` must not call PHP: the queue is borrowed).
pub fn with<R>(f: impl FnOnce(&mut RequestQueue) -> R) -> R {
    QUEUE.with(|q| f(&mut q.borrow_mut()))
}

/// Number of queued events (for `BxPush\status()`, `Event::getQueueSize()`).
pub fn len() -> usize {
    with(|q| q.len())
}

/// Send everything queued, in order. On a failure the unsent rest stays queued.
pub fn flush() -> Result<usize, String> {
    let items = with(RequestQueue::take_all);
    let total = items.len();
    let mut it = items.into_iter();
    let mut sent = 0;
    while let Some(item) = it.next() {
        if let Err(e) = dispatch::submit(item.clone()) {
            let unsent: Vec<_> = std::iter::once(item).chain(it).collect();
            with(|q| q.restore(unsent));
            return Err(format!(
                "{e} ({} of {total} queued events not sent)",
                total - sent
            ));
        }
        sent += 1;
    }
    Ok(sent)
}

/// RSHUTDOWN: send what is still queued (never dropped silently: a failure is a warning).
pub fn request_end() {
    if len() > 0 {
        if let Err(e) = flush() {
            php::warning(&format!(
                "bxpush: events queued by this request could not be sent at its end: {e}"
            ));
            with(|q| *q = RequestQueue::default());
        }
    }
}
