//! librdkafka client settings from `[kafka]`: the bootstrap list, the free-form `properties` map
//! (security.protocol, sasl.*, ssl.* work without code changes), secrets read from files, and the
//! few settings the service's guarantees depend on, which user properties cannot weaken.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use rdkafka::ClientConfig;
use thiserror::Error;

use crate::config::{KafkaConfig, MismatchedKeys};

/// librdkafka's own properties whose names end in `.file`: they are paths librdkafka reads itself,
/// so they pass through unchanged instead of being treated as "read this secret from a file".
const NATIVE_FILE_PROPERTIES: [&str; 2] =
    ["sasl.oauthbearer.assertion.private.key.file", "sasl.oauthbearer.assertion.jwt.template.file"];

#[derive(Debug, Error)]
pub enum KafkaSetupError {
    #[error("kafka.properties.{key}: cannot read secret file {path}: {source}")]
    SecretFile {
        key: String,
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("kafka.properties.{key}: both `{key}` and `{key}.file` are set; keep one")]
    Ambiguous { key: String },
    #[error(
        "kafka.properties.partition.assignment.strategy = \"{strategy}\" does not keep partition p of `{interactions}` \
         and of `{other}` on the same member, which per-partition state needs; use \"range\" (the default with \
         several topics), or one input topic for both event types and kafka.mismatched_keys other than \"repartition\""
    )]
    Assignment { strategy: String, interactions: String, other: String },
    #[error("cannot create the kafka {what}: {source}")]
    Client {
        what: &'static str,
        #[source]
        source: rdkafka::error::KafkaError,
    },
}

impl KafkaSetupError {
    pub fn code(&self) -> &'static str {
        match self {
            KafkaSetupError::SecretFile { .. } => "secret_file",
            KafkaSetupError::Ambiguous { .. } => "ambiguous_property",
            KafkaSetupError::Assignment { .. } => "assignment_strategy",
            KafkaSetupError::Client { .. } => "client",
        }
    }
}

/// Resolves `properties`: a key ending in `.file` (say `sasl.password.file`) is replaced by the
/// key without the suffix, whose value is the file's content without its trailing line break.
pub fn resolve_properties(properties: &BTreeMap<String, String>) -> Result<BTreeMap<String, String>, KafkaSetupError> {
    let mut resolved = BTreeMap::new();
    for (key, value) in properties {
        let secret = key.strip_suffix(".file").filter(|_| !NATIVE_FILE_PROPERTIES.contains(&key.as_str()));
        match secret {
            Some(target) => {
                if properties.contains_key(target) {
                    return Err(KafkaSetupError::Ambiguous { key: target.to_string() });
                }
                let text = std::fs::read_to_string(Path::new(value)).map_err(|source| KafkaSetupError::SecretFile {
                    key: key.clone(),
                    path: value.clone(),
                    source,
                })?;
                resolved.insert(target.to_string(), text.trim_end_matches(['\r', '\n']).to_string());
            }
            None => {
                resolved.insert(key.clone(), value.clone());
            }
        }
    }
    Ok(resolved)
}

/// Settings shared by the consumer and the producer. `bootstrap` is the resolved broker list (the
/// embedded broker's address when `kafka.brokers = "embedded"`).
pub fn base_config(kafka: &KafkaConfig, bootstrap: &str) -> Result<ClientConfig, KafkaSetupError> {
    let mut config = ClientConfig::new();
    config.set("bootstrap.servers", bootstrap);
    config.set("client.id", concat!("cxpulse-", env!("CARGO_PKG_VERSION")));
    for (key, value) in resolve_properties(&kafka.properties)? {
        config.set(key, value);
    }
    Ok(config)
}

