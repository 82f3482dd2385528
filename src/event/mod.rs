//! Decoding and validation: raw bytes become an [`Event`] or a [`Rejection`] for the dead-letter output.

pub mod customer_id;
pub mod dead_letter;
pub mod decode;
pub mod json_fields;
pub mod model;
mod plain_fields;
pub mod rejection;
pub mod time;

pub use customer_id::CustomerId;
pub use dead_letter::{DeadLetter, SourcePosition};
pub use decode::Decoder;
pub use model::{Event, Interaction, InteractionKind, Millis, Payload, Survey, SurveyResponse};
pub use rejection::{Reason, Rejection};
