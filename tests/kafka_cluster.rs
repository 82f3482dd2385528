//! Several instances in one consumer group on a real broker (tansu): the whole group's figures
//! (`scope="cluster"`) on every instance equal a replay of the same input, whatever instance died
//! or joined on the way; every customer alert and message is published exactly once, and each
//! segment rule alert once for the whole group, as replay raises it.
//!
//! Live equals replay with several partitions only when every partition's clock ends where
//! replay's single clock ends (`kafka_replay_equivalence`). So after the simulated events, each
//! partition gets one closing event at the last event's time, and replay reads the same closing
//! events.

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::time::Duration;

use rdkafka::message::Headers;
use rdkafka::Message;
use serde_json::Value;
use support::*;

const PARTITIONS: i32 = 4;

/// Event time only (as in replay), frequent checkpoints, and two rules that fire on this data.
const CONFIG: &str = r#"
[clock]
max_lag = "36500d"
max_future_skew = "36500d"

[service]
merge_wait = "2s"
probe_interval = "1s"
commit_interval = "300ms"
shutdown_timeout = "20s"

[checkpoint]
max_deltas = 4
replication_factor = 1
"#;

/// Simulated events produced to the broker, each partition closed by one event at the last
/// event's time, and what a replay of exactly those events gives.
struct Input {
    records: Vec<Record>,
    replayed: Replayed,
}

