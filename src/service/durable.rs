//! The partition task's side of durable state (the mechanism and its guarantees are explained in
//! `checkpoint`): restore before processing, checkpoints at commit points, output headers and the
//! suppression of effects already published.

use std::sync::Arc;
use std::time::{Duration, Instant};

use rdkafka::consumer::Consumer;
use rdkafka::{ClientConfig, Offset};
use tokio_util::sync::CancellationToken;

use super::readiness::Readiness;
use super::TaskEnv;
use crate::alert::kafka_sink::{OutRecord, Retry};
use crate::checkpoint::effects::{self, OutputPositions, Suppression, ID_HEADER, INPUT_HEADER, PARTITION_HEADER};
use crate::checkpoint::metrics::CheckpointMetrics;
use crate::checkpoint::ownership::Ownership;
use crate::checkpoint::restore::{latest, read_meta, restore, RestoreError};
use crate::checkpoint::store::{Store, StoreError, WriteRounds};
use crate::checkpoint::{Checkpointer, Extras};
use crate::config::{CheckpointConfig, OnCorrupt, OnIncompatible};
use crate::engine::Partition;
use crate::source::kafka::{InputSide, LiveConsumer, SIDES};

const RETRY: Duration = Duration::from_secs(2);
/// How long after a failed delivery round its records are looked for on the broker
/// ([`Durability::find_landed`]): a request still on its way gets this long to be appended.
const RESEND_READ_DELAY: Duration = Duration::from_secs(1);

/// What every partition task shares for checkpoints.
pub struct CheckpointEnv {
    pub store: Store,
    /// How long a new owner waits after its fence before it reads its outputs back
    /// (`checkpoint::ownership`).
    pub takeover_wait: Duration,
    /// Settings of the short-lived consumers that read output ends and outputs back.
    pub reader: ClientConfig,
    pub outputs: Vec<String>,
    pub config: CheckpointConfig,
    pub interval: Duration,
    pub metrics: CheckpointMetrics,
    pub readiness: Arc<Readiness>,
}

/// One partition's checkpoint state inside its task.
pub struct Durability {
    checkpointer: Checkpointer,
    outputs: OutputPositions,
    /// Where the restore read the outputs back from; kept in checkpoints while `suppression` waits.
    read_from: OutputPositions,
    suppression: Suppression,
    /// This owner's fence in the changelog (`None` in a directory store: nothing to fence).
    ownership: Option<Ownership>,
    /// Next offset per side that the restored state reflects: records below are already in it.
    pub resume_from: [i64; SIDES],
    /// No checkpoint was restored: one is written before anything is published, so that a later
    /// owner reads back from where this one started (`effects`), even if this one dies first.
    pub fresh: bool,
    last: Instant,
    /// Something was applied since the last checkpoint.
    pub changed: bool,
}

impl Durability {
    /// Whether a checkpoint is due (something changed and the commit interval has passed).
    pub fn due(&self, cp: &CheckpointEnv, clock: i64) -> bool {
        (self.changed || self.checkpointer.clock() != Some(clock)) && self.last.elapsed() >= cp.interval
    }

    /// `true` when the effect with `id` was published before the crash and must not be again.
    pub fn suppress(&mut self, cp: &CheckpointEnv, id: &str) -> bool {
        let hit = !self.suppression.is_empty() && self.suppression.suppress(id);
        if hit {
            cp.metrics.suppressed.inc();
        }
        hit
    }

    /// Names the record's partition, id and input position in its headers (no position for a
    /// record not tied to input: a threshold alert, see `checkpoint`).
    pub fn tag(record: &mut OutRecord, number: i32, id: String, next: Option<[i64; SIDES]>) {
        record.headers.push((PARTITION_HEADER, number.to_string()));
        record.headers.push((ID_HEADER, id));
        if let Some(next) = next {
            let next: Vec<String> = next.iter().map(i64::to_string).collect();
            record.headers.push((INPUT_HEADER, next.join(",")));
        }
    }

    pub fn delivered(&mut self, topic: &str, partition: i32, offset: i64) {
        self.outputs.delivered(topic, partition, offset);
    }

