//! Bad input on a real broker: every kind of refused record lands in the dead-letter topic with its
//! original key and value and headers naming the reason and the source position; a record keyed by
//! someone else is counted and re-keyed to its customer's partition (`tests/kafka_rekey.rs`), or
//! dead-lettered when so configured; nothing stops consumption.

mod support;

use std::time::Duration;

use rdkafka::Message;
use support::*;

fn event(customer: &str, extra: &str) -> Vec<u8> {
    format!(r#"{{"type":"interaction","customer_id":"{customer}","ts":"2026-03-01T10:00:00Z","kind":"login"{extra}}}"#)
        .into_bytes()
}

fn record(topic: &str, key: Option<&str>, value: Option<Vec<u8>>) -> Record {
    Record { topic: topic.into(), key: key.map(|k| k.as_bytes().to_vec()), value }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_records_go_to_the_dead_letter_topic_with_headers() {
    let tansu = Tansu::start();
    let bootstrap = tansu.bootstrap();
    create_default_topics(&bootstrap, 1).await;
    let future = chrono::Utc::now().timestamp_millis() + 86_400_000;
    let padding = format!(r#","note":"{}""#, "x".repeat(2_000));
    let (i, s) = (TOPICS[0], TOPICS[1]);
    let records = vec![
        record(i, Some("c-1"), Some(event("c-1", ""))),
        record(i, Some("k-json"), Some(b"{not json".to_vec())),
        record(i, Some("k-null"), None),
        record(i, Some("c-2"), Some(event("c-2", &padding))),
        record(i, Some("k-utf8"), Some(vec![b'{', 0xff, b'}'])),
        record(
            i,
            Some("c-3"),
            Some(format!(r#"{{"type":"interaction","customer_id":"c-3","ts":{future},"kind":"login"}}"#).into_bytes()),
        ),
        record(
            s,
            Some("c-4"),
            Some(br#"{"type":"survey","customer_id":"c-4","ts":1772359200000,"survey":"nps","score":11}"#.to_vec()),
        ),
        record(s, Some("c-5"), Some(br#"{"type":"feedback","customer_id":"c-5","ts":1772359200000}"#.to_vec())),
        record(i, Some("someone-else"), Some(event("c-6", ""))),
        record(i, None, Some(event("c-7", ""))),
        record(
            s,
            Some("c-8"),
            Some(br#"{"type":"survey","customer_id":"c-8","ts":1772359200000,"survey":"csat","score":5}"#.to_vec()),
        ),
    ];
    let positions = produce(&bootstrap, &records).await;

    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let extra = "[clock]\nmax_lag = \"36500d\"\n\n[limits]\nmax_event_bytes = 1024\n";
    let service = InProcess::start(&write_config(dir.path(), &bootstrap, "bad-input", port, extra), port);
    let total = records.len() as u64;
    wait_until(Duration::from_secs(60), "all records consumed", || async {
        events_seen(&service.metrics().await) == total
    })
    .await;
    let metrics = service.metrics().await;
    service.stop().await;

    assert_eq!(metric(&metrics, r#"cxpulse_events_total{outcome="accepted"}"#), Some(4.0), "{metrics}");
    assert_eq!(metric(&metrics, r#"cxpulse_events_total{outcome="invalid"}"#), Some(7.0));
    assert_eq!(metric(&metrics, "cxpulse_mismatched_keys_total"), Some(2.0), "other key and null key");
    assert_eq!(metric(&metrics, r#"cxpulse_customers{dimension="all",segment="all",state="active"}"#), Some(4.0));

    let expected = [
        (1, "malformed_json"),
        (2, "malformed_json"),
        (3, "too_large"),
        (4, "not_utf8"),
        (5, "future_timestamp"),
        (6, "out_of_range"),
        (7, "unknown_type"),
    ];
    let dead = read_topic(&bootstrap, TOPICS[4], expected.len(), Duration::from_secs(30));
    assert_eq!(dead.len(), expected.len());
    for (index, reason) in expected {
        let source = &records[index];
        let (partition, offset) = positions[index];
        let found = dead
            .iter()
            .find(|m| {
                let h = headers(m);
                h.contains(&("cxpulse.source.topic".into(), source.topic.clone()))
                    && h.contains(&("cxpulse.source.offset".into(), offset.to_string()))
            })
            .unwrap_or_else(|| panic!("no dead letter for record {index}"));
        let h = headers(found);
        assert!(h.contains(&("cxpulse.reason".into(), reason.into())), "record {index}: {h:?}");
        assert!(h.contains(&("cxpulse.source.partition".into(), partition.to_string())));
        assert!(h.iter().any(|(k, v)| k == "cxpulse.detail" && !v.is_empty()));
        assert_eq!(found.key(), source.key.as_deref(), "original key kept");
        assert_eq!(found.payload(), source.value.as_deref(), "original value kept");
    }
}

/// `kafka.mismatched_keys = "dead_letter"`: a record keyed by someone else or by nothing is
/// dead-lettered (reason `mismatched_key`, original key and value kept); the rightly keyed ones
/// are applied.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mismatched_keys_can_be_dead_lettered() {
    let tansu = Tansu::start();
    let bootstrap = tansu.bootstrap();
    create_default_topics(&bootstrap, 1).await;
    let i = TOPICS[0];
    let records = vec![
        record(i, Some("c-1"), Some(event("c-1", ""))),
        record(i, Some("someone-else"), Some(event("c-2", ""))),
        record(i, None, Some(event("c-3", ""))),
        record(i, Some("c-4"), Some(event("c-4", ""))),
    ];
    let positions = produce(&bootstrap, &records).await;
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let config = write_config(dir.path(), &bootstrap, "mismatched", port, "[clock]\nmax_lag = \"36500d\"\n");
    let text =
        std::fs::read_to_string(&config).unwrap().replace("[kafka]\n", "[kafka]\nmismatched_keys = \"dead_letter\"\n");
    std::fs::write(&config, text).unwrap();
    let service = InProcess::start(&config, port);
    wait_until(Duration::from_secs(60), "all records consumed", || async {
        events_seen(&service.metrics().await) == records.len() as u64
    })
    .await;
    let metrics = service.metrics().await;
    service.stop().await;
    assert_eq!(metric(&metrics, r#"cxpulse_events_total{outcome="accepted"}"#), Some(2.0), "{metrics}");
    assert_eq!(metric(&metrics, r#"cxpulse_invalid_events_total{reason="mismatched_key"}"#), Some(2.0));
    assert_eq!(metric(&metrics, "cxpulse_mismatched_keys_total"), Some(2.0));
    assert_eq!(metric(&metrics, r#"cxpulse_customers{dimension="all",segment="all",state="active"}"#), Some(2.0));
    let dead = read_topic(&bootstrap, TOPICS[4], 2, Duration::from_secs(30));
    assert_eq!(dead.len(), 2);
    for index in [1, 2] {
        let found = dead
            .iter()
            .find(|m| headers(m).contains(&("cxpulse.source.offset".into(), positions[index].1.to_string())))
            .unwrap_or_else(|| panic!("no dead letter for record {index}"));
        assert!(headers(found).contains(&("cxpulse.reason".into(), "mismatched_key".into())));
        assert_eq!(found.key(), records[index].key.as_deref(), "original key kept");
        assert_eq!(found.payload(), records[index].value.as_deref(), "original value kept");
    }
}

/// `limits.max_customers`: once a partition tracks that many customers, the events of new ones
/// are dead-lettered (reason `customer_limit`) with their original key and value, which the
/// partition task keeps only near the limit; known customers go on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn new_customers_past_the_limit_are_dead_lettered_as_they_came() {
    let tansu = Tansu::start();
    let bootstrap = tansu.bootstrap();
    create_default_topics(&bootstrap, 1).await;
    let i = TOPICS[0];
    let mut records: Vec<Record> =
        (1..=8).map(|n| format!("c-{n}")).map(|c| record(i, Some(&c), Some(event(&c, "")))).collect();
    records.push(record(i, Some("c-1"), Some(event("c-1", r#","event_id":"again""#))));
    let positions = produce(&bootstrap, &records).await;
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let extra = "[clock]\nmax_lag = \"36500d\"\n\n[limits]\nmax_customers = 5\n";
    let service = InProcess::start(&write_config(dir.path(), &bootstrap, "limit", port, extra), port);
    wait_until(Duration::from_secs(60), "all records consumed", || async {
        events_seen(&service.metrics().await) == records.len() as u64
    })
    .await;
    let metrics = service.metrics().await;
    service.stop().await;
    assert_eq!(metric(&metrics, r#"cxpulse_events_total{outcome="accepted"}"#), Some(6.0), "{metrics}");
    assert_eq!(metric(&metrics, r#"cxpulse_invalid_events_total{reason="customer_limit"}"#), Some(3.0));
    let dead = read_topic(&bootstrap, TOPICS[4], 3, Duration::from_secs(30));
    assert_eq!(dead.len(), 3);
    for index in [5, 6, 7] {
        let found = dead
            .iter()
            .find(|m| headers(m).contains(&("cxpulse.source.offset".into(), positions[index].1.to_string())))
            .unwrap_or_else(|| panic!("no dead letter for record {index}"));
        assert!(headers(found).contains(&("cxpulse.reason".into(), "customer_limit".into())));
        assert_eq!(found.key(), records[index].key.as_deref(), "original key kept");
        assert_eq!(found.payload(), records[index].value.as_deref(), "original value kept");
    }
}
