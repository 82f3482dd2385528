//! The Kafka input: one consumer group over both input topics (and the repartition topic), one
//! queue per assigned partition.
//!
//! On assignment, the interaction, survey and repartition partitions of each number are split off the consumer
//! into their own queues (`split_partition_queue`) and handed, together, to a
//! [`PartitionLifecycle`], which runs one task per partition number. On revocation the lifecycle
//! stops those tasks (they store the offsets of what they finished) before the offsets are
//! committed and the partitions leave. The consumer's main queue, which carries the rebalance
//! events, is served on a dedicated thread ([`KafkaSource::spawn_poller`]), so the rebalance
//! callbacks may block while tasks drain without ever blocking the async runtime.
//!
//! Both rebalance protocols work: with the eager one (`range`, several topics) every rebalance
//! revokes and assigns everything; with the cooperative one (`cooperative-sticky`, one input topic
//! and no repartition topic, see `kafka_client`) rdkafka applies the lists with `incremental_assign`/`incremental_unassign`
//! and the callbacks receive only the partitions that move, so the others keep their task.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, OnceLock, Weak};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use rdkafka::client::ClientContext;
use rdkafka::config::RDKafkaLogLevel;
use rdkafka::consumer::stream_consumer::StreamPartitionQueue;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer, ConsumerContext, Rebalance, StreamConsumer};
use rdkafka::error::{KafkaError, KafkaResult};
use rdkafka::message::Message;
use rdkafka::topic_partition_list::TopicPartitionList;
use rdkafka::{ClientConfig, Offset};
use tokio::runtime::Handle;
use tokio_util::sync::CancellationToken;

use super::group_rejoin::{GroupNudger, RejoinSchedule};
use super::kafka_log::LoggingContext;

pub type LiveConsumer = StreamConsumer<SourceContext>;
pub type PartitionQueue = StreamPartitionQueue<SourceContext>;

/// Input side 0 is interactions, side 1 surveys, side 2 the repartition topic (records re-keyed
/// to their customer's partition, `kafka.mismatched_keys = "repartition"`).
pub const SIDES: usize = 3;
/// The side of the repartition topic.
pub const REPARTITION: usize = 2;

/// One input topic's partition of an assigned partition number.
pub struct InputSide {
    pub topic: String,
    pub queue: PartitionQueue,
}

/// An assigned partition number: its queue on each input topic assigned to this member (normally
/// all; with one input topic for both types, not side 1; without re-keying, not side 2).
pub struct AssignedPartition {
    pub number: i32,
    pub sides: [Option<InputSide>; SIDES],
}

/// What the service does as partitions come and go. Both methods run on the consumer's poller
/// thread, inside librdkafka's rebalance callback.
pub trait PartitionLifecycle: Send + Sync + 'static {
    /// Start processing a partition (spawn; do not block).
    fn assigned(&self, partition: AssignedPartition, consumer: &Arc<LiveConsumer>);
    /// Stop processing these partition numbers and return once their tasks stored the offsets of
    /// everything they finished (blocking is allowed, bounded by the service's timeout). `lost`:
    /// the group already gave them away, nothing can be committed.
    fn revoked(&self, numbers: &[i32], lost: bool);
}

/// The consumer's context: logging, and the rebalance hooks that drive the lifecycle.
pub struct SourceContext {
    log: LoggingContext,
    /// `[interactions, surveys, repartition]`; equal input names mean one topic carries both, and
    /// an empty repartition name means no re-keying.
    topics: [String; SIDES],
    consumer: OnceLock<Weak<LiveConsumer>>,
    lifecycle: Arc<dyn PartitionLifecycle>,
    /// Set when the group drops this member, cleared by the next assignment ([`group_rejoin`](super::group_rejoin)).
    rejoin: Mutex<RejoinSchedule>,
}

impl ClientContext for SourceContext {
    fn log(&self, level: RDKafkaLogLevel, facility: &str, message: &str) {
        self.log.log(level, facility, message);
    }

