//! The checkpoint format, version [`VERSION`]: how each piece of state is written as bytes.
//!
//! Every record starts with the magic `CXPK`, a format version byte and a record type byte
//! ([`META`] or [`CHUNK`]). Integers are LEB128 varints (signed ones zigzag-encoded), floats are
//! 8 bytes little-endian, strings are a varint length then UTF-8. Times that may be absent are
//! written relative to the customer's `first_seen`, 0 meaning "never".
//!
//! # Adding a field
//! - `Customer`: append one line to [`write_customer`] and one to [`read_customer`] guarded by
//!   `if version >= N` (older records leave the default), and bump [`VERSION`] to N.
//! - `BucketAggregate`: append one line to [`visit_aggregate`]. A bucket is written as its slot
//!   count, a bitmask of the non-zero slots, then those values, so older records simply have fewer
//!   slots (the new one reads 0) and no version bump is needed.
//!
//! A record whose version is newer than [`VERSION`] is refused with a typed error.

use compact_str::CompactString;
use smallvec::SmallVec;

use super::codec::{DecodeError, Reader, Writer};
use crate::event::Millis;
use crate::state::customer::{Customer, CustomerState, NEVER, NO_SEGMENT};
use crate::state::SegmentId;
use crate::window::BucketAggregate;

pub const MAGIC: [u8; 4] = *b"CXPK";
/// Format version written by this build; it reads this one and every older one.
pub const VERSION: u8 = 1;
/// Record type: the checkpoint's table of contents (see `meta`).
pub const META: u8 = 1;
/// Record type: a chunk of state entries (see `chunk`).
pub const CHUNK: u8 = 2;

pub fn write_header(w: &mut Writer, record_type: u8) {
    w.buf.extend_from_slice(&MAGIC);
    w.u8(VERSION);
    w.u8(record_type);
}

/// Checks magic and type; returns the record's format version.
pub fn read_header(r: &mut Reader<'_>, record_type: u8) -> Result<u8, DecodeError> {
    if r.take(4).map_err(|_| DecodeError::BadMagic)? != MAGIC {
        return Err(DecodeError::BadMagic);
    }
    let version = r.u8()?;
    if version == 0 || version > VERSION {
        return Err(DecodeError::UnsupportedVersion { found: version, supported: VERSION });
    }
    let found = r.u8()?;
    if found != record_type {
        return Err(DecodeError::WrongRecordType { found, wanted: record_type });
    }
    Ok(version)
}

