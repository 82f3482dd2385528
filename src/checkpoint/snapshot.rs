//! Taking checkpoints of one partition: which pieces to write (a full base, or a delta of what
//! changed since the previous checkpoint), cut into chunks, then the meta that names them, then
//! tombstones for what a new base made obsolete.

use super::chunk::ChunkEncoder;
use super::fingerprint::fingerprint;
use super::meta::{Meta, Piece, RulesState};
use crate::engine::Partition;
use crate::event::Millis;

/// One record for the store: a key and a value, or a tombstone (`None`).
#[derive(Debug, Clone, PartialEq)]
pub struct Record {
    pub key: String,
    pub value: Option<Vec<u8>>,
}

/// A checkpoint ready to write, in three steps that must each be acknowledged before the next.
#[derive(Debug)]
pub struct Plan {
    pub chunks: Vec<Record>,
    pub meta: Record,
    pub tombstones: Vec<Record>,
    pub full: bool,
    /// Bytes of chunks and meta.
    pub bytes: u64,
    pub(crate) next: Meta,
}

/// What the service adds to a checkpoint besides the engine state.
#[derive(Debug, Clone, Default)]
pub struct Extras {
    pub offsets: Vec<(String, i64)>,
    pub outputs: Vec<(String, i32, i64)>,
    pub rules: Option<RulesState>,
}

pub fn meta_key(partition: i32) -> String {
    format!("{partition}/meta")
}

fn piece_key(partition: i32, kind: &str, seq: u64, chunk: u32) -> String {
    format!("{partition}/{kind}/{seq}/{chunk}")
}

/// Checkpoint bookkeeping of one partition.
#[derive(Debug)]
pub struct Checkpointer {
    partition: i32,
    chunk_bytes: usize,
    max_deltas: usize,
    /// The last checkpoint written (or restored).
    last: Option<Meta>,
    /// A write failed, or nothing was written yet: the next checkpoint must be a full base.
    force_base: bool,
    /// Sequence numbers up to here may be in use by records of an abandoned chain.
    floor_seq: u64,
}

impl Checkpointer {
    pub fn new(partition: i32, chunk_bytes: usize, max_deltas: usize) -> Self {
        Checkpointer {
            partition,
            chunk_bytes: chunk_bytes.max(1024),
            max_deltas,
            last: None,
            force_base: true,
            floor_seq: 0,
        }
    }

    /// Continues the chain of a restored checkpoint.
    pub fn resume(&mut self, meta: Meta) {
        self.last = Some(meta);
        self.force_base = false;
    }

