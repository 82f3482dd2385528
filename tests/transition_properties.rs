//! Property test: the engine's incremental transition figures (churn ratio, retention ratio,
//! churned customers, active customers, reactivation ratio per inactive transition, customers by
//! state, lifetime revenue average) equal a naive model that replays each customer's history by
//! brute force — including plan changes, cancellations, returns and purchases.

use std::collections::BTreeMap;

use cxpulse::config;
use cxpulse::engine::{Engine, NoBoundaries};
use cxpulse::event::{Event, Interaction, Payload};
use cxpulse::state::holdout::is_holdout;
use cxpulse::window::SegmentMetric;
use proptest::prelude::*;

const DAY: i64 = 86_400_000;
const INACTIVE: i64 = 2 * DAY;
const CHURN: i64 = 5 * DAY;
const CONFIG: &str = "[segments]\ndimensions = [\"plan\"]\n[inactivity]\ninactive_after = \"2d\"\nchurn_after = \"5d\"\n[reengagement]\nholdout_percent = 50\n";
const PLANS: [&str; 2] = ["free", "pro"];

#[derive(Debug, Clone)]
struct Step {
    customer: usize,
    gap_ms: i64,
    what: u8,
    plan: Option<usize>,
    cents: u32,
}

fn step() -> impl Strategy<Value = Step> {
    let gap = prop_oneof![4 => 1..6 * 3_600_000i64, 1 => DAY..8 * DAY];
    (0..5usize, gap, 0..10u8, prop::option::weighted(0.2, 0..2usize), 0..100_000u32)
        .prop_map(|(customer, gap_ms, what, plan, cents)| Step { customer, gap_ms, what, plan, cents })
}

#[derive(Clone, Copy, PartialEq, Debug)]
enum State {
    Active,
    Inactive,
    Churned,
}

/// One customer in the naive model: its whole history is kept.
struct Naive {
    id: String,
    last_activity: Option<i64>,
    state: State,
    plan: Option<usize>,
    live_changes: Vec<(i64, i64)>,
    /// Index into `Model::inactives` of the latest inactive transition not yet followed.
    pending: Option<usize>,
    holdout: bool,
    first_seen: i64,
    lifetime_revenue: f64,
}

/// One inactive transition: time, plan at that time, group, followed by a reactivation yet.
struct Inactive {
    at: i64,
    plan: Option<usize>,
    holdout: bool,
    reactivated: bool,
}

#[derive(Default)]
struct Model {
    customers: Vec<Naive>,
    /// (time, plan at the time) of every churn transition.
    churns: Vec<(i64, Option<usize>)>,
    inactives: Vec<Inactive>,
}

impl Model {
    fn deadline(c: &Naive) -> Option<i64> {
        match c.state {
            State::Active => c.last_activity.map(|t| t + INACTIVE),
            State::Inactive => c.last_activity.map(|t| t + CHURN),
            State::Churned => None,
        }
    }

    /// Every transition due at or before `until`, earliest first, ties by customer id.
    fn run_due(&mut self, until: i64) {
        loop {
            let next = self
                .customers
                .iter()
                .enumerate()
                .filter_map(|(i, c)| Self::deadline(c).filter(|d| *d <= until).map(|d| (d, c.id.clone(), i)))
                .min();
            let Some((at, _, i)) = next else { return };
            let c = &mut self.customers[i];
            if c.state == State::Active {
                c.state = State::Inactive;
                c.pending = Some(self.inactives.len());
                self.inactives.push(Inactive { at, plan: c.plan, holdout: c.holdout, reactivated: false });
            } else {
                c.state = State::Churned;
                c.live_changes.push((at, -1));
                self.churns.push((at, c.plan));
            }
        }
    }

    fn apply(&mut self, id: &str, ts: i64, what: u8, plan: Option<usize>, amount: f64) {
        self.run_due(ts);
        let i = match self.customers.iter().position(|c| c.id == id) {
            Some(i) => i,
            None => {
                self.customers.push(Naive {
                    id: id.to_string(),
                    last_activity: None,
                    state: State::Active,
                    plan: None,
                    live_changes: vec![(ts, 1)],
                    pending: None,
                    holdout: is_holdout("cxpulse", id, 50.0),
                    first_seen: ts,
                    lifetime_revenue: 0.0,
                });
                self.customers.len() - 1
            }
        };
        let c = &mut self.customers[i];
        if plan.is_some() {
            c.plan = plan;
        }
        match kind(what) {
            Kind::Activity => {
                if c.state != State::Active {
                    if c.state == State::Churned {
                        c.live_changes.push((ts, 1));
                    }
                    if let Some(i) = c.pending.take() {
                        self.inactives[i].reactivated = true;
                    }
                    c.state = State::Active;
                }
                if what == 2 {
                    c.lifetime_revenue += amount;
                }
                c.last_activity = Some(c.last_activity.map_or(ts, |t| t.max(ts)));
            }
            Kind::Cancel if c.state != State::Churned => {
                c.state = State::Churned;
                c.live_changes.push((ts, -1));
                self.churns.push((ts, c.plan));
            }
            Kind::Cancel | Kind::Agent => {}
        }
    }
}

enum Kind {
    Activity,
    Cancel,
    Agent,
}

