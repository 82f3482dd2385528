//! Golden tests of the CX analytics figures (SPEC §4, issue 12): retention, revenue and purchases
//! per customer, lifetime value, lifetime revenue average, and the reactivation ratio counted per
//! inactive transition in the segments of its moment.

mod replay_support;

use replay_support::{ev, login, run, NO_HOLDOUT};

fn with(kind: &str, c: &str, ts: &str, extra: &str) -> String {
    ev("interaction", c, ts, &format!(r#""kind":"{kind}"{extra}"#))
}

fn plan(p: &str) -> String {
    format!(r#","segments":{{"plan":"{p}"}}"#)
}

fn cancel(c: &str, ts: &str) -> String {
    with("cancellation", c, ts, "")
}

fn purchase(c: &str, ts: &str, amount: f64, extra: &str) -> String {
    with("purchase", c, ts, &format!(r#","amount":{amount}{extra}"#))
}

#[test]
fn retention_ratio_of_the_customers_at_the_windows_start() {
    let events = [
        with("login", "c1", "2026-01-01T00:00:00Z", &plan("a")),
        with("login", "c2", "2026-01-01T00:00:00Z", &plan("a")),
        with("login", "c3", "2026-01-01T00:00:00Z", &plan("b")),
        with("login", "c4", "2026-01-01T00:00:00Z", &plan("b")),
        login("c5", "2026-01-01T00:00:00Z"),
        cancel("c5", "2026-01-10T00:00:00Z"),
        // c2 churns and comes back: live just before the start and now, so retained.
        cancel("c2", "2026-02-05T00:00:00Z"),
        login("c2", "2026-02-15T00:00:00Z"),
        login("c6", "2026-02-10T00:00:00Z"),
        cancel("c1", "2026-02-20T00:00:00Z"),
        // c5 was churned at the start: back now, but not one of the customers at the start.
        login("c5", "2026-02-25T00:00:00Z"),
    ]
    .concat();
    let out = run(events, NO_HOLDOUT, Some("2026-03-01T00:00:00Z"));
    // 30d at Mar 1 starts Jan 31: c1..c4 at the start (c5 churned, c6 unseen); c1 churned since.
    assert_eq!(out.all("retention_ratio", "30d", ""), Some(0.75));
    assert_eq!(out.all("churn_ratio", "30d", ""), Some(0.5), "c1 and c2 churned in the window");
    let seg = |p: &str, w: &str| {
        out.metric(&format!(r#"cxpulse_retention_ratio{{dimension="plan",segment="{p}",window="{w}"}}"#))
    };
    assert_eq!(seg("a", "30d"), Some(0.5));
    assert_eq!(seg("b", "30d"), Some(1.0));
    // 7d starts Feb 22 01:00: c2, c3, c4, c6 (c1 churned Feb 20, c5 still churned); all kept.
    assert_eq!(out.all("retention_ratio", "7d", ""), Some(1.0));
    // 1h: everybody was seen long before; c1 is churned, so 5 at the start, all kept.
    assert_eq!(out.all("retention_ratio", "1h", ""), Some(1.0));
}

#[test]
fn retention_has_no_series_without_customers_at_the_start() {
    let out = run(login("c1", "2026-01-01T12:00:00Z"), "", None);
    assert_eq!(out.all("retention_ratio", "24h", ""), None);
    assert_eq!(out.all("customer_lifetime_value", "24h", ""), None);
    assert!(!out.metrics_text.contains("NaN"));
}

#[test]
fn revenue_and_purchases_per_active_customer() {
    let events = [
        purchase("c1", "2026-01-01T10:00:00Z", 10.0, ""),
        purchase("c1", "2026-01-01T11:00:00Z", 30.0, ""),
        purchase("c2", "2026-01-01T12:00:00Z", 20.0, ""),
        login("c3", "2026-01-01T12:30:00Z"),
    ]
    .concat();
    let out = run(events, "", None);
    assert_eq!(out.all("revenue_per_customer", "24h", ""), Some(20.0));
    assert_eq!(out.all("purchases_per_customer", "24h", ""), Some(1.0));
    // The 1h window (11:31..12:30) holds c2's purchase and c3's login; c1 was last active at 11:00.
    assert_eq!(out.all("revenue_per_customer", "1h", ""), Some(10.0));
    assert_eq!(out.all("purchases_per_customer", "1h", ""), Some(0.5));
    // No churn-ratio denominator (everybody first seen inside the window): no lifetime value.
    assert_eq!(out.all("churn_ratio", "24h", ""), None);
    assert_eq!(out.all("customer_lifetime_value", "24h", ""), None);
}

/// c1..c5 seen Jan 1; purchases in February; c3 cancels; c1 and c5 change plan.
fn lifetime_scenario() -> String {
    [
        purchase("c1", "2026-01-01T00:00:00Z", 40.0, &plan("a")),
        with("login", "c2", "2026-01-01T00:00:00Z", &plan("a")),
        with("login", "c3", "2026-01-01T00:00:00Z", &plan("b")),
        login("c4", "2026-01-01T00:00:00Z"),
        with("login", "c5", "2026-01-01T00:00:00Z", &plan("z")),
        with("login", "c5", "2026-02-01T00:00:00Z", &plan("b")),
        purchase("c1", "2026-02-10T00:00:00Z", 100.0, &plan("b")),
        purchase("c2", "2026-02-12T00:00:00Z", 50.0, ""),
        cancel("c3", "2026-02-15T00:00:00Z"),
    ]
    .concat()
}

#[test]
fn customer_lifetime_value_is_revenue_per_customer_over_churn_ratio() {
    let out = run(lifetime_scenario(), NO_HOLDOUT, Some("2026-03-01T00:00:00Z"));
    // 30d from Jan 31: active c1, c2, c5; revenue 150; 5 customers at the start, c3 churned.
    assert_eq!(out.all("revenue_per_customer", "30d", ""), Some(50.0));
    assert_eq!(out.all("purchases_per_customer", "30d", ""), Some(2.0 / 3.0));
    assert_eq!(out.all("churn_ratio", "30d", ""), Some(0.2));
    let clv = out.all("customer_lifetime_value", "30d", "").unwrap();
    assert!((clv - 250.0).abs() < 1e-9, "{clv}");
    // 7d: nobody churned, so no lifetime value (the churn ratio is 0).
    assert_eq!(out.all("churn_ratio", "7d", ""), Some(0.0));
    assert_eq!(out.all("customer_lifetime_value", "7d", ""), None);
}

#[test]
fn lifetime_revenue_average_follows_current_members_in_every_state() {
    let out = run(lifetime_scenario(), NO_HOLDOUT, Some("2026-03-01T00:00:00Z"));
    let avg =
        |d: &str, s: &str| out.metric(&format!(r#"cxpulse_lifetime_revenue_average{{dimension="{d}",segment="{s}"}}"#));
    // Not windowed: c1's January purchase counts. 190 over 5 customers, churned c3 included.
    assert_eq!(avg("all", "all"), Some(38.0));
    assert_eq!(avg("plan", "a"), Some(50.0), "c1 moved to b with its 140");
    let b = avg("plan", "b").unwrap();
    assert!((b - 140.0 / 3.0).abs() < 1e-9, "{b}");
    assert_eq!(avg("plan", "z"), None, "no members left: no series");
    assert!(out.metrics_text.contains("# TYPE cxpulse_lifetime_revenue_average gauge"));
}

/// An analyst's recomputation from the alert stream: each `customer_inactive` alert joined to the
/// next `customer_reactivated` alert of the same customer, counted in the inactive alert's segments.
fn ratio_from_alerts(out: &replay_support::Output, from: &str, plan: Option<&str>) -> Option<f64> {
    let (mut transitions, mut back) = (0, 0);
    for (i, a) in out.alerts.iter().enumerate() {
        let in_segment = plan.is_none_or(|p| a["segments"]["plan"] == p);
        if a["kind"] != "customer_inactive" || a["at"].as_str().unwrap() < from || !in_segment {
            continue;
        }
        transitions += 1;
        let next = out.alerts[i + 1..]
            .iter()
            .filter(|b| b["customer_id"] == a["customer_id"])
            .find(|b| b["kind"] == "customer_reactivated" || b["kind"] == "customer_inactive");
        if next.is_some_and(|b| b["kind"] == "customer_reactivated") {
            back += 1;
        }
    }
    (transitions > 0).then(|| f64::from(back) / f64::from(transitions))
}

#[test]
fn reactivation_counts_each_inactive_transition_in_the_segments_of_its_moment() {
    // c1 goes inactive twice inside the window and comes back both times. c2 goes inactive in plan
    // free and comes back with an event that moves it to pro. c3 moves to pro while inactive (an
    // agent event), then comes back. All three are inactive on Jan 15, in plan free.
    let events = [
        login("c1", "2026-01-01T00:00:00Z"),
        with("login", "c2", "2026-01-01T00:00:00Z", &plan("free")),
        with("login", "c3", "2026-01-01T00:00:00Z", &plan("free")),
        with("support_first_response", "c3", "2026-01-18T00:00:00Z", r#","ticket_id":"t1","segments":{"plan":"pro"}"#),
        login("c1", "2026-01-20T00:00:00Z"),
        login("c3", "2026-01-22T00:00:00Z"),
        with("login", "c2", "2026-01-25T00:00:00Z", &plan("pro")),
        login("c1", "2026-02-10T00:00:00Z"),
    ]
    .concat();
    let out = run(events, NO_HOLDOUT, Some("2026-02-12T00:00:00Z"));
    let inactive: Vec<_> = out
        .alerts_of("customer_inactive")
        .iter()
        .map(|a| (a["customer_id"].as_str().unwrap(), a["at"].as_str().unwrap()))
        .collect();
    assert_eq!(
        inactive,
        [
            ("c1", "2026-01-15T00:00:00Z"),
            ("c2", "2026-01-15T00:00:00Z"),
            ("c3", "2026-01-15T00:00:00Z"),
            ("c1", "2026-02-03T00:00:00Z"),
            ("c3", "2026-02-05T00:00:00Z"),
            ("c2", "2026-02-08T00:00:00Z"),
        ]
    );
    let ratio = |d: &str, s: &str, w: &str| {
        out.metric(&format!(
            r#"cxpulse_reactivation_ratio{{dimension="{d}",segment="{s}",window="{w}",group="treatment"}}"#
        ))
    };
    // 30d from Jan 14: six transitions, four followed by a reactivation (c1 twice, c2 and c3 once).
    let all = ratio("all", "all", "30d").unwrap();
    assert!((all - 4.0 / 6.0).abs() < 1e-12, "{all}");
    // The January transitions of c2 and c3 happened in plan free and count there, reactivated.
    assert_eq!(ratio("plan", "free", "30d"), Some(1.0));
    // Their February transitions happened in pro and have not been followed yet.
    assert_eq!(ratio("plan", "pro", "30d"), Some(0.0));
    // 7d from Feb 5 01:00: only c2's transition of Feb 8.
    assert_eq!(ratio("all", "all", "7d"), Some(0.0));
    assert_eq!(out.all("reactivation_ratio", "30d", r#",group="holdout""#), None);
    assert_eq!(out.all("reengagement_lift", "30d", ""), None);
    // The same figures from the alert stream alone.
    assert_eq!(ratio_from_alerts(&out, "2026-01-14", None), Some(all));
    assert_eq!(ratio_from_alerts(&out, "2026-01-14", Some("free")), Some(1.0));
    assert_eq!(ratio_from_alerts(&out, "2026-01-14", Some("pro")), Some(0.0));
}
