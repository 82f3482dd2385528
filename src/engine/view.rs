//! The read side: each partition publishes its clock and segment partials; readers merge them.

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, RwLock};

use dashmap::DashMap;
use fnv::FnvBuildHasher;

use compact_str::CompactString;

use crate::event::Millis;
use crate::state::customer::NEVER;
use crate::state::{SegmentCatalog, SegmentId};
use crate::window::{BucketAggregate, SegmentMetric, SegmentPartial, WindowFigures};

/// Where merged segment figures come from: this process's partitions, or every partition of the
/// group through the partials exchange (`cluster`). The exposition and the rules read either.
pub trait FigureSource: RuleFigures {
    /// The largest partition clock (SPEC §2), `NEVER` before any event.
    fn clock(&self) -> Millis;
    /// Customers by state (active, inactive, churned).
    fn by_state(&self, segment: &Self::Segment) -> [i64; 3];
    /// Summed lifetime revenue of the current members, and how many they are.
    fn lifetime_revenue(&self, segment: &Self::Segment) -> (f64, i64);
}

/// What threshold rules read: segments by name and their merged window figures at one clock.
/// Besides every `FigureSource`, the partitions' snapshots at a rule boundary
/// (`detect::boundaries`).
pub trait RuleFigures {
    type Segment;
    /// `(segment, dimension, label)`, sorted by dimension (`all` first) then label.
    fn segments(&self) -> Vec<(Self::Segment, String, CompactString)>;
    /// Window `window` of a segment at clock `at`, merged; only `only`'s fields when given.
    fn figures(&self, segment: &Self::Segment, window: usize, at: Millis, only: Option<SegmentMetric>)
        -> WindowFigures;
}

/// This process's partitions, with the catalog that names their segments.
pub struct LocalFigures<'a> {
    pub catalog: &'a SegmentCatalog,
    pub view: &'a EngineView,
}

impl RuleFigures for LocalFigures<'_> {
    type Segment = SegmentId;

    fn segments(&self) -> Vec<(SegmentId, String, CompactString)> {
        self.catalog.all_segments()
    }

    fn figures(&self, segment: &SegmentId, window: usize, at: Millis, only: Option<SegmentMetric>) -> WindowFigures {
        self.view.figures_for(*segment, window, at, only)
    }
}

impl FigureSource for LocalFigures<'_> {
    fn clock(&self) -> Millis {
        self.view.clock()
    }

    fn by_state(&self, segment: &SegmentId) -> [i64; 3] {
        self.view.by_state(*segment)
    }

    fn lifetime_revenue(&self, segment: &SegmentId) -> (f64, i64) {
        self.view.lifetime_revenue(*segment)
    }
}

/// What one partition shares with readers.
#[derive(Debug)]
pub struct PartitionView {
    clock: AtomicI64,
    tracked: AtomicI64,
    pub segments: DashMap<SegmentId, SegmentPartial, FnvBuildHasher>,
}

impl Default for PartitionView {
    fn default() -> Self {
        PartitionView { clock: AtomicI64::new(NEVER), tracked: AtomicI64::new(0), segments: DashMap::default() }
    }
}

impl PartitionView {
    pub fn clock(&self) -> Millis {
        self.clock.load(Ordering::Acquire)
    }

    pub(crate) fn set_clock(&self, clock: Millis) {
        self.clock.store(clock, Ordering::Release);
    }

    pub fn tracked_customers(&self) -> i64 {
        self.tracked.load(Ordering::Relaxed)
    }

    pub(crate) fn add_tracked(&self, n: i64) {
        self.tracked.fetch_add(n, Ordering::Relaxed);
    }
}

/// The registered partitions, by partition number.
type Registry = Arc<RwLock<Vec<(i32, Arc<PartitionView>)>>>;

/// Every partition's view, merged on read.
#[derive(Debug, Default, Clone)]
pub struct EngineView {
    partitions: Registry,
}

