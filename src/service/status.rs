//! The service's side of the status page: its live engine, rules, metrics, readiness and
//! injected wall clock, seen as a [`StatusSource`].

use std::sync::Arc;

use super::live_rules::LiveRules;
use super::readiness::Readiness;
use crate::config::Config;
use crate::detect::rules::RuleState;
use crate::engine::clock::WallClock;
use crate::engine::Engine;
use crate::event::Millis;
use crate::telemetry::status::{RecentAlerts, StatusSource};
use crate::telemetry::Metrics;

pub struct LiveStatus {
    pub engine: Arc<Engine>,
    pub rules: LiveRules,
    pub metrics: Arc<Metrics>,
    pub readiness: Arc<Readiness>,
    pub clock: Arc<dyn WallClock>,
    pub refresh_ms: u64,
}

impl LiveStatus {
    /// Starts recording recent alerts into `metrics` and returns the source.
    pub fn new(
        config: &Config,
        engine: &Arc<Engine>,
        rules: &LiveRules,
        metrics: &Arc<Metrics>,
        readiness: &Arc<Readiness>,
        clock: &Arc<dyn WallClock>,
    ) -> Self {
        metrics.keep_recent_alerts(Arc::new(RecentAlerts::new(&config.status)));
        LiveStatus {
            engine: Arc::clone(engine),
            rules: rules.clone(),
            metrics: Arc::clone(metrics),
            readiness: Arc::clone(readiness),
            clock: Arc::clone(clock),
            refresh_ms: config.status.refresh.0,
        }
    }
}

impl StatusSource for LiveStatus {
    fn engine(&self) -> &Engine {
        &self.engine
    }
    fn rule_states(&self) -> Vec<RuleState> {
        self.rules.states()
    }
    fn metrics(&self) -> &Metrics {
        &self.metrics
    }
    fn readiness(&self) -> Result<(), String> {
        self.readiness.check()
    }
    fn wall_ms(&self) -> Millis {
        self.clock.now_ms()
    }
    fn refresh_ms(&self) -> u64 {
        self.refresh_ms
    }
    fn mode(&self) -> &'static str {
        "live"
    }
}
