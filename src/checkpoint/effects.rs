//! Exactly-once effects without transactions (the mechanism is explained in the module doc of
//! `checkpoint`): output headers, output positions, reading outputs back after a restore, and the
//! suppression set.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::{Headers, Message};
use rdkafka::{ClientConfig, Offset, TopicPartitionList};

use super::store::StoreError;
use crate::source::kafka::SIDES;
use crate::source::kafka_log::LoggingContext;

/// Header: the input partition whose processing produced the record.
pub const PARTITION_HEADER: &str = "cxpulse.input.partition";
/// Header: the record's deterministic id (`alert_id`, `message_id`, or `dl:topic:partition:offset`).
pub const ID_HEADER: &str = "cxpulse.id";
/// Header: the next input offset per side (`interactions,surveys,repartition`, -1 unknown) when it
/// was made.
pub const INPUT_HEADER: &str = "cxpulse.input.next";

const TIMEOUT: Duration = Duration::from_secs(10);
const READ_TIMEOUT: Duration = Duration::from_secs(300);

/// Per output (topic, partition): a position at or after which every record of this input
/// partition came from input past the last checkpoint.
#[derive(Debug, Clone, Default)]
pub struct OutputPositions {
    positions: BTreeMap<(String, i32), i64>,
}

impl OutputPositions {
    /// Starts at the current ends of the output topics (nothing of ours lies past them yet).
    pub fn at(ends: &BTreeMap<(String, i32), i64>) -> Self {
        OutputPositions { positions: ends.clone() }
    }

    /// A delivery acknowledged at `offset`: our later records land after it.
    pub fn delivered(&mut self, topic: &str, partition: i32, offset: i64) {
        let entry = self.positions.entry((topic.to_string(), partition)).or_insert(offset + 1);
        *entry = (*entry).max(offset + 1);
    }

    pub fn from_vec(positions: &[(String, i32, i64)]) -> Self {
        OutputPositions { positions: positions.iter().map(|(t, p, o)| ((t.clone(), *p), *o)).collect() }
    }

    /// Per output partition, the earlier of the two positions.
    pub fn min(&self, other: &OutputPositions) -> OutputPositions {
        let mut positions = self.positions.clone();
        for (key, o) in &other.positions {
            positions.entry(key.clone()).and_modify(|p| *p = (*p).min(*o)).or_insert(*o);
        }
        OutputPositions { positions }
    }

    pub fn to_vec(&self) -> Vec<(String, i32, i64)> {
        self.positions.iter().map(|((t, p), o)| (t.clone(), *p, *o)).collect()
    }
}

/// The current end (high watermark) of every partition of `topics`. Blocking.
pub fn output_ends(config: &ClientConfig, topics: &[String]) -> Result<BTreeMap<(String, i32), i64>, StoreError> {
    let err = |topic: &str, detail: String| StoreError::Read { topic: topic.to_string(), partition: -1, detail };
    let consumer: BaseConsumer<LoggingContext> =
        config.create_with_context(LoggingContext::default()).map_err(|e| err("", e.to_string()))?;
    let mut ends = BTreeMap::new();
    for topic in topics {
        let metadata = consumer.fetch_metadata(Some(topic.as_str()), TIMEOUT).map_err(|e| err(topic, e.to_string()))?;
        let Some(t) = metadata.topics().iter().find(|t| t.name() == topic) else { continue };
        for p in t.partitions() {
            let (_, high) = consumer.fetch_watermarks(topic, p.id(), TIMEOUT).map_err(|e| err(topic, e.to_string()))?;
            ends.insert((topic.clone(), p.id()), high);
        }
    }
    Ok(ends)
}

/// Ids this partition published past its checkpoint, to suppress when reprocessing re-emits them.
#[derive(Debug, Default)]
pub struct Suppression {
    ids: HashSet<String>,
    /// Once processing has reached these next offsets (per side) `ids` is dropped.
    until: [i64; SIDES],
    /// Ids of records not tied to input (no input header: threshold alerts), kept until
    /// re-emitted.
    untied: HashSet<String>,
}

impl Suppression {
    pub fn len(&self) -> usize {
        self.ids.len() + self.untied.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ids.is_empty() && self.untied.is_empty()
    }

    /// Whether `id` was published already (then it is forgotten: it is re-emitted once).
    pub fn suppress(&mut self, id: &str) -> bool {
        self.ids.remove(id) || self.untied.remove(id)
    }

