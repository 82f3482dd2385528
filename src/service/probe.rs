//! The periodic check behind `/readyz` and `cxpulse_consumer_lag`: are the brokers reachable, are
//! the input topics there and co-partitioned, how far behind is each assigned partition. Every
//! librdkafka call here blocks, so each round runs on the blocking pool.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use rdkafka::consumer::Consumer;
use rdkafka::error::KafkaError;
use rdkafka::{Offset, TopicPartitionList};
use thiserror::Error;
use tokio_util::sync::CancellationToken;

use super::lifecycle::{Lifecycle, PartitionProgress};
use super::readiness::Readiness;
use crate::engine::clock::WallClock;
use crate::source::kafka::LiveConsumer;
use crate::source::topology::{self, TopologyError};
use crate::telemetry::Metrics;

const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);
const MAX_BACKOFF: Duration = Duration::from_secs(30);

#[derive(Debug, Error)]
pub enum ProbeError {
    #[error("cannot reach the kafka brokers: {0}")]
    Unreachable(#[source] KafkaError),
    #[error(transparent)]
    Topology(#[from] TopologyError),
    #[error("probe task failed: {0}")]
    Join(String),
}

impl ProbeError {
    pub fn code(&self) -> &'static str {
        match self {
            ProbeError::Unreachable(_) => "unreachable",
            ProbeError::Topology(e) => e.code(),
            ProbeError::Join(_) => "join",
        }
    }
}

pub struct Probe {
    pub consumer: Arc<LiveConsumer>,
    /// `[interactions, surveys]`.
    pub topics: [String; 2],
    pub readiness: Arc<Readiness>,
    pub metrics: Arc<Metrics>,
    pub lifecycle: Arc<Lifecycle>,
    /// Stamps the caught-up confirmations (see `engine::clock`).
    pub clock: Arc<dyn WallClock>,
    /// For log lines only (never contains credentials: those live in `kafka.properties`).
    pub brokers: String,
    /// The lag series set by the last round. A round that overlaps a revoke may set a series
    /// after the revoke removed it; the next round removes what it did not measure.
    pub reported: std::sync::Mutex<BTreeSet<(String, i32)>>,
    /// The partials exchange, whose staleness the probe reports with the rest.
    pub exchange: Option<Arc<crate::cluster::Exchange>>,
}

impl Probe {
    /// Both input topics exist and are co-partitioned; returns their partition count. Blocking.
    fn check_topics(&self) -> Result<usize, ProbeError> {
        let mut infos = Vec::with_capacity(2);
        for topic in &self.topics {
            let metadata =
                self.consumer.fetch_metadata(Some(topic), REQUEST_TIMEOUT).map_err(ProbeError::Unreachable)?;
            infos.push(topology::topic_info(&metadata, topic));
        }
        let surveys = infos.pop().flatten();
        let interactions = infos.pop().flatten();
        Ok(topology::check((&self.topics[0], interactions), (&self.topics[1], surveys))?)
    }

    /// Lag of every assigned partition, published as metrics; returns the sum. Also tells each
    /// partition when it was caught up (what its live clock's lower bound rests on). Blocking.
    fn measure_lag(&self) -> Result<i64, KafkaError> {
        let mut total = 0;
        let mut measured = BTreeSet::new();
        for progress in self.lifecycle.progress() {
            for (side, topic) in progress.topics.iter().enumerate() {
                let Some(topic) = topic else { continue };
                let asked_at = self.clock.now_ms();
                let (low, high) = self.consumer.fetch_watermarks(topic, progress.number, REQUEST_TIMEOUT)?;
                progress.positions.set_high_watermark(side, high);
                let position = match progress.positions.get(side) {
                    Some(next) => next,
                    None => self.committed(topic, &progress).unwrap_or(low),
                };
                // Read after the answer: when it reaches `high`, every record appended before
                // `asked_at` has been received.
                let received = progress.positions.received(side).unwrap_or(position).max(low);
                if received >= high {
                    progress.positions.caught_up(side, asked_at);
                }
                let lag = (high - position.max(low)).max(0);
                self.metrics.set_consumer_lag(topic, progress.number, lag);
                measured.insert((topic.clone(), progress.number));
                total += lag;
            }
        }
        let mut reported = self.reported.lock().unwrap_or_else(|e| e.into_inner());
        for (topic, number) in reported.difference(&measured) {
            self.metrics.forget_partition_lag(topic, *number);
        }
        *reported = measured;
        Ok(total)
    }

