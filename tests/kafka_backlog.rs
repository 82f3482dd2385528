//! A lagging partition never makes its customers look inactive (SPEC §2, issue 8 point 4).
//!
//! About 170,000 events from the last ten minutes wait on the broker when the service
//! starts, from 1,800 customers, most of whom were active every few seconds and still are (a live
//! producer keeps them active while the backlog drains). With `inactive_after = "2m"` and
//! `max_lag = "10s"` the wall-clock bound alone would put the clock ten minutes past most of the
//! backlog at the first tick. The service must instead follow event time until it has caught up:
//! no active customer may be alerted. Two control groups keep the test honest: customers who went
//! quiet early in the backlog are alerted by event time while it drains, and customers who went
//! quiet at its very end are alerted by the wall-clock bound once the service has caught up.

mod support;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::Message;
use serde_json::Value;
use support::*;

/// Customers active all along, one event every `EVERY_MS` each.
const ACTIVE: usize = 1_500;
/// Quiet since `BACKLOG_MS − 6m` (inactive by event time while the backlog drains).
const QUIET_EARLY: usize = 150;
/// Quiet since the end of the backlog (inactive only once the service has caught up).
const QUIET_LATE: usize = 150;
const EVERY_MS: i64 = 6_000;
const BACKLOG_MS: i64 = 10 * 60_000;
const INACTIVE_AFTER_MS: i64 = 120_000;

const CONFIG: &str = r#"
[clock]
max_lag = "10s"

[inactivity]
inactive_after = "2m"
churn_after = "1h"

[service]
probe_interval = "1s"
"#;

