//! A counting allocator, so that a check can assert "the parser never allocates beyond its
//! limit" instead of only "it does not crash". Each binary that runs the checks (every
//! fuzz target, tests/fuzz_props.rs) installs [`Counting`] as its global allocator; the
//! count is per thread, so parallel tests do not see each other's allocations.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::atomic::{AtomicBool, Ordering};

pub struct Counting;

static INSTALLED: AtomicBool = AtomicBool::new(false);

thread_local! {
    /// Bytes allocated minus freed on this thread since the scope began (frees of older
    /// memory make it negative).
    static LIVE: Cell<isize> = const { Cell::new(0) };
    static PEAK: Cell<isize> = const { Cell::new(0) };
}

fn grew(n: usize) {
    let _ = LIVE.try_with(|l| {
        let v = l.get() + n as isize;
        l.set(v);
        let _ = PEAK.try_with(|p| p.set(p.get().max(v)));
    });
}

fn shrank(n: usize) {
    let _ = LIVE.try_with(|l| l.set(l.get() - n as isize));
}

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        INSTALLED.store(true, Ordering::Relaxed);
        grew(layout.size());
        unsafe { System.alloc(layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        INSTALLED.store(true, Ordering::Relaxed);
        grew(layout.size());
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        shrank(layout.size());
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        grew(new_size);
        shrank(layout.size());
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

/// Run `f` and return its result with the most bytes it held allocated at once on this
/// thread. Panics when [`Counting`] is not the global allocator: a bound checked against
/// a counter that never counts would pass vacuously.
pub fn peak_during<R>(f: impl FnOnce() -> R) -> (R, usize) {
    let _probe = Box::new(0u64);
    assert!(
        INSTALLED.load(Ordering::Relaxed),
        "checks::alloc::Counting must be the #[global_allocator] of this binary"
    );
    LIVE.with(|l| l.set(0));
    PEAK.with(|p| p.set(0));
    let r = f();
    let peak = PEAK.with(|p| p.get()).max(0) as usize;
    (r, peak)
}

/// Assert that `f` held at most `limit` bytes at once.
pub fn bounded<R>(what: &str, limit: usize, f: impl FnOnce() -> R) -> R {
    let (r, peak) = peak_during(f);
    assert!(
        peak <= limit,
        "{what}: allocated {peak} bytes at once, over its bound of {limit}"
    );
    r
}
