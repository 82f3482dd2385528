//! What the checkpoint module reads from and writes into a [`Partition`]: accessors only, so the
//! format lives in `checkpoint/` and the engine keeps its fields private to the crate.

use std::sync::Arc;

use compact_str::CompactString;
use fnv::FnvHashSet;

use super::partition::Partition;
use super::settings::Settings;
use super::view::PartitionView;
use crate::event::Millis;
use crate::state::customer::Customer;
use crate::state::inactivity_index::NOT_FILED;
use crate::state::{CustomerIndex, CustomerStore, Deduplicator, SegmentCatalog, TicketBook};

impl Partition {
    /// Starts tracking what changes, so checkpoints can be incremental; `false` if it was not on
    /// (then only a full checkpoint is complete).
    pub(crate) fn track_changes(&mut self) -> bool {
        let was_on = self.dirty.is_some();
        self.dirty.get_or_insert_with(FnvHashSet::default);
        self.dedup.keep_journal();
        self.tickets.track_changes();
        was_on
    }

    pub(crate) fn settings(&self) -> &Arc<Settings> {
        &self.ctx.settings
    }

    pub(crate) fn catalog(&self) -> &Arc<SegmentCatalog> {
        &self.ctx.catalog
    }

    pub(crate) fn partition_view(&self) -> &Arc<PartitionView> {
        &self.ctx.view
    }

    pub(crate) fn last_change(&self) -> Millis {
        self.last_change
    }

    pub(crate) fn customers(&self) -> &CustomerStore {
        &self.customers
    }

    /// The customers changed since the previous call with their indices, sorted by id (for a
    /// stable encoding).
    pub(crate) fn take_dirty_customers(&mut self) -> Vec<(CompactString, CustomerIndex)> {
        let dirty = self.dirty.as_mut().map(std::mem::take).unwrap_or_default();
        let mut ids: Vec<(CompactString, CustomerIndex)> = dirty
            .into_iter()
            .filter_map(|i| self.customers.id(i).map(|id| (CompactString::from(id.as_str()), i)))
            .collect();
        ids.sort_unstable();
        ids
    }

    /// Forgets what changed: everything is about to be written in full.
    pub(crate) fn clear_changes(&mut self) {
        if let Some(dirty) = &mut self.dirty {
            dirty.clear();
        }
        self.dedup.take_journal();
        self.tickets.take_changes();
    }

    pub(crate) fn dedup_mut(&mut self) -> &mut Deduplicator {
        &mut self.dedup
    }

    pub(crate) fn tickets_mut(&mut self) -> &mut TicketBook {
        &mut self.tickets
    }

    /// Puts back a checkpointed customer (replacing an older copy of it).
    pub(crate) fn restore_customer(&mut self, id: CompactString, customer: Customer) {
        if self.customers.upsert(id.as_str(), customer) == Some(true) {
            self.ctx.view.add_tracked(1);
        }
    }

    /// Makes room for `customers` more before a restore adds them (bounded by `max_customers`,
    /// as the count comes from the checkpoint).
    pub(crate) fn reserve_customers(&mut self, customers: u64) {
        let bound = self.ctx.settings.max_customers.saturating_sub(self.customers.len());
        self.customers.reserve(usize::try_from(customers).unwrap_or(usize::MAX).min(bound));
    }

    /// Puts back the stream clock and the time of the last window change.
    pub(crate) fn restore_clock(&mut self, clock: Millis, last_change: Millis) {
        self.set_clock(clock);
        self.last_change = last_change;
    }

    /// Files every restored customer under its next deadline (with the thresholds configured now),
    /// and rebuilds the ticket expiry order. A deadline that passed while the service was down
    /// then comes due at the next clock advance, with its own time.
    pub(crate) fn finish_restore(&mut self) {
        self.tickets.restored();
        for index in 0..self.customers.len() {
            let index = index as CustomerIndex; // the store holds at most 2^32 customers
            let Some((id, customer)) = self.customers.get_mut_with_id(index) else { continue };
            customer.filed_bucket = NOT_FILED;
            if let Some(deadline) = self.ctx.deadline(customer) {
                self.index.file(index, &id, deadline, &mut customer.filed_bucket);
            }
        }
    }
}
