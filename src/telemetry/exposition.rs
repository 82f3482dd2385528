//! The segment gauges of SPEC §4 in Prometheus text format, computed from merged partials at a
//! clock. A ratio or average with a zero denominator has no series.
//!
//! Several sources may be rendered into one exposition (this process's partitions, and the whole
//! group with `scope="cluster"`): the text format wants every series of a metric under one
//! `# HELP`/`# TYPE` header, so each family collects its lines from every source before the
//! families are written out.

use std::fmt::Write;

use crate::detect::rules::RuleState;
use crate::engine::settings::Settings;
use crate::engine::view::FigureSource;
use crate::event::Millis;
use crate::state::customer::CustomerState;
use crate::window::{SegmentMetric, WindowFigures};

/// Escapes a label value (backslash, double quote, newline).
fn escape(value: &str) -> String {
    value.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}

/// A sample value and the line's end, without an intermediate string.
fn push_value(out: &mut String, v: f64) {
    match v {
        f64::INFINITY => out.push_str("+Inf\n"),
        f64::NEG_INFINITY => out.push_str("-Inf\n"),
        v => {
            let _ = writeln!(out, "{v}");
        }
    }
}

/// Prometheus spells infinities `+Inf` / `-Inf` (a sum of huge amounts can overflow).
fn sample_value(v: f64) -> String {
    match v {
        f64::INFINITY => "+Inf".to_string(),
        f64::NEG_INFINITY => "-Inf".to_string(),
        v => v.to_string(),
    }
}

const CUSTOMERS: usize = SegmentMetric::ALL.len();
const LIFETIME: usize = CUSTOMERS + 1;
const RULES: usize = CUSTOMERS + 2;

/// The segment gauge families, filled from one or more sources.
pub struct SegmentExposition {
    /// (name, help, series lines)
    families: Vec<(String, &'static str, String)>,
}

impl Default for SegmentExposition {
    fn default() -> Self {
        let mut families: Vec<(String, &'static str, String)> =
            SegmentMetric::ALL.iter().map(|m| (format!("cxpulse_{}", m.name()), m.help(), String::new())).collect();
        families.push(("cxpulse_customers".into(), "Customers of the segment by state.", String::new()));
        families.push((
            "cxpulse_lifetime_revenue_average".into(),
            "Mean over the segment's current members (all states) of each one's purchase amounts since first seen.",
            String::new(),
        ));
        families.push(("cxpulse_rule_firing".into(), "1 while a threshold rule fires for the segment.", String::new()));
        SegmentExposition { families }
    }
}

impl SegmentExposition {
    /// Adds every segment gauge of `view` at clock `at`; with `scope`, each series also carries
    /// `scope="…"`.
    pub fn add<S: FigureSource>(&mut self, settings: &Settings, view: &S, at: Millis, scope: Option<&str>) {
        let segments = view.segments();
        // Merge each (segment, window) once, then read every metric from it.
        let figures: Vec<Vec<WindowFigures>> = segments
            .iter()
            .map(|(id, _, _)| (0..settings.windows.len()).map(|w| view.figures(id, w, at, None)).collect())
            .collect();
        let scope = scope.map(|s| format!(",scope=\"{}\"", escape(s))).unwrap_or_default();
        // Label text is escaped once per segment and window, not once per series: formatting,
        // not merging, is what an exposition spends its time on.
        let segment_labels: Vec<String> = segments
            .iter()
            .map(|(_, dimension, segment)| {
                format!("dimension=\"{}\",segment=\"{}\"", escape(dimension), escape(segment))
            })
            .collect();
        let window_labels: Vec<String> =
            settings.windows.iter().map(|w| format!(",window=\"{}\"", escape(&w.name))).collect();
        for (metric, (name, _, out)) in SegmentMetric::ALL.iter().zip(self.families.iter_mut()) {
            let labels: Vec<(Option<&str>, String)> = match metric.label_name() {
                Some(l) => metric.label_values().into_iter().map(|v| (Some(v), format!(",{l}=\"{v}\""))).collect(),
                None => vec![(None, String::new())],
            };
            for (segment_label, per_window) in segment_labels.iter().zip(&figures) {
                for (window_label, figures) in window_labels.iter().zip(per_window) {
                    for (label, extra) in &labels {
                        let Some(reading) = figures.read(*metric, *label) else { continue };
                        for part in [name.as_str(), "{", segment_label, window_label, extra, &scope, "} "] {
                            out.push_str(part);
                        }
                        push_value(out, reading.value);
                    }
                }
            }
        }
        let out = &mut self.families[CUSTOMERS].2;
        for (id, dimension, segment) in &segments {
            let by_state = view.by_state(id);
            for state in CustomerState::ALL {
                let _ = writeln!(
                    out,
                    "cxpulse_customers{{dimension=\"{}\",segment=\"{}\",state=\"{}\"{scope}}} {}",
                    escape(dimension),
                    escape(segment),
                    state.label(),
                    by_state[state.index()]
                );
            }
        }
        let out = &mut self.families[LIFETIME].2;
        for (id, dimension, segment) in &segments {
            let (sum, members) = view.lifetime_revenue(id);
            // Amounts near f64::MAX can overflow to infinities that cancel when customers move.
            if members > 0 && !sum.is_nan() {
                let _ = writeln!(
                    out,
                    "cxpulse_lifetime_revenue_average{{dimension=\"{}\",segment=\"{}\"{scope}}} {}",
                    escape(dimension),
                    escape(segment),
                    sample_value(sum / members as f64)
                );
            }
        }
    }

    /// Adds `cxpulse_rule_firing` for each (rule, segment) evaluated.
    pub fn add_rules(&mut self, rules: &[RuleState]) {
        let out = &mut self.families[RULES].2;
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
    }

    pub fn finish(self) -> String {
        let mut text = String::with_capacity(self.families.iter().map(|f| f.2.len() + 200).sum());
        for (name, help, body) in self.families {
            let _ = writeln!(text, "# HELP {name} {help}");
            let _ = writeln!(text, "# TYPE {name} gauge");
            text.push_str(&body);
        }
        text
    }
}

/// Renders one source's segment gauges at clock `at` (no scope), plus `cxpulse_rule_firing`.
pub fn render_segment_metrics<S: FigureSource>(
    settings: &Settings,
    view: &S,
    rules: &[RuleState],
    at: Millis,
) -> String {
    let mut exposition = SegmentExposition::default();
    exposition.add(settings, view, at, None);
    exposition.add_rules(rules);
    exposition.finish()
}
