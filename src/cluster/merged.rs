//! The receiving side of the partials exchange: every partition's latest published partials, as
//! read from the partials topic, merged on read into the cluster-wide figures.
//!
//! Records are staged per partition and applied together when that partition's marker arrives,
//! so a reader never merges half of a publish. Epochs fence earlier owners: a record whose epoch
//! is below the partition's current one is dropped, and a higher epoch starts the partition over
//! (the new owner's first publish is full). In a compacted topic every record an earlier owner left
//! precedes the new owner's, so reading from the beginning gives the same result.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Mutex, RwLock, RwLockReadGuard};

use compact_str::CompactString;
use fnv::FnvHashMap;

use super::record::{Marker, Record, SegmentHead, SegmentName};
use crate::detect::boundaries::BoundaryBook;
use crate::engine::view::{FigureSource, RuleFigures};
use crate::event::Millis;
use crate::state::customer::NEVER;
use crate::window::{SegmentMetric, SegmentPartial, WindowFigures, WindowSpec};

/// One input partition as its owner last published it.
#[derive(Debug, Default)]
struct Published {
    epoch: u64,
    marker: Option<Marker>,
    /// How far the partition's rule-boundary snapshots have arrived (`Marker::vouched`), kept
    /// while a new owner has vouched for nothing yet. `Some(NEVER)`: idle, nothing to wait for.
    /// `None` while the partition may have events unread or snapshots in flight.
    boundaries_through: Option<Millis>,
    segments: FnvHashMap<SegmentName, SegmentPartial>,
    /// Records since the last marker.
    staged: Vec<Record>,
}

/// How one partition's partials stand, for `/metrics` and `/readyz`.
#[derive(Debug, Clone, PartialEq)]
pub struct PartialsAge {
    pub partition: i32,
    /// Seconds since the owner last published (wall clock), `None` before any marker.
    pub age_seconds: Option<f64>,
    /// Published under another configuration shape (windows, dimensions, max_values): not merged.
    pub other_shape: bool,
}

pub struct ClusterPartials {
    windows: Vec<WindowSpec>,
    shape: u64,
    /// Segments kept per partition at most (the catalog's bound): a hostile topic cannot grow this.
    max_segments: usize,
    /// Partials older than this (ms) are left out of the merge.
    stale_after: Millis,
    partitions: RwLock<BTreeMap<i32, Published>>,
    /// Every partition's rule-boundary snapshots not yet evaluated (`detect::boundaries`). Kept
    /// across epochs: a new owner publishes the same snapshots for the boundaries it reaches again.
    boundaries: Mutex<BoundaryBook>,
    /// The input topics' partition count, 0 until known: the rule watermark waits for each.
    input_partitions: std::sync::atomic::AtomicUsize,
    /// Records refused (undecodable, out of bounds, stale epoch).
    refused: std::sync::atomic::AtomicU64,
}

impl ClusterPartials {
    pub fn new(windows: Vec<WindowSpec>, shape: u64, max_segments: usize, stale_after: Millis) -> Self {
        ClusterPartials {
            windows,
            shape,
            max_segments,
            stale_after,
            partitions: RwLock::default(),
            boundaries: Mutex::new(BoundaryBook::bounded(max_segments)),
            input_partitions: Default::default(),
            refused: Default::default(),
        }
    }

    /// An epoch above every one published for `partition` so far (call once the reader has
    /// caught up with the topic).
    pub fn next_epoch(&self, partition: i32) -> u64 {
        self.read().get(&partition).map_or(1, |p| p.epoch + 1)
    }

    pub fn refused(&self) -> u64 {
        self.refused.load(std::sync::atomic::Ordering::Relaxed)
    }

