//! Configuration: serde structs (unknown keys refused), layered as embedded defaults ← file ← env,
//! then validated with every problem reported at once.

mod duration;
mod load;
mod validate;

pub use duration::DurationMs;
pub use load::{load, load_text, ConfigError, DEFAULT_TOML};

use std::collections::BTreeMap;

use serde::Deserialize;

/// The whole service configuration. Defaults live in `config/default.toml`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Which `segments` keys of an event become metric dimensions.
    pub segments: SegmentsConfig,
    /// Rolling windows every windowed metric is computed over.
    pub windows: Vec<WindowConfig>,
    /// When a quiet customer counts as inactive or churned.
    pub inactivity: InactivityConfig,
    /// Holdout group and the re-engagement message sent on inactivity.
    pub reengagement: ReengagementConfig,
    /// De-duplication by `event_id`.
    pub dedup: DedupConfig,
    /// Bounds on input and retained state.
    pub limits: LimitsConfig,
    /// The live stream clock.
    pub clock: ClockConfig,
    /// Broker connection and topics.
    pub kafka: KafkaConfig,
    /// The metrics and health endpoint.
    pub http: HttpConfig,
    /// How `cxpulse run` behaves around its Kafka input: merge, readiness, commits, shutdown.
    pub service: ServiceConfig,
    /// The in-process demo broker and simulator used when `kafka.brokers = "embedded"`.
    pub embedded: EmbeddedConfig,
    /// The status page (`GET /`) and its JSON API (`/api/v1/`), served with `/metrics`.
    pub status: StatusConfig,
    /// Durable state: checkpoints of each partition's state in a changelog topic or a directory.
    pub checkpoint: CheckpointConfig,
    /// Several instances: the partials exchange behind the `scope="cluster"` figures.
    pub cluster: ClusterConfig,
    /// Segment threshold rules (SPEC §5).
    #[serde(default)]
    pub rules: Vec<RuleConfig>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SegmentsConfig {
    /// Event `segments` keys tracked as dimensions (dimension `all` is always there).
    pub dimensions: Vec<String>,
    /// Distinct values kept per dimension; later values map to segment `other`.
    pub max_values: usize,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WindowConfig {
    /// The `window` label value.
    pub name: String,
    /// Total span; a whole multiple of `bucket`.
    pub size: DurationMs,
    /// Granularity: the window slides one bucket at a time, epoch-aligned.
    pub bucket: DurationMs,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InactivityConfig {
    /// Quiet time after the last activity before a customer is inactive.
    pub inactive_after: DurationMs,
    /// Quiet time after the last activity before a customer is churned.
    pub churn_after: DurationMs,
    /// Per-segment thresholds; the first override matching the customer wins.
    #[serde(default)]
    pub overrides: Vec<InactivityOverride>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InactivityOverride {
    /// A configured dimension (or `all`).
    pub dimension: String,
    /// The segment of that dimension the override applies to.
    pub segment: String,
    /// Replaces `inactivity.inactive_after` for these customers.
    pub inactive_after: Option<DurationMs>,
    /// Replaces `inactivity.churn_after` for these customers.
    pub churn_after: Option<DurationMs>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReengagementConfig {
    /// Share of customers (0–100, fractions allowed) kept out of messages to measure their effect.
    pub holdout_percent: f64,
    /// Salt of the holdout hash, so the split can be reshuffled deliberately.
    pub salt: String,
    /// No second message to a customer sooner than this after the previous one.
    pub cooldown: DurationMs,
    /// `expires_at = at + offer_valid_for`.
    pub offer_valid_for: DurationMs,
    /// Message template id for the messaging system.
    pub template: String,
    /// Human-readable incentive text.
    pub incentive: String,
    /// Per-segment template/incentive/validity; the first override matching the customer wins.
    #[serde(default)]
    pub overrides: Vec<ReengagementOverride>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReengagementOverride {
    /// A configured dimension (or `all`).
    pub dimension: String,
    /// The segment of that dimension the override applies to.
    pub segment: String,
    /// Replaces `reengagement.template`.
    pub template: Option<String>,
    /// Replaces `reengagement.incentive`.
    pub incentive: Option<String>,
    /// Replaces `reengagement.offer_valid_for`.
    pub offer_valid_for: Option<DurationMs>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DedupConfig {
    /// An `event_id` seen this long ago (stream time) or less makes a later copy a duplicate.
    pub window: DurationMs,
    /// Bound on remembered ids per partition; the oldest are forgotten first.
    pub max_entries: usize,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LimitsConfig {
    /// Larger messages are dead-lettered as `too_large`.
    pub max_event_bytes: usize,
    /// Open support tickets older than this (stream time) are forgotten, bounding memory.
    pub ticket_retention: DurationMs,
    /// Most buckets one window may have (`size / bucket`); `check-config` refuses more. Each
    /// bucket is allocated up front per segment, window and partition.
    pub max_buckets_per_window: u64,
    /// Most customers one input partition tracks. Once reached, events of customers it does not
    /// track yet are dead-lettered with reason `customer_limit` (known customers go on as usual).
    pub max_customers: u64,
    /// librdkafka's `queued.max.messages.kbytes`: records prefetched per input partition, in KiB.
    pub consumer_queue_kbytes: u64,
    /// librdkafka's `queue.buffering.max.messages`: produced records (alerts, messages, dead
    /// letters) awaiting delivery; when full, processing waits (backpressure, nothing dropped).
    pub producer_queue_messages: u64,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClockConfig {
    /// Live mode: a partition's clock never lags wall time by more than this.
    pub max_lag: DurationMs,
    /// Live mode: events further than this in the future are dead-lettered.
    pub max_future_skew: DurationMs,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KafkaConfig {
    /// `embedded` for the in-process demo broker, else a bootstrap list `host:port,...`.
    pub brokers: String,
    /// Consumer group shared by all instances.
    pub group_id: String,
    /// Topic names.
    pub topics: TopicsConfig,
    /// A record whose key is missing or not its `customer_id` (counted in
    /// `cxpulse_mismatched_keys_total`): `repartition` it to its customer's partition through
    /// `topics.repartition`, `dead_letter` it (reason `mismatched_key`), or `apply` it where it
    /// arrives (its customer may then live in two partitions).
    pub mismatched_keys: MismatchedKeys,
    /// How the producers of the input topics map a key to a partition, so that a re-keyed record
    /// lands where its customer's records do: `murmur2` (Java clients, Kafka Streams) or
    /// `consistent` (librdkafka's CRC32 default).
    pub key_partitioner: KeyPartitioner,
    /// Passed to librdkafka as they are; a key ending in `.file` is read from that file
    /// (e.g. `sasl.password.file`) so secrets stay out of config and environment.
    #[serde(default)]
    pub properties: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MismatchedKeys {
    Repartition,
    DeadLetter,
    Apply,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum KeyPartitioner {
    Murmur2,
    Consistent,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TopicsConfig {
    /// Input: interaction events.
    pub interactions: String,
    /// Input: survey events (co-partitioned with interactions).
    pub surveys: String,
    /// Output: alerts.
    pub alerts: String,
    /// Output: re-engagement messages.
    pub reengagement: String,
    /// Output: refused input.
    pub dead_letter: String,
    /// Internal: records re-keyed to their customer's partition (`kafka.mismatched_keys =
    /// "repartition"`); created with the input's partition count when missing.
    pub repartition: String,
}

impl TopicsConfig {
    /// Every topic name above, inputs first.
    pub fn names(&self) -> [&String; 6] {
        [&self.interactions, &self.surveys, &self.alerts, &self.reengagement, &self.dead_letter, &self.repartition]
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpConfig {
    /// Address of `/metrics`, `/healthz`, `/readyz`.
    pub listen: String,
    /// Connections served at once; more wait in the listen backlog.
    pub max_connections: usize,
    /// A connection must deliver its request headers (and finish its TLS handshake) within this.
    pub request_timeout: DurationMs,
    /// Largest request (line plus headers) read, in bytes; larger ones are refused.
    pub max_request_bytes: usize,
    /// Serve HTTPS with this certificate and key (PEM); absent: plain HTTP.
    pub tls: Option<HttpTlsConfig>,
    /// Basic authentication: user name → bcrypt hash (`$2y$...`, as in Prometheus exporters'
    /// web-config.yml). Empty: no authentication.
    pub basic_auth_users: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpTlsConfig {
    /// PEM file with the server certificate (and its chain).
    pub cert_file: String,
    /// PEM file with the certificate's private key.
    pub key_file: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServiceConfig {
    /// Graceful shutdown (SIGINT/SIGTERM) must finish in-flight work, flush the producer and commit
    /// within this; past it the process exits non-zero and uncommitted input is re-read next time.
    pub shutdown_timeout: DurationMs,
    /// When one input of a partition (interactions or surveys) has nothing buffered, wait this long
    /// for it before applying the other one's events alone (Kafka Streams' `max.task.idle.ms`):
    /// longer keeps time order under uneven fetching, shorter lowers latency.
    pub merge_wait: DurationMs,
    /// `/readyz` stays false while the consumer lag summed over assigned partitions is above this
    /// many messages.
    pub ready_max_lag: u64,
    /// Processed offsets are committed this often (and always on revoke and shutdown).
    pub commit_interval: DurationMs,
    /// Broker reachability, the input topic layout and consumer lag are checked this often.
    pub probe_interval: DurationMs,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EmbeddedConfig {
    /// Partitions of every topic of the in-process broker.
    pub partitions: u32,
    /// Simulated customers.
    pub customers: u64,
    /// Simulator seed: the same seed gives the same customers.
    pub seed: u64,
    /// Simulated history streamed before the stream reaches the present, so inactivity and churn
    /// show at once. `clock.max_lag` is raised to cover it in embedded mode (see `source::embedded`).
    pub backfill: DurationMs,
    /// Wall time the backfill takes: the compression of time (45d in 45s is one day a second).
    pub backfill_for: DurationMs,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StatusConfig {
    /// How often the status page fetches fresh figures (it never reloads itself).
    pub refresh: DurationMs,
    /// Segment threshold alerts (firing and resolved) kept, newest first, for the page and
    /// `/api/v1/alerts`; older ones are dropped.
    pub recent_alerts: usize,
    /// Customer transitions and messages are counted per span of stream time this long.
    pub counts_bucket: DurationMs,
    /// How many of those spans are kept (the newest).
    pub counts_buckets: usize,
    /// Also keep recent customer-level alerts and messages, customer ids included, for the page and
    /// `/api/v1/alerts`. Off: customer ids never leave the service over HTTP.
    pub customer_rows: bool,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CheckpointConfig {
    /// Keep each partition's state durable (`cxpulse run`); `false` keeps it in memory only, so a
    /// restart or rebalance starts the partition empty.
    pub enabled: bool,
    /// Compacted changelog topic holding the checkpoints, one partition per input partition;
    /// created with `cleanup.policy=compact` when missing. `{group_id}` is replaced by
    /// `kafka.group_id` when the config is loaded.
    pub topic: String,
    /// A local directory to keep checkpoints in instead of the changelog topic (a single instance
    /// only: another machine cannot read it); empty for the topic.
    pub directory: String,
    /// A checkpoint taken with different windows, dimensions or `max_values`: `refuse` to start
    /// the partition (not ready), or `rebuild` it empty from the committed offsets.
    pub on_incompatible: OnIncompatible,
    /// A checkpoint record that cannot be read: `refuse` to start the partition (not ready), or
    /// `reset` it empty from the committed offsets.
    pub on_corrupt: OnCorrupt,
    /// A full checkpoint is written after this many incremental ones (or sooner, once they
    /// outweigh the last full one), bounding restore time.
    pub max_deltas: usize,
    /// Target size of one checkpoint record in bytes.
    pub chunk_bytes: usize,
    /// Replication factor of the topics cxpulse creates (changelog, repartition, cluster topics);
    /// -1 for 3 (or the number of brokers when fewer).
    pub replication_factor: i32,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClusterConfig {
    /// Publish each partition's segment partials and merge every partition's, so each instance
    /// exports the whole group's figures with `scope="cluster"`. `false`: the cluster figures are
    /// this instance's own (right only when it is the group's single instance).
    pub enabled: bool,
    /// Compacted topic of the partials, one partition, created when missing. `{group_id}` is
    /// replaced by `kafka.group_id`.
    pub partials_topic: String,
    /// Topic of segment value claims, one partition, created when missing (`cleanup.policy=compact`,
    /// each claim under its own key): the first `segments.max_values` distinct values claimed per
    /// dimension are admitted, on every instance alike. `{group_id}` is replaced by `kafka.group_id`.
    pub claims_topic: String,
    /// Partials whose owner has not published for this long are left out of the cluster figures
    /// and make `/readyz` fail, naming the partition.
    pub stale_after: DurationMs,
}

/// `checkpoint.on_incompatible`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OnIncompatible {
    Refuse,
    Rebuild,
}

/// `checkpoint.on_corrupt`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OnCorrupt {
    Refuse,
    Reset,
}

/// A segment threshold rule (SPEC §5).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleConfig {
    /// Unique name, the `rule` label and alert field.
    pub name: String,
    /// A windowed metric name without the `cxpulse_` prefix, e.g. `nps_score`.
    pub metric: String,
    /// Name of a configured window.
    pub window: String,
    /// Restrict to one dimension (else every dimension, `all` included).
    pub dimension: Option<String>,
    /// Restrict to one segment of `dimension`.
    pub segment: Option<String>,
    /// For metrics with an extra label (`survey`, `kind`, `group`): which series.
    pub label: Option<String>,
    /// Fire when the value rises above this.
    pub above: Option<f64>,
    /// Fire when the value falls below this.
    pub below: Option<f64>,
    /// Resolve once the value crosses back past this (hysteresis); defaults to the threshold.
    pub clear: Option<f64>,
    /// Fewer samples (responses, or the ratio's denominator) than this: no data.
    #[serde(default)]
    pub min_samples: u64,
    /// Judge a bound of the value's two-sided interval at this level (between 0.5 and 0.999)
    /// instead of the value: the lower bound for `above`, the upper for `below` (SPEC §5).
    pub confidence: Option<f64>,
}

impl Config {
    /// The built-in defaults alone.
    pub fn builtin() -> Result<Config, ConfigError> {
        load(None, &[])
    }
}