    fn error(&self, error: KafkaError, reason: &str) {
        self.log.error(error, reason);
    }
}

impl SourceContext {
    fn side_of(&self, topic: &str) -> Option<usize> {
        self.topics.iter().position(|t| !t.is_empty() && t == topic)
    }

    /// Whether side `s` has a topic of its own.
    fn has_side(&self, s: usize) -> bool {
        !self.topics[s].is_empty() && !self.topics[..s].contains(&self.topics[s])
    }

    /// Partition numbers of our input topics in `tpl`, each once.
    fn numbers(&self, tpl: &TopicPartitionList) -> Vec<i32> {
        let mut numbers: Vec<i32> =
            tpl.elements().iter().filter(|e| self.side_of(e.topic()).is_some()).map(|e| e.partition()).collect();
        numbers.sort_unstable();
        numbers.dedup();
        numbers
    }

    fn assign(&self, tpl: &TopicPartitionList) {
        let Some(consumer) = self.consumer.get().and_then(Weak::upgrade) else {
            tracing::error!("partitions assigned before the consumer was ready; they will not be processed");
            return;
        };
        let mut by_number: BTreeMap<i32, [Option<InputSide>; SIDES]> = BTreeMap::new();
        for element in tpl.elements() {
            let Some(side) = self.side_of(element.topic()) else {
                continue;
            };
            let Some(queue) = consumer.split_partition_queue(element.topic(), element.partition()) else {
                tracing::error!(
                    topic = element.topic(),
                    partition = element.partition(),
                    "cannot split the partition queue"
                );
                continue;
            };
            by_number.entry(element.partition()).or_default()[side] =
                Some(InputSide { topic: element.topic().to_string(), queue });
        }
        for (number, sides) in by_number {
            if (0..SIDES).any(|s| self.has_side(s) && sides[s].is_none()) {
                tracing::warn!(
                    partition = number,
                    "not every topic of this partition number is assigned here; its events are applied without \
                     merging (is partition.assignment.strategy `range`?)"
                );
            }
            self.lifecycle.assigned(AssignedPartition { number, sides }, &consumer);
        }
    }
}

impl ConsumerContext for SourceContext {
    fn pre_rebalance(&self, consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        if let Rebalance::Revoke(tpl) = rebalance {
            let numbers = self.numbers(tpl);
            let lost = consumer.assignment_lost();
            tracing::info!(partitions = ?numbers, lost, "partitions revoked");
            if lost {
                self.rejoin.lock().unwrap_or_else(|e| e.into_inner()).lost(Instant::now());
            }
            self.lifecycle.revoked(&numbers, lost);
            if !lost {
                if let Err(error) = consumer.commit_consumer_state(CommitMode::Sync) {
                    if !is_nothing_to_commit(&error) {
                        tracing::warn!(%error, "cannot commit offsets of revoked partitions; they will be read again");
                    }
                }
            }
        }
    }

    fn post_rebalance(&self, _consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        match rebalance {
            Rebalance::Assign(tpl) => {
                tracing::info!(partitions = ?self.numbers(tpl), "partitions assigned");
                self.rejoin.lock().unwrap_or_else(|e| e.into_inner()).assigned();
                self.assign(tpl);
            }
            Rebalance::Revoke(_) => {}
            Rebalance::Error(error) => tracing::warn!(%error, "rebalance error"),
        }
    }

    fn commit_callback(&self, result: KafkaResult<()>, _offsets: &TopicPartitionList) {
        match result {
            Err(error) if !is_nothing_to_commit(&error) => {
                tracing::warn!(%error, "offset commit failed; it is retried at the next commit")
            }
            _ => {}
        }
    }
}

fn is_nothing_to_commit(error: &KafkaError) -> bool {
    error.rdkafka_error_code() == Some(rdkafka::error::RDKafkaErrorCode::NoOffset)
}

/// The consumer group member.
pub struct KafkaSource {
    consumer: Arc<LiveConsumer>,
    topics: [String; SIDES],
    /// The consumer's config, for the handle that nudges the group after a lost assignment.
    config: ClientConfig,
}

