//! What is known about each side of an assigned partition: the next offset to process, what was
//! received, the high watermark the probe measured, and when the partition was last known to be
//! caught up. The partition task writes most of it and the probe the rest; both read it. The
//! caught-up instant is the `T` of `engine::clock`: the wall-clock floor of a partition's clock
//! rests on it, so it is only ever moved by a confirmation that every record then on the broker
//! had been received.

use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};

use crate::event::Millis;
use crate::source::kafka::SIDES;

/// What is known about each side's position, shared with the lag probe. -1 is unknown.
#[derive(Debug)]
pub struct Positions {
    /// The next offset to process (written by the task once the batch is stored, read by the probe).
    next: [AtomicI64; SIDES],
    /// The offset after the last record the task received from the queue.
    received: [AtomicI64; SIDES],
    /// The partition's high watermark as last measured by the probe (read by the merge).
    high: [AtomicI64; SIDES],
    /// How many high watermarks the probe has measured: the merge trusts only one measured after
    /// the side's last record arrived.
    measurements: [AtomicU64; SIDES],
    /// Wall ms of the latest instant at which every record then on the broker had been received
    /// (the `T` of `engine::clock`): set on the end-of-partition marker and by the probe.
    caught_up_at: [AtomicI64; SIDES],
}

impl Default for Positions {
    fn default() -> Self {
        let unknown = || std::array::from_fn(|_| AtomicI64::new(-1));
        let measurements = std::array::from_fn(|_| AtomicU64::new(0));
        Positions { next: unknown(), received: unknown(), high: unknown(), measurements, caught_up_at: unknown() }
    }
}

impl Positions {
    pub fn get(&self, side: usize) -> Option<i64> {
        Some(self.next[side].load(Ordering::Acquire)).filter(|o| *o >= 0)
    }

    pub fn set(&self, side: usize, next: i64) {
        self.next[side].store(next, Ordering::Release);
    }

    /// The offset after the last record received on `side`, if any was.
    pub fn received(&self, side: usize) -> Option<i64> {
        Some(self.received[side].load(Ordering::Acquire)).filter(|o| *o >= 0)
    }

    pub fn set_received(&self, side: usize, next: i64) {
        self.received[side].store(next, Ordering::Release);
    }

    pub fn set_high_watermark(&self, side: usize, high: i64) {
        self.high[side].store(high, Ordering::Release);
        self.measurements[side].fetch_add(1, Ordering::AcqRel);
    }

    /// The number of high watermarks measured so far on `side` (to compare with a later count).
    pub fn measurements(&self, side: usize) -> u64 {
        self.measurements[side].load(Ordering::Acquire)
    }

    /// Whether a high watermark measured after the first `before` measurements shows nothing
    /// beyond `received_next`. An older one is no evidence: while a broker is away no new one
    /// comes, and one from before records were appended would claim they were all received.
    pub fn received_all_measured(&self, side: usize, received_next: i64, before: u64) -> bool {
        let counted = self.measurements(side);
        let high = self.high[side].load(Ordering::Acquire);
        counted > before && high >= 0 && received_next >= high
    }

    /// Every record appended to `side` before wall time `at` has been received. Callers: the task
    /// on the end-of-partition marker; the probe when the high watermark it asked for at `at` is
    /// not beyond what was received, read after the answer.
    pub fn caught_up(&self, side: usize, at: Millis) {
        self.caught_up_at[side].fetch_max(at, Ordering::AcqRel);
    }

    /// The latest instant at which every present side was caught up: the earliest of theirs.
    /// `None` while a present side never was.
    pub fn caught_up_at(&self, present: [bool; SIDES]) -> Option<Millis> {
        let mut earliest: Option<Millis> = None;
        for side in (0..SIDES).filter(|s| present[*s]) {
            let at = self.caught_up_at[side].load(Ordering::Acquire);
            if at < 0 {
                return None;
            }
            earliest = Some(earliest.map_or(at, |e| e.min(at)));
        }
        earliest
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn caught_up_is_the_earliest_confirmation_of_the_present_sides() {
        let positions = Positions::default();
        let both = [true, true, false];
        assert_eq!(positions.caught_up_at(both), None, "never confirmed");
        positions.caught_up(0, 5_000);
        assert_eq!(positions.caught_up_at(both), None, "one side still unconfirmed");
        assert_eq!(positions.caught_up_at([true, false, false]), Some(5_000), "an absent side does not count");
        positions.caught_up(1, 7_000);
        assert_eq!(positions.caught_up_at(both), Some(5_000));
        positions.caught_up(0, 9_000);
        positions.caught_up(0, 8_000);
        assert_eq!(positions.caught_up_at(both), Some(7_000), "confirmations never go back");
    }

    #[test]
    fn only_a_watermark_measured_after_the_last_record_shows_that_all_was_received() {
        let positions = Positions::default();
        assert!(!positions.received_all_measured(0, 10, 0), "never measured");
        positions.set_high_watermark(0, 10);
        let before = positions.measurements(0);
        assert!(positions.received_all_measured(0, 10, 0));
        assert!(!positions.received_all_measured(0, 10, before), "measured before the last record arrived");
        positions.set_high_watermark(0, 12);
        assert!(!positions.received_all_measured(0, 10, before), "more on the broker");
        assert!(positions.received_all_measured(0, 12, before));
    }
}
