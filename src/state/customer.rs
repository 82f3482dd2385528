//! Per-customer state, kept small: millions of these must fit in memory.

use smallvec::SmallVec;

use super::catalog::SegmentId;
use crate::event::Millis;

/// No time recorded.
pub const NEVER: Millis = Millis::MIN;
/// Segment slot of a dimension the customer has no value for.
pub const NO_SEGMENT: SegmentId = SegmentId::MAX;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum CustomerState {
    Active = 0,
    Inactive = 1,
    Churned = 2,
}

impl CustomerState {
    pub const ALL: [CustomerState; 3] = [CustomerState::Active, CustomerState::Inactive, CustomerState::Churned];

    pub fn label(self) -> &'static str {
        match self {
            CustomerState::Active => "active",
            CustomerState::Inactive => "inactive",
            CustomerState::Churned => "churned",
        }
    }

    pub fn index(self) -> usize {
        self as usize
    }
}

#[derive(Debug, Clone)]
pub struct Customer {
    pub first_seen: Millis,
    /// Latest `ts` of an activity event, or `NEVER`.
    pub last_activity: Millis,
    pub state: CustomerState,
    /// Time of the latest inactive transition, or `NEVER` (reactivation ratio).
    pub inactive_at: Millis,
    /// Whether a reactivation has followed the transition at `inactive_at`.
    pub reactivated_since: bool,
    /// The segments at `inactive_at`, kept only when they changed while that transition still
    /// waits for its reactivation inside some window (the reactivation counts where the
    /// transition did). `None` for almost every customer.
    pub inactive_segments: Option<Box<SmallVec<[SegmentId; 4]>>>,
    /// Sum of the customer's purchase amounts since first seen (lifetime revenue average).
    pub lifetime_revenue: f64,
    pub holdout: bool,
    /// Time of the latest re-engagement message, or `NEVER` (cooldown).
    pub last_message_at: Millis,
    /// Inactivity-index bucket the customer is filed under, or `u32::MAX` when not filed.
    pub filed_bucket: u32,
    /// Transitions so far (wrapping). Part of every alert and message id, so two transitions of
    /// one customer in the same millisecond still get distinct ids (see `alert::id`).
    pub transitions: u32,
    /// One segment per configured dimension, `NO_SEGMENT` where no value was seen.
    pub segments: SmallVec<[SegmentId; 4]>,
    /// Churn (-1) and un-churn (+1) changes of the live count that may still lie inside a window;
    /// older ones are implied by the current state. Empty for almost every customer.
    pub live_changes: Vec<(Millis, i8)>,
}

impl Customer {
    pub fn new(first_seen: Millis, dimensions: usize, holdout: bool) -> Self {
        Customer {
            first_seen,
            last_activity: NEVER,
            state: CustomerState::Active,
            inactive_at: NEVER,
            reactivated_since: false,
            inactive_segments: None,
            lifetime_revenue: 0.0,
            holdout,
            last_message_at: NEVER,
            filed_bucket: u32::MAX,
            transitions: 0,
            segments: SmallVec::from_elem(NO_SEGMENT, dimensions),
            live_changes: Vec::new(),
        }
    }

    /// 1 when the customer counts in a churn-ratio denominator now (seen, not churned).
    pub fn live(&self) -> i64 {
        i64::from(self.state != CustomerState::Churned)
    }

    /// Group index for aggregates: 0 treatment, 1 holdout.
    pub fn group_index(&self) -> usize {
        usize::from(self.holdout)
    }

    pub fn group_label(&self) -> &'static str {
        if self.holdout {
            "holdout"
        } else {
            "treatment"
        }
    }

    /// Counts one more transition and returns its sequence number for the alert id.
    pub fn next_transition(&mut self) -> u32 {
        self.transitions = self.transitions.wrapping_add(1);
        self.transitions
    }

    /// The segments the customer belongs to: `all` plus one per dimension with a value.
    pub fn member_of(&self) -> impl Iterator<Item = SegmentId> + '_ {
        std::iter::once(super::catalog::ALL).chain(self.segments.iter().copied().filter(|s| *s != NO_SEGMENT))
    }

    /// Forgets live changes at or before `horizon`, which no window can see any more.
    pub fn prune_live_changes(&mut self, horizon: Millis) {
        if !self.live_changes.is_empty() {
            self.live_changes.retain(|(t, _)| *t > horizon);
            if self.live_changes.is_empty() {
                self.live_changes = Vec::new();
            }
        }
    }
}
