//! The JSON documents of `/api/v1/`, computed from a [`StatusSource`] at the engine's clock: the
//! same merged partials and formulas as `/metrics`, so the figures are equal. No customer id
//! appears in any of them, except the customer rows `status.customer_rows` allows (see `recent`).

use std::collections::{HashMap, HashSet};

use prometheus::proto::{MetricFamily, MetricType};
use serde_json::{json, Map, Value};
use thiserror::Error;

use super::series::{self, round_significant, GroupedSeries};
use super::StatusSource;
use crate::detect::rules::RuleState;
use crate::engine::settings::{Rule, Settings};
use crate::event::time::format_rfc3339;
use crate::event::Millis;
use crate::state::customer::{CustomerState, NEVER};
use crate::window::{SegmentMetric, WindowFigures};

/// The overview's figures, in page order. Names the engine does not know (yet) are skipped, so
/// figures added to the metric catalog later appear by name.
pub const OVERVIEW_METRICS: [&str; 11] = [
    "nps_score",
    "csat_ratio",
    "ces_average",
    "active_customers",
    "churn_ratio",
    "retention_ratio",
    "revenue",
    "revenue_per_customer",
    "purchases_per_customer",
    "customer_lifetime_value",
    "reengagement_lift",
];
/// Sparkline points per overview figure: small enough for 200 segments in well under 500 KB.
pub const OVERVIEW_POINTS: usize = 30;
/// Chart points in the segment view.
pub const SEGMENT_POINTS: usize = 84;
pub const MAX_POINTS: usize = 1000;
/// The window shown when none is asked for, if configured (else the first window).
pub const DEFAULT_WINDOW: &str = "7d";

#[derive(Debug, Error, PartialEq)]
pub enum ApiError {
    #[error("unknown window `{0}`; configured windows: {1}")]
    UnknownWindow(String, String),
    #[error("unknown segment `{0}/{1}`")]
    UnknownSegment(String, String),
    #[error("unknown metric `{0}` (a windowed metric without an extra label, e.g. nps_score)")]
    UnknownMetric(String),
    #[error("`points` must be a number from 1 to {MAX_POINTS}")]
    BadPoints,
    #[error("unknown query parameter `{0}`")]
    UnknownParameter(String),
}

impl ApiError {
    pub fn code(&self) -> &'static str {
        match self {
            ApiError::UnknownWindow(..) => "unknown_window",
            ApiError::UnknownSegment(..) => "unknown_segment",
            ApiError::UnknownMetric(_) => "unknown_metric",
            ApiError::BadPoints => "bad_points",
            ApiError::UnknownParameter(_) => "unknown_parameter",
        }
    }

    /// HTTP status: 404 for a segment that does not exist, else 400.
    pub fn status(&self) -> u16 {
        match self {
            ApiError::UnknownSegment(..) => 404,
            _ => 400,
        }
    }

    pub fn to_json(&self) -> Value {
        json!({ "error": self.code(), "detail": self.to_string() })
    }
}

/// Query of `/api/v1/segments` and `/api/v1/segments/{dimension}/{segment}`.
#[derive(Debug, Clone, Default)]
pub struct Query {
    /// A configured window name; default [`DEFAULT_WINDOW`].
    pub window: Option<String>,
    /// Overview only: which figures (default [`OVERVIEW_METRICS`]).
    pub metrics: Option<Vec<String>>,
    /// Most points per series.
    pub points: Option<usize>,
}

impl Query {
    /// Parses `window=7d&metrics=nps_score,revenue&points=30` (percent-decoded).
    pub fn parse(query: Option<&str>) -> Result<Query, ApiError> {
        let mut q = Query::default();
        for pair in query.unwrap_or("").split('&').filter(|p| !p.is_empty()) {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            let value = percent_encoding::percent_decode_str(&value.replace('+', " ")).decode_utf8_lossy().into_owned();
            match key {
                "window" => q.window = Some(value),
                "metrics" => q.metrics = Some(value.split(',').filter(|m| !m.is_empty()).map(str::to_string).collect()),
                "points" => {
                    let n = value.parse::<usize>().map_err(|_| ApiError::BadPoints)?;
                    if !(1..=MAX_POINTS).contains(&n) {
                        return Err(ApiError::BadPoints);
                    }
                    q.points = Some(n);
                }
                other => return Err(ApiError::UnknownParameter(other.chars().take(40).collect())),
            }
        }
        Ok(q)
    }
}

/// The engine's clock, or `None` before the first event.
fn clock(src: &dyn StatusSource) -> Option<Millis> {
    Some(src.engine().view.clock()).filter(|c| *c != NEVER)
}

