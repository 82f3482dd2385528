//! The embedded demo's producer: simulated customers, written to the input topics in compressed
//! time and then in real time.
//!
//! # Why the timestamps look like this
//! The live clock of a partition is `max(largest event ts, wall − clock.max_lag)` and events later
//! than `wall + clock.max_future_skew` are refused. So a demo cannot simply run "fast" into the
//! future, and history far in the past would make the wall-clock term win at once: every customer
//! would look quiet for weeks and go inactive in one burst. Instead:
//!
//! * the simulation starts `backfill` before now (T0 − B) and its events carry their true times;
//! * the event with time `ts` is sent at wall time `T0 + (ts − (T0 − B)) / s`, with `s = B /
//!   backfill_for`, so the backfill streams in `backfill_for` (45 days in 45 s by default) and
//!   every event is sent after its own time (never future-dated);
//! * once that would be later than `ts` itself, events are sent at `ts`: real time from there on;
//! * the service raises `clock.max_lag` above `backfill` in embedded mode (see `service`), so during
//!   the backfill the clock is the event time, and inactivity, churn and re-engagement unfold as
//!   the simulated weeks pass, a few at a time, within the first minute.

use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::ClientConfig;
use tokio_util::sync::CancellationToken;

use super::kafka_log::LoggingContext;
use super::simulator::{SimulationOptions, Simulator};
use crate::config::{EmbeddedConfig, TopicsConfig};
use crate::engine::clock::WallClock;
use crate::event::Millis;

const DAY_MS: i64 = 86_400_000;
/// Days simulated after the backfill, in real time.
const LIVE_DAYS: u32 = 30;
/// Longest single sleep, so a stop request is noticed quickly.
const MAX_SLEEP: Duration = Duration::from_millis(200);

/// When an event with time `ts` is sent (see the module doc).
#[derive(Debug, Clone, Copy)]
pub struct Pacing {
    /// Wall time the feed started (T0).
    pub started: Millis,
    /// Simulated history before T0, ms (B).
    pub backfill: Millis,
    /// Wall time the backfill takes, ms.
    pub backfill_for: Millis,
}

impl Pacing {
    pub fn simulation_start(&self) -> Millis {
        self.started - self.backfill
    }

    pub fn send_at(&self, ts: Millis) -> Millis {
        let speedup = self.backfill as f64 / self.backfill_for.max(1) as f64;
        let compressed = self.started + ((ts - self.simulation_start()) as f64 / speedup.max(1.0)) as Millis;
        compressed.max(ts)
    }
}

/// Starts the feed on its own thread; it ends at the end of the simulation or at `stop`.
pub fn start(
    bootstrap: &str,
    topics: &TopicsConfig,
    options: &EmbeddedConfig,
    clock: Arc<dyn WallClock>,
    stop: CancellationToken,
) -> Result<JoinHandle<()>, KafkaError> {
    let producer: FutureProducer<LoggingContext> = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("linger.ms", "20")
        // As Java clients do, and as the default `kafka.key_partitioner` expects.
        .set("partitioner", "murmur2_random")
        .create_with_context(LoggingContext::default())?;
    let pacing =
        Pacing { started: clock.now_ms(), backfill: options.backfill.ms(), backfill_for: options.backfill_for.ms() };
    let backfill_days = u32::try_from((pacing.backfill + DAY_MS - 1) / DAY_MS).unwrap_or(u32::MAX);
    let simulation = SimulationOptions {
        customers: options.customers,
        days: backfill_days.saturating_add(LIVE_DAYS),
        seed: options.seed,
        start_ms: pacing.simulation_start(),
    };
    let topics = (topics.interactions.clone(), topics.surveys.clone());
    std::thread::Builder::new()
        .name("demo-feed".into())
        .spawn(move || feed(&producer, simulation, pacing, &topics, clock.as_ref(), &stop))
        .map_err(|e| KafkaError::ClientCreation(e.to_string()))
}

fn feed(
    producer: &FutureProducer<LoggingContext>,
    simulation: SimulationOptions,
    pacing: Pacing,
    (interactions, surveys): &(String, String),
    clock: &dyn WallClock,
    stop: &CancellationToken,
) {
    tracing::info!(customers = simulation.customers, backfill_days = pacing.backfill / DAY_MS, "demo feed started");
    let mut sent = 0u64;
    let mut caught_up = false;
    for event in Simulator::new(simulation) {
        let due = pacing.send_at(event.ts_ms);
        if !caught_up && due <= event.ts_ms {
            caught_up = true;
            tracing::info!(sent, "demo feed caught up with the present; real time from now on");
        }
        if !sleep_until(clock, due, stop) {
            return;
        }
        let topic = if event.json.contains(r#""type":"survey""#) { surveys } else { interactions };
        let mut record = FutureRecord::to(topic).key(event.customer_id.as_str()).payload(event.json.as_str());
        loop {
            match producer.send_result(record) {
                Ok(_delivery) => break,
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), back)) => {
                    record = back;
                    if stop.is_cancelled() {
                        return;
                    }
                    std::thread::sleep(Duration::from_millis(5));
                }
                Err((error, _)) => {
                    tracing::warn!(%error, "demo feed cannot send an event; skipping it");
                    break;
                }
            }
        }
        sent += 1;
    }
    tracing::info!(sent, "demo feed finished its simulation");
}

/// Sleeps until the wall clock reaches `due`; `false` if stopped first.
fn sleep_until(clock: &dyn WallClock, due: Millis, stop: &CancellationToken) -> bool {
    loop {
        if stop.is_cancelled() {
            return false;
        }
        let left = due - clock.now_ms();
        if left <= 0 {
            return true;
        }
        std::thread::sleep(Duration::from_millis(left as u64).min(MAX_SLEEP));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backfill_is_compressed_then_real_time_never_early() {
        let p = Pacing { started: 1_000 * DAY_MS, backfill: 45 * DAY_MS, backfill_for: 45_000 };
        let start = p.simulation_start();
        assert_eq!(p.send_at(start), p.started);
        // One simulated day per wall second.
        assert_eq!(p.send_at(start + DAY_MS), p.started + 1_000);
        // Past the crossover, real time.
        let later = p.started + 60_000;
        assert_eq!(p.send_at(later), later);
        let mut previous = Millis::MIN;
        for ts in (start..later + DAY_MS).step_by(3_600_000) {
            let at = p.send_at(ts);
            assert!(at >= ts && at >= previous, "{ts}");
            previous = at;
        }
    }
}
