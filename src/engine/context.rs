//! What every step inside one partition needs to read: settings, the segment catalog and the
//! partition's published partials. Kept apart from the mutable partition state so a customer can
//! be borrowed from the map while its segments are updated.

use std::sync::Arc;

use serde_json::{Map, Value};

use super::settings::{SegmentMatch, Settings};
use super::view::PartitionView;
use crate::event::Millis;
use crate::state::customer::{Customer, NEVER};
use crate::state::{SegmentCatalog, SegmentId};
use crate::window::{BucketAggregate, SegmentPartial};

pub struct PartitionContext {
    pub settings: Arc<Settings>,
    pub catalog: Arc<SegmentCatalog>,
    pub view: Arc<PartitionView>,
}

impl PartitionContext {
    /// Applies `change` to the bucket of `ts` in every window of `segment`.
    pub fn update(&self, segment: SegmentId, ts: Millis, change: impl Fn(&mut BucketAggregate)) {
        self.partial(segment, |p| p.update(ts, change));
    }

    /// Applies `change` in every segment the customer belongs to.
    pub fn update_member(&self, customer: &Customer, ts: Millis, change: impl Fn(&mut BucketAggregate)) {
        for segment in customer.member_of() {
            self.update(segment, ts, &change);
        }
    }

    /// Runs `f` on the partial of every segment the customer belongs to, each looked up once.
    pub fn with_member_partials(&self, customer: &Customer, mut f: impl FnMut(&mut SegmentPartial)) {
        for segment in customer.member_of() {
            self.partial(segment, &mut f);
        }
    }

    pub fn add_by_state(&self, customer: &Customer, state: usize, delta: i64) {
        for segment in customer.member_of() {
            self.partial(segment, |p| p.by_state[state] += delta);
        }
    }

    fn partial(&self, segment: SegmentId, f: impl FnOnce(&mut SegmentPartial)) {
        // Nearly always there already: `get_mut` skips the entry API's extra work.
        let mut partial = match self.view.segments.get_mut(&segment) {
            Some(partial) => partial,
            None => self.view.segments.entry(segment).or_insert_with(|| SegmentPartial::new(&self.settings.windows)),
        };
        partial.dirty = true;
        partial.unpublished = true;
        f(&mut partial);
    }

    /// Adds (`sign` 1) or removes (-1) everything a customer's current state contributes to a
    /// segment, so a change of membership moves it whole. Counts of events and transitions
    /// (inactive transitions and their reactivations included) stay where they happened.
    pub fn contribute(&self, segment: SegmentId, customer: &mut Customer, sign: i64, clock: Millis) {
        customer.prune_live_changes(clock.saturating_sub(self.settings.horizon_ms()));
        let state = customer.state.index();
        let lifetime = customer.lifetime_revenue;
        self.partial(segment, |p| {
            p.by_state[state] += sign;
            p.lifetime_revenue += sign as f64 * lifetime;
        });
        if customer.last_activity != NEVER {
            self.update(segment, customer.last_activity, |a| a.active += sign);
        }
        self.add_live_history(segment, customer, sign, sign * customer.live());
    }

    /// Adds the customer's changes of the live count (first seen +1, then churns -1 and returns
    /// +1) to `segment`, times `live` to the churn-ratio denominator and times `kept` to the
    /// retention numerator. Changes older than every window are implied by the current state
    /// and go to the rings' base.
    ///
    /// The retention numerator holds the history of customers not churned now, and only theirs:
    /// summed before S it counts the customers live both just before S and now (their changes in
    /// [S, C] sum to 0). A churn removes the customer's history from it, a return adds it back.
    fn add_live_history(&self, segment: SegmentId, customer: &Customer, live: i64, kept: i64) {
        if live == 0 && kept == 0 {
            return;
        }
        self.update(segment, customer.first_seen, |a| {
            a.live_delta += live;
            a.kept_delta += kept;
        });
        let mut recent = 0;
        for &(t, delta) in customer.live_changes() {
            let delta = i64::from(delta);
            recent += delta;
            self.update(segment, t, |a| {
                a.live_delta += live * delta;
                a.kept_delta += kept * delta;
            });
        }
        // Older churns and returns are implied by the current state.
        let older = customer.live() - 1 - recent;
        if older != 0 {
            self.partial(segment, |p| p.add_live_base(live * older, kept * older));
        }
    }

