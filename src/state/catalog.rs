//! Segment ids: the bounded set of label values per dimension, shared by every partition so the
//! `max_values` cap and the `other` overflow mean the same thing everywhere.
//!
//! Why memory stays bounded: a dimension admits at most `max_values` real values, and values past
//! the cap are *not* remembered. None is needed to keep each value's segment stable: admission
//! only ever grows, so once a dimension is full every value it has not admitted maps to `other`
//! now and forever. The catalog therefore holds at most `max_values + 1` labels per dimension,
//! whatever the input sends (a flood of made-up values costs a read-locked lookup each, no memory).
//!
//! # Who decides admission
//! - **First seen** (replay, one instance, `cluster.enabled = false`): [`SegmentCatalog::intern`]
//!   admits a value the first time this process meets it while its dimension has room, in the
//!   order the process applies events (replay: stream order).
//! - **Claimed** (a cluster, [`SegmentCatalog::require_claims`]): admission follows one total order
//!   shared by every instance, the claims topic (`cluster::claims`); only
//!   [`SegmentCatalog::apply_claim`], fed in topic order, admits. `intern` then never admits: the
//!   partition task decides a value (claims it and waits) before applying an event that carries it,
//!   so `intern` only looks up. Given the same claims in the same order, every instance, before and
//!   after a restart, admits the same values.

use fnv::FnvHashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::RwLock;

use compact_str::CompactString;

/// Global segment id; `ALL` is dimension `all`, segment `all`.
pub type SegmentId = u32;
pub const ALL: SegmentId = 0;
pub const OTHER: &str = "other";

/// A segment by name: ids are per process, names mean the same on every instance.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SegmentName {
    pub dimension: CompactString,
    pub label: CompactString,
}

impl SegmentName {
    /// Output order: dimension (`all` first), then label.
    pub fn output_order(&self) -> (bool, &str, &str) {
        (self.dimension != "all", &self.dimension, &self.label)
    }
}

#[derive(Debug)]
pub struct SegmentCatalog {
    dimensions: Vec<String>,
    max_values: usize,
    /// Admission by claims only (see the module doc); set once, before any partition exists.
    claimed: AtomicBool,
    inner: RwLock<Inner>,
}

/// What applying one claim did to the catalog.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClaimEffect {
    /// The value got its own segment.
    Admitted,
    /// The value got its own segment and filled its dimension: later values are `other`.
    AdmittedFull,
    /// Already decided (an earlier claim of the same value, or the dimension was full).
    Decided,
}

#[derive(Debug, Default)]
struct Inner {
    /// id → (dimension index, label); dimension index `usize::MAX` is `all`.
    labels: Vec<(usize, CompactString)>,
    /// per dimension: label → id
    ids: Vec<FnvHashMap<CompactString, SegmentId>>,
    /// per dimension: distinct real values admitted so far
    admitted: Vec<usize>,
    /// per dimension: the id of its `other` segment, once it exists
    other: Vec<Option<SegmentId>>,
}

impl SegmentCatalog {
    pub fn new(dimensions: Vec<String>, max_values: usize) -> Self {
        let inner = Inner {
            labels: vec![(usize::MAX, CompactString::const_new("all"))],
            ids: vec![FnvHashMap::default(); dimensions.len()],
            admitted: vec![0; dimensions.len()],
            other: vec![None; dimensions.len()],
        };
        SegmentCatalog { dimensions, max_values, claimed: AtomicBool::new(false), inner: RwLock::new(inner) }
    }

    /// From now on only claims admit values (a cluster). Called before any partition exists.
    pub fn require_claims(&self) {
        self.claimed.store(true, Ordering::Release);
    }

    /// Whether admission is decided by claims.
    pub fn is_claimed(&self) -> bool {
        self.claimed.load(Ordering::Acquire)
    }

    pub fn max_values(&self) -> usize {
        self.max_values
    }

    /// The segment a value is decided to have, without deciding anything: its own when admitted,
    /// `other` when its dimension is full. `None`: undecided (not admitted and the dimension has
    /// room), or `other` is due but does not exist yet (only in first-seen mode).
    pub fn decided(&self, dim: usize, value: &str) -> Option<SegmentId> {
        let inner = self.read();
        inner.decided(dim, value, self.max_values)
    }

