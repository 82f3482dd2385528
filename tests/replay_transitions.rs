//! Golden tests of customer transitions, messages, holdout, cooldown and overrides (SPEC §3, §5).

mod replay_support;

use replay_support::{ev, login, run, NO_HOLDOUT};

#[test]
fn inactive_then_churned_by_inactivity_with_message() {
    let events =
        ev("interaction", "c1", "2026-01-01T00:00:00Z", r#""kind":"login","segments":{"plan":"pro","region":"eu"}"#);
    let out = run(events, NO_HOLDOUT, Some("2026-03-15T00:00:00Z"));
    let kinds: Vec<_> = out.alerts.iter().map(|a| a["kind"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["customer_inactive", "customer_churned"]);
    let inactive = &out.alerts[0];
    assert_eq!(inactive["at"], "2026-01-15T00:00:00Z");
    assert_eq!(inactive["last_activity"], "2026-01-01T00:00:00Z");
    assert_eq!(inactive["group"], "treatment");
    assert_eq!(inactive["customer_id"], "c1");
    assert_eq!(inactive["segments"], serde_json::json!({"plan":"pro","region":"eu"}));
    let churned = &out.alerts[1];
    assert_eq!(churned["at"], "2026-03-02T00:00:00Z");
    assert_eq!(churned["reason"], "inactivity");
    assert_eq!(out.messages.len(), 1);
    let m = &out.messages[0];
    assert_eq!(m["at"], "2026-01-15T00:00:00Z");
    assert_eq!(m["expires_at"], "2026-01-22T00:00:00Z");
    assert_eq!(m["template"], "we-miss-you");
    assert_eq!(m["incentive"], "20% off your next purchase within 7 days");
    assert_eq!(m["segments"], serde_json::json!({"plan":"pro","region":"eu"}));
    assert_eq!(out.metric(r#"cxpulse_customers{dimension="all",segment="all",state="churned"}"#), Some(1.0));
    assert_eq!(out.metric(r#"cxpulse_customers{dimension="plan",segment="pro",state="active"}"#), Some(0.0));
    assert_eq!(out.metric(r#"cxpulse_stream_time_seconds"#), Some(1_773_532_800.0));
}

#[test]
fn other_customers_move_the_clock_and_activity_reactivates() {
    let events =
        [login("c1", "2026-01-01T00:00:00Z"), login("c2", "2026-01-20T00:00:00Z"), login("c1", "2026-01-21T00:00:00Z")]
            .concat();
    let out = run(events, NO_HOLDOUT, None);
    let seen: Vec<_> = out.alerts.iter().map(|a| (a["kind"].as_str().unwrap(), a["at"].as_str().unwrap())).collect();
    assert_eq!(seen, [("customer_inactive", "2026-01-15T00:00:00Z"), ("customer_reactivated", "2026-01-21T00:00:00Z")]);
    assert_eq!(out.alerts[1]["previous_state"], "inactive");
    assert_eq!(out.alerts[1]["group"], "treatment");
}

#[test]
fn a_transition_due_at_an_events_time_happens_before_the_event() {
    let events = [login("c1", "2026-01-01T00:00:00Z"), login("c1", "2026-01-15T00:00:00Z")].concat();
    let out = run(events, NO_HOLDOUT, None);
    let kinds: Vec<_> = out.alerts.iter().map(|a| a["kind"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["customer_inactive", "customer_reactivated"]);
    assert!(out.alerts.iter().all(|a| a["at"] == "2026-01-15T00:00:00Z"));
}

#[test]
fn cancellation_churns_at_once_and_activity_brings_the_customer_back() {
    let events = [
        login("c1", "2026-01-01T00:00:00Z"),
        ev("interaction", "c1", "2026-01-02T00:00:00Z", r#""kind":"cancellation""#),
        login("c2", "2026-03-30T00:00:00Z"),
        login("c1", "2026-04-01T00:00:00Z"),
    ]
    .concat();
    let out = run(events, NO_HOLDOUT, None);
    let c1: Vec<_> = out
        .alerts
        .iter()
        .filter(|a| a["customer_id"] == "c1")
        .map(|a| (a["kind"].as_str().unwrap(), a["at"].as_str().unwrap()))
        .collect();
    assert_eq!(c1, [("customer_churned", "2026-01-02T00:00:00Z"), ("customer_reactivated", "2026-04-01T00:00:00Z")]);
    let churned = out.alerts_of("customer_churned");
    assert_eq!(churned[0]["reason"], "cancellation");
    assert_eq!(out.alerts_of("customer_reactivated")[0]["previous_state"], "churned");
    // A cancelled customer gets no inactivity message.
    assert!(out.messages.iter().all(|m| m["customer_id"] != "c1"));
}

#[test]
fn cooldown_suppresses_a_second_message_within_30_days() {
    let events =
        [login("c1", "2026-01-01T00:00:00Z"), login("c1", "2026-01-16T00:00:00Z"), login("c1", "2026-02-01T00:00:00Z")]
            .concat();
    let out = run(events, NO_HOLDOUT, Some("2026-02-20T00:00:00Z"));
    let inactive: Vec<_> = out.alerts_of("customer_inactive").iter().map(|a| a["at"].as_str().unwrap()).collect();
    assert_eq!(inactive, ["2026-01-15T00:00:00Z", "2026-01-30T00:00:00Z", "2026-02-15T00:00:00Z"]);
    let sent: Vec<_> = out.messages.iter().map(|m| m["at"].as_str().unwrap()).collect();
    assert_eq!(sent, ["2026-01-15T00:00:00Z", "2026-02-15T00:00:00Z"], "Jan 30 is within the cooldown");
    // The 30d window at Feb 20 holds Jan 22 .. Feb 20: only the second message.
    assert_eq!(out.all("reengagement_messages", "30d", ""), Some(1.0));
}

#[test]
fn holdout_customers_get_alerts_but_no_messages() {
    let out = run(
        login("c1", "2026-01-01T00:00:00Z"),
        "[reengagement]\nholdout_percent = 100\n",
        Some("2026-01-20T00:00:00Z"),
    );
    assert_eq!(out.alerts_of("customer_inactive")[0]["group"], "holdout");
    assert!(out.messages.is_empty());
}

#[test]
fn holdout_follows_the_fnv_rule() {
    // Analysts recompute the group in SQL; check a few ids against an independent computation.
    fn fnv(s: &str) -> u64 {
        s.bytes().fold(0xcbf29ce484222325u64, |h, b| (h ^ u64::from(b)).wrapping_mul(0x100000001b3))
    }
    let ids: Vec<String> = (0..40).map(|i| format!("cust-{i}")).collect();
    let events: String = ids.iter().map(|id| login(id, "2026-01-01T00:00:00Z")).collect();
    let out = run(events, "", Some("2026-01-20T00:00:00Z"));
    for alert in out.alerts_of("customer_inactive") {
        let id = alert["customer_id"].as_str().unwrap();
        let expected = if fnv(&format!("cxpulse:{id}")) % 10_000 < 1_000 { "holdout" } else { "treatment" };
        assert_eq!(alert["group"], expected, "{id}");
    }
    let holdouts = out.alerts_of("customer_inactive").iter().filter(|a| a["group"] == "holdout").count();
    assert_eq!(out.messages.len(), 40 - holdouts);
}

#[test]
fn per_segment_inactivity_overrides_first_match_wins() {
    let config = r#"
[reengagement]
holdout_percent = 0
[[inactivity.overrides]]
dimension = "plan"
segment = "enterprise"
inactive_after = "30d"
churn_after = "90d"
[[inactivity.overrides]]
dimension = "region"
segment = "eu"
inactive_after = "7d"
"#;
    let events = [
        ev(
            "interaction",
            "ent",
            "2026-01-01T00:00:00Z",
            r#""kind":"login","segments":{"plan":"enterprise","region":"eu"}"#,
        ),
        ev("interaction", "eu", "2026-01-01T00:00:00Z", r#""kind":"login","segments":{"plan":"free","region":"eu"}"#),
        ev("interaction", "std", "2026-01-01T00:00:00Z", r#""kind":"login","segments":{"plan":"free","region":"na"}"#),
    ]
    .concat();
    let out = run(events, config, Some("2026-02-05T00:00:00Z"));
    let at = |id: &str| {
        out.alerts_of("customer_inactive")
            .iter()
            .find(|a| a["customer_id"] == id)
            .map(|a| a["at"].as_str().unwrap().to_string())
    };
    assert_eq!(at("ent").as_deref(), Some("2026-01-31T00:00:00Z"));
    assert_eq!(at("eu").as_deref(), Some("2026-01-08T00:00:00Z"));
    assert_eq!(at("std").as_deref(), Some("2026-01-15T00:00:00Z"));
}

#[test]
fn per_segment_message_overrides() {
    let config = r#"
[reengagement]
holdout_percent = 0
[[reengagement.overrides]]
dimension = "plan"
segment = "pro"
template = "pro-winback"
incentive = "one month free"
offer_valid_for = "14d"
"#;
    let events = [
        ev("interaction", "p", "2026-01-01T00:00:00Z", r#""kind":"login","segments":{"plan":"pro"}"#),
        ev("interaction", "f", "2026-01-01T00:00:00Z", r#""kind":"login","segments":{"plan":"free"}"#),
    ]
    .concat();
    let out = run(events, config, Some("2026-01-20T00:00:00Z"));
    let pro = out.messages.iter().find(|m| m["customer_id"] == "p").unwrap();
    assert_eq!(pro["template"], "pro-winback");
    assert_eq!(pro["incentive"], "one month free");
    assert_eq!(pro["expires_at"], "2026-01-29T00:00:00Z");
    let free = out.messages.iter().find(|m| m["customer_id"] == "f").unwrap();
    assert_eq!(free["template"], "we-miss-you");
}

#[test]
fn non_activity_events_do_not_reactivate() {
    let events = [
        login("c1", "2026-01-01T00:00:00Z"),
        ev("interaction", "c1", "2026-01-20T00:00:00Z", r#""kind":"support_first_response","ticket_id":"t""#),
        ev("interaction", "c1", "2026-01-21T00:00:00Z", r#""kind":"support_resolved","ticket_id":"t""#),
        ev("survey", "c1", "2026-01-22T00:00:00Z", r#""survey":"nps","score":9"#),
    ]
    .concat();
    let out = run(events, NO_HOLDOUT, None);
    let kinds: Vec<_> = out.alerts.iter().map(|a| (a["kind"].as_str().unwrap(), a["at"].as_str().unwrap())).collect();
    assert_eq!(
        kinds,
        [("customer_inactive", "2026-01-15T00:00:00Z"), ("customer_reactivated", "2026-01-22T00:00:00Z")]
    );
}

#[test]
fn reactivation_ratio_and_lift_by_group() {
    use cxpulse::state::holdout::is_holdout;
    let treatment: Vec<String> =
        (0..).map(|i| format!("t{i}")).filter(|id| !is_holdout("cxpulse", id, 10.0)).take(2).collect();
    let holdout: Vec<String> =
        (0..).map(|i| format!("h{i}")).filter(|id| is_holdout("cxpulse", id, 10.0)).take(2).collect();
    let mut events: String = treatment.iter().chain(&holdout).map(|id| login(id, "2026-01-01T00:00:00Z")).collect();
    events += &login(&treatment[0], "2026-01-20T00:00:00Z");
    let out = run(events, "", Some("2026-01-25T00:00:00Z"));
    assert_eq!(out.all("reactivation_ratio", "30d", r#",group="treatment""#), Some(0.5));
    assert_eq!(out.all("reactivation_ratio", "30d", r#",group="holdout""#), Some(0.0));
    assert_eq!(out.all("reengagement_lift", "30d", ""), Some(0.5));
    // The 7d window starts after the inactive transitions: no denominator, no series.
    assert_eq!(out.all("reactivation_ratio", "7d", r#",group="treatment""#), None);
    assert_eq!(out.messages.len(), 2);
}

#[test]
fn alert_ids_are_deterministic_and_distinct() {
    let events: String = (0..20).map(|i| login(&format!("c{i}"), "2026-01-01T00:00:00Z")).collect();
    let a = run(&events, NO_HOLDOUT, Some("2026-04-01T00:00:00Z"));
    let b = run(&events, NO_HOLDOUT, Some("2026-04-01T00:00:00Z"));
    assert_eq!(a.alerts_text, b.alerts_text);
    assert_eq!(a.messages_text, b.messages_text);
    let mut ids: Vec<_> = a.alerts.iter().map(|x| x["alert_id"].as_str().unwrap().to_string()).collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 40);
}
