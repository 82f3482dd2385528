//! One input partition's engine: its stream clock, customers, de-duplication, tickets and
//! inactivity index. Replay drives one of these; the service one per assigned partition.

use std::sync::Arc;

use compact_str::CompactString;
use fnv::FnvHashSet;

use super::context::PartitionContext;
use super::settings::Settings;
use super::view::PartitionView;
use crate::alert::Effect;
use crate::detect::transitions::ChurnReason;
use crate::event::{Event, Interaction, Millis, Payload};
use crate::state::catalog::ALL;
use crate::state::customer::{Customer, CustomerState, NEVER, NO_SEGMENT};
use crate::state::customer_id::{IdHasher, IdKey};
use crate::state::holdout::is_holdout;
use crate::state::inactivity_index::{hour_of, NOT_FILED};
use crate::state::{CustomerIndex, CustomerStore, Deduplicator, InactivityIndex, SegmentCatalog, TicketBook};
use crate::window::BucketAggregate;

/// What happened to an accepted-for-processing event (SPEC §4 `cxpulse_events_total{outcome}`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Accepted,
    Duplicate,
    /// Applied to customer state, but outside every window.
    Late,
    /// Not applied: a new customer while the partition tracks `limits.max_customers` already.
    /// The caller dead-letters it (reason `customer_limit`), so nothing is lost silently.
    CustomerLimit,
}

impl Outcome {
    pub fn label(self) -> &'static str {
        match self {
            Outcome::Accepted => "accepted",
            Outcome::Duplicate => "duplicate",
            Outcome::Late => "late",
            Outcome::CustomerLimit => "customer_limit",
        }
    }
}

/// Called when the clock reaches a bucket boundary of a rule's window, after the transitions due
/// by then and before anything later, with the partition's state as it stands at the boundary
/// (`detect::boundaries` takes its snapshot from it). The partition's published clock still reads
/// before `at` during the call: a reader that sees the clock at or past `at` knows the snapshot
/// was taken.
pub trait BoundaryHook {
    fn at_boundary(&mut self, at: Millis, partition: &PartitionContext, effects: &mut Vec<Effect>);
}

/// A hook that does nothing (no rules, or rules evaluated elsewhere).
pub struct NoBoundaries;

impl BoundaryHook for NoBoundaries {
    fn at_boundary(&mut self, _: Millis, _: &PartitionContext, _: &mut Vec<Effect>) {}
}

pub struct Partition {
    pub(super) ctx: PartitionContext,
    /// Only this partition's task reaches its customers (through `&mut self`), so they need no
    /// concurrent map; see `state::customer_store` for why a plain table is used and what it costs.
    pub(super) customers: CustomerStore,
    pub(super) index: InactivityIndex,
    pub(super) dedup: Deduplicator,
    pub(super) tickets: TicketBook,
    pub(super) clock: Millis,
    boundaries: Vec<i64>,
    /// Latest time anything was added to a window (an event or a transition).
    pub(super) last_change: Millis,
    /// After `last_change + quiet_span` every rule reads the same until something changes.
    quiet_span: i64,
    /// Customers changed since the last checkpoint took them; `None` when not checkpointed.
    pub(super) dirty: Option<FnvHashSet<CustomerIndex>>,
    /// Whether reaching `max_customers` has been logged (once per partition).
    limit_logged: bool,
}

impl Partition {
    pub fn new(settings: Arc<Settings>, catalog: Arc<SegmentCatalog>, view: Arc<PartitionView>) -> Self {
        let boundaries = settings.rule_boundaries();
        let quiet_span = settings
            .rules
            .iter()
            .map(|r| settings.windows[r.window].size_ms + settings.windows[r.window].bucket_ms)
            .max()
            .unwrap_or(0);
        Partition {
            last_change: NEVER,
            quiet_span,
            dedup: Deduplicator::new(settings.dedup_window, settings.dedup_max_entries),
            tickets: TicketBook::new(settings.ticket_retention),
            ctx: PartitionContext { settings, catalog, view },
            customers: CustomerStore::default(),
            index: InactivityIndex::default(),
            clock: NEVER,
            boundaries,
            dirty: None,
            limit_logged: false,
        }
    }