/// The consumer: one group over both input topics; offsets stored by the service only after an
/// event's effects are delivered, committed by librdkafka every `commit_interval`.
pub fn consumer_config(
    kafka: &KafkaConfig,
    bootstrap: &str,
    commit_interval_ms: i64,
) -> Result<ClientConfig, KafkaSetupError> {
    let mut config = base_config(kafka, bootstrap)?;
    config.set("partition.assignment.strategy", assignment_strategy(kafka)?);
    if !kafka.properties.contains_key("auto.offset.reset") {
        config.set("auto.offset.reset", "earliest");
    }
    config
        .set("group.id", &kafka.group_id)
        .set("enable.auto.offset.store", "false")
        .set("enable.auto.commit", "true")
        .set("auto.commit.interval.ms", commit_interval_ms.to_string())
        // The end-of-partition marker tells a partition task it has read everything the broker
        // holds: only then may its clock follow the wall clock (`engine::clock`).
        .set("enable.partition.eof", "true");
    Ok(config)
}

/// The partition assignor. State belongs to a partition *number*: partition p of the interaction
/// topic and partition p of the survey topic must be owned by the same member. Only the `range`
/// assignor guarantees that (it hands out the same ranges of every topic with the same partition
/// count); `cooperative-sticky` and `roundrobin` spread the topics' partitions independently once
/// there are two members. So several topics (two input topics, or the repartition topic beside
/// the input) use `range` (an eager protocol: every rebalance revokes and reassigns all
/// partitions), and anything else is refused. With one topic there is nothing to keep together,
/// and `cooperative-sticky` is the default: a rebalance then revokes only the partitions that
/// move, and the others keep their task and state (librdkafka's incremental assign/unassign, see
/// `source::kafka`).
fn assignment_strategy(kafka: &KafkaConfig) -> Result<&str, KafkaSetupError> {
    let topics = &kafka.topics;
    let other = if topics.interactions != topics.surveys {
        Some(&topics.surveys)
    } else {
        (kafka.mismatched_keys == MismatchedKeys::Repartition).then_some(&topics.repartition)
    };
    match (kafka.properties.get("partition.assignment.strategy").map(|s| s.trim()), other) {
        (None, None) => Ok("cooperative-sticky"),
        (None, Some(_)) => Ok("range"),
        (Some(strategy), None) => Ok(strategy),
        (Some("range"), Some(_)) => Ok("range"),
        (Some(strategy), Some(other)) => Err(KafkaSetupError::Assignment {
            strategy: strategy.to_string(),
            interactions: topics.interactions.clone(),
            other: other.clone(),
        }),
    }
}

/// How long the effects and changelog producers keep a record queued before failing it, unless
/// `kafka.properties` sets `message.timeout.ms`: short, so a paused instance cannot send on waking
/// what it queued before the pause (`checkpoint::ownership`). Failed records are sent again by
/// cxpulse, after checking that it still owns their partition. Not the partials' producer: their
/// full publishes after a restore may take longer than this on a loaded broker, and they are
/// fenced by epoch anyway.
const MESSAGE_TIMEOUT: Duration = Duration::from_secs(3);

/// The effects and changelog producers' `message.timeout.ms` (its alias `delivery.timeout.ms` included).
pub fn message_timeout(kafka: &KafkaConfig) -> Duration {
    ["message.timeout.ms", "delivery.timeout.ms"]
        .iter()
        .find_map(|key| kafka.properties.get(*key)?.trim().parse::<u64>().ok())
        .map_or(MESSAGE_TIMEOUT, Duration::from_millis)
}

pub fn producer_config(kafka: &KafkaConfig, bootstrap: &str) -> Result<ClientConfig, KafkaSetupError> {
    let mut config = base_config(kafka, bootstrap)?;
    if !kafka.properties.contains_key("linger.ms") {
        config.set("linger.ms", "5");
    }
    config.set("enable.idempotence", "true").set("acks", "all");
    Ok(config)
}

/// The producer of effects (alerts, messages, dead letters) and of the changelog:
/// [`producer_config`] with the short [`message_timeout`].
pub fn effects_producer_config(kafka: &KafkaConfig, bootstrap: &str) -> Result<ClientConfig, KafkaSetupError> {
    let mut config = producer_config(kafka, bootstrap)?;
    config.set("message.timeout.ms", message_timeout(kafka).as_millis().to_string());
    Ok(config)
}

