//! The engine's hot paths: a customer update (one event applied to a known customer), a window
//! update (one bucket change in every window of a segment), the inactivity index (filing and
//! taking due hours), and the cost of a clock advance when no deadline is due with 100 k and
//! 10 M idle customers (`CXPULSE_BENCH_BIG` overrides 10 M).
//!
//! `cargo bench --bench engine`

mod common;

use common::{median_ns, median_ns_with, ratio, report, uuid};
use compact_str::CompactString;
use cxpulse::alert::Effect;
use cxpulse::config::Config;
use cxpulse::engine::{Engine, NoBoundaries, Partition};
use cxpulse::event::{Decoder, Event};
use cxpulse::state::inactivity_index::NOT_FILED;
use cxpulse::state::InactivityIndex;
use cxpulse::window::SegmentPartial;

const T0: i64 = 1_767_225_600_000;
const HOUR: i64 = 3_600_000;

fn event(decoder: &Decoder, customer: u64, ts: i64, i: u64) -> Event {
    let body = match i % 4 {
        0 => r#""type":"survey","survey":"nps","score":9"#,
        1 => r#""type":"interaction","kind":"purchase","amount":12.5"#,
        2 => r#""type":"interaction","kind":"session","duration_seconds":312.5"#,
        _ => r#""type":"interaction","kind":"login""#,
    };
    let line = format!(
        r#"{{{body},"customer_id":"{}","ts":{ts},"event_id":"e{i}","segments":{{"plan":"p{}","region":"r{}"}}}}"#,
        uuid(customer),
        customer % 4,
        customer % 6
    );
    decoder.decode(line.as_bytes(), None).expect("valid bench event")
}

/// A partition holding `n` customers, each seen once at about T0.
fn partition_with(engine: &Engine, decoder: &Decoder, n: u64) -> Partition {
    let mut p = engine.partition(0);
    let mut effects: Vec<Effect> = Vec::new();
    for c in 0..n {
        p.apply(&event(decoder, c, T0 + (c as i64 % 60_000), c), &mut effects, &mut NoBoundaries);
        effects.clear();
    }
    p
}

fn customer_update(engine: &Engine, decoder: &Decoder) {
    const CUSTOMERS: u64 = 100_000;
    const EVENTS: u64 = 100_000;
    let mut p = partition_with(engine, decoder, CUSTOMERS);
    let mut effects = Vec::new();
    // Each sample: events of known customers, one a millisecond, an hour after the previous sample.
    let ns = median_ns_with(
        EVENTS,
        |s| {
            let start = T0 + HOUR * (1 + s as i64);
            (0..EVENTS).map(|i| event(decoder, (i * 7919) % CUSTOMERS, start + i as i64, i)).collect::<Vec<_>>()
        },
        |events| {
            for e in &events {
                std::hint::black_box(p.apply(e, &mut effects, &mut NoBoundaries));
                effects.clear();
            }
        },
    );
    report("customer update (apply, 100k known customers)", ns);
}

fn window_update(engine: &Engine) {
    const OPS: u64 = 1_000_000;
    let mut partial = SegmentPartial::new(&engine.settings.windows);
    let mut t = T0;
    let ns = median_ns(OPS, || {
        for i in 0..OPS {
            t += 7; // about two hours per sample: buckets recycle as in a stream
            partial.update(t, |a| a.interactions[(i % 9) as usize] += 1);
        }
    });
    report("window update (one change in all 4 default windows)", ns);
}

fn inactivity_index() {
    const IDS: u64 = 200_000;
    let ids: Vec<CompactString> = (0..IDS).map(|i| CompactString::from(uuid(i))).collect();
    let ns = median_ns(IDS, || {
        let mut index = InactivityIndex::default();
        let mut filed = vec![NOT_FILED; IDS as usize];
        for (i, id) in ids.iter().enumerate() {
            index.file(i as u32, id, T0 + 14 * 24 * HOUR + (i as i64 * 997) % (48 * HOUR), &mut filed[i]);
        }
        let mut taken = 0;
        while let Some((_, due)) = index.take_reached_hour(T0 + 20 * 24 * HOUR) {
            taken += due.len();
        }
        std::hint::black_box(taken);
    });
    report("inactivity index (file, then take its hour), per customer", ns);
}

/// Median cost of moving the clock one minute when nothing comes due, with `n` customers.
fn clock_advance(engine: &Engine, decoder: &Decoder, n: u64) -> f64 {
    let mut p = partition_with(engine, decoder, n);
    let mut effects = Vec::new();
    let mut clock = p.clock();
    const STEPS: u64 = 100_000;
    median_ns(STEPS, || {
        for _ in 0..STEPS {
            clock += 1_000; // a second a step: 100 k steps stay within the first days, far from 14d
            p.advance_to(clock, &mut effects, &mut NoBoundaries);
        }
    })
}

fn main() {
    let config = Config::builtin().expect("built-in config");
    let engine = Engine::new(&config);
    let decoder = Decoder::new(config.limits.max_event_bytes, config.segments.dimensions.clone(), 0);
    customer_update(&engine, &decoder);
    window_update(&engine);
    inactivity_index();
    let big: u64 = std::env::var("CXPULSE_BENCH_BIG").ok().and_then(|s| s.parse().ok()).unwrap_or(10_000_000);
    let small = clock_advance(&Engine::new(&config), &decoder, 100_000);
    report("clock advance, nothing due, 100k idle customers", small);
    let large = clock_advance(&Engine::new(&config), &decoder, big);
    report(&format!("clock advance, nothing due, {big} idle customers"), large);
    ratio(&format!("clock advance {big} / 100k"), large, small);
}
