//! Per-customer state, kept small: millions of these must fit in memory (72 bytes; see
//! `examples/state_sizes.rs` and bench/RESULTS.md's memory budget).
//!
//! What is rare lives behind one optional box, so it costs 8 bytes when absent: the churn and
//! return changes of the live count (only while a window can still see them), the segments of a
//! pending inactive transition that changed since, and the segments of a customer whose segment
//! ids do not fit the inline slots. The inline slots hold up to four dimensions as `u16` (segment
//! ids below 65 535, which `max_values` × dimensions stays far below in any sensible config);
//! past that, the customer keeps its segments in the box instead. Either way the accessors give
//! the same answers, so behaviour does not depend on where a segment is kept.

use smallvec::SmallVec;

use super::catalog::SegmentId;
use crate::event::Millis;

/// No time recorded.
pub const NEVER: Millis = Millis::MIN;
/// Segment slot of a dimension the customer has no value for.
pub const NO_SEGMENT: SegmentId = SegmentId::MAX;

/// A customer's segments, one slot per dimension (`NO_SEGMENT` where none).
pub type Segments = SmallVec<[SegmentId; 4]>;

/// Inline segment slots and the `u16` that stands for `NO_SEGMENT` in them.
const INLINE: usize = 4;
const INLINE_NONE: u16 = u16::MAX;

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
    /// Time of the latest inactive transition, or `NEVER` (reactivation ratio).
    pub inactive_at: Millis,
    /// Time of the latest re-engagement message, or `NEVER` (cooldown).
    pub last_message_at: Millis,
    /// Sum of the customer's purchase amounts since first seen (lifetime revenue average).
    pub lifetime_revenue: f64,
    /// Inactivity-index bucket the customer is filed under, or `u32::MAX` when not filed.
    pub filed_bucket: u32,
    /// Transitions so far (wrapping). Part of every alert and message id, so two transitions of
    /// one customer in the same millisecond still get distinct ids (see `alert::id`).
    pub transitions: u32,
    /// Segments per dimension while they fit (see the module comment); unused once `rare.wide`.
    inline: [u16; INLINE],
    /// What almost no customer has; `None` for almost every customer.
    rare: Option<Box<Rare>>,
    pub state: CustomerState,
    /// Whether a reactivation has followed the transition at `inactive_at`.
    pub reactivated_since: bool,
    pub holdout: bool,
}

#[derive(Debug, Clone, Default)]
struct Rare {
    /// Churn (-1) and un-churn (+1) changes of the live count that may still lie inside a window;
    /// older ones are implied by the current state.
    live_changes: Vec<(Millis, i8)>,
    /// The segments at `inactive_at`, kept only when they changed while that transition still
    /// waits for its reactivation inside some window (the reactivation counts where the
    /// transition did).
    inactive_segments: Option<Box<Segments>>,
    /// All segments, when they do not fit the inline slots.
    wide: Option<Box<Segments>>,
}

impl Rare {
    fn is_empty(&self) -> bool {
        self.live_changes.is_empty() && self.inactive_segments.is_none() && self.wide.is_none()
    }
}

