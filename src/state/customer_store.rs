//! A partition's customers: dense, in insertion order, found by id through a table of `u32`
//! indices.
//!
//! Why not the `DashMap` the segment figures use: a partition's customers are only ever reached
//! through `&mut Partition`, by the one task that owns the partition (readers such as `/metrics`
//! read segment partials, never customers), so they need no locking or sharding. A plain table
//! costs 4 bytes + 1 control byte per slot instead of a whole `(id, Customer)` entry per slot,
//! and each id is stored once, in 16 bytes ([`customer_id`](super::customer_id)).
//!
//! Layout: records (customer + stored id) in chunks of 65 536 that never move once full, so
//! growth never copies or doubles a large allocation; an [`IdTable`] of record indices keyed by
//! the id's hash (seeded at random per store), each match confirmed against the stored id, so
//! look-ups are exact. Customers are never removed, so indices stay valid for the partition's life.

use super::customer::Customer;
use super::customer_id::{IdArena, IdHasher, IdKey, IdText, StoredId};
use super::id_table::IdTable;
use super::prefetch::prefetch;

const CHUNK_BITS: u32 = 16;
const CHUNK: usize = 1 << CHUNK_BITS;

/// A customer's index in its partition's store.
pub type CustomerIndex = u32;

#[derive(Debug)]
struct Record {
    customer: Customer,
    id: StoredId,
}

#[derive(Debug)]
pub struct CustomerStore {
    chunks: Vec<Vec<Record>>,
    table: IdTable,
    arena: IdArena,
    hasher: IdHasher,
    len: usize,
}

impl Default for CustomerStore {
    fn default() -> Self {
        CustomerStore {
            chunks: Vec::new(),
            table: IdTable::default(),
            arena: IdArena::default(),
            hasher: IdHasher::random(),
            len: 0,
        }
    }
}

fn split(index: CustomerIndex) -> (usize, usize) {
    ((index >> CHUNK_BITS) as usize, index as usize & (CHUNK - 1))
}

/// The hash of the id stored at an index, for the table to move its entries when it grows.
fn stored_hash<'s>(chunks: &'s [Vec<Record>], arena: &'s IdArena, hasher: &'s IdHasher) -> impl Fn(u32) -> u64 + 's {
    move |i| record_in(chunks, i).map_or(0, |r| hasher.stored(arena, &r.id))
}

fn record_in(chunks: &[Vec<Record>], index: CustomerIndex) -> Option<&Record> {
    let (chunk, at) = split(index);
    chunks.get(chunk)?.get(at)
}

/// Appends a record to the chunks (doubling while the last chunk is small, never past one chunk).
fn push_record(chunks: &mut Vec<Vec<Record>>, record: Record) {
    if chunks.last().is_none_or(|c| c.len() == CHUNK) {
        chunks.push(Vec::new());
    }
    if let Some(chunk) = chunks.last_mut() {
        if chunk.len() == chunk.capacity() {
            chunk.reserve_exact(chunk.capacity().max(16).min(CHUNK - chunk.len()));
        }
        chunk.push(record);
    }
}

impl CustomerStore {
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    fn record(&self, index: CustomerIndex) -> Option<&Record> {
        record_in(&self.chunks, index)
    }

