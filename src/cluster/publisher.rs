//! The sending side of the partials exchange: what one partition task publishes each tick.
//!
//! A publish is the records that changed since the previous one (only the ring slots written
//! since, and the heads of the segments touched), then a marker. The first publish of an owner is
//! full (every held slot and every head) under a new epoch, so readers drop whatever an earlier
//! owner left and rebuild the partition from this owner alone.
//!
//! The partition's rule-boundary snapshots taken since go out with it, before the marker. The
//! last [`KEPT_BOUNDARIES`] (and those not vouched for, below) are kept and sent again with a
//! full publish.
//!
//! # Why a marker vouches only for delivered snapshots
//! Readers judge a rule boundary once every partition's marker says its snapshots of it have
//! arrived (`detect::boundaries`). A marker's own clock cannot say that: a publish can be lost in
//! part or whole (a broker stall past `message.timeout.ms`) while the next one lands, and a reader
//! would then judge the lost boundaries without this partition. So a marker carries `vouched`,
//! the clock of the latest publish that was delivered with every publish before it, as the owner
//! knew when it sent the marker ([`PartialsPublisher::settle`]). A publish that failed opens a
//! gap that only a delivered full publish closes: that one sent again every kept snapshot, and
//! every snapshot not vouched for yet is kept (a backlog crosses hundreds of boundaries a
//! second), up to the [`MAX_PENDING_FIGURES`] a reader holds per partition; past that bound the
//! oldest are lost, and a warning says so. Deliveries settle within a tick, so rules wait about
//! one publish longer than the snapshots take to arrive.

use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;

use super::record::{Marker, Record, SegmentHead, SegmentName};
use crate::detect::boundaries::{BoundarySnapshot, KEPT_BOUNDARIES, MAX_PENDING_FIGURES};
use crate::engine::view::PartitionView;
use crate::event::Millis;
use crate::state::customer::NEVER;
use crate::state::SegmentCatalog;
use crate::window::SegmentPartial;

/// What a partition task publishes besides its partials.
#[derive(Debug)]
pub struct Progress {
    /// Rule-boundary snapshots taken since the last publish.
    pub boundaries: Vec<BoundarySnapshot>,
    /// No record of the partition is waiting unread.
    pub caught_up: bool,
    /// Partition 0: rule boundaries up to here are evaluated durably (`Marker::rules_released`).
    pub rules_released: Millis,
}

impl Default for Progress {
    /// Nothing new, caught up, no rules.
    fn default() -> Self {
        Progress { boundaries: Vec::new(), caught_up: true, rules_released: NEVER }
    }
}

pub struct PartialsPublisher {
    partition: i32,
    epoch: u64,
    shape: u64,
    /// A time every rule boundary is a multiple of (the windows' bucket sizes' gcd): a boundary
    /// record's compaction slot counts in it.
    boundary_unit: i64,
    /// The next publish must carry everything (first publish, or a record of the last one was lost).
    full: bool,
    /// The latest boundary snapshots and those not vouched for, oldest first.
    boundaries: VecDeque<BoundarySnapshot>,
    /// The latest boundary dropped from `boundaries` (a full publish no longer sends it again).
    dropped_through: Millis,
    /// Publishes of this owner so far (the last one's sequence number).
    sequence: u64,
    /// Publishes not folded into `vouched` yet, by sequence.
    unsettled: BTreeMap<u64, Unsettled>,
    /// What the next marker vouches for (`Marker::vouched`).
    vouched: Millis,
    /// A publish after `vouched` failed: only a delivered full publish vouches again.
    gap: bool,
}

#[derive(Debug)]
struct Unsettled {
    clock: Millis,
    /// A full publish: the latest boundary dropped before it. It sent again every snapshot after
    /// that one, so it closes a gap that began later (an earlier one lost snapshots).
    full_after: Option<Millis>,
    /// `Some(delivered)` once known.
    outcome: Option<bool>,
}

impl PartialsPublisher {
    /// `epoch` must exceed every epoch already published for `partition` (`ClusterPartials::next_epoch`).
    pub fn new(partition: i32, epoch: u64, shape: u64, bucket_ms: Vec<i64>) -> Self {
        let gcd = |a: i64, b: i64| -> i64 {
            let (mut a, mut b) = (a.abs(), b.abs());
            while b != 0 {
                (a, b) = (b, a % b);
            }
            a
        };
        let boundary_unit = bucket_ms.iter().copied().fold(0, gcd).max(1);
        PartialsPublisher {
            partition,
            epoch,
            shape,
            boundary_unit,
            full: true,
            boundaries: VecDeque::new(),
            dropped_through: NEVER,
            sequence: 0,
            unsettled: BTreeMap::new(),
            vouched: NEVER,
            gap: false,
        }
    }

