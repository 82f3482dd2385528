//! Threshold rules in live mode. Replay evaluates a rule at each bucket boundary of its window as
//! its single clock crosses it. Live, each partition has its own clock and figures merge over all
//! partitions, so a boundary is evaluated once the *slowest* partition has crossed it (a low
//! watermark): a partition that lags behind in processing never makes its segments look empty.
//! The partition whose clock crosses last runs the evaluation from inside its `advance_to`, which
//! with one partition is exactly what replay does, so live and replay alerts have the same ids.

use std::sync::{Arc, Mutex, MutexGuard};

use crate::alert::Effect;
use crate::checkpoint::meta::RulesState as DurableRules;
use crate::cluster::Exchange;
use crate::detect::RuleEvaluator;
use crate::engine::{BoundaryHook, Engine, EngineView, FigureSource};
use crate::event::Millis;
use crate::state::customer::NEVER;
use crate::telemetry::SegmentExposition;

/// The `scope` label of the whole group's figures (SPEC §4).
pub const CLUSTER: &str = "cluster";

fn exposition_source(exchange: Option<&Exchange>, now: Millis) -> Option<crate::cluster::MergedFigures<'_>> {
    exchange.map(|x| x.partials.merged(now))
}

struct RulesState {
    evaluator: RuleEvaluator,
    /// The evaluator's starting point is set at the first boundary any partition reaches.
    primed: bool,
}

/// The shared rule evaluator, and the engine's view of the partitions whose clocks it waits for.
#[derive(Clone)]
pub struct LiveRules {
    state: Arc<Mutex<RulesState>>,
    view: EngineView,
}

impl LiveRules {
    pub fn new(engine: &Engine) -> Self {
        let evaluator = engine.rule_evaluator();
        LiveRules { state: Arc::new(Mutex::new(RulesState { evaluator, primed: false })), view: engine.view.clone() }
    }

    fn lock(&self) -> MutexGuard<'_, RulesState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The smallest clock among the engine's partitions that have one.
    pub fn low_watermark(&self) -> Option<Millis> {
        self.view.low_watermark()
    }

    /// The hook a partition passes to `apply` / `advance_to`.
    pub fn hook(&self) -> RulesHook {
        RulesHook { rules: self.clone() }
    }

    /// Every (rule, segment) evaluated with data so far (the status page).
    pub fn states(&self) -> Vec<crate::detect::rules::RuleState> {
        self.lock().evaluator.states()
    }

    /// The segment gauges at the engine's clock, and with `scope="cluster"` the whole group's at
    /// its clock (this instance's own without an exchange: it is then the only instance), with
    /// the rule states, as Prometheus text.
    pub fn render(&self, engine: &Engine, exchange: Option<&Exchange>, now: Millis) -> String {
        let at = |clock: Millis| if clock == NEVER { 0 } else { clock };
        let local = engine.local_figures();
        let mut exposition = SegmentExposition::default();
        exposition.add(&engine.settings, &local, at(local.clock()), None);
        match exposition_source(exchange, now) {
            Some(merged) => exposition.add(&engine.settings, &merged, at(merged.clock()), Some(CLUSTER)),
            None => exposition.add(&engine.settings, &local, at(local.clock()), Some(CLUSTER)),
        }
        exposition.add_rules(&self.lock().evaluator.states());
        exposition.finish()
    }

    /// The rule state a checkpoint of partition 0 carries.
    pub fn export_state(&self) -> DurableRules {
        let state = self.lock();
        let (evaluated_until, firing) = state.evaluator.export_state();
        DurableRules { evaluated_until, primed: state.primed, firing }
    }

    /// Puts back the rule state restored with partition 0.
    pub fn import_state(&self, rules: &DurableRules) {
        let mut state = self.lock();
        state.evaluator.import_state(rules.evaluated_until, &rules.firing);
        state.primed = rules.primed;
    }

    fn evaluate_up_to_watermark(&self, reached: Millis, effects: &mut Vec<Effect>) {
        let Some(low) = self.low_watermark() else {
            return;
        };
        let mut state = self.lock();
        if !state.primed {
            // `catch_up`'s first call only sets its starting point: start just before the first
            // boundary reached, so that boundary is evaluated as in replay.
            state.evaluator.catch_up(reached - 1, effects);
            state.primed = true;
        }
        state.evaluator.catch_up(low, effects);
    }
}

/// Evaluates every boundary up to the low watermark whenever its partition reaches a boundary.
pub struct RulesHook {
    rules: LiveRules,
}

impl BoundaryHook for RulesHook {
    fn at_boundary(&mut self, at: Millis, effects: &mut Vec<Effect>) {
        self.rules.evaluate_up_to_watermark(at, effects);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;

    #[test]
    fn an_imported_rule_state_replaces_the_one_in_memory() {
        let text = "[[rules]]\nname = \"r\"\nmetric = \"nps_score\"\nwindow = \"7d\"\nbelow = 20.0\n";
        let engine = Engine::new(&crate::config::load_text(Some((text, "rules.toml")), &[]).unwrap());
        let rules = LiveRules::new(&engine);
        let firing = crate::checkpoint::meta::RuleFiring {
            rule: "r".into(),
            dimension: "all".into(),
            segment: "all".into(),
            firing: true,
        };
        let state = |firing: Vec<_>| DurableRules { evaluated_until: Some(1_000), primed: true, firing };
        rules.import_state(&state(vec![firing]));
        assert_eq!(rules.export_state().firing.len(), 1);
        rules.import_state(&state(Vec::new()));
        assert_eq!(rules.export_state().firing, Vec::new(), "a state evaluated after the checkpoint is forgotten");
    }

    #[test]
    fn watermark_ignores_partitions_without_events() {
        let engine = Engine::new(&Config::builtin().unwrap());
        let rules = LiveRules::new(&engine);
        let a = engine.partition(0);
        let _b = engine.partition(1);
        assert_eq!(rules.low_watermark(), None);
        let mut effects = Vec::new();
        let mut a = a;
        a.advance_to(5_000, &mut effects, &mut rules.hook());
        assert_eq!(rules.low_watermark(), Some(5_000));
        engine.view.unregister(0);
        assert_eq!(rules.low_watermark(), None);
    }
}
