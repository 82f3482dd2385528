//! `/metrics` exposition: every segment gauge in all default windows with 200 segments, each with
//! figures in every window, rendered as Prometheus text.
//!
//! `cargo bench --bench exposition`

mod common;

use common::{median_ns, report, uuid};
use cxpulse::config::Config;
use cxpulse::engine::{Engine, NoBoundaries};
use cxpulse::event::Decoder;

const T0: i64 = 1_767_225_600_000;

fn main() {
    let mut config = Config::builtin().expect("built-in config");
    // 4 dimensions × 50 values = 200 segments (plus `all`).
    config.segments.dimensions = ["plan", "region", "channel", "country"].map(String::from).to_vec();
    let engine = Engine::new(&config);
    let decoder = Decoder::new(config.limits.max_event_bytes, config.segments.dimensions.clone(), 0);
    let mut p = engine.partition(0);
    let mut effects = Vec::new();
    let bodies = [
        r#""type":"survey","survey":"nps","score":9"#,
        r#""type":"survey","survey":"csat","score":4"#,
        r#""type":"survey","survey":"ces","score":3"#,
        r#""type":"interaction","kind":"purchase","amount":12.5"#,
        r#""type":"interaction","kind":"session","duration_seconds":312.5"#,
        r#""type":"interaction","kind":"login""#,
    ];
    // 20 000 customers over 40 days, so every window of every segment has figures.
    let events = 200_000u64;
    for i in 0..events {
        let c = i % 20_000;
        let ts = T0 + (i as i64) * (40 * 86_400_000 / events as i64);
        let (a, b, d, e) = (c % 50, (c / 50) % 50, (c / 7) % 50, (c / 11) % 50);
        let line = format!(
            r#"{{{},"customer_id":"{}","ts":{ts},"segments":{{"plan":"p{a}","region":"r{b}","channel":"c{d}","country":"k{e}"}}}}"#,
            bodies[(i % 6) as usize],
            uuid(c)
        );
        let event = decoder.decode(line.as_bytes(), None).expect("valid bench event");
        p.apply(&event, &mut effects, &mut NoBoundaries);
        effects.clear();
    }
    let segments = engine.catalog.all_segments().len();
    let rules = engine.rule_evaluator();
    let at = p.clock();
    let text = engine.render_segments(&rules, at);
    println!(
        "{segments} segments (with `all`), {} series, {} bytes",
        text.lines().filter(|l| !l.starts_with('#')).count(),
        text.len()
    );
    let ns = median_ns(1, || {
        std::hint::black_box(engine.render_segments(&rules, at).len());
    });
    report(&format!("/metrics segment exposition, {segments} segments, 4 windows"), ns);
    println!("{:<58} {:>12.2} ms", "exposition time (median)", ns / 1e6);
}
