//! Semantic checks that serde cannot express; every problem is returned, not just the first.

use std::collections::HashSet;
use std::net::SocketAddr;

use super::{Config, MismatchedKeys};
use crate::window::metric::SegmentMetric;

pub(super) fn validate(c: &Config) -> Vec<String> {
    let mut p = Vec::new();
    segments(c, &mut p);
    windows(c, &mut p);
    inactivity(c, &mut p);
    reengagement(c, &mut p);
    rules(c, &mut p);
    if c.dedup.max_entries == 0 {
        p.push("dedup.max_entries: must be at least 1".into());
    }
    if c.limits.max_event_bytes == 0 {
        p.push("limits.max_event_bytes: must be at least 1".into());
    }
    if c.limits.ticket_retention.0 == 0 {
        p.push("limits.ticket_retention: must be longer than 0s".into());
    }
    limits(c, &mut p);
    kafka(c, &mut p);
    service(c, &mut p);
    status(c, &mut p);
    checkpoint(c, &mut p);
    http(c, &mut p);
    p
}

/// Hard ceilings on the resource bounds: past them a typo (an extra zero) would exhaust memory.
pub const MAX_BUCKETS_PER_WINDOW_CEILING: u64 = 100_000;

fn limits(c: &Config, p: &mut Vec<String>) {
    let l = &c.limits;
    if !(1..=MAX_BUCKETS_PER_WINDOW_CEILING).contains(&l.max_buckets_per_window) {
        p.push(format!("limits.max_buckets_per_window: must be between 1 and {MAX_BUCKETS_PER_WINDOW_CEILING}"));
    }
    if l.max_customers == 0 {
        p.push("limits.max_customers: must be at least 1".into());
    }
    // librdkafka's own ranges for queued.max.messages.kbytes and queue.buffering.max.messages.
    if !(1..=2_097_151).contains(&l.consumer_queue_kbytes) {
        p.push("limits.consumer_queue_kbytes: must be between 1 and 2097151".into());
    }
    if !(1..=2_147_483_647).contains(&l.producer_queue_messages) {
        p.push("limits.producer_queue_messages: must be between 1 and 2147483647".into());
    }
    for w in &c.windows {
        if w.bucket.0 > 0 && w.size.0 / w.bucket.0 > l.max_buckets_per_window {
            p.push(format!(
                "windows.{}: {} buckets ({} / {}) is more than limits.max_buckets_per_window ({})",
                w.name,
                w.size.0 / w.bucket.0,
                w.size,
                w.bucket,
                l.max_buckets_per_window
            ));
        }
    }
}

fn http(c: &Config, p: &mut Vec<String>) {
    let h = &c.http;
    if h.listen.parse::<SocketAddr>().is_err() {
        p.push(format!("http.listen: `{}` is not an address like 127.0.0.1:9898", h.listen));
    }
    if h.max_connections == 0 {
        p.push("http.max_connections: must be at least 1".into());
    }
    if h.request_timeout.0 == 0 {
        p.push("http.request_timeout: must be longer than 0s".into());
    }
    let min = crate::telemetry::http_security::MIN_REQUEST_BYTES;
    if h.max_request_bytes < min {
        p.push(format!("http.max_request_bytes: must be at least {min}"));
    }
    if let Some(tls) = &h.tls {
        for (key, path) in [("cert_file", &tls.cert_file), ("key_file", &tls.key_file)] {
            if path.is_empty() {
                p.push(format!("http.tls.{key}: must name a PEM file"));
            }
        }
    }
    for (user, hash) in &h.basic_auth_users {
        if user.is_empty() || user.contains(':') {
            p.push(format!("http.basic_auth_users: `{user}` is not a user name (empty or with `:`)"));
        }
        if !crate::telemetry::http_security::is_bcrypt_hash(hash) {
            p.push(format!("http.basic_auth_users.{user}: not a bcrypt hash (`$2y$10$...`, 60 characters)"));
        }
    }
}

fn segments(c: &Config, p: &mut Vec<String>) {
    let mut seen = HashSet::new();
    for d in &c.segments.dimensions {
        if d.is_empty() || d == "all" {
            p.push(format!("segments.dimensions: `{d}` cannot be a dimension name (empty and `all` are reserved)"));
        }
        if !seen.insert(d) {
            p.push(format!("segments.dimensions: `{d}` is listed twice"));
        }
    }
    if c.segments.max_values == 0 {
        p.push("segments.max_values: must be at least 1".into());
    }
}

