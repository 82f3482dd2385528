//! A store in memory: the records of a compacted topic, for tests and for the property test that
//! snapshot → restore changes nothing.

use super::restore::Stored;
use super::snapshot::Plan;

#[derive(Debug, Default, Clone)]
pub struct MemoryStore {
    records: Vec<Stored>,
}

impl MemoryStore {
    /// Appends a plan's records in the order a store writes them.
    pub fn write(&mut self, plan: &Plan) {
        for r in plan.chunks.iter().chain([&plan.meta]).chain(plan.tombstones.iter()) {
            let offset = self.records.len() as i64;
            self.records.push(Stored { key: r.key.clone(), offset, value: r.value.clone() });
        }
    }

    /// Everything written, as a reader of the topic sees it.
    pub fn records(&self) -> Vec<Stored> {
        self.records.clone()
    }

    /// Total bytes of values written.
    pub fn bytes(&self) -> u64 {
        self.records.iter().filter_map(|r| r.value.as_ref()).map(|v| v.len() as u64).sum()
    }
}
