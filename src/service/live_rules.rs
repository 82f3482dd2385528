//! Threshold rules in live mode, on the same boundary snapshots replay judges
//! (`detect::boundaries`): each partition snapshots its rule windows as its clock reaches a
//! boundary, and a boundary is evaluated once every partition has passed it.
//!
//! - **One instance** (`cluster.enabled = false`, or the embedded demo): the snapshots go into a
//!   book in this process; whichever partition task reaches a boundary or ticks evaluates up to
//!   the low watermark of the partition clocks. A partition's clock moves past a boundary only
//!   after its snapshot is in the book (`BoundaryHook`), so the watermark never gets ahead of it.
//! - **A cluster**: each partition task publishes its snapshots with its partials
//!   (`cluster::publisher`), every instance's reader keeps them in its book, and the owner of
//!   input partition 0 alone evaluates, on its tick, up to the lowest clock any partition
//!   published. The rule state travels in partition 0's checkpoint and its alerts in partition 0's
//!   effects, so the duty moves with that partition and a restore suppresses the alerts its
//!   previous owner already published (`checkpoint`): each threshold alert is raised once per
//!   group.

use std::sync::{Arc, Mutex, MutexGuard};

use crate::alert::Effect;
use crate::checkpoint::meta::RulesState as DurableRules;
use crate::cluster::Exchange;
use crate::detect::boundaries::{BoundaryBook, BoundarySnapshot};
use crate::detect::RuleEvaluator;
use crate::engine::context::PartitionContext;
use crate::engine::{BoundaryHook, Engine, EngineView, FigureSource};
use crate::event::Millis;
use crate::state::customer::NEVER;
use crate::telemetry::SegmentExposition;

/// The `scope` label of the whole group's figures (SPEC §4).
pub const CLUSTER: &str = "cluster";

/// The input partition whose owner evaluates the group's rules.
pub const RULES_PARTITION: i32 = 0;

struct RulesState {
    evaluator: RuleEvaluator,
    /// This process's partitions' snapshots (one instance; a cluster's are in the exchange).
    book: BoundaryBook,
    /// Boundaries up to here are evaluated in the rule state a restore would bring back (the
    /// last checkpoint of partition 0), so no evaluator needs their snapshots again.
    released: Millis,
}

/// The rule evaluator, and the engine's view of the partitions whose clocks it waits for.
#[derive(Clone)]
pub struct LiveRules {
    state: Arc<Mutex<RulesState>>,
    view: EngineView,
    /// Rules run on the group's figures through the partials exchange.
    exchange: Option<Arc<Exchange>>,
}

impl LiveRules {
    pub fn new(engine: &Engine, exchange: Option<Arc<Exchange>>) -> Self {
        let state = RulesState { evaluator: engine.rule_evaluator(), book: BoundaryBook::default(), released: NEVER };
        LiveRules { state: Arc::new(Mutex::new(state)), view: engine.view.clone(), exchange }
    }

    fn lock(&self) -> MutexGuard<'_, RulesState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The hook partition `partition`'s task passes to `apply` / `advance_to`.
    pub fn hook(&self, partition: i32) -> RulesHook {
        RulesHook { rules: self.clone(), partition, unpublished: Vec::new() }
    }

    /// Every (rule, segment) evaluated with data so far (the status page). In a cluster, only
    /// the instance that evaluates (the owner of partition 0) has any.
    pub fn states(&self) -> Vec<crate::detect::rules::RuleState> {
        self.lock().evaluator.states()
    }

    /// The segment gauges at the engine's clock, and with `scope="cluster"` the whole group's at
    /// its clock (this instance's own without an exchange: it is then the only instance), with
    /// the rule states, as Prometheus text.
    pub fn render(&self, engine: &Engine, now: Millis) -> String {
        let at = |clock: Millis| if clock == NEVER { 0 } else { clock };
        let local = engine.local_figures();
        let mut exposition = SegmentExposition::default();
        exposition.add(&engine.settings, &local, at(local.clock()), None);
        match &self.exchange {
            Some(exchange) => {
                let merged = exchange.partials.merged(now);
                exposition.add(&engine.settings, &merged, at(merged.clock()), Some(CLUSTER));
            }
            None => exposition.add(&engine.settings, &local, at(local.clock()), Some(CLUSTER)),
        }
        exposition.add_rules(&self.lock().evaluator.states());
        exposition.finish()
    }

    /// The rule state a checkpoint of partition 0 carries.
    pub fn export_state(&self) -> DurableRules {
        let (evaluated_until, firing) = self.lock().evaluator.export_state();
        DurableRules { evaluated_until, primed: evaluated_until.is_some(), firing }
    }

    /// Puts back the rule state restored with partition 0.
    pub fn import_state(&self, rules: &DurableRules) {
        self.lock().evaluator.import_state(rules.evaluated_until, &rules.firing);
    }

    /// Partition 0's rule state up to `through` is durable (a checkpoint holding it was stored, or
    /// there are no checkpoints and it is the evaluator's own progress): snapshots up to there are
    /// dropped here, and in a cluster every reader drops them when partition 0's next marker says
    /// so (`released`).
    pub fn release(&self, through: Option<Millis>) {
        let state = &mut *self.lock();
        if let Some(through) = through.filter(|t| *t > state.released) {
            state.released = through;
            state.book.forget_through(through);
        }
    }

    /// Boundaries up to here have been evaluated.
    pub fn evaluated_until(&self) -> Option<Millis> {
        self.lock().evaluator.evaluated_until()
    }

