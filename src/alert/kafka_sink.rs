//! Publishing to Kafka: alerts to `cx.alerts` (keyed by customer, or `dimension/segment`),
//! re-engagement messages to `cx.reengagement` (keyed by customer), dead letters to
//! `cx.dead-letter` (original key and value, the rest in headers), re-keyed input to
//! `cx.repartition` (`service::repartition`), through one idempotent producer
//! (replaced when it fails fatally, `source::renewing_producer`).
//!
//! A record is never dropped silently: a failed delivery is counted (`publish_failed`), logged and
//! retried with backoff until it succeeds or the service gives up at its shutdown deadline; the
//! caller then does not store the input offset, so the record is produced again after a restart
//! (with the same deterministic id).

use std::sync::Arc;
use std::time::{Duration, Instant};

use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::future_producer::Delivery;
use rdkafka::producer::{FutureProducer, FutureRecord, Producer};
use rdkafka::ClientConfig;
use thiserror::Error;
use tokio_util::sync::CancellationToken;

use super::record::Effect;
use crate::checkpoint::ownership::lease_passed;
use crate::config::TopicsConfig;
use crate::event::DeadLetter;
use crate::source::kafka_log::LoggingContext;
use crate::source::renewing_producer::RenewingProducer;
use crate::telemetry::Metrics;

const FIRST_BACKOFF: Duration = Duration::from_millis(100);
const MAX_BACKOFF: Duration = Duration::from_secs(5);
/// librdkafka's local queue is full: wait this long and try again (not a failure).
const QUEUE_FULL_PAUSE: Duration = Duration::from_millis(10);

/// Which output a record goes to; the `output` label of `cxpulse_publish_failures_total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Output {
    Alerts,
    Reengagement,
    DeadLetter,
    Repartition,
}

impl Output {
    /// The `output` label; the metrics pre-create one series per label.
    pub fn label(self) -> &'static str {
        crate::telemetry::metrics::PUBLISH_OUTPUTS[self as usize]
    }
}

/// One record to publish, owned so it can be sent again.
#[derive(Debug, Clone, PartialEq)]
pub struct OutRecord {
    pub output: Output,
    pub key: Option<Vec<u8>>,
    pub value: Option<Vec<u8>>,
    pub headers: Vec<(&'static str, String)>,
    /// The partition to write to; `None`: the producer's partitioner picks it by key.
    pub partition: Option<i32>,
}

impl OutRecord {
    pub fn from_effect(effect: &Effect) -> OutRecord {
        let (output, key, json) = match effect {
            Effect::Alert(a) => (Output::Alerts, a.key.as_bytes(), a.to_json()),
            Effect::Message(m) => (Output::Reengagement, m.customer_id.as_bytes(), m.to_json()),
        };
        let value = Some(json.to_string().into_bytes());
        OutRecord { output, key: Some(key.to_vec()), value, headers: Vec::new(), partition: None }
    }

    /// The original key and value (`None` for a null value), the rest in headers.
    pub fn dead_letter(letter: &DeadLetter, key: Option<&[u8]>, null_value: bool) -> OutRecord {
        OutRecord {
            output: Output::DeadLetter,
            key: key.map(<[u8]>::to_vec),
            value: (!null_value).then(|| letter.payload.clone()),
            headers: letter.headers(),
            partition: None,
        }
    }

    /// An input record re-keyed by its customer id, to the repartition partition of that customer.
    pub fn re_keyed(customer_id: &str, value: Vec<u8>, partition: i32) -> OutRecord {
        let key = Some(customer_id.as_bytes().to_vec());
        OutRecord {
            output: Output::Repartition,
            key,
            value: Some(value),
            headers: Vec::new(),
            partition: Some(partition),
        }
    }
}

#[derive(Debug, Error)]
pub enum PublishError {
    #[error("gave up publishing to {output} at shutdown; the input will be read again")]
    Abandoned { output: &'static str },
    #[error("another instance owns this partition now; its batch is left to the new owner")]
    Fenced,
}

impl PublishError {
    pub fn code(&self) -> &'static str {
        match self {
            PublishError::Abandoned { .. } => "abandoned",
            PublishError::Fenced => "fenced",
        }
    }
}

/// Where a batch's records landed so far, and the pause before its next round.
#[derive(Debug)]
pub struct Retry {
    landed: Vec<Option<(i32, i64)>>,
    value_dropped: Vec<bool>,
    backoff: Duration,
}

impl Default for Retry {
    fn default() -> Self {
        Retry { landed: Vec::new(), value_dropped: Vec::new(), backoff: FIRST_BACKOFF }
    }
}

impl Retry {
    /// Waits before the next round (doubling up to a bound); `Err` when abandoned first.
    pub async fn wait(&mut self, abandon: &CancellationToken) -> Result<(), PublishError> {
        tokio::select! {
            _ = tokio::time::sleep(self.backoff) => {}
            _ = abandon.cancelled() => return Err(PublishError::Abandoned { output: "outputs" }),
        }
        self.backoff = (self.backoff * 2).min(MAX_BACKOFF);
        Ok(())
    }

