//! `cxpulse run`: the service. Wiring only; each part lives in its own file.
//!
//! ```text
//! Kafka (or the embedded demo broker + simulator feed)
//!   │  one consumer group over cx.interactions + cx.surveys (source::kafka)
//!   ▼
//! lifecycle      a PartitionTask per assigned partition number, dropped on revoke
//!   ▼
//! partition_task merge both inputs by event time → decode → engine Partition → effects
//!   │             → KafkaSink (alerts, messages, dead letters; awaited) → store offsets
//!   ├─ live_rules  threshold rules on the partitions' boundary snapshots, once per group
//!   ▼
//! probe          brokers reachable? topics co-partitioned? consumer lag → readiness
//! telemetry/http /metrics /healthz /readyz
//! ```
//!
//! Shutdown (SIGINT/SIGTERM → `shutdown` token): stop consuming, let every partition task finish
//! its batch (deliveries awaited, offsets stored), commit, close the consumer, flush the producer,
//! all within `service.shutdown_timeout`.

pub mod durable;
mod intake;
pub mod lifecycle;
pub mod live_rules;
pub mod partition_task;
pub mod positions;
pub mod probe;
pub mod readiness;
pub mod repartition;
pub mod signals;
mod startup;
pub mod status;

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::alert::kafka_sink::KafkaSink;
use crate::cluster::{Claims, Exchange};
use crate::config::{Config, MismatchedKeys};
use crate::engine::clock::{SystemClock, WallClock};
use crate::engine::Engine;
use crate::event::Decoder;
use crate::source::kafka::KafkaSource;
use crate::source::kafka_client::{consumer_config, effects_producer_config, producer_config, queue_limit};
use crate::source::kafka_log::{BrokerStatus, LoggingContext};
use crate::telemetry::http;
use crate::telemetry::http_security::HttpSecurity;
use crate::telemetry::Metrics;
use lifecycle::Lifecycle;
use live_rules::LiveRules;
use probe::Probe;
use readiness::Readiness;
use repartition::Repartition;
use startup::{Health, Running};

/// What every partition task shares.
pub struct TaskEnv {
    pub engine: Arc<Engine>,
    pub rules: LiveRules,
    pub sink: Arc<KafkaSink>,
    pub metrics: Arc<Metrics>,
    pub clock: Arc<dyn WallClock>,
    pub decoder: Decoder,
    pub merge_wait: Duration,
    /// What becomes of a record whose key is not its customer id (`kafka.mismatched_keys`).
    pub mismatched_keys: MismatchedKeys,
    /// Where such a record is re-keyed to, with `mismatched_keys = "repartition"`.
    pub repartition: Option<Arc<Repartition>>,
    pub max_lag_ms: i64,
    /// Cancelled when the shutdown deadline passes: deliveries in flight are given up.
    pub abandon: CancellationToken,
    /// Durable state (`checkpoint.enabled`); `None` keeps state in memory only.
    pub checkpoint: Option<durable::CheckpointEnv>,
    /// The partials exchange (`cluster.enabled`, not on the embedded demo's single instance).
    pub exchange: Option<Arc<Exchange>>,
    /// Segment admission by claims, with the exchange (`cluster::claims`).
    pub claims: Option<Arc<Claims>>,
}

/// Runs the service until `shutdown` is cancelled, then drains. Errors only for what cannot be
/// retried (bad settings, a port in use) or a shutdown that overran its timeout.
pub async fn run(config: Config, shutdown: CancellationToken) -> anyhow::Result<()> {
    run_with_clock(config, shutdown, Arc::new(SystemClock)).await
}

