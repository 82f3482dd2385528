//! The meta record, `{p}/meta`: the table of contents of partition p's latest complete checkpoint.
//! It is written only after every chunk it names was acknowledged, so whatever a crash cuts off
//! after it (chunks of a checkpoint that never got its meta) is simply never named, and ignored.

use super::codec::{DecodeError, Reader, Writer};
use super::format::{read_header, write_header, META};
use crate::event::Millis;

/// Where a chunked piece of state lives: `{p}/base/{seq}/{0..chunks}` or `{p}/delta/{seq}/{..}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Piece {
    pub seq: u64,
    pub chunks: u32,
    pub bytes: u64,
}

/// A rule's firing state, by names (rules may be renamed or removed between runs).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleFiring {
    pub rule: String,
    pub dimension: String,
    pub segment: String,
    pub firing: bool,
}

/// The rule evaluator's state, carried by partition 0's checkpoint.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RulesState {
    pub evaluated_until: Option<Millis>,
    pub primed: bool,
    pub firing: Vec<RuleFiring>,
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct Meta {
    /// The config that shapes state, as (item, value) pairs.
    pub fingerprint: Vec<(String, String)>,
    pub partition: i32,
    /// This checkpoint's sequence number.
    pub seq: u64,
    pub base: Option<Piece>,
    /// Deltas on top of the base, oldest first.
    pub deltas: Vec<Piece>,
    /// Input topic → the next offset to process (everything before it is in this state).
    pub offsets: Vec<(String, i64)>,
    pub clock: Millis,
    pub last_change: Millis,
    /// Output (topic, partition) → a position before which none of this partition's outputs lie
    /// that came from input past `offsets` (see the module doc on effects).
    pub outputs: Vec<(String, i32, i64)>,
    /// The segment catalog's (dimension, label) list in admission order.
    pub catalog: Vec<(String, String)>,
    pub rules: Option<RulesState>,
    pub customers: u64,
}

impl Meta {
    pub fn encode(&self) -> Vec<u8> {
        let mut w = Writer::default();
        write_header(&mut w, META);
        w.varint(self.fingerprint.len() as u64);
        for (k, v) in &self.fingerprint {
            w.str(k);
            w.str(v);
        }
        w.zigzag(i64::from(self.partition));
        w.varint(self.seq);
        let pieces = self.base.iter().chain(self.deltas.iter());
        w.u8(u8::from(self.base.is_some()));
        w.varint(self.deltas.len() as u64);
        for p in pieces {
            w.varint(p.seq);
            w.varint(u64::from(p.chunks));
            w.varint(p.bytes);
        }
        w.varint(self.offsets.len() as u64);
        for (topic, next) in &self.offsets {
            w.str(topic);
            w.zigzag(*next);
        }
        w.zigzag(self.clock);
        w.zigzag(self.last_change);
        w.varint(self.outputs.len() as u64);
        for (topic, partition, position) in &self.outputs {
            w.str(topic);
            w.zigzag(i64::from(*partition));
            w.zigzag(*position);
        }
        w.varint(self.catalog.len() as u64);
        for (d, l) in &self.catalog {
            w.str(d);
            w.str(l);
        }
        match &self.rules {
            None => w.u8(0),
            Some(rules) => {
                w.u8(1);
                match rules.evaluated_until {
                    None => w.u8(0),
                    Some(t) => {
                        w.u8(1);
                        w.zigzag(t);
                    }
                }
                w.u8(u8::from(rules.primed));
                w.varint(rules.firing.len() as u64);
                for f in &rules.firing {
                    w.str(&f.rule);
                    w.str(&f.dimension);
                    w.str(&f.segment);
                    w.u8(u8::from(f.firing));
                }
            }
        }
        w.varint(self.customers);
        w.buf
    }

    pub fn decode(bytes: &[u8]) -> Result<Meta, DecodeError> {
        let mut r = Reader::new(bytes);
        read_header(&mut r, META)?;
        let mut m = Meta::default();
        for _ in 0..r.count(2)? {
            m.fingerprint.push((r.str()?.to_string(), r.str()?.to_string()));
        }
        m.partition = small(r.zigzag()?)?;
        m.seq = r.varint()?;
        let has_base = flag(&mut r)?;
        let deltas = r.count(3)?;
        let piece = |r: &mut Reader<'_>| -> Result<Piece, DecodeError> {
            let seq = r.varint()?;
            let chunks = u32::try_from(r.varint()?).map_err(|_| DecodeError::Invalid { what: "chunk count" })?;
            Ok(Piece { seq, chunks, bytes: r.varint()? })
        };
        if has_base {
            m.base = Some(piece(&mut r)?);
        }
        for _ in 0..deltas {
            m.deltas.push(piece(&mut r)?);
        }
        for _ in 0..r.count(2)? {
            m.offsets.push((r.str()?.to_string(), r.zigzag()?));
        }
        m.clock = r.zigzag()?;
        m.last_change = r.zigzag()?;
        for _ in 0..r.count(3)? {
            m.outputs.push((r.str()?.to_string(), small(r.zigzag()?)?, r.zigzag()?));
        }
        for _ in 0..r.count(2)? {
            m.catalog.push((r.str()?.to_string(), r.str()?.to_string()));
        }
        if flag(&mut r)? {
            let mut rules = RulesState::default();
            if flag(&mut r)? {
                rules.evaluated_until = Some(r.zigzag()?);
            }
            rules.primed = flag(&mut r)?;
            for _ in 0..r.count(4)? {
                let (rule, dimension, segment) = (r.str()?.to_string(), r.str()?.to_string(), r.str()?.to_string());
                rules.firing.push(RuleFiring { rule, dimension, segment, firing: flag(&mut r)? });
            }
            m.rules = Some(rules);
        }
        m.customers = r.varint()?;
        r.finish()?;
        Ok(m)
    }
}

fn flag(r: &mut Reader<'_>) -> Result<bool, DecodeError> {
    match r.u8()? {
        0 => Ok(false),
        1 => Ok(true),
        _ => Err(DecodeError::Invalid { what: "flag byte" }),
    }
}

fn small(v: i64) -> Result<i32, DecodeError> {
    i32::try_from(v).map_err(|_| DecodeError::Invalid { what: "partition number" })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn meta_round_trips_and_every_truncation_is_an_error() {
        let meta = Meta {
            fingerprint: vec![("windows".into(), "1h/1h/1m".into())],
            partition: 3,
            seq: 7,
            base: Some(Piece { seq: 5, chunks: 2, bytes: 900 }),
            deltas: vec![Piece { seq: 6, chunks: 1, bytes: 10 }, Piece { seq: 7, chunks: 1, bytes: 12 }],
            offsets: vec![("cx.interactions".into(), 42)],
            clock: 1_767_225_600_000,
            last_change: 1_767_225_500_000,
            outputs: vec![("cx.alerts".into(), 0, 17)],
            catalog: vec![("plan".into(), "pro".into())],
            rules: Some(RulesState {
                evaluated_until: Some(5),
                primed: true,
                firing: vec![RuleFiring {
                    rule: "r".into(),
                    dimension: "all".into(),
                    segment: "all".into(),
                    firing: true,
                }],
            }),
            customers: 12,
        };
        let bytes = meta.encode();
        assert_eq!(Meta::decode(&bytes).unwrap(), meta);
        for cut in 0..bytes.len() {
            assert!(Meta::decode(&bytes[..cut]).is_err(), "cut at {cut}");
        }
    }
}
