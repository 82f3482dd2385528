//! Rule boundaries as each partition saw them: the one input every rule evaluation reads, in
//! replay, on one instance and across a cluster (SPEC §5, "evaluated at each bucket boundary").
//!
//! # Why snapshots
//! A rule is judged on its window *as it stood at the boundary*. Partitions reach a boundary at
//! different moments, and a partition that has moved on into the next bucket has already reused
//! the ring slot of the window's oldest bucket, so reading the live rings once the slowest
//! partition arrives gives another window than the one at the boundary. Instead, each partition
//! takes a snapshot of its rule windows the moment its own clock reaches the boundary (after the
//! transitions due by then, before anything later), and the evaluation merges the partitions'
//! snapshots of that boundary.
//!
//! # Why merging them is exact
//! A snapshot holds, per segment, the window's merged buckets and the counts at its start
//! ([`WindowFigures`]): sums and counts, which add over partitions. A segment whose window is
//! empty in a partition is left out of its snapshot, and a boundary a partition skipped (every
//! window had emptied) has no snapshot at all: both contribute exactly nothing. With one
//! partition the merge is the snapshot itself, bit for bit, which is what replay evaluates.
//!
//! A boundary is evaluated once every partition with a clock has passed it (the caller's
//! watermark); until then its snapshots wait here. While a backlog drains, partitions run ahead of
//! one another and of the evaluation by many boundaries, so the book is bounded by figures held
//! ([`MAX_PENDING_FIGURES`] per partition, about 400 bytes each), not by boundaries; past the
//! bound the oldest boundary goes first. Boundaries at or before a dropped one may be incomplete,
//! so the evaluator skips them ([`BoundaryBook::dropped_through`]) and says so, rather than judge
//! part of the group.

use std::collections::BTreeMap;

use compact_str::CompactString;
use fnv::FnvHashMap;

use crate::engine::context::PartitionContext;
use crate::engine::view::RuleFigures;
use crate::event::Millis;
use crate::state::SegmentName;
use crate::window::{BucketAggregate, SegmentMetric, SegmentPartial, WindowFigures};

/// Segment figures kept per partition while they wait to be evaluated.
pub const MAX_PENDING_FIGURES: usize = 65_536;

/// Boundary snapshots a publisher keeps to send again, and boundary slots per segment and window
/// in the partials topic (`cluster::record`): what a reader that starts afresh can find.
pub const KEPT_BOUNDARIES: usize = 256;

/// One partition's rule windows at one boundary: `(window, segment, figures)`, empty ones left out.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct BoundarySnapshot {
    pub at: Millis,
    pub figures: Vec<(u32, SegmentName, WindowFigures)>,
}

impl BoundarySnapshot {
    /// The windows of the rules due at `at` (those whose bucket size divides it), of every segment
    /// a rule on that window covers, as the partition holds them now.
    pub fn take(ctx: &PartitionContext, at: Millis) -> Self {
        let settings = &ctx.settings;
        let mut windows: Vec<usize> = settings
            .rules
            .iter()
            .filter(|r| at.rem_euclid(settings.windows[r.window].bucket_ms) == 0)
            .map(|r| r.window)
            .collect();
        windows.sort_unstable();
        windows.dedup();
        let mut rule_metrics = vec![Vec::new(); settings.windows.len()];
        for rule in &settings.rules {
            if !rule_metrics[rule.window].contains(&rule.metric) {
                rule_metrics[rule.window].push(rule.metric);
            }
        }
        let mut figures = Vec::new();
        for entry in ctx.view.segments.iter() {
            let name = ctx.catalog.name(*entry.key());
            for &window in &windows {
                let covered = settings.rules.iter().any(|r| {
                    r.window == window
                        && r.dimension.as_deref().is_none_or(|d| d == name.dimension)
                        && r.segment.as_deref().is_none_or(|s| s == name.label)
                });
                if !covered {
                    continue;
                }
                let mut f = WindowFigures::default();
                read_rule_fields(entry.value(), window, at, &rule_metrics[window], &mut f);
                if !f.is_empty() {
                    figures.push((window as u32, name.clone(), f));
                }
            }
        }
        BoundarySnapshot { at, figures }
    }
}

