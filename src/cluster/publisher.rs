//! The sending side of the partials exchange: what one partition task publishes each tick.
//!
//! A publish is the records that changed since the previous one (only the ring slots written
//! since, and the heads of the segments touched), then a marker. The first publish of an owner is
//! full (every held slot and every head) under a new epoch, so readers drop whatever an earlier
//! owner left and rebuild the partition from this owner alone.
//!
//! The partition's rule-boundary snapshots taken since go out with it, before the marker, so a
//! marker's clock tells readers that every boundary up to it has arrived (`detect::boundaries`).
//! The last [`KEPT_BOUNDARIES`] are kept and sent again with a full publish.

use std::collections::VecDeque;
use std::sync::Arc;

use super::record::{Marker, Record, SegmentHead, SegmentName};
use crate::detect::boundaries::{BoundarySnapshot, KEPT_BOUNDARIES};
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
    /// The latest boundary snapshots, oldest first.
    boundaries: VecDeque<BoundarySnapshot>,
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
        PartialsPublisher { partition, epoch, shape, boundary_unit, full: true, boundaries: VecDeque::new() }
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
        while self.boundaries.len() > KEPT_BOUNDARIES {
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
        };
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
