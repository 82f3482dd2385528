//! One task per assigned partition number: it owns that number's engine [`Partition`], merges the
//! interaction, survey and repartition queues in event-time order, applies each event (or
//! forwards it to its customer's partition, `service::repartition`), publishes the effects and
//! only then stores the input offsets (at-least-once input; the deterministic ids make a redelivered
//! event harmless). Work is done in batches: the events available without waiting are applied,
//! then the batch's records are delivered together and its offsets stored, so a delivery round
//! trip is paid once per batch, not once per event.

mod commit;

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::FutureExt;
use tokio_util::sync::CancellationToken;

use super::durable::{restore_partition, seek_to_checkpoint, Durability};
use super::intake::{recv, to_head, Head, Input, Original, Received};
use super::live_rules::{RulesHook, RULES_PARTITION};
use super::positions::Positions;
use super::TaskEnv;
use crate::alert::kafka_sink::{OutRecord, PublishError};
use crate::alert::{AlertKind, Effect};
use crate::cluster::exchange::{Outlet, Sent};
use crate::cluster::publisher::Progress;
use crate::config::MismatchedKeys;
use crate::engine::clock::live_floor;
use crate::engine::{Outcome, Partition};
use crate::event::{DeadLetter, Event, Reason, Rejection, SourcePosition};
use crate::source::kafka::{InputSide, LiveConsumer, REPARTITION, SIDES};
use crate::source::merge::{Merger, Pick};
use crate::state::customer::NEVER;

