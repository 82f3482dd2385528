//! Where checkpoints are kept: the compacted changelog topic (partition p holds input partition
//! p), or a local directory with the same records as files. Writes retry until acknowledged (or
//! the service gives up at its shutdown deadline); reads return every record of one partition.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use rdkafka::producer::FutureRecord;

use crate::source::kafka_log::LoggingContext;
use crate::source::renewing_producer::RenewingProducer;
use rdkafka::{ClientConfig, Offset, TopicPartitionList};
use thiserror::Error;
use tokio_util::sync::CancellationToken;

use super::ownership::lease_passed;
use super::restore::Stored;
use super::snapshot::Record;

const FIRST_BACKOFF: Duration = Duration::from_millis(100);
const MAX_BACKOFF: Duration = Duration::from_secs(5);
const METADATA_TIMEOUT: Duration = Duration::from_secs(10);
/// A changelog partition must be read to its end within this, or the restore fails (and retries).
const READ_TIMEOUT: Duration = Duration::from_secs(300);

#[derive(Debug, Error)]
pub enum StoreError {
    #[error("gave up writing the checkpoint at shutdown; the input since the last one will be read again")]
    Abandoned,
    #[error("partition {partition} was taken over by another instance (this one was paused or cut off past the session timeout): nothing more is published or checkpointed for it here")]
    Fenced { partition: i32 },
    #[error("cannot read changelog {topic} partition {partition}: {detail}")]
    Read { topic: String, partition: i32, detail: String },
    #[error("checkpoint directory {path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("changelog topic {topic}: {detail}")]
    Topic { topic: String, detail: String },
}

/// The checkpoint store of the service.
pub enum Store {
    Kafka(KafkaStore),
    Directory(DirectoryStore),
}

impl Store {
    /// Writes records and returns once all are durable; retries until `abandon`. In a changelog
    /// topic: the offset after the last of them (`None` in a directory).
    pub async fn write(&self, records: &[Record], abandon: &CancellationToken) -> Result<Option<i64>, StoreError> {
        let mut rounds = WriteRounds::new(records);
        while !rounds.next(self, None, abandon).await? {}
        Ok(rounds.end)
    }

    /// The end (high watermark) of a changelog partition; `None` in a directory.
    pub async fn end(&self, partition: i32) -> Result<Option<i64>, StoreError> {
        let Store::Kafka(k) = self else { return Ok(None) };
        let (watermarks, topic) = (std::sync::Arc::clone(&k.watermarks), k.topic.clone());
        let fetched =
            tokio::task::spawn_blocking(move || watermarks.fetch_watermarks(&topic, partition, METADATA_TIMEOUT)).await;
        let err = |detail: String| StoreError::Read { topic: k.topic.clone(), partition, detail };
        match fetched {
            Ok(Ok((_, high))) => Ok(Some(high)),
            Ok(Err(e)) => Err(err(e.to_string())),
            Err(e) => Err(err(format!("task failed: {e}"))),
        }
    }

    /// Every record of one partition, in the order written.
    pub async fn read(&self, partition: i32) -> Result<Vec<Stored>, StoreError> {
        self.read_from(partition, None).await
    }

    /// The records of one partition from offset `from` on (from the start: `None`; a directory
    /// has no offsets and always reads everything).
    pub async fn read_from(&self, partition: i32, from: Option<i64>) -> Result<Vec<Stored>, StoreError> {
        let join = |e: tokio::task::JoinError| StoreError::Read {
            topic: String::new(),
            partition,
            detail: format!("reader task failed: {e}"),
        };
        match self {
            Store::Kafka(k) => {
                let (config, topic) = (k.reader.clone(), k.topic.clone());
                tokio::task::spawn_blocking(move || read_partition(&config, &topic, partition, from))
                    .await
                    .map_err(join)?
            }
            Store::Directory(d) => {
                let d = d.clone();
                tokio::task::spawn_blocking(move || d.read(partition)).await.map_err(join)?
            }
        }
    }

    pub fn describe(&self) -> String {
        match self {
            Store::Kafka(k) => format!("changelog topic {}", k.topic),
            Store::Directory(d) => format!("directory {}", d.root.display()),
        }
    }
}

