//! Rules with `confidence` (SPEC §5): they judge a bound of the value's interval, and the alert
//! carries `confidence` and `bound`. Every expected bound is computed here by hand from the
//! textbook formula, independently of the code under test.

mod replay_support;

use replay_support::{ev, login, run};

/// Φ⁻¹(0.975) and Φ⁻¹(0.95): z of 95% and 90% two-sided intervals (published values).
const Z95: f64 = 1.959_963_984_540_054;
const Z90: f64 = 1.644_853_626_951_472_2;

const ONE_HOUR: &str = "[[windows]]\nname = \"1h\"\nsize = \"1h\"\nbucket = \"1m\"\n";

fn survey(n: usize, ts: &str, survey: &str, score: u8) -> String {
    ev("survey", &format!("c{n}"), ts, &format!(r#""survey":"{survey}","score":{score}"#))
}

fn wilson_upper(x: f64, n: f64, z: f64) -> f64 {
    let p = x / n;
    (p + z * z / (2.0 * n) + z * (p * (1.0 - p) / n + z * z / (4.0 * n * n)).sqrt()) / (1.0 + z * z / n)
}

fn threshold_alerts(out: &replay_support::Output) -> Vec<&serde_json::Value> {
    out.alerts_of("segment_threshold")
}

#[test]
fn wilson_bound_keeps_a_thin_csat_dip_quiet_until_the_evidence_is_there() {
    let config = format!(
        "{ONE_HOUR}
[[rules]]
name = \"low-csat\"
metric = \"csat_ratio\"
window = \"1h\"
below = 0.7
min_samples = 10

[[rules]]
name = \"low-csat-sure\"
metric = \"csat_ratio\"
window = \"1h\"
below = 0.7
confidence = 0.95
min_samples = 10
"
    );
    let mut events = String::new();
    // 10:00: 12 of 20 happy (0.6). Below 0.7, but the Wilson upper bound is about 0.78.
    for i in 0..20 {
        events += &survey(i, &format!("2026-01-01T10:00:{:02}Z", i), "csat", if i < 12 { 5 } else { 1 });
    }
    // 10:01: 20 more unhappy answers: 12 of 40 (0.3), upper bound well under 0.7.
    for i in 20..40 {
        events += &survey(i, &format!("2026-01-01T10:01:{:02}Z", i), "csat", 2);
    }
    events += &login("x", "2026-01-01T10:02:00Z");
    let out = run(events, &config, None);
    let alerts = threshold_alerts(&out);
    let seen: Vec<_> = alerts.iter().map(|a| (a["rule"].as_str().unwrap(), a["at"].as_str().unwrap())).collect();
    assert_eq!(seen, [("low-csat", "2026-01-01T10:01:00Z"), ("low-csat-sure", "2026-01-01T10:02:00Z")]);
    assert!(alerts[0].get("bound").is_none() && alerts[0].get("confidence").is_none());
    let sure = alerts[1];
    assert_eq!(sure["value"], 0.3);
    assert_eq!(sure["confidence"], 0.95);
    let bound = sure["bound"].as_f64().unwrap();
    let expected = wilson_upper(12.0, 40.0, Z95);
    assert!((bound - expected).abs() < 1e-12, "{bound} vs {expected}");
    assert!(wilson_upper(12.0, 20.0, Z95) > 0.7, "the quiet first minute really was inside the band");
}

#[test]
fn nps_interval_bound_and_no_interval_below_two_responses() {
    let config = format!(
        "{ONE_HOUR}
[[rules]]
name = \"nps-sure\"
metric = \"nps_score\"
window = \"1h\"
below = 20.0
confidence = 0.95
"
    );
    // One detractor alone: value -100 but no interval (n < 2), so no data.
    let out = run(survey(0, "2026-01-01T09:00:00Z", "nps", 0) + &login("x", "2026-01-01T09:01:00Z"), &config, None);
    assert!(threshold_alerts(&out).is_empty());
    // 2 promoters, 5 detractors, 3 passives: NPS -30, upper bound 100 × (-0.3 + z·sqrt((0.7 - 0.09)/10)).
    let scores = [10, 9, 0, 3, 5, 6, 6, 7, 8, 8];
    let mut events: String =
        scores.iter().enumerate().map(|(i, s)| survey(i, &format!("2026-01-01T10:00:{i:02}Z"), "nps", *s)).collect();
    events += &login("x", "2026-01-01T10:01:00Z");
    let out = run(events, &config, None);
    let alerts = threshold_alerts(&out);
    assert_eq!(alerts.len(), 1);
    assert_eq!(alerts[0]["state"], "firing");
    let expected = 100.0 * (-0.3 + Z95 * ((0.2 + 0.5 - 0.09f64) / 10.0).sqrt());
    let bound = alerts[0]["bound"].as_f64().unwrap();
    assert!((bound - expected).abs() < 1e-9, "{bound} vs {expected}");
    assert!((alerts[0]["value"].as_f64().unwrap() + 30.0).abs() < 1e-9);
}

#[test]
fn mean_bounds_from_sums_of_squares() {
    let config = format!(
        "{ONE_HOUR}
[[rules]]
name = \"long-sessions\"
metric = \"session_seconds_average\"
window = \"1h\"
above = 100.0
clear = 90.0
confidence = 0.9

[[rules]]
name = \"cheap-orders\"
metric = \"average_order_value\"
window = \"1h\"
below = 50.0
confidence = 0.9
"
    );
    let durations = [150.0, 160.0, 170.0, 180.0, 190.0];
    let amounts = [10.0, 12.5, 30.0, 7.25];
    let mut events = String::new();
    for (i, d) in durations.iter().enumerate() {
        events += &ev(
            "interaction",
            &format!("s{i}"),
            &format!("2026-01-01T10:00:{i:02}Z"),
            &format!(r#""kind":"session","duration_seconds":{d}"#),
        );
    }
    for (i, a) in amounts.iter().enumerate() {
        events += &ev(
            "interaction",
            &format!("p{i}"),
            &format!("2026-01-01T10:00:{:02}Z", 10 + i),
            &format!(r#""kind":"purchase","amount":{a}"#),
        );
    }
    events += &login("x", "2026-01-01T10:01:00Z");
    let out = run(events, &config, None);
    let bound_of = |rule: &str| {
        let a =
            threshold_alerts(&out).into_iter().find(|a| a["rule"] == rule).unwrap_or_else(|| panic!("{rule} fired"));
        a["bound"].as_f64().unwrap()
    };
    let by_hand = |values: &[f64], sign: f64| {
        let n = values.len() as f64;
        let mean = values.iter().sum::<f64>() / n;
        let s = (values.iter().map(|v| (v - mean) * (v - mean)).sum::<f64>() / (n - 1.0)).sqrt();
        mean + sign * Z90 * s / n.sqrt()
    };
    let lower = bound_of("long-sessions");
    assert!((lower - by_hand(&durations, -1.0)).abs() < 1e-9, "{lower}");
    let upper = bound_of("cheap-orders");
    assert!((upper - by_hand(&amounts, 1.0)).abs() < 1e-9, "{upper}");
}

#[test]
fn check_config_refuses_bad_confidence_with_the_other_problems() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("rules.toml");
    std::fs::write(
        &path,
        r#"
[[rules]]
name = "half"
metric = "csat_ratio"
window = "7d"
below = 0.7
confidence = 0.5

[[rules]]
name = "certain"
metric = "nps_score"
window = "7d"
below = 0.0
confidence = 0.999

[[rules]]
name = "counts"
metric = "revenue"
window = "7d"
below = 10.0
confidence = 0.95

[[rules]]
name = "value"
metric = "customer_lifetime_value"
window = "30d"
below = 10.0
confidence = 1.5

[[rules]]
name = "fine"
metric = "reengagement_lift"
window = "30d"
below = 0.0
confidence = 0.9

[[rules]]
name = "other"
metric = "nope"
window = "7d"
above = 1.0
"#,
    )
    .unwrap();
    let err = cxpulse::config::load(Some(&path), &[]).unwrap_err().to_string();
    for needle in [
        "rules.half: `confidence` (0.5) must lie between 0.5 and 0.999",
        "rules.certain: `confidence` (0.999) must lie between",
        "rules.counts: metric `revenue` has no interval",
        "rules.value: `confidence` (1.5) must lie between",
        "rules.value: metric `customer_lifetime_value` has no interval",
        "unknown metric `nope`",
    ] {
        assert!(err.contains(needle), "{needle} not in:\n{err}");
    }
    assert!(!err.contains("rules.fine"), "{err}");
}

#[test]
fn new_metrics_are_accepted_by_rules() {
    let config = r#"
[[rules]]
name = "retention-floor"
metric = "retention_ratio"
window = "30d"
below = 0.9
confidence = 0.9

[[rules]]
name = "clv"
metric = "customer_lifetime_value"
window = "30d"
below = 1000.0

[[rules]]
name = "frequency"
metric = "purchases_per_customer"
window = "30d"
below = 0.5

[[rules]]
name = "arpu"
metric = "revenue_per_customer"
window = "30d"
below = 5.0
"#;
    let mut events: String = (0..10).map(|i| login(&format!("c{i}"), "2026-01-01T00:00:00Z")).collect();
    for i in 0..8 {
        events += &ev("interaction", &format!("c{i}"), "2026-01-20T00:00:00Z", r#""kind":"cancellation""#);
    }
    events += &ev("interaction", "c9", "2026-01-25T00:00:00Z", r#""kind":"purchase","amount":12"#);
    let out = run(events, config, Some("2026-02-05T00:00:00Z"));
    let fired: Vec<_> = threshold_alerts(&out).iter().map(|a| a["rule"].as_str().unwrap().to_string()).collect();
    // 30d from Jan 7: 10 at the start, 2 kept: retention 0.2, its upper bound far below 0.9.
    assert!(fired.contains(&"retention-floor".to_string()), "{fired:?}");
    // Revenue 12 / 1 active customer over churn 0.8: lifetime value 15.
    let clv = out.all("customer_lifetime_value", "30d", "").unwrap();
    assert!((clv - 15.0).abs() < 1e-9, "{clv}");
    assert!(fired.contains(&"clv".to_string()), "{fired:?}");
    // Before c9's purchase the ten quiet customers count as active with nothing bought; after it,
    // one purchase of 12 per active customer: both rules fire, then resolve.
    for rule in ["frequency", "arpu"] {
        let states: Vec<_> = threshold_alerts(&out)
            .iter()
            .filter(|a| a["rule"] == rule)
            .map(|a| a["state"].as_str().unwrap().to_string())
            .collect();
        assert_eq!(states, ["firing", "resolved"], "{rule}");
    }
    assert_eq!(out.all("purchases_per_customer", "30d", ""), Some(1.0));
    assert_eq!(out.all("revenue_per_customer", "30d", ""), Some(12.0));
}
