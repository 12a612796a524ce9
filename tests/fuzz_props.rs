//! The fuzz targets on stable: each target's check (fuzz/checks/, the same function
//! libFuzzer runs) over its seeds, its committed corpus (fuzz/corpus/<target>/, found by
//! cargo-fuzz runs) and a bounded number of inputs mutated from them or random, for a
//! couple of seconds per target. A failing input is written to
//! target/fuzz-failures/<target>-<hash> and named in the panic, so that it can be added to
//! the corpus as a regression input (and replayed with `cargo +nightly fuzz run <target>
//! <file>`).
//!
//! Env: BXPUSH_FUZZ_SECONDS (default 2) per target; BXPUSH_FUZZ_SEED to replay a run;
//! BXPUSH_FUZZ_WRITE_SEEDS=1 also writes the seeds into the corpus directories.

#[path = "../fuzz/checks/mod.rs"]
mod checks;

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

#[global_allocator]
static ALLOC: checks::alloc::Counting = checks::alloc::Counting;

/// Generated inputs per target at most (the time budget usually ends the loop first).
const MAX_GENERATED: usize = 20_000;
const MAX_LEN: usize = 4096;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn corpus(name: &str) -> Vec<Vec<u8>> {
    let dir = root().join("fuzz/corpus").join(name);
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .map(|d| d.filter_map(|e| e.ok()).map(|e| e.path()).collect())
        .unwrap_or_default();
    files.sort();
    files.iter().map(|p| std::fs::read(p).unwrap()).collect()
}

fn save_failure(name: &str, input: &[u8]) -> PathBuf {
    let dir = root().join("target/fuzz-failures");
    std::fs::create_dir_all(&dir).unwrap();
    let p = dir.join(format!("{name}-{:08x}", crc32fast::hash(input)));
    std::fs::write(&p, input).unwrap();
    p
}

/// One libFuzzer-style mutation of `base` (or of a splice with `other`).
fn mutate(rng: &mut StdRng, base: &[u8], other: &[u8]) -> Vec<u8> {
    let mut v = base.to_vec();
    for _ in 0..rng.random_range(1..=4) {
        match rng.random_range(0..8) {
            0 if !v.is_empty() => {
                let i = rng.random_range(0..v.len());
                v[i] ^= 1 << rng.random_range(0..8);
            }
            1 if !v.is_empty() => {
                let i = rng.random_range(0..v.len());
                v[i] = rng.random();
            }
            2 if v.len() < MAX_LEN => {
                let i = rng.random_range(0..=v.len());
                v.insert(i, rng.random());
            }
            3 if !v.is_empty() => {
                let i = rng.random_range(0..v.len());
                let n = rng.random_range(1..=(v.len() - i).min(16));
                v.drain(i..i + n);
            }
            4 if !v.is_empty() => {
                v.truncate(rng.random_range(0..v.len()));
            }
            5 if !other.is_empty() => {
                let cut = rng.random_range(0..=v.len());
                let from = rng.random_range(0..other.len());
                v.truncate(cut);
                v.extend_from_slice(&other[from..]);
                v.truncate(MAX_LEN);
            }
            6 if v.len() >= 4 => {
                // An interesting integer over 1, 2 or 4 bytes (lengths, counts).
                let i = rng.random_range(0..v.len() - 3);
                let x: [u32; 6] = [0, 1, 0x7f, 0xffff, 0x7fff_ffff, u32::MAX];
                let x = x[rng.random_range(0..x.len())].to_be_bytes();
                let w = [1, 2, 4][rng.random_range(0..3)];
                v[i..i + w].copy_from_slice(&x[4 - w..]);
            }
            _ => {
                let i = rng.random_range(0..=v.len());
                let chunk = other.get(..other.len().min(8)).unwrap_or(&[]).to_vec();
                v.splice(i..i, chunk);
                v.truncate(MAX_LEN);
            }
        }
    }
    v
}

fn run(name: &str) {
    let check = checks::target(name);
    let seeds = checks::seeds::seeds(name);
    if std::env::var_os("BXPUSH_FUZZ_WRITE_SEEDS").is_some() {
        let dir = root().join("fuzz/corpus").join(name);
        std::fs::create_dir_all(&dir).unwrap();
        for s in &seeds {
            std::fs::write(dir.join(format!("seed-{:08x}", crc32fast::hash(s))), s).unwrap();
        }
    }
    let mut pool = seeds;
    pool.extend(corpus(name));
    let fixed = pool.len();

    let seed: u64 = std::env::var("BXPUSH_FUZZ_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(rand::random);
    let secs: f64 = std::env::var("BXPUSH_FUZZ_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(2.0);
    let budget = Duration::from_secs_f64(secs);
    let mut rng = StdRng::seed_from_u64(seed);

    let attempt = |input: &[u8], what: &str| {
        if catch_unwind(AssertUnwindSafe(|| check(input))).is_err() {
            let p = save_failure(name, input);
            panic!(
                "fuzz target {name}: {what} failed (input saved as {}; seed {seed})",
                p.display()
            );
        }
    };
    for (i, input) in pool.iter().enumerate() {
        attempt(
            input,
            if i < fixed {
                "seed or corpus input"
            } else {
                "input"
            },
        );
    }
    let start = Instant::now();
    let mut n = 0;
    while n < MAX_GENERATED && start.elapsed() < budget {
        let input = if rng.random_ratio(1, 8) || pool.is_empty() {
            let len = rng.random_range(0..256);
            (0..len).map(|_| rng.random()).collect()
        } else {
            let a = &pool[rng.random_range(0..pool.len())];
            let b = &pool[rng.random_range(0..pool.len())];
            mutate(&mut rng, a, b)
        };
        attempt(&input, "generated input");
        n += 1;
    }
    eprintln!(
        "fuzz target {name}: {fixed} seed/corpus inputs, {n} generated in {:.1}s (seed {seed})",
        start.elapsed().as_secs_f64()
    );
    assert!(fixed > 0 && n > 0, "{name}: nothing was run");
}

macro_rules! targets {
    ($($name:ident),* $(,)?) => {
        $( #[test] fn $name() { run(stringify!($name)); } )*

        /// Every target in checks::TARGETS has a test here (and a cargo-fuzz binary).
        #[test]
        fn every_target_is_run() {
            let here = [$(stringify!($name)),*];
            for (t, _) in checks::TARGETS {
                assert!(here.contains(t), "target {t} has no test in tests/fuzz_props.rs");
                assert!(
                    Path::new(&root().join("fuzz/fuzz_targets").join(format!("{t}.rs"))).exists(),
                    "target {t} has no fuzz/fuzz_targets/{t}.rs"
                );
            }
            assert_eq!(here.len(), checks::TARGETS.len());
        }
    };
}

targets!(
    query,
    descriptor,
    request_batch,
    ws_frames,
    handoff_frame,
    handoff_item,
    spool,
    config_json,
    config_toml,
    log_recover,
    log_file,
);
