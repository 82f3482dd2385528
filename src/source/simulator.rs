//! Realistic synthetic customer events, for `cxpulse simulate` and the live demo stream.
//!
//! Every customer is a small state machine driven by its own ChaCha8 stream derived from
//! `(seed, customer index)`, so what a customer does never depends on how the customers interleave.
//! A min-heap keyed by each customer's next event time merges them into one stream sorted by `ts`.
//! Only the events of a customer's current visit (and its open tickets) are held in memory, and a
//! customer's state is created at sign-up and dropped once it can emit nothing more, so memory
//! depends on the number of customers, not on the number of events.
//!
//! Realism knobs (all constants below): segment mix, diurnal activity, visits made of
//! login/page views/session, plan-dependent purchases, support tickets with agent follow-ups,
//! surveys that follow a per-customer satisfaction, lifecycles (loyal, fading, silent then
//! returning, cancelling), plan changes, ~0.3 % exact duplicates and ~0.05 % malformed lines.

use std::cmp::{Ordering, Reverse};
use std::collections::BinaryHeap;
use std::io::{self, Write};

use chrono::{DateTime, FixedOffset, SecondsFormat, Utc};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::Serialize;

const SECOND_MS: i64 = 1_000;
const MINUTE_MS: i64 = 60_000;
const HOUR_MS: i64 = 3_600_000;
const DAY_MS: i64 = 86_400_000;

/// Share of customers that already exist on day 0; the others sign up uniformly over the period.
const EXISTING_AT_START: f64 = 0.35;
/// A rendered event is re-emitted verbatim with this probability (an at-least-once producer retry).
const DUPLICATE_P: f64 = 0.003;
/// A rendered event is followed by a malformed line with this probability (dead-letter path).
const MALFORMED_P: f64 = 0.0005;
/// A later event repeats the customer's segments with this probability (producers are sloppy).
const SEGMENTS_P: f64 = 0.10;
/// Share of customers that change plan once during their life.
const PLAN_CHANGE_P: f64 = 0.04;
/// Timestamp encodings: integer epoch ms below the first bound, `Z` below the second, else offset.
const TS_EPOCH_P: f64 = 0.20;
const TS_UTC_P: f64 = 0.75;
/// Per visit: an unknown interaction kind (~1 % of events), so the `other` bucket is exercised.
const FEATURE_USED_P: f64 = 0.06;
/// Per visit: an NPS survey answer.
const NPS_P: f64 = 0.015;
/// Mean length of an uninterrupted active phase for a neutral customer on a reference plan.
const ACTIVE_MEAN_DAYS: f64 = 330.0;
/// At the end of an active phase: share that stops abruptly instead of fading out.
const SUDDEN_STOP_P: f64 = 0.25;
/// After fading out: share that comes back after a quiet period (a reactivation).
const RETURN_P: f64 = 0.5;

/// Relative visit intensity per local hour; the mean is 1 so `visits_per_day` keeps its meaning.
const DIURNAL: [f64; 24] = [
    0.35, 0.2, 0.15, 0.1, 0.1, 0.15, 0.35, 0.7, 1.1, 1.4, 1.6, 1.6, 1.35, 1.45, 1.6, 1.6, 1.45,
    1.35, 1.3, 1.4, 1.55, 1.45, 1.1, 0.6,
];
const DIURNAL_MAX: f64 = 1.6;

/// What to simulate. `start_ms` is epoch ms of day 0; the stream covers `[start, start + days)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SimulationOptions {
    pub customers: u64,
    pub days: u32,
    pub seed: u64,
    pub start_ms: i64,
}

impl SimulationOptions {
    /// 2026-01-01T00:00:00Z, the CLI's default day 0.
    pub const DEFAULT_START_MS: i64 = 1_767_225_600_000;
}

/// One line of output. `ts_ms` is the time the line is emitted at (the event's own `ts` for every
/// line whose `ts` can be parsed), so consumers can pace a live stream by it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SimulatedEvent {
    pub ts_ms: i64,
    pub customer_id: String,
    /// The full JSON object text, one line, without the newline.
    pub json: String,
}

/// The merged, time-ordered stream of all customers' events.
pub struct Simulator {
    opts: SimulationOptions,
    end_ms: i64,
    /// `(next event ts, customer index)`; ties go to the lower index, which keeps runs reproducible.
    heap: BinaryHeap<Reverse<(i64, u64)>>,
    /// `None` before sign-up and after the customer can emit nothing more.
    customers: Vec<Option<Box<Customer>>>,
}