fn time(ms: Option<Millis>) -> Value {
    ms.map_or(Value::Null, |ms| Value::String(format_rfc3339(ms)))
}

fn number(v: f64) -> Value {
    serde_json::Number::from_f64(v).map_or(Value::Null, Value::Number)
}

fn window_index(settings: &Settings, name: Option<&str>) -> Result<usize, ApiError> {
    let wanted = name.unwrap_or(DEFAULT_WINDOW);
    match settings.windows.iter().position(|w| w.name == wanted) {
        Some(i) => Ok(i),
        None if name.is_none() => Ok(0),
        None => {
            let names: Vec<&str> = settings.windows.iter().map(|w| w.name.as_str()).collect();
            Err(ApiError::UnknownWindow(wanted.chars().take(40).collect(), names.join(", ")))
        }
    }
}

/// (rule, dimension, segment) → firing.
type States = HashMap<(String, String, String), bool>;

fn state_map(states: Vec<RuleState>) -> States {
    states.into_iter().map(|s| ((s.rule, s.dimension, s.segment), s.firing)).collect()
}

fn applies(rule: &Rule, dimension: &str, segment: &str) -> bool {
    rule.dimension.as_deref().is_none_or(|d| d == dimension) && rule.segment.as_deref().is_none_or(|s| s == segment)
}

/// Every rule, as configured (the page draws thresholds from these).
fn rule_definitions(settings: &Settings) -> Value {
    Value::Array(
        settings
            .rules
            .iter()
            .map(|r| {
                json!({
                    "name": r.name,
                    "metric": r.metric.name(),
                    "label": r.label,
                    "window": settings.windows[r.window].name,
                    "dimension": r.dimension,
                    "segment": r.segment,
                    "direction": if r.above { "above" } else { "below" },
                    "threshold": number(r.threshold),
                    "clear": number(r.clear),
                    "min_samples": r.min_samples,
                })
            })
            .collect(),
    )
}

/// The rules on `metric` (and `label`) that apply to a segment, with their state: `firing`, `ok`
/// (evaluated with enough data, not firing) or `no_data`.
fn rules_on(
    settings: &Settings,
    states: &States,
    metric: SegmentMetric,
    label: Option<&str>,
    dimension: &str,
    segment: &str,
) -> Vec<Value> {
    settings
        .rules
        .iter()
        .filter(|r| r.metric == metric && r.label.as_deref() == label && applies(r, dimension, segment))
        .map(|r| {
            let key = (r.name.clone(), dimension.to_string(), segment.to_string());
            let state = match states.get(&key) {
                Some(true) => "firing",
                Some(false) => "ok",
                None => "no_data",
            };
            json!({ "rule": r.name, "window": settings.windows[r.window].name, "state": state })
        })
        .collect()
}

fn customers(src: &dyn StatusSource, id: crate::state::SegmentId) -> Value {
    let by_state = src.engine().view.by_state(id);
    let mut m = Map::new();
    for state in CustomerState::ALL {
        m.insert(state.label().into(), json!(by_state[state.index()]));
    }
    Value::Object(m)
}

fn windows(settings: &Settings) -> Value {
    Value::Array(
        settings
            .windows
            .iter()
            .map(|w| json!({ "name": w.name, "size_ms": w.size_ms, "bucket_ms": w.bucket_ms }))
            .collect(),
    )
}

fn overview_metrics(names: Option<&[String]>) -> Result<Vec<SegmentMetric>, ApiError> {
    match names {
        None => Ok(OVERVIEW_METRICS.iter().filter_map(|n| SegmentMetric::from_name(n)).collect()),
        Some(names) => names
            .iter()
            .map(|n| {
                SegmentMetric::from_name(n)
                    .filter(|m| m.label_name().is_none())
                    .ok_or_else(|| ApiError::UnknownMetric(n.chars().take(60).collect()))
            })
            .collect(),
    }
}

fn spark(series: &GroupedSeries, metric: SegmentMetric, label: Option<&str>, digits: i32) -> Value {
    match series::values(series, metric, label) {
        Some(values) => Value::Array(
            values.into_iter().map(|v| v.map_or(Value::Null, |v| number(round_significant(v, digits)))).collect(),
        ),
        None => Value::Null,
    }
}