/// Events applied before the batch is delivered and its offsets stored.
const MAX_BATCH: usize = 2_000;
/// The live clock moves forward this often while input is idle (SPEC §2); partials are
/// published as often.
const TICK: Duration = Duration::from_secs(1);
/// Records applied between two polls of an empty queue the merge does not wait for
/// (`fill_ready_heads`).
const UNWAITED_POLL_EVERY: u32 = 64;
/// How long the first and the last publish of an owner wait for their delivery.
const HAND_OVER_WAIT: Duration = Duration::from_secs(3);

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
    /// The probe's measurement count when each side's last record arrived
    /// ([`Positions::received_all_measured`]).
    measured_before: [u64; SIDES],
    /// The end-of-partition marker is the last thing received on this side.
    at_end: [bool; SIDES],
    merger: Merger<SIDES>,
    batch: Batch,
    effects: Vec<Effect>,
    positions: Arc<Positions>,
    consumer: Arc<LiveConsumer>,
    /// Hard stop: give up deliveries in flight (the offsets are then not stored).
    abandon: CancellationToken,
    /// Checkpoints, restore and effect suppression; `None` with `checkpoint.enabled = false`.
    durable: Option<Durability>,
    /// Next input offset per side after what was applied (-1: nothing yet).
    next_input: [i64; SIDES],
    /// Input offsets covered by the last checkpoint (or applied, without checkpoints) and not yet
    /// stored in the consumer.
    to_store: [Option<i64>; SIDES],
    /// The partials exchange (`cluster.enabled`), from the first publish on.
    partials: Option<Outlet>,
    /// Publishes that carried rule-boundary snapshots, not yet known delivered: the next
    /// checkpoint waits for them (`commit`).
    snapshots_in_flight: Option<Sent>,
    /// Polls of each queue still to skip (`fill_ready_heads`).
    polls_to_skip: [u32; SIDES],
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
            hook: env.rules.hook(number),
            merger: Merger::new(env.merge_wait),
            env,
            number,
            partition,
            sides,
            heads: Default::default(),
            received_next: [-1; SIDES],
            measured_before: [0; SIDES],
            at_end: [false; SIDES],
            batch: Batch::default(),
            effects: Vec::new(),
            positions,
            consumer,
            abandon,
            durable: None,
            next_input: [-1; SIDES],
            to_store: [None; SIDES],
            partials: None,
            snapshots_in_flight: None,
            polls_to_skip: [0; SIDES],
        }
    }

    /// Runs until `stop` (finishing and storing the current batch) or `abandon`.
    pub async fn run(mut self, stop: CancellationToken) {
        // Every decision taken so far, before anything is restored or applied (`cluster::claims`).
        if let Some(claims) = &self.env.claims {
            if !claims.catch_up(&stop).await {
                return;
            }
        }
        if let Some(cp) = &self.env.checkpoint {
            let topics = self.sides.each_ref().map(|s| s.as_ref().map(|s| s.topic.clone()));
            match restore_partition(&self.env, cp, self.number, &mut self.partition, &topics, &stop).await {
                Ok(durable) => {
                    self.next_input = durable.resume_from;
                    seek_to_checkpoint(&self.consumer, self.number, &self.sides, durable.resume_from, &stop).await;
                    let fresh = durable.fresh;
                    self.durable = Some(durable);
                    if fresh {
                        // Where this owner starts publishing, durable before it publishes.
                        if let Err(error) = self.checkpoint_now().await {
                            tracing::warn!(partition = self.number, code = error.code(), %error, "partition task stopped early");
                            return;
                        }
                    }
                }
                Err(_) => {
                    // Refused (logged, not ready): process nothing until revoked or stopped.
                    stop.cancelled().await;
                    return;
                }
            }
        }
        if stop.is_cancelled() {
            return; // revoked while restoring: a later owner publishes this partition
        }
        self.start_publishing().await;
        if let Err(error) = self.run_until(&stop).await {
            tracing::warn!(partition = self.number, code = error.code(), %error, "partition task stopped early");
            if matches!(error, PublishError::Fenced) {
                return; // the new owner publishes this partition's partials under a newer epoch
            }
        }
        // The last state, delivered before the partition is handed over, so the next owner's
        // epoch is chosen with it in view and the cluster figures stay whole meanwhile.
        if let Some(sent) = self.publish_partials() {
            sent.delivered_within(HAND_OVER_WAIT).await;
        }
    }

    /// Chooses this owner's epoch (`cluster`) and publishes the restored state in full at once:
    /// the earlier owner's partials stop counting from here.
    async fn start_publishing(&mut self) {
        let Some(exchange) = self.env.exchange.clone() else { return };
        let (number, settings) = (self.number, std::sync::Arc::clone(&self.env.engine.settings));
        let fence_epoch = self.durable.as_ref().and_then(Durability::fence_epoch);
        let outlet = tokio::task::spawn_blocking(move || exchange.publisher_for(number, &settings, fence_epoch)).await;
        if let Ok(outlet) = outlet {
            tracing::debug!(partition = self.number, epoch = outlet.epoch(), "publishing partials");
            self.partials = Some(outlet);
            if let Some(sent) = self.publish_partials() {
                sent.delivered_within(HAND_OVER_WAIT).await;
            }
        }
    }

    fn publish_partials(&mut self) -> Option<Sent> {
        let progress = Progress {
            boundaries: self.hook.take_unpublished(),
            caught_up: self.positions.caught_up_at(self.present()).is_some(),
            rules_released: self.env.rules.released(self.number),
        };
        let outlet = self.partials.as_mut()?;
        Some(outlet.publish(&self.partition, progress, self.env.clock.now_ms()))
    }

    /// Publishes without waiting. A publish that carries rule-boundary snapshots is kept until
    /// the next checkpoint has waited for its delivery (`commit`); any other is checked later.
    fn publish_in_background(&mut self) {
        let carries_snapshots = self.hook.has_unpublished();
        let Some(sent) = self.publish_partials() else { return };
        match &mut self.snapshots_in_flight {
            _ if !carries_snapshots || self.durable.is_none() => sent.check_later(),
            Some(in_flight) => in_flight.absorb(sent),
            none => *none = Some(sent),
        }
    }

    async fn run_until(&mut self, stop: &CancellationToken) -> Result<(), PublishError> {
        let mut next_tick = Instant::now() + TICK;
        let mut applied = 0;
        while !stop.is_cancelled() {
            // One monotonic clock read per record: the tick, the merge and the processing time
            // share it (clock reads were the largest single item of a Kafka-path profile).
            let mut now = Instant::now();
            if now >= next_tick {
                self.tick();
                self.publish_in_background();
                self.evaluate_rules();
                now = Instant::now();
                next_tick = now + TICK;
            }
            self.fill_ready_heads(now);
            let keys = std::array::from_fn(|s| self.heads[s].as_ref().map(|h| h.order));
            let waited = self.waited_for();
            // A side may have unread records on the broker unless its end-of-partition marker
            // came after its last record, or a probe measurement taken since then saw nothing
            // beyond what was received (none comes while the broker is away).
            // Such a side is waited for longer, so the other one does not run ahead in event time
            // (the survey side of a backlog drains far faster than the interaction side).
            let behind = std::array::from_fn(|s| {
                !self.at_end[s]
                    && !self.positions.received_all_measured(s, self.received_next[s], self.measured_before[s])
            });
            match self.merger.pick(keys, waited, behind, now) {
                Pick::Take(side) => {
                    match self.decide_head(side, stop).await {
                        None => continue, // stopped while waiting: the head stays unapplied
                        Some(true) => now = Instant::now(),
                        Some(false) => {}
                    }
                    self.apply_head(side, now);
                    applied += 1;
                    if applied >= MAX_BATCH {
                        applied = 0;
                        self.commit_point(false).await?;
                        tokio::task::yield_now().await;
                    }
                }
                Pick::WaitFor(side, until) => {
                    applied = 0;
                    self.commit_point(false).await?;
                    self.wait(Some(side), until.min(next_tick), stop).await;
                }
                Pick::Idle => {
                    applied = 0;
                    self.commit_point(false).await?;
                    self.wait(None, next_tick, stop).await;
                }
            }
        }
        self.commit_point(true).await
    }

    /// Takes what the queues hold right now, without waiting. A side not waited for is asked only
    /// every [`UNWAITED_POLL_EVERY`] records once found empty (and whenever the task idles): a
    /// queue poll costs a lock round trip, which per record measured a few percent of the Kafka
    /// path, and such a side is empty almost always.
    fn fill_ready_heads(&mut self, now: Instant) {
        let keep_original = self.partition.near_customer_limit(SIDES);
        for (side, waited) in self.waited_for().into_iter().enumerate() {
            if self.heads[side].is_some() {
                continue;
            }
            let Some(input) = &self.sides[side] else {
                continue;
            };
            if self.polls_to_skip[side] > 0 {
                self.polls_to_skip[side] -= 1;
                continue;
            }
            let got = input.queue.recv().now_or_never().map(|r| to_head(&self.env, self.number, r, keep_original, now));
            match got {
                Some(got) => self.accept(side, got),
                None if !waited => self.polls_to_skip[side] = UNWAITED_POLL_EVERY,
                None => {}
            }
        }
    }

    /// The sides this task was given.
    fn present(&self) -> [bool; SIDES] {
        std::array::from_fn(|s| self.sides[s].is_some())
    }

    /// The sides the merge waits for when empty: the given ones but the repartition side, whose
    /// records were applied nowhere yet and reach it a round trip after their time anyway; it is
    /// empty almost always, so waiting for it would cost a pause after every re-keyed record.
    fn waited_for(&self) -> [bool; SIDES] {
        let mut waited = self.present();
        waited[REPARTITION] = false;
        waited
    }

    /// Waits for a record on `side` (or any side), until `deadline`, or until stopped.
    async fn wait(&mut self, side: Option<usize>, deadline: Instant, stop: &CancellationToken) {
        let wanted = |s: usize| side.is_none_or(|w| w == s) && self.heads[s].is_none();
        let (want0, want1, want2) = (wanted(0), wanted(1), wanted(2));
        let (env, number) = (&self.env, self.number);
        let keep = self.partition.near_customer_limit(SIDES);
        let [side0, side1, side2] = &self.sides;
        let got = tokio::select! {
            received = recv(side0), if want0 => Some((0, to_head(env, number, received, keep, Instant::now()))),
            received = recv(side1), if want1 => Some((1, to_head(env, number, received, keep, Instant::now()))),
            received = recv(side2), if want2 => Some((2, to_head(env, number, received, keep, Instant::now()))),
            _ = tokio::time::sleep_until(deadline.into()) => None,
            _ = stop.cancelled() => None,
        };
        if let Some((side, got)) = got {
            self.accept(side, got);
        }
    }

    /// Buffers a received record as the side's head, or notes that the side reached the end of
    /// what the broker holds (every record before the marker is received: `engine::clock`).
    fn accept(&mut self, side: usize, got: Received) {
        match got {
            Received::Record(head) => {
                if self.received_next[side] < 0 {
                    tracing::debug!(partition = self.number, side, offset = head.offset, "first record received");
                }
                self.received_next[side] = head.offset + 1;
                self.at_end[side] = false;
                self.positions.set_received(side, head.offset + 1);
                self.measured_before[side] = self.positions.measurements(side);
                self.heads[side] = Some(head);
            }
            Received::End => {
                tracing::trace!(partition = self.number, side, received = self.received_next[side], "end of partition");
                self.at_end[side] = true;
                self.positions.caught_up(side, self.env.clock.now_ms())
            }
            Received::Nothing => {}
        }
    }

    /// In a cluster, decides every segment value of the head event that is not decided yet: claims
    /// it and waits until the claims are applied (`cluster::claims`), so the event is applied with
    /// the group's mapping. Rare: once a dimension is full, every value of it is decided. Whether
    /// it waited for claims; `None` when stopped first.
    async fn decide_head(&mut self, side: usize, stop: &CancellationToken) -> Option<bool> {
        let (Some(claims), Some(Head { input: Input::Event { event, .. }, .. })) =
            (&self.env.claims, &self.heads[side])
        else {
            return Some(false);
        };
        let catalog = &self.env.engine.catalog;
        let undecided = catalog.undecided(event.segments.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        if undecided.is_empty() {
            return Some(false);
        }
        claims.decide(&undecided, stop).await.then_some(true)
    }

    /// Applies the head record of `side` at `now` and adds its outputs to the batch.
    fn apply_head(&mut self, side: usize, now: Instant) {
        let Some(head) = self.heads[side].take() else {
            return;
        };
        if let Some(durable) = &mut self.durable {
            if head.offset < durable.resume_from[side] {
                return; // already in the restored state
            }
            durable.changed = true;
        }
        self.next_input[side] = head.offset + 1;
        match head.input {
            Input::Event { event, key_matches, original } => {
                // Kept whenever the record may leave as it came (`intake::Input`).
                let Original { value, key } = original.unwrap_or_default();
                if !key_matches {
                    self.env.metrics.mismatched_key();
                }
                // What the repartition side holds is keyed by its customer already: applied, even
                // if someone else wrote it with another key, so nothing travels in circles.
                let mismatched = (!key_matches && side != REPARTITION).then_some(self.env.mismatched_keys);
                let target = match (mismatched, &self.env.repartition) {
                    (Some(MismatchedKeys::Repartition), Some(r)) => r.partition_of(&event.customer_id),
                    _ => None,
                };
                if let Some(target) = target {
                    self.forward(side, head.offset, &event.customer_id, value.into_vec(), target);
                } else {
                    let refused = if mismatched == Some(MismatchedKeys::DeadLetter) {
                        Some((Reason::MismatchedKey, "its Kafka key is missing or not its customer_id"))
                    } else {
                        self.apply_event(&event, now.saturating_duration_since(head.received))
                    };
                    if let Some((reason, detail)) = refused {
                        let position = self.position(side, head.offset);
                        let letter = DeadLetter::new(Rejection::new(reason, detail), position, value.into_vec());
                        self.dead_letter(side, head.offset, letter, key.as_deref(), false);
                    }
                }
            }
            Input::Rejected { letter, key, null_value } => {
                self.dead_letter(side, head.offset, letter, key.as_deref(), null_value);
            }
        }
        self.batch.next_offsets[side] = Some(head.offset + 1);
    }

    /// Applies an event to the partition (`waited`: since its receipt, for the processing-time
    /// histogram); the reason when the partition refuses it.
    fn apply_event(&mut self, event: &Event, waited: Duration) -> Option<(Reason, &'static str)> {
        let slot = match self.partition.apply(event, &mut self.effects, &mut self.hook) {
            Outcome::CustomerLimit => {
                return Some((Reason::CustomerLimit, "the partition tracks limits.max_customers already"))
            }
            Outcome::Accepted => 0,
            Outcome::Duplicate => 1,
            _ => 2, // late
        };
        self.batch.outcomes[slot] += 1;
        self.collect_effects();
        self.env.metrics.processing_time(waited.as_secs_f64());
        None
    }

    /// Adds the dead letter of the record of `side` at `offset` to the batch.
    fn dead_letter(&mut self, side: usize, offset: i64, letter: DeadLetter, key: Option<&[u8]>, null_value: bool) {
        self.env.metrics.event_rejected(letter.reason);
        tracing::debug!(partition = self.number, offset, reason = letter.reason.code(), "event dead-lettered");
        self.push_for_input(side, offset, "dl", OutRecord::dead_letter(&letter, key, null_value));
    }

    /// Adds the record of `side` at `offset`, re-keyed by its customer id, to the batch for the
    /// repartition partition `target` (`service::repartition`).
    fn forward(&mut self, side: usize, offset: i64, customer_id: &str, value: Vec<u8>, target: i32) {
        self.push_for_input(side, offset, "rk", OutRecord::re_keyed(customer_id, value, target));
    }

    /// Adds a record made for the input record of `side` at `offset` to the batch, unless a
    /// restore found it published already: its id is `{kind}:` and that source position
    /// (`checkpoint`).
    fn push_for_input(&mut self, side: usize, offset: i64, kind: &str, mut record: OutRecord) {
        let topic = self.sides[side].as_ref().map_or("", |s| s.topic.as_str());
        let id = format!("{kind}:{topic}:{}:{offset}", self.number);
        if let (Some(durable), Some(cp)) = (&mut self.durable, &self.env.checkpoint) {
            if durable.suppress(cp, &id) {
                return;
            }
            Durability::tag(&mut record, self.number, id, Some(self.next_input));
        }
        self.batch.records.push(record);
    }

    /// Where a record of `side` at `offset` came from, for its dead letter.
    fn position(&self, side: usize, offset: i64) -> SourcePosition {
        let topic = self.sides[side].as_ref().map(|s| s.topic.clone()).unwrap_or_default();
        SourcePosition::Kafka { topic, partition: self.number, offset }
    }

    /// Moves the partition clock to its live lower bound once it has a clock (SPEC §2): only when
    /// no received record is waiting to be applied, and only up to `T − clock.max_lag` with `T`
    /// the last instant every side was caught up (`engine::clock`), so a backlog is never skipped.
    fn tick(&mut self) {
        if self.partition.clock() == NEVER || self.heads.iter().any(Option::is_some) {
            return;
        }
        let Some(caught_up_at) = self.positions.caught_up_at(self.present()) else {
            return;
        };
        let floor = live_floor(caught_up_at, self.env.max_lag_ms);
        tracing::trace!(partition = self.number, caught_up_at, floor, clock = self.partition.clock(), "tick");
        self.partition.advance_to(floor, &mut self.effects, &mut self.hook);
        self.collect_effects();
    }

    /// Evaluates the rule boundaries that became due (see `live_rules`), after this tick's publish.
    /// A rule state that moved on is due in partition 0's next checkpoint, like applied records.
    fn evaluate_rules(&mut self) {
        if self.hook.on_tick(&mut self.effects) && self.number == RULES_PARTITION {
            if let Some(durable) = self.durable.as_mut() {
                durable.changed = true;
            }
        }
        self.collect_effects();
    }

    fn collect_effects(&mut self) {
        for effect in self.effects.drain(..) {
            let mut record = OutRecord::from_effect(&effect);
            if let (Some(durable), Some(cp)) = (&mut self.durable, &self.env.checkpoint) {
                let (id, input) = match &effect {
                    Effect::Alert(a) if a.kind == AlertKind::SegmentThreshold => (a.alert_id.as_str(), None),
                    Effect::Alert(a) => (a.alert_id.as_str(), Some(self.next_input)),
                    Effect::Message(m) => (m.message_id.as_str(), Some(self.next_input)),
                };
                if durable.suppress(cp, id) {
                    tracing::debug!(partition = self.number, id, next = ?self.next_input, "effect suppressed");
                    continue;
                }
                Durability::tag(&mut record, self.number, id.to_string(), input);
            }
            note_effect(&self.env, &effect);
            self.batch.records.push(record);
        }
    }
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
