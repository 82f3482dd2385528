//! The service's moving parts around `run`: the embedded demo, the health source behind HTTP, the
//! progress log line, and the ordered drain at shutdown.

use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use anyhow::Context;
use rdkafka::consumer::{CommitMode, Consumer};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::durable::CheckpointEnv;
use super::lifecycle::Lifecycle;
use super::live_rules::LiveRules;
use super::probe::Probe;
use super::readiness::Readiness;
use crate::alert::kafka_sink::KafkaSink;
use crate::alert::AlertKind;
use crate::checkpoint::metrics::CheckpointMetrics;
use crate::checkpoint::store::{reader_config, DirectoryStore, KafkaStore, Store};
use crate::cluster::{Claims, Exchange};
use crate::config::{Config, DurationMs};
use crate::engine::clock::WallClock;
use crate::engine::Engine;
use crate::event::time::format_rfc3339;
use crate::event::Reason;
use crate::source::demo_feed;
use crate::source::embedded::EmbeddedBroker;
use crate::source::kafka::KafkaSource;
use crate::source::kafka_client::{base_config, message_timeout, producer_config};
use crate::source::kafka_log::LoggingContext;
use crate::state::customer::NEVER;
use crate::telemetry::http::HealthSource;
use crate::telemetry::Metrics;

const DAY_MS: u64 = 86_400_000;
const PROGRESS_EVERY: Duration = Duration::from_secs(10);

/// The embedded broker and the simulator feeding it.
pub struct Embedded {
    broker: EmbeddedBroker,
    feed: JoinHandle<()>,
    feed_stop: CancellationToken,
}

impl Embedded {
    pub fn bootstrap(&self) -> String {
        self.broker.bootstrap().to_string()
    }

    /// Stops the feed, then the broker. Blocking.
    fn stop(self) {
        self.feed_stop.cancel();
        let _ = self.feed.join();
        self.broker.stop();
    }
}

/// With `kafka.brokers = "embedded"`: starts the demo broker and feed, and raises `clock.max_lag`
/// above the simulated backfill (see `source::demo_feed` for why).
pub async fn start_embedded(config: &mut Config, clock: &Arc<dyn WallClock>) -> anyhow::Result<Option<Embedded>> {
    if config.kafka.brokers.trim() != "embedded" {
        return Ok(None);
    }
    let options = config.embedded.clone();
    let needed = DurationMs(options.backfill.0 + DAY_MS);
    if config.clock.max_lag < needed {
        tracing::info!(
            from = %config.clock.max_lag, to = %needed,
            "embedded demo: clock.max_lag raised above the simulated backfill so history is not counted late"
        );
        config.clock.max_lag = needed;
    }
    let topics = config.kafka.topics.clone();
    let partitions = i32::try_from(options.partitions).unwrap_or(i32::MAX);
    let broker = tokio::task::spawn_blocking(move || EmbeddedBroker::start(&topics, partitions))
        .await
        .context("embedded broker start-up panicked")??;
    tracing::info!(bootstrap = broker.bootstrap(), partitions, "embedded kafka broker started");
    let feed_stop = CancellationToken::new();
    let feed =
        demo_feed::start(broker.bootstrap(), &config.kafka.topics, &options, Arc::clone(clock), feed_stop.clone())
            .context("cannot start the demo feed")?;
    Ok(Some(Embedded { broker, feed, feed_stop }))
}

