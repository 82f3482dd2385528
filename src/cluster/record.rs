//! Records of the partials topic. Each is keyed so that compaction keeps exactly what a reader
//! needs: the latest version of every bucket slot, of every segment's head and of each
//! partition's marker.
//!
//! - `Bucket`: one slot of one window ring of one segment (key: partition, segment, window, slot).
//! - `Head`: a segment's unwindowed part, its customers by state, lifetime revenue and the ring
//!   bases (key: partition, segment).
//! - `Boundary`: a partition's rule windows as they stood at one rule boundary, every segment in
//!   one record (`detect::boundaries`); key: partition and the boundary's slot among the last
//!   [`KEPT_BOUNDARIES`](crate::detect::boundaries::KEPT_BOUNDARIES), so compaction keeps as many
//!   as a publisher sends again.
//! - `Marker`: ends a publish; its arrival makes the records before it current (key: partition).
//!
//! Values use the checkpoint's primitives (varints, sparse buckets) behind their own record types,
//! so a stray checkpoint record is refused as the wrong type rather than misread.

use crate::checkpoint::codec::{DecodeError, Reader, Writer};
use crate::checkpoint::format::{read_aggregate, read_header, write_aggregate, write_header};
use crate::detect::boundaries::BoundarySnapshot;
use crate::event::Millis;
pub use crate::state::SegmentName;
use crate::window::{BucketAggregate, WindowFigures};

const BUCKET: u8 = 20;
const HEAD: u8 = 21;
const MARKER: u8 = 22;
const BOUNDARY: u8 = 23;