    /// After a failed delivery round, before its records are sent again: finds those the broker
    /// appended all the same and notes where, so that they are not published twice. A record
    /// fails although it landed when its acknowledgement is lost or comes after
    /// `message.timeout.ms` (a stalled broker), or when its producer is replaced after a fatal
    /// error (a new producer id, which the broker's idempotence does not match to the old one).
    /// Such a record lies past this owner's last acknowledged delivery on its output partition
    /// (`outputs`): a batch is sent only once the one before it has landed. The read waits
    /// [`RESEND_READ_DELAY`] after the round, for a request still on its way; one delayed longer
    /// than that is the remaining window of risk.
    pub async fn find_landed(
        &self,
        cp: &CheckpointEnv,
        number: i32,
        records: &[OutRecord],
        topic_of: impl Fn(&OutRecord) -> String,
        retry: &mut Retry,
        stop: &CancellationToken,
    ) -> Result<(), StoreError> {
        let pending: Vec<usize> = retry.pending().collect();
        if pending.is_empty() {
            return Ok(());
        }
        tokio::select! {
            _ = tokio::time::sleep(RESEND_READ_DELAY) => {}
            _ = stop.cancelled() => return Err(StoreError::Abandoned),
        }
        let (reader, outputs, from) = (cp.reader.clone(), cp.outputs.clone(), self.outputs.to_vec());
        let found = blocking(move || {
            let ends = effects::output_ends(&reader, &outputs)?;
            effects::find_ours(&reader, number, &from, &ends)
        })
        .await?;
        for i in pending {
            let Some(record) = records.get(i) else { continue };
            let Some((_, id)) = record.headers.iter().find(|(key, _)| *key == ID_HEADER) else { continue };
            if let Some((partition, offset)) = found.get(&(topic_of(record), id.clone())) {
                tracing::info!(
                    partition = number,
                    output = record.output.label(),
                    "a record whose delivery failed had landed: not sent again"
                );
                cp.metrics.suppressed.inc();
                retry.found(i, *partition, *offset);
            }
        }
        Ok(())
    }

    /// Drops the suppression set once processing passed every input it covers.
    pub fn processed(&mut self, next: [i64; SIDES]) {
        self.suppression.passed(next);
    }

    /// Whether this instance still owns the partition (`checkpoint::ownership`); asked of the
    /// changelog at most once per lease, retried while the brokers cannot answer.
    pub async fn still_owner(&mut self, cp: &CheckpointEnv, abandon: &CancellationToken) -> Result<(), StoreError> {
        let Some(ownership) = self.ownership.as_mut() else { return Ok(()) };
        loop {
            match ownership.confirm(&cp.store).await {
                Ok(true) => return Ok(()),
                Ok(false) => {
                    cp.metrics.fenced.inc();
                    return Err(StoreError::Fenced { partition: ownership.partition() });
                }
                Err(error) => {
                    tracing::warn!(%error, retry_in = ?RETRY, "cannot confirm the partition's owner, retrying")
                }
            }
            tokio::select! {
                _ = tokio::time::sleep(RETRY) => {}
                _ = abandon.cancelled() => return Err(StoreError::Abandoned),
            }
        }
    }

    /// Until when records may be handed to a producer for this partition (`checkpoint::ownership`);
    /// `None` without a changelog to be fenced through.
    pub fn lease_until(&self) -> Option<Instant> {
        self.ownership.as_ref().map(Ownership::lease_until)
    }

    /// This owner's partials epoch, from its fence (`cluster::Exchange::publisher_for`).
    pub fn fence_epoch(&self) -> Option<u64> {
        self.ownership.as_ref().map(Ownership::epoch)
    }

    /// Writes records to the store as this partition's owner.
    async fn write(
        &mut self,
        cp: &CheckpointEnv,
        records: &[crate::checkpoint::Record],
        abandon: &CancellationToken,
    ) -> Result<(), StoreError> {
        // Confirmed before every round of sends, not once per checkpoint: an owner paused in the
        // middle of a checkpoint must not hand its meta or tombstones to the producer on waking,
        // after a new owner restored from the changelog (they would name, or delete, pieces of
        // another chain).
        let mut rounds = WriteRounds::new(records);
        loop {
            self.still_owner(cp, abandon).await?;
            if rounds.next(&cp.store, self.lease_until(), abandon).await? {
                break;
            }
        }
        if let Some(ownership) = self.ownership.as_mut() {
            ownership.wrote(rounds.end);
        }
        Ok(())
    }

