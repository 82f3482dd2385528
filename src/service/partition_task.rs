//! One task per assigned partition number: it owns that number's engine [`Partition`], merges the
//! interaction and survey queues in event-time order, applies each event, publishes the effects and
//! only then stores the input offsets (at-least-once input; the deterministic ids make a redelivered
//! event harmless). Work is done in batches: the events available without waiting are applied,
//! then the batch's records are delivered together and its offsets stored, so a delivery round
//! trip is paid once per batch, not once per event.

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::FutureExt;
use rdkafka::consumer::Consumer;
use rdkafka::error::KafkaResult;
use rdkafka::message::{BorrowedMessage, Message};
use rdkafka::{Offset, TopicPartitionList};
use tokio_util::sync::CancellationToken;

use super::live_rules::RulesHook;
use super::TaskEnv;
use crate::alert::kafka_sink::{OutRecord, PublishError};
use crate::alert::{AlertKind, Effect};
use crate::engine::clock::live_floor;
use crate::engine::{Outcome, Partition};
use crate::event::{DeadLetter, Event, Millis, Reason, Rejection, SourcePosition};
use crate::source::kafka::{InputSide, LiveConsumer, SIDES};
use crate::source::merge::{Merger, Pick};
use crate::state::customer::NEVER;

/// Events applied before the batch is delivered and its offsets stored.
const MAX_BATCH: usize = 2_000;
/// The live clock moves forward this often while input is idle (SPEC §2).
const TICK: Duration = Duration::from_secs(1);

/// Per side: the next offset to process (written by the task, read by the lag probe) and the
/// partition's high watermark as last measured (written by the probe, read by the merge). -1 is
/// unknown.
#[derive(Debug)]
pub struct Positions {
    next: [AtomicI64; SIDES],
    high: [AtomicI64; SIDES],
}

impl Default for Positions {
    fn default() -> Self {
        Positions { next: [AtomicI64::new(-1), AtomicI64::new(-1)], high: [AtomicI64::new(-1), AtomicI64::new(-1)] }
    }
}

impl Positions {
    pub fn get(&self, side: usize) -> Option<i64> {
        Some(self.next[side].load(Ordering::Acquire)).filter(|o| *o >= 0)
    }

    fn set(&self, side: usize, next: i64) {
        self.next[side].store(next, Ordering::Release);
    }

    pub fn set_high_watermark(&self, side: usize, high: i64) {
        self.high[side].store(high, Ordering::Release);
    }

    /// Whether records from `received_next` on are known to exist on the broker.
    fn behind(&self, side: usize, received_next: i64) -> bool {
        received_next >= 0 && self.high[side].load(Ordering::Acquire) > received_next
    }
}

/// A received record, decoded, waiting for its turn in the merge.
struct Head {
    offset: i64,
    received: Instant,
    /// Event time; invalid records go first (their position in time does not matter).
    order: Millis,
    input: Input,
}

enum Input {
    /// `raw` is kept to dead-letter the event if the partition refuses it (`customer_limit`).
    Event {
        event: Event,
        key_matches: bool,
        raw: Box<[u8]>,
        key: Option<Box<[u8]>>,
    },
    Rejected {
        letter: DeadLetter,
        key: Option<Vec<u8>>,
        null_value: bool,
    },
}

#[derive(Default)]
struct Batch {
    records: Vec<OutRecord>,
    next_offsets: [Option<i64>; SIDES],
    outcomes: [u64; 3],
}

pub struct PartitionTask {
    env: Arc<TaskEnv>,
    number: i32,
    partition: Partition,
    hook: RulesHook,
    sides: [Option<InputSide>; SIDES],
    heads: [Option<Head>; SIDES],
    /// Offset after the last record received on each side (-1: none yet).
    received_next: [i64; SIDES],
    merger: Merger,
    batch: Batch,
    effects: Vec<Effect>,
    positions: Arc<Positions>,
    consumer: Arc<LiveConsumer>,
    /// Hard stop: give up deliveries in flight (the offsets are then not stored).
    abandon: CancellationToken,
}

