#![no_main]
// The check is defined once, in checks/ (also run on stable by tests/fuzz_props.rs).
#[path = "../checks/mod.rs"]
mod checks;

#[global_allocator]
static ALLOC: checks::alloc::Counting = checks::alloc::Counting;

libfuzzer_sys::fuzz_target!(|data: &[u8]| checks::target("request_batch")(data));
