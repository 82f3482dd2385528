//! Receipt-to-applied times for `cxpulse_event_processing_seconds` without a clock read and an
//! atomic histogram update per event, for the replay's applying thread.
//!
//! Reading the clock (`Instant::now`) costs about 100 ns on this project's machines (a VM), a
//! tenth of applying an event in a replay, and the shared histogram's update is three atomic
//! operations. So the moment an event was applied is read once every [`READ_EVERY`] events and
//! stands for every event since the previous read: an observed time is late by at most the time
//! to apply `READ_EVERY - 1` further events (about 15 µs, against the smallest bucket's 10 µs and
//! the typical millisecond a line waits in its batch), and never early. Observations go to a
//! local histogram, which reaches the shared one at [`ProcessingTimes::flush`] (and on drop).
//!
//! The live service keeps reading the clock per event: there an event may be the last for a
//! while, and its time must not wait for fifteen more.

use std::time::Instant;

use prometheus::local::LocalHistogram;
use prometheus::Histogram;

/// Events applied between two clock reads.
pub const READ_EVERY: usize = 16;

pub struct ProcessingTimes {
    local: LocalHistogram,
    /// When each event applied since the last clock read was received.
    pending: Vec<Instant>,
}

impl ProcessingTimes {
    pub fn new(shared: &Histogram) -> Self {
        ProcessingTimes { local: shared.local(), pending: Vec::with_capacity(READ_EVERY) }
    }

    /// An event received at `received` has just been applied.
    pub fn applied(&mut self, received: Instant) {
        self.pending.push(received);
        if self.pending.len() == READ_EVERY {
            self.settle();
        }
    }

    /// Observes the pending events at the clock's current reading.
    fn settle(&mut self) {
        if self.pending.is_empty() {
            return;
        }
        let now = Instant::now();
        for received in self.pending.drain(..) {
            self.local.observe(now.saturating_duration_since(received).as_secs_f64());
        }
    }

    /// Settles the pending events and adds the local observations to the shared histogram.
    pub fn flush(&mut self) {
        self.settle();
        self.local.flush();
    }
}

impl Drop for ProcessingTimes {
    fn drop(&mut self) {
        self.flush();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use prometheus::HistogramOpts;
    use std::time::Duration;

    fn histogram() -> Histogram {
        Histogram::with_opts(HistogramOpts::new("t", "t").buckets(vec![0.001, 1.0])).unwrap()
    }

    #[test]
    fn every_event_is_observed_once_by_the_flush() {
        let shared = histogram();
        let mut times = ProcessingTimes::new(&shared);
        let received = Instant::now();
        for _ in 0..READ_EVERY * 2 + 3 {
            times.applied(received);
        }
        assert_eq!(shared.get_sample_count(), 0, "nothing reaches the shared histogram before a flush");
        times.flush();
        assert_eq!(shared.get_sample_count(), (READ_EVERY * 2 + 3) as u64);
        drop(times);
        assert_eq!(shared.get_sample_count(), (READ_EVERY * 2 + 3) as u64, "a flushed event is not counted again");
    }

    #[test]
    fn a_time_is_never_early() {
        let shared = histogram();
        let mut times = ProcessingTimes::new(&shared);
        let received = Instant::now() - Duration::from_millis(5);
        times.applied(received);
        times.flush();
        assert!(shared.get_sample_sum() >= 0.005, "observed {} s", shared.get_sample_sum());
        let mut times = ProcessingTimes::new(&shared);
        times.applied(Instant::now());
        drop(times);
        assert_eq!(shared.get_sample_count(), 2, "drop flushes");
    }
}