    fn committed(&self, topic: &str, progress: &PartitionProgress) -> Option<i64> {
        let mut tpl = TopicPartitionList::new();
        tpl.add_partition(topic, progress.number);
        let committed = self.consumer.committed_offsets(tpl, REQUEST_TIMEOUT).ok()?;
        match committed.find_partition(topic, progress.number)?.offset() {
            Offset::Offset(o) => Some(o),
            _ => None,
        }
    }

    /// One round: topics, then lag. Updates readiness; returns the topic check's outcome.
    fn round(&self) -> Result<usize, ProbeError> {
        self.metrics.sample_event_rate();
        let checked = self.check_topics();
        match &checked {
            Err(ProbeError::Unreachable(_)) => self.readiness.broker().set_reachable(false),
            Err(_) => {
                self.readiness.broker().set_reachable(true);
                self.readiness.set_topology_ok(false);
            }
            Ok(partitions) => {
                self.readiness.broker().set_reachable(true);
                self.readiness.set_topology_ok(true);
                if let Some(exchange) = &self.exchange {
                    exchange.partials.set_input_partitions(*partitions);
                }
                match self.measure_lag() {
                    Ok(lag) => self.readiness.set_lag(lag),
                    Err(error) => tracing::debug!(%error, "cannot measure consumer lag"),
                }
            }
        }
        checked
    }

    async fn round_async(self: &Arc<Self>) -> Result<usize, ProbeError> {
        let probe = Arc::clone(self);
        tokio::task::spawn_blocking(move || probe.round())
            .await
            .unwrap_or_else(|e| Err(ProbeError::Join(e.to_string())))
    }

    /// Start-up: retries until the brokers answer and the topics are right. `false` if shut down first.
    pub async fn wait_until_consumable(self: &Arc<Self>, shutdown: &CancellationToken) -> bool {
        let mut backoff = Duration::from_secs(1);
        loop {
            let round = tokio::select! {
                round = self.round_async() => round,
                _ = shutdown.cancelled() => return false,
            };
            match round {
                Ok(partitions) => {
                    tracing::info!(partitions, interactions = %self.topics[0], surveys = %self.topics[1], "input topics ok");
                    return true;
                }
                Err(error @ ProbeError::Unreachable(_)) => tracing::warn!(
                    brokers = %self.brokers, %error, retry_in = ?backoff,
                    "kafka is not reachable yet; not ready, retrying"
                ),
                Err(error) => tracing::error!(
                    code = error.code(), retry_in = ?backoff,
                    "{error}; not consuming until this is fixed"
                ),
            }
            tokio::select! {
                _ = tokio::time::sleep(backoff) => {}
                _ = shutdown.cancelled() => return false,
            }
            backoff = (backoff * 2).min(MAX_BACKOFF);
        }
    }

    /// Runs a round every `interval` until `stop`; logs topology problems when they start and end.
    pub async fn run(self: Arc<Self>, interval: Duration, stop: CancellationToken) {
        let mut topology_error: Option<String> = None;
        loop {
            tokio::select! {
                _ = tokio::time::sleep(interval) => {}
                _ = stop.cancelled() => return,
            }
            if let Some(exchange) = &self.exchange {
                self.readiness.set_cluster(exchange.check(self.clock.now_ms()));
            }
            match self.round_async().await {
                Ok(_) => {
                    if topology_error.take().is_some() {
                        tracing::info!("input topics ok again");
                    }
                }
                Err(ProbeError::Unreachable(_)) => {}
                Err(error) => {
                    let text = error.to_string();
                    if topology_error.as_ref() != Some(&text) {
                        tracing::error!(code = error.code(), "{text}; not ready");
                        topology_error = Some(text);
                    }
                }
            }
        }
    }
}