fn windows(c: &Config, p: &mut Vec<String>) {
    if c.windows.is_empty() {
        p.push("windows: at least one window is needed".into());
    }
    let mut names = HashSet::new();
    for w in &c.windows {
        if w.name.is_empty() {
            p.push("windows: a window has an empty name".into());
        } else if !names.insert(&w.name) {
            p.push(format!("windows: name `{}` is used twice", w.name));
        }
        if w.bucket.0 == 0 || w.size.0 == 0 {
            p.push(format!("windows.{}: size and bucket must be longer than 0s", w.name));
        } else if w.size.0 % w.bucket.0 != 0 {
            p.push(format!("windows.{}: size {} is not a whole multiple of its bucket {}", w.name, w.size, w.bucket));
        }
    }
}

fn known_dimension(c: &Config, d: &str) -> bool {
    d == "all" || c.segments.dimensions.iter().any(|x| x == d)
}

fn inactivity(c: &Config, p: &mut Vec<String>) {
    let i = &c.inactivity;
    if i.inactive_after.0 == 0 {
        p.push("inactivity.inactive_after: must be longer than 0s".into());
    }
    if i.churn_after <= i.inactive_after {
        p.push(format!(
            "inactivity: churn_after ({}) must be longer than inactive_after ({})",
            i.churn_after, i.inactive_after
        ));
    }
    for (n, o) in i.overrides.iter().enumerate() {
        if !known_dimension(c, &o.dimension) {
            p.push(format!("inactivity.overrides[{n}]: dimension `{}` is not one of segments.dimensions", o.dimension));
        }
        let inactive = o.inactive_after.unwrap_or(i.inactive_after);
        let churn = o.churn_after.unwrap_or(i.churn_after);
        if inactive.0 == 0 || churn <= inactive {
            p.push(format!(
                "inactivity.overrides[{n}]: churn_after ({churn}) must be longer than inactive_after ({inactive}) and both longer than 0s"
            ));
        }
    }
}

fn reengagement(c: &Config, p: &mut Vec<String>) {
    let r = &c.reengagement;
    if !(0.0..=100.0).contains(&r.holdout_percent) {
        p.push(format!("reengagement.holdout_percent: {} is not between 0 and 100", r.holdout_percent));
    }
    if r.offer_valid_for.0 == 0 {
        p.push("reengagement.offer_valid_for: must be longer than 0s".into());
    }
    for (n, o) in r.overrides.iter().enumerate() {
        if !known_dimension(c, &o.dimension) {
            p.push(format!(
                "reengagement.overrides[{n}]: dimension `{}` is not one of segments.dimensions",
                o.dimension
            ));
        }
        if o.offer_valid_for.is_some_and(|d| d.0 == 0) {
            p.push(format!("reengagement.overrides[{n}]: offer_valid_for must be longer than 0s"));
        }
    }
}

fn rules(c: &Config, p: &mut Vec<String>) {
    let mut names = HashSet::new();
    for (n, r) in c.rules.iter().enumerate() {
        let at = if r.name.is_empty() { format!("rules[{n}]") } else { format!("rules.{}", r.name) };
        if r.name.is_empty() {
            p.push(format!("{at}: a rule needs a name"));
        } else if !names.insert(&r.name) {
            p.push(format!("{at}: rule name used twice"));
        }
        match SegmentMetric::from_name(&r.metric) {
            None => p.push(format!(
                "{at}: unknown metric `{}` (one of: {})",
                r.metric,
                SegmentMetric::ALL.iter().map(|m| m.name()).collect::<Vec<_>>().join(", ")
            )),
            Some(m) => match (m.label_name(), &r.label) {
                (Some(l), None) => p.push(format!(
                    "{at}: metric `{}` needs `label` naming its {l} ({})",
                    r.metric,
                    m.label_values().join(", ")
                )),
                (Some(l), Some(v)) if !m.label_values().contains(&v.as_str()) => {
                    p.push(format!("{at}: `{v}` is not a {l} of `{}` ({})", r.metric, m.label_values().join(", ")))
                }
                (None, Some(_)) => p.push(format!("{at}: metric `{}` takes no `label`", r.metric)),
                _ => {}
            },
        }
        if !c.windows.iter().any(|w| w.name == r.window) {
            p.push(format!("{at}: unknown window `{}`", r.window));
        }
        if let Some(d) = &r.dimension {
            if !known_dimension(c, d) {
                p.push(format!("{at}: dimension `{d}` is not one of segments.dimensions"));
            }
        }
        if r.segment.is_some() && r.dimension.is_none() {
            p.push(format!("{at}: `segment` needs a `dimension`"));
        }
        threshold(r, &at, p);
        confidence(r, &at, p);
    }
}

