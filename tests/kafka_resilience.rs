//! The service on a real broker (tansu) through restarts, an outage, shutdown and bad start-up
//! conditions.

mod support;

use std::collections::BTreeSet;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use cxpulse::source::simulator::{SimulationOptions, Simulator};
use rdkafka::Message;
use support::*;

const BASE: &str = "[clock]\nmax_lag = \"36500d\"\n\n[service]\nprobe_interval = \"1s\"\n";

/// A small simulated stream as Kafka records, split in two halves.
fn simulated(customers: u64, days: u32) -> (Vec<Record>, Vec<Record>) {
    let opts = SimulationOptions { customers, days, seed: 11, start_ms: SimulationOptions::DEFAULT_START_MS };
    let records: Vec<Record> = Simulator::new(opts).map(|e| route_line(e.json.as_bytes())).collect();
    let half = records.len() / 2;
    (records[..half].to_vec(), records[half..].to_vec())
}

fn unique_ids(bootstrap: &str, topic: &str, field: &str) -> usize {
    let published = read_topic(bootstrap, topic, 1, Duration::from_secs(20));
    let ids: BTreeSet<String> = published
        .iter()
        .map(|m| serde_json::from_slice::<serde_json::Value>(m.payload().unwrap()).unwrap()[field].to_string())
        .collect();
    assert_eq!(ids.len(), published.len(), "an {field} was published twice on {topic}");
    ids.len()
}

async fn consumed_and_ready(service: &InProcess, events: u64) {
    wait_until(Duration::from_secs(90), "events consumed", || async {
        events_seen(&service.metrics().await) == events
    })
    .await;
    wait_until(Duration::from_secs(30), "ready", || async { service.ready().await.0 }).await;
}

