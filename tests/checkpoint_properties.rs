//! Property test: a checkpoint taken at any point and restored into a fresh engine gives the same
//! state: the same effects and the same rendered figures for whatever events follow, as a run
//! that was never interrupted. Checkpoints are taken as the service takes them: a base, deltas on
//! top of it, sometimes a new base, all in small chunks.

use compact_str::CompactString;
use cxpulse::checkpoint::meta::RulesState;
use cxpulse::checkpoint::{restore, Checkpointer, Extras, MemoryStore, RestoreError};
use cxpulse::config::{load, Config};
use cxpulse::detect::RuleEvaluator;
use cxpulse::engine::{Engine, Partition};
use cxpulse::event::{Event, Interaction, Payload, Survey, SurveyResponse};
use proptest::prelude::*;

const BASE: i64 = 1_767_225_600_000; // 2026-01-01T00:00:00Z
const PLANS: [&str; 4] = ["free", "pro", "team", "enterprise"];

fn config() -> Config {
    let env = |k: &str, v: &str| (k.to_string(), v.to_string());
    let mut config = load(
        None,
        &[
            env("CXPULSE_INACTIVITY__INACTIVE_AFTER", "2h"),
            env("CXPULSE_INACTIVITY__CHURN_AFTER", "6h"),
            env("CXPULSE_REENGAGEMENT__COOLDOWN", "3h"),
            env("CXPULSE_SEGMENTS__MAX_VALUES", "3"),
            env("CXPULSE_LIMITS__TICKET_RETENTION", "1d"),
        ],
    )
    .unwrap();
    for rule in config.rules.iter_mut() {
        rule.min_samples = 1;
        rule.window = "24h".into();
    }
    config
}

#[derive(Debug, Clone)]
struct Spec {
    customer: usize,
    offset_ms: i64,
    what: u8,
    value: u32,
    plan: usize,
    event_id: Option<u8>,
}

fn spec() -> impl Strategy<Value = Spec> {
    (0..8usize, 0..4 * 86_400_000i64, 0..10u8, 0..100_000u32, 0..4usize, proptest::option::of(0..20u8)).prop_map(
        |(customer, offset_ms, what, value, plan, event_id)| Spec { customer, offset_ms, what, value, plan, event_id },
    )
}

fn event(s: &Spec) -> Event {
    let ticket = || CompactString::from(format!("t{}", s.value % 3));
    let payload = match s.what {
        0 => Payload::Interaction(Interaction::PageView),
        1 => Payload::Interaction(Interaction::Purchase { amount: f64::from(s.value) / 100.0 }),
        2 => Payload::Interaction(Interaction::Session { duration_seconds: f64::from(s.value) / 7.0 }),
        3 => Payload::Survey(SurveyResponse { survey: Survey::Nps, score: (s.value % 11) as u8 }),
        4 => Payload::Survey(SurveyResponse { survey: Survey::Csat, score: 1 + (s.value % 5) as u8 }),
        5 => Payload::Interaction(Interaction::SupportOpened { ticket_id: ticket() }),
        6 => Payload::Interaction(Interaction::SupportFirstResponse { ticket_id: ticket() }),
        7 => Payload::Interaction(Interaction::SupportResolved { ticket_id: ticket() }),
        8 => Payload::Interaction(Interaction::Cancellation),
        _ => Payload::Survey(SurveyResponse { survey: Survey::Ces, score: 1 + (s.value % 7) as u8 }),
    };
    Event {
        customer_id: format!("c{}", s.customer).into(),
        ts: BASE + s.offset_ms,
        event_id: s.event_id.map(|i| CompactString::from(format!("e{i}"))),
        segments: vec![("plan".into(), PLANS[s.plan].into()), ("region".into(), ["eu", "na"][s.customer % 2].into())],
        payload,
    }
}

/// Effects as JSON lines, and the rendered segment figures at the end.
#[derive(Debug, Default, PartialEq)]
struct Outcome {
    effects: Vec<String>,
    metrics: String,
}

fn run(engine: &Engine, partition: &mut Partition, rules: &mut RuleEvaluator, events: &[Event], out: &mut Outcome) {
    let mut effects = Vec::new();
    for e in events {
        partition.apply(e, &mut effects, rules);
    }
    out.effects.extend(effects.drain(..).map(|e| json(&e)));
    let _ = engine;
}

fn json(effect: &cxpulse::alert::Effect) -> String {
    match effect {
        cxpulse::alert::Effect::Alert(a) => a.to_json().to_string(),
        cxpulse::alert::Effect::Message(m) => m.to_json().to_string(),
    }
}

fn finish(engine: &Engine, partition: &mut Partition, rules: &mut RuleEvaluator, extra_ms: i64, out: &mut Outcome) {
    let mut effects = Vec::new();
    let end = partition.clock().max(BASE) + extra_ms;
    partition.advance_to(end, &mut effects, rules);
    rules.evaluate_all(partition.clock(), &mut effects);
    out.effects.extend(effects.drain(..).map(|e| json(&e)));
    out.metrics = engine.render_segments(rules, partition.clock());
    out.metrics += &format!("tracked {}\n", engine.view.tracked_customers());
}