impl Input {
    /// Produces the simulated events in three parts, calling `between(i)` after part `i` (0, 1).
    async fn produce_in_parts(
        dir: &Path,
        bootstrap: &str,
        customers: u64,
        mut between: impl AsyncFnMut(usize),
    ) -> Input {
        let file = simulate(dir, customers, 40);
        let text = std::fs::read_to_string(&file).unwrap();
        let mut records: Vec<Record> = text.lines().map(|l| route_line(l.as_bytes())).collect();
        let third = records.len() / 3;
        let mut placed = Vec::new();
        for (i, part) in records.chunks(third.max(1)).enumerate() {
            placed.extend(produce(bootstrap, part).await);
            if i < 2 {
                between(i).await;
            }
        }
        // One closing event per partition, for a customer already living there.
        let last_ts = text.lines().filter_map(|l| serde_json::from_str::<Value>(l).ok()?["ts"].as_i64()).max().unwrap();
        let mut closer: BTreeMap<i32, String> = BTreeMap::new();
        for (record, (partition, _)) in records.iter().zip(&placed) {
            if let (Some(key), true) = (&record.key, record.topic == TOPICS[0]) {
                closer.entry(*partition).or_insert_with(|| String::from_utf8(key.clone()).unwrap());
            }
        }
        assert_eq!(closer.len(), PARTITIONS as usize, "every partition holds customers");
        let closing: Vec<String> = closer
            .values()
            .map(|c| format!(r#"{{"type":"interaction","kind":"login","customer_id":"{c}","ts":{last_ts}}}"#))
            .collect();
        let closing_records: Vec<Record> = closing.iter().map(|l| route_line(l.as_bytes())).collect();
        produce(bootstrap, &closing_records).await;
        records.extend(closing_records);
        let all = dir.join("all.jsonl");
        std::fs::write(&all, format!("{text}{}\n", closing.join("\n"))).unwrap();
        let replayed =
            replay_file(dir, &write_config(dir, "embedded", "replay", 1, &format!("{CONFIG}{TEST_RULES}")), &all);
        Input { records, replayed }
    }

    fn count(&self, topic: &str) -> i64 {
        self.records.iter().filter(|r| r.topic == topic).count() as i64
    }
}

/// The records' `field` ids, each once; a second publish of one panics with where each copy
/// landed and its headers (which partition task, at which input position).
fn published(bootstrap: &str, topic: &str, field: &str) -> BTreeMap<String, Value> {
    let messages = read_topic(bootstrap, topic, 1, Duration::from_secs(30));
    let values: Vec<Value> = messages.iter().map(|m| serde_json::from_slice(m.payload().unwrap()).unwrap()).collect();
    let mut copies: BTreeMap<&str, Vec<String>> = BTreeMap::new();
    for (message, value) in messages.iter().zip(&values) {
        let headers = message.headers().map(|h| {
            h.iter()
                .map(|h| format!("{}={}", h.key, String::from_utf8_lossy(h.value.unwrap_or_default())))
                .collect::<Vec<_>>()
        });
        let at = format!(
            "p{} @{} ts {:?} {headers:?}",
            message.partition(),
            message.offset(),
            message.timestamp().to_millis()
        );
        copies.entry(value[field].as_str().unwrap()).or_default().push(at);
    }
    copies.retain(|_, at| at.len() > 1);
    assert!(copies.is_empty(), "{field}s published more than once on {topic}: {copies:#?}");
    ids(&values, field)
}

/// Waits until every input offset of the group is committed.
async fn wait_all_committed(bootstrap: &str, group: &str, input: &Input) {
    let done = || {
        [TOPICS[0], TOPICS[1]].iter().all(|t| {
            let committed: i64 = committed(bootstrap, group, t, PARTITIONS).iter().map(|o| o.unwrap_or(0)).sum();
            committed == input.count(t)
        })
    };
    if !wait_for(Duration::from_secs(240), || async { done() }).await {
        let by_topic: Vec<_> = [TOPICS[0], TOPICS[1]]
            .iter()
            .map(|t| (committed(bootstrap, group, t, PARTITIONS), input.count(t)))
            .collect();
        panic!("input offsets not all committed: {by_topic:?}");
    }
}

/// Series → value. Sums of amounts merged from several partitions add in another order than
/// replay's single stream, so values compare to 1e-9 relative (counts are integers: exact).
fn by_series(lines: &BTreeSet<String>) -> BTreeMap<String, f64> {
    lines
        .iter()
        .filter_map(|l| {
            let (series, value) = l.rsplit_once(' ')?;
            Some((series.to_string(), value.parse().ok()?))
        })
        .collect()
}

fn same_figures(live: &BTreeMap<String, f64>, replay: &BTreeMap<String, f64>) -> bool {
    live.len() == replay.len()
        && live
            .iter()
            .all(|(k, a)| replay.get(k).is_some_and(|b| (a - b).abs() <= 1e-9 * a.abs().max(b.abs()).max(1.0)))
}

/// Waits until the instance's cluster figures equal the replay's; otherwise the difference.
async fn cluster_difference(instance: &Binary, input: &Input, who: &str) -> Option<String> {
    let expected = by_series(&segment_figures(&input.replayed.metrics));
    let equal = wait_for(Duration::from_secs(60), || async {
        same_figures(&by_series(&cluster_figures(&instance.metrics().await)), &expected)
    })
    .await;
    if equal {
        return None;
    }
    let metrics = instance.metrics().await;
    let last = by_series(&cluster_figures(&metrics));
    let partials: Vec<&str> = metrics.lines().filter(|l| l.starts_with("cxpulse_partials")).collect();
    let differ: Vec<_> =
        expected.iter().filter(|(k, v)| last.get(*k) != Some(v)).map(|(k, v)| (k, v, last.get(k))).take(20).collect();
    Some(format!("cluster figures on {who} differ from replay ({partials:#?}):\n{differ:#?}"))
}

/// Config files and HTTP ports of `n` instances of group "cluster".
fn instance_configs(dir: &Path, bootstrap: &str, n: usize) -> Vec<(std::path::PathBuf, u16)> {
    (0..n)
        .map(|i| {
            let path = dir.join(format!("instance-{i}.toml"));
            let port = free_port();
            std::fs::copy(
                write_config(dir, bootstrap, "cluster", port, &format!("{CONFIG}{TEST_RULES}\n{QUICK_REJOIN}")),
                &path,
            )
            .unwrap();
            (path, port)
        })
        .collect()
}

/// Once every input offset is committed: the cluster figures of every running instance equal
/// replay's, and every customer alert, message and segment rule alert is published once, as
/// replay raises it.
async fn assert_group_equals_replay(
    bootstrap: &str,
    group: &str,
    input: &Input,
    instances: &[Option<Binary>],
    log: &Path,
) {
    wait_all_committed(bootstrap, group, input).await;
    let mut differences = Vec::new();
    for (i, instance) in instances.iter().enumerate() {
        if let Some(instance) = instance {
            differences
                .extend(cluster_difference(instance, input, &format!("instance {i} (log: {})", log.display())).await);
        }
    }
    assert!(differences.is_empty(), "{}", differences.join("\n"));
    // Customer alerts, and segment rule alerts judged once for the group on the boundary
    // snapshots of every partition: replay's, except its extra evaluation at the very end.
    let due = input.replayed.alerts_at_boundaries();
    wait_for(Duration::from_secs(30), || async { published(bootstrap, TOPICS[2], "alert_id").len() >= due }).await;
    let alerts = published(bootstrap, TOPICS[2], "alert_id");
    let expected = input.replayed.expected_alerts(&alerts);
    assert!(expected.values().any(|a| a["kind"] == "segment_threshold"), "the test rules should fire");
    let brief = |a: &Value| {
        format!("{} {} {} {}/{} {}", a["kind"], a["rule"], a["at"], a["dimension"], a["segment"], a["state"])
    };
    let only_live: Vec<_> =
        alerts.iter().filter(|(id, _)| !expected.contains_key(*id)).map(|(_, a)| brief(a)).collect();
    let only_replay: Vec<_> =
        expected.iter().filter(|(id, _)| !alerts.contains_key(*id)).map(|(_, a)| brief(a)).collect();
    assert!(
        only_live.is_empty() && only_replay.is_empty(),
        "alerts differ:\nlive only {only_live:#?}\nreplay only {only_replay:#?}"
    );
    assert_eq!(alerts, expected, "alerts");
    let messages = published(bootstrap, TOPICS[3], "message_id");
    assert_eq!(messages, ids(&input.replayed.messages, "message_id"), "messages");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_instances_one_leaving_one_added_export_the_replays_figures() {
    let dir = test_dir();
    let tansu = Tansu::start();
    let bootstrap = tansu.bootstrap();
    create_default_topics(&bootstrap, PARTITIONS).await;
    let log = dir.path().join("service.log");
    let configs = instance_configs(dir.path(), &bootstrap, 4);
    let mut instances: Vec<Option<Binary>> = Vec::new();
    let input = Input::produce_in_parts(dir.path(), &bootstrap, 250, async |part| {
        if part == 0 {
            instances.extend(configs[..3].iter().map(|(config, port)| Some(Binary::start(config, *port, &log))));
            settle(&instances).await;
            // Leaves once it has applied events (and published partials for them). A SIGTERM,
            // not a SIGKILL: after a SIGKILL tansu 0.6.0's coordinator, with three members, kept
            // the dead member's partition unassigned for minutes (seen twice); the SIGKILL path of
            // a partition's state is `kafka_durable`'s.
            wait_until(Duration::from_secs(120), "instance 1 applied events", || async {
                events_seen(&instances[1].as_ref().unwrap().metrics().await) > 0
            })
            .await;
            instances[1].take().unwrap().stop();
        } else {
            instances.push(Some(Binary::start(&configs[3].0, configs[3].1, &log)));
        }
        settle(&instances).await;
    })
    .await;
    assert_group_equals_replay(&bootstrap, "cluster", &input, &instances, &log).await;
    for instance in instances.into_iter().flatten() {
        instance.stop();
    }
}

/// A zombie (issue #9): an instance is frozen (SIGSTOP) while it consumes, for longer than the
/// session timeout; meanwhile the group gives its partitions to another instance, which restores
/// them; then it is thawed, holding records it believes are its own, before its consumer hears
/// that it lost them. It must publish nothing for them and leave the new owner's checkpoints
/// alone (`checkpoint::ownership`); it then rejoins and the two share the work. No id is
/// published twice and the figures stay replay's.
///
/// The heir joins after the session timeout: tansu 0.6.0's coordinator drops a silent member
/// when another one joins, but when the silent member's partners merely heartbeat it drops it and
/// then leaves its partitions unassigned (seen with SIGKILL and SIGSTOP, two and three members).
///
/// Where the freeze falls is up to chance, so a run covers one of several interleavings. This test
/// found two holes, which failed about one run in five: a record handed to the producer on waking,
/// after the check that the instance still owned the partition, and a checkpoint meta sent on
/// waking that left a new owner's restore naming pieces it had since deleted. To look into a
/// failure, run it with `TEST_KEEP_DIRS=1 TEST_SERVICE_LOG=info,cxpulse=debug`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_instance_paused_past_the_session_timeout_publishes_nothing_twice() {
    let dir = test_dir();
    let tansu = Tansu::start();
    let bootstrap = tansu.bootstrap();
    create_default_topics(&bootstrap, PARTITIONS).await;
    let log = dir.path().join("service.log");
    let configs = instance_configs(dir.path(), &bootstrap, 2);
    let mut instances: Vec<Option<Binary>> = Vec::new();
    let mut frozen: Option<tokio::task::JoinHandle<()>> = None;
    let input = Input::produce_in_parts(dir.path(), &bootstrap, 250, async |part| {
        if part == 0 {
            let zombie = Binary::start(&configs[0].0, configs[0].1, &log);
            wait_until(Duration::from_secs(120), "the first instance applied events", || async {
                events_seen(&zombie.metrics().await) > 0
            })
            .await;
            // Frozen the moment it starts on the next part, so it holds received records.
            let (http, freeze, before) = (zombie.http, zombie.freezer(), events_seen(&zombie.metrics().await));
            frozen = Some(tokio::spawn(async move {
                while http_get(http, "/metrics").await.is_none_or(|(_, m)| events_seen(&m) <= before) {
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
                freeze();
            }));
            instances.push(Some(zombie));
        } else {
            frozen.take().unwrap().await.unwrap();
            tokio::time::sleep(Duration::from_secs(7)).await; // past the 6 s session timeout
            let zombie = instances[0].take().unwrap();
            instances.push(Some(Binary::start(&configs[1].0, configs[1].1, &log)));
            settle(&instances).await; // the heir owns every partition
            zombie.thaw();
            instances[0] = Some(zombie);
            settle(&instances).await;
        }
    })
    .await;
    assert_group_equals_replay(&bootstrap, "cluster", &input, &instances, &log).await;
    // Whether the thawed instance met the fence or heard of its loss first depends on timing.
    let zombie = instances[0].as_ref().unwrap().metrics().await;
    eprintln!("fenced on the thawed instance: {:?}", metric(&zombie, "cxpulse_partitions_fenced_total"));
    for instance in instances.into_iter().flatten() {
        instance.stop();
    }
}

/// The fence itself, step by step on a real changelog topic: an owner that a later one fenced
/// finds out at its next confirmation past the lease, while the new owner stays confirmed, and
/// late writes of an earlier owner without a fence are not mistaken for a takeover.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fenced_owner_learns_it_at_its_next_confirmation() {
    use cxpulse::checkpoint::ownership::{Ownership, LEASE};
    use cxpulse::checkpoint::store::{KafkaStore, Store};
    use cxpulse::checkpoint::Record;
    let tansu = Tansu::start();
    let bootstrap = tansu.bootstrap();
    create_topics(&bootstrap, &[("cx.fence-changelog", 2)]).await;
    let mut config = rdkafka::ClientConfig::new();
    config.set("bootstrap.servers", &bootstrap);
    let mut producer = config.clone();
    producer.set("enable.idempotence", "true").set("acks", "all");
    let store = |_| Store::Kafka(KafkaStore::new("cx.fence-changelog", &producer, &config).unwrap());
    let (first_store, second_store) = (store(1), store(2));
    let stop = tokio_util::sync::CancellationToken::new();
    let mut first = Ownership::take(&first_store, 1, &stop).await.unwrap().expect("a topic has owners");
    assert!(!first.had_owner(), "an empty changelog partition had no owner");
    // The first owner checkpoints; a write of an earlier, departed owner lands after it.
    let checkpoint = Record { key: "1/meta".into(), value: Some(b"state".to_vec()) };
    first.wrote(first_store.write(std::slice::from_ref(&checkpoint), &stop).await.unwrap());
    second_store.write(std::slice::from_ref(&checkpoint), &stop).await.unwrap();
    tokio::time::sleep(LEASE).await;
    assert!(first.confirm(&first_store).await.unwrap(), "a late write without a fence is no takeover");
    // A second owner fences partition 1; partition 0 is not concerned.
    let mut second = Ownership::take(&second_store, 1, &stop).await.unwrap().unwrap();
    assert!(second.had_owner());
    tokio::time::sleep(LEASE).await;
    assert!(!first.confirm(&first_store).await.unwrap(), "past the lease the first owner sees the fence");
    assert!(second.confirm(&second_store).await.unwrap(), "the new owner stays the owner");
    let mut other = Ownership::take(&first_store, 0, &stop).await.unwrap().unwrap();
    tokio::time::sleep(LEASE).await;
    assert!(other.confirm(&first_store).await.unwrap(), "a fence is per partition");
}

/// An owner hands a record to a producer only within its lease (`checkpoint::ownership`): past
/// it, a round of a checkpoint write or of an effects delivery sends nothing, and the records
/// wait for the next round, which the owner starts only after confirming again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nothing_is_handed_to_a_producer_past_the_lease() {
    use cxpulse::alert::kafka_sink::{KafkaSink, OutRecord, Output, Retry};
    use cxpulse::checkpoint::store::{KafkaStore, Store, WriteRounds};
    use cxpulse::checkpoint::Record;
    use std::time::Instant;
    let tansu = Tansu::start();
    let bootstrap = tansu.bootstrap();
    let topics = cxpulse::config::load(None, &[]).unwrap().kafka.topics;
    create_topics(&bootstrap, &[("cx.lease-changelog", 1), (topics.alerts.as_str(), 1)]).await;
    let mut config = rdkafka::ClientConfig::new();
    config.set("bootstrap.servers", &bootstrap);
    let mut producer = config.clone();
    producer.set("enable.idempotence", "true").set("acks", "all");
    let stop = tokio_util::sync::CancellationToken::new();
    let (past, ahead) = (Some(Instant::now()), Some(Instant::now() + Duration::from_secs(60)));

    let store = Store::Kafka(KafkaStore::new("cx.lease-changelog", &producer, &config).unwrap());
    let checkpoint = [Record { key: "0/meta".into(), value: Some(b"state".to_vec()) }];
    let mut rounds = WriteRounds::new(&checkpoint);
    assert!(!rounds.next(&store, past, &stop).await.unwrap(), "past the lease the record waits");
    assert_eq!(store.end(0).await.unwrap(), Some(0), "nothing was written");
    assert!(rounds.next(&store, ahead, &stop).await.unwrap(), "within it the record is written");
    assert_eq!((store.end(0).await.unwrap(), rounds.end), (Some(1), Some(1)));

    let sink = KafkaSink::new(&producer, Default::default(), &topics, Default::default()).unwrap();
    let alert = OutRecord {
        output: Output::Alerts,
        key: Some(b"c-1".to_vec()),
        value: Some(b"{}".to_vec()),
        headers: Vec::new(),
        partition: Some(0),
    };
    let (alerts, mut retry) = ([alert], Retry::default());
    assert!(!sink.deliver_round(&alerts, &mut retry, past, &stop).await.unwrap(), "past the lease the alert waits");
    assert!(read_topic(&bootstrap, &topics.alerts, 1, Duration::from_secs(2)).is_empty(), "nothing was published");
    assert!(sink.deliver_round(&alerts, &mut retry, ahead, &stop).await.unwrap(), "within it the alert is published");
    assert_eq!(read_topic(&bootstrap, &topics.alerts, 1, Duration::from_secs(30)).len(), 1);
}

/// Waits until the running instances own every partition between them, each exactly once, and
/// still do a few seconds later: tansu's group coordinator copes badly with a member that joins
/// or dies while a rebalance is still going on.
async fn settle(instances: &[Option<Binary>]) {
    let split = || async {
        let mut all = Vec::new();
        for instance in instances.iter().flatten() {
            all.extend(owned_partitions(&instance.metrics().await));
        }
        all.sort();
        all == (0..PARTITIONS).collect::<Vec<_>>()
    };
    for _ in 0..2 {
        if !wait_for(Duration::from_secs(120), split).await {
            let mut seen = Vec::new();
            for instance in instances.iter().flatten() {
                let metrics = instance.metrics().await;
                seen.push((metrics.len(), owned_partitions(&metrics)));
            }
            panic!("the instances do not own every partition once: {seen:?}");
        }
        tokio::time::sleep(Duration::from_secs(3)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_single_instance_exports_equal_local_and_cluster_figures() {
    let dir = test_dir();
    let tansu = Tansu::start();
    let bootstrap = tansu.bootstrap();
    create_default_topics(&bootstrap, 2).await;
    let file = simulate(dir.path(), 40, 10);
    let records: Vec<Record> =
        std::fs::read_to_string(&file).unwrap().lines().map(|l| route_line(l.as_bytes())).collect();
    produce(&bootstrap, &records).await;
    let port = free_port();
    let service =
        InProcess::start(&write_config(dir.path(), &bootstrap, "single", port, &format!("{CONFIG}{TEST_RULES}")), port);
    let local_equals_cluster = || async {
        let metrics = service.metrics().await;
        let local = segment_figures(&metrics);
        events_seen(&metrics) == records.len() as u64 && local.len() > 100 && cluster_figures(&metrics) == local
    };
    let equal = wait_for(Duration::from_secs(90), local_equals_cluster).await;
    let metrics = service.metrics().await;
    service.stop().await;
    assert!(equal, "local and cluster figures differ:\n{metrics}");
}