    /// Writes a checkpoint: chunks, then the meta naming them, then tombstones of what it replaced.
    pub async fn checkpoint(
        &mut self,
        cp: &CheckpointEnv,
        partition: &mut Partition,
        extras: Extras,
        abandon: &CancellationToken,
    ) -> Result<(), StoreError> {
        // Records published before the restore whose effects are not re-emitted yet lie before
        // `outputs`; until they are, the next restore must read back from where this one did.
        let outputs = if self.suppression.is_empty() { &self.outputs } else { &self.outputs.min(&self.read_from) };
        let extras = Extras { outputs: outputs.to_vec(), ..extras };
        let plan = self.checkpointer.plan(partition, extras);
        self.write(cp, &plan.chunks, abandon).await?;
        self.write(cp, std::slice::from_ref(&plan.meta), abandon).await?;
        self.checkpointer.written(&plan);
        tracing::debug!(partition = plan.next.partition, seq = plan.next.seq, full = plan.full, offsets = ?plan.next.offsets, outputs = ?plan.next.outputs, "checkpoint written");
        cp.metrics.checkpoints.with_label_values(&[if plan.full { "base" } else { "delta" }]).inc();
        cp.metrics.checkpoint_bytes.inc_by(plan.bytes);
        if !plan.tombstones.is_empty() {
            self.write(cp, &plan.tombstones, abandon).await?;
        }
        self.last = Instant::now();
        self.changed = false;
        Ok(())
    }
}

/// In a cluster, decides the labels the checkpoint names (its catalog, in admission order) before
/// it is read, so restoring never admits a value out of the claims' order (`cluster::claims`).
/// A checkpoint taken in claims mode names decided labels only (the catch-up before the restore
/// applied every claim up to now): nothing is claimed. One taken before admission was cluster-wide
/// may name values the claims decide otherwise; `checkpoint::restore` refuses it then. `false`:
/// stopped first. A meta that cannot be read is left for the restore to report.
async fn decide_checkpoint_labels(
    env: &TaskEnv,
    records: &std::collections::BTreeMap<String, (i64, Vec<u8>)>,
    number: i32,
    partition: &Partition,
    stop: &CancellationToken,
) -> bool {
    let Some(claims) = &env.claims else { return true };
    let Ok(Some(meta)) = read_meta(records, number, partition) else { return true };
    let catalog = &env.engine.catalog;
    let undecided = catalog.undecided(meta.catalog.iter().map(|(d, l)| (d.as_str(), l.as_str())));
    if !undecided.is_empty() {
        tracing::info!(partition = number, labels = undecided.len(), "claiming the segment labels of a checkpoint");
    }
    undecided.is_empty() || claims.decide(&undecided, stop).await
}

/// Restores partition `number` before it processes anything. `Err` (logged, the partition not
/// ready) when its checkpoint cannot be used and the operator did not allow starting empty.
pub async fn restore_partition(
    env: &TaskEnv,
    cp: &CheckpointEnv,
    number: i32,
    partition: &mut Partition,
    topics: &[Option<String>; SIDES],
    stop: &CancellationToken,
) -> Result<Durability, String> {
    let started = Instant::now();
    cp.metrics.restoring.inc();
    cp.readiness.restoring(1);
    let result = restore_inner(env, cp, number, partition, topics, stop, started).await;
    cp.metrics.restoring.dec();
    cp.readiness.restoring(-1);
    cp.metrics.restore_seconds.inc_by(started.elapsed().as_secs_f64());
    if let Err(why) = &result {
        cp.readiness.set_refused(number, Some(why.clone()));
    }
    result
}

