//! Turning a merged window into metric values: the formulas of SPEC §4 in one place, and the
//! intervals of SPEC §5 around them.

use super::aggregate::{BucketAggregate, SumCount};
use super::interval::{self, Interval};
use super::metric::SegmentMetric;
use crate::event::{InteractionKind, Survey};

/// One segment's merged window at one clock.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct WindowFigures {
    pub agg: BucketAggregate,
    /// Customers of the segment seen and not churned just before the window's start S (the
    /// "customers at the window's start").
    pub live_at_start: i64,
    /// Of those, the ones not churned now (retention numerator).
    pub kept_since_start: i64,
}

/// A metric's value and the number of samples behind it (responses, or the denominator).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Reading {
    pub value: f64,
    pub samples: i64,
}

fn ratio(numerator: i64, denominator: i64) -> Option<Reading> {
    (denominator > 0).then(|| Reading { value: numerator as f64 / denominator as f64, samples: denominator })
}

fn count(n: i64) -> Option<Reading> {
    Some(Reading { value: n as f64, samples: n })
}

fn group_index(label: &str) -> usize {
    usize::from(label == "holdout")
}

impl WindowFigures {
    /// Adds another partition's figures of the same window at the same clock.
    pub fn merge(&mut self, other: &WindowFigures) {
        self.agg.merge(&other.agg);
        self.live_at_start += other.live_at_start;
        self.kept_since_start += other.kept_since_start;
    }

    /// Nothing to contribute to a merge.
    pub fn is_empty(&self) -> bool {
        *self == WindowFigures::default()
    }

    /// The value of `metric` (with its extra label if it has one); `None` when the denominator is 0.
    pub fn read(&self, metric: SegmentMetric, label: Option<&str>) -> Option<Reading> {
        let a = &self.agg;
        match metric {
            SegmentMetric::SurveyResponses => {
                let survey = Survey::ALL.into_iter().find(|s| Some(s.label()) == label)?;
                count(a.survey_histogram(survey).iter().sum())
            }
            SegmentMetric::NpsScore => {
                let n: i64 = a.nps.iter().sum();
                let promoters = a.nps[9] + a.nps[10];
                let detractors: i64 = a.nps[..=6].iter().sum();
                (n > 0).then(|| Reading { value: 100.0 * (promoters - detractors) as f64 / n as f64, samples: n })
            }
            SegmentMetric::CsatRatio => ratio(a.csat[3] + a.csat[4], a.csat.iter().sum()),
            SegmentMetric::CesAverage => {
                let n: i64 = a.ces.iter().sum();
                let total: i64 = a.ces.iter().enumerate().map(|(i, c)| (i as i64 + 1) * c).sum();
                (n > 0).then(|| Reading { value: total as f64 / n as f64, samples: n })
            }
            SegmentMetric::Interactions => {
                let kind = InteractionKind::ALL.into_iter().find(|k| Some(k.label()) == label)?;
                count(a.interactions_of(kind))
            }
            SegmentMetric::ActiveCustomers => count(a.active),
            SegmentMetric::Revenue => {
                Some(Reading { value: a.revenue, samples: a.interactions_of(InteractionKind::Purchase) })
            }
            SegmentMetric::AverageOrderValue => {
                let n = a.interactions_of(InteractionKind::Purchase);
                (n > 0).then(|| Reading { value: a.revenue / n as f64, samples: n })
            }
            SegmentMetric::SessionSecondsAverage => mean(a.sessions),
            SegmentMetric::ResolutionSecondsAverage => mean(a.resolution),
            SegmentMetric::FirstResponseSecondsAverage => mean(a.first_response),
            SegmentMetric::ChurnedCustomers => count(a.churned),
            SegmentMetric::ChurnRatio => ratio(a.churned, self.live_at_start),
            SegmentMetric::ReengagementMessages => count(a.messages),
            SegmentMetric::ReactivationRatio => {
                let g = group_index(label?);
                ratio(a.reactivated[g], a.inactive[g])
            }
            SegmentMetric::ReengagementLift => {
                let treatment = ratio(a.reactivated[0], a.inactive[0])?;
                let holdout = ratio(a.reactivated[1], a.inactive[1])?;
                Some(Reading {
                    value: treatment.value - holdout.value,
                    samples: treatment.samples.min(holdout.samples),
                })
            }
            SegmentMetric::RetentionRatio => ratio(self.kept_since_start, self.live_at_start),
            SegmentMetric::RevenuePerCustomer => {
                (a.active > 0).then(|| Reading { value: a.revenue / a.active as f64, samples: a.active })
            }
            SegmentMetric::PurchasesPerCustomer => ratio(a.interactions_of(InteractionKind::Purchase), a.active),
            SegmentMetric::CustomerLifetimeValue => {
                let per_customer = self.read(SegmentMetric::RevenuePerCustomer, None)?;
                let churn = self.read(SegmentMetric::ChurnRatio, None).filter(|c| c.value > 0.0)?;
                Some(Reading {
                    value: per_customer.value / churn.value,
                    samples: per_customer.samples.min(churn.samples),
                })
            }
        }
    }

    /// The two-sided interval of SPEC §5 around `metric` with quantile `z`; `None` for metrics
    /// without one and where the data is too thin (no samples, or fewer than 2 for NPS and means).
    pub fn interval(&self, metric: SegmentMetric, label: Option<&str>, z: f64) -> Option<Interval> {
        let a = &self.agg;
        let total = |h: &[i64]| h.iter().sum::<i64>();
        match metric {
            SegmentMetric::CsatRatio => interval::wilson(a.csat[3] + a.csat[4], total(&a.csat), z),
            SegmentMetric::ChurnRatio => interval::wilson(a.churned, self.live_at_start, z),
            SegmentMetric::RetentionRatio => interval::wilson(self.kept_since_start, self.live_at_start, z),
            SegmentMetric::ReactivationRatio => {
                let g = group_index(label?);
                interval::wilson(a.reactivated[g], a.inactive[g], z)
            }
            SegmentMetric::ReengagementLift => {
                interval::difference(a.reactivated[0], a.inactive[0], a.reactivated[1], a.inactive[1], z)
            }
            SegmentMetric::NpsScore => interval::nps(a.nps[9] + a.nps[10], total(&a.nps[..=6]), total(&a.nps), z),
            SegmentMetric::CesAverage => {
                let (mut sum, mut sum_sq) = (0.0, 0.0);
                for (i, c) in a.ces.iter().enumerate() {
                    let score = (i + 1) as f64;
                    sum += score * *c as f64;
                    sum_sq += score * score * *c as f64;
                }
                interval::mean(total(&a.ces), sum, sum_sq, z)
            }
            SegmentMetric::SessionSecondsAverage => mean_interval(a.sessions, z),
            SegmentMetric::ResolutionSecondsAverage => mean_interval(a.resolution, z),
            SegmentMetric::FirstResponseSecondsAverage => mean_interval(a.first_response, z),
            SegmentMetric::AverageOrderValue => {
                interval::mean(a.interactions_of(InteractionKind::Purchase), a.revenue, a.revenue_sq, z)
            }
            _ => None,
        }
    }
}

fn mean(s: SumCount) -> Option<Reading> {
    s.mean().map(|value| Reading { value, samples: s.count })
}

fn mean_interval(s: SumCount, z: f64) -> Option<Interval> {
    interval::mean(s.count, s.sum, s.sum_sq, z)
}