/// Sets a queue bound from `[limits]` (`queued.max.messages.kbytes`, `queue.buffering.max.messages`)
/// unless `kafka.properties` sets that property itself, which then wins.
pub fn queue_limit(config: &mut ClientConfig, kafka: &KafkaConfig, property: &str, value: u64) {
    if !kafka.properties.contains_key(property) {
        config.set(property, value.to_string());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn props(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn secrets_come_from_files_without_the_suffix() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("password");
        std::fs::write(&path, "s3cret\n").unwrap();
        let resolved = resolve_properties(&props(&[
            ("sasl.password.file", path.to_str().unwrap()),
            ("security.protocol", "SASL_SSL"),
            ("sasl.oauthbearer.assertion.private.key.file", "/keys/k.pem"),
        ]))
        .unwrap();
        assert_eq!(resolved["sasl.password"], "s3cret");
        assert!(!resolved.contains_key("sasl.password.file"));
        assert_eq!(resolved["security.protocol"], "SASL_SSL");
        assert_eq!(resolved["sasl.oauthbearer.assertion.private.key.file"], "/keys/k.pem");
    }

    #[test]
    fn unreadable_or_doubled_secrets_are_errors() {
        let missing = resolve_properties(&props(&[("sasl.password.file", "/nonexistent/cxpulse")]));
        assert_eq!(missing.unwrap_err().code(), "secret_file");
        let doubled = resolve_properties(&props(&[("sasl.password", "x"), ("sasl.password.file", "/x")]));
        assert_eq!(doubled.unwrap_err().code(), "ambiguous_property");
    }

    #[test]
    fn the_assignor_keeps_partition_numbers_together() {
        let mut kafka = crate::config::Config::builtin().unwrap().kafka;
        let strategy = |kafka: &KafkaConfig| {
            consumer_config(kafka, "127.0.0.1:1", 5000)
                .map(|c| c.get("partition.assignment.strategy").unwrap_or_default().to_string())
        };
        assert_eq!(strategy(&kafka).unwrap(), "range");
        kafka.properties = props(&[("partition.assignment.strategy", "cooperative-sticky")]);
        let refused = strategy(&kafka).unwrap_err();
        assert_eq!(refused.code(), "assignment_strategy");
        assert!(refused.to_string().contains("`cx.interactions` and of `cx.surveys`"), "{refused}");
        kafka.topics.surveys = kafka.topics.interactions.clone();
        let refused = strategy(&kafka).unwrap_err();
        assert!(refused.to_string().contains("`cx.interactions` and of `cx.repartition`"), "{refused}");
        kafka.properties.clear();
        assert_eq!(strategy(&kafka).unwrap(), "range", "one input topic beside the repartition topic");
        kafka.mismatched_keys = crate::config::MismatchedKeys::DeadLetter;
        assert_eq!(strategy(&kafka).unwrap(), "cooperative-sticky");
        kafka.properties = props(&[("partition.assignment.strategy", "cooperative-sticky")]);
        assert_eq!(strategy(&kafka).unwrap(), "cooperative-sticky");
        kafka.properties = props(&[("partition.assignment.strategy", "range")]);
        assert_eq!(strategy(&kafka).unwrap(), "range");
    }

    #[test]
    fn guarantees_cannot_be_overridden() {
        let mut kafka = crate::config::Config::builtin().unwrap().kafka;
        kafka.properties =
            props(&[("enable.auto.offset.store", "true"), ("acks", "1"), ("enable.partition.eof", "false")]);
        let consumer = consumer_config(&kafka, "127.0.0.1:1", 5000).unwrap();
        assert_eq!(consumer.get("enable.auto.offset.store"), Some("false"));
        assert_eq!(consumer.get("enable.partition.eof"), Some("true"));
        assert_eq!(consumer.get("partition.assignment.strategy"), Some("range"));
        let producer = producer_config(&kafka, "127.0.0.1:1").unwrap();
        assert_eq!(producer.get("acks"), Some("all"));
        assert_eq!(producer.get("enable.idempotence"), Some("true"));
    }
}
