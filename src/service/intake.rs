//! What a partition task receives: a record from one of its input queues, decoded into an event
//! or a dead letter, waiting for its turn in the event-time merge.

use std::time::Instant;

use rdkafka::error::{KafkaError, KafkaResult};
use rdkafka::message::{BorrowedMessage, Message};

use super::TaskEnv;
use crate::event::{DeadLetter, Event, Millis, Reason, Rejection, SourcePosition};
use crate::source::kafka::InputSide;

/// A received record, decoded, waiting for its turn in the merge.
pub(super) struct Head {
    pub offset: i64,
    pub received: Instant,
    /// Event time; invalid records go first (their position in time does not matter).
    pub order: Millis,
    pub input: Input,
}

pub(super) enum Input {
    /// `original` is kept when the record may leave as it came: re-keyed or dead-lettered
    /// (`mismatched_key`, or `customer_limit` near the partition's limit); copying it for every
    /// event would cost an allocation and a copy per event.
    Event {
        event: Event,
        key_matches: bool,
        original: Option<Original>,
    },
    Rejected {
        letter: DeadLetter,
        key: Option<Vec<u8>>,
        null_value: bool,
    },
}

/// A record's value and key as they came.
#[derive(Default)]
pub(super) struct Original {
    pub value: Box<[u8]>,
    pub key: Option<Box<[u8]>>,
}

pub(super) async fn recv(side: &Option<InputSide>) -> KafkaResult<BorrowedMessage<'_>> {
    match side {
        Some(input) => input.queue.recv().await,
        None => std::future::pending().await,
    }
}

/// What a partition queue gave. One exists at a time, moved straight into the head slot, so the
/// small variants' size does not matter and boxing the record would cost an allocation per record.
#[allow(clippy::large_enum_variant)]
pub(super) enum Received {
    Record(Head),
    /// librdkafka's end-of-partition marker (`enable.partition.eof`): it follows the last record
    /// the broker held when it answered the fetch.
    End,
    /// A consumer error (logged).
    Nothing,
}

/// Decodes a received record, received at `now`; `keep_original`: keep the value and key of a valid
/// event even when its key matches (the partition is near its customer limit).
pub(super) fn to_head(
    env: &TaskEnv,
    number: i32,
    received: KafkaResult<BorrowedMessage<'_>>,
    keep_original: bool,
    now: Instant,
) -> Received {
    let message = match received {
        Ok(message) => message,
        Err(KafkaError::PartitionEOF(_)) => return Received::End,
        Err(error) => {
            tracing::warn!(partition = number, %error, "kafka partition error");
            return Received::Nothing;
        }
    };
    let offset = message.offset();
    let key = message.key();
    let position = || SourcePosition::Kafka { topic: message.topic().to_string(), partition: number, offset };
    let rejected = |rejection: Rejection, payload: &[u8], null_value: bool| Input::Rejected {
        letter: DeadLetter::new(rejection, position(), payload.to_vec()),
        key: key.map(<[u8]>::to_vec),
        null_value,
    };
    let (order, input) = match message.payload() {
        None => (
            Millis::MIN,
            rejected(Rejection::new(Reason::MalformedJson, "record has no value (null payload)"), &[], true),
        ),
        Some(bytes) => match env.decoder.decode(bytes, Some(env.clock.now_ms())) {
            Ok(event) => {
                let key_matches = key == Some(event.customer_id.as_bytes());
                let original = (keep_original || !key_matches)
                    .then(|| Original { value: Box::from(bytes), key: key.map(Box::from) });
                (event.ts, Input::Event { event, key_matches, original })
            }
            Err(rejection) => (Millis::MIN, rejected(rejection, bytes, false)),
        },
    };
    Received::Record(Head { offset, received: now, order, input })
}