pub struct KafkaStore {
    topic: String,
    producer: RenewingProducer,
    /// Settings of the short-lived restore consumers (no group: partitions are assigned).
    reader: ClientConfig,
    /// Asks partitions' ends, for the ownership checks (`checkpoint::ownership`).
    watermarks: std::sync::Arc<BaseConsumer<LoggingContext>>,
}

impl KafkaStore {
    /// `producer` must be idempotent with acks=all; `base` carries bootstrap and security settings.
    pub fn new(topic: &str, producer: &ClientConfig, base: &ClientConfig) -> Result<Self, rdkafka::error::KafkaError> {
        let mut producer = producer.clone();
        producer.set("message.max.bytes", "8388608");
        let reader = reader_config(base);
        Ok(KafkaStore {
            topic: topic.to_string(),
            producer: RenewingProducer::new(&producer, LoggingContext::default(), "changelog")?,
            watermarks: std::sync::Arc::new(reader.create_with_context(LoggingContext::default())?),
            reader,
        })
    }

    /// Creates a topic of `partitions` partitions unless it exists: compacted (changelog, cluster
    /// topics), where an existing one with fewer partitions than the input is refused, or not
    /// (the repartition topic), where an existing one needs exactly as many, since the `range`
    /// assignor keeps partition numbers together only across topics of equal counts.
    pub async fn ensure_topic(
        base: &ClientConfig,
        topic: &str,
        partitions: i32,
        replication: i32,
        compacted: bool,
    ) -> Result<(), StoreError> {
        let err = |detail: String| StoreError::Topic { topic: topic.to_string(), detail };
        let admin: AdminClient<LoggingContext> =
            base.create_with_context(LoggingContext::default()).map_err(|e| err(e.to_string()))?;
        let (existing, brokers) = {
            let metadata =
                admin.inner().fetch_metadata(Some(topic), METADATA_TIMEOUT).map_err(|e| err(e.to_string()))?;
            let topics = metadata.topics();
            let existing =
                topics.iter().find(|t| t.name() == topic && t.error().is_none()).map(|t| t.partitions().len());
            (existing, metadata.brokers().len())
        };
        if let Some(n) = existing.filter(|n| *n > 0) {
            if (n as i32) < partitions {
                return Err(err(format!(
                    "has {n} partitions but the input has {partitions}; each input partition needs its own"
                )));
            }
            if !compacted && n as i32 != partitions {
                return Err(err(format!("has {n} partitions but the input has {partitions}; it needs as many")));
            }
            return Ok(());
        }
        // -1: three replicas, or as many as there are brokers when fewer.
        let replication =
            TopicReplication::Fixed(if replication > 0 { replication } else { (brokers as i32).clamp(1, 3) });
        let cleanup = if compacted { "compact" } else { "delete" };
        let new = NewTopic::new(topic, partitions, replication).set("cleanup.policy", cleanup);
        let options = AdminOptions::new().operation_timeout(Some(METADATA_TIMEOUT));
        let results = admin.create_topics([&new], &options).await.map_err(|e| err(e.to_string()))?;
        for result in results {
            match result {
                Ok(_) => tracing::info!(topic, partitions, cleanup, "topic created"),
                Err((_, rdkafka::types::RDKafkaErrorCode::TopicAlreadyExists)) => {}
                Err((_, code)) => return Err(err(format!("cannot create it: {code}"))),
            }
        }
        Ok(())
    }

    /// Sends one record once: its offset once acknowledged, or the producer's error (after which
    /// a producer that failed for good is replaced); `None`: not sent, `lease` had passed.
    async fn send(
        &self,
        record: &Record,
        lease: Option<Instant>,
        abandon: &CancellationToken,
    ) -> Result<Option<Result<i64, rdkafka::error::KafkaError>>, StoreError> {
        let mut out =
            FutureRecord::<str, [u8]>::to(&self.topic).key(record.key.as_str()).partition(partition_of(&record.key));
        if let Some(value) = &record.value {
            out = out.payload(value.as_slice());
        }
        let producer = self.producer.get();
        if lease_passed(lease) {
            return Ok(None);
        }
        // No waiting for room in a full queue: the record would be handed over after the wait,
        // past the lease. A full queue fails the record, which the next round sends again.
        let error = tokio::select! {
            result = producer.send(out, Duration::ZERO) => match result {
                Ok(delivery) => return Ok(Some(Ok(delivery.offset))),
                Err((e, _)) => e,
            },
            _ = abandon.cancelled() => return Err(StoreError::Abandoned),
        };
        self.producer.renew_after(&producer, Some(&error));
        Ok(Some(Err(error)))
    }
}