impl EngineView {
    pub fn register(&self, partition: i32, view: Arc<PartitionView>) {
        let mut all = self.partitions.write().unwrap_or_else(|e| e.into_inner());
        all.retain(|(p, _)| *p != partition);
        all.push((partition, view));
        all.sort_by_key(|(p, _)| *p);
    }

    pub fn unregister(&self, partition: i32) {
        self.partitions.write().unwrap_or_else(|e| e.into_inner()).retain(|(p, _)| *p != partition);
    }

    fn each<T>(&self, f: impl FnMut(&Arc<PartitionView>) -> T) -> Vec<T> {
        self.partitions.read().unwrap_or_else(|e| e.into_inner()).iter().map(|(_, v)| v).map(f).collect()
    }

    /// The largest clock among the partitions (SPEC §2), or `NEVER` before any event.
    pub fn clock(&self) -> Millis {
        self.each(|v| v.clock()).into_iter().max().unwrap_or(NEVER)
    }

    /// The smallest clock among partitions that have one: a partition that never saw an event has
    /// nothing to contribute and is not waited for.
    pub fn low_watermark(&self) -> Option<Millis> {
        self.each(|v| v.clock()).into_iter().filter(|c| *c != NEVER).min()
    }

    pub fn tracked_customers(&self) -> i64 {
        self.each(|v| v.tracked_customers()).into_iter().sum()
    }

    /// One segment's window `window` at clock `at`, merged over partitions.
    pub fn figures(&self, segment: SegmentId, window: usize, at: Millis) -> WindowFigures {
        self.figures_for(segment, window, at, None)
    }

    /// Like `figures`, merging only what `only` needs when given.
    pub fn figures_for(
        &self,
        segment: SegmentId,
        window: usize,
        at: Millis,
        only: Option<SegmentMetric>,
    ) -> WindowFigures {
        let mut figures = WindowFigures::default();
        self.each(|v| {
            if let Some(partial) = v.segments.get(&segment) {
                partial.read_into(window, at, &mut figures, only);
            }
        });
        figures
    }

    /// Customers of a segment by state (active, inactive, churned), merged over partitions.
    pub fn by_state(&self, segment: SegmentId) -> [i64; 3] {
        let mut total = [0; 3];
        self.each(|v| {
            if let Some(partial) = v.segments.get(&segment) {
                for (t, n) in total.iter_mut().zip(partial.by_state) {
                    *t += n;
                }
            }
        });
        total
    }

    /// Read-only, for the status page: one segment's window `window` at clock `at` bucket by
    /// bucket (`n` buckets, oldest first), merged over partitions, and the live count at the
    /// window's start.
    pub fn bucket_series(
        &self,
        segment: SegmentId,
        window: usize,
        n: usize,
        at: Millis,
    ) -> (i64, Vec<BucketAggregate>) {
        let mut buckets = vec![BucketAggregate::default(); n];
        let mut live = 0;
        self.each(|v| {
            if let Some(ring) = v.segments.get(&segment).as_ref().and_then(|p| p.rings.get(window)) {
                live += ring.buckets_into(at, &mut buckets);
            }
        });
        (live, buckets)
    }

    /// Each registered partition's clock (`NEVER` before its first event).
    pub fn partition_clocks(&self) -> Vec<(i32, Millis)> {
        self.partitions.read().unwrap_or_else(|e| e.into_inner()).iter().map(|(p, v)| (*p, v.clock())).collect()
    }

    /// The summed lifetime revenue of a segment's current members and how many they are, merged
    /// over partitions.
    pub fn lifetime_revenue(&self, segment: SegmentId) -> (f64, i64) {
        let mut total = (0.0, 0);
        self.each(|v| {
            if let Some(partial) = v.segments.get(&segment) {
                total.0 += partial.lifetime_revenue;
                total.1 += partial.by_state.iter().sum::<i64>();
            }
        });
        total
    }
}
