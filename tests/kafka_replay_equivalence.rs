//! Live equals replay: a simulated file produced into a real broker (tansu) and consumed by the
//! service gives the same figures, alerts and messages (same ids) as `cxpulse replay` on the file.
//!
//! Wall time is taken out of the picture with a huge `clock.max_lag` (and `max_future_skew`), so
//! the live clock is the event time, as in replay. With one partition the equality is exact. With
//! several, every partition's clock ends at its own last event, where replay's single clock ends
//! at the last event of all: transitions due in between happen in replay only. So the check there
//! is that live transitions are replay's, and every replay-only one is due after its partition's
//! last event. Threshold rules are compared here with one partition; `kafka_cluster` compares them
//! with four partitions on three instances (see `service::live_rules`).

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::time::Duration;

use serde_json::Value;
use support::*;

const TEST_CONFIG: &str = r#"
[clock]
max_lag = "36500d"
max_future_skew = "36500d"

[service]
merge_wait = "2s"
probe_interval = "1s"
"#;

fn figures(metrics: &str) -> BTreeSet<String> {
    figures_except(metrics, &[])
}

fn values(messages: &[rdkafka::message::OwnedMessage]) -> Vec<Value> {
    use rdkafka::Message;
    messages.iter().map(|m| serde_json::from_slice(m.payload().unwrap()).unwrap()).collect()
}

fn by_id(records: &[Value], id: &str) -> BTreeMap<String, Value> {
    let map: BTreeMap<String, Value> =
        records.iter().map(|r| (r[id].as_str().unwrap().to_string(), r.clone())).collect();
    assert_eq!(map.len(), records.len(), "an {id} was published twice");
    map
}

/// Feeds the file through Kafka and waits until the service has seen every line.
async fn run_live(
    tansu: &Tansu,
    dir: &Path,
    replayed: &Replayed,
    partitions: i32,
    alerts_due: Option<usize>,
) -> (String, Vec<Value>, Vec<Value>, Vec<(i32, i64)>) {
    create_default_topics(&tansu.bootstrap(), partitions).await;
    let records: Vec<Record> = replayed.lines.iter().map(|l| route_line(l)).collect();
    let positions = produce(&tansu.bootstrap(), &records).await;
    let port = free_port();
    let config = write_config(dir, &tansu.bootstrap(), "equivalence", port, &format!("{TEST_CONFIG}{TEST_RULES}"));
    let service = InProcess::start(&config, port);
    let total = replayed.lines.len() as u64;
    wait_until(Duration::from_secs(120), "every event consumed", || async {
        events_seen(&service.metrics().await) == total
    })
    .await;
    wait_until(Duration::from_secs(30), "readiness", || async { service.ready().await.0 }).await;
    // A boundary is judged once every partition's publish of it is known delivered, about a tick
    // after the input ends: wait for the alerts due before stopping.
    if let Some(due) = alerts_due {
        read_topic(&tansu.bootstrap(), TOPICS[2], due, Duration::from_secs(60));
    }
    let metrics = service.metrics().await;
    service.stop().await;
    let alerts = values(&read_topic(&tansu.bootstrap(), TOPICS[2], 1, Duration::from_secs(30)));
    let messages = values(&read_topic(&tansu.bootstrap(), TOPICS[3], 1, Duration::from_secs(30)));
    (metrics, alerts, messages, positions)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_partition_live_equals_replay() {
    let dir = tempfile::tempdir().unwrap();
    let config_file = write_config(dir.path(), "embedded", "replay", 1, &format!("{TEST_CONFIG}{TEST_RULES}"));
    let replayed = simulate_and_replay(dir.path(), &config_file, 250, 40);
    let tansu = Tansu::start();
    let due = replayed.alerts_at_boundaries();
    let (metrics, alerts, messages, _) = run_live(&tansu, dir.path(), &replayed, 1, Some(due)).await;

    let (live, replay) = (figures(&metrics), figures(&replayed.metrics));
    let only_live: Vec<_> = live.difference(&replay).collect();
    let only_replay: Vec<_> = replay.difference(&live).collect();
    assert!(
        only_live.is_empty() && only_replay.is_empty(),
        "segment figures and event counts differ:\nlive only: {only_live:#?}\nreplay only: {only_replay:#?}"
    );
    assert_eq!(by_id(&messages, "message_id"), by_id(&replayed.messages, "message_id"));
    let live = by_id(&alerts, "alert_id");
    assert_eq!(live, replayed.expected_alerts(&live));
    assert!(live.values().any(|a| a["kind"] == "customer_inactive"), "the file should make customers inactive");
    assert!(live.values().any(|a| a["kind"] == "segment_threshold"), "the test rules should fire");
    let dead = read_topic(&tansu.bootstrap(), TOPICS[4], replayed.dead_letters.len(), Duration::from_secs(20));
    let mut live_reasons: Vec<String> =
        dead.iter().flat_map(headers).filter(|(k, _)| k == "cxpulse.reason").map(|(_, v)| v).collect();
    let mut replay_reasons: Vec<String> =
        replayed.dead_letters.iter().map(|d| d["reason"].as_str().unwrap().to_string()).collect();
    live_reasons.sort();
    replay_reasons.sort();
    assert_eq!(live_reasons, replay_reasons, "dead letters");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_partitions_same_transitions() {
    let dir = tempfile::tempdir().unwrap();
    let config_file = write_config(dir.path(), "embedded", "replay", 1, &format!("{TEST_CONFIG}{TEST_RULES}"));
    let replayed = simulate_and_replay(dir.path(), &config_file, 300, 40);
    let tansu = Tansu::start();
    let (_, alerts, messages, positions) = run_live(&tansu, dir.path(), &replayed, 3, None).await;

    // The last event time of each partition, from where each customer's events went.
    let mut partition_of = BTreeMap::new();
    let mut last_ts = BTreeMap::new();
    for (line, (partition, _)) in replayed.lines.iter().zip(&positions) {
        let Ok(event) = serde_json::from_slice::<Value>(line) else {
            continue;
        };
        let Some(customer) = event["customer_id"].as_str() else {
            continue;
        };
        partition_of.insert(customer.to_string(), *partition);
        if let Some(ts) = event_ms(&event["ts"]) {
            let last = last_ts.entry(*partition).or_insert(ts);
            *last = (*last).max(ts);
        }
    }
    let transitions = |records: &[Value]| -> BTreeMap<String, Value> {
        by_id(records, "alert_id").into_iter().filter(|(_, a)| a["kind"] != "segment_threshold").collect()
    };
    let live = transitions(&alerts);
    let expected = transitions(&replayed.alerts);
    for (id, alert) in &live {
        assert_eq!(expected.get(id), Some(alert), "live alert not in replay");
    }
    for (id, alert) in expected.iter().filter(|(id, _)| !live.contains_key(*id)) {
        let partition = partition_of[alert["customer_id"].as_str().unwrap()];
        let at = event_ms(&alert["at"]).unwrap();
        assert!(
            at > last_ts[&partition],
            "replay alert {id} due before its partition's last event is missing live: {alert}"
        );
    }
    let live_messages = by_id(&messages, "message_id");
    for (id, message) in &live_messages {
        assert_eq!(by_id(&replayed.messages, "message_id").get(id), Some(message));
    }
    assert!(live.len() * 10 >= expected.len() * 9, "most transitions happen live too");
}

fn event_ms(ts: &Value) -> Option<i64> {
    match ts {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => chrono::DateTime::parse_from_rfc3339(s).ok().map(|t| t.timestamp_millis()),
        _ => None,
    }
}
