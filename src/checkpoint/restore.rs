//! Restoring one partition from the records of its store: the latest meta names the base and
//! deltas to apply, in order; anything it does not name (a checkpoint cut short by a crash, or
//! pieces a crash kept from being deleted) is ignored, and reported so it can be deleted.

use std::collections::BTreeMap;

use thiserror::Error;

use super::chunk::{self, DecodeContext, Entry};
use super::codec::DecodeError;
use super::fingerprint::{differences, fingerprint};
use super::meta::Meta;
use super::ownership::owner_key;
use super::snapshot::meta_key;
use crate::engine::Partition;
use crate::state::catalog::OTHER;

/// One record as read back from a store: its key, where it was read (Kafka offset; -1 in a
/// directory) and its value (`None`: a tombstone).
#[derive(Debug, Clone)]
pub struct Stored {
    pub key: String,
    pub offset: i64,
    pub value: Option<Vec<u8>>,
}

#[derive(Debug, Error)]
pub enum RestoreError {
    #[error("checkpoint of partition {partition}: record `{key}` at offset {offset} cannot be read: {source}")]
    Corrupt {
        partition: i32,
        key: String,
        offset: i64,
        #[source]
        source: DecodeError,
    },
    #[error("checkpoint of partition {partition}: record `{key}` named by its meta (offset {offset}) is missing")]
    Missing { partition: i32, key: String, offset: i64 },
    #[error(
        "checkpoint of partition {partition} was taken with a configuration that shapes state differently: \
         {changes}; set checkpoint.on_incompatible = \"rebuild\" to start this partition empty instead"
    )]
    Incompatible { partition: i32, changes: String },
    #[error(
        "checkpoint of partition {partition} admitted segment `{dimension}`=`{label}`, which the claims topic \
         maps to `other` (the checkpoint was taken before admission was decided by claims, or with another \
         claims topic); set checkpoint.on_incompatible = \"rebuild\" to start this partition empty instead"
    )]
    Unclaimed { partition: i32, dimension: String, label: String },
}

impl RestoreError {
    pub fn code(&self) -> &'static str {
        match self {
            RestoreError::Corrupt { .. } => "corrupt",
            RestoreError::Missing { .. } => "missing",
            RestoreError::Incompatible { .. } => "incompatible",
            RestoreError::Unclaimed { .. } => "unclaimed",
        }
    }
}

/// The latest value of each key (a tombstone removes it), with the offset it was read at.
pub fn latest(records: impl IntoIterator<Item = Stored>) -> BTreeMap<String, (i64, Vec<u8>)> {
    let mut map = BTreeMap::new();
    for r in records {
        match r.value {
            Some(v) => {
                map.insert(r.key, (r.offset, v));
            }
            None => {
                map.remove(&r.key);
            }
        }
    }
    map
}

/// What a restore found.
#[derive(Debug)]
pub struct Restored {
    pub meta: Meta,
    pub customers: usize,
    pub bytes: u64,
    /// Keys of this partition that the meta does not name: safe to delete.
    pub unreferenced: Vec<String>,
}

/// Reads the meta of `partition`, if there is one; checks the fingerprint.
pub fn read_meta(
    records: &BTreeMap<String, (i64, Vec<u8>)>,
    number: i32,
    engine_partition: &Partition,
) -> Result<Option<Meta>, RestoreError> {
    let key = meta_key(number);
    let Some((offset, bytes)) = records.get(&key) else { return Ok(None) };
    let meta = Meta::decode(bytes).map_err(|source| RestoreError::Corrupt {
        partition: number,
        key,
        offset: *offset,
        source,
    })?;
    let changes = differences(&meta.fingerprint, &fingerprint(engine_partition.settings()));
    if !changes.is_empty() {
        return Err(RestoreError::Incompatible { partition: number, changes: changes.join("; ") });
    }
    Ok(Some(meta))
}

/// Restores `partition` (fresh, empty) from the records of its store. `Ok(None)`: no checkpoint.
pub fn restore(
    records: &BTreeMap<String, (i64, Vec<u8>)>,
    number: i32,
    partition: &mut Partition,
) -> Result<Option<Restored>, RestoreError> {
    let Some(meta) = read_meta(records, number, partition)? else { return Ok(None) };
    let meta_offset = records.get(&meta_key(number)).map_or(-1, |r| r.0);
    let catalog = std::sync::Arc::clone(partition.catalog());
    if catalog.is_claimed() {
        // The claims decided every label already (`service::durable`); one they did not admit
        // would merge two segments' state into `other`, which a restore cannot split again.
        let unclaimed = meta.catalog.iter().find(|(dimension, label)| {
            label != OTHER && catalog.dimension_index(dimension).is_some() && catalog.find(dimension, label).is_none()
        });
        if let Some((dimension, label)) = unclaimed {
            return Err(RestoreError::Unclaimed {
                partition: number,
                dimension: dimension.clone(),
                label: label.clone(),
            });
        }
    }
    for (dimension, label) in &meta.catalog {
        if let Some(dim) = catalog.dimension_index(dimension) {
            // First-seen mode admits in the checkpoint's order; claims mode only looks up.
            catalog.intern(dim, label);
        }
    }
    let settings = std::sync::Arc::clone(partition.settings());
    let cx = DecodeContext { catalog: &catalog, windows: &settings.windows };
    // The owner's fence is not part of the state, and not garbage either (`ownership`).
    let mut named: std::collections::HashSet<String> = [meta_key(number), owner_key(number)].into();
    let mut bytes = 0u64;
    let pieces = meta.base.iter().map(|p| ("base", p)).chain(meta.deltas.iter().map(|p| ("delta", p)));
    reserve_customers(records, number, &meta, partition);
    for (kind, piece) in pieces {
        for c in 0..piece.chunks {
            let key = format!("{number}/{kind}/{}/{c}", piece.seq);
            let Some((offset, value)) = records.get(&key) else {
                return Err(RestoreError::Missing { partition: number, key, offset: meta_offset });
            };
            bytes += value.len() as u64;
            chunk::decode(value, &cx, |entry| apply(partition, entry)).map_err(|source| RestoreError::Corrupt {
                partition: number,
                key: key.clone(),
                offset: *offset,
                source,
            })?;
            named.insert(key);
        }
    }
    partition.restore_clock(meta.clock, meta.last_change);
    partition.finish_restore();
    partition.track_changes();
    partition.clear_changes();
    let prefix = format!("{number}/");
    let unreferenced =
        records.keys().filter(|k| k.starts_with(&prefix) && !named.contains(*k)).cloned().collect::<Vec<_>>();
    Ok(Some(Restored { customers: partition.customer_count(), bytes, meta, unreferenced }))
}