    /// The sequence number of the last publish collected.
    pub fn sequence(&self) -> u64 {
        self.sequence
    }

    /// Takes what became of earlier publishes (by sequence: every record delivered or not) and
    /// moves `vouched` over those settled in order.
    pub fn settle(&mut self, outcomes: impl IntoIterator<Item = (u64, bool)>) {
        for (sequence, delivered) in outcomes {
            if let Some(publish) = self.unsettled.get_mut(&sequence) {
                publish.outcome = Some(delivered);
            }
        }
        while let Some(entry) = self.unsettled.first_entry() {
            let Some(delivered) = entry.get().outcome else { break };
            let publish = entry.remove();
            if !delivered {
                self.gap = true;
                continue;
            }
            if self.gap {
                let Some(dropped_through) = publish.full_after else { continue };
                if dropped_through > self.vouched {
                    tracing::warn!(
                        partition = self.partition,
                        boundaries_until = dropped_through,
                        "rule-boundary snapshots may have been lost with a failed partials publish: readers judge those boundaries without this partition"
                    );
                }
                self.gap = false;
            }
            self.vouched = publish.clock;
        }
    }

    pub fn epoch(&self) -> u64 {
        self.epoch
    }

    /// The next publish sends everything again (a record of the previous one failed).
    pub fn resend_all(&mut self) {
        self.full = true;
    }

    /// The records of one publish, the marker last: the partials changed since the last publish
    /// and the boundary snapshots taken since.
    pub fn collect(
        &mut self,
        view: &PartitionView,
        catalog: &Arc<SegmentCatalog>,
        progress: Progress,
        clock: Millis,
        now: Millis,
    ) -> Vec<Record> {
        let full = std::mem::take(&mut self.full);
        let full_after = full.then_some(self.dropped_through);
        let mut out = Vec::new();
        // Every fresh snapshot goes out (a backlog crosses many boundaries per publish); a full
        // publish sends again the ones kept from before.
        if full {
            for snapshot in &self.boundaries {
                self.boundary_records(snapshot, &mut out);
            }
        }
        for snapshot in &progress.boundaries {
            self.boundary_records(snapshot, &mut out);
        }
        self.boundaries.extend(progress.boundaries);
        // The last KEPT_BOUNDARIES, and before them every one not vouched for yet, as far as the
        // bound on figures a reader holds per partition.
        let mut figures: usize = self.boundaries.iter().map(|b| b.figures.len()).sum();
        while let Some(oldest) = self.boundaries.front() {
            let unvouched = oldest.at > self.vouched;
            if self.boundaries.len() <= KEPT_BOUNDARIES || unvouched && figures <= MAX_PENDING_FIGURES {
                break;
            }
            figures -= oldest.figures.len();
            self.dropped_through = oldest.at;
            self.boundaries.pop_front();
        }
        for mut entry in view.segments.iter_mut() {
            let id = *entry.key();
            let partial = entry.value_mut();
            if !full && !partial.unpublished {
                continue;
            }
            partial.unpublished = false;
            let (dimension, label) = catalog.describe(id);
            let segment = SegmentName { dimension: dimension.into(), label };
            self.segment_records(&segment, partial, full, &mut out);
        }
        let marker = Marker {
            clock,
            published_at: now,
            tracked: view.tracked_customers(),
            shape: self.shape,
            idle: clock == NEVER && progress.caught_up,
            rules_released: progress.rules_released,
            vouched: self.vouched,
        };
        self.sequence += 1;
        self.unsettled.insert(self.sequence, Unsettled { clock, full_after, outcome: None });
        out.push(Record::Marker { partition: self.partition, epoch: self.epoch, marker });
        out
    }

    fn boundary_records(&self, snapshot: &BoundarySnapshot, out: &mut Vec<Record>) {
        out.push(Record::Boundary {
            partition: self.partition,
            epoch: self.epoch,
            slot: snapshot.at.div_euclid(self.boundary_unit).rem_euclid(KEPT_BOUNDARIES as i64) as u32,
            snapshot: snapshot.clone(),
        });
    }