impl PartitionTask {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        env: Arc<TaskEnv>,
        number: i32,
        partition: Partition,
        sides: [Option<InputSide>; SIDES],
        positions: Arc<Positions>,
        consumer: Arc<LiveConsumer>,
        abandon: CancellationToken,
    ) -> Self {
        PartitionTask {
            hook: env.rules.hook(),
            merger: Merger::new(env.merge_wait),
            env,
            number,
            partition,
            sides,
            heads: [None, None],
            received_next: [-1, -1],
            batch: Batch::default(),
            effects: Vec::new(),
            positions,
            consumer,
            abandon,
        }
    }

    /// Runs until `stop` (finishing and storing the current batch) or `abandon`.
    pub async fn run(mut self, stop: CancellationToken) {
        if let Err(error) = self.run_until(&stop).await {
            tracing::warn!(partition = self.number, code = error.code(), %error, "partition task stopped early");
        }
    }

    async fn run_until(&mut self, stop: &CancellationToken) -> Result<(), PublishError> {
        let mut next_tick = Instant::now() + TICK;
        let mut applied = 0;
        while !stop.is_cancelled() {
            if Instant::now() >= next_tick {
                self.tick();
                next_tick = Instant::now() + TICK;
            }
            self.fill_ready_heads();
            let keys = [0, 1].map(|s| self.heads[s].as_ref().map(|h| h.order));
            let present = [0, 1].map(|s| self.sides[s].is_some());
            let behind = [0, 1].map(|s| self.positions.behind(s, self.received_next[s]));
            match self.merger.pick(keys, present, behind, Instant::now()) {
                Pick::Take(side) => {
                    self.apply_head(side);
                    applied += 1;
                    if applied >= MAX_BATCH {
                        applied = 0;
                        self.flush().await?;
                        tokio::task::yield_now().await;
                    }
                }
                Pick::WaitFor(side, until) => {
                    applied = 0;
                    self.flush().await?;
                    self.wait(Some(side), until.min(next_tick), stop).await;
                }
                Pick::Idle => {
                    applied = 0;
                    self.flush().await?;
                    self.wait(None, next_tick, stop).await;
                }
            }
        }
        self.flush().await
    }

    /// Takes what the queues hold right now, without waiting.
    fn fill_ready_heads(&mut self) {
        for side in 0..SIDES {
            if self.heads[side].is_some() {
                continue;
            }
            let Some(input) = &self.sides[side] else {
                continue;
            };
            if let Some(received) = input.queue.recv().now_or_never() {
                self.heads[side] = to_head(&self.env, self.number, received);
                self.note_received(side);
            }
        }
    }

    /// Waits for a record on `side` (or either side), until `deadline`, or until stopped.
    async fn wait(&mut self, side: Option<usize>, deadline: Instant, stop: &CancellationToken) {
        let wanted = |s: usize| side.is_none_or(|w| w == s) && self.heads[s].is_none();
        let (want0, want1) = (wanted(0), wanted(1));
        let (env, number) = (&self.env, self.number);
        let [side0, side1] = &self.sides;
        let head = tokio::select! {
            received = recv(side0), if want0 => Some((0, to_head(env, number, received))),
            received = recv(side1), if want1 => Some((1, to_head(env, number, received))),
            _ = tokio::time::sleep_until(deadline.into()) => None,
            _ = stop.cancelled() => None,
        };
        if let Some((s, Some(head))) = head {
            self.heads[s] = Some(head);
            self.note_received(s);
        }
    }

    fn note_received(&mut self, side: usize) {
        if let Some(head) = &self.heads[side] {
            self.received_next[side] = head.offset + 1;
        }
    }

    /// Applies the head record of `side` and adds its outputs to the batch.
    fn apply_head(&mut self, side: usize) {
        let Some(head) = self.heads[side].take() else {
            return;
        };
        match head.input {
            Input::Event { event, key_matches, raw, key } => {
                if !key_matches {
                    self.env.metrics.mismatched_key();
                }
                let outcome = self.partition.apply(&event, &mut self.effects, &mut self.hook);
                let slot = match outcome {
                    Outcome::Accepted => 0,
                    Outcome::Duplicate => 1,
                    Outcome::Late => 2,
                    Outcome::CustomerLimit => {
                        let rejection =
                            Rejection::new(Reason::CustomerLimit, "the partition tracks limits.max_customers already");
                        let letter = DeadLetter::new(rejection, self.position(side, head.offset), raw.into_vec());
                        self.env.metrics.event_rejected(letter.reason);
                        self.batch.records.push(OutRecord::dead_letter(&letter, key.as_deref(), false));
                        self.batch.next_offsets[side] = Some(head.offset + 1);
                        return;
                    }
                };
                self.batch.outcomes[slot] += 1;
                self.collect_effects();
                self.env.metrics.processing_time(head.received.elapsed().as_secs_f64());
            }
            Input::Rejected { letter, key, null_value } => {
                self.env.metrics.event_rejected(letter.reason);
                tracing::debug!(
                    partition = self.number,
                    offset = head.offset,
                    reason = letter.reason.code(),
                    "event rejected"
                );
                self.batch.records.push(OutRecord::dead_letter(&letter, key.as_deref(), null_value));
            }
        }
        self.batch.next_offsets[side] = Some(head.offset + 1);
    }

    /// Where a record of `side` at `offset` came from, for its dead letter.
    fn position(&self, side: usize, offset: i64) -> SourcePosition {
        let topic = self.sides[side].as_ref().map(|s| s.topic.clone()).unwrap_or_default();
        SourcePosition::Kafka { topic, partition: self.number, offset }
    }

    /// Moves the partition clock to `wall − clock.max_lag` once it has one (SPEC §2).
    fn tick(&mut self) {
        if self.partition.clock() == NEVER {
            return;
        }
        let floor = live_floor(self.env.clock.as_ref(), self.env.max_lag_ms);
        self.partition.advance_to(floor, &mut self.effects, &mut self.hook);
        self.collect_effects();
    }

    fn collect_effects(&mut self) {
        for effect in self.effects.drain(..) {
            note_effect(&self.env, &effect);
            self.batch.records.push(OutRecord::from_effect(&effect));
        }
    }

    /// Delivers the batch's records, then stores its offsets.
    async fn flush(&mut self) -> Result<(), PublishError> {
        let batch = std::mem::take(&mut self.batch);
        if !batch.records.is_empty() {
            let sink = &self.env.sink;
            let deliveries = batch.records.iter().map(|r| sink.deliver(r, &self.abandon));
            futures::future::join_all(deliveries).await.into_iter().collect::<Result<Vec<()>, _>>()?;
        }
        let metrics = &self.env.metrics;
        for (slot, label) in ["accepted", "duplicate", "late"].into_iter().enumerate() {
            metrics.events(label, batch.outcomes[slot]);
        }
        let mut offsets = TopicPartitionList::new();
        for (side, next) in batch.next_offsets.iter().enumerate() {
            if let (Some(next), Some(input)) = (next, &self.sides[side]) {
                if let Err(error) = offsets.add_partition_offset(&input.topic, self.number, Offset::Offset(*next)) {
                    tracing::error!(%error, "cannot build the offset list");
                }
                self.positions.set(side, *next);
            }
        }
        if offsets.count() > 0 {
            if let Err(error) = self.consumer.store_offsets(&offsets) {
                tracing::warn!(partition = self.number, %error, "cannot store offsets; the records will be read again");
            }
        }
        Ok(())
    }
}