/// Makes room for the customers the meta counts, so the customer table is not rehashed as they
/// arrive; never for more than the chunks present could hold (a customer entry takes at least 16
/// bytes), so a corrupt count cannot make a restore allocate much.
fn reserve_customers(records: &BTreeMap<String, (i64, Vec<u8>)>, number: i32, meta: &Meta, partition: &mut Partition) {
    const MIN_CUSTOMER_BYTES: u64 = 16;
    let pieces = meta.base.iter().map(|p| ("base", p)).chain(meta.deltas.iter().map(|p| ("delta", p)));
    let present: u64 = pieces
        .flat_map(|(kind, piece)| (0..piece.chunks).map(move |c| format!("{number}/{kind}/{}/{c}", piece.seq)))
        // Up to the first missing chunk, where the restore stops anyway (a count in the meta
        // cannot make this loop long).
        .map_while(|key| records.get(&key).map(|(_, value)| value.len() as u64))
        .sum();
    partition.reserve_customers(meta.customers.min(present / MIN_CUSTOMER_BYTES));
}

fn apply(partition: &mut Partition, entry: Entry) {
    match entry {
        Entry::Customer(id, customer) => partition.restore_customer(id, customer),
        Entry::Segment(id, mut partial) => {
            partial.dirty = false;
            partition.partition_view().segments.insert(id, partial);
        }
        Entry::Dedup(id, at) => partition.dedup_mut().remember(&id, at),
        Entry::Ticket(ticket) => partition.tickets_mut().restore(ticket),
    }
}

#[cfg(test)]
mod tests {

    use super::*;
    use crate::checkpoint::{Checkpointer, Extras, MemoryStore};
    use crate::engine::{Engine, NoBoundaries};
    use crate::event::{Event, Interaction, Payload};

    fn engine() -> Engine {
        let env = [("CXPULSE_SEGMENTS__MAX_VALUES".to_string(), "2".to_string())];
        Engine::new(&crate::config::load(None, &env).unwrap())
    }

    /// A checkpoint of one partition whose customers met plans `pro`, `free`, `team` (first seen:
    /// `team` is `other`).
    fn checkpoint() -> BTreeMap<String, (i64, Vec<u8>)> {
        let engine = engine();
        let mut partition = engine.partition(0);
        for (i, plan) in ["pro", "free", "team"].iter().enumerate() {
            let event = Event {
                customer_id: format!("c{i}").into(),
                ts: 1_767_225_600_000 + i as i64,
                event_id: None,
                segments: vec![("plan".into(), (*plan).into())],
                payload: Payload::Interaction(Interaction::Login),
            };
            partition.apply(&event, &mut Vec::new(), &mut NoBoundaries);
        }
        let mut store = MemoryStore::default();
        let plan = Checkpointer::new(0, 1 << 16, 4).plan(&mut partition, Extras::default());
        store.write(&plan);
        latest(store.records())
    }

    fn labels(engine: &Engine) -> Vec<String> {
        engine.catalog.all_segments().into_iter().map(|(_, d, l)| format!("{d}={l}")).collect()
    }

    #[test]
    fn with_claims_a_restore_only_looks_labels_up() {
        let records = checkpoint();
        let engine = engine();
        engine.catalog.require_claims();
        // The claims decided the checkpoint's labels in its order (as `service::durable` does).
        engine.catalog.apply_claim(0, "pro");
        engine.catalog.apply_claim(0, "free");
        let before = labels(&engine);
        let restored = restore(&records, 0, &mut engine.partition(0)).unwrap().unwrap();
        assert_eq!(restored.customers, 3);
        assert_eq!(labels(&engine), before, "nothing admitted by the restore");
        assert_eq!(before, ["all=all", "plan=free", "plan=other", "plan=pro"]);
    }

    #[test]
    fn with_claims_a_label_the_claims_did_not_admit_is_refused() {
        let records = checkpoint();
        let engine = engine();
        engine.catalog.require_claims();
        engine.catalog.apply_claim(0, "free");
        engine.catalog.apply_claim(0, "team");
        let error = restore(&records, 0, &mut engine.partition(0)).unwrap_err();
        assert!(matches!(&error, RestoreError::Unclaimed { label, .. } if label == "pro"), "{error}");
    }
}
