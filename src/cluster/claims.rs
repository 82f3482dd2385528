//! Segment value claims: the order in which a cluster admits values under `segments.max_values`,
//! so a value is a label on every instance or `other` on every instance, before and after restarts
//! (the `scope="cluster"` figures merge partials by segment name, which is only right when names
//! mean the same everywhere).
//!
//! # Mechanism
//! - **One total order.** Claims are records of one topic (`cluster.claims_topic`) with one
//!   partition, so their offsets order them the same for every reader. Every instance reads the
//!   topic from its beginning ([`ClaimsReader`]) and applies each claim in offset order to its
//!   catalog ([`SegmentCatalog::apply_claim`]): the first `max_values` distinct values claimed
//!   in a dimension are admitted, later ones are `other`. Same records, same order, same catalog.
//! - **Claim, wait, then apply.** Before a partition task applies an event carrying a value that
//!   is not decided yet (not admitted, and its dimension not full), it publishes a claim and waits
//!   until its reader has applied the topic up to that claim ([`Claims::decide`]); the value is
//!   then decided, the same way everywhere, and only then is the event applied. In claims mode the
//!   catalog never admits on its own (`SegmentCatalog::intern` only looks up). Decided values (all
//!   of them once a dimension is full) cost a read-locked lookup, as before.
//! - **Caught up first.** A partition task reads no input and restores nothing before the reader
//!   has applied the topic up to its end as it stood when the task started ([`Claims::catch_up`]),
//!   so a restarted instance, or a new owner, holds at least every decision taken before: the same
//!   mapping as before the restart. A restore then claims the labels its checkpoint names, in
//!   the checkpoint's admission order, before reading it (`service::durable`); labels taken in
//!   claims mode are decided already, so this claims nothing and changes nothing.
//! - **Compaction cannot reorder.** The topic is compacted (like the partials and changelog
//!   topics, so it is never deleted by age), and compaction keeps only the *latest* record of a
//!   key: two claims of one value under one key would lose the earlier one and move the value
//!   later in the order. So every claim has its own key, `{claimant}/{sequence}`, the claimant
//!   being random per instance start and the sequence counting its claims: no key ever repeats,
//!   and compaction removes nothing.
//! - **Bounded.** Claims stop for good once a dimension is full: every instance reads the whole
//!   topic before it starts work, so none meets an undecided value there again. Before that, a
//!   claim either admits its value (at most `max_values` per dimension in the whole topic) or
//!   decides nothing because a decision of its value landed first, unseen by the claimant. A
//!   partition task waits for each of its claims to be applied before it claims again, so each of
//!   its claims that decides nothing follows a distinct admission (or the fill) it had not seen
//!   yet: at most `max_values + 1` per partition task and dimension. And the tasks of one
//!   instance share their claims in flight, so they rarely claim one value twice. So the topic
//!   holds a few times `max_values` records per dimension, whatever the input sends.
//!
//! Replay and `cluster.enabled = false` admit by first sight, in stream order, as before.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use compact_str::CompactString;
use fnv::FnvHashMap;
use prometheus::{Counter, IntCounter, Registry};
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use rdkafka::producer::FutureRecord;
use rdkafka::{ClientConfig, Offset, TopicPartitionList};
use serde::{Deserialize, Serialize};
use thiserror::Error;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use crate::source::kafka_log::LoggingContext;
use crate::source::renewing_producer::RenewingProducer;
use crate::state::catalog::{ClaimEffect, SegmentCatalog};

/// The claims topic has one partition: its offsets are the order of admission.
pub const CLAIMS_PARTITION: i32 = 0;
const POLL: Duration = Duration::from_millis(50);
const WATERMARK_TIMEOUT: Duration = Duration::from_secs(5);
const RETRY: Duration = Duration::from_secs(1);
/// A produce that has not been acknowledged by then is tried again (under a new key).
const DELIVERY_TIMEOUT: Duration = Duration::from_secs(30);
/// Longest value a claim may carry (event values are at most 64 bytes; checkpoints allow 1024).
const MAX_VALUE_BYTES: usize = 1024;