/// Only what the rules on a window read: each metric's fields when no two of them share one,
/// every field otherwise. A snapshot is taken at every boundary of every segment, so this is most
/// of what rules cost while a backlog drains.
fn read_rule_fields(
    partial: &SegmentPartial,
    window: usize,
    at: Millis,
    metrics: &[SegmentMetric],
    f: &mut WindowFigures,
) {
    let masks: Vec<u16> = metrics.iter().map(|m| BucketAggregate::fields_of(*m)).collect();
    let disjoint = masks.iter().enumerate().all(|(i, a)| masks[i + 1..].iter().all(|b| a & b == 0));
    match (metrics.split_first(), disjoint) {
        (Some((first, rest)), true) => {
            partial.read_into(window, at, f, Some(*first));
            if let Some(ring) = partial.rings.get(window) {
                for metric in rest {
                    ring.read_into(at, &mut f.agg, Some(*metric));
                }
            }
        }
        _ => partial.read_into(window, at, f, None),
    }
}

impl RuleFigures for BoundarySnapshot {
    type Segment = SegmentName;

    fn segments(&self) -> Vec<(SegmentName, String, CompactString)> {
        sorted_names(self.figures.iter().map(|(_, name, _)| name))
    }

    fn figures(&self, segment: &SegmentName, window: usize, _: Millis, _: Option<SegmentMetric>) -> WindowFigures {
        let mut out = WindowFigures::default();
        for (w, name, f) in &self.figures {
            if *w as usize == window && name == segment {
                out.merge(f);
            }
        }
        out
    }
}

fn sorted_names<'a>(names: impl Iterator<Item = &'a SegmentName>) -> Vec<(SegmentName, String, CompactString)> {
    let mut names: Vec<&SegmentName> = names.collect();
    names.sort_by(|a, b| a.output_order().cmp(&b.output_order()));
    names.dedup();
    names.into_iter().map(|n| (n.clone(), n.dimension.to_string(), n.label.clone())).collect()
}

type Figures = FnvHashMap<SegmentName, WindowFigures>;

/// Every partition's snapshots of the boundaries not yet evaluated.
#[derive(Debug)]
pub struct BoundaryBook {
    partitions: BTreeMap<i32, Pending>,
    /// Segments kept per partition, boundary and window (records read from a topic could
    /// otherwise name any number).
    max_segments: usize,
}

impl Default for BoundaryBook {
    /// Bounded by what records it: this process's partitions name only catalog segments.
    fn default() -> Self {
        BoundaryBook::bounded(usize::MAX)
    }
}

#[derive(Debug, Default)]
struct Pending {
    /// (boundary, window) → segment → figures.
    at: BTreeMap<(Millis, u32), Figures>,
    /// Segment figures in `at`.
    figures: usize,
    /// The latest boundary dropped unevaluated to keep the bound.
    dropped_through: Option<Millis>,
}

impl BoundaryBook {
    pub fn bounded(max_segments: usize) -> Self {
        BoundaryBook { partitions: BTreeMap::new(), max_segments }
    }

    /// Records one partition's figures of one segment and window at a boundary; a later record of
    /// the same (partition, boundary, window, segment) replaces it (a new owner publishes again).
    /// `false` when it would go past `max_segments`.
    pub fn record(
        &mut self,
        partition: i32,
        at: Millis,
        window: u32,
        segment: SegmentName,
        figures: WindowFigures,
    ) -> bool {
        let pending = self.partitions.entry(partition).or_default();
        let segments = pending.at.entry((at, window)).or_default();
        if segments.len() >= self.max_segments && !segments.contains_key(&segment) {
            return false;
        }
        if segments.insert(segment, figures).is_none() {
            pending.figures += 1;
        }
        while pending.figures > MAX_PENDING_FIGURES {
            let Some(((dropped, _), gone)) = pending.at.pop_first() else { break };
            pending.figures -= gone.len();
            pending.dropped_through = pending.dropped_through.max(Some(dropped));
        }
        true
    }

    /// Records a whole snapshot (the partitions of this process; they name catalog segments only,
    /// so the default bound never refuses one).
    pub fn record_snapshot(&mut self, partition: i32, snapshot: BoundarySnapshot) {
        for (window, segment, figures) in snapshot.figures {
            let _fits = self.record(partition, snapshot.at, window, segment, figures);
        }
    }

    /// Drops what a partition recorded (it left this process).
    pub fn forget_partition(&mut self, partition: i32) {
        self.partitions.remove(&partition);
    }

    /// Drops every boundary at or before `through` (evaluated).
    pub fn forget_through(&mut self, through: Millis) {
        for pending in self.partitions.values_mut() {
            pending.at = pending.at.split_off(&(through.saturating_add(1), 0));
            pending.figures = pending.at.values().map(|f| f.len()).sum();
        }
    }

