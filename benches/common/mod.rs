//! The timing helper of the `cargo bench` targets: several samples of a batch of operations,
//! the median printed per operation. Nothing is asserted (the machine is shared and noisy).
//!
//! Samples are timed in this thread's CPU time (`CLOCK_THREAD_CPUTIME_ID`), so other work on a
//! shared machine does not count while this thread waits for a core; with `CXPULSE_BENCH_WALL=1`,
//! in wall-clock time.

// Each bench uses a subset of these helpers.
#![allow(dead_code)]

use std::time::Instant;

/// Nanoseconds on a clock that runs while this thread runs (CPU time), or wall time.
fn now_ns() -> u128 {
    thread_cpu_ns().unwrap_or_else(|| {
        static START: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();
        START.get_or_init(Instant::now).elapsed().as_nanos()
    })
}

fn thread_cpu_ns() -> Option<u128> {
    if std::env::var_os("CXPULSE_BENCH_WALL").is_some() {
        return None;
    }
    let mut t = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: `t` is a valid timespec for the call to write into.
    let ok = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut t) } == 0;
    ok.then(|| t.tv_sec as u128 * 1_000_000_000 + t.tv_nsec as u128)
}

/// What the medians are measured in.
pub fn clock_name() -> &'static str {
    if thread_cpu_ns().is_some() {
        "thread CPU time"
    } else {
        "wall time"
    }
}

/// Samples per measurement; `CXPULSE_BENCH_SAMPLES` overrides.
pub fn samples() -> usize {
    std::env::var("CXPULSE_BENCH_SAMPLES").ok().and_then(|s| s.parse().ok()).unwrap_or(11)
}

/// Median nanoseconds per operation of `run`, which performs `ops` operations per call.
pub fn median_ns(ops: u64, mut run: impl FnMut()) -> f64 {
    run(); // warm-up
    let mut per_op: Vec<f64> = (0..samples())
        .map(|_| {
            let t = now_ns();
            run();
            (now_ns() - t) as f64 / ops.max(1) as f64
        })
        .collect();
    per_op.sort_by(f64::total_cmp);
    per_op[per_op.len() / 2]
}

/// Prints one measurement: name, median ns per operation and operations per second.
pub fn report(name: &str, ns: f64) {
    println!("{name:<58} {ns:>12.1} ns/op {:>14.0} ops/s (median of {}, {})", 1e9 / ns, samples(), clock_name());
}

/// Prints a ratio between two measurements of the same run.
pub fn ratio(name: &str, a: f64, b: f64) {
    println!("{name:<58} {:>12.2}", a / b);
}

/// Median nanoseconds per operation of `run`, given fresh input from `setup` (not timed) for each
/// sample; `run` performs `ops` operations.
pub fn median_ns_with<T>(ops: u64, mut setup: impl FnMut(usize) -> T, mut run: impl FnMut(T)) -> f64 {
    run(setup(0)); // warm-up
    let mut per_op: Vec<f64> = (1..=samples())
        .map(|s| {
            let input = setup(s);
            let t = now_ns();
            run(input);
            (now_ns() - t) as f64 / ops.max(1) as f64
        })
        .collect();
    per_op.sort_by(f64::total_cmp);
    per_op[per_op.len() / 2]
}

/// A UUID-shaped (8-4-4-4-12 hex) customer id for customer `i`.
pub fn uuid(i: u64) -> String {
    let x = i.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    format!("{:08x}-{:04x}-4{:03x}-a{:03x}-{:012x}", x >> 32, (x >> 16) & 0xffff, x & 0xfff, i & 0xfff, i)
}
