//! Durable state on a real broker (tansu): the service killed with SIGKILL at random points and
//! restarted ends with the same figures and the same alerts and messages (by id, none twice) as an
//! uninterrupted replay; a customer who went quiet before a crash is alerted after the restart at
//! the right time; a partition moved to a second instance keeps its state; a corrupt changelog
//! record is refused with its partition and offset.

mod support;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::Duration;

use cxpulse::source::simulator::{write_jsonl, SimulationOptions};
use rand::Rng;
use rdkafka::Message;
use serde_json::Value;
use support::*;

/// Lines of the exposition that are segment figures (what must survive crashes).
fn figures(metrics: &str) -> BTreeSet<String> {
    const SERVICE: [&str; 3] = ["cxpulse_rule_firing", "cxpulse_build_info", "cxpulse_stream_time_seconds"];
    metrics
        .lines()
        .filter(|l| l.starts_with("cxpulse_") && l.contains("dimension=\""))
        .filter(|l| !SERVICE.iter().any(|s| l.starts_with(s)) && !l.contains("scope=\"cluster\""))
        .map(str::to_string)
        .collect()
}

fn payloads(messages: &[rdkafka::message::OwnedMessage]) -> Vec<Value> {
    messages.iter().map(|m| serde_json::from_slice(m.payload().unwrap()).unwrap()).collect()
}

/// A simulated file, what an uninterrupted replay of it gives, and its records on the broker.
struct Scenario {
    replayed: Replayed,
    records: Vec<Record>,
}

impl Scenario {
    fn new(dir: &Path) -> Scenario {
        let replayed = simulate_and_replay(
            dir,
            &write_config(dir, "embedded", "replay", 1, &format!("{DURABLE_CONFIG}{TEST_RULES}")),
            250,
            40,
        );
        let records = replayed.lines.iter().map(|l| route_line(l)).collect();
        Scenario { replayed, records }
    }

    /// A new scenario with all its records on a new broker.
    async fn on_a_broker(dir: &Path) -> (Scenario, Tansu) {
        let scenario = Scenario::new(dir);
        let tansu = Tansu::start();
        create_default_topics(&tansu.bootstrap(), 1).await;
        produce(&tansu.bootstrap(), &scenario.records).await;
        (scenario, tansu)
    }

    /// Waits until every input offset is committed (the last checkpoint covers everything), then
    /// for as many alerts as the replay raised at bucket boundaries: a boundary is judged once
    /// every partition's publish of it is known delivered, about a tick after the input ends, so
    /// the last threshold alerts can follow the last commit.
    async fn wait_all_committed(&self, bootstrap: &str, group: &str, metrics: impl AsyncFn() -> String) {
        let end = |t: &str| self.records.iter().filter(|r| r.topic == t).count() as i64;
        wait_until(Duration::from_secs(180), "every input offset committed", || async {
            let done = [TOPICS[0], TOPICS[1]].iter().all(|t| committed(bootstrap, group, t, 1)[0] == Some(end(t)));
            done && metrics().await.contains("cxpulse_ready 1")
        })
        .await;
        read_topic(bootstrap, TOPICS[2], self.replayed.alerts_at_boundaries(), Duration::from_secs(60));
    }

    /// The live figures, alerts and messages equal the replay's (by id, none published twice).
    fn assert_same_as_replay(&self, bootstrap: &str, metrics: &str, what: &str) {
        let (live, expected) = (figures(metrics), figures(&self.replayed.metrics));
        let only_live: Vec<_> = live.difference(&expected).collect();
        let only_replay: Vec<_> = expected.difference(&live).collect();
        assert!(
            only_live.is_empty() && only_replay.is_empty(),
            "figures differ after {what}:\nlive only: {only_live:#?}\nreplay only: {only_replay:#?}"
        );
        let alerts = ids(&payloads(&read_topic(bootstrap, TOPICS[2], 1, Duration::from_secs(30))), "alert_id");
        let messages = ids(&payloads(&read_topic(bootstrap, TOPICS[3], 1, Duration::from_secs(30))), "message_id");
        assert_eq!(messages, ids(&self.replayed.messages, "message_id"), "messages");
        let expected = self.replayed.expected_alerts(&alerts);
        let only_live: Vec<_> = alerts.iter().filter(|(id, _)| !expected.contains_key(*id)).map(|(_, a)| a).collect();
        let only_replay: Vec<_> = expected.iter().filter(|(id, _)| !alerts.contains_key(*id)).map(|(_, a)| a).collect();
        assert!(
            only_live.is_empty() && only_replay.is_empty(),
            "alerts differ after {what}:\nlive only: {only_live:#?}\nreplay only: {only_replay:#?}"
        );
        assert_eq!(alerts, expected);
    }
}