/// `GET /api/v1/segments`: every segment of every dimension at one window, each figure with its
/// value, samples, sparkline and rule states.
pub fn segments(src: &dyn StatusSource, q: &Query) -> Result<Value, ApiError> {
    let engine = src.engine();
    let settings = &engine.settings;
    let w = window_index(settings, q.window.as_deref())?;
    let spec = &settings.windows[w];
    let metrics = overview_metrics(q.metrics.as_deref())?;
    let points = q.points.unwrap_or(OVERVIEW_POINTS);
    let at = clock(src);
    let at_ms = at.unwrap_or(0);
    let states = state_map(src.rule_states());
    let firing: HashSet<(&str, &str, &str)> =
        states.iter().filter(|(_, f)| **f).map(|((r, d, s), _)| (r.as_str(), d.as_str(), s.as_str())).collect();
    let mut dimensions: Vec<Value> = Vec::new();
    let mut current: Option<(String, Vec<Value>)> = None;
    for (id, dimension, label) in engine.catalog.all_segments() {
        let grouped = series::grouped(&engine.view, id, w, spec, at_ms, points);
        let window: WindowFigures = engine.view.figures(id, w, at_ms);
        let mut figures = Map::new();
        for metric in &metrics {
            let Some(reading) = window.read(*metric, None) else { continue };
            let mut figure = Map::new();
            figure.insert("value".into(), number(reading.value));
            figure.insert("samples".into(), json!(reading.samples));
            figure.insert("spark".into(), spark(&grouped, *metric, None, 3));
            let rules = rules_on(settings, &states, *metric, None, &dimension, &label);
            if !rules.is_empty() {
                figure.insert("rules".into(), Value::Array(rules));
            }
            figures.insert(metric.name().into(), Value::Object(figure));
        }
        let mut firing_here: Vec<&str> =
            firing.iter().filter(|(_, d, s)| *d == dimension && *s == label.as_str()).map(|(r, _, _)| *r).collect();
        firing_here.sort_unstable();
        let row = json!({
            "segment": label.as_str(),
            "customers": customers(src, id),
            "firing": firing_here,
            "figures": figures,
        });
        match &mut current {
            Some((name, rows)) if *name == dimension => rows.push(row),
            _ => {
                if let Some((name, rows)) = current.take() {
                    dimensions.push(json!({ "name": name, "segments": rows }));
                }
                current = Some((dimension, vec![row]));
            }
        }
    }
    if let Some((name, rows)) = current {
        dimensions.push(json!({ "name": name, "segments": rows }));
    }
    let axis = series::axis(spec, at_ms, points);
    Ok(json!({
        "version": env!("CARGO_PKG_VERSION"),
        "mode": src.mode(),
        "at": time(at),
        "at_ms": at,
        "window": spec.name,
        "windows": windows(settings),
        "metrics": metrics.iter().map(|m| m.name()).collect::<Vec<_>>(),
        "axis": { "starts": axis.starts, "step_ms": axis.step_ms },
        "rules": rule_definitions(settings),
        "refresh_ms": src.refresh_ms(),
        "dimensions": dimensions,
    }))
}

/// `GET /api/v1/segments/{dimension}/{segment}`: one segment's every figure at one window, with
/// its series over the window's buckets and the rules that apply to it.
pub fn segment(src: &dyn StatusSource, dimension: &str, segment: &str, q: &Query) -> Result<Value, ApiError> {
    let engine = src.engine();
    let settings = &engine.settings;
    let id = engine.catalog.find(dimension, segment).ok_or_else(|| {
        ApiError::UnknownSegment(dimension.chars().take(64).collect(), segment.chars().take(64).collect())
    })?;
    let w = window_index(settings, q.window.as_deref())?;
    let spec = &settings.windows[w];
    let points = q.points.unwrap_or(SEGMENT_POINTS);
    let at = clock(src);
    let at_ms = at.unwrap_or(0);
    let states = state_map(src.rule_states());
    let grouped = series::grouped(&engine.view, id, w, spec, at_ms, points);
    let window = engine.view.figures(id, w, at_ms);
    let mut figures = Vec::new();
    for metric in SegmentMetric::ALL {
        let labels: Vec<Option<&str>> = match metric.label_name() {
            Some(_) => metric.label_values().into_iter().map(Some).collect(),
            None => vec![None],
        };
        for label in labels {
            let reading = window.read(metric, label);
            figures.push(json!({
                "metric": metric.name(),
                "label_name": metric.label_name(),
                "label": label,
                "help": metric.help(),
                "value": reading.map_or(Value::Null, |r| number(r.value)),
                "samples": reading.map(|r| r.samples),
                "series": spark(&grouped, metric, label, 4),
                "rules": rules_on(settings, &states, metric, label, dimension, segment),
            }));
        }
    }
    Ok(json!({
        "version": env!("CARGO_PKG_VERSION"),
        "mode": src.mode(),
        "dimension": dimension,
        "segment": segment,
        "at": time(at),
        "at_ms": at,
        "window": spec.name,
        "windows": windows(settings),
        "customers": customers(src, id),
        "axis": { "starts": grouped.axis.starts, "step_ms": grouped.axis.step_ms },
        "rules": rule_definitions(settings),
        "refresh_ms": src.refresh_ms(),
        "figures": figures,
    }))
}

