//! Segment ids: the bounded set of label values per dimension, shared by every partition so the
//! `max_values` cap and the `other` overflow mean the same thing everywhere.

use fnv::FnvHashMap;
use std::sync::RwLock;

use compact_str::CompactString;

/// Global segment id; `ALL` is dimension `all`, segment `all`.
pub type SegmentId = u32;
pub const ALL: SegmentId = 0;
pub const OTHER: &str = "other";

#[derive(Debug)]
pub struct SegmentCatalog {
    dimensions: Vec<String>,
    max_values: usize,
    inner: RwLock<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    /// id → (dimension index, label); dimension index `usize::MAX` is `all`.
    labels: Vec<(usize, CompactString)>,
    /// per dimension: label → id
    ids: Vec<FnvHashMap<CompactString, SegmentId>>,
    /// per dimension: distinct real values admitted so far
    admitted: Vec<usize>,
}

impl SegmentCatalog {
    pub fn new(dimensions: Vec<String>, max_values: usize) -> Self {
        let inner = Inner {
            labels: vec![(usize::MAX, CompactString::const_new("all"))],
            ids: vec![FnvHashMap::default(); dimensions.len()],
            admitted: vec![0; dimensions.len()],
        };
        SegmentCatalog { dimensions, max_values, inner: RwLock::new(inner) }
    }

    pub fn dimensions(&self) -> &[String] {
        &self.dimensions
    }

    pub fn dimension_index(&self, name: &str) -> Option<usize> {
        self.dimensions.iter().position(|d| d == name)
    }

    /// The segment for a value of dimension `dim`: its own while the dimension has room, else `other`.
    pub fn intern(&self, dim: usize, value: &str) -> SegmentId {
        if let Some(id) = self.read().ids.get(dim).and_then(|m| m.get(value)) {
            return *id;
        }
        let mut inner = self.inner.write().unwrap_or_else(|e| e.into_inner());
        if let Some(id) = inner.ids[dim].get(value) {
            return *id;
        }
        let label = if inner.admitted[dim] < self.max_values || value == OTHER {
            if value != OTHER {
                inner.admitted[dim] += 1;
            }
            CompactString::from(value)
        } else {
            CompactString::const_new(OTHER)
        };
        let id = match inner.ids[dim].get(&label) {
            Some(id) => *id,
            None => {
                let id = inner.labels.len() as SegmentId;
                inner.labels.push((dim, label.clone()));
                inner.ids[dim].insert(label, id);
                id
            }
        };
        // Overflow values are remembered as `other` so the decision stays the same.
        inner.ids[dim].insert(CompactString::from(value), id);
        id
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
}
