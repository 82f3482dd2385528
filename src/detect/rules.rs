//! Segment threshold rules (SPEC §5): evaluated at each bucket boundary of the rule's window and at
//! the end of a replay; each (rule, segment) fires once when its condition starts holding and
//! resolves once when the value crosses `clear`. Too few samples is "no data": no change.
//!
//! With `confidence` the rule judges a bound of the value's interval instead of the value: the
//! lower bound for `above`, the upper bound for `below`, both for firing and for resolving. An
//! interval always contains its value (`window::interval`), so such a rule fires only where the
//! plain rule with the same threshold holds too; no interval (too thin data) is no data.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde_json::{Map, Number, Value};

use super::boundaries::{BoundaryBook, BoundarySnapshot};
use crate::alert::{Alert, AlertKind, Effect};
use crate::checkpoint::meta::RuleFiring;
use crate::engine::context::PartitionContext;
use crate::engine::partition::BoundaryHook;
use crate::engine::settings::{Rule, Settings};
use crate::engine::view::{EngineView, LocalFigures, RuleFigures};
use crate::event::Millis;
use crate::state::SegmentCatalog;
use crate::window::WindowFigures;
use compact_str::CompactString;

/// Firing state of one (rule, segment) pair, exported as `cxpulse_rule_firing`.
#[derive(Debug, Clone, PartialEq)]
pub struct RuleState {
    pub rule: String,
    pub dimension: String,
    pub segment: String,
    pub firing: bool,
}

pub struct RuleEvaluator {
    settings: Arc<Settings>,
    catalog: Arc<SegmentCatalog>,
    view: EngineView,
    /// (rule index, dimension, segment label) → firing. By name, so the same evaluator can judge
    /// this process's figures or the whole group's (`cluster`).
    states: BTreeMap<(usize, String, CompactString), bool>,
    /// Boundaries up to here have been evaluated (live mode, see `catch_up`).
    evaluated_until: Option<Millis>,
}

impl RuleEvaluator {
    pub fn new(settings: Arc<Settings>, catalog: Arc<SegmentCatalog>, view: EngineView) -> Self {
        RuleEvaluator { settings, catalog, view, states: BTreeMap::new(), evaluated_until: None }
    }

    /// Evaluates every rule at clock `at` (end of replay).
    pub fn evaluate_all(&mut self, at: Millis, effects: &mut Vec<Effect>) {
        let (catalog, view) = (Arc::clone(&self.catalog), self.view.clone());
        self.evaluate(&LocalFigures { catalog: &catalog, view: &view }, at, |_| true, effects);
    }

    /// Live mode: evaluates every boundary recorded in `book` after the last one evaluated and up
    /// to `watermark` (every partition has passed it), in time order. Each boundary is judged on
    /// the partitions' snapshots of it (`detect::boundaries`), as replay judges its single
    /// partition's. They stay in the book until a checkpoint covers them (`live_rules`): a
    /// restored rule state starts from before them.
    pub fn catch_up(&mut self, book: &mut BoundaryBook, watermark: Millis, effects: &mut Vec<Effect>) {
        let mut after = self.evaluated_until;
        if let Some(dropped) = book.dropped_through().filter(|d| after.is_none_or(|a| a < *d)) {
            tracing::warn!(
                through = dropped,
                "rule boundaries were dropped before all partitions reached them (the evaluator was too far behind); they are skipped"
            );
            after = Some(dropped);
        }
        let settings = Arc::clone(&self.settings);
        for at in book.boundaries(after, watermark) {
            self.evaluate(&book.at(at), at, |r| at.rem_euclid(settings.windows[r.window].bucket_ms) == 0, effects);
        }
        self.evaluated_until = Some(after.map_or(watermark, |a| a.max(watermark)));
    }

    fn evaluate<S: RuleFigures>(
        &mut self,
        source: &S,
        at: Millis,
        due: impl Fn(&Rule) -> bool,
        effects: &mut Vec<Effect>,
    ) {
        let settings = Arc::clone(&self.settings);
        let segments = source.segments();
        for (index, rule) in settings.rules.iter().enumerate() {
            if !due(rule) {
                continue;
            }
            for (segment, dimension, label) in &segments {
                let wanted_dimension = rule.dimension.as_deref().is_none_or(|d| d == dimension);
                let wanted_segment = rule.segment.as_deref().is_none_or(|s| s == label.as_str());
                if wanted_dimension && wanted_segment {
                    let figures = source.figures(segment, rule.window, at, Some(rule.metric));
                    self.evaluate_one(index, rule, &figures, (dimension, label), at, effects);
                }
            }
        }
    }

