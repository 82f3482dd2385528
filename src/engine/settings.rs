//! The configuration the engine runs on, resolved once into milliseconds and indexes.

use crate::config::Config;
use crate::window::{SegmentMetric, WindowSpec};

#[derive(Debug, Clone)]
pub struct SegmentMatch {
    pub dimension: String,
    pub segment: String,
}

#[derive(Debug, Clone)]
pub struct InactivityOverride {
    pub matches: SegmentMatch,
    pub inactive_after: i64,
    pub churn_after: i64,
}

#[derive(Debug, Clone)]
pub struct MessageOverride {
    pub matches: SegmentMatch,
    pub template: Option<String>,
    pub incentive: Option<String>,
    pub offer_valid_for: Option<i64>,
}

/// A threshold rule, resolved (SPEC §5).
#[derive(Debug, Clone)]
pub struct Rule {
    pub name: String,
    pub metric: SegmentMetric,
    pub label: Option<String>,
    pub window: usize,
    pub dimension: Option<String>,
    pub segment: Option<String>,
    /// `true` for `above`, `false` for `below`.
    pub above: bool,
    pub threshold: f64,
    pub clear: f64,
    pub min_samples: i64,
    /// With `confidence`, the rule judges a bound of the interval at that level, with this `z`.
    pub confidence: Option<Confidence>,
}

/// A rule's confidence level and its quantile `z = Φ⁻¹((1 + level) / 2)`, computed once.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Confidence {
    pub level: f64,
    pub z: f64,
}

#[derive(Debug, Clone)]
pub struct Settings {
    pub dimensions: Vec<String>,
    pub max_values: usize,
    pub windows: Vec<WindowSpec>,
    pub inactive_after: i64,
    pub churn_after: i64,
    pub inactivity_overrides: Vec<InactivityOverride>,
    pub holdout_percent: f64,
    pub salt: String,
    pub cooldown: i64,
    pub offer_valid_for: i64,
    pub template: String,
    pub incentive: String,
    pub message_overrides: Vec<MessageOverride>,
    pub dedup_window: i64,
    pub dedup_max_entries: usize,
    pub ticket_retention: i64,
    pub max_event_bytes: usize,
    /// Customers one partition tracks at most (`limits.max_customers`).
    pub max_customers: usize,
    pub max_lag: i64,
    pub max_future_skew: i64,
    pub rules: Vec<Rule>,
}

impl Settings {
    /// Resolves a validated config.
    pub fn from_config(c: &Config) -> Settings {
        let windows = c
            .windows
            .iter()
            .map(|w| WindowSpec { name: w.name.clone(), size_ms: w.size.ms(), bucket_ms: w.bucket.ms() })
            .collect::<Vec<_>>();
        let rules = c
            .rules
            .iter()
            .filter_map(|r| {
                let metric = SegmentMetric::from_name(&r.metric)?;
                let window = windows.iter().position(|w| w.name == r.window)?;
                let (above, threshold) = match (r.above, r.below) {
                    (Some(t), _) => (true, t),
                    (None, Some(t)) => (false, t),
                    (None, None) => return None,
                };
                Some(Rule {
                    name: r.name.clone(),
                    metric,
                    label: r.label.clone(),
                    window,
                    dimension: r.dimension.clone(),
                    segment: r.segment.clone(),
                    above,
                    threshold,
                    clear: r.clear.unwrap_or(threshold),
                    min_samples: i64::try_from(r.min_samples).unwrap_or(i64::MAX),
                    confidence: match r.confidence {
                        None => None,
                        Some(level) => Some(Confidence { level, z: crate::window::interval::z_for(level)? }),
                    },
                })
            })
            .collect();
        let i = &c.inactivity;
        let r = &c.reengagement;
        Settings {
            dimensions: c.segments.dimensions.clone(),
            max_values: c.segments.max_values,
            windows,
            inactive_after: i.inactive_after.ms(),
            churn_after: i.churn_after.ms(),
            inactivity_overrides: i
                .overrides
                .iter()
                .map(|o| InactivityOverride {
                    matches: SegmentMatch { dimension: o.dimension.clone(), segment: o.segment.clone() },
                    inactive_after: o.inactive_after.unwrap_or(i.inactive_after).ms(),
                    churn_after: o.churn_after.unwrap_or(i.churn_after).ms(),
                })
                .collect(),
            holdout_percent: r.holdout_percent,
            salt: r.salt.clone(),
            cooldown: r.cooldown.ms(),
            offer_valid_for: r.offer_valid_for.ms(),
            template: r.template.clone(),
            incentive: r.incentive.clone(),
            message_overrides: r
                .overrides
                .iter()
                .map(|o| MessageOverride {
                    matches: SegmentMatch { dimension: o.dimension.clone(), segment: o.segment.clone() },
                    template: o.template.clone(),
                    incentive: o.incentive.clone(),
                    offer_valid_for: o.offer_valid_for.map(|d| d.ms()),
                })
                .collect(),
            dedup_window: c.dedup.window.ms(),
            dedup_max_entries: c.dedup.max_entries,
            ticket_retention: c.limits.ticket_retention.ms(),
            max_event_bytes: c.limits.max_event_bytes,
            max_customers: usize::try_from(c.limits.max_customers).unwrap_or(usize::MAX),
            max_lag: c.clock.max_lag.ms(),
            max_future_skew: c.clock.max_future_skew.ms(),
            rules,
        }
    }

    /// How far back any window can still see: changes older than this are final.
    pub fn horizon_ms(&self) -> i64 {
        self.windows.iter().map(|w| w.size_ms + w.bucket_ms).max().unwrap_or(0)
    }

    /// Whether an event at `ts` still counts in at least one window at clock `clock` (else: late).
    pub fn fits_some_window(&self, ts: i64, clock: i64) -> bool {
        self.windows.iter().any(|w| {
            w.size_ms > 0
                && w.bucket_ms > 0
                && ts.div_euclid(w.bucket_ms) > clock.div_euclid(w.bucket_ms) - w.size_ms / w.bucket_ms
        })
    }

    /// Distinct bucket sizes of the windows that rules use: the clock stops at their boundaries.
    pub fn rule_boundaries(&self) -> Vec<i64> {
        let mut b: Vec<i64> = self.rules.iter().map(|r| self.windows[r.window].bucket_ms).collect();
        b.sort_unstable();
        b.dedup();
        b
    }
}