    /// Adds (1) or removes (-1) the customer's whole live history from the retention numerator of
    /// every segment it belongs to: on a return from churned, and just before a churn.
    pub fn keep_history(&self, customer: &Customer, sign: i64) {
        for segment in customer.member_of() {
            self.add_live_history(segment, customer, 0, sign);
        }
    }

    /// Records a change of the live count (churn -1, return +1) at `at`.
    pub fn live_change(&self, customer: &mut Customer, at: Millis, delta: i8) {
        self.update_member(customer, at, |a| a.live_delta += i64::from(delta));
        customer.push_live_change(at, delta);
    }

    /// An event older than the customer's first sighting moves its +1 of the live count.
    pub fn move_first_seen(&self, customer: &mut Customer, ts: Millis) {
        let kept = customer.live();
        self.update_member(customer, customer.first_seen, |a| {
            a.live_delta -= 1;
            a.kept_delta -= kept;
        });
        self.update_member(customer, ts, |a| {
            a.live_delta += 1;
            a.kept_delta += kept;
        });
        customer.first_seen = ts;
    }

    /// Called before the customer's segments change: an inactive transition still waiting for
    /// its reactivation remembers the segments it happened in, while a window can still see it.
    pub fn before_segments_change(&self, customer: &mut Customer, clock: Millis) {
        let pending = customer.inactive_at != NEVER && !customer.reactivated_since;
        if pending
            && customer.inactive_segments().is_none()
            && customer.inactive_at > clock.saturating_sub(self.settings.horizon_ms())
        {
            customer.set_inactive_segments(Some(customer.segments()));
        }
    }

    fn matches(&self, customer: &Customer, m: &SegmentMatch) -> bool {
        self.catalog.find(&m.dimension, &m.segment).is_some_and(|id| customer.member_of().any(|s| s == id))
    }

    /// (inactive_after, churn_after) for this customer: the first matching override, else the default.
    pub fn thresholds(&self, customer: &Customer) -> (i64, i64) {
        let s = &self.settings;
        s.inactivity_overrides
            .iter()
            .find(|o| self.matches(customer, &o.matches))
            .map_or((s.inactive_after, s.churn_after), |o| (o.inactive_after, o.churn_after))
    }

    /// When the customer's next transition is due, if one can be.
    pub fn deadline(&self, customer: &Customer) -> Option<Millis> {
        use crate::state::CustomerState::*;
        if customer.last_activity == NEVER {
            return None;
        }
        let (inactive_after, churn_after) = self.thresholds(customer);
        match customer.state {
            Active => Some(customer.last_activity.saturating_add(inactive_after)),
            Inactive => Some(customer.last_activity.saturating_add(churn_after)),
            Churned => None,
        }
    }

    /// Template, incentive and validity of the message for this customer.
    pub fn message_terms(&self, customer: &Customer) -> (String, String, i64) {
        let s = &self.settings;
        let o = s.message_overrides.iter().find(|o| self.matches(customer, &o.matches));
        (
            o.and_then(|o| o.template.clone()).unwrap_or_else(|| s.template.clone()),
            o.and_then(|o| o.incentive.clone()).unwrap_or_else(|| s.incentive.clone()),
            o.and_then(|o| o.offer_valid_for).unwrap_or(s.offer_valid_for),
        )
    }

    /// The customer's segments as alerts show them: `{dimension: segment}`.
    pub fn segments_json(&self, customer: &Customer) -> Map<String, Value> {
        customer
            .segments()
            .into_iter()
            .filter(|s| *s != crate::state::customer::NO_SEGMENT)
            .map(|s| {
                let (dimension, label) = self.catalog.describe(s);
                (dimension, Value::String(label.to_string()))
            })
            .collect()
    }
}