    /// The values of `segments` (configured dimensions only) whose segment is not decided yet,
    /// under one read lock; empty for almost every event (always once each dimension is full).
    pub fn undecided<'a>(&self, segments: impl IntoIterator<Item = (&'a str, &'a str)>) -> Vec<(usize, &'a str)> {
        let inner = self.read();
        segments
            .into_iter()
            .filter_map(|(key, value)| {
                let dim = self.dimension_index(key)?;
                inner.decided(dim, value, self.max_values).is_none().then_some((dim, value))
            })
            .collect()
    }

    /// Applies the next claim in claims-topic order: admits `value` when it is not decided yet.
    /// The same claims in the same order give the same catalog, whoever applies them.
    pub fn apply_claim(&self, dim: usize, value: &str) -> ClaimEffect {
        let mut inner = self.inner.write().unwrap_or_else(|e| e.into_inner());
        if dim >= inner.ids.len() || inner.decided(dim, value, self.max_values).is_some() {
            return ClaimEffect::Decided;
        }
        if value == OTHER || inner.admitted[dim] >= self.max_values {
            inner.other_of(dim);
            return ClaimEffect::Decided;
        }
        inner.admitted[dim] += 1;
        inner.add_label(dim, CompactString::from(value));
        if inner.admitted[dim] >= self.max_values {
            // `other` exists as soon as it is due, so a lookup decides every value from here on.
            inner.other_of(dim);
            return ClaimEffect::AdmittedFull;
        }
        ClaimEffect::Admitted
    }

    pub fn dimensions(&self) -> &[String] {
        &self.dimensions
    }

    pub fn dimension_index(&self, name: &str) -> Option<usize> {
        self.dimensions.iter().position(|d| d == name)
    }

    /// The segment for a value of dimension `dim`: its own while the dimension has room, else `other`.
    ///
    /// With claims ([`SegmentCatalog::require_claims`]) this never admits: it returns the decided
    /// segment. The partition task decides every value of an event before applying it, and a
    /// restore before reading a checkpoint, so an undecided value does not reach here; were one
    /// to, it would be counted in `other` rather than admitted out of the claims' order.
    pub fn intern(&self, dim: usize, value: &str) -> SegmentId {
        if self.is_claimed() {
            if let Some(id) = self.decided(dim, value) {
                return id;
            }
            let mut inner = self.inner.write().unwrap_or_else(|e| e.into_inner());
            return inner.other_of(dim);
        }
        {
            let inner = self.read();
            if let Some(id) = inner.ids.get(dim).and_then(|m| m.get(value)) {
                return *id;
            }
            // A full dimension: an unknown value is `other`, without the write lock.
            if let Some(Some(other)) = inner.other.get(dim).filter(|_| inner.admitted[dim] >= self.max_values) {
                return *other;
            }
        }
        let mut inner = self.inner.write().unwrap_or_else(|e| e.into_inner());
        if let Some(id) = inner.ids[dim].get(value) {
            return *id;
        }
        if value != OTHER && inner.admitted[dim] < self.max_values {
            inner.admitted[dim] += 1;
            return inner.add_label(dim, CompactString::from(value));
        }
        inner.other_of(dim)
    }

    /// Labels held, over all dimensions (`all` included): at most `1 + dimensions × (max_values + 1)`.
    pub fn label_count(&self) -> usize {
        self.read().labels.len()
    }

    /// Looks a segment up by dimension and label without creating it.
    pub fn find(&self, dimension: &str, label: &str) -> Option<SegmentId> {
        if dimension == "all" {
            return (label == "all").then_some(ALL);
        }
        let dim = self.dimension_index(dimension)?;
        let inner = self.read();
        let id = *inner.ids[dim].get(label)?;
        (inner.labels[id as usize].1 == label).then_some(id)
    }

    /// A segment's name, which means the same on every instance (ids are per process).
    pub fn name(&self, id: SegmentId) -> SegmentName {
        let (dimension, label) = self.describe(id);
        SegmentName { dimension: dimension.into(), label }
    }

    /// (dimension name, label) of a segment.
    pub fn describe(&self, id: SegmentId) -> (String, CompactString) {
        let inner = self.read();
        match inner.labels.get(id as usize) {
            Some((usize::MAX, _)) | None => ("all".to_string(), CompactString::const_new("all")),
            Some((dim, label)) => (self.dimensions[*dim].clone(), label.clone()),
        }
    }

    /// Every segment, sorted by dimension (`all` first) then label, for stable output.
    pub fn all_segments(&self) -> Vec<(SegmentId, String, CompactString)> {
        let inner = self.read();
        let mut out: Vec<_> = inner
            .labels
            .iter()
            .enumerate()
            .map(|(id, (dim, label))| {
                let name = if *dim == usize::MAX { "all".to_string() } else { self.dimensions[*dim].clone() };
                (id as SegmentId, name, label.clone())
            })
            .collect();
        out.sort_by(|a, b| (a.1 != "all", &a.1, &a.2).cmp(&(b.1 != "all", &b.1, &b.2)));
        out
    }

    /// Every (dimension, label) admitted, in admission order (`all` left out): checkpoints carry
    /// it so a restart admits the same values under `max_values`.
    pub(crate) fn admitted(&self) -> Vec<(String, String)> {
        let inner = self.read();
        inner
            .labels
            .iter()
            .filter(|(dim, _)| *dim != usize::MAX)
            .map(|(dim, label)| (self.dimensions[*dim].clone(), label.to_string()))
            .collect()
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Inner> {
        self.inner.read().unwrap_or_else(|e| e.into_inner())
    }
}