    fn read(&self) -> RwLockReadGuard<'_, BTreeMap<i32, Published>> {
        self.partitions.read().unwrap_or_else(|e| e.into_inner())
    }

    pub(crate) fn refuse(&self) {
        self.refused.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    }

    /// Takes one record read from the topic.
    pub fn receive(&self, record: Record) {
        let mut all = self.partitions.write().unwrap_or_else(|e| e.into_inner());
        let published = all.entry(record.partition()).or_default();
        let epoch = record.epoch();
        if epoch < published.epoch {
            drop(all);
            self.refuse();
            return;
        }
        if epoch > published.epoch {
            *published = Published { epoch, boundaries_through: published.boundaries_through, ..Published::default() };
        }
        match record {
            Record::Marker { marker, .. } => {
                let staged = std::mem::take(&mut published.staged);
                let mut over = 0;
                for record in staged {
                    if !self.apply(published, record) {
                        over += 1;
                    }
                }
                published.marker = Some(marker);
                published.boundaries_through = match marker.vouched {
                    _ if marker.idle => Some(NEVER),
                    // Nothing vouched by this owner yet: an earlier owner's vouch still holds,
                    // but a partition that was idle may now have events in flight.
                    NEVER => published.boundaries_through.filter(|through| *through != NEVER),
                    vouched => Some(vouched),
                };
                if marker.rules_released != NEVER {
                    self.boundaries.lock().unwrap_or_else(|e| e.into_inner()).forget_through(marker.rules_released);
                }
                drop(all);
                for _ in 0..over {
                    self.refuse();
                }
            }
            other => published.staged.push(other),
        }
    }

    /// Applies a staged record; `false` when it is out of bounds.
    fn apply(&self, published: &mut Published, record: Record) -> bool {
        if let Record::Boundary { partition, snapshot, .. } = record {
            let mut book = self.boundaries.lock().unwrap_or_else(|e| e.into_inner());
            let mut all = true;
            for (window, segment, figures) in snapshot.figures {
                all &= (window as usize) < self.windows.len()
                    && book.record(partition, snapshot.at, window, segment, figures);
            }
            return all;
        }
        let (segment, fits) = match &record {
            Record::Bucket { segment, window, slot, .. } => {
                let ring = self.windows.get(*window as usize);
                (segment, ring.is_some_and(|w| i64::from(*slot) < w.size_ms / w.bucket_ms))
            }
            Record::Head { segment, head, .. } => (segment, head.bases.len() == self.windows.len()),
            Record::Marker { .. } | Record::Boundary { .. } => return true,
        };
        let room = published.segments.contains_key(segment) || published.segments.len() < self.max_segments;
        if !fits || !room {
            return false;
        }
        let partial = published.segments.entry(segment.clone()).or_insert_with(|| SegmentPartial::new(&self.windows));
        match record {
            Record::Bucket { window, slot, bucket, agg, .. } => {
                partial.rings[window as usize].put_slot(slot as usize, bucket, *agg)
            }
            Record::Head { head, .. } => put_head(partial, head),
            Record::Marker { .. } | Record::Boundary { .. } => {}
        }
        true
    }

    /// The input topics' partition count (the probe reads it from the brokers).
    pub fn set_input_partitions(&self, partitions: usize) {
        self.input_partitions.store(partitions, std::sync::atomic::Ordering::Relaxed);
    }

    /// Runs `f` on the book of rule-boundary snapshots with the group's rule watermark: the
    /// lowest clock the input partitions vouched for (`Marker::vouched`). Every input partition
    /// is waited for until it has vouched (or is idle), and a partition whose owner is gone or
    /// changing keeps its last vouch: its snapshots are part of every later boundary. Idle
    /// partitions (no event, none unread) have nothing to contribute. `None` until the partition
    /// count is known.
    pub fn with_boundaries<T>(&self, f: impl FnOnce(&mut BoundaryBook, Millis) -> T) -> Option<T> {
        let partitions = self.input_partitions.load(std::sync::atomic::Ordering::Relaxed);
        let watermark = {
            let all = self.read();
            let mut low = None::<Millis>;
            for partition in 0..i32::try_from(partitions).ok()? {
                match all.get(&partition)?.boundaries_through? {
                    NEVER => {}
                    clock => low = Some(low.map_or(clock, |l| l.min(clock))),
                }
            }
            low?
        };
        let mut book = self.boundaries.lock().unwrap_or_else(|e| e.into_inner());
        Some(f(&mut book, watermark))
    }

    /// Every partition's age at wall clock `now`, by partition.
    pub fn ages(&self, now: Millis) -> Vec<PartialsAge> {
        self.read()
            .iter()
            .map(|(partition, p)| PartialsAge {
                partition: *partition,
                age_seconds: p.marker.map(|m| (now - m.published_at).max(0) as f64 / 1000.0),
                other_shape: p.marker.is_some_and(|m| m.shape != self.shape),
            })
            .collect()
    }

    /// The merged figures at wall clock `now`: only partitions with a current marker of this shape.
    pub fn merged(&self, now: Millis) -> MergedFigures<'_> {
        let guard = self.read();
        let current: Vec<i32> = guard
            .iter()
            .filter(|(_, p)| {
                p.marker.is_some_and(|m| m.shape == self.shape && now - m.published_at <= self.stale_after)
            })
            .map(|(n, _)| *n)
            .collect();
        MergedFigures { guard, current, max_segments: self.max_segments }
    }
}