/// The checkpoint side of the task environment, unless `checkpoint.enabled = false` or the demo
/// runs on the embedded broker (whose log is in memory: nothing to come back to after a restart).
pub(super) fn checkpoint_env(
    config: &Config,
    bootstrap: &str,
    producer: &rdkafka::ClientConfig,
    core: &super::Core,
) -> anyhow::Result<Option<CheckpointEnv>> {
    let c = &config.checkpoint;
    if !c.enabled || (config.kafka.brokers.trim() == "embedded" && c.directory.is_empty()) {
        if c.enabled {
            tracing::info!("embedded demo: state is kept in memory only (its broker forgets everything on exit)");
        } else {
            tracing::warn!("checkpoint.enabled = false: a restart or rebalance starts partitions empty");
        }
        return Ok(None);
    }
    let base = base_config(&config.kafka, bootstrap)?;
    let store = if c.directory.is_empty() {
        Store::Kafka(KafkaStore::new(&c.topic, producer, &base).context("changelog producer")?)
    } else {
        Store::Directory(DirectoryStore::new(std::path::Path::new(&c.directory))?)
    };
    let t = &config.kafka.topics;
    let mut outputs = vec![t.alerts.clone(), t.reengagement.clone(), t.dead_letter.clone()];
    if config.kafka.mismatched_keys == crate::config::MismatchedKeys::Repartition {
        outputs.push(t.repartition.clone()); // forwards are read back like effects (`repartition`)
    }
    let metrics = CheckpointMetrics::register(core.metrics.registry()).context("checkpoint metrics")?;
    Ok(Some(CheckpointEnv {
        store,
        takeover_wait: crate::checkpoint::ownership::takeover_wait(message_timeout(&config.kafka)),
        reader: reader_config(&base),
        outputs,
        config: c.clone(),
        interval: Duration::from_millis(config.service.commit_interval.0),
        metrics,
        readiness: Arc::clone(&core.readiness),
    }))
}

/// The producer and reader settings of the cluster topics (partials, claims); `None` unless
/// `cluster.enabled` with real brokers (the embedded demo is one instance by construction).
fn cluster_clients(
    config: &Config,
    bootstrap: &str,
) -> anyhow::Result<Option<(rdkafka::ClientConfig, rdkafka::ClientConfig)>> {
    if !config.cluster.enabled || config.kafka.brokers.trim() == "embedded" {
        return Ok(None);
    }
    Ok(Some((producer_config(&config.kafka, bootstrap)?, reader_config(&base_config(&config.kafka, bootstrap)?))))
}

/// The partials exchange, unless `cluster.enabled = false` or the embedded demo runs (one
/// instance by construction: its cluster figures are its own).
pub(super) fn cluster_exchange(
    config: &Config,
    bootstrap: &str,
    engine: &Engine,
    metrics: &Metrics,
) -> anyhow::Result<Option<Arc<Exchange>>> {
    let c = &config.cluster;
    let Some(clients) = cluster_clients(config, bootstrap)? else { return Ok(None) };
    let exchange =
        Exchange::new(&engine.settings, &c.partials_topic, c.stale_after.0 as i64, clients, metrics.registry())
            .context("partials exchange")?;
    Ok(Some(Arc::new(exchange)))
}

/// Segment admission by claims (`cluster::claims`) whenever the partials exchange runs: cluster
/// figures merge by segment name, so names must mean the same on every instance.
pub(super) fn segment_claims(
    config: &Config,
    bootstrap: &str,
    engine: &Engine,
    metrics: &Metrics,
) -> anyhow::Result<Option<Arc<Claims>>> {
    let c = &config.cluster;
    let Some(clients) = cluster_clients(config, bootstrap)? else { return Ok(None) };
    let claims = Claims::new(Arc::clone(&engine.catalog), &c.claims_topic, clients, metrics.registry())
        .context("segment claims")?;
    Ok(Some(Arc::new(claims)))
}

