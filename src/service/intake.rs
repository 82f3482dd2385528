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
    /// `raw` is kept to dead-letter the event if the partition refuses it (`customer_limit`).
    Event {
        event: Event,
        key_matches: bool,
        raw: Box<[u8]>,
        key: Option<Box<[u8]>>,
    },
    Rejected {
        letter: DeadLetter,
        key: Option<Vec<u8>>,
        null_value: bool,
    },
}

pub(super) async fn recv(side: &Option<InputSide>) -> KafkaResult<BorrowedMessage<'_>> {
    match side {
        Some(input) => input.queue.recv().await,
        None => std::future::pending().await,
    }
}

/// What a partition queue gave.
pub(super) enum Received {
    Record(Head),
    /// librdkafka's end-of-partition marker (`enable.partition.eof`): it follows the last record
    /// the broker held when it answered the fetch.
    End,
    /// A consumer error (logged).
    Nothing,
}

/// Decodes a received record.
pub(super) fn to_head(env: &TaskEnv, number: i32, received: KafkaResult<BorrowedMessage<'_>>) -> Received {
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
                let (raw, key) = (Box::from(bytes), key.map(Box::from));
                (event.ts, Input::Event { event, key_matches, raw, key })
            }
            Err(rejection) => (Millis::MIN, rejected(rejection, bytes, false)),
        },
    };
    Received::Record(Head { offset, received: Instant::now(), order, input })
}