    fn evaluate_one(
        &mut self,
        index: usize,
        rule: &Rule,
        figures: &WindowFigures,
        (dimension, label): (&String, &CompactString),
        at: Millis,
        effects: &mut Vec<Effect>,
    ) {
        let Some(reading) = figures.read(rule.metric, rule.label.as_deref()) else { return };
        if reading.samples < rule.min_samples {
            return;
        }
        let key = (index, dimension.clone(), label.clone());
        let firing = self.states.get(&key).copied().unwrap_or(false);
        let bound = match rule.confidence {
            None => None,
            Some(c) => {
                let Some(interval) = figures.interval(rule.metric, rule.label.as_deref(), c.z) else { return };
                Some(if rule.above { interval.lower.min(reading.value) } else { interval.upper.max(reading.value) })
            }
        };
        let v = bound.unwrap_or(reading.value);
        let next = if firing {
            // Resolve only once the value has crossed back past `clear`.
            !(if rule.above { v < rule.clear } else { v > rule.clear })
        } else if rule.above {
            v > rule.threshold
        } else {
            v < rule.threshold
        };
        self.states.insert(key, next);
        if next != firing {
            let judged = Judged { value: reading.value, bound, firing: next };
            effects.push(Effect::Alert(threshold_alert(rule, dimension, label, judged, at, &self.settings)));
        }
    }

    /// Every (rule, segment) evaluated with data so far.
    pub fn states(&self) -> Vec<RuleState> {
        self.states
            .iter()
            .map(|((rule, dimension, label), firing)| RuleState {
                rule: self.settings.rules[*rule].name.clone(),
                dimension: dimension.clone(),
                segment: label.to_string(),
                firing: *firing,
            })
            .collect()
    }
}

/// What one evaluation decided: the value, the bound judged (with `confidence`), the new state.
struct Judged {
    value: f64,
    bound: Option<f64>,
    firing: bool,
}

fn threshold_alert(rule: &Rule, dimension: &str, segment: &str, j: Judged, at: Millis, settings: &Settings) -> Alert {
    let state = if j.firing { "firing" } else { "resolved" };
    let number = |v: f64| Number::from_f64(v).map_or(Value::Null, Value::Number);
    let mut f = Map::new();
    f.insert("rule".into(), Value::String(rule.name.clone()));
    f.insert("metric".into(), Value::String(rule.metric.name().into()));
    f.insert("dimension".into(), Value::String(dimension.into()));
    f.insert("segment".into(), Value::String(segment.into()));
    f.insert("window".into(), Value::String(settings.windows[rule.window].name.clone()));
    f.insert("value".into(), number(j.value));
    f.insert("threshold".into(), number(rule.threshold));
    f.insert("state".into(), Value::String(state.into()));
    if let (Some(c), Some(bound)) = (rule.confidence, j.bound) {
        f.insert("confidence".into(), number(c.level));
        f.insert("bound".into(), number(bound));
    }
    Alert::new(AlertKind::SegmentThreshold, at, format!("{dimension}/{segment}"), &[&rule.name, state], f)
}

impl RuleEvaluator {
    /// Boundaries up to here have been evaluated (live mode).
    pub fn evaluated_until(&self) -> Option<Millis> {
        self.evaluated_until
    }

    /// The evaluator's durable state: where it stands and what fires, by names.
    pub fn export_state(&self) -> (Option<Millis>, Vec<RuleFiring>) {
        let firing = self
            .states()
            .into_iter()
            .map(|s| RuleFiring { rule: s.rule, dimension: s.dimension, segment: s.segment, firing: s.firing })
            .collect();
        (self.evaluated_until, firing)
    }

    /// Puts back a checkpointed state, replacing what is in memory (a state evaluated after the
    /// checkpoint, e.g. before a lost partition was restored in the same process, must not
    /// survive: its alert would not be raised again). Rules are matched by name: a rule renamed or
    /// removed since is dropped, a new one starts with nothing firing.
    pub fn import_state(&mut self, evaluated_until: Option<Millis>, firing: &[RuleFiring]) {
        self.evaluated_until = evaluated_until;
        self.states.clear();
        for f in firing {
            if let Some(rule) = self.settings.rules.iter().position(|r| r.name == f.rule) {
                self.states.insert((rule, f.dimension.clone(), f.segment.as_str().into()), f.firing);
            }
        }
    }
}

/// Replay: one partition, so its snapshot at a boundary is the whole figure.
impl BoundaryHook for RuleEvaluator {
    fn at_boundary(&mut self, at: Millis, partition: &PartitionContext, effects: &mut Vec<Effect>) {
        let settings = Arc::clone(&self.settings);
        let snapshot = BoundarySnapshot::take(partition, at);
        self.evaluate(&snapshot, at, |r| at.rem_euclid(settings.windows[r.window].bucket_ms) == 0, effects);
    }
}