/// Creates a topic of the cluster (partials, claims) when missing: compacted, one partition.
pub async fn prepare_cluster_topic(
    config: &Config,
    bootstrap: &str,
    topic: &str,
    shutdown: &CancellationToken,
) -> anyhow::Result<()> {
    let base = base_config(&config.kafka, bootstrap)?;
    let mut attempts = 0;
    loop {
        match KafkaStore::ensure_topic(&base, topic, 1, config.checkpoint.replication_factor, true).await {
            Ok(()) => return Ok(()),
            Err(error) if attempts >= 10 || shutdown.is_cancelled() => anyhow::bail!("topic {topic}: {error}"),
            Err(error) => tracing::warn!(topic, %error, "cluster topic not ready, retrying"),
        }
        attempts += 1;
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
}

/// Creates the changelog topic when missing (compacted, as many partitions as the input).
pub async fn prepare_changelog(
    config: &Config,
    bootstrap: &str,
    embedded: bool,
    shutdown: &CancellationToken,
) -> anyhow::Result<()> {
    let c = &config.checkpoint;
    if !c.enabled || !c.directory.is_empty() || embedded {
        return Ok(());
    }
    ensure_input_sized_topic(config, bootstrap, &c.topic, true, shutdown).await.map(drop)
}

/// Creates the repartition topic when missing (as many partitions as the input) and tells the
/// tasks its partition count (`repartition`).
pub async fn prepare_repartition(
    config: &Config,
    bootstrap: &str,
    repartition: &super::repartition::Repartition,
    shutdown: &CancellationToken,
) -> anyhow::Result<()> {
    let partitions = ensure_input_sized_topic(config, bootstrap, repartition.topic(), false, shutdown).await?;
    repartition.set_partitions(partitions);
    Ok(())
}

/// Creates `topic` with as many partitions as the input unless it exists (`KafkaStore::ensure_topic`),
/// retrying while the brokers cannot say; returns the input's partition count.
async fn ensure_input_sized_topic(
    config: &Config,
    bootstrap: &str,
    topic: &str,
    compacted: bool,
    shutdown: &CancellationToken,
) -> anyhow::Result<i32> {
    let base = base_config(&config.kafka, bootstrap)?;
    let replication = config.checkpoint.replication_factor;
    let input = config.kafka.topics.interactions.clone();
    let mut attempts = 0;
    loop {
        let partitions = {
            let (base, input) = (base.clone(), input.clone());
            tokio::task::spawn_blocking(move || input_partitions(&base, &input)).await.unwrap_or(None)
        };
        let result = match partitions {
            Some(n) => KafkaStore::ensure_topic(&base, topic, n, replication, compacted)
                .await
                .map(|()| n)
                .map_err(|e| e.to_string()),
            None => Err(format!("cannot read the partition count of {input}")),
        };
        match result {
            Ok(n) => return Ok(n),
            Err(error) if attempts >= 10 || shutdown.is_cancelled() => anyhow::bail!("topic {topic}: {error}"),
            Err(error) => tracing::warn!(topic, %error, "topic not ready, retrying"),
        }
        attempts += 1;
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
}

fn input_partitions(base: &rdkafka::ClientConfig, topic: &str) -> Option<i32> {
    let consumer: rdkafka::consumer::BaseConsumer<LoggingContext> =
        base.create_with_context(LoggingContext::default()).ok()?;
    let metadata = consumer.fetch_metadata(Some(topic), Duration::from_secs(10)).ok()?;
    let n = metadata.topics().iter().find(|t| t.name() == topic)?.partitions().len();
    (n > 0).then_some(n as i32)
}

/// What `/metrics` and `/readyz` report.
pub struct Health {
    pub engine: Arc<Engine>,
    pub rules: LiveRules,
    pub metrics: Arc<Metrics>,
    pub readiness: Arc<Readiness>,
    /// The status page and its API.
    pub status: Arc<dyn crate::telemetry::status::StatusSource>,
    pub clock: Arc<dyn WallClock>,
}

impl HealthSource for Health {
    fn metrics_text(&self) -> String {
        let clock = self.engine.view.clock();
        self.metrics.set_stream_time(if clock == NEVER { 0 } else { clock });
        self.metrics.set_tracked_customers(self.engine.view.tracked_customers());
        self.metrics.set_ready(self.readiness.check().is_ok());
        self.rules.render(&self.engine, self.clock.now_ms()) + &self.metrics.render()
    }

    fn readiness(&self) -> Result<(), String> {
        self.readiness.check()
    }

    fn status(&self) -> Option<Arc<dyn crate::telemetry::status::StatusSource>> {
        Some(Arc::clone(&self.status))
    }
}

/// An info line every few seconds: counts only, never a customer.
pub async fn report_progress(engine: Arc<Engine>, metrics: Arc<Metrics>, stop: CancellationToken) {
    let mut last = (u64::MAX, u64::MAX);
    loop {
        tokio::select! {
            _ = tokio::time::sleep(PROGRESS_EVERY) => {}
            _ = stop.cancelled() => return,
        }
        let accepted = metrics.events_counted("accepted");
        let invalid: u64 = Reason::ALL.iter().map(|r| metrics.invalid_counted(*r)).sum();
        let alerts: u64 = AlertKind::ALL.iter().map(|k| metrics.alerts_counted(*k)).sum();
        if (accepted + invalid, alerts) == last {
            continue;
        }
        last = (accepted + invalid, alerts);
        let clock = engine.view.clock();
        tracing::info!(
            accepted,
            invalid,
            duplicate = metrics.events_counted("duplicate"),
            late = metrics.events_counted("late"),
            inactive = metrics.alerts_counted(AlertKind::CustomerInactive),
            churned = metrics.alerts_counted(AlertKind::CustomerChurned),
            reactivated = metrics.alerts_counted(AlertKind::CustomerReactivated),
            segment_alerts = metrics.alerts_counted(AlertKind::SegmentThreshold),
            customers = engine.view.tracked_customers(),
            stream_time = %if clock == NEVER { "-".to_string() } else { format_rfc3339(clock) },
            "progress"
        );
    }
}

/// Everything the drain stops, in order.
pub struct Running {
    pub source: KafkaSource,
    pub probe: Arc<Probe>,
    pub poller: Option<JoinHandle<()>>,
    pub lifecycle: Arc<Lifecycle>,
    pub sink: Arc<KafkaSink>,
    pub embedded: Option<Embedded>,
    pub stopping: CancellationToken,
    pub tracker: TaskTracker,
}

impl Running {
    /// Stop consuming, finish partition tasks (offsets stored), commit, close the consumer, flush
    /// the producer, stop the demo. Every blocking librdkafka call runs on the blocking pool.
    pub async fn drain(self, timeout: Duration) {
        let Running { source, probe, poller, lifecycle, sink, embedded, stopping, tracker } = self;
        stopping.cancel();
        let consumed = poller.is_some();
        blocking(move || {
            if let Some(poller) = poller {
                let _ = poller.join();
            }
        })
        .await;
        let stopper = Arc::clone(&lifecycle);
        blocking(move || stopper.stop_all()).await;
        tracker.close();
        tracker.wait().await;
        blocking(move || {
            match source.consumer().commit_consumer_state(CommitMode::Sync) {
                _ if !consumed => {}
                Ok(()) => tracing::info!("offsets committed"),
                Err(e) if e.rdkafka_error_code() == Some(rdkafka::error::RDKafkaErrorCode::NoOffset) => {}
                Err(error) => {
                    tracing::warn!(%error, "final offset commit failed; uncommitted input will be read again")
                }
            }
            drop(probe);
            drop(lifecycle);
            drop(source); // closes the consumer: leaves the group
        })
        .await;
        blocking(move || {
            if let Err(error) = sink.flush_blocking(timeout) {
                tracing::warn!(%error, "producer flush incomplete");
            }
        })
        .await;
        if let Some(embedded) = embedded {
            blocking(move || embedded.stop()).await;
        }
    }
}

async fn blocking(f: impl FnOnce() + Send + 'static) {
    if let Err(error) = tokio::task::spawn_blocking(f).await {
        tracing::error!(%error, "shutdown step failed");
    }
}
