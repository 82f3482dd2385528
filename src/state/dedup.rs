//! `event_id` de-duplication over a window of stream time, with bounded memory.

use std::collections::VecDeque;

use fnv::FnvBuildHasher;
use hashbrown::hash_map::EntryRef;
use hashbrown::HashMap;

use compact_str::CompactString;

use crate::event::Millis;

#[derive(Debug)]
pub struct Deduplicator {
    window_ms: i64,
    max_entries: usize,
    seen: HashMap<CompactString, Millis, FnvBuildHasher>,
    /// Ids in the order they were seen, for expiry; an id is only here once.
    order: VecDeque<(Millis, CompactString)>,
    /// Ids remembered since the last checkpoint took them, in order; `None` when not checkpointed.
    journal: Option<Vec<(CompactString, Millis)>>,
}

impl Deduplicator {
    pub fn new(window_ms: i64, max_entries: usize) -> Self {
        Deduplicator { window_ms, max_entries, seen: HashMap::default(), order: VecDeque::new(), journal: None }
    }

    /// Whether `id` was seen less than the window before `now` (the event's time, or the clock if
    /// later). Only ids that no later event can duplicate are forgotten: those a window older than
    /// the stream `clock`. Forgetting against `now` would make the answer depend on when expiry
    /// last ran (a duplicate does not move the clock), which a restored partition cannot repeat.
    pub fn is_duplicate(&mut self, id: &str, now: Millis, clock: Millis) -> bool {
        self.expire(clock);
        self.seen.get(id).is_some_and(|seen_at| now - seen_at < self.window_ms)
    }

    /// Remembers an applied event's id as seen at `now`.
    pub fn remember(&mut self, id: &str, now: Millis) {
        if self.window_ms <= 0 {
            return;
        }
        if let Some(journal) = &mut self.journal {
            journal.push((CompactString::from(id), now));
        }
        if self.seen.len() >= self.max_entries && !self.seen.contains_key(id) {
            while self.seen.len() >= self.max_entries {
                match self.order.pop_front() {
                    Some((_, old)) => {
                        self.seen.remove(&old);
                    }
                    None => break,
                }
            }
        }
        // One hash of the id whether it is new or not (the id is copied only when new).
        match self.seen.entry_ref(id) {
            EntryRef::Occupied(mut seen) => *seen.get_mut() = now,
            EntryRef::Vacant(vacant) => {
                let id = vacant.insert_entry_with_key(CompactString::from(id), now).key().clone();
                self.order.push_back((now, id));
            }
        }
    }

    fn expire(&mut self, now: Millis) {
        while let Some((at, id)) = self.order.front() {
            if now.saturating_sub(*at) < self.window_ms {
                break;
            }
            // The id may have been seen again later; only forget it when its latest sighting expired.
            let latest = self.seen.get(id).copied().unwrap_or(*at);
            let id = id.clone();
            self.order.pop_front();
            if now.saturating_sub(latest) >= self.window_ms {
                self.seen.remove(&id);
            } else {
                self.order.push_back((latest, id));
            }
        }
    }

    /// Starts keeping the journal of remembered ids that incremental checkpoints take.
    pub(crate) fn keep_journal(&mut self) {
        self.journal.get_or_insert_with(Vec::new);
    }

    /// The ids remembered since the previous call, in order.
    pub(crate) fn take_journal(&mut self) -> Vec<(CompactString, Millis)> {
        self.journal.as_mut().map(std::mem::take).unwrap_or_default()
    }

    /// Every remembered id with its latest sighting, oldest first (a full checkpoint).
    pub(crate) fn entries(&self) -> Vec<(&str, Millis)> {
        let mut all: Vec<(&str, Millis)> = self.seen.iter().map(|(id, at)| (id.as_str(), *at)).collect();
        all.sort_unstable_by(|a, b| (a.1, a.0).cmp(&(b.1, b.0)));
        all
    }

    pub fn len(&self) -> usize {
        self.seen.len()
    }

    pub fn is_empty(&self) -> bool {
        self.seen.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn duplicates_within_the_window_only() {
        let mut d = Deduplicator::new(3_600_000, 10);
        assert!(!d.is_duplicate("e1", 0, 0));
        d.remember("e1", 0);
        assert!(d.is_duplicate("e1", 3_599_999, 0));
        assert!(!d.is_duplicate("e1", 3_600_000, 0));
        assert!(!d.is_duplicate("e1", 3_600_000, 3_600_000));
        assert!(d.is_empty());
    }

    #[test]
    fn a_late_duplicate_does_not_forget_ids_the_clock_still_covers() {
        // e1 at 0; a duplicate of e2 dated 1h later does not move the clock (10 min), so e1 dated at
        // the clock is still a duplicate, as it is after a restore that never saw that event.
        let mut d = Deduplicator::new(3_600_000, 10);
        d.remember("e1", 0);
        d.remember("e2", 600_000);
        assert!(d.is_duplicate("e2", 3_600_000, 600_000));
        assert!(d.is_duplicate("e1", 600_000, 600_000));
    }

    #[test]
    fn memory_is_bounded() {
        let mut d = Deduplicator::new(3_600_000, 3);
        for i in 0..10 {
            d.remember(&format!("e{i}"), i);
        }
        assert_eq!(d.len(), 3);
        assert!(d.is_duplicate("e9", 10, 10));
        assert!(!d.is_duplicate("e0", 10, 10));
    }
}
