//! The customer store's index: a customer's index by the hash of its id, in one array of 8-byte
//! slots (the hash's upper half beside the 32-bit index), probed linearly.
//!
//! Why not `hashbrown::HashTable<u32>`: its control bytes and its buckets are two arrays, so with
//! millions of customers a look-up misses the cache twice before it reaches the customer's record
//! (a third miss, needed anyway). Here the tag and the index share a slot: one miss, and the
//! few slots a probe reads usually share its cache line. The price is 8 bytes a slot instead of
//! 5. Customers are never removed, so there are no tombstones, and a probe ends at the first
//! empty slot.

use super::prefetch::prefetch;

/// An empty slot. No index is `u32::MAX` (the store tracks fewer), so no full slot equals it.
const EMPTY: u64 = u64::MAX;
const TAG: u64 = !0xFFFF_FFFF;
/// Grown once more than 3/4 of the slots are full: linear probing stays short below that.
const MAX_LOAD: (usize, usize) = (3, 4);

#[derive(Debug, Default)]
pub struct IdTable {
    slots: Box<[u64]>,
    len: usize,
}

impl IdTable {
    /// The index whose slot carries `hash`'s tag and which `eq` confirms.
    pub fn find(&self, hash: u64, mut eq: impl FnMut(u32) -> bool) -> Option<u32> {
        let mask = self.slots.len().checked_sub(1)?;
        let mut at = hash as usize & mask;
        loop {
            let slot = self.slots[at];
            if slot == EMPTY {
                return None;
            }
            if slot & TAG == hash & TAG && eq(slot as u32) {
                return Some(slot as u32);
            }
            at = (at + 1) & mask;
        }
    }

    /// Asks for the cache line of the slot where a probe for `hash` starts ([`prefetch`]).
    #[inline]
    pub fn prefetch(&self, hash: u64) {
        if let Some(mask) = self.slots.len().checked_sub(1) {
            prefetch(&self.slots[hash as usize & mask]);
        }
    }

    /// The index in the slot where a probe for `hash` starts, if that slot carries `hash`'s tag:
    /// a guess for a [`prefetch`], unconfirmed (a wrong one costs a useless hint) and without
    /// probing further (most look-ups end at their first slot).
    #[inline]
    pub fn first_candidate(&self, hash: u64) -> Option<u32> {
        let mask = self.slots.len().checked_sub(1)?;
        let slot = self.slots[hash as usize & mask];
        (slot != EMPTY && slot & TAG == hash & TAG).then_some(slot as u32)
    }

    /// Adds `index` under `hash`; the caller knows it is not there yet. `rehash` gives the hash of
    /// an index already held, for growing.
    pub fn insert_unique(&mut self, hash: u64, index: u32, rehash: impl Fn(u32) -> u64) {
        debug_assert_ne!(index, u32::MAX);
        self.reserve(1, rehash);
        self.put(hash, index);
        self.len += 1;
    }

    /// Makes room for `additional` more indices without growing again.
    pub fn reserve(&mut self, additional: usize, rehash: impl Fn(u32) -> u64) {
        let needed = self.len + additional;
        if needed * MAX_LOAD.1 <= self.slots.len() * MAX_LOAD.0 {
            return;
        }
        let size = (needed * MAX_LOAD.1).div_ceil(MAX_LOAD.0).next_power_of_two().max(16);
        let old = std::mem::replace(&mut self.slots, vec![EMPTY; size].into_boxed_slice());
        for slot in old.iter().filter(|s| **s != EMPTY) {
            self.put(rehash(*slot as u32), *slot as u32);
        }
    }

    fn put(&mut self, hash: u64, index: u32) {
        let mask = self.slots.len() - 1;
        let mut at = hash as usize & mask;
        while self.slots[at] != EMPTY {
            at = (at + 1) & mask;
        }
        self.slots[at] = (hash & TAG) | u64::from(index);
    }

    /// Bytes held (for the memory budget).
    pub fn bytes(&self) -> usize {
        std::mem::size_of_val(&*self.slots)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Many indices under hashes that share tags and positions: each is found by its hash and
    /// only through `eq`, absent ones are not, and growing keeps them all.
    #[test]
    fn finds_every_index_under_its_hash_through_collisions_and_growth() {
        // Few distinct tags and positions, so probes run long and tags collide often.
        let hash = |i: u32| (u64::from(i % 7) << 32) | u64::from(i % 13);
        let mut table = IdTable::default();
        assert_eq!(table.find(hash(0), |_| true), None);
        for i in 0..5_000u32 {
            table.insert_unique(hash(i), i, hash);
            assert!(table.len * 4 <= table.slots.len() * 3);
        }
        for i in 0..5_000u32 {
            assert_eq!(table.find(hash(i), |found| found == i), Some(i));
        }
        assert_eq!(table.find(hash(5_000), |found| found == 5_000), None);
        let before = table.slots.len();
        table.reserve(100_000, hash);
        assert!(table.slots.len() > before && table.slots.len() * 3 >= 105_000 * 4);
        assert_eq!(table.bytes(), table.slots.len() * 8);
        assert!((0..5_000u32).all(|i| table.find(hash(i), |found| found == i) == Some(i)));
    }

    /// The guess a prefetch follows: the index in the first slot when its tag matches, nothing
    /// for an empty table, an empty slot, or another tag there.
    #[test]
    fn first_candidate_is_the_first_slot_when_its_tag_matches() {
        let mut table = IdTable::default();
        assert_eq!(table.first_candidate(7), None);
        let hash = |i: u32| (u64::from(i) << 32) | 5;
        table.insert_unique(hash(1), 1, hash);
        table.insert_unique(hash(2), 2, hash);
        assert_eq!(table.first_candidate(hash(1)), Some(1));
        // Index 2 probed on to the next slot: its first slot holds index 1's tag.
        assert_eq!(table.first_candidate(hash(2)), None);
        assert_eq!(table.find(hash(2), |i| i == 2), Some(2));
        assert_eq!(table.first_candidate((9 << 32) | 6), None);
        assert_eq!(table.first_candidate((1 << 32) | 9), None, "an empty slot");
        table.prefetch(hash(1));
    }
}