async fn restore_inner(
    env: &TaskEnv,
    cp: &CheckpointEnv,
    number: i32,
    partition: &mut Partition,
    topics: &[Option<String>; SIDES],
    stop: &CancellationToken,
    started: Instant,
) -> Result<Durability, String> {
    // The fence first: from its acknowledgement on, an earlier owner that wakes publishes nothing.
    let mut ownership =
        retry(stop, "fence the changelog partition", || Ownership::take(&cp.store, number, stop)).await?;
    let (mut checkpointer, mut restored) = read_checkpoint(env, cp, number, partition, stop).await?;
    let mut resume_from = [-1; SIDES];
    if let Some(owned) = ownership.as_ref().filter(|o| o.had_owner()) {
        // What an earlier owner sent before the fence must have landed, or failed, before the
        // outputs are read back (`checkpoint::ownership`).
        tokio::select! {
            _ = tokio::time::sleep_until((owned.fenced_at + cp.takeover_wait).into()) => {}
            _ = stop.cancelled() => return Err("stopped before it could read the outputs back".to_string()),
        }
        // Its checkpoint too: an owner paused in the middle of one may have finished it in that
        // time. Restoring from the meta read before it would then leave a later meta of the old
        // chain as the partition's latest, naming pieces this owner is about to delete or reuse.
        if retry(stop, "read the changelog's end", || owned.written_since(&cp.store)).await? {
            tracing::info!(
                partition = number,
                "an earlier owner wrote to the changelog after the fence: reading it again"
            );
            *partition = env.engine.partition(number);
            (checkpointer, restored) = read_checkpoint(env, cp, number, partition, stop).await?;
        }
    }
    let ends = retry(stop, "read the output topics' ends", || {
        let (reader, outputs) = (cp.reader.clone(), cp.outputs.clone());
        async move { blocking(move || effects::output_ends(&reader, &outputs)).await }
    })
    .await?;
    let mut suppression = Suppression::default();
    let mut read_from = OutputPositions::default();
    let (mut customers, mut bytes, mut read_back) = (0, 0, 0);
    if let Some(restored) = restored {
        for (side, topic) in topics.iter().enumerate() {
            let offset = restored.meta.offsets.iter().find(|(t, _)| Some(t) == topic.as_ref()).map(|(_, o)| *o);
            resume_from[side] = offset.unwrap_or(-1);
        }
        if number == 0 {
            if let Some(rules) = &restored.meta.rules {
                env.rules.import_state(rules);
            }
        }
        let from = restored.meta.outputs.clone();
        read_from = OutputPositions::from_vec(&from);
        let (s, n) = retry(stop, "read the outputs back", || {
            let (reader, from, ends) = (cp.reader.clone(), from.clone(), ends.clone());
            async move { blocking(move || effects::read_back(&reader, number, &from, &ends)).await }
        })
        .await?;
        (suppression, read_back) = (s, n);
        cp.metrics.restore_records.inc_by(n);
        (customers, bytes) = (restored.customers, restored.bytes);
        cp.metrics.restore_customers.inc_by(customers as u64);
        cp.metrics.restore_bytes.inc_by(bytes);
        let garbage: Vec<_> = restored
            .unreferenced
            .iter()
            .map(|key| crate::checkpoint::Record { key: key.clone(), value: None })
            .collect();
        checkpointer.resume(restored.meta);
        if !garbage.is_empty() {
            if let (Ok(end), Some(ownership)) = (cp.store.write(&garbage, stop).await, ownership.as_mut()) {
                ownership.wrote(end);
            }
        }
    }
    tracing::info!(
        partition = number,
        customers,
        bytes,
        outputs_read = read_back,
        to_suppress = suppression.len(),
        ?resume_from,
        seconds = started.elapsed().as_secs_f64(),
        store = cp.store.describe(),
        "partition state restored"
    );
    let outputs = OutputPositions::at(&ends);
    let fresh = checkpointer.clock().is_none() && resume_from == [-1; SIDES];
    Ok(Durability {
        fresh,
        checkpointer,
        outputs,
        read_from,
        suppression,
        ownership,
        resume_from,
        last: Instant::now(),
        changed: false,
    })
}

