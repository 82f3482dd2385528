//! Which input of a partition goes next: the interaction and survey partitions of one number are
//! merged in event-time order, as Kafka Streams merges co-partitioned inputs.
//!
//! With a record buffered on both sides, the earlier `ts` goes first (ties: interactions, side 0).
//! With one side empty, the other waits at most `wait` for it, once per empty spell: after that it
//! goes on alone until the empty side has data again (Kafka Streams' `max.task.idle.ms` rule). So
//! a quiet input costs one bounded pause, not one per record, and a backlog that is fetched on both
//! sides at once is applied in exact time order. When the empty side may have records on the
//! broker (neither its end-of-partition marker nor its high watermark shows that everything was
//! received), it is waited for longer (`BEHIND_WAIT`): a slow fetch under load must not reorder
//! events that are already there.

use std::time::{Duration, Instant};

use crate::event::Millis;

/// The longest wait for a side known to have records on the broker; a bound all the same, in case
/// offsets have gaps (compaction) that the watermark cannot show.
pub const BEHIND_WAIT: Duration = Duration::from_secs(30);

/// What the partition should do next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pick {
    /// Apply the head record of this side.
    Take(usize),
    /// Nothing may be applied yet: wait for this side until the instant.
    WaitFor(usize, Instant),
    /// Both sides are empty.
    Idle,
}

/// The merge rule's state: since when each side has been empty while the other had data.
#[derive(Debug, Clone)]
pub struct Merger {
    wait: Duration,
    empty_since: [Option<Instant>; 2],
}

impl Merger {
    pub fn new(wait: Duration) -> Self {
        Merger { wait, empty_since: [None, None] }
    }

    /// `heads[i]` is the order key (event time) of side i's buffered record, if any. A side that
    /// does not exist (one input topic for both types) is simply always empty and never waited for:
    /// pass `present[i] = false`.
    /// `behind[i]`: side i may have records on the broker that have not been received.
    pub fn pick(&mut self, heads: [Option<Millis>; 2], present: [bool; 2], behind: [bool; 2], now: Instant) -> Pick {
        for (side, head) in heads.iter().enumerate() {
            if head.is_some() || !present[side] {
                self.empty_since[side] = None;
            }
        }
        match heads {
            [Some(a), Some(b)] => Pick::Take(if b < a { 1 } else { 0 }),
            [None, None] => {
                self.empty_since = [None, None];
                Pick::Idle
            }
            [Some(_), None] => self.one_sided(0, 1, present[1], behind[1], now),
            [None, Some(_)] => self.one_sided(1, 0, present[0], behind[0], now),
        }
    }

    fn one_sided(&mut self, full: usize, empty: usize, empty_exists: bool, behind: bool, now: Instant) -> Pick {
        if !empty_exists {
            return Pick::Take(full);
        }
        let since = *self.empty_since[empty].get_or_insert(now);
        let until = since + if behind { self.wait.max(BEHIND_WAIT) } else { self.wait };
        if now >= until {
            Pick::Take(full)
        } else {
            Pick::WaitFor(empty, until)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BOTH: [bool; 2] = [true, true];
    const NOT_BEHIND: [bool; 2] = [false, false];

    #[test]
    fn a_side_known_to_have_records_is_waited_for_longer() {
        let wait = Duration::from_millis(100);
        let mut m = Merger::new(wait);
        let t0 = Instant::now();
        assert_eq!(m.pick([Some(1), None], BOTH, [false, true], t0), Pick::WaitFor(1, t0 + BEHIND_WAIT));
        assert_eq!(m.pick([Some(1), None], BOTH, [false, true], t0 + wait * 2), Pick::WaitFor(1, t0 + BEHIND_WAIT));
        assert_eq!(m.pick([Some(1), None], BOTH, [false, true], t0 + BEHIND_WAIT), Pick::Take(0));
    }

    #[test]
    fn earlier_event_goes_first_ties_to_interactions() {
        let mut m = Merger::new(Duration::from_millis(100));
        let now = Instant::now();
        assert_eq!(m.pick([Some(5), Some(3)], BOTH, NOT_BEHIND, now), Pick::Take(1));
        assert_eq!(m.pick([Some(3), Some(5)], BOTH, NOT_BEHIND, now), Pick::Take(0));
        assert_eq!(m.pick([Some(4), Some(4)], BOTH, NOT_BEHIND, now), Pick::Take(0));
        assert_eq!(m.pick([None, None], BOTH, NOT_BEHIND, now), Pick::Idle);
    }

    #[test]
    fn an_empty_side_is_waited_for_once_per_spell() {
        let wait = Duration::from_millis(100);
        let mut m = Merger::new(wait);
        let t0 = Instant::now();
        assert_eq!(m.pick([Some(1), None], BOTH, NOT_BEHIND, t0), Pick::WaitFor(1, t0 + wait));
        assert_eq!(m.pick([Some(1), None], BOTH, NOT_BEHIND, t0 + wait / 2), Pick::WaitFor(1, t0 + wait));
        assert_eq!(m.pick([Some(1), None], BOTH, NOT_BEHIND, t0 + wait), Pick::Take(0));
        // Still empty: no new pause.
        assert_eq!(m.pick([Some(2), None], BOTH, NOT_BEHIND, t0 + wait * 2), Pick::Take(0));
        // Data came back, then ran out again: a new spell, a new (bounded) pause.
        assert_eq!(m.pick([Some(3), Some(9)], BOTH, NOT_BEHIND, t0 + wait * 3), Pick::Take(0));
        let t1 = t0 + wait * 4;
        assert_eq!(m.pick([None, Some(9)], BOTH, NOT_BEHIND, t1), Pick::WaitFor(0, t1 + wait));
    }

    #[test]
    fn a_missing_side_is_never_waited_for() {
        let mut m = Merger::new(Duration::from_secs(60));
        assert_eq!(m.pick([Some(1), None], [true, false], NOT_BEHIND, Instant::now()), Pick::Take(0));
    }
}