fn checkpoint(store: &mut MemoryStore, cp: &mut Checkpointer, p: &mut Partition, rules: &RuleEvaluator) {
    let (evaluated_until, firing) = rules.export_state();
    let extras = Extras { rules: Some(RulesState { evaluated_until, primed: false, firing }), ..Extras::default() };
    let plan = cp.plan(p, extras);
    store.write(&plan);
    cp.written(&plan);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    #[test]
    fn restore_changes_nothing(
        specs in proptest::collection::vec(spec(), 1..120),
        cuts in proptest::collection::vec(0.0..1.0f64, 1..5),
        max_deltas in 1..4usize,
        sorted in any::<bool>(),
        extra_hours in 0..30i64,
    ) {
        let mut events: Vec<Event> = specs.iter().map(event).collect();
        if sorted {
            events.sort_by_key(|e| e.ts);
        }
        let config = config();
        let mut cuts: Vec<usize> = cuts.iter().map(|c| (c * events.len() as f64) as usize).collect();
        cuts.sort_unstable();
        let last_cut = *cuts.last().unwrap();

        // (a) uninterrupted.
        let a_engine = Engine::new(&config);
        let mut a_part = a_engine.partition(0);
        let mut a_rules = a_engine.rule_evaluator();
        let mut a = Outcome::default();
        run(&a_engine, &mut a_part, &mut a_rules, &events, &mut a);
        finish(&a_engine, &mut a_part, &mut a_rules, extra_hours * 3_600_000, &mut a);

        // (b) checkpoints at each cut (base, deltas, new bases), then a restore into a fresh engine.
        let b_engine = Engine::new(&config);
        let mut b_part = b_engine.partition(0);
        let mut b_rules = b_engine.rule_evaluator();
        let mut b = Outcome::default();
        let mut store = MemoryStore::default();
        let mut cp = Checkpointer::new(0, 1024, max_deltas);
        let mut done = 0;
        for cut in &cuts {
            run(&b_engine, &mut b_part, &mut b_rules, &events[done..*cut], &mut b);
            done = *cut;
            checkpoint(&mut store, &mut cp, &mut b_part, &b_rules);
        }
        drop(b_part);
        let c_engine = Engine::new(&config);
        let mut c_part = c_engine.partition(0);
        let records = restore::latest(store.records());
        let restored = restore(&records, 0, &mut c_part).unwrap().expect("a checkpoint");
        let mut c_rules = c_engine.rule_evaluator();
        let rules = restored.meta.rules.as_ref().unwrap();
        c_rules.import_state(rules.evaluated_until, &rules.firing);
        run(&c_engine, &mut c_part, &mut c_rules, &events[last_cut..], &mut b);
        finish(&c_engine, &mut c_part, &mut c_rules, extra_hours * 3_600_000, &mut b);

        prop_assert_eq!(&a.effects, &b.effects);
        let diff: Vec<String> = a
            .metrics
            .lines()
            .zip(b.metrics.lines())
            .filter(|(x, y)| x != y)
            .map(|(x, y)| format!("uninterrupted {x}\nrestored      {y}"))
            .collect();
        prop_assert!(diff.is_empty() && a.metrics.len() == b.metrics.len(), "figures differ:\n{}", diff.join("\n"));
    }
}

/// A small state checkpointed in full, as (store records, config).
fn sample_store(config: &Config) -> MemoryStore {
    let engine = Engine::new(config);
    let mut partition = engine.partition(0);
    let mut effects = Vec::new();
    let mut rules = engine.rule_evaluator();
    for i in 0..40u32 {
        let s = Spec {
            customer: (i % 8) as usize,
            offset_ms: i64::from(i) * 600_000,
            what: (i % 10) as u8,
            value: i * 37,
            plan: (i % 4) as usize,
            event_id: Some((i % 20) as u8),
        };
        partition.apply(&event(&s), &mut effects, &mut rules);
    }
    let mut store = MemoryStore::default();
    let mut cp = Checkpointer::new(0, 4096, 10);
    checkpoint(&mut store, &mut cp, &mut partition, &rules);
    store
}

#[test]
fn a_changed_fingerprint_is_refused_naming_what_changed() {
    let store = sample_store(&config());
    let mut other = config();
    other.windows.retain(|w| w.name != "1h");
    other.segments.max_values = 9;
    let engine = Engine::new(&other);
    let mut partition = engine.partition(0);
    let error = restore(&restore::latest(store.records()), 0, &mut partition).unwrap_err().to_string();
    assert!(error.contains("windows: checkpoint has `1h=3600000ms/60000ms"), "{error}");
    assert!(error.contains("segments.max_values: checkpoint has `3`, config has `9`"), "{error}");
    assert!(error.contains("on_incompatible"), "{error}");
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    /// Any damage to any record (cut, flipped byte, garbage) gives an error naming the record and
    /// its offset, or a state that still decodes; never a panic.
    #[test]
    fn damaged_records_are_errors_not_panics(record in 0..64usize, cut in 0.0..1.0f64, flip in any::<(usize, u8)>(), garbage in proptest::collection::vec(any::<u8>(), 0..64)) {
        let config = config();
        let store = sample_store(&config);
        let mut records = store.records();
        let index = record % records.len();
        let key = records[index].key.clone();
        let offset = records[index].offset;
        let value = records[index].value.as_mut().unwrap();
        match flip.1 % 3 {
            0 => value.truncate((cut * value.len() as f64) as usize),
            1 => {
                let at = flip.0 % value.len();
                value[at] ^= flip.1 | 1;
            }
            _ => value.splice(6.min(value.len()).., garbage).for_each(drop),
        }
        let engine = Engine::new(&config);
        let mut partition = engine.partition(0);
        match restore(&restore::latest(records), 0, &mut partition) {
            Err(RestoreError::Corrupt { key: k, offset: o, partition: 0, .. }) => {
                prop_assert_eq!((k, o), (key, offset));
            }
            // A damaged meta may name chunks that do not exist, or another configuration.
            Err(RestoreError::Missing { partition: 0, .. } | RestoreError::Incompatible { partition: 0, .. }) => {}
            Err(other) => prop_assert!(false, "{}", other),
            Ok(_) => {}
        }
    }
}