/// `confidence` lies strictly between 0.5 and 0.999, on a metric with an interval (SPEC §5).
fn confidence(r: &super::RuleConfig, at: &str, p: &mut Vec<String>) {
    let Some(level) = r.confidence else { return };
    if !(level > 0.5 && level < 0.999) {
        p.push(format!("{at}: `confidence` ({level}) must lie between 0.5 and 0.999 (exclusive)"));
    }
    if let Some(m) = SegmentMetric::from_name(&r.metric).filter(|m| !m.has_interval()) {
        p.push(format!(
            "{at}: metric `{}` has no interval, so `confidence` cannot apply (it can on: {})",
            m.name(),
            SegmentMetric::ALL.iter().filter(|m| m.has_interval()).map(|m| m.name()).collect::<Vec<_>>().join(", ")
        ));
    }
}

fn threshold(r: &super::RuleConfig, at: &str, p: &mut Vec<String>) {
    let finite = |v: Option<f64>, key: &str, p: &mut Vec<String>| {
        if v.is_some_and(|v| !v.is_finite()) {
            p.push(format!("{at}: `{key}` must be a finite number"));
        }
    };
    finite(r.above, "above", p);
    finite(r.below, "below", p);
    finite(r.clear, "clear", p);
    match (r.above, r.below, r.clear) {
        (Some(_), Some(_), _) => p.push(format!("{at}: give one of `above` / `below`, not both")),
        (None, None, _) => p.push(format!("{at}: give one of `above` / `below`")),
        (Some(t), None, Some(clear)) if clear > t => {
            p.push(format!("{at}: `clear` ({clear}) must not be above the `above` threshold ({t})"))
        }
        (None, Some(t), Some(clear)) if clear < t => {
            p.push(format!("{at}: `clear` ({clear}) must not be below the `below` threshold ({t})"))
        }
        _ => {}
    }
}

fn kafka(c: &Config, p: &mut Vec<String>) {
    let k = &c.kafka;
    if k.brokers.trim().is_empty() {
        p.push("kafka.brokers: must be `embedded` or a list host:port,...".into());
    }
    if k.group_id.is_empty() {
        p.push("kafka.group_id: must not be empty".into());
    }
    let t = &k.topics;
    let all = [
        ("interactions", &t.interactions),
        ("surveys", &t.surveys),
        ("alerts", &t.alerts),
        ("reengagement", &t.reengagement),
        ("dead_letter", &t.dead_letter),
        ("repartition", &t.repartition),
    ];
    for (key, name) in all {
        if name.is_empty() {
            p.push(format!("kafka.topics.{key}: must not be empty"));
        }
    }
    for (key, name) in &all[2..] {
        if *name == &t.interactions || *name == &t.surveys {
            p.push(format!("kafka.topics.{key}: `{name}` is also an input topic"));
        }
    }
    if k.mismatched_keys == MismatchedKeys::Repartition {
        if [&t.alerts, &t.reengagement, &t.dead_letter].contains(&&t.repartition) {
            p.push(format!("kafka.topics.repartition: `{}` is also an output topic", t.repartition));
        } else if !t.repartition.is_empty() && !legal_topic(&t.repartition) {
            p.push(illegal_topic("kafka.topics.repartition", &t.repartition));
        }
    }
}

fn service(c: &Config, p: &mut Vec<String>) {
    let s = &c.service;
    for (key, value) in [
        ("service.shutdown_timeout", s.shutdown_timeout),
        ("service.commit_interval", s.commit_interval),
        ("service.probe_interval", s.probe_interval),
        ("embedded.backfill_for", c.embedded.backfill_for),
    ] {
        if value.0 == 0 {
            p.push(format!("{key}: must be longer than 0s"));
        }
    }
    if c.embedded.partitions == 0 || c.embedded.partitions > 1024 {
        p.push("embedded.partitions: must be between 1 and 1024".into());
    }
    if c.embedded.customers == 0 {
        p.push("embedded.customers: must be at least 1".into());
    }
}

fn status(c: &Config, p: &mut Vec<String>) {
    let s = &c.status;
    if s.refresh.0 < 500 {
        p.push(format!("status.refresh: {} is too short (at least 500ms)", s.refresh));
    }
    if !(1..=10_000).contains(&s.recent_alerts) {
        p.push(format!("status.recent_alerts: {} is not between 1 and 10000", s.recent_alerts));
    }
    if s.counts_bucket.0 == 0 {
        p.push("status.counts_bucket: must be longer than 0s".into());
    }
    if !(1..=1_000).contains(&s.counts_buckets) {
        p.push(format!("status.counts_buckets: {} is not between 1 and 1000", s.counts_buckets));
    }
}

