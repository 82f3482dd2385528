//! Who customers are and how they behave on average: plans, regions, survey kinds, the realism
//! constants and the random distributions the simulator draws from.

use rand::Rng;
use rand_chacha::ChaCha8Rng;

pub(super) const SECOND_MS: i64 = 1_000;
pub(super) const MINUTE_MS: i64 = 60_000;
pub(super) const HOUR_MS: i64 = 3_600_000;
pub(super) const DAY_MS: i64 = 86_400_000;

/// Share of customers that already exist on day 0; the others sign up uniformly over the period.
pub(super) const EXISTING_AT_START: f64 = 0.35;
/// A rendered event is re-emitted verbatim with this probability (an at-least-once producer retry).
pub(super) const DUPLICATE_P: f64 = 0.003;
/// A rendered event is followed by a malformed line with this probability (dead-letter path).
pub(super) const MALFORMED_P: f64 = 0.0005;
/// A later event repeats the customer's segments with this probability (producers are sloppy).
pub(super) const SEGMENTS_P: f64 = 0.10;
/// Share of customers that change plan once during their life.
pub(super) const PLAN_CHANGE_P: f64 = 0.04;
/// Timestamp encodings: integer epoch ms below the first bound, `Z` below the second, else offset.
pub(super) const TS_EPOCH_P: f64 = 0.20;
pub(super) const TS_UTC_P: f64 = 0.75;
/// Per visit: an unknown interaction kind (~1 % of events), so the `other` bucket is exercised.
pub(super) const FEATURE_USED_P: f64 = 0.06;
/// Per visit: an NPS survey answer.
pub(super) const NPS_P: f64 = 0.015;
/// Mean length of an uninterrupted active phase for a neutral customer on a reference plan.
pub(super) const ACTIVE_MEAN_DAYS: f64 = 330.0;
/// At the end of an active phase: share that stops abruptly instead of fading out.
pub(super) const SUDDEN_STOP_P: f64 = 0.25;
/// After fading out: share that comes back after a quiet period (a reactivation).
pub(super) const RETURN_P: f64 = 0.5;

/// Relative visit intensity per local hour; the mean is 1 so `visits_per_day` keeps its meaning.
pub(super) const DIURNAL: [f64; 24] = [
    0.35, 0.2, 0.15, 0.1, 0.1, 0.15, 0.35, 0.7, 1.1, 1.4, 1.6, 1.6, 1.35, 1.45, 1.6, 1.6, 1.45, 1.35, 1.3, 1.4, 1.55,
    1.45, 1.1, 0.6,
];
pub(super) const DIURNAL_MAX: f64 = 1.6;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Plan {
    Free,
    Starter,
    Pro,
    Enterprise,
}

impl Plan {
    pub(super) fn draw(rng: &mut ChaCha8Rng) -> Plan {
        match rng.gen::<f64>() {
            u if u < 0.50 => Plan::Free,
            u if u < 0.75 => Plan::Starter,
            u if u < 0.93 => Plan::Pro,
            _ => Plan::Enterprise,
        }
    }

    pub(super) fn name(self) -> &'static str {
        match self {
            Plan::Free => "free",
            Plan::Starter => "starter",
            Plan::Pro => "pro",
            Plan::Enterprise => "enterprise",
        }
    }

    /// `(purchase probability per visit, median amount)`: paying plans buy more and bigger.
    pub(super) fn purchases(self) -> (f64, f64) {
        match self {
            Plan::Free => (0.015, 12.0),
            Plan::Starter => (0.04, 29.0),
            Plan::Pro => (0.06, 99.0),
            Plan::Enterprise => (0.08, 850.0),
        }
    }

    /// `(active phase length multiplier, cancellation share at the end of a phase)`:
    /// enterprise customers are stickier and rarely cancel outright.
    pub(super) fn loyalty(self) -> (f64, f64) {
        match self {
            Plan::Free => (0.7, 0.18),
            Plan::Starter => (1.0, 0.2),
            Plan::Pro => (1.5, 0.16),
            Plan::Enterprise => (3.0, 0.05),
        }
    }

    /// The plan after a one-off change: mostly upgrades, downgrades otherwise.
    pub(super) fn changed(self, upgrade: bool) -> Plan {
        match (self, upgrade) {
            (Plan::Free, _) | (Plan::Pro, false) => Plan::Starter,
            (Plan::Starter, true) | (Plan::Enterprise, _) => Plan::Pro,
            (Plan::Starter, false) => Plan::Free,
            (Plan::Pro, true) => Plan::Enterprise,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Region {
    Eu,
    Na,
    Apac,
    Latam,
}

impl Region {
    pub(super) fn draw(rng: &mut ChaCha8Rng) -> Region {
        match rng.gen::<f64>() {
            u if u < 0.35 => Region::Eu,
            u if u < 0.70 => Region::Na,
            u if u < 0.90 => Region::Apac,
            _ => Region::Latam,
        }
    }

    pub(super) fn name(self) -> &'static str {
        match self {
            Region::Eu => "eu",
            Region::Na => "na",
            Region::Apac => "apac",
            Region::Latam => "latam",
        }
    }

    /// UTC offset of the region's typical client, in seconds: drives both the diurnal pattern and
    /// the offset written in RFC 3339 timestamps.
    pub(super) fn offset_secs(self) -> i32 {
        match self {
            Region::Eu => 3_600,
            Region::Na => -5 * 3_600,
            Region::Apac => 9 * 3_600,
            Region::Latam => -3 * 3_600,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum SurveyKind {
    Nps,
    Csat,
    Ces,
}

impl SurveyKind {
    pub(super) fn name(self) -> &'static str {
        match self {
            SurveyKind::Nps => "nps",
            SurveyKind::Csat => "csat",
            SurveyKind::Ces => "ces",
        }
    }
}

/// A standard normal draw (Box–Muller); `rand_distr` is not a dependency.
pub(super) fn normal(rng: &mut ChaCha8Rng) -> f64 {
    let u1: f64 = 1.0 - rng.gen::<f64>();
    let u2: f64 = rng.gen();
    (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
}

/// Log-normal draw given its median: right-skewed like session lengths, amounts and wait times.
pub(super) fn lognormal(rng: &mut ChaCha8Rng, median: f64, sigma: f64) -> f64 {
    median * (sigma * normal(rng)).exp()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn diurnal_table_has_mean_one() {
        assert!((DIURNAL.iter().sum::<f64>() - 24.0).abs() < 1e-9);
        assert!(DIURNAL.iter().all(|&x| x <= DIURNAL_MAX));
    }
}
