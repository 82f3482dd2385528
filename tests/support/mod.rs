//! Test harness for the Kafka tests: a real broker (tansu, in-memory storage) on a free loopback
//! port, started and killed per test, and an independent rdkafka client to create topics, produce
//! test traffic and read what cxpulse published. Nothing here goes through cxpulse's own Kafka code.

#![allow(dead_code)]

pub mod binary;
#[allow(unused_imports)]
pub use binary::Binary;

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::{Headers, Message, OwnedMessage};
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::{ClientConfig, Offset, TopicPartitionList};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

pub const TOPICS: [&str; 5] = ["cx.interactions", "cx.surveys", "cx.alerts", "cx.reengagement", "cx.dead-letter"];

/// A loopback port nobody listens on right now.
/// A test's working directory, deleted afterwards unless `TEST_KEEP_DIRS` is set: then a failed
/// run's service log, configs and checkpoints stay for a post-mortem (the path is printed).
pub fn test_dir() -> tempfile::TempDir {
    let keep = std::env::var_os("TEST_KEEP_DIRS").is_some();
    let dir = tempfile::Builder::new().prefix("cxpulse-test").disable_cleanup(keep).tempdir().unwrap();
    if keep {
        eprintln!("test directory kept: {}", dir.path().display());
    }
    dir
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).expect("free port")
}

/// `tansu` on PATH, else in ~/.cargo/bin (where scripts/install-test-deps.sh puts it).
pub fn tansu_binary() -> PathBuf {
    let on_path = std::env::var_os("PATH")
        .into_iter()
        .flat_map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .map(|dir| dir.join("tansu"))
        .find(|p| p.is_file());
    let in_cargo = std::env::var_os("HOME").map(|h| Path::new(&h).join(".cargo/bin/tansu")).filter(|p| p.is_file());
    on_path.or(in_cargo).expect("tansu (the test broker) is not installed: run scripts/install-test-deps.sh")
}

/// A tansu broker on its own port; killed on drop.
pub struct Tansu {
    port: u16,
    child: Child,
    log: PathBuf,
}

impl Tansu {
    pub fn start() -> Tansu {
        Self::start_on(free_port())
    }

    pub fn start_on(port: u16) -> Tansu {
        let url = format!("tcp://127.0.0.1:{port}");
        let log = std::env::temp_dir().join(format!("cxpulse-tansu-{port}.log"));
        let out = std::fs::File::create(&log).expect("tansu log file");
        let child = Command::new(tansu_binary())
            .args(["broker", "--listener-url", &url, "--advertised-listener-url", &url])
            .args(["--storage-engine", "memory://tansu/"])
            .stdout(out.try_clone().expect("log handle"))
            .stderr(out)
            .stdin(Stdio::null())
            .spawn()
            .expect("start tansu");
        let tansu = Tansu { port, child, log };
        let deadline = Instant::now() + Duration::from_secs(20);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "tansu did not listen on {port}; see {}", tansu.log.display());
            std::thread::sleep(Duration::from_millis(50));
        }
        tansu
    }

    pub fn bootstrap(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    fn signal(&self, signal: &str) {
        let status = Command::new("kill").args([signal, &self.child.id().to_string()]).status().expect("kill");
        assert!(status.success(), "kill {signal} failed");
    }

    /// Freezes the broker (SIGSTOP): connections stay open but nothing answers, as in an outage.
    pub fn pause(&self) {
        self.signal("-STOP");
    }

    pub fn resume(&self) {
        self.signal("-CONT");
    }
}

