//! A customer's lifecycle: active, fading out, silent before a return, or gone; and the visit
//! times it produces (a Poisson process thinned by the local hour and the phase).

use rand::Rng;

use super::customer::Customer;
use super::profile::{
    Plan, ACTIVE_MEAN_DAYS, DAY_MS, DIURNAL, DIURNAL_MAX, HOUR_MS, RETURN_P, SECOND_MS, SUDDEN_STOP_P,
};

/// Where a customer is in its life; decides the visit rate.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) enum Phase {
    /// Normal activity until `until`.
    Active { until: i64 },
    /// Visit rate halves every `half_life` from `since`; silence from `until`.
    Fading { since: i64, half_life: i64, until: i64 },
    /// No activity until `until`, then the customer comes back.
    Silent { until: i64 },
    /// Cancelled or left for good.
    Gone,
}

impl Customer {
    /// Length of an uninterrupted active phase: longer for happy customers and sticky plans.
    pub(super) fn active_phase_ms(&mut self) -> i64 {
        let (stickiness, _) = self.plan.loyalty();
        let mean = ACTIVE_MEAN_DAYS * stickiness * (0.4 + 1.2 * self.satisfaction);
        let u: f64 = 1.0 - self.rng.gen::<f64>();
        ((-u.ln() * mean * DAY_MS as f64) as i64).max(DAY_MS)
    }

    /// Start of the next visit after `t`, by thinning a Poisson process whose rate follows the
    /// local hour and the lifecycle phase; walks through phase changes on the way.
    pub(super) fn draw_next_visit(&mut self, mut t: i64) -> Option<i64> {
        while t < self.end_ms {
            let (until, decay) = match self.phase {
                Phase::Gone => return None,
                Phase::Silent { until } => {
                    t = t.max(until);
                    self.phase = Phase::Active { until: t + self.active_phase_ms() };
                    continue;
                }
                Phase::Active { until } => (until, None),
                Phase::Fading { since, half_life, until } => (until, Some((since, half_life))),
            };
            let candidate = self.thinning_step(t, decay);
            match candidate {
                Ok(visit) if visit < until => return Some(visit),
                Err(next) if next < until => t = next,
                _ => {
                    t = until;
                    self.end_phase(until);
                }
            }
        }
        None
    }

    /// One thinning step from `t`: `Ok(candidate)` when accepted, `Err(candidate)` when rejected.
    /// The bound uses the lifecycle factor at `t`, valid since the factor never grows in a phase.
    fn thinning_step(&mut self, t: i64, decay: Option<(i64, i64)>) -> Result<i64, i64> {
        let factor = |at: i64| match decay {
            Some((since, half_life)) => 0.5f64.powf((at - since) as f64 / half_life as f64),
            None => 1.0,
        };
        let bound = self.visits_per_day * DIURNAL_MAX * factor(t) / DAY_MS as f64;
        let u: f64 = 1.0 - self.rng.gen::<f64>();
        let wait = (-u.ln() / bound).min(1e15) as i64;
        let candidate = t + wait.max(1);
        let accept = self.diurnal(candidate) / DIURNAL_MAX * factor(candidate) / factor(t);
        if self.rng.gen::<f64>() < accept {
            Ok(candidate)
        } else {
            Err(candidate)
        }
    }

    fn diurnal(&self, ts: i64) -> f64 {
        let local = ts + i64::from(self.region.offset_secs()) * SECOND_MS;
        DIURNAL[local.rem_euclid(DAY_MS).div_euclid(HOUR_MS) as usize]
    }

    /// Ends the current phase at `t`: an active phase ends in a cancellation, a sudden stop or a
    /// fade-out; a fade-out ends in silence followed by a return, or for good.
    fn end_phase(&mut self, t: i64) {
        match self.phase {
            Phase::Active { .. } => {
                let (_, cancel_share) = self.plan.loyalty();
                let u: f64 = self.rng.gen();
                let cancel = cancel_share * (1.6 - self.satisfaction);
                if u < cancel {
                    self.plan_visit(t, true);
                    self.phase = Phase::Gone;
                } else if u < cancel + SUDDEN_STOP_P {
                    self.phase = self.quiet_period(t);
                } else {
                    self.phase = Phase::Fading {
                        since: t,
                        half_life: self.rng.gen_range(2 * DAY_MS..7 * DAY_MS),
                        until: t + self.rng.gen_range(10 * DAY_MS..30 * DAY_MS),
                    };
                }
            }
            Phase::Fading { .. } => self.phase = self.quiet_period(t),
            Phase::Silent { .. } | Phase::Gone => {}
        }
    }

    /// Silence from `t`: either a return after 15–59 or 60–180 days, or gone for good.
    fn quiet_period(&mut self, t: i64) -> Phase {
        let return_p = if self.plan == Plan::Enterprise { 0.75 } else { RETURN_P };
        if !self.rng.gen_bool(return_p) {
            return Phase::Gone;
        }
        let days = if self.rng.gen_bool(0.5) { self.rng.gen_range(15..60) } else { self.rng.gen_range(60..180) };
        Phase::Silent { until: t + days * DAY_MS + self.rng.gen_range(0..DAY_MS) }
    }
}
