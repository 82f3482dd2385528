//! Customers filed by the hour their next deadline (inactive or churned) falls in.
//!
//! Activity never arms or resets a timer: a customer is re-filed only when its deadline moves to
//! another hour, and stale entries are dropped lazily when their hour comes due. When the clock
//! reaches an hour, its customers move to a small exact-time heap, so a clock advance costs what
//! came due, not what exists.
//!
//! Why order holds for any deadline, before 1970 too: an hour is stored as a `u32` *biased* by
//! 2^31 (hour −1, the last hour of 1969, is 2^31 − 1), so the map's order is the hours' order over
//! ±245,000 years. Deadlines beyond that are clamped to the first or last hour; the start of a
//! clamped hour still lies at or before its deadlines, and the exact-time heap orders them.
//!
//! Memory: an hour holds 4-byte customer indices (most customers are filed in some hour); only
//! the customers of hours already reached carry their id too, in the exact-time heap, because
//! ties at one deadline are broken by customer id.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap};

use compact_str::CompactString;

use super::customer_store::CustomerIndex;
use crate::event::Millis;

const HOUR_MS: i64 = 3_600_000;
/// `Customer::filed_bucket` of a customer that is not filed.
pub const NOT_FILED: u32 = u32::MAX;

#[derive(Debug, Default)]
pub struct InactivityIndex {
    hours: BTreeMap<u32, Vec<CustomerIndex>>,
    /// Customers whose hour has been reached, by exact deadline (then id, for a stable order;
    /// an id has one index, so the index never decides).
    due_soon: BinaryHeap<Reverse<(Millis, CompactString, CustomerIndex)>>,
    /// Hours up to and including this one have been moved to `due_soon`.
    reached: Option<u32>,
}

/// Hour index 0 as stored: the bias that keeps hours before 1970 in order.
const BIAS: i64 = 1 << 31;

/// The stored (biased) hour of a deadline; never `NOT_FILED`.
pub fn hour_of(deadline: Millis) -> u32 {
    let biased = deadline.div_euclid(HOUR_MS).saturating_add(BIAS);
    u32::try_from(biased.clamp(0, i64::from(NOT_FILED - 1))).unwrap_or(NOT_FILED - 1)
}

/// The first millisecond of a stored hour (at or before every deadline filed in it).
fn hour_start(hour: u32) -> Millis {
    (i64::from(hour) - BIAS) * HOUR_MS
}

impl InactivityIndex {
    /// Files customer `customer` (id `id`) under its deadline's hour, unless it is already filed
    /// there.
    pub fn file(&mut self, customer: CustomerIndex, id: &str, deadline: Millis, filed: &mut u32) {
        let hour = hour_of(deadline);
        if *filed == hour {
            return;
        }
        *filed = hour;
        if self.reached.is_some_and(|r| hour <= r) {
            self.due_soon.push(Reverse((deadline, CompactString::from(id), customer)));
        } else {
            self.hours.entry(hour).or_default().push(customer);
        }
    }

    /// Takes the earliest hour that starts at or before `now`, with the customers filed in it
    /// (some possibly stale: check `filed_bucket`).
    pub fn take_reached_hour(&mut self, now: Millis) -> Option<(u32, Vec<CustomerIndex>)> {
        let (&hour, _) = self.hours.first_key_value()?;
        if hour_start(hour) > now {
            return None;
        }
        self.reached = Some(self.reached.map_or(hour, |r| r.max(hour)));
        self.hours.remove(&hour).map(|ids| (hour, ids))
    }

    /// Marks the hour of `now` as reached, so later filings into it go straight to the heap.
    pub fn reach(&mut self, now: Millis) {
        let hour = hour_of(now);
        self.reached = Some(self.reached.map_or(hour, |r| r.max(hour)));
    }

    pub fn push_due(&mut self, deadline: Millis, id: CompactString, customer: CustomerIndex) {
        self.due_soon.push(Reverse((deadline, id, customer)));
    }

    /// The earliest exact deadline at or before `now`, removed from the heap, with its customer.
    pub fn pop_due(&mut self, now: Millis) -> Option<(Millis, CompactString, CustomerIndex)> {
        if self.due_soon.peek().is_some_and(|Reverse((t, _, _))| *t <= now) {
            self.due_soon.pop().map(|Reverse(entry)| entry)
        } else {
            None
        }
    }

