//! Semantic checks that serde cannot express; every problem is returned, not just the first.

use std::collections::HashSet;
use std::net::SocketAddr;

use super::Config;
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
    kafka(c, &mut p);
    service(c, &mut p);
    checkpoint(c, &mut p);
    if c.http.listen.parse::<SocketAddr>().is_err() {
        p.push(format!("http.listen: `{}` is not an address like 127.0.0.1:9898", c.http.listen));
    }
    p
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
        } else if [&t.interactions, &t.surveys, &t.alerts, &t.reengagement, &t.dead_letter].contains(&&k.topic) {
            p.push(format!("checkpoint.topic: `{}` is already used by kafka.topics", k.topic));
        }
    }
}