/// One scalar of a bucket, as the visitor sees it.
pub enum Slot<'a> {
    Int(&'a mut i64),
    Float(&'a mut f64),
}

/// Every scalar of a bucket in a fixed order. The order is part of the format: only append.
pub fn visit_aggregate(a: &mut BucketAggregate, f: &mut impl FnMut(Slot<'_>)) {
    for v in a.nps.iter_mut().chain(a.csat.iter_mut()).chain(a.ces.iter_mut()).chain(a.interactions.iter_mut()) {
        f(Slot::Int(v));
    }
    f(Slot::Float(&mut a.revenue));
    for s in [&mut a.sessions, &mut a.resolution, &mut a.first_response] {
        f(Slot::Float(&mut s.sum));
        f(Slot::Int(&mut s.count));
    }
    f(Slot::Int(&mut a.active));
    f(Slot::Int(&mut a.churned));
    f(Slot::Int(&mut a.messages));
    for v in a.inactive.iter_mut().chain(a.reactivated.iter_mut()) {
        f(Slot::Int(v));
    }
    f(Slot::Int(&mut a.live_delta));
    f(Slot::Float(&mut a.revenue_sq));
    for s in [&mut a.sessions, &mut a.resolution, &mut a.first_response] {
        f(Slot::Float(&mut s.sum_sq));
    }
    f(Slot::Int(&mut a.kept_delta));
}

fn slot_count() -> usize {
    let mut n = 0;
    visit_aggregate(&mut BucketAggregate::default(), &mut |_| n += 1);
    n
}

/// A bucket: slot count, bitmask of non-zero slots, their values.
pub fn write_aggregate(w: &mut Writer, agg: &BucketAggregate) {
    let mut a = *agg;
    let mut mask = [0u8; 16];
    let mut n = 0usize;
    visit_aggregate(&mut a, &mut |slot| {
        let set = match slot {
            Slot::Int(v) => *v != 0,
            Slot::Float(v) => v.to_bits() != 0,
        };
        if set {
            mask[n / 8] |= 1 << (n % 8);
        }
        n += 1;
    });
    w.varint(n as u64);
    w.buf.extend_from_slice(&mask[..n.div_ceil(8)]);
    let mut i = 0usize;
    visit_aggregate(&mut a, &mut |slot| {
        if mask[i / 8] & (1 << (i % 8)) != 0 {
            match slot {
                Slot::Int(v) => w.zigzag(*v),
                Slot::Float(v) => w.f64(*v),
            }
        }
        i += 1;
    });
}

pub fn read_aggregate(r: &mut Reader<'_>) -> Result<BucketAggregate, DecodeError> {
    let n = r.varint()?;
    if n > slot_count() as u64 {
        return Err(DecodeError::Invalid { what: "bucket has more fields than this build knows" });
    }
    let n = n as usize;
    let mask = r.take(n.div_ceil(8))?;
    let mut agg = BucketAggregate::default();
    let mut i = 0usize;
    let mut error = None;
    visit_aggregate(&mut agg, &mut |slot| {
        if i < n && mask[i / 8] & (1 << (i % 8)) != 0 && error.is_none() {
            let result = match slot {
                Slot::Int(v) => r.zigzag().map(|x| *v = x),
                Slot::Float(v) => r.f64().map(|x| *v = x),
            };
            error = result.err();
        }
        i += 1;
    });
    error.map_or(Ok(agg), Err)
}

fn write_time(w: &mut Writer, t: Millis, base: Millis) {
    if t == NEVER {
        w.varint(0);
    } else {
        w.varint(zig(t.wrapping_sub(base)).saturating_add(1));
    }
}

fn read_time(r: &mut Reader<'_>, base: Millis) -> Result<Millis, DecodeError> {
    match r.varint()? {
        0 => Ok(NEVER),
        v => Ok(base.wrapping_add(unzig(v - 1))),
    }
}

fn zig(v: i64) -> u64 {
    ((v << 1) ^ (v >> 63)) as u64
}

fn unzig(v: u64) -> i64 {
    ((v >> 1) as i64) ^ -((v & 1) as i64)
}

/// A customer (without its id, written by the caller). `segment_ref` gives the chunk-local index
/// of a segment in the chunk's (dimension, label) table.
pub fn write_customer(w: &mut Writer, c: &Customer, mut segment_ref: impl FnMut(SegmentId) -> u32) {
    let base = c.first_seen;
    w.zigzag(c.first_seen);
    write_time(w, c.last_activity, base);
    w.u8(c.state as u8);
    w.u8(u8::from(c.reactivated_since) | (u8::from(c.holdout) << 1));
    write_time(w, c.inactive_at, base);
    write_time(w, c.last_message_at, base);
    write_segments(w, &c.segments(), &mut segment_ref);
    w.varint(c.live_changes().len() as u64);
    for (t, delta) in c.live_changes() {
        write_time(w, *t, base);
        w.zigzag(i64::from(*delta));
    }
    w.f64(c.lifetime_revenue);
    w.varint(u64::from(c.transitions));
    match c.inactive_segments() {
        None => w.u8(0),
        Some(segments) => {
            w.u8(1);
            write_segments(w, segments, &mut segment_ref);
        }
    }
}

/// The segments a customer has a value for, as chunk-local references.
fn write_segments(w: &mut Writer, segments: &[SegmentId], segment_ref: &mut impl FnMut(SegmentId) -> u32) {
    let set: SmallVec<[SegmentId; 4]> = segments.iter().copied().filter(|s| *s != NO_SEGMENT).collect();
    w.varint(set.len() as u64);
    for s in set {
        w.varint(u64::from(segment_ref(s)));
    }
}

/// Reads what [`write_segments`] wrote into one slot per dimension.
fn read_segments(r: &mut Reader<'_>, table: &[TableEntry], into: &mut [SegmentId]) -> Result<(), DecodeError> {
    for _ in 0..r.count(1)? {
        let index = r.varint()?;
        let entry = usize::try_from(index).ok().and_then(|i| table.get(i));
        let Some((Some(dim), id)) = entry else {
            return Err(DecodeError::Invalid { what: "customer segment reference" });
        };
        let slot = into.get_mut(*dim).ok_or(DecodeError::Invalid { what: "customer dimension" })?;
        *slot = *id;
    }
    Ok(())
}

/// A chunk's segment table entry: the dimension index (`None` for `all`) and the segment id in
/// this process's catalog.
pub type TableEntry = (Option<usize>, SegmentId);

pub fn read_customer(
    r: &mut Reader<'_>,
    _version: u8,
    dimensions: usize,
    table: &[TableEntry],
) -> Result<Customer, DecodeError> {
    let first_seen = r.zigzag()?;
    let last_activity = read_time(r, first_seen)?;
    let state = match r.u8()? {
        0 => CustomerState::Active,
        1 => CustomerState::Inactive,
        2 => CustomerState::Churned,
        _ => return Err(DecodeError::Invalid { what: "customer state" }),
    };
    let flags = r.u8()?;
    let mut c = Customer::new(first_seen, dimensions, flags & 2 != 0);
    c.last_activity = last_activity;
    c.state = state;
    c.reactivated_since = flags & 1 != 0;
    c.inactive_at = read_time(r, first_seen)?;
    c.last_message_at = read_time(r, first_seen)?;
    let mut segments: SmallVec<[SegmentId; 4]> = SmallVec::from_elem(NO_SEGMENT, dimensions);
    read_segments(r, table, &mut segments)?;
    for (dim, segment) in segments.into_iter().enumerate() {
        c.set_segment(dim, segment);
    }
    for _ in 0..r.count(2)? {
        let t = read_time(r, first_seen)?;
        let delta = i8::try_from(r.zigzag()?).map_err(|_| DecodeError::Invalid { what: "live change" })?;
        c.push_live_change(t, delta);
    }
    c.lifetime_revenue = r.f64()?;
    c.transitions =
        u32::try_from(r.varint()?).map_err(|_| DecodeError::Invalid { what: "customer transition count" })?;
    match r.u8()? {
        0 => {}
        1 => {
            let mut segments = SmallVec::from_elem(NO_SEGMENT, dimensions);
            read_segments(r, table, &mut segments)?;
            c.set_inactive_segments(Some(segments));
        }
        _ => return Err(DecodeError::Invalid { what: "customer inactive segments flag" }),
    }
    Ok(c)
}

/// A customer id: non-empty, at most 128 bytes (SPEC §1).
pub fn read_id(r: &mut Reader<'_>) -> Result<CompactString, DecodeError> {
    let id = r.str()?;
    if id.is_empty() || id.len() > 1024 {
        return Err(DecodeError::Invalid { what: "id length" });
    }
    Ok(CompactString::from(id))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sparse_buckets_round_trip_and_stay_small() {
        let mut a = BucketAggregate::default();
        a.nps[10] = 3;
        a.revenue = 12.5;
        a.live_delta = -2;
        a.sessions.sum = -0.0;
        let mut w = Writer::default();
        write_aggregate(&mut w, &a);
        assert_eq!(w.len(), 1 + 7 + 1 + 8 + 8 + 1, "count, mask (52 slots), then only the four set fields");
        let back = read_aggregate(&mut Reader::new(&w.buf)).unwrap();
        assert_eq!(back, a);
        assert!(back.sessions.sum.is_sign_negative());
        assert!(read_aggregate(&mut Reader::new(&[100])).unwrap_err().to_string().contains("fields"));
    }
}
