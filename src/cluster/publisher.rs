//! The sending side of the partials exchange: what one partition task publishes each tick.
//!
//! A publish is the records that changed since the previous one (only the ring slots written
//! since, and the heads of the segments touched), then a marker. The first publish of an owner is
//! full (every held slot and every head) under a new epoch, so readers drop whatever an earlier
//! owner left and rebuild the partition from this owner alone.

use std::sync::Arc;

use super::record::{Marker, Record, SegmentHead, SegmentName};
use crate::engine::view::PartitionView;
use crate::event::Millis;
use crate::state::SegmentCatalog;
use crate::window::SegmentPartial;

pub struct PartialsPublisher {
    partition: i32,
    epoch: u64,
    shape: u64,
    /// The next publish must carry everything (first publish, or a record of the last one was lost).
    full: bool,
}

impl PartialsPublisher {
    /// `epoch` must exceed every epoch already published for `partition` (`ClusterPartials::next_epoch`).
    pub fn new(partition: i32, epoch: u64, shape: u64) -> Self {
        PartialsPublisher { partition, epoch, shape, full: true }
    }

    pub fn epoch(&self) -> u64 {
        self.epoch
    }

    /// The next publish sends everything again (a record of the previous one failed).
    pub fn resend_all(&mut self) {
        self.full = true;
    }

    /// The records of one publish, the marker last.
    pub fn collect(
        &mut self,
        view: &PartitionView,
        catalog: &Arc<SegmentCatalog>,
        clock: Millis,
        now: Millis,
    ) -> Vec<Record> {
        let full = std::mem::take(&mut self.full);
        let mut out = Vec::new();
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
        let marker = Marker { clock, published_at: now, tracked: view.tracked_customers(), shape: self.shape };
        out.push(Record::Marker { partition: self.partition, epoch: self.epoch, marker });
        out
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