#[derive(Debug, Clone, PartialEq)]
pub enum Record {
    Bucket {
        partition: i32,
        epoch: u64,
        segment: SegmentName,
        window: u32,
        slot: u32,
        bucket: i64,
        agg: Box<BucketAggregate>,
    },
    Head {
        partition: i32,
        epoch: u64,
        segment: SegmentName,
        head: SegmentHead,
    },
    Marker {
        partition: i32,
        epoch: u64,
        marker: Marker,
    },
    Boundary {
        partition: i32,
        epoch: u64,
        /// The boundary's index modulo `KEPT_BOUNDARIES` (its compaction slot).
        slot: u32,
        snapshot: BoundarySnapshot,
    },
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct SegmentHead {
    pub by_state: [i64; 3],
    pub lifetime_revenue: f64,
    /// Per window: (live base, kept base).
    pub bases: Vec<(i64, i64)>,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Marker {
    /// The partition's stream clock when published.
    pub clock: Millis,
    /// The publisher's wall clock (the partials' age is measured from it).
    pub published_at: Millis,
    /// Customers the partition tracks.
    pub tracked: i64,
    /// Hash of the state-shaping configuration: partials of another shape are not merged.
    pub shape: u64,
    /// No event yet (`clock` is `NEVER`) and none waiting on the broker: rules need not wait for
    /// this partition. `NEVER` without it means its first events may still be unread.
    pub idle: bool,
    /// Partition 0 only (`NEVER` elsewhere): rule boundaries up to here are evaluated in the rule
    /// state its checkpoint holds, so readers may drop their snapshots (`detect::boundaries`).
    pub rules_released: Millis,
    /// The partition's rule-boundary snapshots up to here have all reached the topic: its owner saw
    /// every publish that carried them delivered (`cluster::publisher`). `NEVER`: none known yet.
    /// Absent in markers of earlier versions, which meant `clock`.
    pub vouched: Millis,
}

impl Record {
    pub fn partition(&self) -> i32 {
        match self {
            Record::Bucket { partition, .. }
            | Record::Head { partition, .. }
            | Record::Marker { partition, .. }
            | Record::Boundary { partition, .. } => *partition,
        }
    }

    pub fn epoch(&self) -> u64 {
        match self {
            Record::Bucket { epoch, .. }
            | Record::Head { epoch, .. }
            | Record::Marker { epoch, .. }
            | Record::Boundary { epoch, .. } => *epoch,
        }
    }

    /// The compaction key: what the record is the latest version of.
    pub fn key(&self) -> Vec<u8> {
        let mut w = Writer::default();
        match self {
            Record::Bucket { partition, segment, window, slot, .. } => {
                w.u8(BUCKET);
                w.zigzag(i64::from(*partition));
                write_name(&mut w, segment);
                w.varint(u64::from(*window));
                w.varint(u64::from(*slot));
            }
            Record::Head { partition, segment, .. } => {
                w.u8(HEAD);
                w.zigzag(i64::from(*partition));
                write_name(&mut w, segment);
            }
            Record::Marker { partition, .. } => {
                w.u8(MARKER);
                w.zigzag(i64::from(*partition));
            }
            Record::Boundary { partition, slot, .. } => {
                w.u8(BOUNDARY);
                w.zigzag(i64::from(*partition));
                w.varint(u64::from(*slot));
            }
        }
        w.buf
    }

    pub fn encode(&self) -> Vec<u8> {
        let mut w = Writer::default();
        match self {
            Record::Bucket { partition, epoch, segment, window, slot, bucket, agg } => {
                write_header(&mut w, BUCKET);
                write_common(&mut w, *partition, *epoch);
                write_name(&mut w, segment);
                w.varint(u64::from(*window));
                w.varint(u64::from(*slot));
                w.zigzag(*bucket);
                write_aggregate(&mut w, agg);
            }
            Record::Head { partition, epoch, segment, head } => {
                write_header(&mut w, HEAD);
                write_common(&mut w, *partition, *epoch);
                write_name(&mut w, segment);
                for n in head.by_state {
                    w.zigzag(n);
                }
                w.f64(head.lifetime_revenue);
                w.varint(head.bases.len() as u64);
                for (live, kept) in &head.bases {
                    w.zigzag(*live);
                    w.zigzag(*kept);
                }
            }
            Record::Marker { partition, epoch, marker } => {
                write_header(&mut w, MARKER);
                write_common(&mut w, *partition, *epoch);
                w.zigzag(marker.clock);
                w.zigzag(marker.published_at);
                w.zigzag(marker.tracked);
                w.u64_fixed(marker.shape);
                w.u8(u8::from(marker.idle));
                w.zigzag(marker.rules_released);
                w.zigzag(marker.vouched);
            }
            Record::Boundary { partition, epoch, slot, snapshot } => {
                write_header(&mut w, BOUNDARY);
                write_common(&mut w, *partition, *epoch);
                w.varint(u64::from(*slot));
                w.zigzag(snapshot.at);
                w.varint(snapshot.figures.len() as u64);
                for (window, segment, figures) in &snapshot.figures {
                    w.varint(u64::from(*window));
                    write_name(&mut w, segment);
                    write_aggregate(&mut w, &figures.agg);
                    w.zigzag(figures.live_at_start);
                    w.zigzag(figures.kept_since_start);
                }
            }
        }
        w.buf
    }

    pub fn decode(value: &[u8]) -> Result<Record, DecodeError> {
        let record_type = *value.get(5).ok_or(DecodeError::Truncated { at: value.len() })?;
        let mut r = Reader::new(value);
        read_header(&mut r, record_type)?;
        let partition = i32::try_from(r.zigzag()?).map_err(|_| DecodeError::Invalid { what: "partition" })?;
        let epoch = r.varint()?;
        let record = match record_type {
            BUCKET => Record::Bucket {
                partition,
                epoch,
                segment: read_name(&mut r)?,
                window: small(r.varint()?, "window")?,
                slot: small(r.varint()?, "slot")?,
                bucket: r.zigzag()?,
                agg: Box::new(read_aggregate(&mut r)?),
            },
            HEAD => {
                let segment = read_name(&mut r)?;
                let mut head = SegmentHead::default();
                for n in head.by_state.iter_mut() {
                    *n = r.zigzag()?;
                }
                head.lifetime_revenue = r.f64()?;
                let windows = r.count(2)?;
                for _ in 0..windows {
                    head.bases.push((r.zigzag()?, r.zigzag()?));
                }
                Record::Head { partition, epoch, segment, head }
            }
            MARKER => {
                let clock = r.zigzag()?;
                let marker = Marker {
                    clock,
                    published_at: r.zigzag()?,
                    tracked: r.zigzag()?,
                    shape: r.u64_fixed()?,
                    idle: match r.u8()? {
                        0 => false,
                        1 => true,
                        _ => return Err(DecodeError::Invalid { what: "idle" }),
                    },
                    rules_released: r.zigzag()?,
                    vouched: if r.is_done() { clock } else { r.zigzag()? },
                };
                Record::Marker { partition, epoch, marker }
            }
            BOUNDARY => {
                let slot = small(r.varint()?, "slot")?;
                let at = r.zigzag()?;
                // A window, two names and an empty aggregate take at least 4 bytes.
                let n = r.count(4)?;
                let mut figures = Vec::with_capacity(n);
                for _ in 0..n {
                    let window = small(r.varint()?, "window")?;
                    let segment = read_name(&mut r)?;
                    let agg = read_aggregate(&mut r)?;
                    let f = WindowFigures { agg, live_at_start: r.zigzag()?, kept_since_start: r.zigzag()? };
                    figures.push((window, segment, f));
                }
                Record::Boundary { partition, epoch, slot, snapshot: BoundarySnapshot { at, figures } }
            }
            found => return Err(DecodeError::WrongRecordType { found, wanted: BUCKET }),
        };
        r.finish()?;
        Ok(record)
    }
}

fn write_common(w: &mut Writer, partition: i32, epoch: u64) {
    w.zigzag(i64::from(partition));
    w.varint(epoch);
}

fn write_name(w: &mut Writer, name: &SegmentName) {
    w.str(&name.dimension);
    w.str(&name.label);
}

fn read_name(r: &mut Reader<'_>) -> Result<SegmentName, DecodeError> {
    Ok(SegmentName { dimension: r.str()?.into(), label: r.str()?.into() })
}

fn small(v: u64, what: &'static str) -> Result<u32, DecodeError> {
    u32::try_from(v).map_err(|_| DecodeError::Invalid { what })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name() -> SegmentName {
        SegmentName { dimension: "plan".into(), label: "pro".into() }
    }

    #[test]
    fn every_record_round_trips_and_keys_identify_what_compaction_keeps() {
        let agg = Box::new(BucketAggregate { active: 3, live_delta: -1, ..Default::default() });
        let records = [
            Record::Bucket {
                partition: 2,
                epoch: 7,
                segment: name(),
                window: 1,
                slot: 5,
                bucket: 12_345,
                agg: agg.clone(),
            },
            Record::Head {
                partition: 2,
                epoch: 7,
                segment: name(),
                head: SegmentHead { by_state: [4, 1, 0], lifetime_revenue: 12.5, bases: vec![(3, 2), (0, 0)] },
            },
            Record::Marker {
                partition: 2,
                epoch: 7,
                marker: Marker {
                    clock: 1_767_225_600_000,
                    published_at: 5,
                    tracked: 9,
                    shape: u64::MAX,
                    idle: false,
                    rules_released: 99,
                    vouched: 1_767_225_000_000,
                },
            },
            Record::Boundary {
                partition: 2,
                epoch: 7,
                slot: 63,
                snapshot: BoundarySnapshot {
                    at: -3_600_000,
                    figures: vec![
                        (1, name(), WindowFigures { agg: *agg.clone(), live_at_start: 12, kept_since_start: 10 }),
                        (0, name(), WindowFigures::default()),
                    ],
                },
            },
        ];
        for record in &records {
            assert_eq!(Record::decode(&record.encode()).unwrap(), *record);
        }
        // A later version of the same slot has the same key; another slot does not.
        let Record::Bucket { agg, .. } = &records[0] else { unreachable!() };
        let later = Record::Bucket {
            partition: 2,
            epoch: 8,
            segment: name(),
            window: 1,
            slot: 5,
            bucket: 99,
            agg: agg.clone(),
        };
        let other =
            Record::Bucket { partition: 2, epoch: 7, segment: name(), window: 1, slot: 6, bucket: 1, agg: agg.clone() };
        assert_eq!(records[0].key(), later.key());
        assert_ne!(records[0].key(), other.key());
    }

    #[test]
    fn hostile_values_are_refused_with_a_reason() {
        let marker = Marker {
            clock: 7,
            published_at: 0,
            tracked: 0,
            shape: 0,
            idle: true,
            rules_released: 0,
            vouched: -1_000_000,
        };
        let good = Record::Marker { partition: 0, epoch: 1, marker }.encode();
        // An earlier version's marker ends before `vouched`, which then meant its clock.
        let earlier = good.len() - 3;
        for cut in (0..good.len()).filter(|cut| *cut != earlier) {
            assert!(Record::decode(&good[..cut]).is_err(), "cut at {cut}");
        }
        let old = Record::Marker { partition: 0, epoch: 1, marker: Marker { vouched: 7, ..marker } };
        assert_eq!(Record::decode(&good[..earlier]).unwrap(), old);
        let mut wrong = good.clone();
        wrong[5] = 2; // a checkpoint chunk's type
        assert!(Record::decode(&wrong).is_err());
        assert!(Record::decode(b"").is_err());
    }
}