/// Reads partition `number`'s checkpoint from the store and restores it into `partition`. A
/// checkpoint that cannot be used is an `Err`, unless the operator allowed starting empty
/// (`checkpoint.on_incompatible` / `on_corrupt`): then `partition` is left empty and the next
/// checkpoint starts a new chain above every piece found.
async fn read_checkpoint(
    env: &TaskEnv,
    cp: &CheckpointEnv,
    number: i32,
    partition: &mut Partition,
    stop: &CancellationToken,
) -> Result<(Checkpointer, Option<crate::checkpoint::restore::Restored>), String> {
    let records = retry(stop, "read the checkpoint", || cp.store.read(number)).await?;
    cp.metrics.restore_records.inc_by(records.len() as u64);
    let records = latest(records);
    if !decide_checkpoint_labels(env, &records, number, partition, stop).await {
        return Err("stopped while deciding the checkpoint's segment labels".into());
    }
    let mut checkpointer = Checkpointer::new(number, cp.config.chunk_bytes, cp.config.max_deltas);
    match restore(&records, number, partition) {
        Ok(restored) => Ok((checkpointer, restored)),
        Err(error) => {
            cp.metrics.restore_failures.inc();
            let allowed = match &error {
                RestoreError::Incompatible { .. } | RestoreError::Unclaimed { .. } => {
                    cp.config.on_incompatible == OnIncompatible::Rebuild
                }
                _ => cp.config.on_corrupt == OnCorrupt::Reset,
            };
            if !allowed {
                tracing::error!(partition = number, code = error.code(), %error, "partition not started: its checkpoint cannot be restored");
                return Err(error.to_string());
            }
            tracing::warn!(partition = number, code = error.code(), %error,
                "starting the partition empty as configured (checkpoint.on_incompatible / on_corrupt): its state is lost");
            *partition = env.engine.partition(number);
            checkpointer.start_above(records.keys());
            Ok((checkpointer, None))
        }
    }
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, StoreError> + Send + 'static,
) -> Result<T, StoreError> {
    tokio::task::spawn_blocking(f).await.unwrap_or_else(|e| {
        Err(StoreError::Read { topic: String::new(), partition: -1, detail: format!("task failed: {e}") })
    })
}

/// Retries a store operation (brokers may be away) until it succeeds or the partition is stopped.
async fn retry<T, F, Fut>(stop: &CancellationToken, what: &str, mut f: F) -> Result<T, String>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, StoreError>>,
{
    loop {
        match f().await {
            Ok(v) => return Ok(v),
            Err(error) => {
                tracing::warn!(%error, retry_in = ?RETRY, "cannot {what}, retrying");
                tokio::select! {
                    _ = tokio::time::sleep(RETRY) => {}
                    _ = stop.cancelled() => return Err(format!("stopped before it could {what}")),
                }
            }
        }
    }
}

/// Positions the input at the restored checkpoint's offsets. The checkpoint is authoritative:
/// the group's committed offset may lie elsewhere (an older commit, or `auto.offset.reset` when
/// none survived), and starting past the checkpoint would lose the records in between, while
/// records before it are skipped anyway. A seek also drops what was already fetched from the old
/// position. Retried until it succeeds or the partition is stopped.
pub async fn seek_to_checkpoint(
    consumer: &Arc<LiveConsumer>,
    number: i32,
    sides: &[Option<InputSide>; SIDES],
    resume_from: [i64; SIDES],
    stop: &CancellationToken,
) {
    for (side, next) in sides.iter().zip(resume_from) {
        let Some(side) = side.as_ref().filter(|_| next >= 0) else { continue };
        loop {
            let (consumer, topic) = (Arc::clone(consumer), side.topic.clone());
            let sought = tokio::task::spawn_blocking(move || {
                consumer.seek(&topic, number, Offset::Offset(next), Duration::from_secs(5))
            })
            .await;
            match sought {
                Ok(Ok(())) => break,
                Ok(Err(error)) => tracing::warn!(partition = number, topic = side.topic, %error, retry_in = ?RETRY,
                    "cannot position the input at the checkpoint, retrying"),
                Err(error) => tracing::warn!(partition = number, %error, "seek task failed, retrying"),
            }
            tokio::select! {
                _ = tokio::time::sleep(RETRY) => {}
                _ = stop.cancelled() => return,
            }
        }
    }
}

/// The next offsets to record per side: what was processed, else what the restore resumed from.
pub fn offsets_of(topics: &[Option<String>; SIDES], next: [i64; SIDES]) -> Vec<(String, i64)> {
    topics.iter().zip(next).filter_map(|(t, n)| Some((t.clone()?, n)).filter(|(_, n)| *n >= 0)).collect()
}