/// A write done in rounds: each sends every record not acknowledged yet once, and a round with
/// failures is followed by a growing pause. A caller that must check something before each
/// round (an owner confirming it still owns the partition, `service::durable`) drives the rounds
/// itself; [`Store::write`] simply runs them to the end.
pub struct WriteRounds<'a> {
    pending: Vec<&'a Record>,
    backoff: Duration,
    /// The offset after the last record acknowledged so far (`None`: none yet, or a directory).
    pub end: Option<i64>,
}

impl<'a> WriteRounds<'a> {
    pub fn new(records: &'a [Record]) -> Self {
        WriteRounds { pending: records.iter().collect(), backoff: FIRST_BACKOFF, end: None }
    }

    /// One round; `true` once every record is durable. With `lease`, a record is handed to the
    /// producer only before that instant (`checkpoint::ownership`); those left over wait for the
    /// next round, without a pause.
    pub async fn next(
        &mut self,
        store: &Store,
        lease: Option<Instant>,
        abandon: &CancellationToken,
    ) -> Result<bool, StoreError> {
        let k = match store {
            Store::Kafka(k) => k,
            Store::Directory(d) => {
                let (dir, records) = (d.clone(), self.pending.iter().map(|r| (*r).clone()).collect::<Vec<_>>());
                let write = tokio::task::spawn_blocking(move || dir.write(&records));
                tokio::select! {
                    done = write => done.map_err(|e| StoreError::Io { path: d.root.display().to_string(),
                        source: std::io::Error::other(e.to_string()) })??,
                    _ = abandon.cancelled() => return Err(StoreError::Abandoned),
                }
                return Ok(true);
            }
        };
        let sent = futures::future::join_all(self.pending.iter().map(|r| k.send(r, lease, abandon))).await;
        let (mut failed, mut error) = (Vec::new(), None);
        for (record, sent) in self.pending.iter().zip(sent) {
            match sent? {
                Some(Ok(offset)) => self.end = self.end.max(Some(offset + 1)),
                Some(Err(e)) => {
                    failed.push(*record);
                    error = Some(e);
                }
                None => failed.push(*record),
            }
        }
        self.pending = failed;
        if self.pending.is_empty() {
            return Ok(true);
        }
        let Some(error) = error else { return Ok(false) };
        let backoff = self.backoff;
        tracing::warn!(topic = k.topic, records = self.pending.len(), %error, retry_in = ?backoff, "cannot write checkpoint, retrying");
        tokio::select! {
            _ = tokio::time::sleep(backoff) => {}
            _ = abandon.cancelled() => return Err(StoreError::Abandoned),
        }
        self.backoff = (backoff * 2).min(MAX_BACKOFF);
        Ok(false)
    }
}

/// Settings of the short-lived consumers that read a changelog partition or the outputs back:
/// no group membership (partitions are assigned), nothing committed.
pub fn reader_config(base: &ClientConfig) -> ClientConfig {
    let mut reader = base.clone();
    reader
        .set("group.id", "cxpulse-checkpoint-restore")
        .set("enable.auto.commit", "false")
        .set("enable.auto.offset.store", "false")
        .set("enable.partition.eof", "false")
        .set("fetch.max.bytes", "16777216");
    reader
}

/// Keys are `{partition}/...`: the changelog partition of a record.
fn partition_of(key: &str) -> i32 {
    key.split('/').next().and_then(|p| p.parse().ok()).unwrap_or(0)
}