async fn recv(side: &Option<InputSide>) -> KafkaResult<BorrowedMessage<'_>> {
    match side {
        Some(input) => input.queue.recv().await,
        None => std::future::pending().await,
    }
}

/// Decodes a received record; `None` for a consumer error (logged).
fn to_head(env: &TaskEnv, number: i32, received: KafkaResult<BorrowedMessage<'_>>) -> Option<Head> {
    let message = match received {
        Ok(message) => message,
        Err(error) => {
            tracing::warn!(partition = number, %error, "kafka partition error");
            return None;
        }
    };
    let offset = message.offset();
    let key = message.key();
    let position = || SourcePosition::Kafka { topic: message.topic().to_string(), partition: number, offset };
    let rejected = |rejection: Rejection, payload: &[u8], null_value: bool| Input::Rejected {
        letter: DeadLetter::new(rejection, position(), payload.to_vec()),
        key: key.map(<[u8]>::to_vec),
        null_value,
    };
    let (order, input) = match message.payload() {
        None => (
            Millis::MIN,
            rejected(Rejection::new(Reason::MalformedJson, "record has no value (null payload)"), &[], true),
        ),
        Some(bytes) => match env.decoder.decode(bytes, Some(env.clock.now_ms())) {
            Ok(event) => {
                let key_matches = key == Some(event.customer_id.as_bytes());
                let (raw, key) = (Box::from(bytes), key.map(Box::from));
                (event.ts, Input::Event { event, key_matches, raw, key })
            }
            Err(rejection) => (Millis::MIN, rejected(rejection, bytes, false)),
        },
    };
    Some(Head { offset, received: Instant::now(), order, input })
}

/// Counts an effect; segment alerts are logged (they name segments, never customers).
fn note_effect(env: &TaskEnv, effect: &Effect) {
    env.metrics.effect_emitted(effect);
    match effect {
        Effect::Alert(alert) => {
            if alert.kind == AlertKind::SegmentThreshold {
                let field = |name: &str| match alert.fields.get(name) {
                    Some(serde_json::Value::String(s)) => s.clone(),
                    Some(other) => other.to_string(),
                    None => String::new(),
                };
                tracing::info!(
                    rule = field("rule"),
                    dimension = field("dimension"),
                    segment = field("segment"),
                    window = field("window"),
                    value = field("value"),
                    state = field("state"),
                    "segment threshold alert"
                );
            } else {
                tracing::debug!(kind = alert.kind.label(), alert_id = alert.alert_id, "customer alert");
            }
        }
        Effect::Message(_) => {}
    }
}
