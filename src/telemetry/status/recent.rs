//! The recent-alerts buffer behind the status page's Alerts view and `/api/v1/alerts`.
//!
//! Bounded by construction: at most `status.recent_alerts` segment threshold alerts (oldest dropped
//! first) and counts for the newest `status.counts_buckets` spans of stream time. Customer
//! transitions and messages are only *counted* (by kind and span), so no customer id is held here,
//! unless `status.customer_rows` is on: then the newest `recent_alerts` customer-level alerts and
//! messages are kept too, ids included, because the operator asked for them.
//!
//! Fed from `Metrics::effect_emitted`, which sees every alert and message in replay and live.

use std::collections::{BTreeMap, VecDeque};
use std::sync::Mutex;

use serde_json::Value;

use crate::alert::{AlertKind, Effect};
use crate::config::StatusConfig;
use crate::event::Millis;

/// Counted kinds, in the order of [`Counts`].
pub const COUNTED: [&str; 4] = ["inactive", "churned", "reactivated", "messages"];

/// Transitions and messages in one span: inactive, churned, reactivated, messages.
pub type Counts = [u64; 4];

#[derive(Debug, Default)]
struct Inner {
    segment: VecDeque<Value>,
    customer: VecDeque<Value>,
    /// span index (`floor(at / counts_bucket)`) → counts; only the newest `spans` kept.
    counts: BTreeMap<i64, Counts>,
    totals: Counts,
}

#[derive(Debug)]
pub struct RecentAlerts {
    inner: Mutex<Inner>,
    capacity: usize,
    bucket_ms: i64,
    spans: usize,
    customer_rows: bool,
}

/// A copy of the buffer, newest alerts first.
#[derive(Debug, Clone, Default)]
pub struct RecentSnapshot {
    pub segment: Vec<Value>,
    pub customer: Vec<Value>,
    pub counts: BTreeMap<i64, Counts>,
    pub totals: Counts,
}

impl RecentAlerts {
    pub fn new(config: &StatusConfig) -> Self {
        RecentAlerts {
            inner: Mutex::new(Inner::default()),
            capacity: config.recent_alerts.max(1),
            bucket_ms: i64::try_from(config.counts_bucket.0).unwrap_or(i64::MAX).max(1),
            spans: config.counts_buckets.max(1),
            customer_rows: config.customer_rows,
        }
    }

    pub fn bucket_ms(&self) -> i64 {
        self.bucket_ms
    }

    pub fn spans(&self) -> usize {
        self.spans
    }

    pub fn capacity(&self) -> usize {
        self.capacity
    }

    pub fn customer_rows(&self) -> bool {
        self.customer_rows
    }

    /// Records one effect: a segment alert is kept, a customer alert or message is counted.
    pub fn record(&self, effect: &Effect) {
        let (counted, at) = match effect {
            Effect::Alert(a) => match a.kind {
                AlertKind::SegmentThreshold => {
                    let row = a.to_json();
                    let mut inner = self.lock();
                    push_bounded(&mut inner.segment, row, self.capacity);
                    return;
                }
                AlertKind::CustomerInactive => (0, a.at),
                AlertKind::CustomerChurned => (1, a.at),
                AlertKind::CustomerReactivated => (2, a.at),
            },
            Effect::Message(m) => (3, m.at),
        };
        let row = self.customer_rows.then(|| match effect {
            Effect::Alert(a) => a.to_json(),
            Effect::Message(m) => {
                let mut v = m.to_json();
                if let Value::Object(o) = &mut v {
                    o.insert("kind".into(), Value::String("reengagement_message".into()));
                }
                v
            }
        });
        let mut inner = self.lock();
        if let Some(row) = row {
            push_bounded(&mut inner.customer, row, self.capacity);
        }
        inner.totals[counted] += 1;
        inner.counts.entry(at.div_euclid(self.bucket_ms)).or_default()[counted] += 1;
        while inner.counts.len() > self.spans {
            inner.counts.pop_first();
        }
    }

    pub fn snapshot(&self) -> RecentSnapshot {
        let inner = self.lock();
        RecentSnapshot {
            segment: inner.segment.iter().rev().cloned().collect(),
            customer: inner.customer.iter().rev().cloned().collect(),
            counts: inner.counts.clone(),
            totals: inner.totals,
        }
    }

    /// The counts of the `spans` spans ending with the one holding `at` (zeros where nothing
    /// happened), oldest first, as (span start, counts).
    pub fn series(&self, snapshot: &RecentSnapshot, at: Millis) -> Vec<(Millis, Counts)> {
        let last = at.div_euclid(self.bucket_ms);
        let first = last - self.spans as i64 + 1;
        (first..=last).map(|k| (k * self.bucket_ms, snapshot.counts.get(&k).copied().unwrap_or_default())).collect()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }
}

fn push_bounded(queue: &mut VecDeque<Value>, row: Value, capacity: usize) {
    if queue.len() == capacity {
        queue.pop_front();
    }
    queue.push_back(row);
}
