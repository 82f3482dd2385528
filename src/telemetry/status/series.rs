//! Per-bucket figures of one segment's window: the window's own buckets, grouped into at most a
//! given number of points, each point the figure of its group alone (SPEC §4 formulas applied to
//! the merged buckets of the group). Groups are epoch-aligned runs of `g` buckets, so the first and
//! last points may cover fewer buckets; the churn ratio of a group divides by the customers live at
//! the group's start, as a window of that span would.

use crate::engine::EngineView;
use crate::event::Millis;
use crate::state::SegmentId;
use crate::window::{BucketAggregate, SegmentMetric, WindowFigures, WindowSpec};

/// The time axis of a series: each point's first instant.
#[derive(Debug, Clone, PartialEq)]
pub struct Axis {
    pub starts: Vec<Millis>,
    /// Length of a full group.
    pub step_ms: i64,
}

/// One segment's window as grouped figures, oldest first.
#[derive(Debug, Clone)]
pub struct GroupedSeries {
    pub axis: Axis,
    pub groups: Vec<WindowFigures>,
}

/// Buckets in a window.
pub fn bucket_count(spec: &WindowSpec) -> usize {
    usize::try_from((spec.size_ms / spec.bucket_ms.max(1)).max(1)).unwrap_or(1)
}

/// Buckets per point so that a window of `n` buckets has at most `max_points` full groups.
pub fn group_size(n: usize, max_points: usize) -> usize {
    n.div_ceil(max_points.max(1)).max(1)
}

/// The axis shared by every segment's series for this window at `at`.
pub fn axis(spec: &WindowSpec, at: Millis, max_points: usize) -> Axis {
    let n = bucket_count(spec);
    let g = group_size(n, max_points) as i64;
    let k_first = at.div_euclid(spec.bucket_ms) - n as i64 + 1;
    let mut starts = Vec::new();
    for i in 0..n as i64 {
        let k = k_first + i;
        if i == 0 || k.rem_euclid(g) == 0 {
            starts.push(k * spec.bucket_ms);
        }
    }
    Axis { starts, step_ms: g * spec.bucket_ms }
}

/// Reads one segment's window at `at` and groups its buckets.
pub fn grouped(
    view: &EngineView,
    segment: SegmentId,
    window: usize,
    spec: &WindowSpec,
    at: Millis,
    max_points: usize,
) -> GroupedSeries {
    let n = bucket_count(spec);
    let (live_at_start, buckets) = view.bucket_series(segment, window, n, at);
    let g = group_size(n, max_points) as i64;
    let k_first = at.div_euclid(spec.bucket_ms) - n as i64 + 1;
    let mut groups: Vec<WindowFigures> = Vec::new();
    let mut live = live_at_start;
    for (i, bucket) in buckets.iter().enumerate() {
        let k = k_first + i as i64;
        if i == 0 || k.rem_euclid(g) == 0 {
            groups.push(figures_of(BucketAggregate::default(), live));
        }
        if let Some(current) = groups.last_mut() {
            current.agg.merge(bucket);
        }
        live += bucket.live_delta;
    }
    GroupedSeries { axis: axis(spec, at, max_points), groups }
}

/// Window figures from bucket aggregates alone. Fields added to `WindowFigures` later that do not
/// come from buckets stay at their default, which is why only [`has_bucket_series`] metrics are
/// read per group.
fn figures_of(agg: BucketAggregate, live_at_start: i64) -> WindowFigures {
    WindowFigures { agg, live_at_start, ..Default::default() }
}

/// Metrics whose figure over a group of buckets is exact from the buckets alone. A metric added to
/// the catalog later gets its window value on the page but no series until it is listed here.
pub fn has_bucket_series(metric: SegmentMetric) -> bool {
    use SegmentMetric::*;
    matches!(
        metric,
        SurveyResponses
            | NpsScore
            | CsatRatio
            | CesAverage
            | Interactions
            | ActiveCustomers
            | Revenue
            | AverageOrderValue
            | SessionSecondsAverage
            | ResolutionSecondsAverage
            | FirstResponseSecondsAverage
            | ChurnedCustomers
            | ChurnRatio
            | ReengagementMessages
            | ReactivationRatio
            | ReengagementLift
    )
}

/// Each group's value of `metric` (`None` where its denominator is 0).
pub fn values(series: &GroupedSeries, metric: SegmentMetric, label: Option<&str>) -> Option<Vec<Option<f64>>> {
    has_bucket_series(metric).then(|| {
        series.groups.iter().map(|f| f.read(metric, label).map(|r| r.value).filter(|v| v.is_finite())).collect()
    })
}

/// Rounds to `digits` significant digits (sparklines need no more, and the page stays small).
pub fn round_significant(v: f64, digits: i32) -> f64 {
    if v == 0.0 || !v.is_finite() {
        return v;
    }
    let scale = 10f64.powi(digits - 1 - v.abs().log10().floor() as i32);
    (v * scale).round() / scale
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn groups_are_epoch_aligned_and_bounded() {
        let spec = WindowSpec { name: "7d".into(), size_ms: 7 * 86_400_000, bucket_ms: 3_600_000 };
        assert_eq!(group_size(168, 30), 6);
        // Clock at 10:30: the window's first bucket is 11:00 seven days earlier.
        let at = 20 * 86_400_000 + 10 * 3_600_000 + 1_800_000;
        let a = axis(&spec, at, 30);
        assert_eq!(a.step_ms, 6 * 3_600_000);
        assert_eq!(a.starts[0], 13 * 86_400_000 + 11 * 3_600_000);
        assert_eq!(a.starts[1], 13 * 86_400_000 + 12 * 3_600_000);
        assert!(a.starts.len() <= 29);
        assert!(a.starts[1..].iter().all(|s| s.rem_euclid(a.step_ms) == 0));
    }

    #[test]
    fn rounding_keeps_significant_digits() {
        assert_eq!(round_significant(12.3456, 3), 12.3);
        assert_eq!(round_significant(-0.071234, 3), -0.0712);
        assert_eq!(round_significant(123456.0, 3), 123000.0);
        assert_eq!(round_significant(0.0, 3), 0.0);
    }
}
