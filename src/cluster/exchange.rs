//! The service's handle on the partials exchange: the merged partials, the reader thread, what a
//! partition task needs to publish, and the `cxpulse_partials_*` metrics.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use futures::FutureExt;
use prometheus::{GaugeVec, IntCounter, Opts, Registry};
use rdkafka::error::KafkaError;
use rdkafka::producer::FutureRecord;
use rdkafka::ClientConfig;
use tokio_util::sync::CancellationToken;

use super::merged::ClusterPartials;
use super::publisher::{PartialsPublisher, Progress};
use super::reader::{PartialsReader, ReadPosition, PARTIALS_PARTITION};
use crate::engine::{Partition, Settings};
use crate::event::Millis;
use crate::source::kafka_log::LoggingContext;
use crate::source::renewing_producer::RenewingProducer;
use crate::state::holdout::fnv1a64;

/// How long a new owner waits for the reader to catch up before choosing its epoch.
const CATCH_UP_WAIT: Duration = Duration::from_secs(10);

pub struct ClusterMetrics {
    pub age: GaugeVec,
    pub published_records: IntCounter,
    pub published_bytes: IntCounter,
    pub refused: IntCounter,
}

impl ClusterMetrics {
    pub fn register(registry: &Registry) -> prometheus::Result<Self> {
        let age = GaugeVec::new(
            Opts::new(
                "cxpulse_partials_age_seconds",
                "Seconds since the owner of the partition last published its partials (read from the partials topic).",
            ),
            &["partition"],
        )?;
        let published_records =
            IntCounter::new("cxpulse_partials_published_records_total", "Partials records this instance published.")?;
        let published_bytes = IntCounter::new(
            "cxpulse_partials_published_bytes_total",
            "Bytes (keys and values) of partials records this instance published.",
        )?;
        let refused = IntCounter::new(
            "cxpulse_partials_refused_total",
            "Partials records not merged: undecodable, out of bounds, or from an owner fenced by a later epoch.",
        )?;
        registry.register(Box::new(age.clone()))?;
        registry.register(Box::new(published_records.clone()))?;
        registry.register(Box::new(published_bytes.clone()))?;
        registry.register(Box::new(refused.clone()))?;
        Ok(ClusterMetrics { age, published_records, published_bytes, refused })
    }
}

pub struct Exchange {
    pub partials: Arc<ClusterPartials>,
    pub topic: String,
    pub metrics: ClusterMetrics,
    /// Its own producer: partials travel in large batches (a full publish is thousands of small
    /// records), whatever batching the effects' producer is given.
    producer: RenewingProducer,
    stale_after: Millis,
    reader_config: ClientConfig,
    position: std::sync::OnceLock<Arc<ReadPosition>>,
}

/// A hash of the configuration that shapes partials (as the checkpoint fingerprint).
pub fn shape_of(settings: &Settings) -> u64 {
    let text: String =
        crate::checkpoint::fingerprint::fingerprint(settings).into_iter().map(|(k, v)| format!("{k}={v}\n")).collect();
    fnv1a64(text.into_bytes())
}

impl Exchange {
    pub fn new(
        settings: &Settings,
        topic: &str,
        stale_after: Millis,
        clients: (ClientConfig, ClientConfig),
        registry: &Registry,
    ) -> anyhow::Result<Self> {
        let (mut producer, reader_config) = clients;
        producer
            .set("linger.ms", "100")
            .set("batch.num.messages", "10000")
            .set("queue.buffering.max.messages", "1000000");
        let max_segments = 1 + settings.dimensions.len() * (settings.max_values + 1);
        let partials = ClusterPartials::new(settings.windows.clone(), shape_of(settings), max_segments, stale_after);
        Ok(Exchange {
            partials: Arc::new(partials),
            topic: topic.to_string(),
            metrics: ClusterMetrics::register(registry)?,
            producer: RenewingProducer::new(&producer, LoggingContext::default(), "partials")?,
            stale_after,
            reader_config,
            position: Default::default(),
        })
    }

