//! Confidence intervals (SPEC §5): each interval against values computed here by hand, and the
//! property that a rule with `confidence` never fires where the same rule without it would not.

mod replay_support;

use std::collections::BTreeMap;

use cxpulse::window::{SegmentMetric, WindowFigures};
use proptest::prelude::*;
use replay_support::ev;

const Z95: f64 = 1.959_963_984_540_054;

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() < 1e-12 * a.abs().max(1.0)
}

#[test]
fn lift_uses_the_two_proportion_interval() {
    let mut f = WindowFigures::default();
    f.agg.inactive = [40, 30];
    f.agg.reactivated = [10, 15];
    let (p1, p2) = (10.0 / 40.0, 15.0 / 30.0);
    let half = Z95 * (p1 * (1.0 - p1) / 40.0 + p2 * (1.0 - p2) / 30.0f64).sqrt();
    let i = f.interval(SegmentMetric::ReengagementLift, None, Z95).unwrap();
    assert!(close(i.lower, p1 - p2 - half) && close(i.upper, p1 - p2 + half), "{i:?}");
    f.agg.inactive = [40, 0];
    assert_eq!(f.interval(SegmentMetric::ReengagementLift, None, Z95), None, "no holdout transitions: no interval");
}

#[test]
fn proportions_use_wilson_with_successes_capped() {
    let wilson = |x: f64, n: f64| {
        let p = x / n;
        let c = (p + Z95 * Z95 / (2.0 * n)) / (1.0 + Z95 * Z95 / n);
        let h = Z95 / (1.0 + Z95 * Z95 / n) * (p * (1.0 - p) / n + Z95 * Z95 / (4.0 * n * n)).sqrt();
        (c - h, c + h)
    };
    let mut f = WindowFigures { live_at_start: 50, kept_since_start: 41, ..WindowFigures::default() };
    f.agg.churned = 9;
    f.agg.inactive = [20, 0];
    f.agg.reactivated = [5, 0];
    for (metric, label, (x, n)) in [
        (SegmentMetric::ChurnRatio, None, (9.0, 50.0)),
        (SegmentMetric::RetentionRatio, None, (41.0, 50.0)),
        (SegmentMetric::ReactivationRatio, Some("treatment"), (5.0, 20.0)),
    ] {
        let i = f.interval(metric, label, Z95).unwrap();
        let (lower, upper) = wilson(x, n);
        assert!(close(i.lower, lower) && close(i.upper, upper), "{metric:?}: {i:?} vs {lower} {upper}");
    }
    assert_eq!(f.interval(SegmentMetric::ReactivationRatio, Some("holdout"), Z95), None);
    // More churns than customers at the start (some arrived during the window): x is capped at n.
    f.agg.churned = 70;
    let i = f.interval(SegmentMetric::ChurnRatio, None, Z95).unwrap();
    assert!(close(i.upper, 1.0) && close(i.lower, wilson(50.0, 50.0).0), "{i:?}");
    assert_eq!(f.interval(SegmentMetric::Revenue, None, Z95), None);
}

#[test]
fn ces_interval_comes_from_its_histogram() {
    let mut f = WindowFigures::default();
    f.agg.ces = [1, 0, 2, 0, 0, 1, 0]; // scores 1, 3, 3, 6
    let values = [1.0, 3.0, 3.0, 6.0];
    let mean = 13.0 / 4.0;
    let s = (values.iter().map(|v: &f64| (v - mean).powi(2)).sum::<f64>() / 3.0).sqrt();
    let i = f.interval(SegmentMetric::CesAverage, None, Z95).unwrap();
    assert!(close(i.lower, mean - Z95 * s / 2.0) && close(i.upper, mean + Z95 * s / 2.0), "{i:?}");
}

/// An event of the generated stream: seconds after 10:00, what, a score or duration, who.
#[derive(Debug, Clone)]
struct Spec {
    second: u32,
    what: u8,
    value: u32,
    customer: u8,
}

