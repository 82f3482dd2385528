//! A Kafka producer that is replaced when it fails for good.
//!
//! An idempotent producer can fail fatally and then refuses every record for good: for example
//! when a record expired in its queue (`message.timeout.ms`, which a paused instance meets by
//! design, `checkpoint::ownership`, and a stalled broker causes) and the broker does not take
//! the epoch bump that follows (tansu 0.6.0 answers `PRODUCER_FENCED`, which librdkafka may
//! report per record only). Every producer of the service (effects, changelog, partials, claims)
//! goes through this type, and its callers, which all retry what failed, call
//! [`RenewingProducer::renew_after`] after a failure: a fresh producer (a new producer id) takes over, so their
//! retries go through. What the failed producer held is what its callers retry; nothing else is
//! lost. A record that failed although it landed would be sent twice by the new producer id: the
//! effects' callers look for it on the broker first (`service::durable`, `find_landed`).

use std::sync::{Arc, PoisonError, RwLock};

use rdkafka::error::{KafkaError, KafkaResult};
use rdkafka::producer::{FutureProducer, Producer};
use rdkafka::ClientConfig;

use super::kafka_log::LoggingContext;

pub type SharedProducer = Arc<FutureProducer<LoggingContext>>;

pub struct RenewingProducer {
    current: RwLock<SharedProducer>,
    config: ClientConfig,
    context: LoggingContext,
    /// Which producer, for the log.
    role: &'static str,
}

impl RenewingProducer {
    pub fn new(config: &ClientConfig, context: LoggingContext, role: &'static str) -> KafkaResult<Self> {
        let current = RwLock::new(Arc::new(config.create_with_context(context.clone())?));
        Ok(RenewingProducer { current, config: config.clone(), context, role })
    }

    /// The producer to send with; pass it back to [`RenewingProducer::renew_after`] after a
    /// failure.
    pub fn get(&self) -> SharedProducer {
        Arc::clone(&self.current.read().unwrap_or_else(PoisonError::into_inner))
    }

    /// Replaces `used` after a failure when its producer id is refused for good: `error`, when
    /// known, says so (tansu 0.6.0 refuses every later record of a producer whose records expired
    /// with `PRODUCER_FENCED`, and librdkafka reports that per record without raising a fatal
    /// error, so only the error itself tells); otherwise a fatal error does. Replaces it once,
    /// however many callers saw it fail.
    pub fn renew_after(&self, used: &SharedProducer, error: Option<&KafkaError>) {
        use rdkafka::types::RDKafkaErrorCode::{InvalidProducerEpoch, ProducerFenced};
        if let Some(error) =
            error.filter(|e| matches!(e.rdkafka_error_code(), Some(ProducerFenced | InvalidProducerEpoch)))
        {
            self.renew(used, &error.to_string());
        } else if let Some((code, reason)) = used.client().fatal_error() {
            self.renew(used, &format!("{code:?}: {reason}"));
        }
    }

    /// The failed producer is dropped off the runtime's threads: dropping a producer purges and
    /// flushes.
    fn renew(&self, used: &SharedProducer, reason: &str) {
        let mut current = self.current.write().unwrap_or_else(PoisonError::into_inner);
        if !Arc::ptr_eq(&current, used) {
            return; // renewed already
        }
        match self.config.create_with_context(self.context.clone()) {
            Ok(fresh) => {
                tracing::warn!(producer = self.role, %reason, "a producer failed for good; replaced by a new one");
                let failed = std::mem::replace(&mut *current, Arc::new(fresh));
                match tokio::runtime::Handle::try_current() {
                    Ok(runtime) => drop(runtime.spawn_blocking(move || drop(failed))),
                    Err(_) => drop(failed),
                }
            }
            Err(error) => {
                tracing::error!(producer = self.role, %error, "a producer failed for good and cannot be replaced")
            }
        }
    }
}