impl KafkaSource {
    /// `topics` is `[interactions, surveys, repartition]` (an empty repartition name: none).
    pub fn new(
        config: &ClientConfig,
        log: LoggingContext,
        topics: [String; SIDES],
        lifecycle: Arc<dyn PartitionLifecycle>,
    ) -> KafkaResult<Self> {
        let rejoin = Mutex::default();
        let context = SourceContext { log, topics: topics.clone(), consumer: OnceLock::new(), lifecycle, rejoin };
        let consumer: Arc<LiveConsumer> = Arc::new(config.create_with_context(context)?);
        let _ = consumer.context().consumer.set(Arc::downgrade(&consumer));
        Ok(KafkaSource { consumer, topics, config: config.clone() })
    }

    pub fn consumer(&self) -> &Arc<LiveConsumer> {
        &self.consumer
    }

    pub fn topics(&self) -> &[String; SIDES] {
        &self.topics
    }

    pub fn subscribe(&self) -> KafkaResult<()> {
        let mut topics: Vec<&str> = self.topics.iter().map(String::as_str).filter(|t| !t.is_empty()).collect();
        topics.dedup();
        self.consumer.subscribe(&topics)
    }

    /// Serves the consumer's main queue (rebalances, errors) on its own thread until `stop`.
    pub fn spawn_poller(&self, handle: Handle, stop: CancellationToken) -> std::io::Result<JoinHandle<()>> {
        let consumer = Arc::clone(&self.consumer);
        let nudger = GroupNudger::new(self.config.clone());
        std::thread::Builder::new().name("kafka-consumer".into()).spawn(move || {
            handle.block_on(poll_main_queue(&consumer, nudger, &stop));
        })
    }
}

/// librdkafka counts a poll of any consumer queue as the application being alive
/// (`max.poll.interval.ms`). With no partition assigned (after a lost assignment, or a member with
/// nothing to do) only this loop polls, and an idle main queue would never wake it: poll at least
/// this often, so the member is never taken for stuck and never kept from rejoining.
const POLL_AT_LEAST_EVERY: Duration = Duration::from_secs(1);

async fn poll_main_queue(consumer: &Arc<LiveConsumer>, mut nudger: GroupNudger, stop: &CancellationToken) {
    let mut last_error_log: Option<Instant> = None;
    loop {
        let due = consumer.context().rejoin.lock().unwrap_or_else(|e| e.into_inner()).due(Instant::now());
        if let Some(nudge) = due {
            if nudge == 1 {
                tracing::info!("no partition assigned since the group dropped this member; nudging its coordinator");
            }
            if let Err(error) = nudger.nudge() {
                tracing::warn!(%error, "cannot nudge the group coordinator");
            }
        }
        tokio::select! {
            _ = stop.cancelled() => return,
            // A new `recv` polls the queue at once.
            _ = tokio::time::sleep(POLL_AT_LEAST_EVERY) => {}
            received = consumer.recv() => match received {
                // A record fetched before its partition's queue was split. Rewind the partition
                // so the record is fetched again into the split queue, in order.
                Ok(message) => {
                    let (topic, partition, offset) = (message.topic().to_string(), message.partition(), message.offset());
                    drop(message);
                    tracing::warn!(topic, partition, offset, "record arrived on the main queue; rewinding its partition");
                    if let Err(error) = consumer.seek(&topic, partition, Offset::Offset(offset), Duration::from_secs(5)) {
                        tracing::error!(topic, partition, %error, "cannot rewind the partition");
                    }
                }
                // The end of a partition not split off yet: its queue will see the next one.
                Err(KafkaError::PartitionEOF(_)) => {}
                Err(error) => {
                    // Transport errors repeat while a broker is away; once every 10 s is enough.
                    if last_error_log.is_none_or(|t| t.elapsed() > Duration::from_secs(10)) {
                        tracing::warn!(%error, "kafka consumer error");
                        last_error_log = Some(Instant::now());
                    }
                }
            }
        }
    }
}
