//! Property tests: the incremental bucket rings equal a naive recomputation over the same events
//! (the confidence intervals from sums of squares included), and processing order within a bucket
//! does not change any figure.

use std::collections::BTreeMap;

use cxpulse::config::Config;
use cxpulse::engine::{Engine, NoBoundaries};
use cxpulse::event::{Event, Interaction, Payload, Survey, SurveyResponse};
use cxpulse::window::SegmentMetric;
use proptest::prelude::*;

const BASE: i64 = 1_767_225_600_000; // 2026-01-01T00:00:00Z
const PLANS: [&str; 3] = ["free", "pro", "enterprise"];
const REGIONS: [&str; 2] = ["eu", "na"];

#[derive(Debug, Clone)]
struct Spec {
    customer: usize,
    offset_ms: i64,
    what: u8,
    amount_cents: u32,
    score: u8,
}

fn spec() -> impl Strategy<Value = Spec> {
    (0..6usize, 0..3 * 86_400_000i64, 0..6u8, 0..100_000u32, 0..11u8).prop_map(
        |(customer, offset_ms, what, amount_cents, score)| Spec { customer, offset_ms, what, amount_cents, score },
    )
}

fn event(s: &Spec) -> Event {
    let payload = match s.what {
        0 => Payload::Interaction(Interaction::PageView),
        1 => Payload::Interaction(Interaction::Purchase { amount: f64::from(s.amount_cents) / 100.0 }),
        2 => Payload::Interaction(Interaction::Session { duration_seconds: f64::from(s.amount_cents) / 7.0 }),
        3 => Payload::Survey(SurveyResponse { survey: Survey::Nps, score: s.score }),
        4 => Payload::Survey(SurveyResponse { survey: Survey::Csat, score: 1 + s.score % 5 }),
        _ => Payload::Survey(SurveyResponse { survey: Survey::Ces, score: 1 + s.score % 7 }),
    };
    Event {
        customer_id: format!("c{}", s.customer).into(),
        ts: BASE + s.offset_ms,
        event_id: None,
        segments: vec![
            ("plan".into(), PLANS[s.customer % 3].into()),
            ("region".into(), REGIONS[s.customer % 2].into()),
        ],
        payload,
    }
}

/// Every windowed figure of every segment, read through the engine's merged view.
fn figures(events: &[Event]) -> (BTreeMap<String, f64>, i64) {
    let config = Config::builtin().unwrap();
    let engine = Engine::new(&config);
    let mut partition = engine.partition(0);
    let mut effects = Vec::new();
    for e in events {
        partition.apply(e, &mut effects, &mut NoBoundaries);
    }
    let clock = partition.clock();
    let mut out = BTreeMap::new();
    for (id, dimension, segment) in engine.catalog.all_segments() {
        for (w, window) in engine.settings.windows.iter().enumerate() {
            let f = engine.view.figures(id, w, clock);
            for metric in SegmentMetric::ALL {
                let labels: Vec<Option<&str>> = match metric.label_name() {
                    Some(_) => metric.label_values().into_iter().map(Some).collect(),
                    None => vec![None],
                };
                let only = engine.view.figures_for(id, w, clock, Some(metric));
                for label in labels {
                    // Rules merge only the metric's own fields; that must read the same.
                    assert_eq!(only.read(metric, label), f.read(metric, label), "{metric:?} {label:?}");
                    let key =
                        format!("{}/{dimension}/{segment}/{}/{}", metric.name(), window.name, label.unwrap_or(""));
                    if let Some(r) = f.read(metric, label) {
                        out.insert(key.clone(), r.value);
                    }
                    assert_eq!(only.interval(metric, label, Z), f.interval(metric, label, Z), "{metric:?} {label:?}");
                    if let Some(i) = f.interval(metric, label, Z) {
                        out.insert(format!("{key}/lower"), i.lower);
                        out.insert(format!("{key}/upper"), i.upper);
                    }
                }
            }
        }
    }
    (out, clock)
}

/// z of a 95% interval.
const Z: f64 = 1.959_963_984_540_054;