/// One claim as it travels: which value of which dimension.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Claim {
    pub dimension: String,
    pub value: String,
}

#[derive(Debug, Error)]
pub enum ClaimError {
    #[error("claim record is not a claim: {0}")]
    Malformed(#[from] serde_json::Error),
    #[error("claim record has no value")]
    Empty,
    #[error("claimed value is longer than {MAX_VALUE_BYTES} bytes")]
    TooLong,
    #[error("cannot produce the claim: {0}")]
    Produce(String),
}

impl ClaimError {
    pub fn code(&self) -> &'static str {
        match self {
            ClaimError::Malformed(_) => "malformed",
            ClaimError::Empty => "empty",
            ClaimError::TooLong => "too_long",
            ClaimError::Produce(_) => "produce",
        }
    }
}

impl Claim {
    pub fn encode(&self) -> Vec<u8> {
        serde_json::to_vec(self).unwrap_or_default()
    }

    pub fn decode(bytes: Option<&[u8]>) -> Result<Claim, ClaimError> {
        let claim: Claim = serde_json::from_slice(bytes.ok_or(ClaimError::Empty)?)?;
        if claim.value.len() > MAX_VALUE_BYTES {
            return Err(ClaimError::TooLong);
        }
        Ok(claim)
    }
}

/// `cxpulse_segment_claims_*`.
pub struct ClaimMetrics {
    pub published: IntCounter,
    pub applied: IntCounter,
    pub refused: IntCounter,
    pub wait_seconds: Counter,
}

impl ClaimMetrics {
    pub fn register(registry: &Registry) -> prometheus::Result<Self> {
        let published = IntCounter::new(
            "cxpulse_segment_claims_published_total",
            "Segment value claims this instance published (values it met undecided).",
        )?;
        let applied = IntCounter::new(
            "cxpulse_segment_claims_applied_total",
            "Segment value claims read from the claims topic and applied to the catalog, in topic order.",
        )?;
        let refused = IntCounter::new(
            "cxpulse_segment_claims_refused_total",
            "Claims topic records not applied: undecodable, or naming a dimension not configured here.",
        )?;
        let wait_seconds = Counter::new(
            "cxpulse_segment_claim_wait_seconds_total",
            "Seconds partition tasks waited for their claims to be applied before applying an event or a checkpoint.",
        )?;
        registry.register(Box::new(published.clone()))?;
        registry.register(Box::new(applied.clone()))?;
        registry.register(Box::new(refused.clone()))?;
        registry.register(Box::new(wait_seconds.clone()))?;
        Ok(ClaimMetrics { published, applied, refused, wait_seconds })
    }
}

/// The service's handle on the claims topic: publishes claims and waits for the reader.
pub struct Claims {
    catalog: Arc<SegmentCatalog>,
    topic: String,
    producer: RenewingProducer,
    reader_config: ClientConfig,
    /// Random per instance start: with `sequence`, a key no other claim ever had.
    claimant: String,
    sequence: AtomicU64,
    /// Offset after the last claim the reader applied (0 before any).
    applied: watch::Sender<i64>,
    /// This instance's claims not yet applied, by value: a value is claimed once per start.
    in_flight: Mutex<FnvHashMap<(usize, CompactString), i64>>,
    pub metrics: Arc<ClaimMetrics>,
}