    pub fn clock(&self) -> Millis {
        self.clock
    }

    pub fn view(&self) -> &Arc<PartitionView> {
        &self.ctx.view
    }

    pub fn customer_count(&self) -> usize {
        self.customers.len()
    }

    /// Whether `apply` may refuse a new customer (`Outcome::CustomerLimit`) within the next
    /// `events` events.
    pub fn near_customer_limit(&self, events: usize) -> bool {
        let tracked = usize::try_from(self.ctx.view.tracked_customers()).unwrap_or(0);
        tracked + events >= self.ctx.settings.max_customers
            || self.customers.len() + events >= CustomerIndex::MAX as usize
    }

    /// The hasher customer look-ups use: a clone gives [`apply_hashed`](Self::apply_hashed) its
    /// hashes from another thread.
    pub fn id_hasher(&self) -> IdHasher {
        self.customers.hasher().clone()
    }

    /// Asks for the cache line of the table slot a look-up with `hash` starts at
    /// ([`look_ahead`](super::look_ahead)).
    pub fn prefetch_slot(&self, hash: u64) {
        self.customers.prefetch_slot(hash);
    }

    /// Asks for the record of the customer whose slot carries `hash`.
    pub fn prefetch_record(&self, hash: u64) {
        self.customers.prefetch_record(hash);
    }

    /// Applies one valid event: transitions made due by its time first, then the event.
    pub fn apply(&mut self, event: &Event, effects: &mut Vec<Effect>, hook: &mut dyn BoundaryHook) -> Outcome {
        let hash = self.customers.hasher().customer(&event.customer_id);
        self.apply_hashed(event, hash, effects, hook)
    }

    /// [`apply`](Self::apply) with the customer id's hash already computed by a clone of
    /// [`id_hasher`](Self::id_hasher).
    pub fn apply_hashed(
        &mut self,
        event: &Event,
        customer_hash: u64,
        effects: &mut Vec<Effect>,
        hook: &mut dyn BoundaryHook,
    ) -> Outcome {
        let key = IdKey::from(&event.customer_id);
        debug_assert_eq!(customer_hash, self.customers.hasher().key(&key), "a hash from another hasher");
        // The tracked count is one atomic load; the map is consulted only once the limit is reached.
        let tracked = usize::try_from(self.ctx.view.tracked_customers()).unwrap_or(0);
        let full = tracked >= self.ctx.settings.max_customers || self.customers.len() >= CustomerIndex::MAX as usize;
        if full && self.customers.find_hashed(key, customer_hash).is_none() {
            if !self.limit_logged {
                self.limit_logged = true;
                tracing::warn!(
                    max_customers = self.ctx.settings.max_customers,
                    "a partition reached limits.max_customers: events of customers it does not track yet are dead-lettered (customer_limit)"
                );
            }
            return Outcome::CustomerLimit;
        }
        let now = self.clock.max(event.ts);
        // Remembered at `now` at once: `advance_to` below moves the clock to exactly `now`.
        if let Some(id) = &event.event_id {
            if self.dedup.check_and_remember(id, now, self.clock) {
                return Outcome::Duplicate;
            }
        }
        self.advance_to(event.ts, effects, hook);
        self.tickets.expire(self.clock);
        let late = !self.ctx.settings.fits_some_window(event.ts, self.clock);
        self.apply_to_customer(event, key, customer_hash, effects);
        self.last_change = self.clock;
        if late {
            Outcome::Late
        } else {
            Outcome::Accepted
        }
    }

