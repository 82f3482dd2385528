//! `event_id` de-duplication over a window of stream time, with bounded memory.
//!
//! Layout: the remembered ids live in one queue, in the order they were (re)queued, each with
//! its latest sighting; a `hashbrown::HashTable` of queue sequence numbers finds an id. Expiry
//! and eviction take ids from the front of the queue and drop their table slot by sequence
//! number: no second look-up of the id and no string comparison, and each id is stored once.
//! This is the partition's per-event hot path beside the customer look-up, so it is not a
//! `HashMap` plus a queue of copies (two hashes and a comparison per expired id, two copies of
//! each id).

use std::collections::VecDeque;
use std::hash::BuildHasher;

use compact_str::CompactString;
use hashbrown::hash_table::{Entry, VacantEntry};
use hashbrown::HashTable;

use crate::event::Millis;

#[derive(Debug)]
struct Remembered {
    /// When the id took its place in the queue: expiry looks at the front's.
    queued: Millis,
    latest: Millis,
    id: CompactString,
}

#[derive(Debug)]
pub struct Deduplicator {
    window_ms: i64,
    max_entries: usize,
    /// Each id once, in queue order; an id re-seen keeps its place and updates `latest`.
    queue: VecDeque<Remembered>,
    /// Sequence number of `queue`'s front; an id's sequence number is `head + its position`.
    head: u64,
    /// Sequence numbers of the remembered ids, by the hash of their id.
    table: HashTable<u64>,
    /// Seeded at random, so ids chosen to collide cannot be prepared in advance (nothing is taken
    /// from the table's order, so the seed changes no output).
    hasher: foldhash::fast::FixedState,
    /// Ids remembered since the last checkpoint took them, in order; `None` when not checkpointed.
    journal: Option<Vec<(CompactString, Millis)>>,
}

impl Deduplicator {
    pub fn new(window_ms: i64, max_entries: usize) -> Self {
        Deduplicator {
            window_ms,
            max_entries,
            queue: VecDeque::new(),
            head: 0,
            table: HashTable::new(),
            hasher: foldhash::fast::FixedState::with_seed(rand::random()),
            journal: None,
        }
    }

    fn at(&self, seq: u64) -> Option<&Remembered> {
        at(&self.queue, self.head, seq)
    }

    fn find(&self, id: &str) -> Option<&Remembered> {
        let seq = self.table.find(self.hasher.hash_one(id), |&seq| self.at(seq).is_some_and(|r| r.id == id))?;
        self.at(*seq)
    }

    /// The question half of [`check_and_remember`](Self::check_and_remember) alone: the two-step
    /// reference the model test holds the fused call to.
    #[cfg(test)]
    fn is_duplicate(&mut self, id: &str, now: Millis, clock: Millis) -> bool {
        self.expire(clock);
        self.find(id).is_some_and(|r| now - r.latest < self.window_ms)
    }

    /// Remembers an applied event's id as seen at `now`.
    pub fn remember(&mut self, id: &str, now: Millis) {
        if self.window_ms <= 0 {
            return;
        }
        if let Some(journal) = &mut self.journal {
            journal.push((CompactString::from(id), now));
        }
        if self.queue.len() >= self.max_entries && self.find(id).is_none() {
            while self.queue.len() >= self.max_entries {
                self.pop_front_requeue(None);
            }
        }
        let head = self.head;
        match entry_of(&mut self.table, &self.queue, head, &self.hasher, id) {
            Entry::Occupied(found) => {
                if let Some(r) = at_mut(&mut self.queue, head, *found.get()) {
                    r.latest = now;
                }
            }
            Entry::Vacant(slot) => append(slot, &mut self.queue, head, id, now),
        }
    }

    /// Whether `id` was seen less than the window before `now` (the event's time, or the clock if
    /// later); if not, [`remember`](Self::remember)s it at `now`, with the same hash and probe of
    /// the table (the partition's per-event call: the clock it would remember at, after moving to
    /// the event's time, is `now`). Only ids that no later event can duplicate are forgotten: those
    /// a window older than the stream `clock`. Forgetting against `now` would make the answer
    /// depend on when expiry last ran (a duplicate does not move the clock), which a restored
    /// partition cannot repeat.
    pub fn check_and_remember(&mut self, id: &str, now: Millis, clock: Millis) -> bool {
        self.expire(clock);
        if self.window_ms <= 0 {
            return false;
        }
        let head = self.head;
        match entry_of(&mut self.table, &self.queue, head, &self.hasher, id) {
            Entry::Occupied(found) => {
                if let Some(r) = at_mut(&mut self.queue, head, *found.get()) {
                    if now - r.latest < self.window_ms {
                        return true;
                    }
                    r.latest = now;
                }
            }
            Entry::Vacant(slot) if self.queue.len() < self.max_entries => append(slot, &mut self.queue, head, id, now),
            // Full: the rare path evicts first, as `remember` does (and journals the id).
            Entry::Vacant(_) => {
                self.remember(id, now);
                return false;
            }
        }
        if let Some(journal) = &mut self.journal {
            journal.push((CompactString::from(id), now));
        }
        false
    }