fn spec() -> impl Strategy<Value = Spec> {
    (0..7200u32, 0..4u8, 0..1000u32, 0..12u8).prop_map(|(second, what, value, customer)| Spec {
        second,
        what,
        value,
        customer,
    })
}

fn line(s: &Spec) -> String {
    let ts = format!("2026-01-01T{:02}:{:02}:{:02}Z", 10 + s.second / 3600, s.second / 60 % 60, s.second % 60);
    let plan = if s.customer.is_multiple_of(2) { "a" } else { "b" };
    let c = format!("c{}", s.customer);
    let body = match s.what {
        0 => format!(r#""survey":"csat","score":{}"#, 1 + s.value % 5),
        1 => format!(r#""survey":"nps","score":{}"#, s.value % 11),
        2 => format!(r#""survey":"ces","score":{}"#, 1 + s.value % 7),
        _ => format!(r#""kind":"session","duration_seconds":{}"#, s.value),
    };
    let kind = if s.what == 3 { "interaction" } else { "survey" };
    ev(kind, &c, &ts, &format!(r#"{body},"segments":{{"plan":"{plan}"}}"#))
}

/// The same rule twice for each metric: plain, then with `confidence`.
fn rules(threshold: &[(&str, &str, f64, f64)], confidence: f64, min_samples: u32) -> String {
    let mut out = String::from("[[windows]]\nname = \"1h\"\nsize = \"1h\"\nbucket = \"1m\"\n");
    for (metric, side, t, clear) in threshold {
        for sure in [false, true] {
            let name = if sure { format!("{metric}-sure") } else { format!("{metric}-plain") };
            let extra = if sure { format!("confidence = {confidence}\n") } else { String::new() };
            out += &format!(
                "[[rules]]\nname = \"{name}\"\nmetric = \"{metric}\"\nwindow = \"1h\"\n{side} = {t}\nclear = {clear}\nmin_samples = {min_samples}\n{extra}"
            );
        }
    }
    out
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    #[test]
    fn a_confidence_rule_fires_only_where_the_plain_rule_holds(
        mut specs in prop::collection::vec(spec(), 1..160),
        confidence in 0.51f64..0.99,
        min_samples in 0u32..4,
        t_csat in 0.2f64..0.9,
        t_nps in -60.0f64..60.0,
        t_ces in 2.0f64..6.0,
        t_session in 100.0f64..900.0,
    ) {
        specs.sort_by_key(|s| s.second);
        let config = rules(
            &[
                ("csat_ratio", "below", t_csat, t_csat + 0.05),
                ("nps_score", "below", t_nps, t_nps + 5.0),
                ("ces_average", "above", t_ces, t_ces - 0.5),
                ("session_seconds_average", "above", t_session, t_session - 50.0),
            ],
            confidence,
            min_samples,
        );
        let events: String = specs.iter().map(line).collect();
        let out = replay_support::run(events, &config, Some("2026-01-01T13:00:00Z"));
        // Plain rule state per (metric, dimension, segment), followed alert by alert.
        let mut plain: BTreeMap<(String, String, String), bool> = BTreeMap::new();
        for a in out.alerts_of("segment_threshold") {
            let rule = a["rule"].as_str().unwrap();
            let (metric, kind) = rule.rsplit_once('-').unwrap();
            let key = (metric.to_string(), a["dimension"].as_str().unwrap().to_string(), a["segment"].as_str().unwrap().to_string());
            let firing = a["state"] == "firing";
            if kind == "plain" {
                plain.insert(key, firing);
            } else if firing {
                prop_assert!(plain.get(&key).copied().unwrap_or(false), "{rule} fired at {} where the plain rule does not hold: {a}", a["at"]);
                let bound = a["bound"].as_f64().unwrap();
                let value = a["value"].as_f64().unwrap();
                let above = metric == "ces_average" || metric == "session_seconds_average";
                prop_assert!(if above { bound <= value } else { bound >= value }, "{a}");
            }
        }
    }
}