fn checkpoint(c: &Config, p: &mut Vec<String>) {
    let k = &c.checkpoint;
    if k.max_deltas == 0 {
        p.push("checkpoint.max_deltas: must be at least 1".into());
    }
    if !(4_096..=4_194_304).contains(&k.chunk_bytes) {
        p.push("checkpoint.chunk_bytes: must be between 4096 and 4194304".into());
    }
    if k.replication_factor == 0 || k.replication_factor < -1 {
        p.push("checkpoint.replication_factor: must be -1 (automatic) or at least 1".into());
    }
    if k.enabled && k.directory.is_empty() {
        let t = &c.kafka.topics;
        if k.topic.is_empty() {
            p.push("checkpoint.topic: must not be empty (or set checkpoint.directory)".into());
        } else if t.names().contains(&&k.topic) {
            p.push(format!("checkpoint.topic: `{}` is already used by kafka.topics", k.topic));
        } else if !legal_topic(&k.topic) {
            p.push(illegal_topic("checkpoint.topic", &k.topic));
        }
    }
    let cl = &c.cluster;
    if cl.enabled {
        let t = &c.kafka.topics;
        if t.names().contains(&&cl.partials_topic) || cl.partials_topic == k.topic {
            p.push(format!("cluster.partials_topic: `{}` is already used by another topic", cl.partials_topic));
        } else if !legal_topic(&cl.partials_topic) {
            p.push(illegal_topic("cluster.partials_topic", &cl.partials_topic));
        }
        if t.names().contains(&&cl.claims_topic) || [&k.topic, &cl.partials_topic].contains(&&cl.claims_topic) {
            p.push(format!("cluster.claims_topic: `{}` is already used by another topic", cl.claims_topic));
        } else if !legal_topic(&cl.claims_topic) {
            p.push(illegal_topic("cluster.claims_topic", &cl.claims_topic));
        }
        if cl.stale_after.0 < 2_000 {
            p.push("cluster.stale_after: must be at least 2s (owners publish every second)".into());
        }
    }
}

fn legal_topic(topic: &str) -> bool {
    !topic.is_empty() && topic.len() <= 249 && topic.chars().all(|ch| ch.is_ascii_alphanumeric() || "._-".contains(ch))
}

fn illegal_topic(key: &str, topic: &str) -> String {
    format!(
        "{key}: `{topic}` is not a legal topic name (letters, digits, `.`, `_`, `-`; at most 249); \
         `{{group_id}}` is replaced by kafka.group_id"
    )
}

#[cfg(test)]
mod tests {
    use crate::config::{load_text, ConfigError};

    fn problems(toml: &str) -> Vec<String> {
        match load_text(Some((toml, "t.toml")), &[]) {
            Err(ConfigError::Invalid { problems }) => problems,
            other => panic!("expected problems, got {other:?}"),
        }
    }

    #[test]
    fn too_many_buckets_are_refused_with_every_other_bound() {
        let p = problems(
            "[[windows]]\nname = \"30d\"\nsize = \"30d\"\nbucket = \"1s\"\n\
             [limits]\nmax_customers = 0\nconsumer_queue_kbytes = 0\n\
             [http]\nmax_connections = 0\nmax_request_bytes = 100\nrequest_timeout = \"0s\"\n",
        );
        let all = p.join("\n");
        for needle in [
            "windows.30d: 2592000 buckets (30d / 1s) is more than limits.max_buckets_per_window (1440)",
            "limits.max_customers",
            "limits.consumer_queue_kbytes",
            "http.max_connections",
            "http.max_request_bytes",
            "http.request_timeout",
        ] {
            assert!(all.contains(needle), "missing `{needle}` in:\n{all}");
        }
    }

    #[test]
    fn the_cap_itself_is_bounded_and_raising_it_admits_finer_windows() {
        let p = problems("[limits]\nmax_buckets_per_window = 100001\n");
        assert!(p.iter().any(|x| x.starts_with("limits.max_buckets_per_window")), "{p:?}");
        let ok =
            "[limits]\nmax_buckets_per_window = 43200\n[[windows]]\nname = \"30d\"\nsize = \"30d\"\nbucket = \"1m\"\n";
        assert!(load_text(Some((ok, "t.toml")), &[]).is_ok());
    }
}
