//! Segment threshold rules (SPEC §5, issue 3): fire once, resolve once past `clear`, no alert on
//! too few samples or no data, many segments at once, deterministic.

mod replay_support;

use replay_support::{ev, login, run};

const CSAT_RULE: &str = r#"
[[windows]]
name = "1h"
size = "1h"
bucket = "1m"

[[rules]]
name = "low-csat"
metric = "csat_ratio"
window = "1h"
below = 0.5
clear = 0.7
min_samples = 4
"#;

fn csat(n: usize, ts: &str, score: u8) -> String {
    ev("survey", &format!("c{n}"), ts, &format!(r#""survey":"csat","score":{score}"#))
}

fn flapping_scenario() -> String {
    let mut e = Vec::new();
    let mut n = 0;
    let mut add = |ts: &str, score: u8| {
        n += 1;
        e.push(csat(n, ts, score));
    };
    // 10:00 four unhappy answers; the 10:01 boundary sees ratio 0 with 4 samples: fires.
    for s in ["00", "10", "20", "30"] {
        add(&format!("2026-01-01T10:00:{s}Z"), 1);
    }
    // Back up into the hysteresis band (0.5..0.7) by 10:02: no resolve.
    for s in ["00", "10", "20", "30", "40"] {
        add(&format!("2026-01-01T10:01:{s}Z"), 5);
    }
    // Below the threshold again by 10:03: already firing, no second alert.
    add("2026-01-01T10:02:00Z", 1);
    add("2026-01-01T10:02:10Z", 1);
    // Well above `clear` by 10:04: resolves once.
    for s in ["00", "05", "10", "15", "20", "25", "30", "35", "40", "45"] {
        add(&format!("2026-01-01T10:03:{s}Z"), 5);
    }
    add("2026-01-01T10:04:00Z", 5);
    e.concat()
}

#[test]
fn fires_once_flaps_inside_the_band_silently_and_resolves_once() {
    let out = run(flapping_scenario(), CSAT_RULE, None);
    let alerts = out.alerts_of("segment_threshold");
    let seen: Vec<_> = alerts.iter().map(|a| (a["state"].as_str().unwrap(), a["at"].as_str().unwrap())).collect();
    assert_eq!(seen, [("firing", "2026-01-01T10:01:00Z"), ("resolved", "2026-01-01T10:04:00Z")]);
    let firing = alerts[0];
    assert_eq!(firing["rule"], "low-csat");
    assert_eq!(firing["metric"], "csat_ratio");
    assert_eq!(firing["dimension"], "all");
    assert_eq!(firing["segment"], "all");
    assert_eq!(firing["window"], "1h");
    assert_eq!(firing["value"], 0.0);
    assert_eq!(firing["threshold"], 0.5);
    // At 10:04 the window holds 21 answers, 15 of them 4 or 5.
    let resolved = alerts[1]["value"].as_f64().unwrap();
    assert!((resolved - 15.0 / 21.0).abs() < 1e-12, "{resolved}");
    assert_eq!(out.metric(r#"cxpulse_rule_firing{rule="low-csat",dimension="all",segment="all"}"#), Some(0.0));
    assert_eq!(out.metric(r#"cxpulse_alerts_total{kind="segment_threshold"}"#), Some(2.0));
}

#[test]
fn too_few_samples_never_fire() {
    let events: String = (0..3).map(|i| csat(i, &format!("2026-01-01T10:00:0{i}Z"), 1)).collect::<String>()
        + &login("x", "2026-01-01T11:00:00Z");
    let out = run(events, CSAT_RULE, None);
    assert!(out.alerts_of("segment_threshold").is_empty());
    assert!(!out.metrics_text.contains("cxpulse_rule_firing{"));
}

#[test]
fn no_data_neither_fires_nor_resolves() {
    let events: String = (0..4).map(|i| csat(i, &format!("2026-01-01T10:00:0{i}Z"), 1)).collect::<String>()
        // The answers leave the window; the rule sees no data from then on.
        + &login("x", "2026-01-01T13:00:00Z");
    let out = run(events, CSAT_RULE, Some("2026-01-02T00:00:00Z"));
    let states: Vec<_> = out.alerts_of("segment_threshold").iter().map(|a| a["state"].as_str().unwrap()).collect();
    assert_eq!(states, ["firing"]);
    assert_eq!(out.metric(r#"cxpulse_rule_firing{rule="low-csat",dimension="all",segment="all"}"#), Some(1.0));
}

#[test]
fn a_rule_covers_every_segment_unless_filtered() {
    let config = r#"
[[rules]]
name = "nps-floor"
metric = "nps_score"
window = "24h"
below = 0.0
min_samples = 2

[[rules]]
name = "nps-floor-b"
metric = "nps_score"
window = "24h"
dimension = "plan"
segment = "b"
above = 50.0
min_samples = 2
"#;
    let nps = |c: &str, plan: &str, score: u8| {
        ev(
            "survey",
            c,
            "2026-01-01T10:00:00Z",
            &format!(r#""survey":"nps","score":{score},"segments":{{"plan":"{plan}","region":"eu"}}"#),
        )
    };
    let events = [nps("a1", "a", 0), nps("a2", "a", 0), nps("b1", "b", 10), nps("b2", "b", 10)].concat();
    let out = run(events, config, None);
    let fired: Vec<_> = out
        .alerts_of("segment_threshold")
        .iter()
        .map(|a| (a["rule"].as_str().unwrap(), a["dimension"].as_str().unwrap(), a["segment"].as_str().unwrap()))
        .collect();
    assert_eq!(fired, [("nps-floor", "plan", "a"), ("nps-floor-b", "plan", "b")]);
    let firing = |rule: &str, d: &str, s: &str| {
        out.metric(&format!(r#"cxpulse_rule_firing{{rule="{rule}",dimension="{d}",segment="{s}"}}"#))
    };
    assert_eq!(firing("nps-floor", "plan", "a"), Some(1.0));
    assert_eq!(firing("nps-floor", "plan", "b"), Some(0.0));
    assert_eq!(firing("nps-floor", "all", "all"), Some(0.0));
    assert_eq!(firing("nps-floor", "region", "eu"), Some(0.0));
    assert_eq!(firing("nps-floor-b", "plan", "a"), None, "filtered out");
}

#[test]
fn rule_alerts_are_deterministic() {
    let a = run(flapping_scenario(), CSAT_RULE, None);
    let b = run(flapping_scenario(), CSAT_RULE, None);
    assert_eq!(a.alerts_text, b.alerts_text);
    let ids: Vec<_> = a.alerts_of("segment_threshold").iter().map(|x| x["alert_id"].clone()).collect();
    assert_ne!(ids[0], ids[1]);
}

#[test]
fn check_config_rejects_bad_rules_all_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("rules.toml");
    std::fs::write(
        &path,
        r#"
[[rules]]
name = "a"
metric = "nope"
window = "99d"
above = 1.0

[[rules]]
name = "b"
metric = "csat_ratio"
window = "7d"

[[rules]]
name = "c"
metric = "churn_ratio"
window = "30d"
above = 0.05
clear = 0.06
dimension = "tier"

[[rules]]
name = "d"
metric = "interactions"
window = "7d"
below = 3.0
clear = 2.0
"#,
    )
    .unwrap();
    let err = cxpulse::config::load(Some(&path), &[]).unwrap_err().to_string();
    for needle in [
        "unknown metric `nope`",
        "unknown window `99d`",
        "rules.b: give one of `above` / `below`",
        "rules.c: `clear` (0.06) must not be above",
        "dimension `tier`",
        "rules.d: `clear` (2) must not be below",
        "needs `label`",
    ] {
        assert!(err.contains(needle), "{needle} not in:\n{err}");
    }
}

#[test]
fn a_far_jump_of_the_clock_skips_quiet_boundaries_exactly() {
    // Minute boundaries until the year 9999 would be billions of evaluations; the data left the
    // window long before, so they all read "no data" and are skipped.
    let events: String = (0..4).map(|i| csat(i, &format!("2026-01-01T10:00:0{i}Z"), 1)).collect::<String>()
        + &csat(9, "2026-01-01T10:01:00Z", 1)
        + &login("x", "9999-01-01T00:00:00Z");
    let out = run(events, CSAT_RULE, None);
    let states: Vec<_> = out.alerts_of("segment_threshold").iter().map(|a| a["at"].as_str().unwrap()).collect();
    assert_eq!(states, ["2026-01-01T10:01:00Z"]);
    // The customers' own transitions on the way still happen, in order.
    assert_eq!(out.alerts_of("customer_churned").len(), 5);
}