    /// A time at or before every deadline still filed (the start of the earliest hour, or the
    /// earliest exact deadline), or None when nothing is filed.
    pub fn earliest_possible(&self) -> Option<Millis> {
        let hour = self.hours.keys().next().map(|h| hour_start(*h));
        let exact = self.due_soon.peek().map(|Reverse((t, _, _))| *t);
        hour.into_iter().chain(exact).min()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn files_by_hour_and_pops_exact_deadlines_in_order() {
        let mut index = InactivityIndex::default();
        let (a, b, c) = (CompactString::from("a"), CompactString::from("b"), CompactString::from("c"));
        let (mut fa, mut fb, mut fc) = (NOT_FILED, NOT_FILED, NOT_FILED);
        index.file(1, &b, 10 * HOUR_MS + 500, &mut fb);
        index.file(0, &a, 10 * HOUR_MS + 500, &mut fa);
        index.file(2, &c, 12 * HOUR_MS, &mut fc);
        // Filing again in the same hour is free: no second entry.
        index.file(0, &a, 10 * HOUR_MS + 900, &mut fa);
        assert_eq!(index.earliest_possible(), Some(10 * HOUR_MS));
        assert!(index.take_reached_hour(10 * HOUR_MS - 1).is_none());
        let (hour, customers) = index.take_reached_hour(10 * HOUR_MS + 600).unwrap();
        assert_eq!((hour, customers.clone()), (hour_of(10 * HOUR_MS), vec![1, 0]));
        // Pushed in index order b, a: same deadline, so ties go by customer id.
        index.push_due(10 * HOUR_MS + 500, b.clone(), 1);
        index.push_due(10 * HOUR_MS + 500, a.clone(), 0);
        index.reach(10 * HOUR_MS + 600);
        assert_eq!(index.pop_due(10 * HOUR_MS + 600).map(|(_, id, i)| (id, i)), Some((a.clone(), 0)));
        assert_eq!(index.pop_due(10 * HOUR_MS + 600).map(|(_, id, i)| (id, i)), Some((b, 1)));
        assert!(index.pop_due(10 * HOUR_MS + 600).is_none());
        // A filing into an hour already reached goes straight to the exact heap.
        let mut fa = NOT_FILED;
        index.file(0, &a, 10 * HOUR_MS + 700, &mut fa);
        assert_eq!(index.pop_due(10 * HOUR_MS + 700), Some((10 * HOUR_MS + 700, a, 0)));
        assert_eq!(index.earliest_possible(), Some(12 * HOUR_MS));
    }

    #[test]
    fn deadlines_before_1970_keep_their_order() {
        let mut index = InactivityIndex::default();
        // 1900, the last hour of 1969, 1970 itself, and 2026: filed out of order.
        let deadlines = [-2_208_988_800_000, -1, 0, 1_790_000_000_000];
        let mut filed = [NOT_FILED; 4];
        for i in [3, 1, 0, 2] {
            index.file(i as u32, "x", deadlines[i], &mut filed[i]);
        }
        assert!(filed.iter().all(|f| *f != NOT_FILED));
        assert_eq!(index.earliest_possible(), Some(deadlines[0].div_euclid(HOUR_MS) * HOUR_MS));
        // At 1950 only the 1900 deadline has come due.
        let (hour, due) = index.take_reached_hour(-631_152_000_000).unwrap();
        assert_eq!((hour, due), (hour_of(deadlines[0]), vec![0]));
        assert!(index.take_reached_hour(-631_152_000_000).is_none());
        // Up to 2000, the rest except 2026, hour by hour in time order.
        let mut order = Vec::new();
        while let Some((_, due)) = index.take_reached_hour(946_684_800_000) {
            order.extend(due);
        }
        assert_eq!(order, vec![1, 2]);
        assert_eq!(index.earliest_possible(), Some(deadlines[3].div_euclid(HOUR_MS) * HOUR_MS));
    }

    #[test]
    fn extreme_deadlines_are_clamped_but_ordered_by_the_exact_heap() {
        assert!(hour_of(Millis::MIN) < hour_of(-1));
        assert!(hour_of(Millis::MAX) < NOT_FILED);
        // The start of a clamped hour is computed without overflow (a panic in debug builds).
        assert!(hour_start(hour_of(Millis::MIN)) < -200_000 * 8_766 * HOUR_MS);
        assert!(hour_start(hour_of(Millis::MAX)) > 200_000 * 8_766 * HOUR_MS);
        assert!(hour_of(-HOUR_MS) < hour_of(0) && hour_of(0) < hour_of(HOUR_MS));
    }
}
