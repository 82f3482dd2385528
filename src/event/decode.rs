//! Raw message bytes become an [`Event`] or a [`Rejection`] (SPEC §1, "Invalid input").
//!
//! The checks run in a fixed order and the first one that fails decides the reason:
//! size → UTF-8 → JSON (syntax, an object, depth) → `type` → `customer_id` → `ts` → `event_id` →
//! `segments` → the interaction or survey fields → (live mode only) future timestamp.
//!
//! The JSON checks and the reading of the known fields are done in one streaming pass by
//! [`json_fields`](super::json_fields), which never builds a `serde_json::Value`; this module holds
//! the [`Decoder`] and the rules the fields are then held to.

use compact_str::CompactString;

use super::customer_id::CustomerId;
use super::json_fields::{parse, Fields, Raw, Segments};
use super::model::{Event, Interaction, Millis, Payload, Survey, SurveyResponse};
use super::rejection::{Reason, Rejection};
use super::time::parse_rfc3339;

/// Longest `customer_id`, `event_id` and `ticket_id`, in bytes.
pub const MAX_ID_BYTES: usize = 128;
/// Longest segment value, in bytes.
pub const MAX_SEGMENT_VALUE_BYTES: usize = 64;

/// Turns the raw bytes of one message into an [`Event`], or says why not.
#[derive(Debug, Clone)]
pub struct Decoder {
    max_event_bytes: usize,
    dimensions: Vec<String>,
    max_future_skew_ms: u64,
}

impl Decoder {
    /// `dimensions` are the configured segment dimensions (`segments.dimensions`): only these keys
    /// of an event's `segments` are kept.
    pub fn new(max_event_bytes: usize, dimensions: Vec<String>, max_future_skew_ms: u64) -> Self {
        Decoder { max_event_bytes, dimensions, max_future_skew_ms }
    }

    /// Decodes and validates one message. `wall_clock` is `Some(now_ms)` in live mode, which enables
    /// the `future_timestamp` check (`ts > now + max_future_skew`), and `None` in replay.
    pub fn decode(&self, bytes: &[u8], wall_clock: Option<Millis>) -> Result<Event, Rejection> {
        if bytes.len() > self.max_event_bytes {
            return Err(Rejection::new(
                Reason::TooLarge,
                format!("message is {} bytes, over limits.max_event_bytes ({})", bytes.len(), self.max_event_bytes),
            ));
        }
        let text = std::str::from_utf8(bytes).map_err(|e| {
            Rejection::new(Reason::NotUtf8, format!("payload is not valid utf-8 (at byte {})", e.valid_up_to()))
        })?;
        let fields = parse(text, &self.dimensions)?;
        self.validate(fields, wall_clock)
    }

    fn validate(&self, mut f: Fields<'_>, wall_clock: Option<Millis>) -> Result<Event, Rejection> {
        let is_survey = match &f.ty {
            Raw::Absent => return Err(missing("type")),
            Raw::Str(s) => match s.as_ref() {
                "interaction" => false,
                "survey" => true,
                _ => return Err(Rejection::new(Reason::UnknownType, "field `type` must be `interaction` or `survey`")),
            },
            _ => return Err(invalid("type", "must be a string")),
        };
        let customer_id = CustomerId::new(required_id(&f.customer_id, "customer_id")?);
        let ts = timestamp(&f.ts)?;
        let event_id = match &f.event_id {
            Raw::Absent => None,
            Raw::Str(s) if s.is_empty() => None,
            Raw::Str(s) if s.len() <= MAX_ID_BYTES => Some(CompactString::new(s)),
            _ => return Err(invalid("event_id", "must be a string of at most 128 bytes")),
        };
        let segments = match std::mem::take(&mut f.segments) {
            Segments::Absent => Vec::new(),
            Segments::Valid(pairs) => pairs,
            Segments::Invalid => return Err(invalid("segments", "must be an object of strings of at most 64 bytes")),
        };
        let payload = if is_survey { Payload::Survey(survey(&f)?) } else { Payload::Interaction(interaction(&f)?) };
        if let Some(now) = wall_clock {
            let skew = i64::try_from(self.max_future_skew_ms).unwrap_or(i64::MAX);
            if ts > now.saturating_add(skew) {
                return Err(Rejection::new(
                    Reason::FutureTimestamp,
                    "field `ts` is later than the wall clock plus clock.max_future_skew",
                ));
            }
        }
        Ok(Event { customer_id, ts, event_id, segments, payload })
    }
}

fn missing(field: &str) -> Rejection {
    Rejection::new(Reason::MissingField, format!("missing required field `{field}`"))
}

