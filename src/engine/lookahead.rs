//! Customer look-ups started a few events ahead of the event applied.
//!
//! Why: among many customers in no particular order (the 100 k of the UUID benchmark file),
//! finding one misses the cache twice, on its id-table slot and then on its record, and the
//! applying thread waits for each miss in turn. A replay holds a batch of decoded events, each
//! with its customer's hash worked out by the reading thread, so it knows which customers come
//! next: it asks for the slot [`SLOT_AHEAD`] events ahead and for the record [`RECORD_AHEAD`]
//! events ahead (by then the slot it needs is cached), and the misses are served while earlier
//! events are applied. Only cache hints are issued ([`prefetch`](crate::state::prefetch)):
//! nothing changes, so the outputs are the same with or without them.

use super::partition::Partition;

/// Far enough ahead that a miss is served meanwhile (an event takes about a microsecond to apply
/// when its look-up misses), near enough that the lines are still cached when used.
const SLOT_AHEAD: usize = 8;
const RECORD_AHEAD: usize = 4;

/// Call before applying event `at` of a batch; `hash(i)` is the customer hash of the batch's
/// `i`th line (`None` past the end; any value for a line that did not decode: a hint is harmless).
pub fn look_ahead(partition: &Partition, at: usize, hash: impl Fn(usize) -> Option<u64>) {
    if at == 0 {
        (0..SLOT_AHEAD).filter_map(&hash).for_each(|h| partition.prefetch_slot(h));
    }
    if let Some(h) = hash(at + RECORD_AHEAD) {
        partition.prefetch_record(h);
    }
    if let Some(h) = hash(at + SLOT_AHEAD) {
        partition.prefetch_slot(h);
    }
}