    /// What partition `partition`'s next partials marker says is released (`NEVER`: nothing;
    /// only partition 0 carries the rules).
    pub fn released(&self, partition: i32) -> Millis {
        if partition == RULES_PARTITION {
            self.lock().released
        } else {
            NEVER
        }
    }

    /// A partition left this process: its snapshots no longer count here.
    pub fn forget_partition(&self, partition: i32) {
        self.lock().book.forget_partition(partition);
    }

    /// Evaluates what has become due: on one instance every boundary all of this process's
    /// partitions have passed; in a cluster, on the owner of partition 0 only, every boundary all
    /// of the group's partitions have published.
    /// Returns whether the evaluator moved on (its state is then due in a checkpoint).
    fn evaluate(&self, partition: i32, effects: &mut Vec<Effect>) -> bool {
        let state = &mut *self.lock();
        let before = state.evaluator.evaluated_until();
        match &self.exchange {
            None => {
                if let Some(watermark) = self.view.low_watermark() {
                    state.evaluator.catch_up(&mut state.book, watermark, effects);
                }
            }
            Some(exchange) if partition == RULES_PARTITION => {
                exchange.partials.with_boundaries(|book, watermark| state.evaluator.catch_up(book, watermark, effects));
            }
            Some(_) => {}
        }
        state.evaluator.evaluated_until() != before
    }
}

/// One partition task's side of the rules: takes its snapshots and evaluates what came due.
pub struct RulesHook {
    rules: LiveRules,
    partition: i32,
    /// Snapshots waiting for the next partials publish (cluster).
    unpublished: Vec<BoundarySnapshot>,
}

impl RulesHook {
    /// Snapshots wait for the partials publish (cluster).
    pub fn has_unpublished(&self) -> bool {
        !self.unpublished.is_empty()
    }

    /// The snapshots taken since the last call, for the partials publish.
    pub fn take_unpublished(&mut self) -> Vec<BoundarySnapshot> {
        std::mem::take(&mut self.unpublished)
    }

    /// The task's tick: evaluates boundaries that became due without this partition reaching one.
    /// `true` when the rule state moved on.
    pub fn on_tick(&mut self, effects: &mut Vec<Effect>) -> bool {
        self.rules.evaluate(self.partition, effects)
    }
}

impl BoundaryHook for RulesHook {
    fn at_boundary(&mut self, at: Millis, partition: &PartitionContext, effects: &mut Vec<Effect>) {
        let snapshot = BoundarySnapshot::take(partition, at);
        if self.rules.exchange.is_some() {
            self.unpublished.push(snapshot);
            return;
        }
        self.rules.lock().book.record_snapshot(self.partition, snapshot);
        self.rules.evaluate(self.partition, effects);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_imported_rule_state_replaces_the_one_in_memory() {
        let text = "[[rules]]\nname = \"r\"\nmetric = \"nps_score\"\nwindow = \"7d\"\nbelow = 20.0\n";
        let engine = Engine::new(&crate::config::load_text(Some((text, "rules.toml")), &[]).unwrap());
        let rules = LiveRules::new(&engine, None);
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

    /// A partition far ahead has long reused the ring slots of the first boundary when the slow
    /// one reaches it; the boundary is still judged on both partitions as they stood there.
    #[test]
    fn a_boundary_is_judged_on_every_partition_as_it_stood_there() {
        let text = "[[rules]]\nname = \"two-active\"\nmetric = \"active_customers\"\nwindow = \"24h\"\nabove = 1.5\n";
        let engine = Engine::new(&crate::config::load_text(Some((text, "rules.toml")), &[]).unwrap());
        let settings = &engine.settings;
        let decoder = crate::event::Decoder::new(settings.max_event_bytes, settings.dimensions.clone(), u64::MAX / 4);
        let event = |customer: &str, ts: i64| {
            let line = format!(r#"{{"type":"interaction","kind":"login","customer_id":"{customer}","ts":{ts}}}"#);
            decoder.decode(line.as_bytes(), None).unwrap()
        };
        let rules = LiveRules::new(&engine, None);
        let (mut slow, mut fast) = (engine.partition(0), engine.partition(1));
        let (mut slow_hook, mut fast_hook) = (rules.hook(0), rules.hook(1));
        let t0 = 1_767_225_600_000 + 600_000;
        let mut effects = Vec::new();
        fast.apply(&event("b", t0), &mut effects, &mut fast_hook);
        slow.apply(&event("a", t0), &mut effects, &mut slow_hook);
        fast.apply(&event("b", t0 + 30 * 86_400_000), &mut effects, &mut fast_hook);
        let threshold = |effects: &[Effect]| {
            effects.iter().any(|e| matches!(e, Effect::Alert(a) if a.kind == crate::alert::AlertKind::SegmentThreshold))
        };
        assert!(!threshold(&effects), "nothing is judged before the slow partition passes a boundary");
        slow.advance_to(t0 + 2 * 3_600_000, &mut effects, &mut slow_hook);
        slow_hook.on_tick(&mut effects);
        let alerts: Vec<_> = effects
            .iter()
            .filter_map(|e| match e {
                Effect::Alert(a) if a.kind == crate::alert::AlertKind::SegmentThreshold => Some(a),
                _ => None,
            })
            .collect();
        assert_eq!(alerts.len(), 1, "{alerts:?}");
        assert_eq!(alerts[0].fields["value"], 2.0, "both partitions' customers count at the first boundary");
        assert_eq!(alerts[0].at, 1_767_225_600_000 + 3_600_000);
    }
}
