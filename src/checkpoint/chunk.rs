//! A chunk record: a table of the segments it mentions, by (dimension name, label), then tagged
//! entries (customers, segment partials, de-duplication ids, tickets), preceded by their count. Segments are named, never
//! numbered with the in-memory `SegmentId`, so a chunk means the same in any process.

use compact_str::CompactString;
use fnv::FnvHashMap;

use super::codec::{DecodeError, Reader, Writer};
use super::format::{self, read_header, write_header, TableEntry, CHUNK};
use crate::event::Millis;
use crate::state::catalog::ALL;
use crate::state::customer::Customer;
use crate::state::tickets::TicketEntry;
use crate::state::{SegmentCatalog, SegmentId};
use crate::window::{SegmentPartial, WindowSpec};

const CUSTOMER: u8 = 1;
const SEGMENT: u8 = 2;
const DEDUP: u8 = 3;
const TICKET_OPEN: u8 = 4;
const TICKET_CLOSED: u8 = 5;

/// One decoded entry of a chunk.
pub enum Entry {
    Customer(CompactString, Customer),
    Segment(SegmentId, SegmentPartial),
    Dedup(CompactString, Millis),
    Ticket(TicketEntry),
}

/// Builds one chunk.
#[derive(Default)]
pub struct ChunkEncoder {
    table: FnvHashMap<SegmentId, u32>,
    table_out: Writer,
    body: Writer,
    entries: usize,
}

impl ChunkEncoder {
    /// Bytes so far (the chunker starts a new chunk past its size target).
    pub fn size(&self) -> usize {
        self.table_out.len() + self.body.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries == 0
    }

    fn segment_ref(
        table: &mut FnvHashMap<SegmentId, u32>,
        out: &mut Writer,
        catalog: &SegmentCatalog,
        id: SegmentId,
    ) -> u32 {
        let next = table.len() as u32;
        *table.entry(id).or_insert_with(|| {
            let (dimension, label) = catalog.describe(id);
            out.str(&dimension);
            out.str(&label);
            next
        })
    }

    pub fn customer(&mut self, catalog: &SegmentCatalog, id: &str, c: &Customer) {
        self.entries += 1;
        self.body.u8(CUSTOMER);
        self.body.str(id);
        let (table, out) = (&mut self.table, &mut self.table_out);
        format::write_customer(&mut self.body, c, |s| Self::segment_ref(table, out, catalog, s));
    }

    pub fn segment(&mut self, catalog: &SegmentCatalog, id: SegmentId, p: &SegmentPartial) {
        self.entries += 1;
        let index = Self::segment_ref(&mut self.table, &mut self.table_out, catalog, id);
        let w = &mut self.body;
        w.u8(SEGMENT);
        w.varint(u64::from(index));
        for n in p.by_state {
            w.zigzag(n);
        }
        w.f64(p.lifetime_revenue);
        w.varint(p.rings.len() as u64);
        for ring in &p.rings {
            w.zigzag(ring.live_base());
            w.zigzag(ring.kept_base());
            w.varint(ring.held_buckets().count() as u64);
            for (k, agg) in ring.held_buckets() {
                w.zigzag(k);
                format::write_aggregate(w, agg);
            }
        }
    }

    pub fn dedup(&mut self, id: &str, seen_at: Millis) {
        self.entries += 1;
        self.body.u8(DEDUP);
        self.body.str(id);
        self.body.zigzag(seen_at);
    }

    pub fn ticket(&mut self, (key, ticket): TicketEntry) {
        self.entries += 1;
        match ticket {
            Some((opened_at, responded)) => {
                self.body.u8(TICKET_OPEN);
                self.body.u64_fixed(key);
                self.body.zigzag(opened_at);
                self.body.u8(u8::from(responded));
            }
            None => {
                self.body.u8(TICKET_CLOSED);
                self.body.u64_fixed(key);
            }
        }
    }

    pub fn finish(self) -> Vec<u8> {
        let mut w = Writer { buf: Vec::with_capacity(self.size() + 16) };
        write_header(&mut w, CHUNK);
        w.varint(self.table.len() as u64);
        w.buf.extend_from_slice(&self.table_out.buf);
        w.varint(self.entries as u64);
        w.buf.extend_from_slice(&self.body.buf);
        w.buf
    }
}

