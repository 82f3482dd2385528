//! librdkafka's own log lines and errors, routed to `tracing`, and the broker reachability they
//! reveal. Every client of the service (consumer, producer) uses this context.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use rdkafka::client::ClientContext;
use rdkafka::config::RDKafkaLogLevel;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};

/// Whether the brokers answer, as last seen by a client or a probe. Read by `/readyz`.
#[derive(Debug, Default)]
pub struct BrokerStatus {
    reachable: AtomicBool,
    /// A client saw a SASL authentication or TLS failure since the brokers last answered.
    refused: AtomicBool,
}

impl BrokerStatus {
    pub fn reachable(&self) -> bool {
        self.reachable.load(Ordering::Acquire)
    }

    /// Whether the brokers refused our credentials or TLS (wrong password, untrusted certificate).
    pub fn refused(&self) -> bool {
        self.refused.load(Ordering::Acquire)
    }

    /// Records an authentication or TLS failure; logged once until the brokers answer again.
    fn set_refused(&self, error: &KafkaError) {
        if !self.refused.swap(true, Ordering::AcqRel) {
            tracing::error!(
                %error,
                "kafka refused the connection: check the sasl.* and ssl.* entries of kafka.properties \
                 (user, password file, CA); not ready, retrying"
            );
        }
    }

    /// Records a probe's outcome; logs the transitions only, so an outage is two lines, not a flood.
    pub fn set_reachable(&self, reachable: bool) {
        let before = self.reachable.swap(reachable, Ordering::AcqRel);
        if reachable {
            self.refused.store(false, Ordering::Release);
        }
        if before && !reachable {
            tracing::warn!("kafka brokers became unreachable; not ready until they answer again");
        } else if !before && reachable {
            tracing::info!("kafka brokers reachable");
        }
    }
}

/// A [`ClientContext`] that logs through `tracing` and watches for "all brokers down".
#[derive(Clone, Default)]
pub struct LoggingContext {
    pub status: Arc<BrokerStatus>,
}

impl LoggingContext {
    pub fn new(status: Arc<BrokerStatus>) -> Self {
        LoggingContext { status }
    }
}

/// The short-lived consumers (checkpoint reads, output ends, topic checks) log the same way.
impl rdkafka::consumer::ConsumerContext for LoggingContext {}

impl ClientContext for LoggingContext {
    fn log(&self, level: RDKafkaLogLevel, facility: &str, message: &str) {
        use RDKafkaLogLevel::*;
        match level {
            // A failed connection is the broker's outage, reported by readiness; not our error.
            Error if facility == "FAIL" => {
                tracing::warn!(target: "librdkafka", facility, "{message}")
            }
            Emerg | Alert | Critical | Error => {
                tracing::error!(target: "librdkafka", facility, "{message}")
            }
            // `kafka.properties` go to the consumer and the producers alike, so each client
            // ignores the other's properties, as intended: not worth a warning.
            Warning if facility == "CONFWARN" && message.contains(" property and will be ignored by this ") => {
                tracing::debug!(target: "librdkafka", facility, "{message}")
            }
            Warning => tracing::warn!(target: "librdkafka", facility, "{message}"),
            Notice | Info => tracing::info!(target: "librdkafka", facility, "{message}"),
            Debug => tracing::debug!(target: "librdkafka", facility, "{message}"),
        }
    }

    fn error(&self, error: KafkaError, reason: &str) {
        if matches!(error.rdkafka_error_code(), Some(RDKafkaErrorCode::Authentication | RDKafkaErrorCode::SSL)) {
            self.status.set_refused(&error);
            return;
        }
        if error.rdkafka_error_code() == Some(RDKafkaErrorCode::AllBrokersDown) {
            self.status.set_reachable(false);
            return;
        }
        // Transport failures were already logged by librdkafka itself (facility FAIL). The end of a
        // partition is not an error: the source asks for it (`enable.partition.eof`) to know when a
        // partition has caught up.
        if matches!(
            error.rdkafka_error_code(),
            Some(RDKafkaErrorCode::BrokerTransportFailure | RDKafkaErrorCode::PartitionEOF)
        ) {
            tracing::debug!(target: "librdkafka", %error, "{reason}");
        } else {
            tracing::warn!(target: "librdkafka", %error, "{reason}");
        }
    }
}