    /// Indices of the records not known to have landed.
    pub fn pending(&self) -> impl Iterator<Item = usize> + '_ {
        self.landed.iter().enumerate().filter(|(_, at)| at.is_none()).map(|(i, _)| i)
    }

    /// Record `index` was found on the broker at `(partition, offset)` although its round failed
    /// (its acknowledgement was lost or timed out): it is not sent again.
    pub fn found(&mut self, index: usize, partition: i32, offset: i64) {
        if let Some(at) = self.landed.get_mut(index) {
            *at = Some((partition, offset));
        }
    }

    /// Where each record landed, once a round returned `true`.
    pub fn landed(self) -> impl Iterator<Item = (i32, i64)> {
        self.landed.into_iter().flatten()
    }
}

pub struct KafkaSink {
    producer: RenewingProducer,
    topics: [String; 4],
    metrics: Arc<Metrics>,
}

impl KafkaSink {
    pub fn new(
        config: &ClientConfig,
        context: LoggingContext,
        topics: &TopicsConfig,
        metrics: Arc<Metrics>,
    ) -> Result<Self, KafkaError> {
        let producer = RenewingProducer::new(config, context, "effects")?;
        let topics = [
            topics.alerts.clone(),
            topics.reengagement.clone(),
            topics.dead_letter.clone(),
            topics.repartition.clone(),
        ];
        Ok(KafkaSink { producer, topics, metrics })
    }

    /// The topic an output goes to.
    pub fn topic(&self, output: Output) -> &str {
        &self.topics[output as usize]
    }

    /// One round of delivering a batch: sends every record not landed yet and notes where each
    /// lands (partition, offset). `Ok(true)` once all have landed; `Ok(false)`: some failed and are
    /// to be sent again after [`Retry::wait`]. The caller decides whether to retry, so that a
    /// paused owner does not re-send what timed out in the producer's queue meanwhile
    /// (`checkpoint::ownership`). With `lease`, a record is handed to the producer only before
    /// that instant; those left over stay pending for the next round, without counting as failed.
    pub async fn deliver_round(
        &self,
        records: &[OutRecord],
        retry: &mut Retry,
        lease: Option<Instant>,
        abandon: &CancellationToken,
    ) -> Result<bool, PublishError> {
        retry.landed.resize(records.len(), None);
        retry.value_dropped.resize(records.len(), false);
        let pending: Vec<usize> = retry.pending().collect();
        let producer = self.producer.get();
        let sends =
            pending.iter().map(|i| self.attempt(&producer, &records[*i], retry.value_dropped[*i], lease, abandon));
        let mut last_error = None;
        for (i, result) in pending.iter().zip(futures::future::join_all(sends).await) {
            let error = match result? {
                Some(Ok(delivery)) => {
                    retry.landed[*i] = Some((delivery.partition, delivery.offset));
                    continue;
                }
                Some(Err(e)) => e,
                None => continue,
            };
            let record = &records[*i];
            if is_too_large(&error) && record.output == Output::DeadLetter && !retry.value_dropped[*i] {
                // An input the broker accepted but cannot take back with our headers: keep the
                // dead letter (reason, source position) without its value rather than block.
                tracing::warn!(
                    output = "dead_letter",
                    "dead letter too large for the broker; sending it without its value"
                );
                retry.value_dropped[*i] = true;
                continue;
            }
            self.metrics.publish_failed(record.output.label());
            tracing::warn!(output = record.output.label(), %error, retry_in = ?retry.backoff, "cannot publish, retrying");
            last_error = Some(error);
        }
        let all = retry.landed.iter().all(Option::is_some);
        if !all {
            self.producer.renew_after(&producer, last_error.as_ref());
        }
        Ok(all)
    }

