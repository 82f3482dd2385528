//! Re-keying on a real broker (tansu): records whose Kafka key is missing or someone else's are
//! forwarded through `cx.repartition` to the partition where their customer's records are, and
//! applied there, so no customer lives in two partitions (`service::repartition`).
//!
//! A simulated file goes to three partitions, keyed by customer id as a Java producer keys it
//! (murmur2), except one in seven records without segments, ticket fields or a duplicated event
//! id, sent with no key or a wrong one. A re-keyed record is applied later than its neighbours in
//! time, and counts in its customer's segments as they are then, so what is compared with
//! `cxpulse replay` is what does not depend on that order: segment `all`'s counts, sums and means
//! over the 30-day window (which holds the whole file), active customers and lifetime revenue.
//! Every customer must be tracked once, where its keyed records are. Killed and restarted, the
//! service still forwards and applies each of them once (without the suppression of forwards
//! after a restore, that test finds records forwarded twice).

mod support;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::Duration;

use rand::Rng;
use rdkafka::Message;
use serde_json::Value;
use support::*;

const REPARTITION: &str = "cx.repartition";
const PARTITIONS: i32 = 3;

const TEST_CONFIG: &str = r#"
[clock]
max_lag = "36500d"
max_future_skew = "36500d"

[service]
probe_interval = "1s"
"#;

/// Figures that only depend on which events a partition applied, not on their order.
const ORDER_FREE: [&str; 12] = [
    "cxpulse_survey_responses{",
    "cxpulse_nps_score{",
    "cxpulse_csat_ratio{",
    "cxpulse_ces_average{",
    "cxpulse_interactions{",
    "cxpulse_active_customers{",
    "cxpulse_revenue{",
    "cxpulse_average_order_value{",
    "cxpulse_session_seconds_average{",
    "cxpulse_revenue_per_customer{",
    "cxpulse_purchases_per_customer{",
    "cxpulse_lifetime_revenue_average{",
];

/// The order-free figures of segment `all` (a late event counts in its customer's segments as they
/// are when it is applied), by series, over the 30-day window, which holds the whole file.
fn order_free(metrics: &str) -> BTreeMap<String, f64> {
    segment_figures(metrics)
        .into_iter()
        .filter(|l| ORDER_FREE.iter().any(|p| l.starts_with(p)) && l.contains("dimension=\"all\""))
        .filter(|l| !l.contains("window=") || l.contains("window=\"30d\""))
        .filter_map(|l| {
            let (series, value) = l.rsplit_once(' ')?;
            Some((series.to_string(), value.parse().ok()?))
        })
        .collect()
}

/// Whether a line may be sent mis-keyed without changing an order-free figure: an event that sets
/// no segment (membership is the last value applied), is no ticket event (a resolution needs its
/// opening first) and has an event id seen once in the file (a late duplicate may pass dedup).
fn may_mis_key(event: &Value, duplicated: &BTreeSet<String>) -> bool {
    event.get("segments").is_none()
        && event.get("ticket_id").is_none()
        && !event["kind"].as_str().unwrap_or_default().starts_with("ticket")
        && event["event_id"].as_str().is_some_and(|id| !duplicated.contains(id))
}

/// The file's records keyed by customer id, but for one in seven of those [`may_mis_key`] allows
/// (and the replay did not refuse), sent with no key or a wrong one: the records and, by index,
/// the customers of the mis-keyed ones.
fn mis_key(replayed: &Replayed) -> (Vec<Record>, BTreeMap<usize, String>) {
    let events: Vec<Option<Value>> = replayed.lines.iter().map(|l| serde_json::from_slice(l).ok()).collect();
    let mut seen_ids = BTreeSet::new();
    let duplicated: BTreeSet<String> = events
        .iter()
        .flatten()
        .filter_map(|e| e["event_id"].as_str())
        .filter(|id| !seen_ids.insert(id.to_string()))
        .map(str::to_string)
        .collect();
    let mut records: Vec<Record> = replayed.lines.iter().map(|l| route_line(l)).collect();
    // Refused lines are dead-lettered where they arrive, whatever their key.
    let refused: BTreeSet<u64> = replayed.dead_letters.iter().filter_map(|d| d["source"]["line"].as_u64()).collect();
    let mut mis_keyed = BTreeMap::new(); // index → customer
    for (i, (record, event)) in records.iter_mut().zip(&events).enumerate() {
        let Some(event) = event else { continue };
        if i % 7 == 3 && may_mis_key(event, &duplicated) && !refused.contains(&(i as u64 + 1)) {
            record.key = (i % 2 == 0).then(|| format!("someone-else-{i}").into_bytes());
            mis_keyed.insert(i, event["customer_id"].as_str().unwrap().to_string());
        }
    }
    assert!(mis_keyed.len() > 300, "only {} records mis-keyed", mis_keyed.len());
    assert!(!refused.is_empty(), "the file should have refused lines");
    (records, mis_keyed)
}

