//! Customer transitions (SPEC §3, §5): inactive, churned, reactivated — each one updates the
//! segment figures it belongs to and produces its alert (and, for inactivity, the message).
//!
//! Reactivation ratio (SPEC §4): every inactive transition counts once, in the bucket of its time
//! and the segments of that moment, like any other transition. Between two inactive transitions
//! of a customer there is always a reactivation, so only the latest one can still be waiting for
//! it: the customer keeps its time (and its segments, should they change meanwhile), and the
//! next reactivation marks that transition, where it was counted, as followed.

use serde_json::{Map, Value};

use crate::alert::id::deterministic_id;
use crate::alert::{Alert, AlertKind, Effect, ReengagementMessage};
use crate::engine::context::PartitionContext;
use crate::event::time::format_rfc3339;
use crate::event::Millis;
use crate::state::catalog::ALL;
use crate::state::customer::{Customer, CustomerState, NEVER, NO_SEGMENT};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChurnReason {
    Inactivity,
    Cancellation,
}

impl ChurnReason {
    pub fn label(self) -> &'static str {
        match self {
            ChurnReason::Inactivity => "inactivity",
            ChurnReason::Cancellation => "cancellation",
        }
    }
}

fn customer_fields(ctx: &PartitionContext, id: &str, customer: &Customer) -> Map<String, Value> {
    let mut f = Map::new();
    f.insert("customer_id".into(), Value::String(id.to_string()));
    f.insert("segments".into(), Value::Object(ctx.segments_json(customer)));
    f
}

fn set_state(ctx: &PartitionContext, customer: &mut Customer, state: CustomerState) {
    ctx.add_by_state(customer, customer.state.index(), -1);
    ctx.add_by_state(customer, state.index(), 1);
    customer.state = state;
}

impl PartitionContext {
    /// Active → inactive at `at`; sends the re-engagement message to treatment customers outside
    /// their cooldown.
    pub fn go_inactive(&self, id: &str, customer: &mut Customer, at: Millis, effects: &mut Vec<Effect>) {
        set_state(self, customer, CustomerState::Inactive);
        let seq = customer.next_transition().to_string();
        let g = customer.group_index();
        customer.inactive_at = at;
        customer.reactivated_since = false;
        customer.set_inactive_segments(None);
        self.update_member(customer, at, |a| a.inactive[g] += 1);

        let mut fields = customer_fields(self, id, customer);
        fields.insert("last_activity".into(), Value::String(format_rfc3339(customer.last_activity)));
        fields.insert("group".into(), Value::String(customer.group_label().into()));
        effects.push(Effect::Alert(Alert::new(AlertKind::CustomerInactive, at, id.to_string(), &[&seq], fields)));

        let cooled_down = customer.last_message_at == NEVER || at - customer.last_message_at >= self.settings.cooldown;
        if !customer.holdout && cooled_down {
            customer.last_message_at = at;
            self.update_member(customer, at, |a| a.messages += 1);
            let (template, incentive, valid_for) = self.message_terms(customer);
            effects.push(Effect::Message(ReengagementMessage {
                message_id: deterministic_id(&["reengagement", id, &at.to_string(), &seq]),
                customer_id: id.to_string(),
                segments: self.segments_json(customer),
                template,
                incentive,
                at,
                expires_at: at.saturating_add(valid_for),
            }));
        }
    }

    /// → churned at `at`, by inactivity or cancellation.
    pub fn churn(&self, id: &str, customer: &mut Customer, at: Millis, reason: ChurnReason, effects: &mut Vec<Effect>) {
        // Not live from now on: out of the retention numerator, its whole history with it.
        self.keep_history(customer, -1);
        set_state(self, customer, CustomerState::Churned);
        let seq = customer.next_transition().to_string();
        self.update_member(customer, at, |a| a.churned += 1);
        self.live_change(customer, at, -1);
        let mut fields = customer_fields(self, id, customer);
        fields.insert("reason".into(), Value::String(reason.label().into()));
        effects.push(Effect::Alert(Alert::new(AlertKind::CustomerChurned, at, id.to_string(), &[&seq], fields)));
    }

    /// Inactive or churned → active, on an activity event at `at`.
    pub fn reactivate(&self, id: &str, customer: &mut Customer, at: Millis, effects: &mut Vec<Effect>) {
        let previous = customer.state;
        set_state(self, customer, CustomerState::Active);
        let seq = customer.next_transition().to_string();
        if previous == CustomerState::Churned {
            self.live_change(customer, at, 1);
            self.keep_history(customer, 1);
        }
        if customer.inactive_at != NEVER && !customer.reactivated_since {
            self.mark_reactivated(customer);
        }
        let mut fields = customer_fields(self, id, customer);
        fields.insert("previous_state".into(), Value::String(previous.label().into()));
        fields.insert("group".into(), Value::String(customer.group_label().into()));
        effects.push(Effect::Alert(Alert::new(AlertKind::CustomerReactivated, at, id.to_string(), &[&seq], fields)));
    }

    /// The latest inactive transition has been followed by a reactivation: count it where and
    /// when the transition was counted. A transition older than every window is left alone.
    fn mark_reactivated(&self, customer: &mut Customer) {
        customer.reactivated_since = true;
        let segments = customer.take_inactive_segments();
        let at = customer.inactive_at;
        if at <= self.view.clock().saturating_sub(self.settings.horizon_ms()) {
            return;
        }
        let g = customer.group_index();
        let then = segments.unwrap_or_else(|| customer.segments());
        for segment in std::iter::once(ALL).chain(then.iter().copied().filter(|s| *s != NO_SEGMENT)) {
            self.update(segment, at, |a| a.reactivated[g] += 1);
        }
    }
}
