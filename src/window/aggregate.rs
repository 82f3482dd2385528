//! What one time bucket of one segment holds: counts, sums, sums of squares and score histograms,
//! all of which merge exactly by addition (across buckets, and across partitions). Sums of squares
//! give the sample standard deviation of a mean, for confidence bounds (SPEC §5), without keeping
//! the values themselves.

use super::metric::SegmentMetric;
use crate::event::{InteractionKind, Survey};

/// Sum, sum of squares and count of durations in seconds, for averages and their intervals.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct SumCount {
    pub sum: f64,
    /// Sum of the squared values (sample standard deviation).
    pub sum_sq: f64,
    pub count: i64,
}

impl SumCount {
    pub fn add(&mut self, value: f64, sign: i64) {
        self.sum += value * sign as f64;
        self.sum_sq += value * value * sign as f64;
        self.count += sign;
    }

    fn merge(&mut self, other: &SumCount) {
        self.sum += other.sum;
        self.sum_sq += other.sum_sq;
        self.count += other.count;
    }

    pub fn mean(&self) -> Option<f64> {
        (self.count > 0).then(|| self.sum / self.count as f64)
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct BucketAggregate {
    pub nps: [i64; 11],
    pub csat: [i64; 5],
    pub ces: [i64; 7],
    pub interactions: [i64; 9],
    pub revenue: f64,
    /// Sum of squared purchase amounts (interval of the average order value).
    pub revenue_sq: f64,
    pub sessions: SumCount,
    pub resolution: SumCount,
    pub first_response: SumCount,
    /// Customers whose last activity falls in this bucket.
    pub active: i64,
    pub churned: i64,
    pub messages: i64,
    /// Inactive transitions at times in this bucket, by group (treatment, holdout), each in the
    /// segments the customer was in when it happened.
    pub inactive: [i64; 2],
    /// Of those transitions, the ones a reactivation has followed since.
    pub reactivated: [i64; 2],
    /// Net change of "seen and not churned" customers at times in this bucket (churn ratio denominator).
    pub live_delta: i64,
    /// The same changes, counting only customers not churned now (retention numerator).
    pub kept_delta: i64,
}

impl BucketAggregate {
    pub fn merge(&mut self, o: &BucketAggregate) {
        add_all(&mut self.nps, &o.nps);
        add_all(&mut self.csat, &o.csat);
        add_all(&mut self.ces, &o.ces);
        add_all(&mut self.interactions, &o.interactions);
        self.revenue += o.revenue;
        self.revenue_sq += o.revenue_sq;
        self.sessions.merge(&o.sessions);
        self.resolution.merge(&o.resolution);
        self.first_response.merge(&o.first_response);
        self.active += o.active;
        self.churned += o.churned;
        self.messages += o.messages;
        add_all(&mut self.inactive, &o.inactive);
        add_all(&mut self.reactivated, &o.reactivated);
        self.live_delta += o.live_delta;
        self.kept_delta += o.kept_delta;
    }

    /// Which groups of fields `merge_for(metric)` merges, one bit per group: metrics whose masks do
    /// not intersect can be merged one after the other into the same aggregate without adding
    /// any field twice (`detect::boundaries`).
    pub fn fields_of(metric: SegmentMetric) -> u16 {
        use SegmentMetric::*;
        const NPS: u16 = 1;
        const CSAT: u16 = 1 << 1;
        const CES: u16 = 1 << 2;
        const INTERACTIONS: u16 = 1 << 3;
        const ACTIVE: u16 = 1 << 4;
        const REVENUE: u16 = 1 << 5;
        const REVENUE_SQ: u16 = 1 << 6;
        const SESSIONS: u16 = 1 << 7;
        const RESOLUTION: u16 = 1 << 8;
        const FIRST_RESPONSE: u16 = 1 << 9;
        const CHURNED: u16 = 1 << 10;
        const MESSAGES: u16 = 1 << 11;
        const REACTIVATION: u16 = 1 << 12;
        match metric {
            SurveyResponses => NPS | CSAT | CES,
            NpsScore => NPS,
            CsatRatio => CSAT,
            CesAverage => CES,
            Interactions => INTERACTIONS,
            ActiveCustomers => ACTIVE,
            Revenue | AverageOrderValue => REVENUE | REVENUE_SQ | INTERACTIONS,
            PurchasesPerCustomer => INTERACTIONS | ACTIVE,
            RevenuePerCustomer => REVENUE | ACTIVE,
            CustomerLifetimeValue => REVENUE | ACTIVE | CHURNED,
            SessionSecondsAverage => SESSIONS,
            ResolutionSecondsAverage => RESOLUTION,
            FirstResponseSecondsAverage => FIRST_RESPONSE,
            ChurnedCustomers | ChurnRatio => CHURNED,
            RetentionRatio => 0,
            ReengagementMessages => MESSAGES,
            ReactivationRatio | ReengagementLift => REACTIVATION,
        }
    }

    /// Merges only what `metric` reads: rules evaluate one metric over many buckets and segments.
    pub fn merge_for(&mut self, o: &BucketAggregate, metric: SegmentMetric) {
        use SegmentMetric::*;
        match metric {
            SurveyResponses => {
                add_all(&mut self.nps, &o.nps);
                add_all(&mut self.csat, &o.csat);
                add_all(&mut self.ces, &o.ces);
            }
            NpsScore => add_all(&mut self.nps, &o.nps),
            CsatRatio => add_all(&mut self.csat, &o.csat),
            CesAverage => add_all(&mut self.ces, &o.ces),
            Interactions => add_all(&mut self.interactions, &o.interactions),
            ActiveCustomers => self.active += o.active,
            Revenue | AverageOrderValue => {
                self.revenue += o.revenue;
                self.revenue_sq += o.revenue_sq;
                let p = InteractionKind::Purchase.index();
                self.interactions[p] += o.interactions[p];
            }
            PurchasesPerCustomer => {
                let p = InteractionKind::Purchase.index();
                self.interactions[p] += o.interactions[p];
                self.active += o.active;
            }
            RevenuePerCustomer => {
                self.revenue += o.revenue;
                self.active += o.active;
            }
            CustomerLifetimeValue => {
                self.revenue += o.revenue;
                self.active += o.active;
                self.churned += o.churned;
            }
            SessionSecondsAverage => self.sessions.merge(&o.sessions),
            ResolutionSecondsAverage => self.resolution.merge(&o.resolution),
            FirstResponseSecondsAverage => self.first_response.merge(&o.first_response),
            ChurnedCustomers | ChurnRatio => self.churned += o.churned,
            // Read from the buckets before the window (`WindowRing::read_into`).
            RetentionRatio => {}
            ReengagementMessages => self.messages += o.messages,
            ReactivationRatio | ReengagementLift => {
                add_all(&mut self.inactive, &o.inactive);
                add_all(&mut self.reactivated, &o.reactivated);
            }
        }
    }

    pub fn survey_histogram(&self, survey: Survey) -> &[i64] {
        match survey {
            Survey::Nps => &self.nps,
            Survey::Csat => &self.csat,
            Survey::Ces => &self.ces,
        }
    }

    pub fn add_survey(&mut self, survey: Survey, score: u8) {
        let (low, _) = survey.scale();
        let slot = (i64::from(score) - low) as usize;
        let hist: &mut [i64] = match survey {
            Survey::Nps => &mut self.nps,
            Survey::Csat => &mut self.csat,
            Survey::Ces => &mut self.ces,
        };
        if let Some(count) = hist.get_mut(slot) {
            *count += 1;
        }
    }

    pub fn interactions_of(&self, kind: InteractionKind) -> i64 {
        self.interactions[kind.index()]
    }
}

fn add_all<const N: usize>(into: &mut [i64; N], from: &[i64; N]) {
    for (a, b) in into.iter_mut().zip(from) {
        *a += b;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::window::WindowFigures;

    /// `fields_of` must tell the truth about `merge_for`: merging two metrics it calls disjoint
    /// one after the other reads exactly like a full merge, for every label.
    #[test]
    fn metrics_with_disjoint_fields_merge_one_after_the_other_exactly() {
        let sums = SumCount { sum: 7.5, sum_sq: 60.0, count: 3 };
        let o = BucketAggregate {
            nps: [2; 11],
            csat: [3; 5],
            ces: [4; 7],
            interactions: [5; 9],
            revenue: 12.5,
            revenue_sq: 99.0,
            sessions: sums,
            resolution: sums,
            first_response: sums,
            active: 6,
            churned: 2,
            messages: 3,
            inactive: [4, 5],
            reactivated: [1, 2],
            live_delta: 9,
            kept_delta: 8,
        };
        let full = WindowFigures {
            agg: {
                let mut a = BucketAggregate::default();
                a.merge(&o);
                a
            },
            live_at_start: 20,
            kept_since_start: 15,
        };
        let mut pairs = 0;
        for a in SegmentMetric::ALL {
            for b in SegmentMetric::ALL {
                if BucketAggregate::fields_of(a) & BucketAggregate::fields_of(b) != 0 {
                    continue;
                }
                pairs += 1;
                let mut both = WindowFigures { live_at_start: 20, kept_since_start: 15, ..WindowFigures::default() };
                both.agg.merge_for(&o, a);
                both.agg.merge_for(&o, b);
                for metric in [a, b] {
                    let labels: Vec<Option<&str>> =
                        std::iter::once(None).chain(metric.label_values().into_iter().map(Some)).collect();
                    for label in labels {
                        assert_eq!(
                            both.read(metric, label),
                            full.read(metric, label),
                            "{metric:?} {label:?} after {a:?}, {b:?}"
                        );
                    }
                }
            }
        }
        assert!(pairs > 100);
    }
}