fn kind(what: u8) -> Kind {
    match what {
        0 => Kind::Cancel,
        1 => Kind::Agent,
        _ => Kind::Activity,
    }
}

fn event(id: &str, ts: i64, what: u8, plan: Option<usize>, amount: f64) -> Event {
    let interaction = match kind(what) {
        Kind::Activity if what == 2 => Interaction::Purchase { amount },
        Kind::Activity => Interaction::Login,
        Kind::Cancel => Interaction::Cancellation,
        Kind::Agent => Interaction::SupportFirstResponse { ticket_id: "t".into() },
    };
    Event {
        customer_id: id.into(),
        ts,
        event_id: None,
        segments: plan.map(|p| ("plan".into(), PLANS[p].into())).into_iter().collect(),
        payload: Payload::Interaction(interaction),
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn transition_figures_equal_a_naive_model(steps in prop::collection::vec(step(), 1..80)) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.toml");
        std::fs::write(&path, CONFIG).unwrap();
        let config = config::load(Some(&path), &[]).unwrap();
        let engine = Engine::new(&config);
        let mut partition = engine.partition(0);
        let mut model = Model::default();
        let mut effects = Vec::new();
        let mut ts = 1_767_225_600_000i64;
        for s in &steps {
            ts += s.gap_ms;
            let id = format!("c{}", s.customer);
            let amount = f64::from(s.cents) / 100.0;
            partition.apply(&event(&id, ts, s.what, s.plan, amount), &mut effects, &mut NoBoundaries);
            model.apply(&id, ts, s.what, s.plan, amount);
        }
        let clock = partition.clock();
        let mut segments: BTreeMap<String, Option<usize>> = BTreeMap::new();
        for (id, dimension, label) in engine.catalog.all_segments() {
            segments.insert(format!("{id}/{dimension}/{label}"), PLANS.iter().position(|p| dimension == "plan" && label == *p));
        }
        for (key, plan) in &segments {
            let id: u32 = key.split('/').next().unwrap().parse().unwrap();
            let member = |p: Option<usize>| plan.is_none() || p == *plan;
            let members: Vec<&Naive> = model.customers.iter().filter(|c| member(c.plan)).collect();
            let by_state = engine.view.by_state(id);
            for (n, state) in [State::Active, State::Inactive, State::Churned].into_iter().enumerate() {
                prop_assert_eq!(by_state[n], members.iter().filter(|c| c.state == state).count() as i64, "{} {:?}", key, state);
            }
            let (lifetime, count) = engine.view.lifetime_revenue(id);
            prop_assert_eq!(count, members.len() as i64, "{}", key);
            let naive_lifetime: f64 = members.iter().map(|c| c.lifetime_revenue).sum();
            prop_assert!((lifetime - naive_lifetime).abs() <= 1e-6 * naive_lifetime.max(1.0), "{key}: lifetime revenue {lifetime} vs {naive_lifetime}");
            for (w, window) in engine.settings.windows.iter().enumerate() {
                let k_now = clock.div_euclid(window.bucket_ms);
                let n = window.size_ms / window.bucket_ms;
                let inside = |t: i64| t.div_euclid(window.bucket_ms) > k_now - n;
                let start = (k_now - n + 1) * window.bucket_ms;
                let f = engine.view.figures(id, w, clock);
                let read = |m: SegmentMetric, l: Option<&str>| f.read(m, l).map(|r| r.value);
                let churned = model.churns.iter().filter(|(t, p)| inside(*t) && member(*p)).count() as i64;
                let live: i64 = members.iter().map(|c| c.live_changes.iter().filter(|(t, _)| *t < start).map(|(_, d)| d).sum::<i64>()).sum();
                let ctx = format!("{key} window {}", window.name);
                // Retained: live now, first seen before S, and its live changes in [S, C] sum to 0.
                let kept = members
                    .iter()
                    .filter(|c| c.state != State::Churned && c.first_seen < start)
                    .filter(|c| c.live_changes.iter().filter(|(t, _)| *t >= start).map(|(_, d)| d).sum::<i64>() == 0)
                    .count() as i64;
                prop_assert_eq!(read(SegmentMetric::RetentionRatio, None), (live > 0).then(|| kept as f64 / live as f64), "{} retention", ctx);
                prop_assert_eq!(read(SegmentMetric::ChurnedCustomers, None), Some(churned as f64), "{}", ctx);
                prop_assert_eq!(read(SegmentMetric::ChurnRatio, None), (live > 0).then(|| churned as f64 / live as f64), "{}", ctx);
                let active = members.iter().filter(|c| c.last_activity.is_some_and(inside)).count();
                prop_assert_eq!(read(SegmentMetric::ActiveCustomers, None), Some(active as f64), "{}", ctx);
                for (group, holdout) in [("treatment", false), ("holdout", true)] {
                    // Each inactive transition in the window, in the plan of its moment.
                    let cohort: Vec<_> = model.inactives.iter().filter(|i| i.holdout == holdout && inside(i.at) && member(i.plan)).collect();
                    let back = cohort.iter().filter(|c| c.reactivated).count();
                    let expected = (!cohort.is_empty()).then(|| back as f64 / cohort.len() as f64);
                    prop_assert_eq!(read(SegmentMetric::ReactivationRatio, Some(group)), expected, "{} {}", ctx, group);
                }
            }
        }
    }
}
