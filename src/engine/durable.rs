//! What the checkpoint module reads from and writes into a [`Partition`]: accessors only, so the
//! format lives in `checkpoint/` and the engine keeps its fields private to the crate.

use std::sync::Arc;

use compact_str::CompactString;
use dashmap::DashMap;
use fnv::{FnvBuildHasher, FnvHashSet};

use super::partition::Partition;
use super::settings::Settings;
use super::view::PartitionView;
use crate::event::Millis;
use crate::state::customer::Customer;
use crate::state::inactivity_index::NOT_FILED;
use crate::state::{Deduplicator, SegmentCatalog, TicketBook};

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

    pub(crate) fn customers(&self) -> &DashMap<CompactString, Customer, FnvBuildHasher> {
        &self.customers
    }

    /// The customers changed since the previous call, sorted (for a stable encoding).
    pub(crate) fn take_dirty_customers(&mut self) -> Vec<CompactString> {
        let mut ids: Vec<CompactString> =
            self.dirty.as_mut().map(std::mem::take).unwrap_or_default().into_iter().collect();
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
        if self.customers.insert(id, customer).is_none() {
            self.ctx.view.add_tracked(1);
        }
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
        for mut entry in self.customers.iter_mut() {
            let (id, customer) = entry.pair_mut();
            customer.filed_bucket = NOT_FILED;
            if let Some(deadline) = self.ctx.deadline(customer) {
                self.index.file(id, deadline, &mut customer.filed_bucket);
            }
        }
    }
}