/// [`run`] with an injected wall clock (tests).
pub async fn run_with_clock(
    mut config: Config,
    shutdown: CancellationToken,
    clock: Arc<dyn WallClock>,
) -> anyhow::Result<()> {
    let embedded = startup::start_embedded(&mut config, &clock).await?;
    let bootstrap = embedded.as_ref().map_or_else(|| config.kafka.brokers.clone(), |e| e.bootstrap());
    let core = Core::new(&config, &bootstrap, &clock)?;
    let security = Arc::new(HttpSecurity::from_config(&config.http)?);
    let listener = http::bind(&config.http.listen).await?;
    let address = listener.local_addr().context("http listener has no address")?;
    let (scheme, auth) = (security.scheme(), !config.http.basic_auth_users.is_empty());
    tracing::info!(%address, scheme, basic_auth = auth, "serving the status page (/), /api/v1/, /metrics, /healthz and /readyz");
    let http_stop = CancellationToken::new();
    let server = tokio::spawn(http::serve(listener, Arc::new(core.health()), security, http_stop.clone()));
    let timeout = Duration::from_millis(config.service.shutdown_timeout.0);
    let abandon = CancellationToken::new();
    let tracker = TaskTracker::new();
    let kafka = KafkaParts::new(&config, &bootstrap, &core, clock, &abandon, &tracker)?;

    let stopping = CancellationToken::new();
    let mut poller = None;
    if kafka.probe.wait_until_consumable(&shutdown).await {
        startup::prepare_changelog(&config, &bootstrap, embedded.is_some(), &shutdown).await?;
        if let Some(repartition) = &kafka.repartition {
            startup::prepare_repartition(&config, &bootstrap, repartition, &shutdown).await?;
        }
        if let Some(exchange) = &core.exchange {
            startup::prepare_cluster_topic(&config, &bootstrap, &config.cluster.partials_topic, &shutdown).await?;
            let log = LoggingContext::new(Arc::clone(&core.broker));
            exchange.start_reader(log, stopping.clone()).context("cannot start the partials reader")?;
        }
        if let Some(claims) = &core.claims {
            startup::prepare_cluster_topic(&config, &bootstrap, claims.topic(), &shutdown).await?;
            let log = LoggingContext::new(Arc::clone(&core.broker));
            claims.start_reader(log, stopping.clone()).context("cannot start the claims reader")?;
        }
        poller = Some(kafka.start_consuming(&config, &core, &tracker, &stopping)?);
        if embedded.is_some() {
            tracing::info!(
                "embedded demo running: open http://{address}/ (status page) or /metrics; figures fill within a minute"
            );
        }
        shutdown.cancelled().await;
    }
    tracing::info!(timeout = ?timeout, "shutting down: finishing in-flight work, committing, flushing");
    core.readiness.set_stopping();
    let running = Running {
        source: kafka.source,
        probe: kafka.probe,
        poller,
        lifecycle: kafka.lifecycle,
        sink: kafka.sink,
        embedded,
        stopping,
        tracker,
    };
    let drained = tokio::time::timeout(timeout, running.drain(timeout)).await;
    http_stop.cancel();
    let _ = server.await;
    if drained.is_err() {
        abandon.cancel();
        anyhow::bail!(
            "shutdown did not finish within service.shutdown_timeout ({timeout:?}); \
             uncommitted input will be read again"
        );
    }
    tracing::info!("shutdown complete");
    Ok(())
}

/// The engine side, shared by the Kafka parts and the HTTP endpoint.
struct Core {
    engine: Arc<Engine>,
    rules: LiveRules,
    metrics: Arc<Metrics>,
    broker: Arc<BrokerStatus>,
    readiness: Arc<Readiness>,
    status: Arc<status::LiveStatus>,
    exchange: Option<Arc<Exchange>>,
    claims: Option<Arc<Claims>>,
    clock: Arc<dyn WallClock>,
}

impl Core {
    fn new(config: &Config, bootstrap: &str, clock: &Arc<dyn WallClock>) -> anyhow::Result<Self> {
        let engine = Arc::new(Engine::new(config));
        let broker = Arc::new(BrokerStatus::default());
        let metrics = Arc::new(Metrics::new());
        let exchange = startup::cluster_exchange(config, bootstrap, &engine, &metrics)?;
        let claims = startup::segment_claims(config, bootstrap, &engine, &metrics)?;
        let rules = LiveRules::new(&engine, exchange.clone());
        let readiness = Arc::new(Readiness::new(Arc::clone(&broker), config.service.ready_max_lag));
        let status = Arc::new(status::LiveStatus::new(config, &engine, &rules, &metrics, &readiness, clock));
        Ok(Core { rules, engine, metrics, readiness, broker, status, exchange, claims, clock: Arc::clone(clock) })
    }

    fn health(&self) -> Health {
        Health {
            engine: Arc::clone(&self.engine),
            rules: self.rules.clone(),
            metrics: Arc::clone(&self.metrics),
            readiness: Arc::clone(&self.readiness),
            status: Arc::clone(&self.status) as Arc<dyn crate::telemetry::status::StatusSource>,
            clock: Arc::clone(&self.clock),
        }
    }
}