    /// Starts the reader thread (once the topic exists).
    pub fn start_reader(&self, log: LoggingContext, stop: CancellationToken) -> anyhow::Result<()> {
        let reader = PartialsReader::new(&self.reader_config, log, &self.topic, Arc::clone(&self.partials))?;
        let _ = self.position.set(reader.position());
        std::thread::Builder::new().name("cxpulse-partials".into()).spawn(move || reader.run(stop))?;
        tracing::info!(topic = self.topic, "exchanging segment partials with the group's other instances");
        Ok(())
    }

    /// The publisher of a partition just assigned. Its epoch is `fence_epoch` when the owner
    /// fenced a changelog partition: fences are appended in the order owners take over, so each
    /// owner's epoch is above every earlier owner's whatever any reader has seen. Without one
    /// (no checkpoints), it waits (blocking) until the reader has seen the whole topic and goes
    /// one above the latest epoch there: right unless two owners start at once.
    pub fn publisher_for(self: &Arc<Self>, partition: i32, settings: &Settings, fence_epoch: Option<u64>) -> Outlet {
        let epoch = fence_epoch.unwrap_or_else(|| {
            let caught_up = self
                .position
                .get()
                .is_some_and(|p| PartialsReader::wait_caught_up(&self.reader_config, &self.topic, p, CATCH_UP_WAIT));
            if !caught_up {
                tracing::warn!(partition, topic = self.topic, "partials topic not read to its end; publishing anyway");
            }
            self.partials.next_epoch(partition)
        });
        let bucket_ms = settings.windows.iter().map(|w| w.bucket_ms).collect();
        let publisher = PartialsPublisher::new(partition, epoch, shape_of(settings), bucket_ms);
        Outlet { exchange: Arc::clone(self), publisher, ledger: Arc::default() }
    }

    /// Refreshes `cxpulse_partials_age_seconds` and returns why the cluster figures are not
    /// current, if they are not.
    pub fn check(&self, now: Millis) -> Option<String> {
        let ages = self.partials.ages(now);
        self.metrics.age.reset();
        let refused = self.partials.refused();
        self.metrics.refused.inc_by(refused.saturating_sub(self.metrics.refused.get()));
        let mut problems = Vec::new();
        for age in &ages {
            // No marker yet: the owner's first publish is still arriving.
            let Some(seconds) = age.age_seconds else { continue };
            self.metrics.age.with_label_values(&[&age.partition.to_string()]).set(seconds);
            if age.other_shape {
                problems.push(format!(
                    "partition {} publishes partials of another configuration (windows, dimensions or max_values differ)",
                    age.partition
                ));
            } else if seconds * 1000.0 > self.stale_after as f64 {
                problems.push(format!(
                    "partition {}'s partials are {seconds:.0} s old: its owner stopped publishing and the group \
                     has not reassigned it yet; the cluster figures leave it out",
                    age.partition
                ));
            }
        }
        (!problems.is_empty()).then(|| problems.join("; "))
    }
}

/// One partition task's way out to the partials topic.
pub struct Outlet {
    exchange: Arc<Exchange>,
    publisher: PartialsPublisher,
    /// What the deliveries of earlier publishes reported.
    ledger: Arc<Ledger>,
}

/// What became of an outlet's publishes, as their deliveries settle (in any task): a failure
/// makes the next publish full, its error says whether the producer must be replaced first
/// ([`RenewingProducer::renew_after`]), and each publish's outcome moves what the markers vouch
/// for ([`PartialsPublisher::settle`]).
#[derive(Debug, Default)]
pub struct Ledger(Mutex<Entries>);

#[derive(Debug, Default)]
struct Entries {
    failed: bool,
    last_error: Option<KafkaError>,
    /// Deliveries not settled yet, by publish sequence.
    outstanding: BTreeMap<u64, usize>,
    /// Publishes settled since the last [`Ledger::take`]: (sequence, every record delivered).
    settled: Vec<(u64, bool)>,
}

/// What [`Ledger::take`] hands the next publish.
struct Settled {
    /// `Some(last error, if known)` when a delivery failed since the last take.
    failure: Option<Option<KafkaError>>,
    outcomes: Vec<(u64, bool)>,
}

impl Ledger {
    fn entries(&self) -> std::sync::MutexGuard<'_, Entries> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// A publish whose `records` deliveries are on their way.
    fn sent(&self, sequence: u64, records: usize) {
        self.entries().outstanding.insert(sequence, records);
    }