    /// One send: `Ok(Some(Ok))` delivered, `Ok(Some(Err))` failed (retry), `Ok(None)` not handed
    /// over because `lease` had passed, `Err` abandoned.
    async fn attempt(
        &self,
        producer: &FutureProducer<LoggingContext>,
        record: &OutRecord,
        value_dropped: bool,
        lease: Option<Instant>,
        abandon: &CancellationToken,
    ) -> Result<Option<Result<Delivery, KafkaError>>, PublishError> {
        let abandoned = || PublishError::Abandoned { output: record.output.label() };
        loop {
            let mut headers = OwnedHeaders::new_with_capacity(record.headers.len() + 1);
            for (key, value) in &record.headers {
                headers = headers.insert(Header { key, value: Some(value.as_str()) });
            }
            if value_dropped {
                headers = headers.insert(Header { key: "cxpulse.value_dropped", value: Some("too_large") });
            }
            let mut out = FutureRecord::<[u8], [u8]>::to(self.topic(record.output)).headers(headers);
            if let Some(key) = &record.key {
                out = out.key(key.as_slice());
            }
            if let Some(partition) = record.partition {
                out = out.partition(partition);
            }
            if let (Some(value), false) = (&record.value, value_dropped) {
                out = out.payload(value.as_slice());
            }
            // Checked with nothing to wait for before the hand-over, so no pause can come between.
            if lease_passed(lease) {
                return Ok(None);
            }
            match producer.send_result(out) {
                Ok(delivery) => {
                    return tokio::select! {
                        result = delivery => Ok(Some(match result {
                            Ok(Ok(delivery)) => Ok(delivery),
                            Ok(Err((e, _))) => Err(e),
                            Err(_) => Err(KafkaError::Canceled),
                        })),
                        _ = abandon.cancelled() => Err(abandoned()),
                    };
                }
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), _)) => {
                    tokio::select! {
                        _ = tokio::time::sleep(QUEUE_FULL_PAUSE) => {}
                        _ = abandon.cancelled() => return Err(abandoned()),
                    }
                }
                Err((e, _)) => return Ok(Some(Err(e))),
            }
        }
    }

    /// Waits for everything queued to be delivered. Blocking: call from `spawn_blocking`.
    pub fn flush_blocking(&self, timeout: Duration) -> Result<(), KafkaError> {
        self.producer.get().flush(timeout)
    }
}

fn is_too_large(error: &KafkaError) -> bool {
    matches!(
        error.rdkafka_error_code(),
        Some(RDKafkaErrorCode::MessageSizeTooLarge | RDKafkaErrorCode::InvalidMessageSize)
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::{Reason, Rejection, SourcePosition};

    #[test]
    fn dead_letters_keep_key_and_value_and_carry_headers() {
        let letter = DeadLetter::new(
            Rejection::new(Reason::MalformedJson, "not json"),
            SourcePosition::Kafka { topic: "cx.surveys".into(), partition: 2, offset: 7 },
            b"{oops".to_vec(),
        );
        let record = OutRecord::dead_letter(&letter, Some(b"c-1"), false);
        assert_eq!(record.key.as_deref(), Some(&b"c-1"[..]));
        assert_eq!(record.value.as_deref(), Some(&b"{oops"[..]));
        assert!(record.headers.contains(&("cxpulse.source.offset", "7".to_string())));
        let null = OutRecord::dead_letter(&letter, None, true);
        assert_eq!((null.key, null.value), (None, None));
    }

    /// Fault injection on librdkafka's mock cluster: the broker refuses the first producer id as
    /// fenced, which leaves that producer failed for good; the batch still lands.
    #[tokio::test]
    async fn a_fatally_failed_producer_is_replaced_and_the_batch_still_lands() {
        use rdkafka::mocking::MockCluster;
        use rdkafka::types::{RDKafkaApiKey, RDKafkaRespErr};
        let cluster = MockCluster::new(1).unwrap();
        let topics = crate::config::load(None, &[]).unwrap().kafka.topics;
        cluster.create_topic(&topics.alerts, 1, 1).unwrap();
        cluster.request_errors(RDKafkaApiKey::InitProducerId, &[RDKafkaRespErr::RD_KAFKA_RESP_ERR_PRODUCER_FENCED]);
        let mut config = ClientConfig::new();
        config.set("bootstrap.servers", cluster.bootstrap_servers()).set("enable.idempotence", "true");
        let sink = KafkaSink::new(&config, LoggingContext::default(), &topics, Arc::new(Metrics::new())).unwrap();
        let record = OutRecord {
            output: Output::Alerts,
            key: Some(b"c-1".to_vec()),
            value: Some(b"{}".to_vec()),
            headers: Vec::new(),
            partition: None,
        };
        let records = [record];
        let (mut retry, abandon) = (Retry::default(), CancellationToken::new());
        let mut failed_rounds = 0;
        while !sink.deliver_round(&records, &mut retry, None, &abandon).await.unwrap() {
            failed_rounds += 1;
            assert!(failed_rounds < 6, "the batch never landed: the failed producer was kept");
            retry.wait(&abandon).await.unwrap();
        }
        assert!(failed_rounds >= 1, "the first producer should have failed");
        assert_eq!(retry.landed().count(), 1);
    }
}
