//! Service metrics (SPEC §4), recorded through named methods. Label sets are fixed and bounded.

use prometheus::{Gauge, Histogram, HistogramOpts, IntCounterVec, IntGauge, IntGaugeVec, Opts, Registry, TextEncoder};

use crate::alert::{AlertKind, Effect};
use crate::event::Reason;

/// The `output` label values of `cxpulse_publish_failures_total`, present from the start so alert
/// rules see a series.
pub const PUBLISH_OUTPUTS: [&str; 4] = ["alerts", "reengagement", "dead_letter", "repartition"];

pub struct Metrics {
    registry: Registry,
    events: IntCounterVec,
    invalid: IntCounterVec,
    alerts: IntCounterVec,
    messages: prometheus::IntCounter,
    publish_failures: IntCounterVec,
    stream_time: Gauge,
    tracked: IntGauge,
    consumer_lag: IntGaugeVec,
    processing: Histogram,
    unkeyed: prometheus::IntCounter,
    events_per_second: Gauge,
    ready: IntGauge,
    /// (when, events counted then) at the last rate sample.
    rate_sample: std::sync::Mutex<Option<(std::time::Instant, u64)>>,
    /// The status page's recent alerts and transition counts, once attached.
    recent: std::sync::OnceLock<std::sync::Arc<super::status::RecentAlerts>>,
}

/// Metric construction only fails on invalid names, which are constants here.
fn must<T>(r: prometheus::Result<T>) -> T {
    r.unwrap_or_else(|e| panic!("metric definition: {e}"))
}

impl Metrics {
    pub fn new() -> Self {
        let registry = Registry::new();
        let counter = |name: &str, help: &str, labels: &[&str]| {
            let c = must(IntCounterVec::new(Opts::new(name, help), labels));
            must(registry.register(Box::new(c.clone())));
            c
        };
        let events = counter("cxpulse_events_total", "Input events by outcome.", &["outcome"]);
        let invalid = counter("cxpulse_invalid_events_total", "Invalid events by reason.", &["reason"]);
        let alerts = counter("cxpulse_alerts_total", "Alerts emitted by kind.", &["kind"]);
        let publish_failures = counter(
            "cxpulse_publish_failures_total",
            "Alerts, messages or dead letters that could not be published (retried).",
            &["output"],
        );
        let messages =
            must(prometheus::IntCounter::new("cxpulse_reengagement_messages_total", "Re-engagement messages emitted."));
        let unkeyed = must(prometheus::IntCounter::new(
            "cxpulse_mismatched_keys_total",
            "Kafka records whose key is not their event's customer id (still processed).",
        ));
        let events_per_second = must(Gauge::new(
            "cxpulse_events_per_second",
            "Input events per second (all outcomes) over the last sampling interval.",
        ));
        let ready = must(IntGauge::new("cxpulse_ready", "1 while /readyz answers 200, else 0."));
        let stream_time = must(Gauge::new("cxpulse_stream_time_seconds", "The stream clock, seconds since the epoch."));
        let tracked = must(IntGauge::new("cxpulse_tracked_customers", "Customers held in state."));
        let consumer_lag = must(IntGaugeVec::new(
            Opts::new("cxpulse_consumer_lag", "Messages between the consumed position and the end of the partition."),
            &["topic", "partition"],
        ));
        let processing = must(Histogram::with_opts(
            HistogramOpts::new(
                "cxpulse_event_processing_seconds",
                "Time from receipt of an event to its effects applied.",
            )
            .buckets(vec![0.00001, 0.00005, 0.0001, 0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0, 5.0]),
        ));
        let build = must(IntGaugeVec::new(Opts::new("cxpulse_build_info", "Build information."), &["version"]));
        build.with_label_values(&[env!("CARGO_PKG_VERSION")]).set(1);
        for c in [
            Box::new(messages.clone()) as Box<dyn prometheus::core::Collector>,
            Box::new(unkeyed.clone()),
            Box::new(events_per_second.clone()),
            Box::new(ready.clone()),
            Box::new(stream_time.clone()),
            Box::new(tracked.clone()),
            Box::new(consumer_lag.clone()),
            Box::new(processing.clone()),
            Box::new(build),
        ] {
            must(registry.register(c));
        }
        for outcome in ["accepted", "invalid", "duplicate", "late"] {
            events.with_label_values(&[outcome]);
        }
        for reason in Reason::ALL {
            invalid.with_label_values(&[reason.code()]);
        }
        for kind in AlertKind::ALL {
            alerts.with_label_values(&[kind.label()]);
        }
        for output in PUBLISH_OUTPUTS {
            publish_failures.with_label_values(&[output]);
        }
        Metrics {
            registry,
            events,
            invalid,
            alerts,
            messages,
            publish_failures,
            stream_time,
            tracked,
            consumer_lag,
            processing,
            unkeyed,
            events_per_second,
            ready,
            rate_sample: std::sync::Mutex::new(None),
            recent: std::sync::OnceLock::new(),
        }
    }