    /// One delivery of publish `sequence` settled: `None` delivered, `Some(error if known)` not.
    fn settle(&self, sequence: u64, failure: Option<Option<KafkaError>>) {
        let mut entries = self.entries();
        let delivered = failure.is_none();
        if let Some(error) = failure {
            entries.failed = true;
            if error.is_some() {
                entries.last_error = error;
            }
        }
        let Some(left) = entries.outstanding.get_mut(&sequence) else { return };
        *left -= 1;
        if *left == 0 || !delivered {
            entries.outstanding.remove(&sequence);
            entries.settled.push((sequence, delivered));
        }
    }

    /// Publish `sequence` counts as lost, whatever its deliveries report later.
    fn lose(&self, sequence: u64) {
        let mut entries = self.entries();
        entries.failed = true;
        if entries.outstanding.remove(&sequence).is_some() {
            entries.settled.push((sequence, false));
        }
    }

    fn take(&self) -> Settled {
        let mut entries = self.entries();
        let failure = std::mem::take(&mut entries.failed).then(|| entries.last_error.take());
        Settled { failure, outcomes: std::mem::take(&mut entries.settled) }
    }

    #[cfg(test)]
    fn any_failed(&self) -> bool {
        self.entries().failed
    }
}

/// The error of a settled delivery, `None` when it landed.
fn failure(result: &DeliveryResult) -> Option<Option<KafkaError>> {
    match result {
        Ok(Ok(_)) => None,
        Ok(Err((error, _))) => Some(Some(error.clone())),
        Err(_) => Some(None),
    }
}

type DeliveryResult = <rdkafka::producer::DeliveryFuture as std::future::Future>::Output;

impl Outlet {
    pub fn epoch(&self) -> u64 {
        self.publisher.epoch()
    }

    /// Sends one publish (the changes since the last, or everything after a failure) with the
    /// task's `progress`; what comes back says whether it was delivered.
    pub fn publish(&mut self, partition: &Partition, progress: Progress, now: Millis) -> Sent {
        let settled = self.ledger.take();
        self.publisher.settle(settled.outcomes);
        if let Some(error) = settled.failure {
            self.publisher.resend_all();
            self.exchange.producer.renew_after(&self.exchange.producer.get(), error.as_ref());
        }
        let producer = self.exchange.producer.get();
        let records = self.publisher.collect(partition.view(), partition.catalog(), progress, partition.clock(), now);
        let sequence = self.publisher.sequence();
        self.ledger.sent(sequence, records.len());
        let exchange = &self.exchange;
        let mut deliveries = Vec::with_capacity(records.len());
        let mut bytes = 0;
        for record in &records {
            let (key, value) = (record.key(), record.encode());
            bytes += key.len() + value.len();
            let out = FutureRecord::to(&exchange.topic).partition(PARTIALS_PARTITION).key(&key).payload(&value);
            match producer.send_result(out) {
                Ok(delivery) => deliveries.push((sequence, delivery)),
                Err((error, _)) => {
                    tracing::debug!(%error, "partials record not queued; the next publish is full");
                    self.ledger.lose(sequence);
                    exchange.producer.renew_after(&producer, Some(&error));
                    break;
                }
            }
        }
        exchange.metrics.published_records.inc_by(deliveries.len() as u64);
        exchange.metrics.published_bytes.inc_by(bytes as u64);
        Sent { deliveries, ledger: Arc::clone(&self.ledger), lost: false }
    }
}

/// The deliveries of one publish (or of several, [`Sent::absorb`]), each with its publish's
/// sequence.
#[must_use]
pub struct Sent {
    deliveries: Vec<(u64, rdkafka::producer::DeliveryFuture)>,
    ledger: Arc<Ledger>,
    /// A delivery already dropped by `absorb` failed.
    lost: bool,
}

