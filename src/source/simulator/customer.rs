//! One customer's state machine: its profile, its queue of planned events and the stepping that
//! keeps the next event on top of that queue. Lifecycle phases, visits and line rendering are in
//! the sibling modules `lifecycle`, `visit` and `line`.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::lifecycle::Phase;
use super::planned::{Planned, What};
use super::profile::{lognormal, normal, Plan, Region, PLAN_CHANGE_P};
use super::SimulationOptions;

/// One customer's state machine. Its events come out in time order: visits are expanded into
/// `pending` as soon as they are due, so the top of `pending` is always the next event.
pub(super) struct Customer {
    pub(super) id: String,
    pub(super) rng: ChaCha8Rng,
    pub(super) end_ms: i64,
    pub(super) plan: Plan,
    pub(super) region: Region,
    pub(super) visits_per_day: f64,
    /// 0 (miserable) to 1 (delighted): drives survey scores, phase lengths and cancellations.
    pub(super) satisfaction: f64,
    pub(super) phase: Phase,
    pub(super) next_visit: Option<i64>,
    pub(super) pending: BinaryHeap<Reverse<Planned>>,
    pub(super) seq: u64,
    pub(super) events: u64,
    pub(super) tickets: u64,
    pub(super) segments_sent: bool,
    pub(super) force_segments: bool,
    pub(super) plan_change: Option<(i64, Plan)>,
    /// A support ticket was resolved at this time; the next visit after it may answer CSAT/CES.
    pub(super) survey_after: Option<i64>,
}

impl Customer {
    /// Draws the customer's profile and its first visit: at sign-up for new customers, or at a
    /// random moment after day 0 for those who already existed.
    pub(super) fn new(opts: &SimulationOptions, end_ms: i64, idx: u64, join: i64) -> Self {
        let mut rng = ChaCha8Rng::seed_from_u64(opts.seed);
        rng.set_stream(idx);
        let plan = Plan::draw(&mut rng);
        let region = Region::draw(&mut rng);
        let visits_per_day = lognormal(&mut rng, 0.4, 0.9).clamp(0.03, 20.0);
        let satisfaction = (0.7 + 0.18 * normal(&mut rng)).clamp(0.02, 1.0);
        let plan_change = rng.gen_bool(PLAN_CHANGE_P).then(|| {
            let at = join + ((end_ms - join) as f64 * rng.gen_range(0.1..0.9)) as i64;
            (at, plan.changed(rng.gen_bool(0.65)))
        });
        let mut customer = Customer {
            id: format!("c-{idx:06}"),
            rng,
            end_ms,
            plan,
            region,
            visits_per_day,
            satisfaction,
            phase: Phase::Gone,
            next_visit: None,
            pending: BinaryHeap::new(),
            seq: 0,
            events: 0,
            tickets: 0,
            segments_sent: false,
            force_segments: false,
            plan_change,
            survey_after: None,
        };
        customer.phase = Phase::Active { until: join + customer.active_phase_ms() };
        customer.next_visit = if join == opts.start_ms { customer.draw_next_visit(join) } else { Some(join) };
        customer.settle();
        customer
    }

    /// Time of the customer's next event, if any.
    pub(super) fn peek_ts(&self) -> Option<i64> {
        self.pending.peek().map(|Reverse(p)| p.ts)
    }

    /// Emits the customer's next event as `(ts, JSON line)`.
    pub(super) fn next_event(&mut self) -> Option<(i64, String)> {
        let Reverse(planned) = self.pending.pop()?;
        let line = match planned.what {
            What::Raw(line) => line,
            what => self.render(planned.ts, &what),
        };
        self.settle();
        Some((planned.ts, line))
    }

    /// Expands every visit that is due no later than the earliest pending event, so that the top
    /// of `pending` is the true next event (a visit always emits an event at its start).
    fn settle(&mut self) {
        while let Some(visit) = self.next_visit {
            if self.peek_ts().is_some_and(|next| next < visit) {
                return;
            }
            let end = self.plan_visit(visit, false);
            self.next_visit = self.draw_next_visit(end);
        }
    }

    pub(super) fn push(&mut self, ts: i64, what: What) {
        self.seq += 1;
        self.pending.push(Reverse(Planned { ts, seq: self.seq, what }));
    }
}