impl Claims {
    /// Puts `catalog` in claims mode: from here on only claims admit values.
    pub fn new(
        catalog: Arc<SegmentCatalog>,
        topic: &str,
        clients: (ClientConfig, ClientConfig),
        registry: &Registry,
    ) -> anyhow::Result<Self> {
        let (mut producer, reader_config) = clients;
        // Claims are rare and waited for: no lingering. One record per batch also keeps the
        // high watermark exact on brokers that mis-report it for multi-record batches (tansu).
        producer.set("linger.ms", "0").set("batch.num.messages", "1");
        catalog.require_claims();
        Ok(Claims {
            catalog,
            topic: topic.to_string(),
            producer: RenewingProducer::new(&producer, LoggingContext::default(), "claims")?,
            reader_config,
            claimant: format!("{:016x}", rand::random::<u64>()),
            sequence: AtomicU64::new(0),
            applied: watch::Sender::new(0),
            in_flight: Mutex::default(),
            metrics: Arc::new(ClaimMetrics::register(registry)?),
        })
    }

    pub fn topic(&self) -> &str {
        &self.topic
    }

    /// Starts the reader thread (once the topic exists).
    pub fn start_reader(&self, log: LoggingContext, stop: CancellationToken) -> anyhow::Result<()> {
        let reader = ClaimsReader::new(&self.reader_config, log, self)?;
        std::thread::Builder::new().name("cxpulse-claims".into()).spawn(move || reader.run(stop))?;
        tracing::info!(topic = self.topic, "segment values admitted in the order of the group's claims");
        Ok(())
    }

    /// Waits until the reader has applied every claim the topic holds now. `false`: stopped.
    pub async fn catch_up(&self, stop: &CancellationToken) -> bool {
        let started = Instant::now();
        let end = loop {
            let (config, topic) = (self.reader_config.clone(), self.topic.clone());
            let high = tokio::task::spawn_blocking(move || high_watermark(&config, &topic)).await;
            match high {
                Ok(Ok(high)) => break high,
                Ok(Err(error)) => tracing::warn!(topic = self.topic, %error, "claims topic end unknown, retrying"),
                Err(error) => tracing::warn!(%error, "claims topic end unknown, retrying"),
            }
            tokio::select! {
                _ = tokio::time::sleep(RETRY) => {}
                _ = stop.cancelled() => return false,
            }
        };
        let reached = self.applied_past(end - 1, stop).await;
        self.metrics.wait_seconds.inc_by(started.elapsed().as_secs_f64());
        reached
    }

    /// Decides `values` (dimension index, value), in order: each one still undecided is claimed
    /// (unless this instance claimed it already) and waited for. `false`: stopped first.
    pub async fn decide(&self, values: &[(usize, &str)], stop: &CancellationToken) -> bool {
        let started = Instant::now();
        let mut last = -1;
        for (dim, value) in values {
            if self.catalog.decided(*dim, value).is_some() {
                continue;
            }
            let Some(offset) = self.claim(*dim, value, stop).await else { return false };
            last = last.max(offset);
        }
        let reached = self.applied_past(last, stop).await;
        self.metrics.wait_seconds.inc_by(started.elapsed().as_secs_f64());
        reached
    }

    /// The offset of this instance's claim of the value, published now unless it was already.
    async fn claim(&self, dim: usize, value: &str, stop: &CancellationToken) -> Option<i64> {
        let key = (dim, CompactString::from(value));
        if let Some(offset) = self.lock_in_flight().get(&key) {
            return Some(*offset);
        }
        let dimension = self.catalog.dimensions().get(dim)?.clone();
        let dim_name = dimension.clone();
        let payload = Claim { dimension, value: value.to_string() }.encode();
        loop {
            match self.publish(&payload).await {
                Ok(offset) => {
                    self.metrics.published.inc();
                    tracing::debug!(dimension = dim_name, value, offset, "segment value claimed");
                    // Another task of this instance may have claimed it meanwhile: the earlier
                    // claim decides, the later one changes nothing.
                    let mut in_flight = self.lock_in_flight();
                    let offset = *in_flight.entry(key).or_insert(offset);
                    return Some(offset);
                }
                Err(error) => {
                    tracing::warn!(topic = self.topic, code = error.code(), %error, "segment claim not published, retrying");
                }
            }
            tokio::select! {
                _ = tokio::time::sleep(RETRY) => {}
                _ = stop.cancelled() => return None,
            }
        }
    }