fn put_head(partial: &mut SegmentPartial, head: SegmentHead) {
    partial.by_state = head.by_state;
    partial.lifetime_revenue = head.lifetime_revenue;
    for (ring, (live, kept)) in partial.rings.iter_mut().zip(head.bases) {
        ring.set_live_base(live);
        ring.set_kept_base(kept);
    }
}

/// A consistent read of the current partitions' partials.
pub struct MergedFigures<'a> {
    guard: RwLockReadGuard<'a, BTreeMap<i32, Published>>,
    current: Vec<i32>,
    max_segments: usize,
}

impl MergedFigures<'_> {
    fn each(&self, mut f: impl FnMut(&Published)) {
        for n in &self.current {
            if let Some(p) = self.guard.get(n) {
                f(p);
            }
        }
    }

    /// The partitions merged.
    pub fn partitions(&self) -> &[i32] {
        &self.current
    }
}

impl RuleFigures for MergedFigures<'_> {
    type Segment = SegmentName;

    fn segments(&self) -> Vec<(SegmentName, String, CompactString)> {
        let mut names = BTreeSet::new();
        self.each(|p| names.extend(p.segments.keys().cloned()));
        let mut out: Vec<_> =
            names.into_iter().map(|n| (n.clone(), n.dimension.to_string(), n.label.clone())).collect();
        out.sort_by(|a, b| (a.1 != "all", &a.1, &a.2).cmp(&(b.1 != "all", &b.1, &b.2)));
        // Instances that disagreed on admission could together name more: the label set stays bounded.
        out.truncate(self.max_segments);
        out
    }

    fn figures(&self, segment: &SegmentName, window: usize, at: Millis, only: Option<SegmentMetric>) -> WindowFigures {
        let mut figures = WindowFigures::default();
        self.each(|p| {
            if let Some(partial) = p.segments.get(segment) {
                partial.read_into(window, at, &mut figures, only);
            }
        });
        figures
    }
}