    /// The index of customer `id`, if tracked.
    pub fn find<'a>(&self, id: impl Into<IdKey<'a>>) -> Option<CustomerIndex> {
        let key = id.into();
        self.find_hashed(key, self.hasher.key(&key))
    }

    /// [`find`](Self::find) with the id's hash already computed by [`hasher`](Self::hasher).
    pub fn find_hashed(&self, key: IdKey<'_>, hash: u64) -> Option<CustomerIndex> {
        let (chunks, arena) = (&self.chunks, &self.arena);
        self.table.find(hash, |i| record_in(chunks, i).is_some_and(|r| arena.matches(&r.id, &key)))
    }

    /// The hasher look-ups use: a clone computes the same hashes on another thread.
    pub fn hasher(&self) -> &IdHasher {
        &self.hasher
    }

    /// The first step of finding a customer a few events ahead: asks for its table slot's cache
    /// line ([`prefetch`]).
    #[inline]
    pub fn prefetch_slot(&self, hash: u64) {
        self.table.prefetch(hash);
    }

    /// The second step, once the slot is likely cached: asks for the record its slot points to
    /// (both lines it may straddle).
    #[inline]
    pub fn prefetch_record(&self, hash: u64) {
        if let Some(record) = self.table.first_candidate(hash).and_then(|i| self.record(i)) {
            let start = std::ptr::from_ref(record);
            prefetch(start);
            prefetch(start.cast::<u8>().wrapping_add(std::mem::size_of::<Record>() - 1));
        }
    }

    /// Makes room in the table for `additional` more customers (a restore knows how many come),
    /// so it is not rehashed while they arrive.
    pub fn reserve(&mut self, additional: usize) {
        self.table.reserve(additional, stored_hash(&self.chunks, &self.arena, &self.hasher));
    }

    /// Puts `customer` in place of the tracked customer `id`, or adds it: `Some(true)` when added,
    /// None once 2^32 - 1 are tracked.
    pub fn upsert<'a>(&mut self, id: impl Into<IdKey<'a>>, customer: Customer) -> Option<bool> {
        let key = id.into();
        match self.find(key) {
            Some(index) => {
                *self.get_mut(index)? = customer;
                Some(false)
            }
            None => self.insert_new(key, customer).map(|_| true),
        }
    }

    pub fn contains<'a>(&self, id: impl Into<IdKey<'a>>) -> bool {
        self.find(id).is_some()
    }

    /// Adds a customer not tracked yet and returns its index; None once 2^32 - 1 are tracked.
    pub fn insert_new<'a>(&mut self, id: impl Into<IdKey<'a>>, customer: Customer) -> Option<CustomerIndex> {
        let key = id.into();
        self.insert_new_hashed(key, self.hasher.key(&key), customer)
    }

    /// [`insert_new`](Self::insert_new) with the id's hash already computed by [`hasher`](Self::hasher).
    pub fn insert_new_hashed(&mut self, key: IdKey<'_>, hash: u64, customer: Customer) -> Option<CustomerIndex> {
        let index = CustomerIndex::try_from(self.len).ok().filter(|i| *i != CustomerIndex::MAX)?;
        let stored = self.arena.store(key)?;
        push_record(&mut self.chunks, Record { customer, id: stored });
        self.len += 1;
        self.table.insert_unique(hash, index, stored_hash(&self.chunks, &self.arena, &self.hasher));
        Some(index)
    }

    pub fn get(&self, index: CustomerIndex) -> Option<&Customer> {
        self.record(index).map(|r| &r.customer)
    }

    pub fn get_mut(&mut self, index: CustomerIndex) -> Option<&mut Customer> {
        let (chunk, at) = split(index);
        self.chunks.get_mut(chunk)?.get_mut(at).map(|r| &mut r.customer)
    }

    /// A customer and its id at once (for filing it where its id may be needed).
    pub fn get_mut_with_id(&mut self, index: CustomerIndex) -> Option<(IdText<'_>, &mut Customer)> {
        let (chunk, at) = split(index);
        let record = self.chunks.get_mut(chunk)?.get_mut(at)?;
        Some((self.arena.render(&record.id), &mut record.customer))
    }

    /// The id of a tracked customer (rendered when it is stored as a UUID's 16 bytes).
    pub fn id(&self, index: CustomerIndex) -> Option<IdText<'_>> {
        self.record(index).map(|r| self.arena.render(&r.id))
    }

    /// Every customer with its index, in the order they were first tracked.
    pub fn iter(&self) -> impl Iterator<Item = (CustomerIndex, IdText<'_>, &Customer)> + '_ {
        self.chunks
            .iter()
            .flatten()
            .enumerate()
            .map(|(i, r)| (i as CustomerIndex, self.arena.render(&r.id), &r.customer))
    }

    /// Bytes held by the store (capacities), for the memory budget.
    pub fn bytes(&self) -> usize {
        let records: usize = self.chunks.iter().map(|c| c.capacity() * std::mem::size_of::<Record>()).sum();
        records + self.table.bytes() + self.arena.bytes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_what_it_stored_by_either_kind_of_id() {
        let mut store = CustomerStore::default();
        let ids: Vec<String> = (0..70_000u32)
            .map(|i| if i % 3 == 0 { format!("c-{i}") } else { format!("{i:08x}-1b2d-4c3e-8f9a-0b1c2d3e4f50") })
            .collect();
        for (n, id) in ids.iter().enumerate() {
            assert_eq!(store.insert_new(id.as_str(), Customer::new(n as i64, 2, false)), Some(n as u32));
        }
        assert_eq!(store.len(), ids.len());
        for (n, id) in ids.iter().enumerate() {
            let index = store.find(id.as_str()).unwrap();
            assert_eq!(index, n as u32);
            assert_eq!(store.get(index).unwrap().first_seen, n as i64);
            assert_eq!(store.id(index).unwrap().as_str(), id);
        }
        assert!(store.find("c-1").is_none());
        assert!(store.find("00000000-1b2d-4c3e-8f9a-0b1c2d3e4f51").is_none());
        assert_eq!(store.iter().map(|(_, id, _)| id.to_string()).collect::<Vec<_>>(), ids);
        store.get_mut(5).unwrap().first_seen = -1;
        assert_eq!(store.get(5).unwrap().first_seen, -1);
        // Upsert replaces a tracked customer in place and appends a new one.
        assert_eq!(store.upsert(ids[7].as_str(), Customer::new(-7, 2, false)), Some(false));
        assert_eq!(store.get(7).unwrap().first_seen, -7);
        assert_eq!(store.upsert("new", Customer::new(1, 2, false)), Some(true));
        assert_eq!((store.find("new"), store.len()), (Some(ids.len() as u32), ids.len() + 1));
        assert_eq!(store.chunks.iter().map(Vec::capacity).collect::<Vec<_>>()[0], CHUNK);
    }

    /// A clone of the store's hasher, as the reading thread of a replay holds it, gives the
    /// hashes `find_hashed` and `insert_new_hashed` expect: they agree with `find` and `insert_new`.
    #[test]
    fn hashes_from_a_cloned_hasher_find_what_the_store_holds() {
        let mut store = CustomerStore::default();
        let hasher = store.hasher().clone();
        let ids = ["c-1", "0a1b2c3d-1b2d-4c3e-8f9a-0b1c2d3e4f50", "c-2"];
        for (n, id) in ids.iter().enumerate() {
            let key = IdKey::from(*id);
            assert_eq!(store.find_hashed(key, hasher.key(&key)), None);
            assert_eq!(
                store.insert_new_hashed(key, hasher.key(&key), Customer::new(n as i64, 2, false)),
                Some(n as u32)
            );
            store.prefetch_slot(hasher.key(&key));
            store.prefetch_record(hasher.key(&key));
        }
        for (n, id) in ids.iter().enumerate() {
            let key = IdKey::from(*id);
            assert_eq!(store.find_hashed(key, hasher.key(&key)), Some(n as u32));
            assert_eq!(store.find(*id), Some(n as u32));
        }
    }
}