fn invalid(field: &str, problem: &str) -> Rejection {
    Rejection::new(Reason::InvalidField, format!("field `{field}` {problem}"))
}

/// A required identifier: a non-empty string of at most [`MAX_ID_BYTES`].
fn required_id<'r>(raw: &'r Raw<'_>, field: &str) -> Result<&'r str, Rejection> {
    match raw {
        Raw::Absent => Err(missing(field)),
        Raw::Str(s) if !s.is_empty() && s.len() <= MAX_ID_BYTES => Ok(s),
        _ => Err(invalid(field, "must be a non-empty string of at most 128 bytes")),
    }
}

/// 0000-01-01T00:00:00Z and 9999-12-31T23:59:59.999Z.
const MIN_TS_MS: Millis = -62_167_219_200_000;
const MAX_TS_MS: Millis = 253_402_300_799_999;

fn timestamp(raw: &Raw<'_>) -> Result<Millis, Rejection> {
    let parsed = match raw {
        Raw::Absent => return Err(missing("ts")),
        Raw::Int(ms) => Some(*ms),
        Raw::Str(s) => parse_rfc3339(s),
        _ => None,
    };
    // Epoch milliseconds are held to RFC 3339's own range (years 0000-9999), so no arithmetic on
    // times can overflow and every time can be written back out.
    parsed
        .filter(|ms| (MIN_TS_MS..=MAX_TS_MS).contains(ms))
        .ok_or_else(|| invalid("ts", "must be an rfc 3339 timestamp with offset or integer epoch milliseconds"))
}

/// A required JSON number that is finite and >= 0.
fn non_negative(raw: &Raw<'_>, field: &str) -> Result<f64, Rejection> {
    let value = match raw {
        Raw::Absent => return Err(missing(field)),
        Raw::Int(i) => *i as f64,
        Raw::BigUint(u) => *u as f64,
        Raw::Float(x) => *x,
        _ => f64::NAN,
    };
    if value.is_finite() && value >= 0.0 {
        // `+ 0.0` turns a `-0` into `0`, so it never shows up as "-0" downstream.
        Ok(value + 0.0)
    } else {
        Err(invalid(field, "must be a finite number >= 0"))
    }
}

fn interaction(f: &Fields<'_>) -> Result<Interaction, Rejection> {
    let kind = match &f.kind {
        Raw::Absent => return Err(missing("kind")),
        Raw::Str(s) => s.as_ref(),
        _ => return Err(invalid("kind", "must be a string")),
    };
    Ok(match kind {
        "login" => Interaction::Login,
        "page_view" => Interaction::PageView,
        "cancellation" => Interaction::Cancellation,
        "session" => Interaction::Session { duration_seconds: non_negative(&f.duration_seconds, "duration_seconds")? },
        "purchase" => Interaction::Purchase { amount: non_negative(&f.amount, "amount")? },
        "support_opened" => Interaction::SupportOpened { ticket_id: required_id(&f.ticket_id, "ticket_id")?.into() },
        "support_first_response" => {
            Interaction::SupportFirstResponse { ticket_id: required_id(&f.ticket_id, "ticket_id")?.into() }
        }
        "support_resolved" => {
            Interaction::SupportResolved { ticket_id: required_id(&f.ticket_id, "ticket_id")?.into() }
        }
        _ => Interaction::Other,
    })
}

fn survey(f: &Fields<'_>) -> Result<SurveyResponse, Rejection> {
    let survey = match &f.survey {
        Raw::Absent => return Err(missing("survey")),
        Raw::Str(s) if s == "nps" => Survey::Nps,
        Raw::Str(s) if s == "csat" => Survey::Csat,
        Raw::Str(s) if s == "ces" => Survey::Ces,
        _ => return Err(invalid("survey", "must be one of `nps`, `csat`, `ces`")),
    };
    let (low, high) = survey.scale();
    let out_of_range = || {
        Rejection::new(
            Reason::OutOfRange,
            format!("field `score` must be between {low} and {high} for survey `{}`", survey.label()),
        )
    };
    let score = match f.score {
        Raw::Absent => return Err(missing("score")),
        Raw::Int(score) => score,
        // An integer, only too large for i64: out of any scale rather than not an integer.
        Raw::BigUint(_) => return Err(out_of_range()),
        _ => return Err(invalid("score", "must be an integer")),
    };
    if score < low || score > high {
        return Err(out_of_range());
    }
    let score = u8::try_from(score).map_err(|_| out_of_range())?;
    Ok(SurveyResponse { survey, score })
}

#[cfg(test)]
#[path = "decode_tests.rs"]
pub(crate) mod tests;
