//! Fencing a zombie without transactions: an owner that lost its partition while paused does not
//! publish for it, nor overwrite its checkpoint.
//!
//! # The problem
//! An instance may stop for longer than the group's session timeout (a GC-like stall, a frozen VM,
//! a network cut). The group then gives its partitions to others. When it wakes, its partition
//! tasks still hold batches and do not know yet: its consumer learns of the loss only at its next
//! exchange with the coordinator. Kafka transactions would fence it by producer epoch; tansu has
//! none, and many clusters restrict them.
//!
//! # The mechanism
//! Changelog partition p is written only by the owner of input partition p. A new owner first
//! writes a *fence* record (`p/owner`) there, before it reads p's checkpoint, and remembers the
//! offset after its own last write (`own_end`; each checkpoint write moves it). Before it
//! publishes effects or writes a checkpoint, an owner whose last confirmation is older than half
//! a [`LEASE`] asks the changelog partition's end: if it lies past `own_end`, someone else wrote
//! there, and if that includes a fence, another instance owns p now. The task then publishes
//! nothing more for p (its batch is dropped, its offsets not stored) and waits for its revoke;
//! the new owner reprocesses that input from its checkpoint. Records past `own_end` with no fence
//! among them are the late writes of a previous owner that gave the partition up (an abandoned
//! final checkpoint): not a takeover, so `own_end` moves past them.
//!
//! A paused instance always confirms again on waking: the lease is measured on the monotonic
//! clock, which runs on while a process is stopped, and any pause longer than the session timeout
//! is far longer than the lease.
//!
//! # Why no effect is published twice, and the window of risk
//! The new owner writes its fence, waits ([`takeover_wait`], counted from the fence's
//! acknowledgement and mostly spent restoring anyway), then reads its outputs' ends and reads back
//! what was published past its checkpoint (`checkpoint::effects`): those ids are suppressed. An old
//! owner hands a record to its producer only within [`LEASE`] of a confirmation that saw no fence,
//! i.e. of a moment before the fence was written: the lease is checked right before each hand-off
//! ([`Ownership::lease_until`]), since a pause may fall after the confirmation, and a record whose
//! lease ran out is not sent but waits for a new confirmation (`tests/kafka_cluster.rs` once caught
//! a record handed over on waking, seconds after the new owner's read-back: published twice). And
//! the producer sends a record within `message.timeout.ms` of receiving it or fails it (librdkafka
//! scans its queues for expired records before it sends, also right after a pause). A failed record
//! is sent again only after a new confirmation (`KafkaSink::deliver_round`). So whatever an old
//! owner publishes is sent before `LEASE + message.timeout.ms` after the fence and is read back,
//! unless a request already on its way takes longer than the remaining second to be appended (a
//! broker or network stalling exactly then): that is the window of risk. A partition whose
//! changelog was empty before the fence had no earlier owner and does not wait.
//!
//! Checkpoints obey the same rules: the changelog producer has the same short `message.timeout.ms`,
//! and an owner confirms before every round of sends of a checkpoint (its chunks, its meta, its
//! tombstones, and each retry), not only when it starts one, and hands each record over within its
//! lease, since a pause may fall in the middle of it. So an old owner's last checkpoint records
//! land within the same time after the fence. The new owner restores from what it reads right after
//! its fence and, once the wait is over, asks whether anything was written after the fence; if so
//! it reads the checkpoint again and restores from that. Otherwise a meta of the old chain landing
//! after the restore would become the partition's latest, naming pieces the new owner deletes (a
//! new base tombstones the chain it continued) or writes again under the same keys: the next
//! restore would fail, or read a mixture of two chains.
//!
//! A directory store has a single instance by design: nothing to fence there. Without
//! checkpoints (`checkpoint.enabled = false`) there is no changelog and no fencing; partials are
//! fenced separately by their epochs (`cluster`).

use std::time::{Duration, Instant};

use tokio_util::sync::CancellationToken;

use super::snapshot::Record;
use super::store::{Store, StoreError};
use crate::engine::clock::{SystemClock, WallClock};