    /// Drops the input-tied ids once processing passed the furthest input any of their records
    /// came from; `true` when nothing is left to suppress.
    pub fn passed(&mut self, next: [i64; SIDES]) -> bool {
        if !self.ids.is_empty() && next.iter().zip(self.until).all(|(next, until)| *next >= until) {
            self.ids = HashSet::new();
        }
        self.is_empty()
    }
}

/// Reads the outputs from `from` to `to` and keeps the ids of records made by `partition`. Blocking.
pub fn read_back(
    config: &ClientConfig,
    partition: i32,
    from: &[(String, i32, i64)],
    to: &BTreeMap<(String, i32), i64>,
) -> Result<(Suppression, u64), StoreError> {
    let mut out = Suppression { until: [-1; SIDES], ..Suppression::default() };
    let read = read_ours(config, partition, from, to, |record| match record.input {
        Some(next) => {
            out.ids.insert(record.id.to_string());
            // Records written before the repartition side existed name two sides.
            for (side, value) in next.split(',').take(SIDES).enumerate() {
                if let Ok(v) = value.parse::<i64>() {
                    out.until[side] = out.until[side].max(v);
                }
            }
        }
        None => {
            out.untied.insert(record.id.to_string());
        }
    })?;
    Ok((out, read))
}

/// Where records lie, `(partition, offset)`, by `(topic, id)`.
pub type Found = HashMap<(String, String), (i32, i64)>;

/// Where the records of `partition` between `from` and `to` lie. Blocking.
pub fn find_ours(
    config: &ClientConfig,
    partition: i32,
    from: &[(String, i32, i64)],
    to: &BTreeMap<(String, i32), i64>,
) -> Result<Found, StoreError> {
    let mut found = HashMap::new();
    read_ours(config, partition, from, to, |record| {
        found.insert((record.topic.to_string(), record.id.to_string()), (record.partition, record.offset));
    })?;
    Ok(found)
}

/// One output record made by the partition being read for.
struct Ours<'a> {
    topic: &'a str,
    partition: i32,
    offset: i64,
    id: &'a str,
    /// Its input position header, if it is tied to input.
    input: Option<&'a str>,
}

/// Reads the outputs from `from` to `to` and calls `each` for every record made by `partition`;
/// returns how many records were read. Blocking.
fn read_ours(
    config: &ClientConfig,
    partition: i32,
    from: &[(String, i32, i64)],
    to: &BTreeMap<(String, i32), i64>,
    mut each: impl FnMut(Ours<'_>),
) -> Result<u64, StoreError> {
    let err = |detail: String| StoreError::Read { topic: "outputs".into(), partition, detail };
    let consumer: BaseConsumer<LoggingContext> =
        config.create_with_context(LoggingContext::default()).map_err(|e| err(e.to_string()))?;
    let mut tpl = TopicPartitionList::new();
    let mut remaining = BTreeMap::new();
    for (topic, p, start) in from {
        let end = to.get(&(topic.clone(), *p)).copied().unwrap_or(*start);
        if end > *start {
            tpl.add_partition_offset(topic, *p, Offset::Offset(*start)).map_err(|e| err(e.to_string()))?;
            remaining.insert((topic.clone(), *p), end);
        }
    }
    let mut read = 0u64;
    if remaining.is_empty() {
        return Ok(read);
    }
    consumer.assign(&tpl).map_err(|e| err(e.to_string()))?;
    let deadline = Instant::now() + READ_TIMEOUT;
    let wanted = partition.to_string();
    while !remaining.is_empty() {
        if Instant::now() > deadline {
            return Err(err(format!("outputs not read back within {READ_TIMEOUT:?}")));
        }
        let message = match consumer.poll(Duration::from_millis(500)) {
            None => continue,
            Some(Err(e)) => return Err(err(e.to_string())),
            Some(Ok(m)) => m,
        };
        read += 1;
        let key = (message.topic().to_string(), message.partition());
        if remaining.get(&key).is_some_and(|end| message.offset() + 1 >= *end) {
            remaining.remove(&key);
        }
        let Some(headers) = message.headers() else { continue };
        let header = |name: &str| {
            headers.iter().find(|h| h.key == name).and_then(|h| h.value).and_then(|v| std::str::from_utf8(v).ok())
        };
        if header(PARTITION_HEADER) != Some(wanted.as_str()) {
            continue;
        }
        let Some(id) = header(ID_HEADER) else { continue };
        each(Ours {
            topic: message.topic(),
            partition: message.partition(),
            offset: message.offset(),
            id,
            input: header(INPUT_HEADER),
        });
    }
    Ok(read)
}