    async fn publish(&self, payload: &[u8]) -> Result<i64, ClaimError> {
        let key = format!("{}/{}", self.claimant, self.sequence.fetch_add(1, Ordering::Relaxed));
        let record = FutureRecord::<str, [u8]>::to(&self.topic).key(&key).payload(payload).partition(CLAIMS_PARTITION);
        let producer = self.producer.get();
        match producer.send(record, DELIVERY_TIMEOUT).await {
            Ok(delivery) => Ok(delivery.offset),
            Err((error, _)) => {
                self.producer.renew_after(&producer, Some(&error));
                Err(ClaimError::Produce(error.to_string()))
            }
        }
    }

    /// Waits until the reader applied the record at `offset` (nothing to wait for below 0).
    async fn applied_past(&self, offset: i64, stop: &CancellationToken) -> bool {
        if offset < 0 {
            return true;
        }
        let mut applied = self.applied.subscribe();
        tokio::select! {
            reached = applied.wait_for(|next| *next > offset) => reached.is_ok(),
            _ = stop.cancelled() => false,
        }
    }

    fn lock_in_flight(&self) -> std::sync::MutexGuard<'_, FnvHashMap<(usize, CompactString), i64>> {
        self.in_flight.lock().unwrap_or_else(|e| e.into_inner())
    }
}

fn high_watermark(config: &ClientConfig, topic: &str) -> rdkafka::error::KafkaResult<i64> {
    let probe: BaseConsumer<LoggingContext> = config.create_with_context(LoggingContext::default())?;
    probe.fetch_watermarks(topic, CLAIMS_PARTITION, WATERMARK_TIMEOUT).map(|(_, high)| high)
}

/// Reads the claims topic from its beginning, for as long as the service runs, applying each
/// claim to the catalog in offset order. Its own thread and consumer, outside the group.
struct ClaimsReader {
    consumer: BaseConsumer<LoggingContext>,
    catalog: Arc<SegmentCatalog>,
    applied: watch::Sender<i64>,
    metrics: Arc<ClaimMetrics>,
}

impl ClaimsReader {
    fn new(config: &ClientConfig, log: LoggingContext, claims: &Claims) -> rdkafka::error::KafkaResult<Self> {
        let consumer: BaseConsumer<LoggingContext> = config.create_with_context(log)?;
        let mut tpl = TopicPartitionList::new();
        tpl.add_partition_offset(&claims.topic, CLAIMS_PARTITION, Offset::Beginning)?;
        consumer.assign(&tpl)?;
        Ok(ClaimsReader {
            consumer,
            catalog: Arc::clone(&claims.catalog),
            applied: claims.applied.clone(),
            metrics: Arc::clone(&claims.metrics),
        })
    }

    /// Polls until `stop`. A bad record is counted and skipped on every instance alike (it
    /// decides nothing), so it cannot make two instances differ, nor stop them.
    fn run(self, stop: CancellationToken) {
        while !stop.is_cancelled() {
            let Some(result) = self.consumer.poll(POLL) else { continue };
            match result {
                Ok(message) => {
                    apply_record(&self.catalog, &self.metrics, message.offset(), Claim::decode(message.payload()));
                    self.applied.send_replace(message.offset() + 1);
                }
                Err(error) => tracing::debug!(%error, "claims topic read error (retried)"),
            }
        }
    }
}

