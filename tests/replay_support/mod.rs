//! Runs `cxpulse::replay::replay` on inline JSONL and config, and reads the outputs back.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::Path;

use cxpulse::config;
use cxpulse::event::time::parse_rfc3339;
use cxpulse::replay::{replay, ReplayOptions, ReplaySummary};
use serde_json::Value;

pub struct Output {
    pub summary: ReplaySummary,
    pub alerts: Vec<Value>,
    pub messages: Vec<Value>,
    pub dead_letters: Vec<Value>,
    /// Series (name plus labels, as written) → value.
    pub metrics: BTreeMap<String, f64>,
    pub alerts_text: String,
    pub messages_text: String,
    pub metrics_text: String,
}

impl Output {
    /// The value of a series written exactly as in the exposition, e.g.
    /// `cxpulse_nps_score{dimension="all",segment="all",window="7d"}`.
    pub fn metric(&self, series: &str) -> Option<f64> {
        self.metrics.get(series).copied()
    }

    /// Shorthand for a windowed segment metric of dimension/segment `all`.
    pub fn all(&self, name: &str, window: &str, extra: &str) -> Option<f64> {
        self.metric(&format!("cxpulse_{name}{{dimension=\"all\",segment=\"all\",window=\"{window}\"{extra}}}"))
    }

    pub fn alerts_of(&self, kind: &str) -> Vec<&Value> {
        self.alerts.iter().filter(|a| a["kind"] == kind).collect()
    }
}

fn read_lines(path: &Path) -> (Vec<Value>, String) {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let values = text.lines().map(|l| serde_json::from_str(l).expect("output line is JSON")).collect();
    (values, text)
}

/// Replays `events` (JSONL text) with `config_toml` layered on the defaults.
pub fn run(events: impl AsRef<[u8]>, config_toml: &str, as_of: Option<&str>) -> Output {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in.jsonl");
    std::fs::write(&input, events.as_ref()).unwrap();
    let config_path = dir.path().join("c.toml");
    std::fs::write(&config_path, config_toml).unwrap();
    let config = config::load(Some(&config_path), &[]).expect("valid test config");
    let opts = ReplayOptions {
        input,
        as_of: as_of.map(|t| parse_rfc3339(t).expect("as_of")),
        metrics_out: Some(dir.path().join("m.prom")),
        alerts_out: Some(dir.path().join("a.jsonl")),
        messages_out: Some(dir.path().join("msg.jsonl")),
        dead_letter_out: Some(dir.path().join("dl.jsonl")),
        progress: false,
        report: None,
    };
    let summary = replay(&config, &opts).expect("replay runs");
    let (alerts, alerts_text) = read_lines(&dir.path().join("a.jsonl"));
    let (messages, messages_text) = read_lines(&dir.path().join("msg.jsonl"));
    let (dead_letters, _) = read_lines(&dir.path().join("dl.jsonl"));
    let metrics_text = std::fs::read_to_string(dir.path().join("m.prom")).unwrap();
    let metrics = metrics_text
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .filter_map(|l| {
            let (series, value) = l.rsplit_once(' ')?;
            Some((series.to_string(), value.parse().ok()?))
        })
        .collect();
    Output { summary, alerts, messages, dead_letters, metrics, alerts_text, messages_text, metrics_text }
}

/// Builds one event line. `extra` is a JSON object body to merge, e.g. `"kind":"login"`.
pub fn ev(kind: &str, customer: &str, ts: &str, extra: &str) -> String {
    let ts = if ts.chars().all(|c| c.is_ascii_digit()) { ts.to_string() } else { format!("\"{ts}\"") };
    let extra = if extra.is_empty() { String::new() } else { format!(",{extra}") };
    format!("{{\"type\":\"{kind}\",\"customer_id\":\"{customer}\",\"ts\":{ts}{extra}}}\n")
}

pub fn login(customer: &str, ts: &str) -> String {
    ev("interaction", customer, ts, "\"kind\":\"login\"")
}

/// No holdout, so every inactive customer gets a message unless a test says otherwise.
pub const NO_HOLDOUT: &str = "[reengagement]\nholdout_percent = 0\n";
