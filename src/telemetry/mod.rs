//! Prometheus metrics: the service counters (a registry) and the segment gauges, which are
//! computed from the merged partials at scrape time.

pub mod exposition;
pub mod http;
pub mod http_security;
pub mod metrics;
pub mod processing_times;
pub mod status;

pub use exposition::{render_segment_metrics, SegmentExposition};
pub use metrics::Metrics;
