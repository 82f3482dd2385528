//! One segment's partial figures within one partition: a ring per configured window plus the
//! (unwindowed) count of customers by state.

use super::aggregate::BucketAggregate;
use super::figures::WindowFigures;
use super::metric::SegmentMetric;
use super::ring::WindowRing;
use crate::event::Millis;

/// A configured window in milliseconds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WindowSpec {
    pub name: String,
    pub size_ms: i64,
    pub bucket_ms: i64,
}

#[derive(Debug, Clone)]
pub struct SegmentPartial {
    pub rings: Vec<WindowRing>,
    /// Customers currently in the segment by state: active, inactive, churned.
    pub by_state: [i64; 3],
    /// Changed since the last checkpoint took it (set by every write, see `checkpoint`).
    pub(crate) dirty: bool,
}

impl SegmentPartial {
    pub fn new(windows: &[WindowSpec]) -> Self {
        SegmentPartial {
            rings: windows.iter().map(|w| WindowRing::new(w.size_ms, w.bucket_ms)).collect(),
            by_state: [0; 3],
            dirty: true,
        }
    }

    /// Applies the same change to the bucket holding `ts` in every window.
    pub fn update(&mut self, ts: Millis, update: impl Fn(&mut BucketAggregate)) {
        for ring in self.rings.iter_mut() {
            ring.update(ts, &update);
        }
    }

    pub fn add_live_base(&mut self, delta: i64) {
        for ring in self.rings.iter_mut() {
            ring.add_live_base(delta);
        }
    }

    /// Adds this partial's window `index` at clock `now` into `into` (all fields, or `only` one metric's).
    pub fn read_into(&self, index: usize, now: Millis, into: &mut WindowFigures, only: Option<SegmentMetric>) {
        if let Some(ring) = self.rings.get(index) {
            into.live_at_start += ring.read_into(now, &mut into.agg, only);
        }
    }
}
