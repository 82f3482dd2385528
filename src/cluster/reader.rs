//! Reads the partials topic from its beginning, for as long as the service runs, into
//! [`ClusterPartials`]. Its own thread and its own consumer outside the group: every instance
//! reads every partition's partials, whoever owns the partition.

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use rdkafka::{ClientConfig, Offset, TopicPartitionList};
use tokio_util::sync::CancellationToken;

use super::merged::ClusterPartials;
use super::record::Record;
use crate::source::kafka_log::LoggingContext;

/// The partials topic has one partition: one reader follows every owner's publishes in order.
pub const PARTIALS_PARTITION: i32 = 0;
const POLL: Duration = Duration::from_millis(100);
const WATERMARK_TIMEOUT: Duration = Duration::from_secs(5);

/// The reader's progress, for the publishers that must see the whole topic before choosing an epoch.
#[derive(Debug, Default)]
pub struct ReadPosition {
    /// Offset after the last record taken (0 before any).
    next: AtomicI64,
}

impl ReadPosition {
    pub fn next(&self) -> i64 {
        self.next.load(Ordering::Acquire)
    }
}

pub struct PartialsReader {
    consumer: BaseConsumer<LoggingContext>,
    partials: Arc<ClusterPartials>,
    position: Arc<ReadPosition>,
}

impl PartialsReader {
    pub fn new(
        config: &ClientConfig,
        log: LoggingContext,
        topic: &str,
        partials: Arc<ClusterPartials>,
    ) -> rdkafka::error::KafkaResult<Self> {
        let consumer: BaseConsumer<LoggingContext> = config.create_with_context(log)?;
        let mut tpl = TopicPartitionList::new();
        tpl.add_partition_offset(topic, PARTIALS_PARTITION, Offset::Beginning)?;
        consumer.assign(&tpl)?;
        Ok(PartialsReader { consumer, partials, position: Arc::default() })
    }

    pub fn position(&self) -> Arc<ReadPosition> {
        Arc::clone(&self.position)
    }

    /// Polls until `stop`; undecodable records are counted and skipped (never fatal: a bad
    /// record in a shared topic must not stop every instance).
    pub fn run(self, stop: CancellationToken) {
        while !stop.is_cancelled() {
            let Some(result) = self.consumer.poll(POLL) else { continue };
            match result {
                Ok(message) => {
                    match message.payload().map(Record::decode) {
                        Some(Ok(record)) => self.partials.receive(record),
                        Some(Err(error)) => {
                            tracing::debug!(offset = message.offset(), %error, "partials record refused");
                            self.partials.refuse();
                        }
                        None => {}
                    }
                    self.position.next.store(message.offset() + 1, Ordering::Release);
                }
                Err(error) => tracing::debug!(%error, "partials topic read error (retried)"),
            }
        }
    }

    /// Waits (blocking) until this reader has taken everything the topic held when called, so
    /// `ClusterPartials::next_epoch` sees every epoch published so far. `false` on timeout.
    pub fn wait_caught_up(config: &ClientConfig, topic: &str, position: &ReadPosition, timeout: Duration) -> bool {
        let Ok(probe) = config.create_with_context::<_, BaseConsumer<LoggingContext>>(LoggingContext::default()) else {
            return false;
        };
        let Ok((_, high)) = probe.fetch_watermarks(topic, PARTIALS_PARTITION, WATERMARK_TIMEOUT) else {
            return false;
        };
        let deadline = Instant::now() + timeout;
        while position.next() < high {
            if Instant::now() >= deadline {
                return false;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        true
    }
}