fn read_partition(
    config: &ClientConfig,
    topic: &str,
    partition: i32,
    from: Option<i64>,
) -> Result<Vec<Stored>, StoreError> {
    let err = |detail: String| StoreError::Read { topic: topic.to_string(), partition, detail };
    let consumer: BaseConsumer<LoggingContext> =
        config.create_with_context(LoggingContext::default()).map_err(|e| err(e.to_string()))?;
    let (low, high) = consumer.fetch_watermarks(topic, partition, METADATA_TIMEOUT).map_err(|e| err(e.to_string()))?;
    let low = from.map_or(low, |from| from.max(low));
    let mut out = Vec::new();
    if high <= low {
        return Ok(out);
    }
    let mut tpl = TopicPartitionList::new();
    tpl.add_partition_offset(topic, partition, Offset::Offset(low)).map_err(|e| err(e.to_string()))?;
    consumer.assign(&tpl).map_err(|e| err(e.to_string()))?;
    let deadline = Instant::now() + READ_TIMEOUT;
    let mut next = low;
    while next < high {
        if Instant::now() > deadline {
            return Err(err(format!("read only up to offset {next} of {high} in {READ_TIMEOUT:?}")));
        }
        match consumer.poll(Duration::from_millis(500)) {
            None => {
                // Compaction may leave no record at the very end: stop where the consumer stands.
                let position = consumer.position().map_err(|e| err(e.to_string()))?;
                if let Some(Offset::Offset(at)) = position.find_partition(topic, partition).map(|e| e.offset()) {
                    next = next.max(at);
                }
            }
            Some(Err(e)) => return Err(err(e.to_string())),
            Some(Ok(m)) => {
                next = m.offset() + 1;
                let key = m.key().map(|k| String::from_utf8_lossy(k).into_owned()).unwrap_or_default();
                out.push(Stored { key, offset: m.offset(), value: m.payload().map(<[u8]>::to_vec) });
            }
        }
    }
    Ok(out)
}

/// A local directory: `partition-{p}/` with one file per key (`/` written as `_`), written to a
/// temporary name, synced and renamed, so a file is either complete or absent.
#[derive(Debug, Clone)]
pub struct DirectoryStore {
    root: PathBuf,
}

impl DirectoryStore {
    pub fn new(root: &Path) -> Result<Self, StoreError> {
        std::fs::create_dir_all(root).map_err(|source| io(root, source))?;
        Ok(DirectoryStore { root: root.to_path_buf() })
    }

    fn dir(&self, partition: i32) -> PathBuf {
        self.root.join(format!("partition-{partition}"))
    }

    fn write(&self, records: &[Record]) -> Result<(), StoreError> {
        let mut dirs = Vec::new();
        for r in records {
            let dir = self.dir(partition_of(&r.key));
            std::fs::create_dir_all(&dir).map_err(|source| io(&dir, source))?;
            let path = dir.join(r.key.replace('/', "_"));
            match &r.value {
                Some(value) => {
                    let tmp = path.with_extension("tmp");
                    let write = || -> std::io::Result<()> {
                        use std::io::Write;
                        let mut f = std::fs::File::create(&tmp)?;
                        f.write_all(value)?;
                        f.sync_all()?;
                        std::fs::rename(&tmp, &path)
                    };
                    write().map_err(|source| io(&path, source))?;
                }
                None => match std::fs::remove_file(&path) {
                    Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(io(&path, e)),
                    _ => {}
                },
            }
            if !dirs.contains(&dir) {
                dirs.push(dir);
            }
        }
        for dir in dirs {
            std::fs::File::open(&dir).and_then(|d| d.sync_all()).map_err(|source| io(&dir, source))?;
        }
        Ok(())
    }

    fn read(&self, partition: i32) -> Result<Vec<Stored>, StoreError> {
        let dir = self.dir(partition);
        let entries = match std::fs::read_dir(&dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(io(&dir, e)),
        };
        let mut out = Vec::new();
        for entry in entries {
            let entry = entry.map_err(|source| io(&dir, source))?;
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.ends_with(".tmp") {
                continue;
            }
            let value = std::fs::read(entry.path()).map_err(|source| io(&entry.path(), source))?;
            out.push(Stored { key: name.replace('_', "/"), offset: -1, value: Some(value) });
        }
        Ok(out)
    }
}

fn io(path: &Path, source: std::io::Error) -> StoreError {
    StoreError::Io { path: path.display().to_string(), source }
}