/// Applies one record of the claims topic to the catalog.
fn apply_record(catalog: &SegmentCatalog, metrics: &ClaimMetrics, offset: i64, claim: Result<Claim, ClaimError>) {
    let claim = match claim {
        Ok(claim) => claim,
        Err(error) => {
            tracing::debug!(offset, code = error.code(), %error, "claim refused");
            metrics.refused.inc();
            return;
        }
    };
    let Some(dim) = catalog.dimension_index(&claim.dimension) else {
        tracing::debug!(offset, dimension = claim.dimension, "claim of a dimension not configured here");
        metrics.refused.inc();
        return;
    };
    metrics.applied.inc();
    match catalog.apply_claim(dim, &claim.value) {
        ClaimEffect::Admitted => {
            tracing::debug!(dimension = claim.dimension, value = claim.value, offset, "segment value admitted")
        }
        ClaimEffect::AdmittedFull => tracing::info!(
            dimension = claim.dimension,
            value = claim.value,
            offset,
            max_values = catalog.max_values(),
            "segment dimension full: values not admitted so far map to `other`"
        ),
        ClaimEffect::Decided => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn catalog() -> Arc<SegmentCatalog> {
        let c = Arc::new(SegmentCatalog::new(vec!["plan".into(), "region".into()], 2));
        c.require_claims();
        c
    }

    fn reader_over(catalog: &Arc<SegmentCatalog>, records: &[Option<&[u8]>]) {
        let metrics = ClaimMetrics::register(&Registry::new()).unwrap();
        for (offset, record) in records.iter().enumerate() {
            apply_record(catalog, &metrics, offset as i64, Claim::decode(*record));
        }
    }

    fn claim(dimension: &str, value: &str) -> Vec<u8> {
        Claim { dimension: dimension.into(), value: value.into() }.encode()
    }

    #[test]
    fn the_same_claims_in_the_same_order_give_the_same_labels() {
        let records: Vec<Vec<u8>> =
            ["pro", "free", "pro", "team", "enterprise"].iter().map(|v| claim("plan", v)).collect();
        let (a, b) = (catalog(), catalog());
        let refs: Vec<Option<&[u8]>> = records.iter().map(|r| Some(r.as_slice())).collect();
        reader_over(&a, &refs);
        reader_over(&b, &refs);
        assert_eq!(a.admitted(), b.admitted());
        assert_eq!(
            a.admitted(),
            vec![("plan".into(), "pro".into()), ("plan".into(), "free".into()), ("plan".into(), "other".into())]
        );
        // Claims never seen by an instance are decided alike once the dimension is full.
        let other = a.find("plan", "other").unwrap();
        assert_eq!(a.decided(0, "never-claimed"), Some(other));
        assert_eq!(a.intern(0, "never-claimed"), other);
    }

    #[test]
    fn intern_never_admits_with_claims() {
        let c = catalog();
        let other = c.intern(1, "eu");
        assert_eq!(c.describe(other).1, "other");
        assert_eq!(c.decided(1, "eu"), None, "still undecided: only a claim decides it");
        assert_eq!(c.find("region", "eu"), None);
        assert_eq!(c.apply_claim(1, "eu"), ClaimEffect::Admitted);
        assert_eq!(c.describe(c.intern(1, "eu")).1, "eu");
        assert_eq!(
            c.undecided([("region", "eu"), ("region", "us"), ("plan", "pro"), ("tier", "x")]),
            vec![(1, "us"), (0, "pro")]
        );
    }

    #[test]
    fn bad_records_and_unknown_dimensions_decide_nothing() {
        let c = catalog();
        let good = claim("plan", "pro");
        let unknown = claim("tier", "gold");
        let long = claim("plan", &"x".repeat(MAX_VALUE_BYTES + 1));
        reader_over(
            &c,
            &[
                None,
                Some(b"{not json".as_slice()),
                Some(unknown.as_slice()),
                Some(long.as_slice()),
                Some(good.as_slice()),
            ],
        );
        assert_eq!(c.admitted(), vec![("plan".into(), "pro".into())]);
    }

    #[test]
    fn a_claim_round_trips() {
        let c = Claim { dimension: "plan".into(), value: "pro \"x\"".into() };
        assert_eq!(Claim::decode(Some(&c.encode())).unwrap(), c);
    }
}