    /// The latest boundary some partition dropped unevaluated: it and those before may be
    /// incomplete.
    pub fn dropped_through(&self) -> Option<Millis> {
        self.partitions.values().filter_map(|p| p.dropped_through).max()
    }

    /// The boundaries recorded in `(after, through]`, in time order.
    pub fn boundaries(&self, after: Option<Millis>, through: Millis) -> Vec<Millis> {
        let from = after.map_or(Millis::MIN, |a| a.saturating_add(1));
        let mut all: Vec<Millis> = self
            .partitions
            .values()
            .flat_map(|p| p.at.range((from, 0)..).map(|((at, _), _)| *at).take_while(|at| *at <= through))
            .collect();
        all.sort_unstable();
        all.dedup();
        all
    }

    /// The merged figures of every partition at boundary `at`.
    pub fn at(&self, at: Millis) -> BookAt<'_> {
        BookAt { book: self, at }
    }
}

/// The book read at one boundary.
pub struct BookAt<'a> {
    book: &'a BoundaryBook,
    at: Millis,
}

impl BookAt<'_> {
    fn each(&self, mut f: impl FnMut(u32, &Figures)) {
        for pending in self.book.partitions.values() {
            for ((_, window), figures) in pending.at.range((self.at, 0)..=(self.at, u32::MAX)) {
                f(*window, figures);
            }
        }
    }
}

impl RuleFigures for BookAt<'_> {
    type Segment = SegmentName;

    fn segments(&self) -> Vec<(SegmentName, String, CompactString)> {
        let mut names = Vec::new();
        self.each(|_, figures| names.extend(figures.keys().cloned()));
        sorted_names(names.iter())
    }

    fn figures(&self, segment: &SegmentName, window: usize, _: Millis, _: Option<SegmentMetric>) -> WindowFigures {
        let mut out = WindowFigures::default();
        self.each(|w, figures| {
            if w as usize == window {
                if let Some(f) = figures.get(segment) {
                    out.merge(f);
                }
            }
        });
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::window::BucketAggregate;

    fn name(label: &str) -> SegmentName {
        SegmentName { dimension: "plan".into(), label: label.into() }
    }

    fn active(n: i64) -> WindowFigures {
        WindowFigures { agg: BucketAggregate { active: n, ..Default::default() }, ..Default::default() }
    }

    #[test]
    fn partitions_merge_by_boundary_window_and_segment_and_a_republish_replaces() {
        let mut book = BoundaryBook::default();
        book.record(0, 60_000, 1, name("pro"), active(2));
        book.record(1, 60_000, 1, name("pro"), active(3));
        book.record(1, 60_000, 0, name("pro"), active(100));
        book.record(1, 120_000, 1, name("free"), active(7));
        book.record(1, 60_000, 1, name("pro"), active(4)); // the same record again, from a new owner
        let at = book.at(60_000);
        assert_eq!(at.figures(&name("pro"), 1, 60_000, None).agg.active, 6);
        assert_eq!(at.figures(&name("pro"), 0, 60_000, None).agg.active, 100);
        assert_eq!(at.segments().len(), 1, "segments of later boundaries are not at this one");
        assert_eq!(book.boundaries(None, 119_999), vec![60_000]);
        assert_eq!(book.boundaries(Some(60_000), 120_000), vec![120_000]);
        book.forget_through(60_000);
        assert_eq!(book.boundaries(None, Millis::MAX), vec![120_000]);
        book.forget_partition(1);
        assert!(book.boundaries(None, Millis::MAX).is_empty());
    }

    #[test]
    fn a_partition_far_ahead_keeps_a_bounded_number_of_figures_and_a_topic_cannot_add_segments() {
        let mut small = BoundaryBook::bounded(1);
        assert!(small.record(0, 1_000, 0, name("a"), active(1)));
        assert!(!small.record(0, 1_000, 0, name("b"), active(1)), "past max_segments");
        assert!(small.record(0, 1_000, 0, name("a"), active(2)), "a republish still replaces");
        let mut book = BoundaryBook::default();
        for b in 0..(MAX_PENDING_FIGURES as i64 + 10) {
            assert!(book.record(3, b * 1_000, 0, name("x"), active(1)));
        }
        assert_eq!(book.dropped_through(), Some(9_000));
        assert_eq!(book.boundaries(None, Millis::MAX).len(), MAX_PENDING_FIGURES);
        assert_eq!(book.boundaries(None, Millis::MAX)[0], 10_000, "the oldest go first");
    }
}