impl Simulator {
    /// Prepares the stream; customers are only materialised when they sign up.
    pub fn new(opts: SimulationOptions) -> Self {
        let end_ms = opts.start_ms + i64::from(opts.days) * DAY_MS;
        let heap: BinaryHeap<_> = (0..opts.customers)
            .map(|idx| Reverse((join_ms(&opts, end_ms, idx), idx)))
            .collect();
        let customers = (0..opts.customers).map(|_| None).collect();
        Simulator {
            opts,
            end_ms,
            heap,
            customers,
        }
    }
}

impl Iterator for Simulator {
    type Item = SimulatedEvent;

    fn next(&mut self) -> Option<SimulatedEvent> {
        loop {
            let Reverse((ts, idx)) = self.heap.pop()?;
            if ts >= self.end_ms {
                self.heap.clear();
                return None;
            }
            let slot = &mut self.customers[idx as usize];
            let customer = match slot {
                Some(customer) => customer,
                None => {
                    // Sign-up: the customer's first event may be later than its join time.
                    let customer = Customer::new(&self.opts, self.end_ms, idx, ts);
                    if let Some(next) = customer.peek_ts() {
                        self.heap.push(Reverse((next, idx)));
                        *slot = Some(Box::new(customer));
                    }
                    continue;
                }
            };
            let Some((ts_ms, json)) = customer.next_event() else {
                *slot = None;
                continue;
            };
            let customer_id = customer.id.clone();
            match customer.peek_ts() {
                Some(next) if next < self.end_ms => self.heap.push(Reverse((next, idx))),
                _ => *slot = None,
            }
            return Some(SimulatedEvent {
                ts_ms,
                customer_id,
                json,
            });
        }
    }
}

/// Writes the whole simulation as JSONL (one event per line); returns the number of lines.
pub fn write_jsonl(opts: SimulationOptions, out: &mut dyn Write) -> io::Result<u64> {
    let mut out = io::BufWriter::with_capacity(1 << 16, out);
    let mut written = 0u64;
    for event in Simulator::new(opts) {
        out.write_all(event.json.as_bytes())?;
        out.write_all(b"\n")?;
        written += 1;
    }
    out.flush()?;
    Ok(written)
}

