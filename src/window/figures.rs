//! Turning a merged window into metric values: the formulas of SPEC §4 in one place.

use super::aggregate::BucketAggregate;
use super::metric::SegmentMetric;
use crate::event::{InteractionKind, Survey};

/// One segment's merged window at one clock.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct WindowFigures {
    pub agg: BucketAggregate,
    /// Customers neither churned nor unseen at the window's start.
    pub live_at_start: i64,
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
        }
    }
}

fn mean(s: super::aggregate::SumCount) -> Option<Reading> {
    s.mean().map(|value| Reading { value, samples: s.count })
}
