//! The wall clock, injected. The engine itself only ever reads the stream clock; the service reads
//! the wall clock for two things: the live clock's lower bound (`wall − clock.max_lag`, SPEC §2) and
//! the decoder's `future_timestamp` check. Tests swap in a [`ManualClock`] so both are deterministic
//! (as Vector's throttle does with its fake clock).
//!
//! # Why a lagging partition never makes its customers look inactive
//! The lower bound is not taken from the wall clock as it is now, but from the last instant `T` at
//! which the partition was *known to have no record waiting*: every record appended to its input
//! partitions before `T` had been received ([`live_floor`] gives `T − max_lag`). `T` is confirmed
//! in two ways (see `service::positions::Positions`): librdkafka's end-of-partition marker,
//! which the fetcher puts in the partition queue behind the last record of the log, and the
//! probe's high-watermark measurement when it is not beyond what was received. The marker is
//! stamped when the task takes it from the queue, later than the fetch that produced it, and
//! records appended in between are not received yet: the stamp can run ahead of the true `T` by
//! the time the marker waited in the queue (seconds at librdkafka's default queue size, far below
//! `max_lag`). A partition that has a backlog gets no confirmation until it has read up to the
//! end, so while it catches up its clock is its largest event time, exactly as in replay: no
//! customer goes quiet because its newer events are still unread. A caught-up partition is
//! confirmed as fast as records arrive or every `service.probe_interval` while idle, so its clock
//! trails the wall clock by `max_lag` plus at most a probe interval. When the brokers stop answering, confirmations stop
//! and the bound stays where it was: an outage, however long, moves no customer to inactive for
//! records that could not be read.

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;

use crate::event::Millis;

/// Milliseconds since the Unix epoch, as the service sees them.
pub trait WallClock: Send + Sync {
    fn now_ms(&self) -> Millis;
}

/// The operating system's real-time clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl WallClock for SystemClock {
    fn now_ms(&self) -> Millis {
        chrono::Utc::now().timestamp_millis()
    }
}

/// A clock that moves only when told to; shared by cloning.
#[derive(Debug, Clone, Default)]
pub struct ManualClock {
    now: Arc<AtomicI64>,
}

impl ManualClock {
    pub fn new(now_ms: Millis) -> Self {
        ManualClock { now: Arc::new(AtomicI64::new(now_ms)) }
    }

    pub fn set(&self, now_ms: Millis) {
        self.now.store(now_ms, Ordering::Release);
    }

    pub fn advance(&self, by_ms: Millis) {
        self.now.fetch_add(by_ms, Ordering::AcqRel);
    }
}

impl WallClock for ManualClock {
    fn now_ms(&self) -> Millis {
        self.now.load(Ordering::Acquire)
    }
}

/// The live lower bound of a partition clock (SPEC §2): `T − max_lag`, where `T` is the last wall
/// time at which the partition was known to be caught up (see the module doc).
pub fn live_floor(caught_up_at: Millis, max_lag_ms: i64) -> Millis {
    caught_up_at.saturating_sub(max_lag_ms)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manual_clock_moves_only_when_told() {
        let clock = ManualClock::new(1_000);
        let shared = clock.clone();
        assert_eq!(shared.now_ms(), 1_000);
        clock.advance(500);
        assert_eq!(shared.now_ms(), 1_500);
        clock.set(10);
        assert_eq!(live_floor(shared.now_ms(), 5), 5);
    }

    #[test]
    fn system_clock_is_recent() {
        // 2024-01-01: anything earlier means the clock or the conversion is broken.
        assert!(SystemClock.now_ms() > 1_704_067_200_000);
    }
}
