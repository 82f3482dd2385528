//! Why an input message was refused: the dead-letter reason codes of SPEC §1.

use thiserror::Error;

/// A refused message: a stable reason code plus a short human detail that never quotes the payload.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("{reason}: {detail}")]
pub struct Rejection {
    pub reason: Reason,
    pub detail: String,
}

impl Rejection {
    pub fn new(reason: Reason, detail: impl Into<String>) -> Self {
        Rejection { reason, detail: detail.into() }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Reason {
    TooLarge,
    NotUtf8,
    MalformedJson,
    MissingField,
    InvalidField,
    UnknownType,
    OutOfRange,
    FutureTimestamp,
    /// Valid, but its customer is new and its partition already tracks `limits.max_customers`.
    CustomerLimit,
    /// Valid, but its Kafka key is missing or not its `customer_id`, with
    /// `kafka.mismatched_keys = "dead_letter"` (applied where it arrived, the customer could live
    /// in two partitions).
    MismatchedKey,
}

impl Reason {
    pub const ALL: [Reason; 10] = [
        Reason::TooLarge,
        Reason::NotUtf8,
        Reason::MalformedJson,
        Reason::MissingField,
        Reason::InvalidField,
        Reason::UnknownType,
        Reason::OutOfRange,
        Reason::FutureTimestamp,
        Reason::CustomerLimit,
        Reason::MismatchedKey,
    ];

    /// The code written to the dead-letter output and used as the `reason` metric label.
    pub fn code(self) -> &'static str {
        match self {
            Reason::TooLarge => "too_large",
            Reason::NotUtf8 => "not_utf8",
            Reason::MalformedJson => "malformed_json",
            Reason::MissingField => "missing_field",
            Reason::InvalidField => "invalid_field",
            Reason::UnknownType => "unknown_type",
            Reason::OutOfRange => "out_of_range",
            Reason::FutureTimestamp => "future_timestamp",
            Reason::CustomerLimit => "customer_limit",
            Reason::MismatchedKey => "mismatched_key",
        }
    }
}

impl std::fmt::Display for Reason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.code())
    }
}