/// The Kafka clients and what drives them.
struct KafkaParts {
    source: KafkaSource,
    probe: Arc<Probe>,
    lifecycle: Arc<Lifecycle>,
    sink: Arc<KafkaSink>,
    repartition: Option<Arc<Repartition>>,
}

impl KafkaParts {
    fn new(
        config: &Config,
        bootstrap: &str,
        core: &Core,
        clock: Arc<dyn WallClock>,
        abandon: &CancellationToken,
        tracker: &TaskTracker,
    ) -> anyhow::Result<Self> {
        let log = LoggingContext::new(Arc::clone(&core.broker));
        let kafka = &config.kafka;
        let (mut producer, mut effects) =
            (producer_config(kafka, bootstrap)?, effects_producer_config(kafka, bootstrap)?);
        for client in [&mut producer, &mut effects] {
            queue_limit(client, kafka, "queue.buffering.max.messages", config.limits.producer_queue_messages);
        }
        let sink = KafkaSink::new(&effects, log.clone(), &kafka.topics, Arc::clone(&core.metrics))
            .context("kafka producer")?;
        let sink = Arc::new(sink);
        let settings = &core.engine.settings;
        let probe_clock = Arc::clone(&clock);
        let repartition = (kafka.mismatched_keys == MismatchedKeys::Repartition)
            .then(|| Arc::new(Repartition::new(&kafka.topics.repartition, kafka.key_partitioner)));
        let env = Arc::new(TaskEnv {
            decoder: Decoder::new(
                settings.max_event_bytes,
                settings.dimensions.clone(),
                settings.max_future_skew as u64,
            ),
            max_lag_ms: settings.max_lag,
            engine: Arc::clone(&core.engine),
            rules: core.rules.clone(),
            sink: Arc::clone(&sink),
            metrics: Arc::clone(&core.metrics),
            clock,
            merge_wait: Duration::from_millis(config.service.merge_wait.0),
            mismatched_keys: kafka.mismatched_keys,
            repartition: repartition.clone(),
            abandon: abandon.clone(),
            checkpoint: startup::checkpoint_env(config, bootstrap, &effects, core)?,
            exchange: core.exchange.clone(),
            claims: core.claims.clone(),
        });
        let handle = tokio::runtime::Handle::current();
        let stop_wait = Duration::from_millis(config.service.shutdown_timeout.0) / 2;
        let lifecycle = Lifecycle::new(env, Arc::clone(&core.readiness), handle, tracker.clone(), stop_wait);
        let lifecycle = Arc::new(lifecycle);
        let inputs = [kafka.topics.interactions.clone(), kafka.topics.surveys.clone()];
        let re_keyed = repartition.as_ref().map(|r| r.topic().to_string()).unwrap_or_default();
        let topics = [inputs[0].clone(), inputs[1].clone(), re_keyed];
        let mut consumer = consumer_config(kafka, bootstrap, config.service.commit_interval.ms())?;
        queue_limit(&mut consumer, kafka, "queued.max.messages.kbytes", config.limits.consumer_queue_kbytes);
        let source = KafkaSource::new(&consumer, log, topics, lifecycle.clone()).context("kafka consumer")?;
        let probe = Arc::new(Probe {
            consumer: Arc::clone(source.consumer()),
            topics: inputs,
            readiness: Arc::clone(&core.readiness),
            metrics: Arc::clone(&core.metrics),
            lifecycle: Arc::clone(&lifecycle),
            clock: probe_clock,
            brokers: bootstrap.to_string(),
            reported: Default::default(),
            exchange: core.exchange.clone(),
        });
        Ok(KafkaParts { source, probe, lifecycle, sink, repartition })
    }

    /// Subscribes and starts the consumer thread, the probe and the progress log.
    fn start_consuming(
        &self,
        config: &Config,
        core: &Core,
        tracker: &TaskTracker,
        stopping: &CancellationToken,
    ) -> anyhow::Result<std::thread::JoinHandle<()>> {
        self.source.subscribe().context("cannot subscribe to the input topics")?;
        let handle = tokio::runtime::Handle::current();
        let poller = self.source.spawn_poller(handle, stopping.clone()).context("cannot start the consumer thread")?;
        let interval = Duration::from_millis(config.service.probe_interval.0);
        tracker.spawn(Arc::clone(&self.probe).run(interval, stopping.clone()));
        let (engine, metrics) = (Arc::clone(&core.engine), Arc::clone(&core.metrics));
        tracker.spawn(startup::report_progress(engine, metrics, stopping.clone()));
        Ok(poller)
    }
}