impl Sent {
    /// Adds a later publish's deliveries, first dropping the ones already settled, so that
    /// publishes waited for together (`partition_task::commit`) hold only what is in flight.
    pub fn absorb(&mut self, later: Sent) {
        let (ledger, lost) = (&self.ledger, &mut self.lost);
        self.deliveries.retain_mut(|(sequence, delivery)| match delivery.now_or_never() {
            None => true,
            Some(result) => {
                let failure = failure(&result);
                *lost |= failure.is_some();
                ledger.settle(*sequence, failure);
                false
            }
        });
        self.lost |= later.lost;
        self.deliveries.extend(later.deliveries);
    }

    /// Waits for every delivery; a failure makes the next publish full.
    pub async fn delivered(self) -> bool {
        let mut all = !self.lost;
        for (sequence, delivery) in self.deliveries {
            let failure = failure(&delivery.await);
            all &= failure.is_none();
            self.ledger.settle(sequence, failure);
        }
        all
    }

    /// [`Sent::delivered`], giving up after `limit` (a hand-over must not wait on a slow
    /// broker); what is not known delivered by then counts as lost (the next publish is full).
    pub async fn delivered_within(self, limit: Duration) -> bool {
        let ledger = Arc::clone(&self.ledger);
        let sequences: Vec<u64> = self.deliveries.iter().map(|(sequence, _)| *sequence).collect();
        let delivered = tokio::time::timeout(limit, self.delivered()).await.unwrap_or(false);
        if !delivered {
            for sequence in sequences {
                ledger.lose(sequence);
            }
        }
        delivered
    }

    /// Checks the deliveries in the background (before the next publish).
    pub fn check_later(self) {
        tokio::spawn(self.delivered());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rdkafka::mocking::MockCluster;
    use rdkafka::producer::FutureProducer;
    use rdkafka::types::{RDKafkaApiKey, RDKafkaRespErr};

    /// Publish `sequence` of `n` records.
    fn sent(producer: &FutureProducer, topic: &str, sequence: u64, n: usize, ledger: &Arc<Ledger>) -> Sent {
        ledger.sent(sequence, n);
        let deliveries = (0..n)
            .map(|i| {
                let payload = i.to_string();
                let record = FutureRecord::<str, str>::to(topic).key("k").payload(&payload);
                (sequence, producer.send_result(record).unwrap())
            })
            .collect();
        Sent { deliveries, ledger: Arc::clone(ledger), lost: false }
    }

    /// What a checkpoint waits for (`partition_task::commit`): publishes merged into one, settled
    /// deliveries dropped on the way, and a failure anywhere, even in one dropped before the
    /// wait, reported and making the next publish full.
    #[tokio::test]
    async fn absorbed_publishes_are_delivered_only_if_every_record_was() {
        let cluster = MockCluster::new(1).unwrap();
        cluster.create_topic("partials", 1, 1).unwrap();
        let producer: FutureProducer = ClientConfig::new()
            .set("bootstrap.servers", cluster.bootstrap_servers())
            .set("message.timeout.ms", "2000")
            .create()
            .unwrap();
        let ledger = Arc::new(Ledger::default());
        let mut all = sent(&producer, "partials", 1, 3, &ledger);
        tokio::time::sleep(Duration::from_millis(500)).await;
        all.absorb(sent(&producer, "partials", 2, 2, &ledger));
        assert!(all.deliveries.len() < 5, "the first publish's settled deliveries are dropped");
        assert!(all.delivered().await && !ledger.any_failed());
        assert_eq!(ledger.take().outcomes, [(1, true), (2, true)], "each publish settles once, when all of it has");

        cluster.request_errors(RDKafkaApiKey::Produce, &[RDKafkaRespErr::RD_KAFKA_RESP_ERR_INVALID_RECORD; 20]);
        let mut some_lost = sent(&producer, "partials", 3, 1, &ledger);
        tokio::time::sleep(Duration::from_millis(500)).await;
        cluster.clear_request_errors(RDKafkaApiKey::Produce);
        some_lost.absorb(sent(&producer, "partials", 4, 1, &ledger));
        assert!(!some_lost.delivered().await, "a lost record, even one settled before the wait, is reported");
        assert!(ledger.any_failed(), "and the next publish is full");
        let settled = ledger.take();
        assert!(settled.failure.is_some());
        assert_eq!(settled.outcomes, [(3, false), (4, true)], "the publish after a lost one can still land");
    }
}
