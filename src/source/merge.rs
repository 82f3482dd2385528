//! Which input of a partition goes next: the interaction and survey partitions of one number (and
//! its repartition partition) are merged in event-time order, as Kafka Streams merges
//! co-partitioned inputs.
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
    /// Every side is empty.
    Idle,
}

/// The merge rule's state over `N` sides: since when each side has been empty while another had
/// data.
#[derive(Debug, Clone)]
pub struct Merger<const N: usize> {
    wait: Duration,
    empty_since: [Option<Instant>; N],
}

impl<const N: usize> Merger<N> {
    pub fn new(wait: Duration) -> Self {
        Merger { wait, empty_since: [None; N] }
    }

    /// `heads[i]` is the order key (event time) of side i's buffered record, if any. Only a side
    /// with `waited[i]` is waited for when empty; a side that does not exist (one input topic for
    /// both types), or one not worth waiting for, is still merged whenever it has a head.
    /// `behind[i]`: side i may have records on the broker that have not been received.
    pub fn pick(&mut self, heads: [Option<Millis>; N], waited: [bool; N], behind: [bool; N], now: Instant) -> Pick {
        for side in 0..N {
            if heads[side].is_some() || !waited[side] {
                self.empty_since[side] = None;
            }
        }
        // The earliest head; `min_by_key` keeps the first of equals, so ties go to the lower side.
        let Some(first) = (0..N).filter(|s| heads[*s].is_some()).min_by_key(|s| heads[*s]) else {
            self.empty_since = [None; N];
            return Pick::Idle;
        };
        // Each empty side is waited for once per empty spell; the wait that ends first is served.
        let mut wait_for: Option<(usize, Instant)> = None;
        for side in (0..N).filter(|s| waited[*s] && heads[*s].is_none()) {
            let since = *self.empty_since[side].get_or_insert(now);
            let until = since + if behind[side] { self.wait.max(BEHIND_WAIT) } else { self.wait };
            if now < until && wait_for.is_none_or(|(_, earliest)| until < earliest) {
                wait_for = Some((side, until));
            }
        }
        match wait_for {
            Some((side, until)) => Pick::WaitFor(side, until),
            None => Pick::Take(first),
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

    #[test]
    fn a_side_not_waited_for_is_still_merged_in_time_order() {
        let wait = Duration::from_millis(100);
        let mut m = Merger::new(wait);
        let (t0, waited, not_behind) = (Instant::now(), [true, true, false], [false; 3]);
        assert_eq!(m.pick([Some(5), Some(7), Some(3)], waited, not_behind, t0), Pick::Take(2));
        assert_eq!(m.pick([Some(5), Some(7), None], waited, not_behind, t0), Pick::Take(0), "never waited for");
        assert_eq!(m.pick([Some(5), None, Some(3)], waited, not_behind, t0), Pick::WaitFor(1, t0 + wait));
        assert_eq!(m.pick([Some(5), None, Some(3)], waited, not_behind, t0 + wait), Pick::Take(2));
        assert_eq!(m.pick([None, None, Some(3)], waited, not_behind, t0 + wait), Pick::WaitFor(0, t0 + wait * 2));
    }

    #[test]
    fn the_wait_that_ends_first_is_served_first() {
        let wait = Duration::from_millis(100);
        let mut m = Merger::new(wait);
        let t0 = Instant::now();
        let waited = [true; 3];
        assert_eq!(m.pick([None, Some(1), None], waited, [false, false, true], t0), Pick::WaitFor(0, t0 + wait));
        assert_eq!(
            m.pick([None, Some(1), None], waited, [false, false, true], t0 + wait),
            Pick::WaitFor(2, t0 + BEHIND_WAIT)
        );
    }
}
