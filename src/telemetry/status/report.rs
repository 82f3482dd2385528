//! `cxpulse replay --report FILE.html`: the status page's overview (every window), alerts and a
//! summary, at the replay's final clock, as one self-contained HTML file. The documents are the
//! API's own, computed by the same code, so the report and `/api/v1/` always agree; nothing in it
//! depends on the wall clock, so the same input and config give the same file.

use std::path::Path;

use serde_json::{json, Map, Value};
use thiserror::Error;

use super::api::{self, Query};
use super::StatusSource;
use crate::detect::rules::RuleState;
use crate::engine::Engine;
use crate::event::Millis;
use crate::state::customer::NEVER;
use crate::telemetry::Metrics;

#[derive(Debug, Error)]
pub enum ReportError {
    #[error("cannot write the report {path}: {source}")]
    Write {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot build the report: {0}")]
    Build(#[from] api::ApiError),
}

impl ReportError {
    pub fn code(&self) -> &'static str {
        match self {
            ReportError::Write { .. } => "write",
            ReportError::Build(_) => "build",
        }
    }
}

/// A replay's final state seen as a status source.
pub struct ReplayStatus<'a> {
    pub engine: &'a Engine,
    pub rules: Vec<RuleState>,
    pub metrics: &'a Metrics,
}

impl StatusSource for ReplayStatus<'_> {
    fn engine(&self) -> &Engine {
        self.engine
    }
    fn rule_states(&self) -> Vec<RuleState> {
        self.rules.clone()
    }
    fn metrics(&self) -> &Metrics {
        self.metrics
    }
    fn readiness(&self) -> Result<(), String> {
        Ok(())
    }
    /// A report has no wall time: the stream clock stands in, so the file is deterministic.
    fn wall_ms(&self) -> Millis {
        let clock = self.engine.view.clock();
        if clock == NEVER {
            0
        } else {
            clock
        }
    }
    fn refresh_ms(&self) -> u64 {
        0
    }
    fn mode(&self) -> &'static str {
        "report"
    }
}

/// The documents the report embeds: the overview at every window, alerts, health.
pub fn report_data(src: &dyn StatusSource) -> Result<Value, ReportError> {
    let settings = &src.engine().settings;
    let mut overview = Map::new();
    for w in &settings.windows {
        let q = Query { window: Some(w.name.clone()), ..Query::default() };
        overview.insert(w.name.clone(), api::segments(src, &q)?);
    }
    let default_window = settings
        .windows
        .iter()
        .find(|w| w.name == api::DEFAULT_WINDOW)
        .or(settings.windows.first())
        .map(|w| w.name.clone());
    Ok(json!({
        "mode": "report",
        "default_window": default_window,
        "overview": overview,
        "alerts": api::alerts(src),
        "health": api::health(src),
    }))
}

/// Writes the report file.
pub fn write_report(path: &Path, src: &dyn StatusSource) -> Result<(), ReportError> {
    let page = super::page::page_with_data(&report_data(src)?);
    std::fs::write(path, page).map_err(|source| ReportError::Write { path: path.display().to_string(), source })
}