impl Drop for Tansu {
    fn drop(&mut self) {
        let _ = Command::new("kill").args(["-CONT", &self.child.id().to_string()]).status();
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn client_config(bootstrap: &str) -> ClientConfig {
    let mut config = ClientConfig::new();
    config.set("bootstrap.servers", bootstrap).set("log_level", "3");
    config
}

/// Producers partition keys as Java clients do (`murmur2`), like the service's default
/// `kafka.key_partitioner`, so a re-keyed record lands where its customer's records are.
pub fn producer_config(bootstrap: &str) -> ClientConfig {
    let mut config = client_config(bootstrap);
    config.set("partitioner", "murmur2_random");
    config
}

/// Creates topics with the given partition counts (replication 1).
pub async fn create_topics(bootstrap: &str, topics: &[(&str, i32)]) {
    let admin: AdminClient<DefaultClientContext> = client_config(bootstrap).create().expect("admin client");
    let new: Vec<NewTopic> =
        topics.iter().map(|(name, n)| NewTopic::new(name, *n, TopicReplication::Fixed(1))).collect();
    let options = AdminOptions::new().operation_timeout(Some(Duration::from_secs(10)));
    for result in admin.create_topics(&new, &options).await.expect("create topics") {
        result.expect("topic created");
    }
}

/// The five default topics, inputs with `partitions` partitions, outputs with one.
pub async fn create_default_topics(bootstrap: &str, partitions: i32) {
    create_topics(
        bootstrap,
        &[(TOPICS[0], partitions), (TOPICS[1], partitions), (TOPICS[2], 1), (TOPICS[3], 1), (TOPICS[4], 1)],
    )
    .await;
}

/// One record to produce.
#[derive(Debug, Clone)]
pub struct Record {
    pub topic: String,
    pub key: Option<Vec<u8>>,
    pub value: Option<Vec<u8>>,
}

/// Routes a JSONL line as a well-behaved producer would: surveys to cx.surveys, everything else
/// (unparseable lines included) to cx.interactions, keyed by customer id when there is one.
pub fn route_line(line: &[u8]) -> Record {
    let parsed: Option<serde_json::Value> = serde_json::from_slice(line).ok();
    let field = |name: &str| parsed.as_ref().and_then(|v| v.get(name)).and_then(|v| v.as_str()).map(str::to_string);
    let topic = if field("type").as_deref() == Some("survey") { TOPICS[1] } else { TOPICS[0] };
    Record { topic: topic.into(), key: field("customer_id").map(String::into_bytes), value: Some(line.to_vec()) }
}

/// Produces records in order, one record per batch; returns each one's (partition, offset).
///
/// One per batch because of two tansu 0.6.0 faults with multi-record batches (checked by hand:
/// 100 records in one batch, then a fetch from offset 1 or 50): its high watermark is the last
/// batch's base offset + 1, and a fetch that starts inside a batch skips the rest of that batch.
/// Real Kafka has neither. With single-record batches every offset is a batch boundary, so a
/// restart resumes exactly and lag is measured exactly. Without idempotence librdkafka may keep
/// many single-record requests in flight (in order on one loopback connection). About 4,000
/// records a second here, and slower as a partition grows: see [`produce_batched`].
pub async fn produce(bootstrap: &str, records: &[Record]) -> Vec<(i32, i64)> {
    let producer: FutureProducer = producer_config(bootstrap)
        .set("linger.ms", "0")
        .set("batch.num.messages", "1")
        // A request that times out on a loaded machine is retried: without idempotence the
        // retry could write the record twice or out of order.
        .set("enable.idempotence", "true")
        .create()
        .expect("producer");
    produce_with(&producer, records).await
}

/// Produces records in order in ordinary batches, far faster than [`produce`], for a consumer
/// that starts at the beginning and never resumes mid-stream. Follow it with a few records from
/// [`produce`] so that each partition ends on a single-record batch: the high watermark is exact
/// again from then on.
pub async fn produce_batched(bootstrap: &str, records: &[Record]) -> Vec<(i32, i64)> {
    let producer: FutureProducer =
        producer_config(bootstrap).set("linger.ms", "10").set("enable.idempotence", "true").create().expect("producer");
    produce_with(&producer, records).await
}

async fn produce_with(producer: &FutureProducer, records: &[Record]) -> Vec<(i32, i64)> {
    let mut pending = Vec::with_capacity(records.len());
    for r in records {
        let mut record = FutureRecord::<[u8], [u8]>::to(&r.topic);
        if let Some(key) = &r.key {
            record = record.key(key.as_slice());
        }
        if let Some(value) = &r.value {
            record = record.payload(value.as_slice());
        }
        loop {
            match producer.send_result(record) {
                Ok(delivery) => {
                    pending.push(delivery);
                    break;
                }
                Err((_, back)) => {
                    record = back;
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
            }
        }
    }
    let mut positions = Vec::with_capacity(pending.len());
    for delivery in pending {
        let delivered = delivery.await.expect("delivery").expect("delivered");
        positions.push((delivered.partition, delivered.offset));
    }
    positions
}

/// Reads every record of `topic` (all partitions, from the start) until `expected` were read
/// and nothing more came for a second, or `timeout`.
pub fn read_topic(bootstrap: &str, topic: &str, expected: usize, timeout: Duration) -> Vec<OwnedMessage> {
    let consumer: BaseConsumer = client_config(bootstrap)
        .set("group.id", format!("reader-{}", free_port()))
        .set("enable.auto.commit", "false")
        .create()
        .expect("reader");
    let metadata = consumer.fetch_metadata(Some(topic), Duration::from_secs(10)).expect("metadata");
    let mut tpl = TopicPartitionList::new();
    for p in metadata.topics()[0].partitions() {
        tpl.add_partition_offset(topic, p.id(), Offset::Beginning).expect("partition");
    }
    consumer.assign(&tpl).expect("assign");
    let deadline = Instant::now() + timeout;
    let mut out = Vec::new();
    let mut quiet_since = Instant::now();
    while Instant::now() < deadline {
        match consumer.poll(Duration::from_millis(200)) {
            Some(Ok(m)) => {
                out.push(m.detach());
                quiet_since = Instant::now();
            }
            _ if out.len() >= expected && quiet_since.elapsed() > Duration::from_secs(1) => break,
            _ => {}
        }
    }
    out
}

/// A record's headers as (key, UTF-8 value) pairs.
pub fn headers(message: &OwnedMessage) -> Vec<(String, String)> {
    message
        .headers()
        .map(|h| {
            h.iter()
                .map(|h| (h.key.to_string(), String::from_utf8_lossy(h.value.unwrap_or_default()).into_owned()))
                .collect()
        })
        .unwrap_or_default()
}

/// The committed offset of the group for each partition of `topic`.
pub fn committed(bootstrap: &str, group: &str, topic: &str, partitions: i32) -> Vec<Option<i64>> {
    let consumer: BaseConsumer = client_config(bootstrap).set("group.id", group).create().expect("client");
    let mut tpl = TopicPartitionList::new();
    for p in 0..partitions {
        tpl.add_partition(topic, p);
    }
    let committed = consumer.committed_offsets(tpl, Duration::from_secs(10)).expect("committed offsets");
    (0..partitions)
        .map(|p| match committed.find_partition(topic, p).map(|e| e.offset()) {
            Some(Offset::Offset(o)) => Some(o),
            _ => None,
        })
        .collect()
}

/// `GET path` → (status, body).
pub async fn http_get(addr: SocketAddr, path: &str) -> Option<(u16, String)> {
    let mut stream = tokio::net::TcpStream::connect(addr).await.ok()?;
    let request = format!("GET {path} HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.ok()?;
    let mut response = String::new();
    stream.read_to_string(&mut response).await.ok()?;
    let status = response.get(9..12)?.parse().ok()?;
    let body = response.split_once("\r\n\r\n").map(|(_, b)| b.to_string()).unwrap_or_default();
    Some((status, body))
}

/// The value of one series in Prometheus text, e.g. `cxpulse_events_total{outcome="accepted"}`.
pub fn metric(text: &str, series: &str) -> Option<f64> {
    text.lines().find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.trim().parse().ok())
}

/// Polls `check` every 200 ms until it holds or `timeout` passes.
pub async fn wait_until<F, Fut>(timeout: Duration, what: &str, check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    assert!(wait_for(timeout, check).await, "timed out after {timeout:?} waiting for {what}");
}

/// Whether `check` held within `timeout` (checked every 200 ms).
pub async fn wait_for<F, Fut>(timeout: Duration, mut check: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + timeout;
    while !check().await {
        if Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    true
}

/// Every input event counted by the service (accepted, duplicate, late, invalid).
pub fn events_seen(metrics: &str) -> u64 {
    ["accepted", "duplicate", "late", "invalid"]
        .iter()
        .map(|o| metric(metrics, &format!("cxpulse_events_total{{outcome=\"{o}\"}}")).unwrap_or(0.0) as u64)
        .sum()
}

/// The input partitions an instance owns, from its lag series.
pub fn owned_partitions(metrics: &str) -> std::collections::BTreeSet<i32> {
    metrics
        .lines()
        .filter(|l| l.starts_with("cxpulse_consumer_lag{") && l.contains(TOPICS[0]))
        .filter_map(|l| l.split("partition=\"").nth(1)?.split('"').next()?.parse().ok())
        .collect()
}

/// `kafka.properties` for services that are killed and restarted. The group notices a dead
/// member after 6 s instead of librdkafka's 45 s, so its partitions move on quickly. The service
/// produces one record per batch, as [`produce`] does and for the same tansu faults: reading its
/// outputs back after a restore needs exact positions and high watermarks.
/// The records' `field` ids, each once (a second publish of one panics, showing both).
pub fn ids(records: &[serde_json::Value], field: &str) -> std::collections::BTreeMap<String, serde_json::Value> {
    let mut out = std::collections::BTreeMap::new();
    for r in records {
        let id = r[field].as_str().unwrap().to_string();
        if let Some(before) = out.insert(id.clone(), r.clone()) {
            panic!("{field} {id} published twice: {before} and {r}");
        }
    }
    out
}

/// Two threshold rules that fire on `simulate` output (the Kafka tests compare their alerts with
/// replay's); appended to a test's configuration.
pub const TEST_RULES: &str = r#"
[[rules]]
name = "nps-watch"
metric = "nps_score"
window = "7d"
below = 20.0
clear = 30.0
min_samples = 5

[[rules]]
name = "busy-support"
metric = "interactions"
label = "support_opened"
window = "24h"
above = 3.0
clear = 2.0
"#;

/// Event time only (as in replay), and frequent, small checkpoints: for tests that kill the
/// service and check what its restarts restore.
pub const DURABLE_CONFIG: &str = r#"
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
chunk_bytes = 16384
replication_factor = 1
"#;

pub const QUICK_REJOIN: &str = "[kafka.properties]\n\"session.timeout.ms\" = \"6000\"\n\
                                \"heartbeat.interval.ms\" = \"1000\"\n\"batch.num.messages\" = \"1\"\n";

/// A config file for a test service. `extra` is appended TOML (sections not set here).
pub fn write_config(dir: &Path, bootstrap: &str, group: &str, http_port: u16, extra: &str) -> PathBuf {
    let text = format!(
        "[kafka]\nbrokers = \"{bootstrap}\"\ngroup_id = \"{group}\"\n\n[http]\nlisten = \"127.0.0.1:{http_port}\"\n\n{extra}\n"
    );
    let path = dir.join(format!("{group}.toml"));
    std::fs::write(&path, text).expect("config file");
    path
}

/// A service running in-process; stopped (gracefully) by [`InProcess::stop`].
pub struct InProcess {
    pub http: SocketAddr,
    shutdown: tokio_util::sync::CancellationToken,
    task: tokio::task::JoinHandle<anyhow::Result<()>>,
}

impl InProcess {
    pub fn start(config_file: &Path, http_port: u16) -> InProcess {
        let config = cxpulse::config::load(Some(config_file), &[]).expect("valid test config");
        let shutdown = tokio_util::sync::CancellationToken::new();
        let task = tokio::spawn(cxpulse::service::run(config, shutdown.clone()));
        InProcess { http: SocketAddr::from(([127, 0, 0, 1], http_port)), shutdown, task }
    }

    pub async fn metrics(&self) -> String {
        http_get(self.http, "/metrics").await.map(|(_, body)| body).unwrap_or_default()
    }

    pub async fn ready(&self) -> (bool, String) {
        match http_get(self.http, "/readyz").await {
            Some((status, body)) => (status == 200, body),
            None => (false, "no answer".into()),
        }
    }

    pub async fn stop(self) {
        self.shutdown.cancel();
        let result = tokio::time::timeout(Duration::from_secs(60), self.task).await;
        result.expect("service stops in time").expect("service task").expect("clean shutdown");
    }
}

/// Prefixes of exposition lines that are service state, not figures: only the live service has
/// them, so a live run and a replay are compared without them.
pub const NOT_FIGURES: [&str; 18] = [
    // Durable state (checkpoints, restores, fencing).
    "cxpulse_restore_",
    "cxpulse_partitions_fenced_total",
    "cxpulse_checkpoint",
    "cxpulse_effects_suppressed_total",
    "cxpulse_alerts_total{kind=\"segment_threshold\"}",
    "cxpulse_events_per_second",
    "cxpulse_ready",
    "cxpulse_event_processing_seconds",
    "cxpulse_consumer_lag",
    "cxpulse_build_info",
    "cxpulse_publish_failures_total",
    "cxpulse_mismatched_keys_total",
    "cxpulse_rule_firing",
    "cxpulse_tracked_customers",
    "cxpulse_stream_time_seconds",
    "cxpulse_partials_",
    "cxpulse_segment_claim",
    "# ",
];

/// The figure lines of an exposition: all but [`NOT_FIGURES`] and the `also_skip` prefixes.
pub fn figures_except(metrics: &str, also_skip: &[&str]) -> std::collections::BTreeSet<String> {
    metrics
        .lines()
        .filter(|l| !NOT_FIGURES.iter().chain(also_skip).any(|p| l.starts_with(p)))
        .filter(|l| !l.contains(CLUSTER_SCOPE))
        .map(str::to_string)
        .collect()
}

/// The segment figure lines of an exposition (those with a `dimension` label), this instance's.
pub fn segment_figures(metrics: &str) -> std::collections::BTreeSet<String> {
    figures_except(metrics, &[]).into_iter().filter(|l| l.contains("dimension=\"")).collect()
}

const CLUSTER_SCOPE: &str = ",scope=\"cluster\"";

/// The whole group's figure lines (`scope="cluster"`), with that label taken out so they compare
/// with a replay's.
pub fn cluster_figures(metrics: &str) -> std::collections::BTreeSet<String> {
    metrics
        .lines()
        .filter(|l| l.contains(CLUSTER_SCOPE) && !NOT_FIGURES.iter().any(|p| l.starts_with(p)))
        .map(|l| l.replace(CLUSTER_SCOPE, ""))
        .collect()
}

/// Shows the log of in-process services on the test's output, filtered by `TEST_SERVICE_LOG`
/// (e.g. `info,cxpulse::service=debug`); silent when it is not set.
pub fn show_service_log() {
    if let Ok(filter) = std::env::var("TEST_SERVICE_LOG") {
        let _ = tracing_subscriber::fmt().with_env_filter(tracing_subscriber::EnvFilter::new(filter)).try_init();
    }
}

/// A simulated file and what `cxpulse replay` of it gives.
pub struct Replayed {
    pub lines: Vec<Vec<u8>>,
    pub metrics: String,
    pub alerts: Vec<serde_json::Value>,
    pub messages: Vec<serde_json::Value>,
    pub dead_letters: Vec<serde_json::Value>,
}

impl Replayed {
    /// Whether replay raised `alert` only at its very end: replay evaluates the rules once more
    /// when its input ends, a live service only at bucket boundaries.
    pub fn raised_at_the_end_only(&self, alert: &serde_json::Value) -> bool {
        let end = self.alerts.iter().filter_map(|a| a["at"].as_str()).max().unwrap_or_default();
        alert["kind"] == "segment_threshold" && alert["at"] == end
    }

    /// How many of replay's alerts a live service raises too: all but those raised at the end only.
    pub fn alerts_at_boundaries(&self) -> usize {
        self.alerts.iter().filter(|a| !self.raised_at_the_end_only(a)).count()
    }

    /// The alerts, by id, a live service that published `live` should have published: replay's,
    /// those raised at its end only included where live has them too.
    pub fn expected_alerts(
        &self,
        live: &std::collections::BTreeMap<String, serde_json::Value>,
    ) -> std::collections::BTreeMap<String, serde_json::Value> {
        let mut expected = ids(&self.alerts, "alert_id");
        expected.retain(|id, a| live.contains_key(id) || !self.raised_at_the_end_only(a));
        expected
    }
}

pub fn json_lines(path: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(path).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect()
}

/// Simulates `customers` over `days` (seed 7) into `dir/events.jsonl` and replays it with the
/// config file, writing `metrics.prom`, `alerts.jsonl`, `messages.jsonl` and `dead.jsonl`.
pub fn simulate_and_replay(dir: &Path, config_file: &Path, customers: u64, days: u32) -> Replayed {
    let input = simulate(dir, customers, days);
    replay_file(dir, config_file, &input)
}

/// `cxpulse simulate` into `dir/events.jsonl` (seed 7).
pub fn simulate(dir: &Path, customers: u64, days: u32) -> PathBuf {
    let input = dir.join("events.jsonl");
    let opts = cxpulse::source::simulator::SimulationOptions {
        customers,
        days,
        seed: 7,
        start_ms: cxpulse::source::simulator::SimulationOptions::DEFAULT_START_MS,
    };
    cxpulse::source::simulator::write_jsonl(opts, &mut std::fs::File::create(&input).unwrap()).unwrap();
    input
}

/// What `cxpulse replay` of `input` gives (outputs written next to it in `dir`).
pub fn replay_file(dir: &Path, config_file: &Path, input: &Path) -> Replayed {
    let config = cxpulse::config::load(Some(config_file), &[]).unwrap();
    let out = |name: &str| Some(dir.join(name));
    let options = cxpulse::replay::ReplayOptions {
        input: input.to_path_buf(),
        metrics_out: out("metrics.prom"),
        alerts_out: out("alerts.jsonl"),
        messages_out: out("messages.jsonl"),
        dead_letter_out: out("dead.jsonl"),
        ..cxpulse::replay::ReplayOptions::default()
    };
    cxpulse::replay::replay(&config, &options).unwrap();
    Replayed {
        lines: std::fs::read(input)
            .unwrap()
            .split(|b| *b == b'\n')
            .filter(|l| !l.is_empty())
            .map(<[u8]>::to_vec)
            .collect(),
        metrics: std::fs::read_to_string(dir.join("metrics.prom")).unwrap(),
        alerts: json_lines(&dir.join("alerts.jsonl")),
        messages: json_lines(&dir.join("messages.jsonl")),
        dead_letters: json_lines(&dir.join("dead.jsonl")),
    }
}