    /// Takes the front id out of the queue, and out of the table unless `requeue_at` says it
    /// stays (then it goes to the back, queued at that time).
    fn pop_front_requeue(&mut self, requeue_at: Option<Millis>) {
        let Some(mut front) = self.queue.pop_front() else { return };
        let seq = self.head;
        self.head += 1;
        let hash = self.hasher.hash_one(front.id.as_str());
        let Ok(slot) = self.table.find_entry(hash, |&s| s == seq) else { return };
        match requeue_at {
            Some(at) => {
                *slot.into_mut() = self.head + self.queue.len() as u64;
                front.queued = at;
                self.queue.push_back(front);
            }
            None => {
                slot.remove();
            }
        }
    }

    fn expire(&mut self, now: Millis) {
        while let Some(front) = self.queue.front() {
            if now.saturating_sub(front.queued) < self.window_ms {
                break;
            }
            // The id may have been seen again later; only forget it when its latest sighting expired.
            let latest = front.latest;
            self.pop_front_requeue((now.saturating_sub(latest) < self.window_ms).then_some(latest));
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
        let mut all: Vec<(&str, Millis)> = self.queue.iter().map(|r| (r.id.as_str(), r.latest)).collect();
        all.sort_unstable_by(|a, b| (a.1, a.0).cmp(&(b.1, b.0)));
        all
    }

    pub fn len(&self) -> usize {
        self.queue.len()
    }

    pub fn is_empty(&self) -> bool {
        self.queue.is_empty()
    }
}

/// The id with sequence number `seq` in a queue whose front is `head`.
#[inline]
fn at(queue: &VecDeque<Remembered>, head: u64, seq: u64) -> Option<&Remembered> {
    queue.get(usize::try_from(seq - head).ok()?)
}

#[inline]
fn at_mut(queue: &mut VecDeque<Remembered>, head: u64, seq: u64) -> Option<&mut Remembered> {
    queue.get_mut(usize::try_from(seq - head).ok()?)
}

/// The table's entry for `id`: its sequence number when remembered, else the slot it would take.
#[inline]
fn entry_of<'t>(
    table: &'t mut HashTable<u64>,
    queue: &VecDeque<Remembered>,
    head: u64,
    hasher: &foldhash::fast::FixedState,
    id: &str,
) -> Entry<'t, u64> {
    table.entry(
        hasher.hash_one(id),
        |&seq| at(queue, head, seq).is_some_and(|r| r.id == id),
        |&seq| at(queue, head, seq).map_or(0, |r| hasher.hash_one(r.id.as_str())),
    )
}

/// Remembers a new id at the back of the queue, in the table slot found for it.
#[inline]
fn append(slot: VacantEntry<'_, u64>, queue: &mut VecDeque<Remembered>, head: u64, id: &str, now: Millis) {
    slot.insert(head + queue.len() as u64);
    queue.push_back(Remembered { queued: now, latest: now, id: CompactString::from(id) });
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

    /// The same questions asked of a plain map and a queue of (queued, id) copies, expiring and
    /// evicting as the module comment says: every answer, length and entry list agrees.
    #[test]
    fn agrees_with_a_plain_map_and_queue() {
        use rand::{Rng, SeedableRng};
        use std::collections::HashMap;
        let (window, max) = (100, 40);
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        let mut d = Deduplicator::new(window, max);
        // The partition's fused call, asked the same questions beside the two-step one.
        let mut fused = Deduplicator::new(window, max);
        d.keep_journal();
        fused.keep_journal();
        let (mut seen, mut order) = (HashMap::<String, Millis>::new(), VecDeque::<(Millis, String)>::new());
        let mut clock = 0;
        for _ in 0..200_000 {
            let id = format!("event-{}", rng.gen_range(0..80));
            let now = clock + rng.gen_range(-30..30);
            // The model: expire against the clock, then ask.
            while let Some((at, old)) = order.front().cloned() {
                if clock - at < window {
                    break;
                }
                order.pop_front();
                let latest = seen[&old];
                if clock - latest >= window {
                    seen.remove(&old);
                } else {
                    order.push_back((latest, old));
                }
            }
            let duplicate = seen.get(&id).is_some_and(|at| now.max(clock) - at < window);
            assert_eq!(fused.check_and_remember(&id, now.max(clock), clock), duplicate);
            assert_eq!(d.is_duplicate(&id, now.max(clock), clock), duplicate);
            if !duplicate {
                clock = clock.max(now);
                if seen.len() >= max && !seen.contains_key(&id) {
                    while seen.len() >= max {
                        let (_, old) = order.pop_front().unwrap();
                        seen.remove(&old);
                    }
                }
                if seen.insert(id.clone(), clock).is_none() {
                    order.push_back((clock, id.clone()));
                }
                d.remember(&id, clock);
            }
            assert_eq!(d.len(), seen.len());
            assert_eq!(fused.len(), seen.len());
        }
        let mut expected: Vec<(&str, Millis)> = seen.iter().map(|(id, at)| (id.as_str(), *at)).collect();
        expected.sort_unstable_by(|a, b| (a.1, a.0).cmp(&(b.1, b.0)));
        assert_eq!(d.entries(), expected);
        assert_eq!(fused.entries(), expected);
        assert_eq!(fused.take_journal(), d.take_journal(), "the same ids journaled in the same order");
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
