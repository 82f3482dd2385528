//! One segment's partial figures within one partition: a ring per configured window plus the
//! (unwindowed) count of customers by state and their summed lifetime revenue.

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
    /// Sum over the current members (all states) of each one's purchase amounts since first seen.
    pub lifetime_revenue: f64,
    /// Changed since the last checkpoint took it (set by every write, see `checkpoint`).
    pub(crate) dirty: bool,
    /// Changed since the cluster publisher last sent it (`cluster::publisher`).
    pub(crate) unpublished: bool,
}

impl SegmentPartial {
    pub fn new(windows: &[WindowSpec]) -> Self {
        SegmentPartial {
            rings: windows.iter().map(|w| WindowRing::new(w.size_ms, w.bucket_ms)).collect(),
            by_state: [0; 3],
            lifetime_revenue: 0.0,
            dirty: true,
            unpublished: true,
        }
    }

    /// Applies the same change to the bucket holding `ts` in every window.
    pub fn update(&mut self, ts: Millis, update: impl Fn(&mut BucketAggregate)) {
        for ring in self.rings.iter_mut() {
            ring.update(ts, &update);
        }
    }

    /// `moved` on the bucket of `from` (if any), then `update` on the bucket of `ts`, in every
    /// window ([`WindowRing::update_moved`]).
    pub fn update_moved(
        &mut self,
        from: Option<Millis>,
        ts: Millis,
        moved: impl Fn(&mut BucketAggregate),
        update: impl Fn(&mut BucketAggregate),
    ) {
        for ring in self.rings.iter_mut() {
            match from {
                Some(from) => ring.update_moved(from, ts, &moved, &update),
                None => ring.update(ts, &update),
            }
        }
    }

    pub fn add_live_base(&mut self, live: i64, kept: i64) {
        for ring in self.rings.iter_mut() {
            ring.add_live_base(live, kept);
        }
    }

    /// Adds this partial's window `index` at clock `now` into `into` (all fields, or `only` one metric's).
    pub fn read_into(&self, index: usize, now: Millis, into: &mut WindowFigures, only: Option<SegmentMetric>) {
        if let Some(ring) = self.rings.get(index) {
            let (live, kept) = ring.read_into(now, &mut into.agg, only);
            into.live_at_start += live;
            into.kept_since_start += kept;
        }
    }
}