fn event(customer: &str, ts: i64, n: i64) -> Record {
    let line = if n % 10 == 3 {
        format!(r#"{{"type":"survey","customer_id":"{customer}","ts":{ts},"survey":"nps","score":{}}}"#, n % 11)
    } else {
        format!(r#"{{"type":"interaction","customer_id":"{customer}","ts":{ts},"kind":"page_view"}}"#)
    };
    route_line(line.as_bytes())
}

fn name(group: &str, i: usize) -> String {
    format!("{group}-{i:05}")
}

/// The backlog, in time order, and each customer's last activity in it.
fn backlog(end: i64) -> (Vec<Record>, BTreeMap<String, i64>) {
    let start = end - BACKLOG_MS;
    let quiet_early_from = end - 6 * 60_000;
    let mut timed: Vec<(i64, String)> = Vec::new();
    let groups = [("active", ACTIVE, end), ("early", QUIET_EARLY, quiet_early_from), ("late", QUIET_LATE, end)];
    for (group, count, until) in groups {
        for i in 0..count {
            // Spread the customers' phases over the period.
            let mut ts = start + (i as i64 * 997) % EVERY_MS;
            while ts <= until {
                timed.push((ts, name(group, i)));
                ts += EVERY_MS;
            }
        }
    }
    timed.sort();
    let mut last = BTreeMap::new();
    let records = timed
        .iter()
        .enumerate()
        .map(|(n, (ts, customer))| {
            last.insert(customer.clone(), *ts);
            event(customer, *ts, n as i64)
        })
        .collect();
    (records, last)
}

/// Keeps the active customers active (one event every `EVERY_MS` each, stamped now) until `stop`.
fn keep_active(bootstrap: String, stop: Arc<AtomicBool>) -> tokio::task::JoinHandle<u64> {
    tokio::spawn(async move {
        // One record per batch, as `support::produce` does (tansu's watermark fault).
        let producer: FutureProducer = producer_config(&bootstrap)
            .set("batch.num.messages", "1")
            .set("max.in.flight.requests.per.connection", "100000")
            .set("log_level", "3")
            .create()
            .expect("producer");
        let mut sent = 0u64;
        let mut n = 0i64;
        while !stop.load(Ordering::Acquire) {
            let now = chrono::Utc::now().timestamp_millis();
            let second = now / 1_000;
            let due: Vec<Record> = (0..ACTIVE)
                .filter(|i| (*i as i64 + second) % (EVERY_MS / 1_000) == 0)
                .map(|i| {
                    n += 1;
                    event(&name("active", i), now, n)
                })
                .collect();
            let deliveries = due.iter().map(|r| {
                let record =
                    FutureRecord::to(&r.topic).key(r.key.as_deref().unwrap()).payload(r.value.as_deref().unwrap());
                producer.send(record, Duration::from_secs(30))
            });
            for delivered in futures::future::join_all(deliveries).await {
                delivered.expect("live event delivered");
                sent += 1;
            }
            let next_second = (second + 1) * 1_000;
            let wait = (next_second - chrono::Utc::now().timestamp_millis()).max(0) as u64;
            tokio::time::sleep(Duration::from_millis(wait)).await;
        }
        sent
    })
}

fn customer_alerts(bootstrap: &str) -> Vec<Value> {
    read_topic(bootstrap, TOPICS[2], 1, Duration::from_secs(20))
        .iter()
        .map(|m| serde_json::from_slice::<Value>(m.payload().unwrap()).unwrap())
        .filter(|a| a["kind"] != "segment_threshold")
        .collect()
}

fn at_ms(alert: &Value) -> i64 {
    chrono::DateTime::parse_from_rfc3339(alert["at"].as_str().unwrap()).unwrap().timestamp_millis()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backlog_drains_without_false_inactivity() {
    show_service_log();
    let tansu = Tansu::start();
    let bootstrap = tansu.bootstrap();
    create_default_topics(&bootstrap, 2).await;
    let end = chrono::Utc::now().timestamp_millis();
    let (records, last) = backlog(end);
    assert!(records.len() > 150_000, "a backlog of {} events", records.len());
    // Batched for speed; the last records one per batch, so the high watermark is exact.
    let tail = records.len() - 2_000;
    produce_batched(&bootstrap, &records[..tail]).await;
    produce(&bootstrap, &records[tail..]).await;

    let stop_live = Arc::new(AtomicBool::new(false));
    let live = keep_active(bootstrap.clone(), Arc::clone(&stop_live));
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let service = InProcess::start(&write_config(dir.path(), &bootstrap, "backlog", port, CONFIG), port);
    let started = std::time::Instant::now();
    wait_until(Duration::from_secs(300), "the backlog consumed", || async {
        events_seen(&service.metrics().await) >= records.len() as u64
    })
    .await;
    let drained_in = started.elapsed();
    // The late-quiet customers are due at the end of the backlog + 2m: only the wall-clock bound
    // of a caught-up partition gets there.
    let late_due = end + INACTIVE_AFTER_MS + 10_000;
    wait_until(Duration::from_secs(300), "the late-quiet customers alerted", || async {
        let metrics = service.metrics().await;
        let inactive = metric(&metrics, "cxpulse_alerts_total{kind=\"customer_inactive\"}").unwrap_or(0.0);
        chrono::Utc::now().timestamp_millis() > late_due && inactive >= (QUIET_EARLY + QUIET_LATE) as f64
    })
    .await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    stop_live.store(true, Ordering::Release);
    let live_sent = live.await.unwrap();
    service.stop().await;
    eprintln!("backlog of {} events drained in {drained_in:?}; {live_sent} live events", records.len());

    let alerts = customer_alerts(&bootstrap);
    let mut inactive: BTreeMap<String, Vec<i64>> = BTreeMap::new();
    for alert in &alerts {
        let customer = alert["customer_id"].as_str().unwrap().to_string();
        assert!(!customer.starts_with("active-"), "an active customer was alerted: {alert}");
        assert_eq!(alert["kind"], "customer_inactive", "{alert}");
        inactive.entry(customer).or_default().push(at_ms(alert));
    }
    for (customer, last_activity) in last.iter().filter(|(c, _)| !c.starts_with("active-")) {
        assert_eq!(
            inactive.get(customer),
            Some(&vec![last_activity + INACTIVE_AFTER_MS]),
            "{customer} goes inactive once, two minutes after its last event"
        );
    }
    assert_eq!(inactive.len(), QUIET_EARLY + QUIET_LATE);
}