impl FigureSource for MergedFigures<'_> {
    fn clock(&self) -> Millis {
        let mut clock = NEVER;
        self.each(|p| clock = clock.max(p.marker.map_or(NEVER, |m| m.clock)));
        clock
    }

    fn by_state(&self, segment: &SegmentName) -> [i64; 3] {
        let mut total = [0; 3];
        self.each(|p| {
            if let Some(partial) = p.segments.get(segment) {
                for (t, n) in total.iter_mut().zip(partial.by_state) {
                    *t += n;
                }
            }
        });
        total
    }

    fn lifetime_revenue(&self, segment: &SegmentName) -> (f64, i64) {
        let mut total = (0.0, 0);
        self.each(|p| {
            if let Some(partial) = p.segments.get(segment) {
                total.0 += partial.lifetime_revenue;
                total.1 += partial.by_state.iter().sum::<i64>();
            }
        });
        total
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cluster::exchange::shape_of;
    use crate::cluster::publisher::Progress;
    use crate::cluster::PartialsPublisher;
    use crate::config::Config;
    use crate::detect::boundaries::BoundarySnapshot;
    use crate::engine::{Engine, NoBoundaries};
    use crate::event::Decoder;
    use crate::telemetry::render_segment_metrics;

    /// Publishes `partitions` through encode/decode into a `ClusterPartials`, as the topic would.
    fn exchange(
        engine: &Engine,
        partitions: &mut [(crate::engine::Partition, PartialsPublisher)],
        into: &ClusterPartials,
    ) {
        for (partition, publisher) in partitions.iter_mut() {
            for record in
                publisher.collect(partition.view(), partition.catalog(), Progress::default(), partition.clock(), 1_000)
            {
                into.receive(Record::decode(&record.encode()).unwrap());
            }
        }
        let _ = engine;
    }

    #[test]
    fn merged_partials_render_exactly_the_local_figures_and_epochs_fence_old_owners() {
        let config = Config::builtin().unwrap();
        let engine = Engine::new(&config);
        let settings = &engine.settings;
        let decoder = Decoder::new(settings.max_event_bytes, settings.dimensions.clone(), u64::MAX / 4);
        let max_segments = 1 + settings.dimensions.len() * (settings.max_values + 1);
        let partials = ClusterPartials::new(settings.windows.clone(), shape_of(settings), max_segments, 60_000);
        let mut parts: Vec<_> = (0..2)
            .map(|p| (engine.partition(p), PartialsPublisher::new(p, 1, shape_of(settings), Vec::new())))
            .collect();
        let mut effects = Vec::new();
        let start = 1_767_225_600_000i64;
        for i in 0..400i64 {
            let line = format!(
                r#"{{"type":"interaction","kind":"purchase","amount":{},"customer_id":"c{}","ts":{},"segments":{{"plan":"p{}"}}}}"#,
                i % 7 + 1,
                i % 37,
                start + i * 3_600_000,
                i % 3
            );
            let event = decoder.decode(line.as_bytes(), None).unwrap();
            let (partition, _) = &mut parts[(i % 37 % 2) as usize];
            partition.apply(&event, &mut effects, &mut NoBoundaries);
            if i % 50 == 0 {
                exchange(&engine, &mut parts, &partials);
            }
        }
        exchange(&engine, &mut parts, &partials);
        let local = engine.local_figures();
        let merged = partials.merged(1_000);
        assert_eq!(merged.clock(), local.clock());
        let text = |s: &dyn Fn() -> String| s();
        let (a, b) = (
            text(&|| render_segment_metrics(settings, &local, &[], local.clock())),
            text(&|| render_segment_metrics(settings, &merged, &[], local.clock())),
        );
        assert!(a.lines().count() > 100);
        assert_eq!(a, b, "changes-only publishes rebuild exactly the local figures");
        drop(merged);

        // A new owner of partition 1 (epoch 2) publishes in full; the old owner's later publish
        // (epoch 1, a zombie) is dropped.
        let (partition, publisher) = &mut parts[1];
        let mut zombie = std::mem::replace(publisher, PartialsPublisher::new(1, 2, shape_of(settings), Vec::new()));
        for record in
            publisher.collect(partition.view(), partition.catalog(), Progress::default(), partition.clock(), 2_000)
        {
            partials.receive(record);
        }
        let refused = partials.refused();
        zombie.resend_all();
        for record in
            zombie.collect(partition.view(), partition.catalog(), Progress::default(), partition.clock(), 3_000)
        {
            partials.receive(record);
        }
        assert!(partials.refused() > refused, "a fenced owner's records are refused");
        let merged = partials.merged(3_000);
        assert_eq!(render_segment_metrics(settings, &merged, &[], local.clock()), a);
        assert_eq!(partials.ages(3_000)[1].age_seconds, Some(1.0), "the zombie's marker did not count");
        assert!(partials.merged(70_000).partitions().is_empty(), "stale partials are left out");
    }

    fn marker(partition: i32, epoch: u64, clock: Millis, idle: bool, rules_released: Millis) -> Record {
        Record::Marker {
            partition,
            epoch,
            marker: Marker { clock, published_at: 0, tracked: 0, shape: 7, idle, rules_released, vouched: clock },
        }
    }

    #[test]
    fn the_rule_watermark_waits_for_every_input_partition_and_survives_a_new_owner() {
        let windows = Config::builtin().map(|c| Engine::new(&c).settings.windows.clone()).unwrap();
        let partials = ClusterPartials::new(windows, 7, 100, 60_000);
        let watermark = || partials.with_boundaries(|_, w| w);
        partials.receive(marker(0, 1, 5_000, false, NEVER));
        assert_eq!(watermark(), None, "the partition count is not known yet");
        partials.set_input_partitions(3);
        assert_eq!(watermark(), None, "partitions 1 and 2 have published nothing");
        partials.receive(marker(1, 1, NEVER, false, NEVER));
        partials.receive(marker(2, 1, 9_000, false, NEVER));
        assert_eq!(watermark(), None, "partition 1 may still have its first events unread");
        partials.receive(marker(1, 1, NEVER, true, NEVER));
        assert_eq!(watermark(), Some(5_000), "an idle partition is not waited for");
        // Partition 0 changes owner: its last clock holds until the new owner's first marker.
        let segment = SegmentName { dimension: "all".into(), label: "all".into() };
        let boundary = Record::Boundary {
            partition: 0,
            epoch: 2,
            slot: 0,
            snapshot: BoundarySnapshot { at: 3_600_000, figures: vec![(1, segment, WindowFigures::default())] },
        };
        partials.receive(boundary);
        assert_eq!(watermark(), Some(5_000));
        partials.receive(marker(0, 2, 4_000_000, false, NEVER));
        assert_eq!(watermark(), Some(9_000));
        assert_eq!(partials.with_boundaries(|book, _| book.boundaries(None, Millis::MAX)), Some(vec![3_600_000]));
        partials.receive(marker(0, 2, 4_000_000, false, 3_600_000));
        assert_eq!(
            partials.with_boundaries(|book, _| book.boundaries(None, Millis::MAX)),
            Some(vec![]),
            "released boundaries are dropped"
        );
    }
}