impl Customer {
    pub fn new(first_seen: Millis, dimensions: usize, holdout: bool) -> Self {
        let rare = (dimensions > INLINE).then(|| {
            Box::new(Rare { wide: Some(Box::new(SmallVec::from_elem(NO_SEGMENT, dimensions))), ..Rare::default() })
        });
        Customer {
            first_seen,
            last_activity: NEVER,
            inactive_at: NEVER,
            last_message_at: NEVER,
            lifetime_revenue: 0.0,
            filed_bucket: u32::MAX,
            transitions: 0,
            inline: [INLINE_NONE; INLINE],
            rare,
            state: CustomerState::Active,
            reactivated_since: false,
            holdout,
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

    fn wide(&self) -> Option<&Segments> {
        self.rare.as_ref().and_then(|r| r.wide.as_deref())
    }

    /// The segment of dimension `dim`, `NO_SEGMENT` when none.
    pub fn segment(&self, dim: usize) -> SegmentId {
        match self.wide() {
            Some(wide) => wide.get(dim).copied().unwrap_or(NO_SEGMENT),
            None => self.inline.get(dim).map_or(NO_SEGMENT, |s| widen(*s)),
        }
    }

    /// Sets the segment of dimension `dim`; segments that do not fit inline move to the box.
    pub fn set_segment(&mut self, dim: usize, segment: SegmentId) {
        if self.wide().is_none() {
            let narrow = if segment == NO_SEGMENT {
                Some(INLINE_NONE)
            } else {
                u16::try_from(segment).ok().filter(|s| *s != INLINE_NONE)
            };
            if let (Some(slot), Some(value)) = (self.inline.get_mut(dim), narrow) {
                *slot = value;
                return;
            }
            // A dimension past the inline slots, or an id past 16 bits: every slot moves to the box.
            let wide: Segments = self.inline.iter().map(|s| widen(*s)).collect();
            self.rare.get_or_insert_with(Box::default).wide = Some(Box::new(wide));
        }
        if let Some(wide) = self.rare.as_mut().and_then(|r| r.wide.as_mut()) {
            if wide.len() <= dim {
                wide.resize(dim + 1, NO_SEGMENT);
            }
            wide[dim] = segment;
        }
    }

    /// The segment slots, in dimension order (`NO_SEGMENT` where none; trailing empty slots may
    /// be present).
    pub fn segments(&self) -> Segments {
        match self.wide() {
            Some(wide) => wide.clone(),
            None => self.inline.iter().map(|s| widen(*s)).collect(),
        }
    }

    /// The segments the customer belongs to: `all` plus one per dimension with a value.
    pub fn member_of(&self) -> impl Iterator<Item = SegmentId> + '_ {
        let wide = self.wide();
        let inline: &[u16] = if wide.is_some() { &[] } else { &self.inline };
        std::iter::once(super::catalog::ALL)
            .chain(inline.iter().map(|s| widen(*s)))
            .chain(wide.map_or(&[][..], |w| &w[..]).iter().copied())
            .filter(|s| *s != NO_SEGMENT)
    }

    /// Churn (-1) and un-churn (+1) changes of the live count that may still lie inside a window.
    pub fn live_changes(&self) -> &[(Millis, i8)] {
        self.rare.as_ref().map_or(&[], |r| &r.live_changes)
    }

    pub fn push_live_change(&mut self, at: Millis, delta: i8) {
        self.rare.get_or_insert_with(Box::default).live_changes.push((at, delta));
    }

    /// Forgets live changes at or before `horizon`, which no window can see any more.
    pub fn prune_live_changes(&mut self, horizon: Millis) {
        if let Some(rare) = &mut self.rare {
            if !rare.live_changes.is_empty() {
                rare.live_changes.retain(|(t, _)| *t > horizon);
                if rare.live_changes.is_empty() {
                    rare.live_changes = Vec::new();
                }
                self.tidy();
            }
        }
    }

    /// The segments kept for a pending inactive transition, if they changed since.
    pub fn inactive_segments(&self) -> Option<&Segments> {
        self.rare.as_ref().and_then(|r| r.inactive_segments.as_deref())
    }

    pub fn set_inactive_segments(&mut self, segments: Option<Segments>) {
        match segments {
            Some(s) => self.rare.get_or_insert_with(Box::default).inactive_segments = Some(Box::new(s)),
            None => {
                self.take_inactive_segments();
            }
        }
    }

    pub fn take_inactive_segments(&mut self) -> Option<Segments> {
        let taken = self.rare.as_mut().and_then(|r| r.inactive_segments.take()).map(|s| *s);
        self.tidy();
        taken
    }

    /// Drops the box once nothing is left in it.
    fn tidy(&mut self) {
        if self.rare.as_ref().is_some_and(|r| r.is_empty()) {
            self.rare = None;
        }
    }
}

fn widen(slot: u16) -> SegmentId {
    if slot == INLINE_NONE {
        NO_SEGMENT
    } else {
        SegmentId::from(slot)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn members(c: &Customer) -> Vec<SegmentId> {
        c.member_of().collect()
    }

    #[test]
    fn inline_segments_and_their_overflow_read_the_same() {
        let mut c = Customer::new(0, 2, false);
        assert_eq!(members(&c), vec![0]);
        c.set_segment(1, 7);
        c.set_segment(0, 3);
        assert_eq!(members(&c), vec![0, 3, 7]);
        assert!(c.rare.is_none());
        // An id that does not fit 16 bits moves every slot to the box, unchanged.
        c.set_segment(0, 70_000);
        assert_eq!(members(&c), vec![0, 70_000, 7]);
        assert_eq!((c.segment(0), c.segment(1), c.segment(2)), (70_000, 7, NO_SEGMENT));
        c.set_segment(1, NO_SEGMENT);
        assert_eq!(members(&c), vec![0, 70_000]);
        let segments: Vec<SegmentId> = c.segments().into_iter().filter(|s| *s != NO_SEGMENT).collect();
        assert_eq!(segments, vec![70_000]);
    }

    #[test]
    fn more_dimensions_than_inline_slots() {
        let mut c = Customer::new(0, 6, true);
        c.set_segment(5, 11);
        c.set_segment(0, 1);
        assert_eq!(members(&c), vec![0, 1, 11]);
        assert_eq!(c.segments().len(), 6);
    }

    #[test]
    fn rare_parts_are_dropped_once_empty() {
        let mut c = Customer::new(0, 2, false);
        c.push_live_change(10, -1);
        c.set_inactive_segments(Some(c.segments()));
        assert_eq!(c.live_changes(), &[(10, -1)]);
        c.prune_live_changes(10);
        assert!(c.live_changes().is_empty() && c.inactive_segments().is_some());
        assert!(c.take_inactive_segments().is_some());
        assert!(c.rare.is_none());
    }

    #[test]
    fn segments_read_like_a_plain_vector_whatever_the_ids() {
        use rand::{Rng, SeedableRng};
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(11);
        for _ in 0..500 {
            let dims = rng.gen_range(1..7);
            let mut c = Customer::new(0, dims, false);
            let mut model = vec![NO_SEGMENT; dims];
            for _ in 0..rng.gen_range(0..12) {
                let dim = rng.gen_range(0..dims);
                let segment = match rng.gen_range(0..4) {
                    0 => NO_SEGMENT,
                    1 => rng.gen_range(65_530..65_540),
                    _ => rng.gen_range(1..300),
                };
                c.set_segment(dim, segment);
                model[dim] = segment;
                let expected: Vec<SegmentId> =
                    std::iter::once(0).chain(model.iter().copied().filter(|s| *s != NO_SEGMENT)).collect();
                assert_eq!(members(&c), expected);
                assert!((0..dims).all(|d| c.segment(d) == model[d]));
                let slots: Vec<SegmentId> = c.segments().into_iter().filter(|s| *s != NO_SEGMENT).collect();
                assert_eq!(slots, expected[1..]);
            }
        }
    }

    #[test]
    fn stays_small() {
        assert!(std::mem::size_of::<Customer>() <= 72, "{}", std::mem::size_of::<Customer>());
    }
}
