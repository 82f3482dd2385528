//! Golden tests of the windowed segment metrics and window edges (SPEC §2, §4).

mod replay_support;

use replay_support::{ev, login, run, NO_HOLDOUT};

fn pv(c: &str, ts: &str, id: &str) -> String {
    ev("interaction", c, ts, &format!(r#""kind":"page_view","event_id":"{id}""#))
}

#[test]
fn window_edges_and_late_events() {
    let events = [
        pv("c1", "2026-01-01T10:00:00Z", "a"),
        pv("c1", "2026-01-01T11:00:30Z", "b"),
        // Behind the clock: out of the 1h window (minutes 10:01..11:00) but inside 24h.
        pv("c1", "2026-01-01T09:00:00Z", "c"),
        // Fits no window at all: late.
        pv("c1", "2025-11-20T00:00:00Z", "d"),
    ]
    .concat();
    let out = run(events, "", None);
    let pv = |w: &str| out.all("interactions", w, r#",kind="page_view""#);
    assert_eq!(pv("1h"), Some(1.0), "10:00 left the 1h window when the clock reached 11:00:30");
    assert_eq!(pv("24h"), Some(3.0));
    assert_eq!(pv("7d"), Some(3.0));
    assert_eq!(pv("30d"), Some(3.0));
    assert_eq!(out.summary.late, 1);
    assert_eq!(out.summary.accepted, 3);
    assert_eq!(out.metric(r#"cxpulse_events_total{outcome="late"}"#), Some(1.0));
    assert_eq!(out.metric(r#"cxpulse_events_total{outcome="accepted"}"#), Some(3.0));
}

#[test]
fn a_bucket_boundary_event_opens_the_new_bucket() {
    let events = [pv("c1", "2026-01-01T10:00:59.999Z", "a"), pv("c1", "2026-01-01T11:00:00Z", "b")].concat();
    let out = run(events, "", None);
    // At 11:00:00 the 1h window holds minutes 10:01..11:00; 10:00:59.999 is in minute 10:00.
    assert_eq!(out.all("interactions", "1h", r#",kind="page_view""#), Some(1.0));
    let out = run(events_at("2026-01-01T10:01:00Z"), "", None);
    assert_eq!(out.all("interactions", "1h", r#",kind="page_view""#), Some(2.0));
}

fn events_at(first: &str) -> String {
    [pv("c1", first, "a"), pv("c1", "2026-01-01T11:00:00Z", "b")].concat()
}

#[test]
fn timestamp_forms_and_offsets_agree() {
    let events = [
        ev("interaction", "c1", "2026-01-01T21:00:00+09:00", r#""kind":"login","event_id":"1""#),
        ev("interaction", "c2", "2026-01-01T12:00:00Z", r#""kind":"login","event_id":"2""#),
        ev("interaction", "c3", "1767268800000", r#""kind":"login","event_id":"3""#),
        ev("interaction", "c4", "2026-01-01T07:00:00.250-05:00", r#""kind":"login","event_id":"4""#),
    ]
    .concat();
    let out = run(events, "", None);
    assert_eq!(out.all("interactions", "1h", r#",kind="login""#), Some(4.0));
    assert_eq!(out.metric("cxpulse_stream_time_seconds"), Some(1_767_268_800.25));
    assert_eq!(out.all("active_customers", "1h", ""), Some(4.0));
}

#[test]
fn survey_scores() {
    let s = |c: &str, survey: &str, score: i64| {
        ev("survey", c, "2026-01-01T12:00:00Z", &format!(r#""survey":"{survey}","score":{score}"#))
    };
    let events = [
        s("a", "nps", 10),
        s("b", "nps", 10),
        s("c", "nps", 7),
        s("d", "csat", 5),
        s("e", "csat", 4),
        s("f", "csat", 3),
        s("g", "csat", 1),
        s("h", "ces", 1),
        s("i", "ces", 2),
        s("j", "ces", 6),
    ]
    .concat();
    let out = run(events, "", None);
    let nps = out.all("nps_score", "24h", "").unwrap();
    assert!((nps - 200.0 / 3.0).abs() < 1e-9, "{nps}");
    assert_eq!(out.all("csat_ratio", "24h", ""), Some(0.5));
    assert_eq!(out.all("ces_average", "24h", ""), Some(3.0));
    assert_eq!(out.all("survey_responses", "24h", r#",survey="nps""#), Some(3.0));
    assert_eq!(out.all("survey_responses", "24h", r#",survey="csat""#), Some(4.0));
    // Surveys are activity.
    assert_eq!(out.all("active_customers", "24h", ""), Some(10.0));
}

#[test]
fn detractors_and_promoters() {
    let s =
        |c: &str, score: i64| ev("survey", c, "2026-01-01T12:00:00Z", &format!(r#""survey":"nps","score":{score}"#));
    let out = run([s("a", 10), s("b", 9), s("c", 8), s("d", 6), s("e", 0)].concat(), "", None);
    assert_eq!(out.all("nps_score", "1h", ""), Some(0.0));
}

#[test]
fn no_denominator_means_no_series() {
    let out = run(login("c1", "2026-01-01T12:00:00Z"), "", None);
    for name in [
        "nps_score",
        "csat_ratio",
        "ces_average",
        "average_order_value",
        "session_seconds_average",
        "resolution_seconds_average",
        "first_response_seconds_average",
        "reengagement_lift",
    ] {
        assert_eq!(out.all(name, "24h", ""), None, "{name}");
    }
    assert!(!out.metrics_text.contains("NaN"));
    // Counts exist with 0.
    assert_eq!(out.all("revenue", "24h", ""), Some(0.0));
    assert_eq!(out.all("churned_customers", "24h", ""), Some(0.0));
    // The customer was seen at 12:00, not before the 24h window's start: no churn-ratio denominator.
    assert_eq!(out.all("churn_ratio", "24h", ""), None);
}

#[test]
fn revenue_sessions_and_unknown_kinds() {
    let events = [
        ev("interaction", "c1", "2026-01-01T12:00:00Z", r#""kind":"purchase","amount":10.5"#),
        ev("interaction", "c2", "2026-01-01T12:01:00Z", r#""kind":"purchase","amount":20"#),
        ev("interaction", "c1", "2026-01-01T12:02:00Z", r#""kind":"session","duration_seconds":60"#),
        ev("interaction", "c1", "2026-01-01T12:03:00Z", r#""kind":"session","duration_seconds":120.0"#),
        ev("interaction", "c3", "2026-01-01T12:04:00Z", r#""kind":"feature_used""#),
    ]
    .concat();
    let out = run(events, "", None);
    assert_eq!(out.all("revenue", "1h", ""), Some(30.5));
    assert_eq!(out.all("average_order_value", "1h", ""), Some(15.25));
    assert_eq!(out.all("session_seconds_average", "1h", ""), Some(90.0));
    assert_eq!(out.all("interactions", "1h", r#",kind="other""#), Some(1.0));
    assert_eq!(out.all("interactions", "1h", r#",kind="purchase""#), Some(2.0));
    assert_eq!(out.all("active_customers", "1h", ""), Some(3.0), "unknown kinds are activity");
}

#[test]
fn ticket_resolution_and_first_response() {
    let t = |kind: &str, ts: &str, ticket: &str| {
        ev("interaction", "c1", ts, &format!(r#""kind":"{kind}","ticket_id":"{ticket}""#))
    };
    let events = [
        t("support_opened", "2026-01-01T10:00:00Z", "t1"),
        t("support_first_response", "2026-01-01T10:30:00Z", "t1"),
        t("support_first_response", "2026-01-01T10:45:00Z", "t1"),
        t("support_resolved", "2026-01-01T12:00:00Z", "t1"),
        t("support_resolved", "2026-01-01T12:30:00Z", "never-opened"),
    ]
    .concat();
    let out = run(events, "", None);
    assert_eq!(out.all("resolution_seconds_average", "24h", ""), Some(7200.0));
    assert_eq!(out.all("first_response_seconds_average", "24h", ""), Some(1800.0));
    assert_eq!(out.all("interactions", "24h", r#",kind="support_resolved""#), Some(2.0));
    assert_eq!(out.all("interactions", "24h", r#",kind="support_first_response""#), Some(2.0));
    // The 1h window at 12:30 holds minutes 11:31..12:30: the resolution at 12:00 is in it.
    assert_eq!(out.all("resolution_seconds_average", "1h", ""), Some(7200.0));
    assert_eq!(out.all("first_response_seconds_average", "1h", ""), None);
}

#[test]
fn churn_ratio_counts_customers_live_at_the_window_start() {
    let cancel = |c: &str, ts: &str| ev("interaction", c, ts, r#""kind":"cancellation""#);
    let events = [
        login("c1", "2026-01-01T00:00:00Z"),
        login("c2", "2026-01-01T00:00:00Z"),
        login("c3", "2026-01-01T00:00:00Z"),
        login("c4", "2026-01-01T00:00:00Z"),
        login("c6", "2026-01-01T00:00:00Z"),
        cancel("c6", "2026-01-20T00:00:00Z"),
        login("c5", "2026-02-10T00:00:00Z"),
        cancel("c5", "2026-02-11T00:00:00Z"),
        cancel("c1", "2026-02-20T00:00:00Z"),
    ]
    .concat();
    let out = run(events, NO_HOLDOUT, Some("2026-03-01T00:00:00Z"));
    // 30d window at Mar 1 starts Jan 31: c1..c4 live then (c6 churned, c5 unseen); c1 and c5 churn inside.
    assert_eq!(out.all("churned_customers", "30d", ""), Some(2.0));
    assert_eq!(out.all("churn_ratio", "30d", ""), Some(0.5));
    // 7d window starts Feb 22 01:00: c2..c4 live, no churn inside.
    assert_eq!(out.all("churn_ratio", "7d", ""), Some(0.0));
}

#[test]
fn membership_moves_with_the_customer() {
    let events = [
        ev("interaction", "c1", "2026-01-01T10:00:00Z", r#""kind":"login","segments":{"plan":"free"}"#),
        ev("interaction", "c1", "2026-01-01T11:00:00Z", r#""kind":"login","segments":{"plan":"pro","ignored":"x"}"#),
    ]
    .concat();
    let out = run(events, "", None);
    let m = |series: &str| out.metric(series);
    assert_eq!(m(r#"cxpulse_active_customers{dimension="plan",segment="free",window="24h"}"#), Some(0.0));
    assert_eq!(m(r#"cxpulse_active_customers{dimension="plan",segment="pro",window="24h"}"#), Some(1.0));
    assert_eq!(m(r#"cxpulse_customers{dimension="plan",segment="free",state="active"}"#), Some(0.0));
    assert_eq!(m(r#"cxpulse_customers{dimension="plan",segment="pro",state="active"}"#), Some(1.0));
    // Events count where the customer was when they happened.
    assert_eq!(m(r#"cxpulse_interactions{dimension="plan",segment="free",window="24h",kind="login"}"#), Some(1.0));
    assert_eq!(m(r#"cxpulse_interactions{dimension="plan",segment="pro",window="24h",kind="login"}"#), Some(1.0));
    assert!(!out.metrics_text.contains("ignored"));
}

#[test]
fn segment_values_are_capped_with_other() {
    let seg = |c: &str, plan: &str| {
        ev("interaction", c, "2026-01-01T10:00:00Z", &format!(r#""kind":"login","segments":{{"plan":"{plan}"}}"#))
    };
    let events = [seg("a", "free"), seg("b", "pro"), seg("c", "team"), seg("d", "enterprise")].concat();
    let out = run(events, "[segments]\nmax_values = 2\n", None);
    let m = |s: &str| out.metric(&format!(r#"cxpulse_active_customers{{dimension="plan",segment="{s}",window="1h"}}"#));
    assert_eq!(m("free"), Some(1.0));
    assert_eq!(m("pro"), Some(1.0));
    assert_eq!(m("other"), Some(2.0));
    assert_eq!(m("team"), None);
    assert_eq!(out.all("active_customers", "1h", ""), Some(4.0));
}

#[test]
fn duplicates_are_dropped_within_the_dedup_window_only() {
    let events = [
        pv("c1", "2026-01-01T10:00:00Z", "same"),
        pv("c1", "2026-01-01T10:00:00Z", "same"),
        pv("c1", "2026-01-01T10:59:59Z", "same"),
        pv("c1", "2026-01-01T11:00:00Z", "same"),
        pv("c1", "2026-01-01T11:00:00Z", "other"),
    ]
    .concat();
    let out = run(events, "", None);
    assert_eq!(out.summary.duplicate, 2);
    assert_eq!(out.summary.accepted, 3);
    assert_eq!(out.metric(r#"cxpulse_events_total{outcome="duplicate"}"#), Some(2.0));
    assert_eq!(out.all("interactions", "24h", r#",kind="page_view""#), Some(3.0));
}

#[test]
fn gauges_and_service_metrics_have_their_names() {
    let out = run(login("c1", "2026-01-01T10:00:00Z"), NO_HOLDOUT, None);
    for name in [
        "cxpulse_survey_responses",
        "cxpulse_interactions",
        "cxpulse_active_customers",
        "cxpulse_revenue",
        "cxpulse_churned_customers",
        "cxpulse_reengagement_messages",
        "cxpulse_customers",
        "cxpulse_events_total",
        "cxpulse_invalid_events_total",
        "cxpulse_alerts_total",
        "cxpulse_stream_time_seconds",
        "cxpulse_tracked_customers",
        "cxpulse_event_processing_seconds",
        "cxpulse_build_info",
    ] {
        assert!(out.metrics_text.contains(&format!("# TYPE {name} ")), "{name} missing");
    }
    assert_eq!(out.metric("cxpulse_tracked_customers"), Some(1.0));
    assert!(!out.metrics_text.contains("c1"), "no customer id in metrics");
}