/// What decoding needs from this process: its catalog (segments are interned by name) and windows.
pub struct DecodeContext<'a> {
    pub catalog: &'a SegmentCatalog,
    pub windows: &'a [WindowSpec],
}

/// Decodes a chunk, handing each entry to `f` in order.
pub fn decode(bytes: &[u8], cx: &DecodeContext<'_>, mut f: impl FnMut(Entry)) -> Result<(), DecodeError> {
    let mut r = Reader::new(bytes);
    let version = read_header(&mut r, CHUNK)?;
    let mut table: Vec<TableEntry> = Vec::new();
    for _ in 0..r.count(2)? {
        let dimension = r.str()?;
        let label = r.str()?;
        table.push(resolve(cx.catalog, dimension, label)?);
    }
    let dimensions = cx.catalog.dimensions().len();
    // The entry count makes a record cut at an entry boundary an error, not a smaller state.
    for _ in 0..r.count(1)? {
        let entry = match r.u8()? {
            CUSTOMER => {
                let id = format::read_id(&mut r)?;
                Entry::Customer(id, format::read_customer(&mut r, version, dimensions, &table)?)
            }
            SEGMENT => {
                let index = usize::try_from(r.varint()?).ok();
                let (_, id) =
                    *index.and_then(|i| table.get(i)).ok_or(DecodeError::Invalid { what: "segment reference" })?;
                Entry::Segment(id, read_partial(&mut r, cx.windows)?)
            }
            DEDUP => Entry::Dedup(format::read_id(&mut r)?, r.zigzag()?),
            TICKET_OPEN => {
                let key = r.u64_fixed()?;
                let opened_at = r.zigzag()?;
                let responded = match r.u8()? {
                    0 => false,
                    1 => true,
                    _ => return Err(DecodeError::Invalid { what: "ticket flag" }),
                };
                Entry::Ticket((key, Some((opened_at, responded))))
            }
            TICKET_CLOSED => Entry::Ticket((r.u64_fixed()?, None)),
            _ => return Err(DecodeError::Invalid { what: "entry tag" }),
        };
        f(entry);
    }
    r.finish()
}

/// A (dimension, label) of a chunk, in this process's catalog.
fn resolve(catalog: &SegmentCatalog, dimension: &str, label: &str) -> Result<TableEntry, DecodeError> {
    if dimension == "all" {
        return if label == "all" { Ok((None, ALL)) } else { Err(DecodeError::Invalid { what: "segment of `all`" }) };
    }
    let dim = catalog.dimension_index(dimension).ok_or(DecodeError::Invalid { what: "unknown dimension" })?;
    if label.is_empty() || label.len() > 1024 {
        return Err(DecodeError::Invalid { what: "segment label length" });
    }
    if catalog.is_claimed() {
        // Decided by the claims before the restore began (`service::durable`): look up only.
        let id = catalog.decided(dim, label).ok_or(DecodeError::Invalid { what: "segment label not claimed" })?;
        return Ok((Some(dim), id));
    }
    Ok((Some(dim), catalog.intern(dim, label)))
}

fn read_partial(r: &mut Reader<'_>, windows: &[WindowSpec]) -> Result<SegmentPartial, DecodeError> {
    let mut p = SegmentPartial::new(windows);
    for n in p.by_state.iter_mut() {
        *n = r.zigzag()?;
    }
    p.lifetime_revenue = r.f64()?;
    if r.varint()? != p.rings.len() as u64 {
        return Err(DecodeError::Invalid { what: "window count differs from the configuration" });
    }
    for ring in p.rings.iter_mut() {
        ring.set_live_base(r.zigzag()?);
        ring.set_kept_base(r.zigzag()?);
        for _ in 0..r.count(2)? {
            let k = r.zigzag()?;
            let agg = format::read_aggregate(r)?;
            if k == i64::MIN || !ring.restore_bucket(k, agg) {
                return Err(DecodeError::Invalid { what: "two buckets for one ring slot" });
            }
        }
    }
    Ok(p)
}