    /// Starts a new chain above every sequence number in `keys` (records of a checkpoint that was
    /// reset or rebuilt), so none of its keys is reused while its meta may still be the latest.
    pub fn start_above<'a>(&mut self, keys: impl IntoIterator<Item = &'a String>) {
        let seqs = keys.into_iter().filter_map(|k| k.split('/').nth(2).and_then(|s| s.parse::<u64>().ok()));
        self.floor_seq = seqs.chain([self.floor_seq]).max().unwrap_or(0);
    }

    pub fn last(&self) -> Option<&Meta> {
        self.last.as_ref()
    }

    /// Takes the partition's state (all of it, or what changed) into a plan.
    pub fn plan(&mut self, partition: &mut Partition, extras: Extras) -> Plan {
        let seq = self.last.as_ref().map_or(1, |m| m.seq + 1).max(self.floor_seq + 1);
        let tracking = partition.track_changes();
        let full = self.force_base || !tracking || self.wants_base();
        let kind = if full { "base" } else { "delta" };
        let chunks =
            if full { encode_full(partition, self.chunk_bytes) } else { encode_delta(partition, self.chunk_bytes) };
        let bytes: u64 = chunks.iter().map(|c| c.len() as u64).sum();
        let piece = Piece { seq, chunks: chunks.len() as u32, bytes };
        let (base, deltas) = match (&self.last, full) {
            (Some(last), false) => (last.base, last.deltas.iter().copied().chain([piece]).collect()),
            _ => (Some(piece), Vec::new()),
        };
        let mut tombstones = Vec::new();
        if let (Some(last), true) = (&self.last, full) {
            for old in last.base.iter().chain(last.deltas.iter()) {
                let old_kind = if Some(*old) == last.base { "base" } else { "delta" };
                for c in 0..old.chunks {
                    tombstones.push(Record { key: piece_key(self.partition, old_kind, old.seq, c), value: None });
                }
            }
        }
        let next = Meta {
            fingerprint: fingerprint(partition.settings()),
            partition: self.partition,
            seq,
            base,
            deltas,
            offsets: extras.offsets,
            clock: partition.clock(),
            last_change: partition.last_change(),
            outputs: extras.outputs,
            catalog: partition.catalog().admitted(),
            rules: extras.rules,
            customers: partition.customer_count() as u64,
        };
        let meta_bytes = next.encode();
        let total = bytes + meta_bytes.len() as u64;
        let chunks = chunks
            .into_iter()
            .enumerate()
            .map(|(i, value)| Record { key: piece_key(self.partition, kind, seq, i as u32), value: Some(value) })
            .collect();
        let meta = Record { key: meta_key(self.partition), value: Some(meta_bytes) };
        // Until this plan is known to be written, a failure must lead to a full base: the changes
        // it took are gone from the dirty sets.
        self.force_base = true;
        Plan { chunks, meta, tombstones, full, bytes: total, next }
    }

    /// The plan's meta was acknowledged: it is now the checkpoint to build on.
    pub fn written(&mut self, plan: &Plan) {
        self.last = Some(plan.next.clone());
        self.force_base = false;
    }

    /// A new base pays off once the deltas outweigh it, or after `max_deltas` of them.
    fn wants_base(&self) -> bool {
        let Some(last) = &self.last else { return true };
        let Some(base) = last.base else { return true };
        let delta_bytes: u64 = last.deltas.iter().map(|d| d.bytes).sum();
        last.deltas.len() >= self.max_deltas || delta_bytes > base.bytes
    }

    pub fn clock(&self) -> Option<Millis> {
        self.last.as_ref().map(|m| m.clock)
    }
}

/// Appends entries to chunks of about `target` bytes.
struct Chunker {
    target: usize,
    current: ChunkEncoder,
    done: Vec<Vec<u8>>,
}

impl Chunker {
    fn new(target: usize) -> Self {
        Chunker { target, current: ChunkEncoder::default(), done: Vec::new() }
    }

    fn next(&mut self) -> &mut ChunkEncoder {
        if self.current.size() >= self.target {
            let full = std::mem::take(&mut self.current);
            self.done.push(full.finish());
        }
        &mut self.current
    }

    fn finish(mut self) -> Vec<Vec<u8>> {
        if !self.current.is_empty() || self.done.is_empty() {
            self.done.push(self.current.finish());
        }
        self.done
    }
}

fn encode_full(partition: &mut Partition, target: usize) -> Vec<Vec<u8>> {
    partition.clear_changes();
    let mut out = Chunker::new(target);
    let catalog = std::sync::Arc::clone(partition.catalog());
    for (_, id, customer) in partition.customers().iter() {
        out.next().customer(&catalog, &id, customer);
    }
    for mut entry in partition.partition_view().segments.iter_mut() {
        entry.dirty = false;
        let id = *entry.key();
        out.next().segment(&catalog, id, entry.value());
    }
    for (id, at) in partition.dedup_mut().entries() {
        out.next().dedup(id, at);
    }
    for ticket in partition.tickets_mut().entries() {
        out.next().ticket(ticket);
    }
    out.finish()
}

fn encode_delta(partition: &mut Partition, target: usize) -> Vec<Vec<u8>> {
    let mut out = Chunker::new(target);
    let catalog = std::sync::Arc::clone(partition.catalog());
    for (id, index) in partition.take_dirty_customers() {
        if let Some(customer) = partition.customers().get(index) {
            out.next().customer(&catalog, &id, customer);
        }
    }
    for mut entry in partition.partition_view().segments.iter_mut() {
        if entry.dirty {
            entry.dirty = false;
            let id = *entry.key();
            out.next().segment(&catalog, id, entry.value());
        }
    }
    for (id, at) in partition.dedup_mut().take_journal() {
        out.next().dedup(&id, at);
    }
    for ticket in partition.tickets_mut().take_changes() {
        out.next().ticket(ticket);
    }
    out.finish()
}
