//! The input topic layout check: both input topics exist and are co-partitioned (same partition
//! count), because partition p of interactions and partition p of surveys feed one engine
//! partition (ARCHITECTURE.md, "State belongs to an input partition").

use rdkafka::metadata::Metadata;
use thiserror::Error;

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum TopologyError {
    #[error("input topic `{topic}` does not exist (create it with the same partition count as the other input)")]
    Missing { topic: String },
    #[error("input topic `{topic}` cannot be read: {detail}")]
    Unavailable { topic: String, detail: String },
    #[error(
        "input topics are not co-partitioned: `{interactions}` has {interactions_partitions} partitions, \
         `{surveys}` has {surveys_partitions}; give both the same count (and key both by customer_id)"
    )]
    NotCoPartitioned {
        interactions: String,
        interactions_partitions: usize,
        surveys: String,
        surveys_partitions: usize,
    },
}

impl TopologyError {
    pub fn code(&self) -> &'static str {
        match self {
            TopologyError::Missing { .. } => "missing_topic",
            TopologyError::Unavailable { .. } => "topic_unavailable",
            TopologyError::NotCoPartitioned { .. } => "not_co_partitioned",
        }
    }
}

/// What the cluster says about one topic: its partition count, or an error text.
pub type TopicInfo = Option<Result<usize, String>>;

/// Checks the layout from what metadata says about each input topic; returns the partition count.
pub fn check(interactions: (&str, TopicInfo), surveys: (&str, TopicInfo)) -> Result<usize, TopologyError> {
    let count = |(topic, info): (&str, TopicInfo)| match info {
        None | Some(Ok(0)) => Err(TopologyError::Missing { topic: topic.to_string() }),
        Some(Err(detail)) => Err(TopologyError::Unavailable { topic: topic.to_string(), detail }),
        Some(Ok(n)) => Ok(n),
    };
    let (i_name, s_name) = (interactions.0, surveys.0);
    let i = count(interactions)?;
    let s = count(surveys)?;
    if i != s {
        return Err(TopologyError::NotCoPartitioned {
            interactions: i_name.to_string(),
            interactions_partitions: i,
            surveys: s_name.to_string(),
            surveys_partitions: s,
        });
    }
    Ok(i)
}

/// Reads one topic out of cluster metadata.
pub fn topic_info(metadata: &Metadata, topic: &str) -> TopicInfo {
    let found = metadata.topics().iter().find(|t| t.name() == topic)?;
    match found.error() {
        // Unknown topic (or partition): absent, whatever the broker calls it.
        Some(rdkafka::types::RDKafkaRespErr::RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART) => None,
        Some(e) => Some(Err(rdkafka::error::RDKafkaErrorCode::from(e).to_string())),
        None => Some(Ok(found.partitions().len())),
    }
}

/// Checks the layout against cluster metadata.
pub fn check_metadata(metadata: &Metadata, interactions: &str, surveys: &str) -> Result<usize, TopologyError> {
    check((interactions, topic_info(metadata, interactions)), (surveys, topic_info(metadata, surveys)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn co_partitioned_topics_pass() {
        assert_eq!(check(("i", Some(Ok(4))), ("s", Some(Ok(4)))), Ok(4));
    }

    #[test]
    fn problems_are_named_clearly() {
        let missing = check(("cx.interactions", None), ("s", Some(Ok(4)))).unwrap_err();
        assert_eq!(missing.code(), "missing_topic");
        assert!(missing.to_string().contains("cx.interactions"));
        let skewed = check(("i", Some(Ok(4))), ("s", Some(Ok(3)))).unwrap_err();
        assert_eq!(skewed.code(), "not_co_partitioned");
        assert!(skewed.to_string().contains("has 4 partitions"), "{skewed}");
        let broken = check(("i", Some(Err("leader not available".into()))), ("s", Some(Ok(3)))).unwrap_err();
        assert_eq!(broken.code(), "topic_unavailable");
    }
}
