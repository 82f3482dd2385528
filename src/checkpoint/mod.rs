//! Durable state: checkpoints of each input partition's engine state, and how a restart, a crash
//! or a rebalance resumes from them without losing a customer or publishing an effect twice.
//!
//! # What is durable
//! Per input partition p: its customers (every field, cooldowns included), its segment partials
//! (window rings, sparse: only held buckets and their non-zero fields), the de-duplication memory,
//! the open tickets, the stream clock and the time of the last window change, the input offsets
//! the state reflects, and positions in the output topics (see *Effects*). The inactivity index is
//! not written: it is rebuilt on restore by filing every customer under its next deadline, so a
//! deadline that passed while the service was down comes due at the first clock advance, once,
//! at its own time. Next to that, each checkpoint carries the segment catalog's admission order
//! (so `max_values` admits the same values after a restart), and partition 0's carries the rule
//! evaluator (what fires, and up to where rules were evaluated).
//!
//! # Layout ([`snapshot`], [`restore`])
//! A checkpoint is chunked records of either a full *base* (`p/base/{seq}/{chunk}`) or a *delta*
//! of what changed since the previous checkpoint (`p/delta/{seq}/{chunk}`: customers touched,
//! segments written, ids remembered, tickets changed), then the *meta* `p/meta`, which names the
//! base and the deltas on top of it and holds the offsets, clock, output positions, catalog and
//! rules. The meta is written only once every chunk it names is acknowledged, so a crash in the
//! middle of a checkpoint leaves chunks nobody names: restore ignores them and the previous meta
//! still describes a complete state. When the deltas outweigh their base (or after
//! `checkpoint.max_deltas` of them) the next checkpoint is a new base, followed by tombstones of
//! the pieces it supersedes, so a compacted topic keeps restore time bounded by the state's size.
//!
//! # Where it is kept ([`store`])
//! A compacted Kafka topic (`checkpoint.topic`, created with `cleanup.policy=compact` and the
//! input's partition count when missing), changelog partition p holding input partition p, so
//! whichever instance is assigned p reads exactly p's records. Or, for a single instance, a local
//! directory (`checkpoint.directory`) holding the same records as files. Same format, same restore.
//!
//! # When ([`crate::service::partition_task`])
//! At the partition task's commit points (every `service.commit_interval`, on revoke, on
//! shutdown): apply → deliver the effects (awaited) → write the checkpoint (awaited; acks=all,
//! idempotent producer) → store the input offsets. Committed offsets therefore never run ahead of
//! a checkpoint. On assignment the task restores before it processes any record, and the
//! checkpoint's offsets are authoritative: the input is sought to them, and records below them
//! are skipped. A partition with no checkpoint yet writes one (empty) before it publishes
//! anything, so the output positions a later owner reads back from exist even if this owner dies
//! before its first commit point.
//!
//! # Effects: exactly once without transactions ([`effects`])
//! Every output record carries headers naming the input partition that produced it, its id
//! (`alert_id`, `message_id`, or the dead letter's source position) and the input offsets that had
//! been reached. Each checkpoint records, per output partition, a position such that every output
//! of this partition at or after it came from input after the checkpoint's offsets: the offset
//! after the last delivery acknowledged before the checkpoint (all deliveries are awaited before a
//! checkpoint is written, and a later record of the same idempotent producer lands after it), or
//! the high watermark when this partition has not published there yet. After a restore, the owner
//! reads its output topics from those positions to their current end and keeps the ids published
//! by its partition: exactly the effects of the input it is about to process again. Reprocessing
//! is deterministic (same state, same input, same ids), so each re-emitted effect whose id is in
//! that set is suppressed instead of published, and nothing that was not published is. The set is
//! dropped once processing has passed the furthest input offset it covers. While it is still
//! waiting, a checkpoint keeps the positions this restore read back from (the earlier of those
//! and its own): the records still to be re-emitted lie before the new deliveries, and a crash
//! before they are re-emitted must find them again. The restored checkpoint's offsets are
//! authoritative for the input too: the task seeks there before reading, whatever the group's
//! committed offset says. Effects produced by
//! the wall-clock tick depend on when the tick runs, not only on the input; their ids are still
//! deterministic (kind, customer, stream time), so a tick transition re-done after a restore is
//! suppressed by id like any other. Threshold alerts are not tied to input offsets at all: the
//! owner of partition 0 raises them when the group's partitions have all passed a boundary
//! (`service::live_rules`), which may be long after its own input moved on. They carry no input
//! header, and their ids stay in the set until re-emitted (then suppressed) rather than until
//! the input passes them; the restored rule state re-evaluates every boundary after its own
//! `evaluated_until`, so each of them is re-emitted once at most.
//!
//! The same read-back closes the gap inside one run: a delivery can fail although the broker
//! appended the record (its acknowledgement timed out while the broker stalled), and the producer
//! that sends it again after a fatal error has a new producer id, which the broker's idempotence
//! does not match to the old one. So before a batch's failed records are sent again, the owner
//! reads its outputs from the position after its last acknowledged delivery (the batch before
//! was acknowledged whole, so anything of this batch lies past it) and does not resend a record
//! whose id it finds (`service::durable`, `find_landed`). It reads a second after the failed
//! round, so a request still on its way has that long to be appended: the window of risk.
//!
//! # Zombies ([`ownership`])
//! A new owner fences the changelog partition before it restores; an owner confirms it is still
//! the owner before it publishes or checkpoints, so an instance paused past the session timeout
//! publishes nothing for a partition that moved meanwhile.
//!
//! # Compatibility ([`fingerprint`], [`format`])
//! The format is versioned and independent of the in-memory layout; segments are named by
//! (dimension, label). Each meta carries a fingerprint of the configuration that shapes state
//! (windows, dimensions, `max_values`); a different fingerprint is refused at restore with a
//! message naming what changed, unless `checkpoint.on_incompatible = "rebuild"`. A record that
//! cannot be read is reported with its partition, key and offset, and the partition is not
//! processed (the service stays not ready) unless `checkpoint.on_corrupt = "reset"`.

pub mod chunk;
pub mod codec;
pub mod effects;
pub mod fingerprint;
pub mod format;
pub mod memory;
pub mod meta;
pub mod metrics;
pub mod ownership;
pub mod restore;
pub mod snapshot;
pub mod store;

pub use memory::MemoryStore;
pub use meta::Meta;
pub use restore::{restore, RestoreError, Restored, Stored};
pub use snapshot::{Checkpointer, Extras, Plan, Record};