/// The config of a service consuming a [`Scenario`]: the replay's settings, a quick rejoin, and
/// `kafka_properties` (more lines of `[kafka.properties]`).
fn scenario_config(dir: &Path, bootstrap: &str, group: &str, port: u16, kafka_properties: &str) -> PathBuf {
    write_config(
        dir,
        bootstrap,
        group,
        port,
        &format!("{DURABLE_CONFIG}{TEST_RULES}\n{QUICK_REJOIN}{kafka_properties}"),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_three_times_equals_an_uninterrupted_replay() {
    let dir = tempfile::tempdir().unwrap();
    let (scenario, tansu) = Scenario::on_a_broker(dir.path()).await;
    let bootstrap = tansu.bootstrap();

    let port = free_port();
    let config = scenario_config(dir.path(), &bootstrap, "durable", port, "");
    let log = dir.path().join("service.log");
    let total = scenario.records.len() as u64;
    let mut rng = rand::thread_rng();
    let mut restored_customers = 0.0;
    for round in 0..3 {
        let service = Binary::start(&config, port, &log);
        // Kill once this process has applied a random share of what is left. The first kill also
        // waits for a commit (which follows a delivered checkpoint): on a fast machine the share
        // can be applied before the first checkpoint, and then no restart would have anything to
        // restore.
        let at = rng.gen_range(total / 20..total / 6);
        wait_until(Duration::from_secs(120), "events applied before the kill", || async {
            let committed_any = || TOPICS[..2].iter().any(|t| committed(&bootstrap, "durable", t, 1)[0] > Some(0));
            events_seen(&service.metrics().await) >= at && (round > 0 || committed_any())
        })
        .await;
        if round > 0 {
            restored_customers += metric(&service.metrics().await, "cxpulse_restore_customers_total").unwrap_or(0.0);
        }
        service.kill9();
    }
    let service = Binary::start(&config, port, &log);
    scenario.wait_all_committed(&bootstrap, "durable", async || service.metrics().await).await;
    let metrics = service.metrics().await;
    restored_customers += metric(&metrics, "cxpulse_restore_customers_total").unwrap_or(0.0);
    service.stop();
    assert!(restored_customers > 0.0, "restarts restored customers from the changelog (no local disk)");
    scenario.assert_same_as_replay(&bootstrap, &metrics, &format!("3 SIGKILLs (log: {})", log.display()));
}

/// The broker stalls (SIGSTOP) for longer than the effects producer's `message.timeout.ms` while
/// alerts, messages and dead letters are being published: requests already sent are appended
/// when it resumes, but their deliveries fail (timed out, then `PRODUCER_FENCED` for the epoch
/// bump that follows, and the producer is replaced). Records found on the broker are not sent
/// again (`Durability::find_landed`; without it this test finds alerts published twice). No id
/// is published twice, and the figures, alerts (threshold alerts included: the partials publishes
/// that carry rule-boundary snapshots fail too, `cluster::publisher`) and messages are replay's.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broker_stall_past_the_message_timeout_publishes_nothing_twice() {
    let dir = tempfile::tempdir().unwrap();
    let (scenario, tansu) = Scenario::on_a_broker(dir.path()).await;
    let bootstrap = tansu.bootstrap();
    let port = free_port();
    // Below the 6 s session timeout, so the group keeps its member; past the message timeout.
    let (stall, message_timeout) = (Duration::from_millis(2500), "1000");
    let extra = format!("\"message.timeout.ms\" = \"{message_timeout}\"\n");
    let config = scenario_config(dir.path(), &bootstrap, "stall", port, &extra);
    let log = dir.path().join("service.log");
    let service = Binary::start(&config, port, &log);
    let total = scenario.records.len() as u64;
    // Three stalls: each catches produce requests in flight about half the time.
    for share in [6, 3, 2] {
        wait_until(Duration::from_secs(120), "events applied before the stall", || async {
            events_seen(&service.metrics().await) >= total / share
        })
        .await;
        tansu.pause();
        tokio::time::sleep(stall).await;
        tansu.resume();
    }
    scenario.wait_all_committed(&bootstrap, "stall", async || service.metrics().await).await;
    let metrics = service.metrics().await;
    service.stop();
    let text = std::fs::read_to_string(&log).unwrap_or_default();
    eprintln!(
        "failed deliveries found landed: {}; effects suppressed: {:?}",
        text.matches("had landed: not sent again").count(),
        metric(&metrics, "cxpulse_effects_suppressed_total")
    );
    let what = format!("3 broker stalls (log: {})", log.display());
    scenario.assert_same_as_replay(&bootstrap, &metrics, &what);
}

/// tansu 0.6.0 keeps the expired member as the group's leader after such an outage, so the group
/// would never assign a partition again without the nudge of `source::group_rejoin`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broker_outage_longer_than_the_session_timeout_is_survived() {
    show_service_log();
    let dir = tempfile::tempdir().unwrap();
    let scenario = Scenario::new(dir.path());
    let tansu = Tansu::start();
    let bootstrap = tansu.bootstrap();
    create_default_topics(&bootstrap, 1).await;
    let (first, rest) = scenario.records.split_at(scenario.records.len() / 2);
    produce(&bootstrap, first).await;
    let port = free_port();
    let config = scenario_config(dir.path(), &bootstrap, "outage", port, "");
    let service = InProcess::start(&config, port);
    wait_until(Duration::from_secs(90), "the first half consumed", || async {
        events_seen(&service.metrics().await) == first.len() as u64
    })
    .await;
    // Frozen while records are arriving and effects are being published, for more than twice
    // the session timeout (6 s): the group drops the member and its partition is lost. The rest
    // is on the broker before the freeze: records produced while the service runs reach it
    // through two topics, and when one topic's fetch lags the other by more than
    // `service.merge_wait` (as after an outage) the merge goes on without it, by design, and
    // the order can differ from the replay's.
    produce(&bootstrap, rest).await;
    tansu.pause();
    tokio::time::sleep(Duration::from_secs(15)).await;
    tansu.resume();
    let resumed = std::time::Instant::now();
    wait_until(Duration::from_secs(60), "the partition restored again after the outage", || async {
        metric(&service.metrics().await, "cxpulse_restore_customers_total").unwrap_or(0.0) > 0.0
    })
    .await;
    eprintln!("partition restored {:?} after the broker came back", resumed.elapsed());
    scenario.wait_all_committed(&bootstrap, "outage", async || service.metrics().await).await;
    let metrics = service.metrics().await;
    service.stop().await;
    scenario.assert_same_as_replay(&bootstrap, &metrics, "a 15 s broker outage");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_customer_quiet_before_a_crash_is_alerted_after_the_restart_at_the_right_time() {
    let dir = tempfile::tempdir().unwrap();
    let tansu = Tansu::start();
    let bootstrap = tansu.bootstrap();
    create_default_topics(&bootstrap, 1).await;
    let ts = chrono::Utc::now().timestamp_millis();
    let line = format!(r#"{{"type":"interaction","kind":"login","customer_id":"quiet-1","ts":{ts}}}"#);
    produce(&bootstrap, &[route_line(line.as_bytes())]).await;
    let extra = &format!("[clock]\nmax_lag = \"1s\"\n\n[inactivity]\ninactive_after = \"20s\"\nchurn_after = \"1d\"\n\n\
                 [service]\ncommit_interval = \"200ms\"\nprobe_interval = \"1s\"\n\n[checkpoint]\nreplication_factor = 1\n\n{QUICK_REJOIN}");
    let port = free_port();
    let config = write_config(dir.path(), &bootstrap, "quiet", port, extra);
    let log = dir.path().join("service.log");
    let service = Binary::start(&config, port, &log);
    wait_until(Duration::from_secs(60), "the event checkpointed", || async {
        let m = service.metrics().await;
        events_seen(&m) == 1 && metric(&m, "cxpulse_checkpoints_total{kind=\"base\"}").unwrap_or(0.0) >= 1.0
    })
    .await;
    service.kill9();
    // Down while the customer's deadline passes.
    let due = ts + 20_000;
    let wait = (due + 3_000 - chrono::Utc::now().timestamp_millis()).max(0) as u64;
    tokio::time::sleep(Duration::from_millis(wait)).await;
    let service = Binary::start(&config, port, &log);
    wait_until(Duration::from_secs(60), "the inactive alert", || async {
        metric(&service.metrics().await, "cxpulse_alerts_total{kind=\"customer_inactive\"}").unwrap_or(0.0) >= 1.0
    })
    .await;
    service.stop();
    let alerts = payloads(&read_topic(&bootstrap, TOPICS[2], 1, Duration::from_secs(20)));
    let inactive: Vec<&Value> = alerts.iter().filter(|a| a["kind"] == "customer_inactive").collect();
    assert_eq!(inactive.len(), 1, "{alerts:?}");
    assert_eq!(inactive[0]["customer_id"], "quiet-1");
    assert_eq!(inactive[0]["at"], cxpulse::event::time::format_rfc3339(due).as_str(), "at its own deadline");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_partition_moved_to_a_second_instance_keeps_its_state() {
    let dir = tempfile::tempdir().unwrap();
    let tansu = Tansu::start();
    let bootstrap = tansu.bootstrap();
    create_default_topics(&bootstrap, 2).await;
    let input = dir.path().join("events.jsonl");
    let opts = SimulationOptions { customers: 120, days: 20, seed: 5, start_ms: SimulationOptions::DEFAULT_START_MS };
    write_jsonl(opts, &mut std::fs::File::create(&input).unwrap()).unwrap();
    let text = std::fs::read_to_string(&input).unwrap();
    let records: Vec<Record> = text.lines().map(|l| route_line(l.as_bytes())).collect();
    let customers: BTreeSet<String> = text
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok()?["customer_id"].as_str().map(str::to_string))
        .collect();
    let half = records.len() / 2;
    produce(&bootstrap, &records[..half]).await;
    let extra = "[clock]\nmax_lag = \"36500d\"\n\n[service]\ncommit_interval = \"200ms\"\nprobe_interval = \"1s\"\n\n\
                 [checkpoint]\nreplication_factor = 1\n";
    let (port_a, port_b) = (free_port(), free_port());
    let a = InProcess::start(&write_config(dir.path(), &bootstrap, "handover", port_a, extra), port_a);
    wait_until(Duration::from_secs(90), "first half consumed", || async {
        events_seen(&a.metrics().await) == half as u64
    })
    .await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let config_b = dir.path().join("b.toml");
    std::fs::write(
        &config_b,
        std::fs::read_to_string(dir.path().join("handover.toml"))
            .unwrap()
            .replace(&format!("127.0.0.1:{port_a}"), &format!("127.0.0.1:{port_b}")),
    )
    .unwrap();
    let b = InProcess::start(&config_b, port_b);
    wait_until(Duration::from_secs(90), "a partition handed over and restored", || async {
        metric(&b.metrics().await, "cxpulse_restore_customers_total").unwrap_or(0.0) > 0.0
    })
    .await;
    produce(&bootstrap, &records[half..]).await;
    wait_until(Duration::from_secs(90), "second half consumed", || async {
        events_seen(&a.metrics().await) + events_seen(&b.metrics().await) == records.len() as u64
    })
    .await;
    let tracked = |m: &str| metric(m, "cxpulse_tracked_customers").unwrap_or(0.0);
    let (ma, mb) = (a.metrics().await, b.metrics().await);
    assert_eq!(tracked(&ma) + tracked(&mb), customers.len() as f64, "every customer is tracked exactly once");
    a.stop().await;
    b.stop().await;
    ids(&payloads(&read_topic(&bootstrap, TOPICS[2], 1, Duration::from_secs(20))), "alert_id");
    ids(&payloads(&read_topic(&bootstrap, TOPICS[3], 1, Duration::from_secs(20))), "message_id");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_corrupt_changelog_record_is_refused_with_its_partition_and_offset() {
    let dir = tempfile::tempdir().unwrap();
    let tansu = Tansu::start();
    let bootstrap = tansu.bootstrap();
    create_default_topics(&bootstrap, 1).await;
    create_topics(&bootstrap, &[("cx.corrupt-changelog", 1)]).await;
    let garbage = Record {
        topic: "cx.corrupt-changelog".into(),
        key: Some(b"0/meta".to_vec()),
        value: Some(b"CXPK\x01\x01\xff".to_vec()),
    };
    produce(&bootstrap, &[garbage]).await;
    let line = br#"{"type":"interaction","kind":"login","customer_id":"c-1","ts":"2026-11-01T12:00:00Z"}"#;
    produce(&bootstrap, &[route_line(line)]).await;
    let port = free_port();
    let extra = "[service]\nprobe_interval = \"1s\"\n\n[checkpoint]\nreplication_factor = 1\n";
    let service = InProcess::start(&write_config(dir.path(), &bootstrap, "corrupt", port, extra), port);
    wait_until(Duration::from_secs(60), "the refusal", || async { service.ready().await.1.contains("refuses to run") })
        .await;
    let (ready, why) = service.ready().await;
    assert!(!ready);
    assert!(why.contains("partition 0") && why.contains("`0/meta` at offset 0"), "{why}");
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(events_seen(&service.metrics().await), 0, "nothing is processed on a half-restored state");
    service.stop().await;
}