/// `GET /api/v1/alerts`: recent segment threshold alerts (newest first) and counts of customer
/// transitions and messages per span of stream time. Customer rows only with
/// `status.customer_rows`.
pub fn alerts(src: &dyn StatusSource) -> Value {
    let at = clock(src);
    let Some(recent) = src.metrics().recent_alerts() else {
        return json!({ "at": time(at), "recent": [], "counts": Value::Null, "customer_rows": false });
    };
    let snapshot = recent.snapshot();
    let spans = recent.series(&snapshot, at.unwrap_or_else(|| src.wall_ms()));
    let series: Vec<Value> = spans
        .iter()
        .map(|(start, c)| {
            let mut m = Map::new();
            m.insert("start".into(), Value::String(format_rfc3339(*start)));
            m.insert("start_ms".into(), json!(start));
            for (name, n) in super::recent::COUNTED.iter().zip(c) {
                m.insert((*name).into(), json!(n));
            }
            Value::Object(m)
        })
        .collect();
    let mut totals = Map::new();
    for (name, n) in super::recent::COUNTED.iter().zip(snapshot.totals) {
        totals.insert((*name).into(), json!(n));
    }
    let mut out = json!({
        "version": env!("CARGO_PKG_VERSION"),
        "mode": src.mode(),
        "at": time(at),
        "capacity": recent.capacity(),
        "recent": snapshot.segment,
        "counts": { "bucket_ms": recent.bucket_ms(), "series": series, "totals": totals },
        "customer_rows": recent.customer_rows(),
        "refresh_ms": src.refresh_ms(),
    });
    if recent.customer_rows() {
        out["customers"] = Value::Array(snapshot.customer);
    }
    out
}

fn family_value(f: &MetricFamily, m: &prometheus::proto::Metric) -> Option<f64> {
    match f.get_field_type() {
        MetricType::GAUGE => Some(m.get_gauge().get_value()),
        MetricType::COUNTER => Some(m.get_counter().get_value()),
        _ => None,
    }
}

fn labels(m: &prometheus::proto::Metric) -> Map<String, Value> {
    m.get_label().iter().map(|l| (l.name().to_string(), Value::String(l.value().to_string()))).collect()
}

/// `GET /api/v1/health`: readiness and its reason, events per second, consumer lag per
/// partition, stream time against wall time, restore progress when there is any, the version.
pub fn health(src: &dyn StatusSource) -> Value {
    let engine = src.engine();
    let at = clock(src);
    let wall = src.wall_ms();
    let families = src.metrics().gather();
    let mut lag = Vec::new();
    let mut restore = Vec::new();
    let mut events = Map::new();
    let mut rate = Value::Null;
    for f in &families {
        let name = f.name();
        for m in f.get_metric() {
            let Some(value) = family_value(f, m) else { continue };
            let labels = labels(m);
            match name {
                "cxpulse_consumer_lag" => lag.push(json!({
                    "topic": labels.get("topic"),
                    "partition": labels.get("partition").and_then(|p| p.as_str()).and_then(|p| p.parse::<i64>().ok()),
                    "lag": value,
                })),
                "cxpulse_events_per_second" => rate = number(value),
                "cxpulse_events_total" => {
                    if let Some(Value::String(o)) = labels.get("outcome") {
                        events.insert(o.clone(), number(value));
                    }
                }
                n if n.starts_with("cxpulse_restore_") => {
                    restore.push(json!({ "name": n, "labels": labels, "value": number(value) }))
                }
                _ => {}
            }
        }
    }
    let partitions: Vec<Value> = engine
        .view
        .partition_clocks()
        .into_iter()
        .map(|(p, c)| {
            let c = Some(c).filter(|c| *c != NEVER);
            json!({ "partition": p, "stream_time": time(c), "stream_time_ms": c })
        })
        .collect();
    let readiness = src.readiness();
    let lag_total: f64 = lag.iter().filter_map(|l| l["lag"].as_f64()).sum();
    json!({
        "version": env!("CARGO_PKG_VERSION"),
        "mode": src.mode(),
        "ready": readiness.is_ok(),
        "reason": readiness.err(),
        "events_per_second": rate,
        "events": events,
        "stream_time": time(at),
        "stream_time_ms": at,
        "wall_time": time(Some(wall)),
        "wall_time_ms": wall,
        "stream_behind_ms": at.map(|a| wall - a),
        "partitions": partitions,
        "consumer_lag": lag,
        "consumer_lag_total": lag_total,
        "tracked_customers": engine.view.tracked_customers(),
        "restore": restore,
        "refresh_ms": src.refresh_ms(),
    })
}
