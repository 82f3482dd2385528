//! Time-bucketed rolling aggregates per segment. Partials are kept per input partition and merged
//! when read, so the hot `all` segment is never shared between writers.

pub mod aggregate;
pub mod figures;
pub mod interval;
pub mod metric;
pub mod ring;
pub mod segment_windows;

pub use aggregate::BucketAggregate;
pub use figures::{Reading, WindowFigures};
pub use interval::Interval;
pub use metric::SegmentMetric;
pub use ring::WindowRing;
pub use segment_windows::{SegmentPartial, WindowSpec};
