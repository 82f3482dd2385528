//! A cardinality attack (issue 11): 100,000 distinct values of one segment dimension and 1,000,000
//! distinct customer ids through the decoder and the engine. Series stay within the cap (values
//! past it are `other`), the segment catalog holds at most `max_values + 1` labels per dimension,
//! and the figures printed are memory per customer and the time to render the segment gauges
//! (medians; no timing is asserted). One test in this binary, so its RSS is its own.

use std::collections::BTreeSet;
use std::time::Instant;

use cxpulse::config::Config;
use cxpulse::engine::{Engine, NoBoundaries, Outcome};
use cxpulse::event::Decoder;

const CUSTOMERS: usize = 1_000_000;
const PLAN_VALUES: usize = 100_000;
/// The replay benchmark's memory per tracked customer (README, Performance).
const BENCHMARK_BYTES_PER_CUSTOMER: f64 = 108.0;

fn rss_bytes() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let kb: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap();
    kb * 1024
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

#[test]
fn a_flood_of_segment_values_and_customers_stays_bounded() {
    let config = Config::builtin().unwrap();
    let engine = Engine::new(&config);
    let mut partition = engine.partition(0);
    let rules = engine.rule_evaluator();
    let decoder = Decoder::new(65_536, config.segments.dimensions.clone(), 300_000);
    let start_ms: i64 = 1_790_000_000_000;
    let mut effects = Vec::new();
    let mut line = String::new();
    let before = rss_bytes();
    for i in 0..CUSTOMERS {
        use std::fmt::Write;
        line.clear();
        let ts = start_ms + i as i64 * 50;
        write!(
            line,
            r#"{{"type":"interaction","kind":"login","customer_id":"attacker-{i:07}","ts":{ts},"segments":{{"plan":"made-up-{}","region":"r{}"}}}}"#,
            i % PLAN_VALUES,
            i % 7
        )
        .unwrap();
        let event = decoder.decode(line.as_bytes(), None).expect("valid event");
        let outcome = partition.apply(&event, &mut effects, &mut NoBoundaries);
        assert_eq!(outcome, Outcome::Accepted);
        effects.clear();
    }
    let after = rss_bytes();
    assert_eq!(partition.customer_count(), CUSTOMERS);
    let per_customer = after.saturating_sub(before) as f64 / CUSTOMERS as f64;

    // The catalog: `all`, then per dimension at most max_values labels plus `other`.
    let max_values = config.segments.max_values;
    let labels = engine.catalog.label_count();
    assert!(labels <= 1 + 2 * (max_values + 1), "catalog holds {labels} labels");

    let clock = partition.clock();
    let mut timings = Vec::new();
    let mut text = String::new();
    for _ in 0..5 {
        let started = Instant::now();
        text = engine.render_segments(&rules, clock);
        timings.push(started.elapsed().as_secs_f64() * 1000.0);
    }
    let plan_labels: BTreeSet<&str> = text
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| l.split_once("dimension=\"plan\",segment=\"")?.1.split('"').next())
        .collect();
    assert_eq!(plan_labels.len(), max_values + 1, "64 values plus `other`");
    assert!(plan_labels.contains("other"));
    assert!(!text.contains("attacker-"), "a customer id in the exposition");
    let series = text.lines().filter(|l| !l.starts_with('#') && !l.is_empty()).count();
    let other_customers = text
        .lines()
        .find_map(|l| {
            l.strip_prefix(r#"cxpulse_customers{dimension="plan",segment="other",state="active"} "#)?
                .parse::<f64>()
                .ok()
        })
        .unwrap();
    assert_eq!(other_customers as usize, CUSTOMERS - max_values * (CUSTOMERS / PLAN_VALUES));

    println!(
        "cardinality: {CUSTOMERS} customers, {PLAN_VALUES} plan values -> {labels} catalog labels, {series} series; \
         RSS {:.1} MiB -> {:.1} MiB, {per_customer:.0} bytes per customer (benchmark {BENCHMARK_BYTES_PER_CUSTOMER}); \
         segment exposition {} bytes, render median {:.1} ms of 5",
        before as f64 / 1048576.0,
        after as f64 / 1048576.0,
        text.len(),
        median(timings)
    );
    // Memory per customer within the benchmark's figure, with room for this being a debug build
    // and for the windows of the 64 + 1 + 7 segments.
    assert!(per_customer < 2.0 * BENCHMARK_BYTES_PER_CUSTOMER, "{per_customer:.0} bytes per customer");
}