/// Offsets of the next record per partition, from where the records were produced.
fn end_offsets(records: &[Record], positions: &[(i32, i64)], topic: &str, partitions: i32) -> Vec<Option<i64>> {
    (0..partitions)
        .map(|p| {
            records
                .iter()
                .zip(positions)
                .filter(|(r, (part, _))| r.topic == topic && *part == p)
                .map(|(_, (_, o))| o + 1)
                .max()
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restart_resumes_from_committed_offsets_without_repeating_effects() {
    let tansu = Tansu::start();
    let bootstrap = tansu.bootstrap();
    create_default_topics(&bootstrap, 2).await;
    let (first, second) = simulated(120, 30);
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let config = write_config(dir.path(), &bootstrap, "restart", port, BASE);

    let positions = produce(&bootstrap, &first).await;
    let service = InProcess::start(&config, port);
    consumed_and_ready(&service, first.len() as u64).await;
    service.stop().await;
    for topic in &TOPICS[..2] {
        assert_eq!(committed(&bootstrap, "restart", topic, 2), end_offsets(&first, &positions, topic, 2), "{topic}");
    }
    let alerts_before = unique_ids(&bootstrap, TOPICS[2], "alert_id");
    assert!(alerts_before > 0);

    produce(&bootstrap, &second).await;
    let service = InProcess::start(&config, port);
    consumed_and_ready(&service, second.len() as u64).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(events_seen(&service.metrics().await), second.len() as u64, "the first half was read again");
    service.stop().await;
    assert!(unique_ids(&bootstrap, TOPICS[2], "alert_id") > alerts_before);
    unique_ids(&bootstrap, TOPICS[3], "message_id");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_member_takes_over_partitions_without_rereading() {
    let tansu = Tansu::start();
    let bootstrap = tansu.bootstrap();
    create_default_topics(&bootstrap, 2).await;
    let (first, second) = simulated(100, 30);
    let (dir_a, dir_b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (port_a, port_b) = (free_port(), free_port());
    let a = InProcess::start(&write_config(dir_a.path(), &bootstrap, "pair", port_a, BASE), port_a);
    produce(&bootstrap, &first).await;
    consumed_and_ready(&a, first.len() as u64).await;

    // B joins: the group rebalances; A hands its partitions back after committing what it did.
    let b = InProcess::start(&write_config(dir_b.path(), &bootstrap, "pair", port_b, BASE), port_b);
    wait_until(Duration::from_secs(60), "both members assigned", || async { a.ready().await.0 && b.ready().await.0 })
        .await;
    produce(&bootstrap, &second).await;
    let total = (first.len() + second.len()) as u64;
    wait_until(Duration::from_secs(60), "every event consumed once", || async {
        events_seen(&a.metrics().await) + events_seen(&b.metrics().await) == total
    })
    .await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let (seen_a, seen_b) = (events_seen(&a.metrics().await), events_seen(&b.metrics().await));
    assert_eq!(seen_a + seen_b, total, "no event read twice across the rebalance");
    assert!(seen_b > 0, "the new member got partitions");
    a.stop().await;
    b.stop().await;
    unique_ids(&bootstrap, TOPICS[2], "alert_id");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broker_outage_makes_it_not_ready_then_it_catches_up() {
    let tansu = Tansu::start();
    let bootstrap = tansu.bootstrap();
    create_default_topics(&bootstrap, 2).await;
    let (first, second) = simulated(100, 30);
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let service = InProcess::start(&write_config(dir.path(), &bootstrap, "outage", port, BASE), port);
    produce(&bootstrap, &first).await;
    consumed_and_ready(&service, first.len() as u64).await;

    tansu.pause();
    wait_until(Duration::from_secs(30), "not ready during the outage", || async {
        let (ready, body) = service.ready().await;
        !ready && body.contains("unreachable")
    })
    .await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(http_get(service.http, "/healthz").await.map(|r| r.0), Some(200), "alive during the outage");
    tansu.resume();

    produce(&bootstrap, &second).await;
    consumed_and_ready(&service, (first.len() + second.len()) as u64).await;
    service.stop().await;
    unique_ids(&bootstrap, TOPICS[2], "alert_id");
}

/// The real binary, killed on drop if a failed assertion left it running.
struct Binary(Child);

impl Drop for Binary {
    fn drop(&mut self) {
        if matches!(self.0.try_wait(), Ok(None)) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

/// The real binary with a config file; standard error goes to `log`.
fn spawn_binary(config: &Path, log: &Path) -> Binary {
    let child = Command::new(env!("CARGO_BIN_EXE_cxpulse"))
        .args(["run", "--config"])
        .arg(config)
        .env("CXPULSE_LOG", "info")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(log).unwrap())
        .spawn()
        .expect("start cxpulse");
    Binary(child)
}

fn terminate(binary: &mut Binary, within: Duration) -> std::process::ExitStatus {
    let child = &mut binary.0;
    Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap();
    let deadline = Instant::now() + within;
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        assert!(Instant::now() < deadline, "cxpulse did not exit within {within:?} of SIGTERM");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_drains_commits_and_exits_zero() {
    let tansu = Tansu::start();
    let bootstrap = tansu.bootstrap();
    create_default_topics(&bootstrap, 2).await;
    let (first, _) = simulated(80, 20);
    let positions = produce(&bootstrap, &first).await;
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    // No periodic commit: only the shutdown can commit.
    let extra = format!("{BASE}commit_interval = \"1h\"\n");
    let config = write_config(dir.path(), &bootstrap, "sigterm", port, &extra);
    let log = dir.path().join("cxpulse.log");
    let mut child = spawn_binary(&config, &log);
    let http = std::net::SocketAddr::from(([127, 0, 0, 1], port));
    let total = first.len() as u64;
    wait_until(Duration::from_secs(90), "events consumed", || async {
        events_seen(&http_get(http, "/metrics").await.map(|r| r.1).unwrap_or_default()) == total
    })
    .await;
    assert_eq!(committed(&bootstrap, "sigterm", TOPICS[0], 2), vec![None, None], "nothing committed before shutdown");

    let status = terminate(&mut child, Duration::from_secs(30));
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(status.success(), "exit status {status:?}\n{text}");
    assert!(text.contains("offsets committed") && text.contains("shutdown complete"), "{text}");
    for topic in &TOPICS[..2] {
        assert_eq!(committed(&bootstrap, "sigterm", topic, 2), end_offsets(&first, &positions, topic, 2), "{topic}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn start_up_without_broker_then_with_wrong_topics_is_not_ready_but_alive() {
    let broker_port = free_port();
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let config = write_config(dir.path(), &format!("127.0.0.1:{broker_port}"), "startup", port, BASE);
    let log = dir.path().join("cxpulse.log");
    let mut child = spawn_binary(&config, &log);
    let http = std::net::SocketAddr::from(([127, 0, 0, 1], port));
    let not_ready_because = |reason: &'static str| {
        move || async move {
            let answer = http_get(http, "/readyz").await;
            answer.is_some_and(|(status, body)| status == 503 && body.contains(reason))
        }
    };
    wait_until(Duration::from_secs(30), "not ready: unreachable", not_ready_because("unreachable")).await;
    wait_until(Duration::from_secs(30), "a clear log line", || async {
        std::fs::read_to_string(&log).unwrap().contains("kafka is not reachable yet")
    })
    .await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert!(child.0.try_wait().unwrap().is_none(), "still running, no crash loop");

    let tansu = Tansu::start_on(broker_port);
    create_topics(&tansu.bootstrap(), &[(TOPICS[0], 2), (TOPICS[1], 3)]).await;
    wait_until(Duration::from_secs(60), "not ready: topics", not_ready_because("not co-partitioned")).await;
    // Readiness is updated before the probe logs the round: wait for the line, don't race it.
    wait_until(Duration::from_secs(30), "the co-partitioning log line", || async {
        std::fs::read_to_string(&log)
            .unwrap()
            .contains("input topics are not co-partitioned: `cx.interactions` has 2 partitions")
    })
    .await;
    let status = terminate(&mut child, Duration::from_secs(30));
    assert!(status.success(), "exit status {status:?}");
}
