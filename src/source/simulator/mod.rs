//! Realistic synthetic customer events, for `cxpulse simulate` and the live demo stream.
//!
//! Every customer is a small state machine driven by its own ChaCha8 stream derived from
//! `(seed, customer index)`, so what a customer does never depends on how the customers interleave.
//! A min-heap keyed by each customer's next event time merges them into one stream sorted by `ts`.
//! Only the events of a customer's current visit (and its open tickets) are held in memory, and a
//! customer's state is created at sign-up and dropped once it can emit nothing more, so memory
//! depends on the number of customers, not on the number of events.
//!
//! Realism knobs (the constants in `profile`): segment mix, diurnal activity, visits made of
//! login/page views/session, plan-dependent purchases, support tickets with agent follow-ups,
//! surveys that follow a per-customer satisfaction, lifecycles (loyal, fading, silent then
//! returning, cancelling), plan changes, ~0.3 % exact duplicates and ~0.05 % malformed lines.
//!
//! Layout: `profile` (plans, regions, survey kinds, realism constants and distributions),
//! `planned` (what a customer will do, queued by time), `customer` (the per-customer state
//! machine), `lifecycle` (active, fading, silent and gone phases), `visit` (what happens
//! during a visit: page views, purchases, tickets, surveys) and `line` (the JSON line: timestamp
//! forms, segments, duplicates and malformed lines).

mod customer;
mod lifecycle;
mod line;
mod planned;
mod profile;
mod visit;

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::io::{self, Write};

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use customer::Customer;
use profile::{DAY_MS, EXISTING_AT_START};

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
        let heap: BinaryHeap<_> = (0..opts.customers).map(|idx| Reverse((join_ms(&opts, end_ms, idx), idx))).collect();
        let customers = (0..opts.customers).map(|_| None).collect();
        Simulator { opts, end_ms, heap, customers }
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
            return Some(SimulatedEvent { ts_ms, customer_id, json });
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

#[cfg(test)]
mod tests {
    use std::collections::{HashMap, HashSet};
    use std::sync::OnceLock;

    use chrono::DateTime;
    use serde_json::Value;

    use super::*;

    fn small() -> SimulationOptions {
        SimulationOptions { customers: 300, days: 200, seed: 7, start_ms: SimulationOptions::DEFAULT_START_MS }
    }

    /// The small simulation, generated once and shared by the tests (debug builds are slow).
    fn events() -> &'static [SimulatedEvent] {
        static EVENTS: OnceLock<Vec<SimulatedEvent>> = OnceLock::new();
        EVENTS.get_or_init(|| Simulator::new(small()).collect())
    }

    fn parse_ts(value: &Value) -> Option<i64> {
        match value {
            Value::Number(n) => n.as_i64(),
            Value::String(s) => DateTime::parse_from_rfc3339(s).ok().map(|t| t.timestamp_millis()),
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
            let opts = SimulationOptions { customers, seed, ..small() };
            let written = write_jsonl(opts, &mut out).unwrap();
            assert_eq!(written as usize, out.iter().filter(|&&b| b == b'\n').count());
            out
        };
        let first = run(100, 7);
        assert!(first == run(100, 7), "two runs differ");
        assert!(first != run(100, 8), "the seed makes no difference");
        // The iterator and the file writer agree, and customers do not depend on each other.
        let mut iterated = Vec::new();
        for e in events().iter().filter(|e| e.customer_id.as_str() < "c-000100") {
            iterated.extend_from_slice(e.json.as_bytes());
            iterated.push(b'\n');
        }
        assert!(first == iterated, "a customer's events depend on the others");
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
        assert!(events().iter().all(|e| (small().start_ms..end).contains(&e.ts_ms)));
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
        assert!(medium >= 5 && long >= 5, "returns after 14d: {medium}, 60d: {long}");
        let share = cancelled.len() as f64 / activity.len() as f64;
        assert!((0.02..0.12).contains(&share), "cancelled share {share}");
    }

    /// Throughput and memory of a 20k × 365 run: `cargo test --release --lib simulator -- --ignored
    /// --nocapture`.
    #[test]
    #[ignore]
    fn throughput() {
        let opts =
            SimulationOptions { customers: 20_000, days: 365, seed: 1, start_ms: SimulationOptions::DEFAULT_START_MS };
        let started = std::time::Instant::now();
        let written = write_jsonl(opts, &mut io::sink()).unwrap();
        let secs = started.elapsed().as_secs_f64();
        let peak = std::fs::read_to_string("/proc/self/status")
            .ok()
            .and_then(|s| s.lines().find(|l| l.starts_with("VmHWM")).map(str::to_string));
        println!("{written} events in {secs:.1}s: {:.0} events/s, {peak:?}", written as f64 / secs);
        assert!(written >= 5_000_000);
    }
}