/// Sign-up time of a customer: exactly day 0 for existing customers, later for new sign-ups. It has
/// its own stream so the heap can be filled without building every customer up front.
fn join_ms(opts: &SimulationOptions, end_ms: i64, idx: u64) -> i64 {
    let mut rng = ChaCha8Rng::seed_from_u64(opts.seed ^ 0x6a09_e667_f3bc_c908);
    rng.set_stream(idx);
    if end_ms <= opts.start_ms + 1 || rng.gen_bool(EXISTING_AT_START) {
        opts.start_ms
    } else {
        rng.gen_range(opts.start_ms + 1..end_ms)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Plan {
    Free,
    Starter,
    Pro,
    Enterprise,
}

impl Plan {
    fn draw(rng: &mut ChaCha8Rng) -> Plan {
        match rng.gen::<f64>() {
            u if u < 0.50 => Plan::Free,
            u if u < 0.75 => Plan::Starter,
            u if u < 0.93 => Plan::Pro,
            _ => Plan::Enterprise,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Plan::Free => "free",
            Plan::Starter => "starter",
            Plan::Pro => "pro",
            Plan::Enterprise => "enterprise",
        }
    }

    /// `(purchase probability per visit, median amount)`: paying plans buy more and bigger.
    fn purchases(self) -> (f64, f64) {
        match self {
            Plan::Free => (0.015, 12.0),
            Plan::Starter => (0.04, 29.0),
            Plan::Pro => (0.06, 99.0),
            Plan::Enterprise => (0.08, 850.0),
        }
    }

    /// `(active phase length multiplier, cancellation share at the end of a phase)`:
    /// enterprise customers are stickier and rarely cancel outright.
    fn loyalty(self) -> (f64, f64) {
        match self {
            Plan::Free => (0.7, 0.18),
            Plan::Starter => (1.0, 0.2),
            Plan::Pro => (1.5, 0.16),
            Plan::Enterprise => (3.0, 0.05),
        }
    }

    /// The plan after a one-off change: mostly upgrades, downgrades otherwise.
    fn changed(self, upgrade: bool) -> Plan {
        match (self, upgrade) {
            (Plan::Free, _) | (Plan::Pro, false) => Plan::Starter,
            (Plan::Starter, true) | (Plan::Enterprise, _) => Plan::Pro,
            (Plan::Starter, false) => Plan::Free,
            (Plan::Pro, true) => Plan::Enterprise,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Region {
    Eu,
    Na,
    Apac,
    Latam,
}

impl Region {
    fn draw(rng: &mut ChaCha8Rng) -> Region {
        match rng.gen::<f64>() {
            u if u < 0.35 => Region::Eu,
            u if u < 0.70 => Region::Na,
            u if u < 0.90 => Region::Apac,
            _ => Region::Latam,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Region::Eu => "eu",
            Region::Na => "na",
            Region::Apac => "apac",
            Region::Latam => "latam",
        }
    }

    /// UTC offset of the region's typical client, in seconds: drives both the diurnal pattern and
    /// the offset written in RFC 3339 timestamps.
    fn offset_secs(self) -> i32 {
        match self {
            Region::Eu => 3_600,
            Region::Na => -5 * 3_600,
            Region::Apac => 9 * 3_600,
            Region::Latam => -3 * 3_600,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SurveyKind {
    Nps,
    Csat,
    Ces,
}

impl SurveyKind {
    fn name(self) -> &'static str {
        match self {
            SurveyKind::Nps => "nps",
            SurveyKind::Csat => "csat",
            SurveyKind::Ces => "ces",
        }
    }
}

/// Something a customer (or an agent on its ticket) will do at a planned time.
#[derive(Debug, Clone, PartialEq)]
enum What {
    Login,
    PageView,
    FeatureUsed,
    Session(f64),
    Purchase(f64),
    SupportOpened(u64),
    SupportFirstResponse(u64),
    SupportResolved(u64),
    Cancellation,
    Survey(SurveyKind, u8),
    /// A line rendered earlier (duplicate) or a malformed line, emitted as is.
    Raw(String),
}

impl What {
    fn kind(&self) -> Option<&'static str> {
        Some(match self {
            What::Login => "login",
            What::PageView => "page_view",
            What::FeatureUsed => "feature_used",
            What::Session(_) => "session",
            What::Purchase(_) => "purchase",
            What::SupportOpened(_) => "support_opened",
            What::SupportFirstResponse(_) => "support_first_response",
            What::SupportResolved(_) => "support_resolved",
            What::Cancellation => "cancellation",
            What::Survey(..) | What::Raw(_) => return None,
        })
    }

    fn ticket(&self) -> Option<u64> {
        match self {
            What::SupportOpened(n) | What::SupportFirstResponse(n) | What::SupportResolved(n) => {
                Some(*n)
            }
            _ => None,
        }
    }
}

/// A planned event; ordered by `(ts, seq)` so a customer's events keep their planning order on ties.
#[derive(Debug)]
struct Planned {
    ts: i64,
    seq: u64,
    what: What,
}

impl PartialEq for Planned {
    fn eq(&self, other: &Self) -> bool {
        (self.ts, self.seq) == (other.ts, other.seq)
    }
}

impl Eq for Planned {}

impl PartialOrd for Planned {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Planned {
    fn cmp(&self, other: &Self) -> Ordering {
        (self.ts, self.seq).cmp(&(other.ts, other.seq))
    }
}

/// Where a customer is in its life; decides the visit rate.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Phase {
    /// Normal activity until `until`.
    Active { until: i64 },
    /// Visit rate halves every `half_life` from `since`; silence from `until`.
    Fading {
        since: i64,
        half_life: i64,
        until: i64,
    },
    /// No activity until `until`, then the customer comes back.
    Silent { until: i64 },
    /// Cancelled or left for good.
    Gone,
}

/// `ts` as written in the JSON: RFC 3339 text or integer epoch milliseconds.
#[derive(Serialize)]
#[serde(untagged)]
enum TsField {
    Text(String),
    Millis(i64),
}

#[derive(Serialize)]
struct SegmentsField {
    plan: &'static str,
    region: &'static str,
}

/// The wire shape of an event (SPEC §1); `None` fields are left out.
#[derive(Serialize)]
struct Line<'a> {
    #[serde(rename = "type")]
    kind_of: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    customer_id: Option<&'a str>,
    ts: TsField,
    event_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    segments: Option<SegmentsField>,
    #[serde(skip_serializing_if = "Option::is_none")]
    kind: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    duration_seconds: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    amount: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    ticket_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    survey: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    score: Option<u8>,
}

impl Line<'_> {
    fn to_json(&self) -> String {
        serde_json::to_string(self).expect("an event line has only string keys")
    }
}

/// One customer's state machine. Its events come out in time order: visits are expanded into
/// `pending` as soon as they are due, so the top of `pending` is always the next event.
struct Customer {
    id: String,
    rng: ChaCha8Rng,
    end_ms: i64,
    plan: Plan,
    region: Region,
    visits_per_day: f64,
    /// 0 (miserable) to 1 (delighted): drives survey scores, phase lengths and cancellations.
    satisfaction: f64,
    phase: Phase,
    next_visit: Option<i64>,
    pending: BinaryHeap<Reverse<Planned>>,
    seq: u64,
    events: u64,
    tickets: u64,
    segments_sent: bool,
    force_segments: bool,
    plan_change: Option<(i64, Plan)>,
    /// A support ticket was resolved at this time; the next visit after it may answer CSAT/CES.
    survey_after: Option<i64>,
}

impl Customer {
    /// Draws the customer's profile and its first visit: at sign-up for new customers, or at a
    /// random moment after day 0 for those who already existed.
    fn new(opts: &SimulationOptions, end_ms: i64, idx: u64, join: i64) -> Self {
        let mut rng = ChaCha8Rng::seed_from_u64(opts.seed);
        rng.set_stream(idx);
        let plan = Plan::draw(&mut rng);
        let region = Region::draw(&mut rng);
        let visits_per_day = lognormal(&mut rng, 0.4, 0.9).clamp(0.03, 20.0);
        let satisfaction = (0.7 + 0.18 * normal(&mut rng)).clamp(0.02, 1.0);
        let plan_change = rng.gen_bool(PLAN_CHANGE_P).then(|| {
            let at = join + ((end_ms - join) as f64 * rng.gen_range(0.1..0.9)) as i64;
            (at, plan.changed(rng.gen_bool(0.65)))
        });
        let mut customer = Customer {
            id: format!("c-{idx:06}"),
            rng,
            end_ms,
            plan,
            region,
            visits_per_day,
            satisfaction,
            phase: Phase::Gone,
            next_visit: None,
            pending: BinaryHeap::new(),
            seq: 0,
            events: 0,
            tickets: 0,
            segments_sent: false,
            force_segments: false,
            plan_change,
            survey_after: None,
        };
        customer.phase = Phase::Active {
            until: join + customer.active_phase_ms(),
        };
        customer.next_visit = if join == opts.start_ms {
            customer.draw_next_visit(join)
        } else {
            Some(join)
        };
        customer.settle();
        customer
    }

    /// Time of the customer's next event, if any.
    fn peek_ts(&self) -> Option<i64> {
        self.pending.peek().map(|Reverse(p)| p.ts)
    }

    /// Emits the customer's next event as `(ts, JSON line)`.
    fn next_event(&mut self) -> Option<(i64, String)> {
        let Reverse(planned) = self.pending.pop()?;
        let line = match planned.what {
            What::Raw(line) => line,
            what => self.render(planned.ts, &what),
        };
        self.settle();
        Some((planned.ts, line))
    }

    /// Expands every visit that is due no later than the earliest pending event, so that the top
    /// of `pending` is the true next event (a visit always emits an event at its start).
    fn settle(&mut self) {
        while let Some(visit) = self.next_visit {
            if self.peek_ts().is_some_and(|next| next < visit) {
                return;
            }
            let end = self.plan_visit(visit, false);
            self.next_visit = self.draw_next_visit(end);
        }
    }

    fn push(&mut self, ts: i64, what: What) {
        self.seq += 1;
        self.pending.push(Reverse(Planned {
            ts,
            seq: self.seq,
            what,
        }));
    }

    /// Length of an uninterrupted active phase: longer for happy customers and sticky plans.
    fn active_phase_ms(&mut self) -> i64 {
        let (stickiness, _) = self.plan.loyalty();
        let mean = ACTIVE_MEAN_DAYS * stickiness * (0.4 + 1.2 * self.satisfaction);
        let u: f64 = 1.0 - self.rng.gen::<f64>();
        ((-u.ln() * mean * DAY_MS as f64) as i64).max(DAY_MS)
    }

    /// Start of the next visit after `t`, by thinning a Poisson process whose rate follows the
    /// local hour and the lifecycle phase; walks through phase changes on the way.
    fn draw_next_visit(&mut self, mut t: i64) -> Option<i64> {
        while t < self.end_ms {
            let (until, decay) = match self.phase {
                Phase::Gone => return None,
                Phase::Silent { until } => {
                    t = t.max(until);
                    self.phase = Phase::Active {
                        until: t + self.active_phase_ms(),
                    };
                    continue;
                }
                Phase::Active { until } => (until, None),
                Phase::Fading {
                    since,
                    half_life,
                    until,
                } => (until, Some((since, half_life))),
            };
            let candidate = self.thinning_step(t, decay);
            match candidate {
                Ok(visit) if visit < until => return Some(visit),
                Err(next) if next < until => t = next,
                _ => {
                    t = until;
                    self.end_phase(until);
                }
            }
        }
        None
    }

    /// One thinning step from `t`: `Ok(candidate)` when accepted, `Err(candidate)` when rejected.
    /// The bound uses the lifecycle factor at `t`, valid since the factor never grows in a phase.
    fn thinning_step(&mut self, t: i64, decay: Option<(i64, i64)>) -> Result<i64, i64> {
        let factor = |at: i64| match decay {
            Some((since, half_life)) => 0.5f64.powf((at - since) as f64 / half_life as f64),
            None => 1.0,
        };
        let bound = self.visits_per_day * DIURNAL_MAX * factor(t) / DAY_MS as f64;
        let u: f64 = 1.0 - self.rng.gen::<f64>();
        let wait = (-u.ln() / bound).min(1e15) as i64;
        let candidate = t + wait.max(1);
        let accept = self.diurnal(candidate) / DIURNAL_MAX * factor(candidate) / factor(t);
        if self.rng.gen::<f64>() < accept {
            Ok(candidate)
        } else {
            Err(candidate)
        }
    }

    fn diurnal(&self, ts: i64) -> f64 {
        let local = ts + i64::from(self.region.offset_secs()) * SECOND_MS;
        DIURNAL[local.rem_euclid(DAY_MS).div_euclid(HOUR_MS) as usize]
    }

    /// Ends the current phase at `t`: an active phase ends in a cancellation, a sudden stop or a
    /// fade-out; a fade-out ends in silence followed by a return, or for good.
    fn end_phase(&mut self, t: i64) {
        match self.phase {
            Phase::Active { .. } => {
                let (_, cancel_share) = self.plan.loyalty();
                let u: f64 = self.rng.gen();
                let cancel = cancel_share * (1.6 - self.satisfaction);
                if u < cancel {
                    self.plan_visit(t, true);
                    self.phase = Phase::Gone;
                } else if u < cancel + SUDDEN_STOP_P {
                    self.phase = self.quiet_period(t);
                } else {
                    self.phase = Phase::Fading {
                        since: t,
                        half_life: self.rng.gen_range(2 * DAY_MS..7 * DAY_MS),
                        until: t + self.rng.gen_range(10 * DAY_MS..30 * DAY_MS),
                    };
                }
            }
            Phase::Fading { .. } => self.phase = self.quiet_period(t),
            Phase::Silent { .. } | Phase::Gone => {}
        }
    }

    /// Silence from `t`: either a return after 15–59 or 60–180 days, or gone for good.
    fn quiet_period(&mut self, t: i64) -> Phase {
        let return_p = if self.plan == Plan::Enterprise {
            0.75
        } else {
            RETURN_P
        };
        if !self.rng.gen_bool(return_p) {
            return Phase::Gone;
        }
        let days = if self.rng.gen_bool(0.5) {
            self.rng.gen_range(15..60)
        } else {
            self.rng.gen_range(60..180)
        };
        Phase::Silent {
            until: t + days * DAY_MS + self.rng.gen_range(0..DAY_MS),
        }
    }

    /// Plans a visit starting at `t` (login or page view first, more page views, maybe a purchase,
    /// ticket or survey, a session event at the end) and returns its end; a cancelling visit ends
    /// with the cancellation, after which the customer is gone.
    fn plan_visit(&mut self, t: i64, cancel: bool) -> i64 {
        let secs = lognormal(&mut self.rng, 240.0, 0.9).clamp(5.0, 4.0 * 3_600.0);
        let duration = (secs * 1_000.0) as i64;
        let end = t + duration;
        let opener = if cancel || !self.segments_sent || self.rng.gen_bool(0.75) {
            What::Login
        } else {
            What::PageView
        };
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
        let speed = if self.plan == Plan::Enterprise {
            0.4
        } else {
            1.0
        };
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

    /// Renders a planned event as its JSON line, and plans a duplicate or malformed echo of it.
    fn render(&mut self, ts: i64, what: &What) -> String {
        if let Some((at, plan)) = self.plan_change {
            if ts >= at {
                self.plan = plan;
                self.plan_change = None;
                self.force_segments = true;
            }
        }
        let with_segments =
            !self.segments_sent || self.force_segments || self.rng.gen_bool(SEGMENTS_P);
        self.segments_sent = true;
        self.force_segments = false;
        let ts_field = self.ts_field(ts);
        let event_id = self.next_event_id();
        let json = self.line(ts_field, event_id, what, with_segments).to_json();
        if self.rng.gen_bool(DUPLICATE_P) {
            self.push(ts, What::Raw(json.clone()));
        }
        if self.rng.gen_bool(MALFORMED_P) {
            let bad = self.malformed(ts, &json);
            self.push(ts, What::Raw(bad));
        }
        json
    }

    fn next_event_id(&mut self) -> String {
        self.events += 1;
        format!("e-{}-{}", &self.id[2..], self.events)
    }

    /// Producers disagree on timestamps: epoch ms, UTC `Z`, or the region's own offset.
    fn ts_field(&mut self, ts: i64) -> TsField {
        let u: f64 = self.rng.gen();
        let Some(utc) = DateTime::<Utc>::from_timestamp_millis(ts) else {
            return TsField::Millis(ts);
        };
        if u < TS_EPOCH_P {
            TsField::Millis(ts)
        } else if u < TS_UTC_P {
            TsField::Text(utc.to_rfc3339_opts(SecondsFormat::Millis, true))
        } else {
            let offset = FixedOffset::east_opt(self.region.offset_secs()).expect("valid offset");
            TsField::Text(
                utc.with_timezone(&offset)
                    .to_rfc3339_opts(SecondsFormat::Millis, false),
            )
        }
    }

    fn line(&self, ts: TsField, event_id: String, what: &What, segments: bool) -> Line<'_> {
        let (kind_of, survey, score) = match what {
            What::Survey(survey, score) => ("survey", Some(survey.name()), Some(*score)),
            _ => ("interaction", None, None),
        };
        Line {
            kind_of,
            customer_id: Some(&self.id),
            ts,
            event_id,
            segments: segments.then(|| SegmentsField {
                plan: self.plan.name(),
                region: self.region.name(),
            }),
            kind: what.kind(),
            duration_seconds: matches!(what, What::Session(_)).then(|| what.amount()),
            amount: matches!(what, What::Purchase(_)).then(|| what.amount()),
            ticket_id: what.ticket().map(|n| format!("t-{}-{}", &self.id[2..], n)),
            survey,
            score,
        }
    }

    /// A line the service must dead-letter: broken JSON, missing `customer_id`, negative amount,
    /// NPS 11 or an unknown `type`, in equal shares.
    fn malformed(&mut self, ts: i64, json: &str) -> String {
        let choice = self.rng.gen_range(0..5);
        if choice == 0 {
            let mut cut = json.len() / 2;
            while !json.is_char_boundary(cut) {
                cut -= 1;
            }
            return json[..cut].to_string();
        }
        let ts_field = self.ts_field(ts);
        let event_id = self.next_event_id();
        let what = match choice {
            2 => What::Purchase(-12.5),
            3 => What::Survey(SurveyKind::Nps, 11),
            _ => What::PageView,
        };
        let mut line = self.line(ts_field, event_id, &what, false);
        match choice {
            1 => line.customer_id = None,
            4 => line.kind_of = "clickstream",
            _ => {}
        }
        line.to_json()
    }
}

impl What {
    /// The number carried by a session (seconds) or purchase (amount).
    fn amount(&self) -> f64 {
        match self {
            What::Session(x) | What::Purchase(x) => *x,
            _ => 0.0,
        }
    }
}

/// A standard normal draw (Box–Muller); `rand_distr` is not a dependency.
fn normal(rng: &mut ChaCha8Rng) -> f64 {
    let u1: f64 = 1.0 - rng.gen::<f64>();
    let u2: f64 = rng.gen();
    (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
}

/// Log-normal draw given its median: right-skewed like session lengths, amounts and wait times.
fn lognormal(rng: &mut ChaCha8Rng, median: f64, sigma: f64) -> f64 {
    median * (sigma * normal(rng)).exp()
}

#[cfg(test)]
mod tests {
    use std::collections::{HashMap, HashSet};
    use std::sync::OnceLock;

    use serde_json::Value;

    use super::*;

    fn small() -> SimulationOptions {
        SimulationOptions {
            customers: 300,
            days: 200,
            seed: 7,
            start_ms: SimulationOptions::DEFAULT_START_MS,
        }
    }

    /// The small simulation, generated once and shared by the tests (debug builds are slow).
    fn events() -> &'static [SimulatedEvent] {
        static EVENTS: OnceLock<Vec<SimulatedEvent>> = OnceLock::new();
        EVENTS.get_or_init(|| Simulator::new(small()).collect())
    }

    fn parse_ts(value: &Value) -> Option<i64> {
        match value {
            Value::Number(n) => n.as_i64(),
            Value::String(s) => DateTime::parse_from_rfc3339(s)
                .ok()
                .map(|t| t.timestamp_millis()),
            _ => None,
        }
    }

    /// Every line parsed once (`None` for broken JSON), shared by the tests.
    fn parsed() -> &'static [Option<Value>] {
        static PARSED: OnceLock<Vec<Option<Value>>> = OnceLock::new();
        PARSED.get_or_init(|| {
            let parse = |e: &SimulatedEvent| serde_json::from_str(&e.json).ok();
            events().iter().map(parse).collect()
        })
    }

    /// Lines that are valid events per SPEC §1 (the checks the simulator's malformed lines break).
    fn valid() -> impl Iterator<Item = (i64, &'static Value)> {
        parsed().iter().flatten().filter_map(|v| {
            let ts = parse_ts(v.get("ts")?)?;
            v.get("customer_id")?.as_str()?;
            let type_ok = matches!(v["type"].as_str(), Some("interaction" | "survey"));
            let amount_ok = v.get("amount").is_none_or(|a| a.as_f64() >= Some(0.0));
            let nps_ok = v["survey"] != "nps" || v["score"].as_u64() <= Some(10);
            (type_ok && amount_ok && nps_ok).then_some((ts, v))
        })
    }

    fn is_activity(v: &Value) -> bool {
        let agent = ["support_first_response", "support_resolved", "cancellation"];
        v["type"] == "survey" || !agent.contains(&v["kind"].as_str().unwrap_or(""))
    }

    #[test]
    fn same_seed_same_bytes_other_seed_other_bytes() {
        let run = |customers, seed| {
            let mut out = Vec::new();
            let opts = SimulationOptions {
                customers,
                seed,
                ..small()
            };
            let written = write_jsonl(opts, &mut out).unwrap();
            assert_eq!(
                written as usize,
                out.iter().filter(|&&b| b == b'\n').count()
            );
            out
        };
        let first = run(100, 7);
        assert!(first == run(100, 7), "two runs differ");
        assert!(first != run(100, 8), "the seed makes no difference");
        // The iterator and the file writer agree, and customers do not depend on each other.
        let mut iterated = Vec::new();
        for e in events()
            .iter()
            .filter(|e| e.customer_id.as_str() < "c-000100")
        {
            iterated.extend_from_slice(e.json.as_bytes());
            iterated.push(b'\n');
        }
        assert!(
            first == iterated,
            "a customer's events depend on the others"
        );
    }

    #[test]
    fn sorted_by_ts_and_ts_matches_emission_time() {
        let mut last = i64::MIN;
        let mut unparsable = 0;
        for (e, v) in events().iter().zip(parsed()) {
            assert!(!e.json.contains('\n'));
            assert!(e.ts_ms >= last, "out of order: {}", e.json);
            last = e.ts_ms;
            let ts = v.as_ref().and_then(|v| v.get("ts").and_then(parse_ts));
            match ts {
                Some(ts) => assert_eq!(ts, e.ts_ms, "{}", e.json),
                None => unparsable += 1,
            }
        }
        assert!(unparsable < events().len() / 1000);
        let end = small().start_ms + 200 * DAY_MS;
        assert!(events()
            .iter()
            .all(|e| (small().start_ms..end).contains(&e.ts_ms)));
    }

    #[test]
    fn every_kind_survey_and_encoding_appears() {
        let mut seen = HashSet::new();
        let (mut epoch, mut utc, mut offset) = (0, 0, 0);
        for (_, v) in valid() {
            let what = v["kind"].as_str().or(v["survey"].as_str()).unwrap();
            seen.insert(what.to_string());
            match &v["ts"] {
                Value::Number(_) => epoch += 1,
                Value::String(s) if s.ends_with('Z') => utc += 1,
                _ => offset += 1,
            }
        }
        for kind in [
            "login",
            "page_view",
            "session",
            "purchase",
            "support_opened",
            "support_first_response",
            "support_resolved",
            "cancellation",
            "feature_used",
            "nps",
            "csat",
            "ces",
        ] {
            assert!(seen.contains(kind), "no {kind}");
        }
        let total = f64::from(epoch + utc + offset);
        assert!((0.15..0.25).contains(&(f64::from(epoch) / total)));
        assert!(utc > 0 && offset > 0);
    }

    #[test]
    fn duplicates_repeat_the_line_and_malformed_lines_exist() {
        let mut by_id: HashMap<String, &str> = HashMap::new();
        let mut duplicates = 0;
        let mut previous: Option<&SimulatedEvent> = None;
        for (e, v) in events().iter().zip(parsed()) {
            let Some(v) = v else {
                previous = Some(e);
                continue;
            };
            let id = v["event_id"].as_str().unwrap().to_string();
            if let Some(first) = by_id.insert(id, &e.json) {
                assert_eq!(first, e.json);
                assert_eq!(previous.map(|p| p.ts_ms), Some(e.ts_ms));
                duplicates += 1;
            }
            previous = Some(e);
        }
        let share = f64::from(duplicates) / events().len() as f64;
        assert!((0.002..0.004).contains(&share), "duplicate share {share}");
        let malformed = events().len() - valid().count();
        assert!(malformed > 10, "only {malformed} malformed lines");
    }

    #[test]
    fn segments_on_first_event_and_some_plans_change() {
        let mut plans: HashMap<String, HashSet<String>> = HashMap::new();
        for (_, v) in valid() {
            let id = v["customer_id"].as_str().unwrap().to_string();
            let first = !plans.contains_key(&id);
            let entry = plans.entry(id).or_default();
            match v["segments"]["plan"].as_str() {
                Some(plan) => {
                    entry.insert(plan.to_string());
                }
                None => assert!(!first, "first event without segments: {v}"),
            }
        }
        let changed = plans.values().filter(|p| p.len() > 1).count();
        assert!(changed > 0 && changed < 30, "{changed} plan changes");
    }

    #[test]
    fn lifecycles_include_gaps_returns_and_cancellations() {
        let mut activity: HashMap<String, Vec<i64>> = HashMap::new();
        let mut cancelled: HashMap<String, i64> = HashMap::new();
        for (ts, v) in valid() {
            let id = v["customer_id"].as_str().unwrap().to_string();
            if v["kind"] == "cancellation" {
                cancelled.insert(id, ts);
            } else if is_activity(v) {
                assert!(!cancelled.contains_key(&id), "activity after cancelling");
                activity.entry(id).or_default().push(ts);
            }
        }
        let gaps = |low: i64, high: i64| {
            let count = |ts: &Vec<i64>| ts.windows(2).any(|w| (low..high).contains(&(w[1] - w[0])));
            activity.values().filter(|ts| count(ts)).count()
        };
        let (medium, long) = (gaps(14 * DAY_MS, 60 * DAY_MS), gaps(60 * DAY_MS, i64::MAX));
        assert!(
            medium >= 5 && long >= 5,
            "returns after 14d: {medium}, 60d: {long}"
        );
        let share = cancelled.len() as f64 / activity.len() as f64;
        assert!((0.02..0.12).contains(&share), "cancelled share {share}");
    }

    #[test]
    fn diurnal_table_has_mean_one() {
        assert!((DIURNAL.iter().sum::<f64>() - 24.0).abs() < 1e-9);
        assert!(DIURNAL.iter().all(|&x| x <= DIURNAL_MAX));
    }

    /// Throughput and memory of a 20k × 365 run: `cargo test --release --lib simulator -- --ignored
    /// --nocapture`.
    #[test]
    #[ignore]
    fn throughput() {
        let opts = SimulationOptions {
            customers: 20_000,
            days: 365,
            seed: 1,
            start_ms: SimulationOptions::DEFAULT_START_MS,
        };
        let started = std::time::Instant::now();
        let written = write_jsonl(opts, &mut io::sink()).unwrap();
        let secs = started.elapsed().as_secs_f64();
        let peak = std::fs::read_to_string("/proc/self/status")
            .ok()
            .and_then(|s| {
                s.lines()
                    .find(|l| l.starts_with("VmHWM"))
                    .map(str::to_string)
            });
        println!(
            "{written} events in {secs:.1}s: {:.0} events/s, {peak:?}",
            written as f64 / secs
        );
        assert!(written >= 5_000_000);
    }
}
