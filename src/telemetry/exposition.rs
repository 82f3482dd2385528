//! The segment gauges of SPEC §4 in Prometheus text format, computed from merged partials at the
//! engine's clock. A ratio or average with a zero denominator has no series.

use std::fmt::Write;

use crate::detect::rules::RuleState;
use crate::engine::settings::Settings;
use crate::engine::view::EngineView;
use crate::event::Millis;
use crate::state::customer::CustomerState;
use crate::state::SegmentCatalog;
use crate::window::{SegmentMetric, WindowFigures};

/// Escapes a label value (backslash, double quote, newline).
fn escape(value: &str) -> String {
    value.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}

/// Prometheus spells infinities `+Inf` / `-Inf` (a sum of huge amounts can overflow).
fn sample_value(v: f64) -> String {
    match v {
        f64::INFINITY => "+Inf".to_string(),
        f64::NEG_INFINITY => "-Inf".to_string(),
        v => v.to_string(),
    }
}

fn header(out: &mut String, name: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} gauge");
}

/// Renders every segment gauge at clock `at`, plus `cxpulse_customers` and `cxpulse_rule_firing`.
pub fn render_segment_metrics(
    settings: &Settings,
    catalog: &SegmentCatalog,
    view: &EngineView,
    rules: &[RuleState],
    at: Millis,
) -> String {
    let segments = catalog.all_segments();
    // Merge each (segment, window) once, then read every metric from it.
    let figures: Vec<Vec<WindowFigures>> = segments
        .iter()
        .map(|(id, _, _)| (0..settings.windows.len()).map(|w| view.figures(*id, w, at)).collect())
        .collect();
    let mut out = String::new();
    for metric in SegmentMetric::ALL {
        let name = format!("cxpulse_{}", metric.name());
        header(&mut out, &name, metric.help());
        let labels: Vec<Option<&str>> = match metric.label_name() {
            Some(_) => metric.label_values().into_iter().map(Some).collect(),
            None => vec![None],
        };
        for ((_, dimension, segment), per_window) in segments.iter().zip(&figures) {
            for (window, figures) in settings.windows.iter().zip(per_window) {
                for label in &labels {
                    let Some(reading) = figures.read(metric, *label) else { continue };
                    let extra = match (metric.label_name(), label) {
                        (Some(l), Some(v)) => format!(",{l}=\"{v}\""),
                        _ => String::new(),
                    };
                    let _ = writeln!(
                        out,
                        "{name}{{dimension=\"{}\",segment=\"{}\",window=\"{}\"{extra}}} {}",
                        escape(dimension),
                        escape(segment),
                        escape(&window.name),
                        sample_value(reading.value)
                    );
                }
            }
        }
    }
    header(&mut out, "cxpulse_customers", "Customers of the segment by state.");
    for (id, dimension, segment) in &segments {
        let by_state = view.by_state(*id);
        for state in CustomerState::ALL {
            let _ = writeln!(
                out,
                "cxpulse_customers{{dimension=\"{}\",segment=\"{}\",state=\"{}\"}} {}",
                escape(dimension),
                escape(segment),
                state.label(),
                by_state[state.index()]
            );
        }
    }
    header(
        &mut out,
        "cxpulse_lifetime_revenue_average",
        "Mean over the segment's current members (all states) of each one's purchase amounts since first seen.",
    );
    for (id, dimension, segment) in &segments {
        let (sum, members) = view.lifetime_revenue(*id);
        // Amounts near f64::MAX can overflow to infinities that cancel when customers move.
        if members > 0 && !sum.is_nan() {
            let _ = writeln!(
                out,
                "cxpulse_lifetime_revenue_average{{dimension=\"{}\",segment=\"{}\"}} {}",
                escape(dimension),
                escape(segment),
                sample_value(sum / members as f64)
            );
        }
    }
    header(&mut out, "cxpulse_rule_firing", "1 while a threshold rule fires for the segment.");
    for r in rules {
        let _ = writeln!(
            out,
            "cxpulse_rule_firing{{rule=\"{}\",dimension=\"{}\",segment=\"{}\"}} {}",
            escape(&r.rule),
            escape(&r.dimension),
            escape(&r.segment),
            u8::from(r.firing)
        );
    }
    out
}