    /// Adds a batch of outcomes at once (hot loops count locally and flush here).
    pub fn events(&self, outcome: &str, n: u64) {
        if n > 0 {
            self.events.with_label_values(&[outcome]).inc_by(n);
        }
    }

    pub fn event_rejected(&self, reason: Reason) {
        self.events.with_label_values(&["invalid"]).inc();
        self.invalid.with_label_values(&[reason.code()]).inc();
    }

    /// Counts an alert (by kind) or a re-engagement message.
    pub fn effect_emitted(&self, effect: &Effect) {
        match effect {
            Effect::Alert(a) => self.alerts.with_label_values(&[a.kind.label()]).inc(),
            Effect::Message(_) => self.messages.inc(),
        }
        if let Some(recent) = self.recent.get() {
            recent.record(effect);
        }
    }

    /// From now on every alert and message is also recorded in `recent` (the status page).
    pub fn keep_recent_alerts(&self, recent: std::sync::Arc<super::status::RecentAlerts>) {
        let _ = self.recent.set(recent);
    }

    pub fn recent_alerts(&self) -> Option<&std::sync::Arc<super::status::RecentAlerts>> {
        self.recent.get()
    }

    /// Every series of the registry (the status page reads lag, rate and restore progress).
    pub fn gather(&self) -> Vec<prometheus::proto::MetricFamily> {
        self.registry.gather()
    }

    pub fn publish_failed(&self, output: &'static str) {
        self.publish_failures.with_label_values(&[output]).inc();
    }

    pub fn set_ready(&self, ready: bool) {
        self.ready.set(i64::from(ready));
    }

    pub fn mismatched_key(&self) {
        self.unkeyed.inc();
    }

    pub fn processing_time(&self, seconds: f64) {
        self.processing.observe(seconds);
    }

    /// A thread's own recorder of processing times, for a hot loop (`processing_times` says how).
    pub fn processing_times(&self) -> super::processing_times::ProcessingTimes {
        super::processing_times::ProcessingTimes::new(&self.processing)
    }

    pub fn set_stream_time(&self, millis: i64) {
        self.stream_time.set(millis as f64 / 1000.0);
    }

    pub fn set_tracked_customers(&self, n: i64) {
        self.tracked.set(n);
    }

    pub fn set_consumer_lag(&self, topic: &str, partition: i32, lag: i64) {
        self.consumer_lag.with_label_values(&[topic, &partition.to_string()]).set(lag);
    }

    pub fn forget_partition_lag(&self, topic: &str, partition: i32) {
        let _ = self.consumer_lag.remove_label_values(&[topic, &partition.to_string()]);
    }

    /// Updates `cxpulse_events_per_second` from the events counted since the previous call.
    pub fn sample_event_rate(&self) {
        let total: u64 = ["accepted", "invalid", "duplicate", "late"].iter().map(|o| self.events_counted(o)).sum();
        let now = std::time::Instant::now();
        let mut last = self.rate_sample.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((then, before)) = *last {
            let seconds = now.duration_since(then).as_secs_f64();
            if seconds > 0.0 {
                self.events_per_second.set(total.saturating_sub(before) as f64 / seconds);
            }
        }
        *last = Some((now, total));
    }

    pub fn events_counted(&self, outcome: &str) -> u64 {
        self.events.with_label_values(&[outcome]).get()
    }

    pub fn invalid_counted(&self, reason: Reason) -> u64 {
        self.invalid.with_label_values(&[reason.code()]).get()
    }

    pub fn alerts_counted(&self, kind: AlertKind) -> u64 {
        self.alerts.with_label_values(&[kind.label()]).get()
    }

    /// The registry, for metrics kept by other modules (`checkpoint::CheckpointMetrics`).
    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    /// The registry's series in Prometheus text format.
    pub fn render(&self) -> String {
        TextEncoder::new().encode_to_string(&self.registry.gather()).unwrap_or_default()
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_rate_is_measured_between_samples() {
        let m = Metrics::new();
        m.sample_event_rate();
        m.events("accepted", 500);
        m.event_rejected(Reason::NotUtf8);
        std::thread::sleep(std::time::Duration::from_millis(50));
        m.sample_event_rate();
        let rate = m.events_per_second.get();
        assert!(rate > 0.0 && rate <= 501.0 / 0.05, "{rate}");
        let text = m.render();
        assert!(text.contains("cxpulse_events_per_second "));
        assert!(text.contains("cxpulse_build_info{version=\""));
        assert!(text.contains("cxpulse_invalid_events_total{reason=\"not_utf8\"} 1"));
        assert!(text.contains("cxpulse_publish_failures_total{output=\"dead_letter\"} 0"));
        assert!(text.contains("cxpulse_ready 0"));
    }
}