    /// Moves the clock forward to `to` (never back), running every transition and rule boundary
    /// that comes due on the way, in time order.
    pub fn advance_to(&mut self, to: Millis, effects: &mut Vec<Effect>, hook: &mut dyn BoundaryHook) {
        if to <= self.clock {
            return;
        }
        if self.clock != NEVER {
            while let Some(stop) = self.next_boundary().filter(|b| *b <= to) {
                if stop > self.last_change.saturating_add(self.quiet_span) {
                    // Every window has emptied since the last change: until the next transition can
                    // come due, each boundary would read exactly what the previous one read.
                    let resume = to.min(self.index.earliest_possible().unwrap_or(to));
                    if resume > stop {
                        self.set_clock(resume - 1);
                        continue;
                    }
                }
                self.run_due(stop, effects);
                hook.at_boundary(stop, &self.ctx, effects);
                self.set_clock(stop);
            }
        }
        self.run_due(to, effects);
        self.set_clock(to);
    }

    pub(super) fn set_clock(&mut self, clock: Millis) {
        self.clock = clock;
        self.ctx.view.set_clock(clock);
    }

    fn next_boundary(&self) -> Option<Millis> {
        self.boundaries.iter().map(|b| (self.clock.div_euclid(*b) + 1) * b).min()
    }

    /// Runs the transitions due at or before `until`, earliest first (ties by customer id).
    fn run_due(&mut self, until: Millis, effects: &mut Vec<Effect>) {
        while let Some((hour, due)) = self.index.take_reached_hour(until) {
            for index in due {
                let Some(customer) = self.customers.get(index) else { continue };
                if customer.filed_bucket == hour {
                    if let Some(deadline) = self.ctx.deadline(customer) {
                        let Some(id) = self.customers.id(index) else { continue };
                        self.index.push_due(deadline, CompactString::from(id.as_str()), index);
                    }
                }
            }
        }
        self.index.reach(until);
        while let Some((at, id, index)) = self.index.pop_due(until) {
            let Some(customer) = self.customers.get_mut(index) else { continue };
            if customer.filed_bucket != hour_of(at) {
                continue; // re-filed by later activity
            }
            match self.ctx.deadline(customer) {
                Some(deadline) if deadline == at => {}
                Some(deadline) => {
                    customer.filed_bucket = NOT_FILED;
                    self.index.file(index, &id, deadline, &mut customer.filed_bucket);
                    continue;
                }
                None => continue,
            }
            match customer.state {
                CustomerState::Active => self.ctx.go_inactive(&id, customer, at, effects),
                CustomerState::Inactive => self.ctx.churn(&id, customer, at, ChurnReason::Inactivity, effects),
                CustomerState::Churned => continue,
            }
            self.last_change = self.last_change.max(at);
            if let Some(dirty) = &mut self.dirty {
                dirty.insert(index);
            }
            customer.filed_bucket = NOT_FILED;
            if let Some(next) = self.ctx.deadline(customer) {
                self.index.file(index, &id, next, &mut customer.filed_bucket);
            }
        }
    }

    fn apply_to_customer(&mut self, event: &Event, key: IdKey<'_>, hash: u64, effects: &mut Vec<Effect>) {
        let ctx = &self.ctx;
        let id = &event.customer_id;
        let ts = event.ts;
        let index = match self.customers.find_hashed(key, hash) {
            Some(index) => index,
            None => {
                let holdout = is_holdout(&ctx.settings.salt, id, ctx.settings.holdout_percent);
                let mut customer = Customer::new(ts, ctx.settings.dimensions.len(), holdout);
                ctx.contribute(ALL, &mut customer, 1, self.clock);
                let Some(index) = self.customers.insert_new_hashed(key, hash, customer) else { return };
                ctx.view.add_tracked(1);
                index
            }
        };
        if let Some(dirty) = &mut self.dirty {
            dirty.insert(index);
        }
        let Some(customer) = self.customers.get_mut(index) else { return };
        if ts < customer.first_seen {
            ctx.move_first_seen(customer, ts);
        }
        apply_segments(ctx, self.clock, event, customer);
        apply_payload(ctx, &mut self.tickets, event, customer, effects);
        if let Some(deadline) = ctx.deadline(customer) {
            self.index.file(index, id, deadline, &mut customer.filed_bucket);
        } else {
            customer.filed_bucket = NOT_FILED;
        }
    }
}