/// A naive two-pass `mean ± z·s/√n` (none below 2 values).
fn mean_interval(values: &[f64]) -> Option<(f64, f64)> {
    if values.len() < 2 {
        return None;
    }
    let n = values.len() as f64;
    let mean = values.iter().sum::<f64>() / n;
    let s = (values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1.0)).sqrt();
    Some((mean - Z * s / n.sqrt(), mean + Z * s / n.sqrt()))
}

/// Wilson score interval, written out from its textbook form.
fn wilson(x: f64, n: f64) -> (f64, f64) {
    let p = x / n;
    let centre = p + Z * Z / (2.0 * n);
    let spread = Z * (p * (1.0 - p) / n + Z * Z / (4.0 * n * n)).sqrt();
    ((centre - spread) / (1.0 + Z * Z / n), (centre + spread) / (1.0 + Z * Z / n))
}

fn bound_close(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-6 * a.abs().max(b.abs()).max(1.0)
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-9 * a.abs().max(b.abs()).max(1.0)
}

fn naive(events: &[Event], clock: i64) -> BTreeMap<String, f64> {
    let config = Config::builtin().unwrap();
    let mut out = BTreeMap::new();
    for w in &config.windows {
        let (size, bucket) = (w.size.ms(), w.bucket.ms());
        let k_now = clock.div_euclid(bucket);
        let inside = |ts: i64| ts.div_euclid(bucket) > k_now - size / bucket;
        for (dimension, segment) in [("all", "all")]
            .into_iter()
            .chain(PLANS.iter().map(|p| ("plan", *p)))
            .chain(REGIONS.iter().map(|r| ("region", *r)))
        {
            let member =
                |e: &Event| dimension == "all" || e.segments.iter().any(|(d, s)| d == dimension && s == segment);
            if !events.iter().any(member) {
                continue; // a segment nobody was in does not exist
            }
            let chosen: Vec<&Event> = events.iter().filter(|e| member(e) && inside(e.ts)).collect();
            let key = |m: &str, l: &str| format!("{m}/{dimension}/{segment}/{}/{l}", w.name);
            let count = |p: &dyn Fn(&Payload) -> bool| chosen.iter().filter(|e| p(&e.payload)).count() as f64;
            out.insert(
                key("interactions", "page_view"),
                count(&|p| matches!(p, Payload::Interaction(Interaction::PageView))),
            );
            let purchases = count(&|p| matches!(p, Payload::Interaction(Interaction::Purchase { .. })));
            out.insert(key("interactions", "purchase"), purchases);
            let revenue: f64 = chosen
                .iter()
                .filter_map(|e| match e.payload {
                    Payload::Interaction(Interaction::Purchase { amount }) => Some(amount),
                    _ => None,
                })
                .sum();
            out.insert(key("revenue", ""), revenue);
            if purchases > 0.0 {
                out.insert(key("average_order_value", ""), revenue / purchases);
            }
            let amounts: Vec<f64> = chosen
                .iter()
                .filter_map(|e| match e.payload {
                    Payload::Interaction(Interaction::Purchase { amount }) => Some(amount),
                    _ => None,
                })
                .collect();
            let durations: Vec<f64> = chosen
                .iter()
                .filter_map(|e| match e.payload {
                    Payload::Interaction(Interaction::Session { duration_seconds }) => Some(duration_seconds),
                    _ => None,
                })
                .collect();
            let mut bounds = |name: &str, b: Option<(f64, f64)>| {
                if let Some((lower, upper)) = b {
                    out.insert(format!("{}/lower", key(name, "")), lower);
                    out.insert(format!("{}/upper", key(name, "")), upper);
                }
            };
            bounds("average_order_value", mean_interval(&amounts));
            bounds("session_seconds_average", mean_interval(&durations));
            let scores = |s: Survey| -> Vec<f64> {
                chosen
                    .iter()
                    .filter_map(|e| match e.payload {
                        Payload::Survey(r) if r.survey == s => Some(f64::from(r.score)),
                        _ => None,
                    })
                    .collect()
            };
            let nps = scores(Survey::Nps);
            out.insert(key("survey_responses", "nps"), nps.len() as f64);
            if !nps.is_empty() {
                let n = nps.len() as f64;
                let promoters = nps.iter().filter(|s| **s >= 9.0).count() as f64;
                let detractors = nps.iter().filter(|s| **s <= 6.0).count() as f64;
                out.insert(key("nps_score", ""), 100.0 * (promoters - detractors) / n);
                if nps.len() >= 2 {
                    let (p, d) = (promoters / n, detractors / n);
                    let half = Z * ((p + d - (p - d).powi(2)) / n).sqrt();
                    out.insert(format!("{}/lower", key("nps_score", "")), (100.0 * (p - d - half)).max(-100.0));
                    out.insert(format!("{}/upper", key("nps_score", "")), (100.0 * (p - d + half)).min(100.0));
                }
            }
            let csat = scores(Survey::Csat);
            if !csat.is_empty() {
                let good = csat.iter().filter(|s| **s >= 4.0).count() as f64;
                out.insert(key("csat_ratio", ""), good / csat.len() as f64);
                let (lower, upper) = wilson(good, csat.len() as f64);
                out.insert(format!("{}/lower", key("csat_ratio", "")), lower);
                out.insert(format!("{}/upper", key("csat_ratio", "")), upper);
            }
            let ces = scores(Survey::Ces);
            if !ces.is_empty() {
                out.insert(key("ces_average", ""), ces.iter().sum::<f64>() / ces.len() as f64);
            }
            if let Some((lower, upper)) = mean_interval(&ces) {
                out.insert(format!("{}/lower", key("ces_average", "")), lower);
                out.insert(format!("{}/upper", key("ces_average", "")), upper);
            }
            // Active customers: last activity (max ts over the customer's events) inside the window.
            let mut last: BTreeMap<&str, (i64, bool)> = BTreeMap::new();
            for e in events {
                let entry = last.entry(e.customer_id.as_str()).or_insert((i64::MIN, member(e)));
                entry.0 = entry.0.max(e.ts);
            }
            let active = last.values().filter(|(ts, m)| *m && inside(*ts)).count() as f64;
            out.insert(key("active_customers", ""), active);
        }
    }
    out
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn incremental_windows_equal_naive_recomputation(mut specs in prop::collection::vec(spec(), 1..150), disorder in 0..20usize) {
        specs.sort_by_key(|s| s.offset_ms);
        // Some events arrive out of order (up to a few positions late).
        let n = specs.len();
        for i in 0..disorder.min(n.saturating_sub(3)) {
            specs.swap(i * 3 % n, (i * 3 + 2) % n);
        }
        let events: Vec<Event> = specs.iter().map(event).collect();
        let (engine, clock) = figures(&events);
        for (key, expected) in naive(&events, clock) {
            let got = engine.get(&key).copied();
            // A standard deviation from sums of squares is exact but for rounding that grows as the
            // spread shrinks against the values: bounds agree to 1e-6 of their size.
            let ok = |g: f64| if key.ends_with("/lower") || key.ends_with("/upper") { bound_close(g, expected) } else { close(g, expected) };
            prop_assert!(got.is_some_and(ok), "{key}: engine {got:?}, naive {expected}");
        }
    }

    #[test]
    fn order_within_a_bucket_does_not_matter(specs in prop::collection::vec(spec(), 1..150), seed in any::<u64>()) {
        let mut sorted = specs.clone();
        sorted.sort_by_key(|s| s.offset_ms);
        // Same events, shuffled within each minute (the finest bucket of every default window).
        let mut state = seed | 1;
        let mut keyed: Vec<(i64, u64, Spec)> = sorted
            .iter()
            .map(|s| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                (s.offset_ms.div_euclid(60_000), state, s.clone())
            })
            .collect();
        keyed.sort_by_key(|(minute, random, _)| (*minute, *random));
        let shuffled: Vec<Spec> = keyed.into_iter().map(|(_, _, s)| s).collect();
        let a: Vec<Event> = sorted.iter().map(event).collect();
        let b: Vec<Event> = shuffled.iter().map(event).collect();
        let (fa, _) = figures(&a);
        let (fb, _) = figures(&b);
        prop_assert_eq!(fa.keys().collect::<Vec<_>>(), fb.keys().collect::<Vec<_>>());
        for (key, va) in &fa {
            prop_assert!(close(*va, fb[key]), "{}: {} vs {}", key, va, fb[key]);
        }
    }
}
