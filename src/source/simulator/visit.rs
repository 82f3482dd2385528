//! What happens during one visit: the opener, page views, the closing session, and the rarer
//! unknown kinds, purchases, support tickets and survey answers.

use rand::Rng;

use super::customer::Customer;
use super::planned::What;
use super::profile::{lognormal, normal, Plan, SurveyKind, FEATURE_USED_P, HOUR_MS, MINUTE_MS, NPS_P, SECOND_MS};

impl Customer {
    /// Plans a visit starting at `t` (login or page view first, more page views, maybe a purchase,
    /// ticket or survey, a session event at the end) and returns its end; a cancelling visit ends
    /// with the cancellation, after which the customer is gone.
    pub(super) fn plan_visit(&mut self, t: i64, cancel: bool) -> i64 {
        let secs = lognormal(&mut self.rng, 240.0, 0.9).clamp(5.0, 4.0 * 3_600.0);
        let duration = (secs * 1_000.0) as i64;
        let end = t + duration;
        let opener =
            if cancel || !self.segments_sent || self.rng.gen_bool(0.75) { What::Login } else { What::PageView };
        self.push(t, opener);
        while self.rng.gen_bool(0.7) {
            let at = t + self.rng.gen_range(0..=duration);
            self.push(at, What::PageView);
        }
        self.plan_extras(t, duration);
        self.push(end, What::Session(duration as f64 / 1_000.0));
        if cancel {
            let at = end + self.rng.gen_range(SECOND_MS..MINUTE_MS);
            self.push(at, What::Cancellation);
        }
        end
    }

    /// The less frequent parts of a visit: unknown kinds, purchases, tickets and surveys.
    fn plan_extras(&mut self, t: i64, duration: i64) {
        if self.rng.gen_bool(FEATURE_USED_P) {
            let at = t + self.rng.gen_range(0..=duration);
            self.push(at, What::FeatureUsed);
        }
        let (purchase_p, median) = self.plan.purchases();
        let purchased = self.rng.gen_bool(purchase_p);
        if purchased {
            let amount = (lognormal(&mut self.rng, median, 0.6) * 100.0).round() / 100.0;
            let at = t + self.rng.gen_range(0..=duration);
            self.push(at, What::Purchase(amount.max(0.5)));
        }
        if self.rng.gen_bool(0.015 + 0.04 * (1.0 - self.satisfaction)) {
            let at = t + self.rng.gen_range(0..=duration);
            self.plan_ticket(at);
        }
        self.plan_surveys(t, duration, purchased);
    }

    /// A support ticket: usually a first response minutes–hours later and a resolution hours–days
    /// after that; unresolved tickets hurt satisfaction, resolved ones invite a CSAT/CES survey.
    fn plan_ticket(&mut self, opened: i64) {
        self.tickets += 1;
        let ticket = self.tickets;
        self.push(opened, What::SupportOpened(ticket));
        let speed = if self.plan == Plan::Enterprise { 0.4 } else { 1.0 };
        if !self.rng.gen_bool(0.95) {
            self.satisfaction = (self.satisfaction - 0.1).max(0.0);
            return;
        }
        let wait = lognormal(&mut self.rng, 40.0 * speed, 1.0).clamp(1.0, 2_880.0);
        let responded = opened + (wait * MINUTE_MS as f64) as i64;
        self.push(responded, What::SupportFirstResponse(ticket));
        if !self.rng.gen_bool(0.87) {
            self.satisfaction = (self.satisfaction - 0.08).max(0.0);
            return;
        }
        let hours = lognormal(&mut self.rng, 20.0 * speed, 1.0).clamp(0.5, 480.0);
        let resolved = responded + (hours * HOUR_MS as f64) as i64;
        self.push(resolved, What::SupportResolved(ticket));
        self.survey_after = Some(resolved);
    }

    /// Survey answers during a visit: NPS now and then, CSAT/CES after a resolved ticket or a
    /// purchase; scores follow the customer's satisfaction with some noise.
    fn plan_surveys(&mut self, t: i64, duration: i64, purchased: bool) {
        let mut surveys = Vec::new();
        if self.rng.gen_bool(NPS_P) {
            surveys.push(SurveyKind::Nps);
        }
        if self.survey_after.is_some_and(|after| after <= t) {
            self.survey_after = None;
            if self.rng.gen_bool(0.5) {
                surveys.push(SurveyKind::Csat);
            }
            if self.rng.gen_bool(0.35) {
                surveys.push(SurveyKind::Ces);
            }
        } else if purchased && self.rng.gen_bool(0.1) {
            surveys.push(SurveyKind::Csat);
        }
        for survey in surveys {
            let at = t + self.rng.gen_range(0..=duration);
            let score = self.score(survey);
            self.push(at, What::Survey(survey, score));
        }
    }

    fn score(&mut self, survey: SurveyKind) -> u8 {
        let (low, high, noise) = match survey {
            SurveyKind::Nps => (0.0, 10.0, 1.5),
            SurveyKind::Csat => (1.0, 5.0, 0.8),
            SurveyKind::Ces => (1.0, 7.0, 1.0),
        };
        let raw = low + (high - low) * (self.satisfaction + 0.08) + noise * normal(&mut self.rng);
        raw.round().clamp(low, high) as u8
    }
}