    fn segment_records(&self, segment: &SegmentName, partial: &mut SegmentPartial, full: bool, out: &mut Vec<Record>) {
        let (partition, epoch) = (self.partition, self.epoch);
        for (window, ring) in partial.rings.iter_mut().enumerate() {
            let mut emit = |slot: usize, bucket: i64, agg: &crate::window::BucketAggregate| {
                out.push(Record::Bucket {
                    partition,
                    epoch,
                    segment: segment.clone(),
                    window: window as u32,
                    slot: slot as u32,
                    bucket,
                    agg: Box::new(*agg),
                })
            };
            if full {
                ring.take_all(&mut emit);
            } else {
                ring.take_touched(&mut emit);
            }
        }
        let head = SegmentHead {
            by_state: partial.by_state,
            lifetime_revenue: partial.lifetime_revenue,
            bases: partial.rings.iter().map(|r| (r.live_base(), r.kept_base())).collect(),
        };
        out.push(Record::Head { partition, epoch, segment: segment.clone(), head });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cluster::exchange::shape_of;
    use crate::cluster::ClusterPartials;
    use crate::config::Config;
    use crate::engine::Engine;
    use crate::window::WindowFigures;

    /// A publish lost in a broker stall while the next one lands: readers do not judge the
    /// boundaries it carried until a full publish has sent them again and was delivered, even
    /// when it carried more than `KEPT_BOUNDARIES` of them (a backlog).
    #[test]
    fn markers_vouch_only_for_snapshots_delivered_in_order() {
        let engine = Engine::new(&Config::builtin().unwrap());
        let settings = &engine.settings;
        let partition = engine.partition(0);
        let partials = ClusterPartials::new(settings.windows.clone(), shape_of(settings), 100, 60_000);
        partials.set_input_partitions(1);
        let mut publisher = PartialsPublisher::new(0, 1, shape_of(settings), vec![1]);
        let segment = SegmentName { dimension: "all".into(), label: "all".into() };
        let publish = |publisher: &mut PartialsPublisher, boundaries: &[Millis], clock, delivered: bool| {
            let snapshot = |at| BoundarySnapshot { at, figures: vec![(0, segment.clone(), WindowFigures::default())] };
            let progress =
                Progress { boundaries: boundaries.iter().copied().map(snapshot).collect(), ..Progress::default() };
            let records = publisher.collect(partition.view(), partition.catalog(), progress, clock, 0);
            if delivered {
                records.into_iter().for_each(|record| partials.receive(record));
            }
            publisher.sequence()
        };
        let watermark = || partials.with_boundaries(|_, watermark| watermark);
        let boundaries = || partials.with_boundaries(|book, _| book.boundaries(None, Millis::MAX)).unwrap();

        let first = publish(&mut publisher, &[], 1_000, true);
        assert_eq!(watermark(), None, "nothing is vouched for before a delivery is known");
        publisher.settle([(first, true)]);
        let backlog: Vec<Millis> = (1_001..=1_000 + 2 * KEPT_BOUNDARIES as Millis).collect();
        let lost = publish(&mut publisher, &backlog, 2_500, false);
        let landed = publish(&mut publisher, &[3_000], 3_500, true);
        assert_eq!(watermark(), Some(1_000), "a marker vouches for the publishes known delivered");
        assert_eq!(boundaries(), [3_000]);
        publisher.settle([(lost, false), (landed, true)]);
        let after_gap = publish(&mut publisher, &[], 4_000, true);
        assert_eq!(watermark(), Some(1_000), "publishes delivered after a lost one vouch for nothing");
        publisher.resend_all();
        let full = publish(&mut publisher, &[], 4_500, true);
        let mut all = backlog.clone();
        all.push(3_000);
        assert_eq!(boundaries(), all, "the full publish sent every lost snapshot again");
        publisher.settle([(after_gap, true), (full, true)]);
        publish(&mut publisher, &[], 5_000, true);
        assert_eq!(watermark(), Some(4_500), "a delivered full publish closes the gap");
        publisher.resend_all();
        let records = publisher.collect(partition.view(), partition.catalog(), Progress::default(), 5_500, 0);
        let resent = records.iter().filter(|r| matches!(r, Record::Boundary { .. })).count();
        assert_eq!(resent, KEPT_BOUNDARIES, "once vouched for, only the last KEPT_BOUNDARIES are kept");
    }
}