/// Last writer wins per configured dimension; the customer's contributions move with it.
fn apply_segments(ctx: &PartitionContext, clock: Millis, event: &Event, customer: &mut Customer) {
    for (key, value) in &event.segments {
        let Some(dim) = ctx.catalog.dimension_index(key) else { continue };
        let segment = ctx.catalog.intern(dim, value);
        let old = customer.segment(dim);
        if old == segment {
            continue;
        }
        ctx.before_segments_change(customer, clock);
        if old != NO_SEGMENT {
            ctx.contribute(old, customer, -1, clock);
        }
        customer.set_segment(dim, segment);
        ctx.contribute(segment, customer, 1, clock);
    }
}

/// The event's own effects: activity, windowed counts, tickets, cancellation.
fn apply_payload(
    ctx: &PartitionContext,
    tickets: &mut TicketBook,
    event: &Event,
    customer: &mut Customer,
    effects: &mut Vec<Effect>,
) {
    let (id, ts) = (event.customer_id.as_str(), event.ts);
    // Last activity moves from one bucket to another: `moved_from` loses the customer.
    let mut moved_from = None;
    let mut became_active = 0;
    if event.is_activity() {
        if customer.state != CustomerState::Active {
            ctx.reactivate(id, customer, ts, effects);
        }
        if ts > customer.last_activity {
            moved_from = (customer.last_activity != NEVER).then_some(customer.last_activity);
            became_active = 1;
            customer.last_activity = ts;
        }
    }
    let ticket_seconds = match &event.payload {
        Payload::Interaction(Interaction::SupportOpened { ticket_id }) => {
            tickets.opened(id, ticket_id, ts);
            None
        }
        Payload::Interaction(Interaction::SupportFirstResponse { ticket_id }) => {
            tickets.first_response(id, ticket_id, ts).map(|s| (s, false))
        }
        Payload::Interaction(Interaction::SupportResolved { ticket_id }) => {
            tickets.resolved(id, ticket_id, ts).map(|s| (s, true))
        }
        _ => None,
    };
    let purchase = match event.payload {
        Payload::Interaction(Interaction::Purchase { amount }) => amount,
        _ => 0.0,
    };
    customer.lifetime_revenue += purchase;
    // One pass over the customer's segments, each partial looked up once.
    ctx.with_member_partials(customer, |partial| {
        partial.lifetime_revenue += purchase;
        partial.update_moved(
            moved_from,
            ts,
            |a| a.active -= 1,
            |a| {
                a.active += became_active;
                count_event(a, &event.payload, ticket_seconds);
            },
        );
    });
    if matches!(event.payload, Payload::Interaction(Interaction::Cancellation))
        && customer.state != CustomerState::Churned
    {
        ctx.churn(id, customer, ts, ChurnReason::Cancellation, effects);
    }
}

/// Adds one event to a bucket; `ticket_seconds` is a measured (seconds, is_resolution).
fn count_event(a: &mut BucketAggregate, payload: &Payload, ticket_seconds: Option<(f64, bool)>) {
    match payload {
        Payload::Survey(s) => a.add_survey(s.survey, s.score),
        Payload::Interaction(interaction) => {
            a.interactions[interaction.kind().index()] += 1;
            match interaction {
                Interaction::Purchase { amount } => {
                    a.revenue += amount;
                    a.revenue_sq += amount * amount;
                }
                Interaction::Session { duration_seconds } => a.sessions.add(*duration_seconds, 1),
                _ => {}
            }
        }
    }
    match ticket_seconds {
        Some((seconds, true)) => a.resolution.add(seconds, 1),
        Some((seconds, false)) => a.first_response.add(seconds, 1),
        None => {}
    }
}
