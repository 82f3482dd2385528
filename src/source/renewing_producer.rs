//! A Kafka producer that is replaced when it fails fatally.
//!
//! An idempotent producer can fail fatally and then refuses every record for good: for example
//! when a record expired in its queue (`message.timeout.ms`, which a paused instance meets by
//! design, `checkpoint::ownership`) and the broker does not take the epoch bump that follows
//! (tansu 0.6.0 answers `PRODUCER_FENCED`). Every producer of the service (effects, changelog,
//! partials, claims) goes through this type, and its callers, which all retry what failed, call
//! [`RenewingProducer::renew_if_fatal`] after a failure: a fresh producer (a new producer id)
//! takes over, so their retries go through. What the failed producer held is what its callers
//! retry; nothing else is lost.

use std::sync::{Arc, PoisonError, RwLock};

use rdkafka::error::KafkaResult;
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

    /// The producer to send with; pass it back to [`RenewingProducer::renew_if_fatal`] after a
    /// failure.
    pub fn get(&self) -> SharedProducer {
        Arc::clone(&self.current.read().unwrap_or_else(PoisonError::into_inner))
    }

    /// Replaces `used` when it failed fatally (once, however many callers saw it fail). The
    /// failed one is dropped off the runtime's threads: dropping a producer purges and flushes.
    pub fn renew_if_fatal(&self, used: &SharedProducer) {
        let Some((code, reason)) = used.client().fatal_error() else { return };
        let mut current = self.current.write().unwrap_or_else(PoisonError::into_inner);
        if !Arc::ptr_eq(&current, used) {
            return; // renewed already
        }
        match self.config.create_with_context(self.context.clone()) {
            Ok(fresh) => {
                tracing::warn!(producer = self.role, ?code, %reason, "a producer failed fatally; replaced by a new one");
                let failed = std::mem::replace(&mut *current, Arc::new(fresh));
                match tokio::runtime::Handle::try_current() {
                    Ok(runtime) => drop(runtime.spawn_blocking(move || drop(failed))),
                    Err(_) => drop(failed),
                }
            }
            Err(error) => {
                tracing::error!(producer = self.role, %error, "a producer failed fatally and cannot be replaced")
            }
        }
    }
}
