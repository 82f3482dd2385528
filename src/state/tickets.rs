//! Open support tickets: when each was opened and whether it has had its first response, so the
//! resolution and first-response times can be measured. Bounded by a retention in stream time.
//!
//! Tickets are keyed by FNV-1a 64 over a fixed byte layout (see [`key`]), not by `std::hash`:
//! std's `Hash` for strings and tuples is free to change between Rust versions, and these keys
//! are part of the persisted state, so a new compiler must find the tickets an old one filed.

use std::collections::BTreeSet;

use fnv::{FnvHashMap, FnvHashSet};

use super::holdout::fnv1a64;
use crate::event::Millis;

#[derive(Debug, Clone, Copy)]
struct Ticket {
    opened_at: Millis,
    responded: bool,
}

#[derive(Debug)]
pub struct TicketBook {
    retention_ms: i64,
    open: FnvHashMap<u64, Ticket>,
    /// (opened_at, key) in time order, so expiry forgets exactly the tickets older than the
    /// retention whatever order they were opened in (and a restored book expires the same ones).
    by_age: BTreeSet<(Millis, u64)>,
    /// Tickets changed since the last checkpoint took them; `None` when not checkpointed.
    dirty: Option<FnvHashSet<u64>>,
}

/// A ticket as a checkpoint carries it: its key, and `(opened_at, responded)` while open.
pub type TicketEntry = (u64, Option<(Millis, bool)>);

/// Tickets are keyed by a 64-bit hash of (customer, ticket id): no strings kept per ticket. The
/// bytes hashed are the customer id's length (8 bytes, little-endian), the customer id, then the
/// ticket id, so no two (customer, ticket) pairs share their bytes.
pub fn key(customer_id: &str, ticket_id: &str) -> u64 {
    let len = (customer_id.len() as u64).to_le_bytes();
    fnv1a64(len.into_iter().chain(customer_id.bytes()).chain(ticket_id.bytes()))
}

impl TicketBook {
    pub fn new(retention_ms: i64) -> Self {
        TicketBook { retention_ms, open: FnvHashMap::default(), by_age: BTreeSet::new(), dirty: None }
    }

    /// Records an opening; a second opening of the same ticket keeps the first.
    pub fn opened(&mut self, customer_id: &str, ticket_id: &str, at: Millis) {
        let k = key(customer_id, ticket_id);
        self.touch(k);
        if let std::collections::hash_map::Entry::Vacant(e) = self.open.entry(k) {
            e.insert(Ticket { opened_at: at, responded: false });
            self.by_age.insert((at, k));
        }
    }

    /// Seconds since opening for the ticket's first response, if its opening was seen and it had
    /// no response yet.
    pub fn first_response(&mut self, customer_id: &str, ticket_id: &str, at: Millis) -> Option<f64> {
        let k = key(customer_id, ticket_id);
        self.touch(k);
        let ticket = self.open.get_mut(&k)?;
        if ticket.responded {
            return None;
        }
        ticket.responded = true;
        Some((at - ticket.opened_at) as f64 / 1000.0)
    }

    /// Seconds since opening for a resolution; the ticket is closed.
    pub fn resolved(&mut self, customer_id: &str, ticket_id: &str, at: Millis) -> Option<f64> {
        let k = key(customer_id, ticket_id);
        self.touch(k);
        let ticket = self.open.remove(&k)?;
        Some((at - ticket.opened_at) as f64 / 1000.0)
    }

    /// Forgets tickets opened more than the retention before `now`.
    pub fn expire(&mut self, now: Millis) {
        while let Some((opened_at, k)) = self.by_age.first().copied() {
            if now - opened_at <= self.retention_ms {
                break;
            }
            self.by_age.pop_first();
            if self.open.get(&k).is_some_and(|t| t.opened_at == opened_at) {
                self.open.remove(&k);
            }
        }
    }

    fn touch(&mut self, k: u64) {
        if let Some(dirty) = &mut self.dirty {
            dirty.insert(k);
        }
    }

    /// Starts tracking the changes incremental checkpoints take.
    pub(crate) fn track_changes(&mut self) {
        self.dirty.get_or_insert_with(FnvHashSet::default);
    }

    /// The tickets changed since the previous call (closed ones as `None`). Expired tickets need no
    /// entry: a restored book expires them again at the same clock.
    pub(crate) fn take_changes(&mut self) -> Vec<TicketEntry> {
        let Some(dirty) = self.dirty.as_mut().map(std::mem::take) else { return Vec::new() };
        let mut out: Vec<TicketEntry> =
            dirty.into_iter().map(|k| (k, self.open.get(&k).map(|t| (t.opened_at, t.responded)))).collect();
        out.sort_unstable_by_key(|e| e.0);
        out
    }

    /// Every open ticket (a full checkpoint), by key.
    pub(crate) fn entries(&self) -> Vec<TicketEntry> {
        let mut out: Vec<TicketEntry> = self.open.iter().map(|(k, t)| (*k, Some((t.opened_at, t.responded)))).collect();
        out.sort_unstable_by_key(|e| e.0);
        out
    }

    /// Applies a checkpointed entry; call [`TicketBook::restored`] once all are in.
    pub(crate) fn restore(&mut self, (k, ticket): TicketEntry) {
        match ticket {
            Some((opened_at, responded)) => {
                self.open.insert(k, Ticket { opened_at, responded });
            }
            None => {
                self.open.remove(&k);
            }
        }
    }

    /// Rebuilds the expiry order from the open tickets.
    pub(crate) fn restored(&mut self) {
        self.by_age = self.open.iter().map(|(k, t)| (t.opened_at, *k)).collect();
    }

    pub fn len(&self) -> usize {
        self.open.len()
    }

    pub fn is_empty(&self) -> bool {
        self.open.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn measures_first_response_and_resolution_once() {
        let mut t = TicketBook::new(1_000_000);
        t.opened("c", "t1", 1_000);
        assert_eq!(t.first_response("c", "t1", 61_000), Some(60.0));
        assert_eq!(t.first_response("c", "t1", 70_000), None);
        assert_eq!(t.resolved("c", "t1", 121_000), Some(120.0));
        assert_eq!(t.resolved("c", "t1", 130_000), None);
        assert_eq!(t.resolved("c", "unknown", 130_000), None);
    }

    #[test]
    fn expiry_does_not_depend_on_the_order_tickets_were_opened_in() {
        let mut t = TicketBook::new(1_000);
        t.opened("c", "late", 5_000);
        t.opened("c", "early", 0);
        t.expire(4_000);
        assert_eq!(t.len(), 1);
        assert_eq!(t.resolved("c", "early", 4_000), None);
        assert_eq!(t.resolved("c", "late", 5_500), Some(0.5));
    }

    #[test]
    fn keys_are_stable_across_versions_and_unambiguous() {
        // Pinned: FNV-1a 64 of [2,0,0,0,0,0,0,0] ++ "c1" ++ "t1", computed independently
        // (`python3 -c` with the FNV-1a reference constants).
        assert_eq!(key("c1", "t1"), 0xdc7f_f921_dbd2_2308);
        assert_ne!(key("c1", "t1"), key("c", "1t1"));
        assert_ne!(key("ab", ""), key("a", "b"));
    }

    #[test]
    fn old_tickets_expire() {
        let mut t = TicketBook::new(1_000);
        t.opened("c", "t1", 0);
        t.expire(1_001);
        assert!(t.is_empty());
    }
}