/// A simulated file of `customers` over 20 days, its replay, and its records, partly mis-keyed
/// ([`mis_key`]), on a fresh broker with `partitions` input partitions.
struct Scenario {
    dir: tempfile::TempDir,
    replayed: Replayed,
    records: Vec<Record>,
    mis_keyed: BTreeMap<usize, String>,
    /// Where each record went.
    positions: Vec<(i32, i64)>,
    tansu: Tansu,
}

impl Scenario {
    async fn start(customers: u64, partitions: i32) -> Scenario {
        let dir = tempfile::tempdir().unwrap();
        let replay_config = write_config(dir.path(), "embedded", "replay", 1, TEST_CONFIG);
        let replayed = simulate_and_replay(dir.path(), &replay_config, customers, 20);
        let (records, mis_keyed) = mis_key(&replayed);
        let tansu = Tansu::start();
        create_default_topics(&tansu.bootstrap(), partitions).await;
        let positions = produce(&tansu.bootstrap(), &records).await;
        Scenario { dir, replayed, records, mis_keyed, positions, tansu }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mis_keyed_and_null_keyed_records_end_up_in_their_customers_partition() {
    let Scenario { dir, replayed, records, mis_keyed, positions, tansu } = Scenario::start(300, PARTITIONS).await;
    let bootstrap = tansu.bootstrap();
    // Where each customer's keyed records went, and how many customers mis-keying would split.
    let mut home: HashMap<String, i32> = HashMap::new();
    for (i, (record, (partition, _))) in records.iter().zip(&positions).enumerate() {
        if let (Some(key), false) = (&record.key, mis_keyed.contains_key(&i)) {
            let customer = String::from_utf8(key.clone()).unwrap();
            assert_eq!(*home.entry(customer).or_insert(*partition), *partition, "a keyed customer in two partitions");
        }
    }
    let split = mis_keyed.iter().filter(|(i, c)| positions[**i].0 != home[*c]).count();
    assert!(split > 100, "the mis-keyed records should arrive in other partitions than their customers' ({split})");

    let port = free_port();
    let config = write_config(dir.path(), &bootstrap, "rekey", port, TEST_CONFIG);
    let service = InProcess::start(&config, port);
    let total = replayed.lines.len() as u64;
    wait_until(Duration::from_secs(120), "every event applied", || async {
        events_seen(&service.metrics().await) == total
    })
    .await;
    let metrics = service.metrics().await;
    service.stop().await;

    // Each forwarded once, keyed by its customer, into its customer's partition.
    let forwarded = read_topic(&bootstrap, REPARTITION, mis_keyed.len(), Duration::from_secs(30));
    assert_eq!(forwarded.len(), mis_keyed.len(), "one forward per mis-keyed record");
    let mut values = BTreeSet::new();
    for message in &forwarded {
        let customer = std::str::from_utf8(message.key().expect("re-keyed")).unwrap().to_string();
        let event: Value = serde_json::from_slice(message.payload().unwrap()).unwrap();
        assert_eq!(event["customer_id"].as_str(), Some(customer.as_str()), "keyed by its customer id");
        assert_eq!(message.partition(), home[&customer], "forwarded to its customer's partition");
        values.insert(message.payload().unwrap().to_vec());
    }
    let expected: BTreeSet<Vec<u8>> = mis_keyed.keys().map(|i| replayed.lines[*i].clone()).collect();
    assert_eq!(values, expected, "the forwards are the mis-keyed records, unchanged");

    assert_eq!(metric(&metrics, "cxpulse_mismatched_keys_total"), Some(mis_keyed.len() as f64));
    for outcome in ["accepted", "invalid", "duplicate"] {
        let series = format!("cxpulse_events_total{{outcome=\"{outcome}\"}}");
        assert_eq!(metric(&metrics, &series), metric(&replayed.metrics, &series), "{series}");
    }
    assert_customers_and_figures_as_replay(&metrics, &replayed);
}

/// Every customer tracked once, and the order-free figures equal the replay's.
fn assert_customers_and_figures_as_replay(metrics: &str, replayed: &Replayed) {
    let customers: BTreeSet<String> = replayed
        .lines
        .iter()
        .filter_map(|l| serde_json::from_slice::<Value>(l).ok()?["customer_id"].as_str().map(str::to_string))
        .collect();
    assert_eq!(
        metric(metrics, "cxpulse_tracked_customers"),
        Some(customers.len() as f64),
        "every customer tracked once"
    );
    let (live, replay) = (order_free(metrics), order_free(&replayed.metrics));
    assert!(replay.len() > 10, "{replay:?}");
    assert_eq!(live.keys().collect::<Vec<_>>(), replay.keys().collect::<Vec<_>>(), "series");
    for (series, expected) in &replay {
        // Sums of amounts in another order differ in the last bits.
        let value = live[series];
        assert!(
            (value - expected).abs() <= 1e-9 * expected.abs().max(1.0),
            "{series}: live {value}, replay {expected}"
        );
    }
}

/// Exactly once across crashes: killed with SIGKILL three times at random points and restarted
/// from its checkpoints, the service forwards every mis-keyed record once (a forward delivered
/// before a crash is suppressed when its input is read again) and applies it once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn re_keyed_records_are_forwarded_and_applied_once_across_sigkills() {
    let Scenario { dir, replayed, records, mis_keyed, tansu, .. } = Scenario::start(200, 1).await;
    let bootstrap = tansu.bootstrap();

    let port = free_port();
    let config =
        write_config(dir.path(), &bootstrap, "rekey-durable", port, &format!("{DURABLE_CONFIG}\n{QUICK_REJOIN}"));
    let log = dir.path().join("service.log");
    let total = records.len() as u64;
    let mut rng = rand::thread_rng();
    for _ in 0..3 {
        let service = Binary::start(&config, port, &log);
        let at = rng.gen_range(total / 20..total / 6);
        wait_until(Duration::from_secs(120), "events applied before the kill", || async {
            events_seen(&service.metrics().await) >= at
        })
        .await;
        service.kill9();
    }
    let service = Binary::start(&config, port, &log);
    let end = |t: &str| records.iter().filter(|r| r.topic == t).count() as i64;
    let forwards = mis_keyed.len() as i64;
    wait_until(Duration::from_secs(180), "every input and forward offset committed", || async {
        let group = "rekey-durable";
        let inputs = [TOPICS[0], TOPICS[1]].iter().all(|t| committed(&bootstrap, group, t, 1)[0] == Some(end(t)));
        inputs && committed(&bootstrap, group, REPARTITION, 1)[0] >= Some(forwards)
    })
    .await;
    let metrics = service.metrics().await;
    service.stop();

    let forwarded = read_topic(&bootstrap, REPARTITION, mis_keyed.len(), Duration::from_secs(30));
    let mut counts: BTreeMap<Vec<u8>, usize> = BTreeMap::new();
    for message in &forwarded {
        *counts.entry(message.payload().unwrap().to_vec()).or_default() += 1;
    }
    let twice: Vec<_> = counts.iter().filter(|(_, n)| **n > 1).map(|(v, _)| String::from_utf8_lossy(v)).collect();
    assert!(twice.is_empty(), "forwarded more than once (log: {}): {twice:#?}", log.display());
    let expected: BTreeSet<Vec<u8>> = mis_keyed.keys().map(|i| replayed.lines[*i].clone()).collect();
    assert_eq!(counts.into_keys().collect::<BTreeSet<_>>(), expected, "the forwards are the mis-keyed records");
    assert_customers_and_figures_as_replay(&metrics, &replayed);
}