/// How long a confirmation of ownership lets an owner publish without asking again.
pub const LEASE: Duration = Duration::from_millis(500);

/// Whether a record may no longer be handed to a producer under `lease` (an owner's
/// [`Ownership::lease_until`]; `None`: no ownership to keep, never).
pub fn lease_passed(lease: Option<Instant>) -> bool {
    lease.is_some_and(|until| Instant::now() >= until)
}

/// How long a new owner waits after its fence before it reads its outputs back: past the last
/// moment an earlier owner's producer could still send (its `message.timeout.ms` after a
/// confirmation), with a second to spare for the request in flight.
pub fn takeover_wait(message_timeout: Duration) -> Duration {
    LEASE + message_timeout + Duration::from_secs(1)
}

pub fn owner_key(partition: i32) -> String {
    format!("{partition}/owner")
}

/// One partition's hold on its changelog partition.
#[derive(Debug)]
pub struct Ownership {
    partition: i32,
    /// Offset after this owner's last write to the changelog partition.
    own_end: i64,
    /// When the changelog was last seen with no later fence (the moment the question was asked).
    confirmed: Instant,
    /// When the fence was acknowledged; outputs are read back only [`takeover_wait`] after it.
    pub fenced_at: Instant,
    /// Offset of the fence: 0 when the changelog partition never held anything before it.
    fence_offset: i64,
}

impl Ownership {
    /// Writes the fence of a new owner. `None`: the store has no owners to fence (a directory).
    pub async fn take(
        store: &Store,
        partition: i32,
        stop: &CancellationToken,
    ) -> Result<Option<Ownership>, StoreError> {
        let stamp = format!("taken at {} ms", SystemClock.now_ms());
        let fence = Record { key: owner_key(partition), value: Some(stamp.into_bytes()) };
        let Some(own_end) = store.write(std::slice::from_ref(&fence), stop).await? else { return Ok(None) };
        let now = Instant::now();
        Ok(Some(Ownership { partition, own_end, confirmed: now, fenced_at: now, fence_offset: own_end - 1 }))
    }

    /// A number above every earlier owner's and below every later one's: the fence's offset,
    /// plus one (0 is no epoch). Partials are published under it (`cluster`).
    pub fn epoch(&self) -> u64 {
        u64::try_from(self.fence_offset).unwrap_or(0) + 1
    }

    /// Whether the partition may have had an owner before (its changelog held records).
    pub fn had_owner(&self) -> bool {
        self.fence_offset > 0
    }

    pub fn partition(&self) -> i32 {
        self.partition
    }

    /// Notes a write of this owner that ended at `end`.
    pub fn wrote(&mut self, end: Option<i64>) {
        if let Some(end) = end {
            self.own_end = self.own_end.max(end);
        }
    }

    /// Whether anything was written to the changelog partition after this owner's last write.
    pub async fn written_since(&self, store: &Store) -> Result<bool, StoreError> {
        Ok(store.end(self.partition).await?.is_some_and(|end| end > self.own_end))
    }

    /// Until when this owner may hand records to a producer: [`LEASE`] after its last
    /// confirmation. Checked right before each hand-off, with nothing to wait for in between, so a
    /// pause anywhere after the confirmation (even between it and the send) is caught.
    pub fn lease_until(&self) -> Instant {
        self.confirmed + LEASE
    }

    /// Whether this instance still owns the partition: asks the changelog once half the lease is
    /// gone, so a confirmed owner has at least half a lease left to hand its records over.
    pub async fn confirm(&mut self, store: &Store) -> Result<bool, StoreError> {
        if self.confirmed.elapsed() < LEASE / 2 {
            return Ok(true);
        }
        let asked = Instant::now();
        let end = store.end(self.partition).await?.unwrap_or(self.own_end);
        if end > self.own_end {
            let key = owner_key(self.partition);
            let later = store.read_from(self.partition, Some(self.own_end)).await?;
            if later.iter().any(|r| r.key == key && r.offset >= self.own_end) {
                return Ok(false);
            }
            self.own_end = end;
        }
        self.confirmed = asked;
        Ok(true)
    }
}