impl Inner {
    fn decided(&self, dim: usize, value: &str, max_values: usize) -> Option<SegmentId> {
        if let Some(id) = self.ids.get(dim)?.get(value) {
            return Some(*id);
        }
        self.other[dim].filter(|_| self.admitted[dim] >= max_values)
    }

    /// The id of the dimension's `other` segment, created on first use.
    fn other_of(&mut self, dim: usize) -> SegmentId {
        match self.other[dim] {
            Some(id) => id,
            None => {
                let id = self.add_label(dim, CompactString::const_new(OTHER));
                self.other[dim] = Some(id);
                id
            }
        }
    }

    fn add_label(&mut self, dim: usize, label: CompactString) -> SegmentId {
        let id = self.labels.len() as SegmentId;
        self.labels.push((dim, label.clone()));
        self.ids[dim].insert(label, id);
        id
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn caps_values_and_maps_overflow_to_other() {
        let c = SegmentCatalog::new(vec!["plan".into()], 2);
        let a = c.intern(0, "free");
        let b = c.intern(0, "pro");
        let x = c.intern(0, "team");
        let y = c.intern(0, "enterprise");
        assert_ne!(a, b);
        assert_eq!(x, y);
        assert_eq!(c.describe(x).1, "other");
        assert_eq!(c.intern(0, "free"), a);
        assert_eq!(c.find("plan", "other"), Some(x));
        assert_eq!(c.find("plan", "team"), None);
        assert_eq!(c.find("all", "all"), Some(ALL));
    }

    #[test]
    fn values_past_the_cap_are_not_remembered() {
        let c = SegmentCatalog::new(vec!["plan".into(), "region".into()], 3);
        for i in 0..100_000 {
            c.intern(0, &format!("made-up-{i}"));
        }
        // `all`, three values and `other` in `plan`; nothing in `region` yet.
        assert_eq!(c.label_count(), 5);
        assert_eq!(c.read().ids[0].len(), 4);
        // The decision is stable: admitted values keep their segment, the rest stay `other`.
        let other = c.find("plan", "other").unwrap();
        assert_eq!(c.intern(0, "made-up-99999"), other);
        assert_ne!(c.intern(0, "made-up-2"), other);
        assert_eq!(c.describe(c.intern(0, "made-up-2")).1, "made-up-2");
        // The literal `other` never uses a slot.
        let r = c.intern(1, "other");
        assert_eq!(c.describe(r).1, "other");
        assert_ne!(c.intern(1, "eu"), r);
    }
}
