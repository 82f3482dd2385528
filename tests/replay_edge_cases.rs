//! Edge cases found by a code reading (issue 11): ids of transitions in one millisecond, and
//! deadlines before 1970.

mod replay_support;

use replay_support::{ev, login, run, NO_HOLDOUT};

#[test]
fn two_churns_of_one_customer_in_one_millisecond_have_distinct_ids() {
    let t = "2026-01-01T00:00:00.123Z";
    let events = [
        login("c1", t),
        ev("interaction", "c1", t, r#""kind":"cancellation""#),
        login("c1", t),
        ev("interaction", "c1", t, r#""kind":"cancellation""#),
        login("c1", t),
    ]
    .concat();
    let out = run(&events, NO_HOLDOUT, None);
    let kinds: Vec<_> = out.alerts.iter().map(|a| a["kind"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["customer_churned", "customer_reactivated", "customer_churned", "customer_reactivated"]);
    assert!(out.alerts.iter().all(|a| a["at"] == "2026-01-01T00:00:00.123Z"));
    let mut ids: Vec<_> = out.alerts.iter().map(|a| a["alert_id"].as_str().unwrap()).collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), 4, "{ids:?}");
    // And still deterministic.
    assert_eq!(run(&events, NO_HOLDOUT, None).alerts_text, out.alerts_text);
}

#[test]
fn deadlines_before_1970_fire_in_time_order() {
    let events = [
        login("c1", "1960-01-01T00:00:00Z"),
        // Moves the clock past c1's inactive deadline (1960-01-15).
        login("c2", "1960-03-01T00:00:00Z"),
        // So this reactivates c1.
        login("c1", "1960-03-02T00:00:00Z"),
        login("c3", "1969-12-10T00:00:00Z"),
        login("c4", "1970-02-01T00:00:00Z"),
    ]
    .concat();
    let out = run(&events, NO_HOLDOUT, None);
    let got: Vec<_> = out
        .alerts
        .iter()
        .map(|a| (a["at"].as_str().unwrap(), a["kind"].as_str().unwrap(), a["customer_id"].as_str().unwrap()))
        .collect();
    assert_eq!(
        got,
        [
            ("1960-01-15T00:00:00Z", "customer_inactive", "c1"),
            // 60 days after 1960-01-01 (a leap year), due exactly when c2's login moves the clock.
            ("1960-03-01T00:00:00Z", "customer_churned", "c1"),
            ("1960-03-02T00:00:00Z", "customer_reactivated", "c1"),
            ("1960-03-15T00:00:00Z", "customer_inactive", "c2"),
            ("1960-03-16T00:00:00Z", "customer_inactive", "c1"),
            ("1960-04-30T00:00:00Z", "customer_churned", "c2"),
            ("1960-05-01T00:00:00Z", "customer_churned", "c1"),
            ("1969-12-24T00:00:00Z", "customer_inactive", "c3"),
        ]
    );
}

#[test]
fn past_max_customers_new_customers_are_dead_lettered_and_known_ones_go_on() {
    let config = format!("{NO_HOLDOUT}\n[limits]\nmax_customers = 2\n");
    let events = [
        login("c1", "2026-01-01T00:00:00Z"),
        login("c2", "2026-01-01T01:00:00Z"),
        login("c3", "2026-01-01T02:00:00Z"),
        login("c1", "2026-01-01T03:00:00Z"),
        login("c4", "2026-01-09T00:00:00Z"),
    ]
    .concat();
    let out = run(&events, &config, None);
    let refused: Vec<_> = out
        .dead_letters
        .iter()
        .map(|d| (d["reason"].as_str().unwrap(), d["source"]["line"].as_u64().unwrap()))
        .collect();
    assert_eq!(refused, [("customer_limit", 3), ("customer_limit", 5)]);
    // The refused event's payload is kept whole for a later replay.
    assert!(out.dead_letters[1]["payload"].as_str().unwrap().contains(r#""customer_id":"c4""#));
    assert_eq!(out.summary.invalid, 2);
    assert_eq!(out.summary.accepted, 3);
    assert_eq!(out.metric(r#"cxpulse_tracked_customers"#), Some(2.0));
    assert_eq!(out.metric(r#"cxpulse_invalid_events_total{reason="customer_limit"}"#), Some(2.0));
    // A refused event does not move the clock either: it stays at c1's last login.
    assert_eq!(out.metric("cxpulse_stream_time_seconds"), Some(1_767_236_400.0));
}
