//! The independent Kafka client of `bench/kafka_throughput.sh` (plain rdkafka, no cxpulse code):
//!
//! * `produce BOOTSTRAP FILE`: every JSONL line to `cx.surveys` (surveys) or `cx.interactions`
//!   (everything else), keyed by customer id, as a well-behaved producer would;
//! * `count BOOTSTRAP GROUP N`: the baseline, a bare consumer of both input topics that only counts
//!   messages; prints `seconds events_per_second`, timed from its first message to its N-th.

use std::io::{BufRead, BufReader};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::producer::DefaultProducerContext;
use rdkafka::producer::{BaseRecord, Producer, ThreadedProducer};
use rdkafka::ClientConfig;

const INTERACTIONS: &str = "cx.interactions";
const SURVEYS: &str = "cx.surveys";

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.iter().map(String::as_str).collect::<Vec<_>>().as_slice() {
        ["produce", bootstrap, file] => produce(bootstrap, file),
        ["count", bootstrap, group, n] => count(bootstrap, group, n.parse().context("N")?),
        _ => bail!("usage: kafka_bench_client produce BOOTSTRAP FILE | count BOOTSTRAP GROUP N"),
    }
}

/// The customer id of a simulator line, without parsing the JSON.
fn customer_id(line: &str) -> Option<&str> {
    let start = line.find(r#""customer_id":""#)? + 15;
    let len = line[start..].find('"')?;
    Some(&line[start..start + len])
}

fn produce(bootstrap: &str, file: &str) -> anyhow::Result<()> {
    let producer: ThreadedProducer<DefaultProducerContext> = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("linger.ms", "50")
        .set("batch.num.messages", "10000")
        .set("queue.buffering.max.messages", "500000")
        .create()?;
    let reader = BufReader::new(std::fs::File::open(file).with_context(|| file.to_string())?);
    let started = Instant::now();
    let mut n = 0u64;
    for line in reader.lines() {
        let line = line?;
        let topic = if line.contains(r#""type":"survey""#) { SURVEYS } else { INTERACTIONS };
        let mut record = BaseRecord::<str, str>::to(topic).payload(&line);
        if let Some(key) = customer_id(&line) {
            record = record.key(key);
        }
        loop {
            match producer.send(record) {
                Ok(()) => break,
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), back)) => {
                    record = back;
                    std::thread::sleep(Duration::from_millis(2));
                }
                Err((e, _)) => bail!("produce failed: {e}"),
            }
        }
        n += 1;
    }
    producer.flush(Duration::from_secs(300))?;
    eprintln!("produced {n} events in {:.1}s", started.elapsed().as_secs_f64());
    Ok(())
}

fn count(bootstrap: &str, group: &str, n: u64) -> anyhow::Result<()> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", group)
        .set("auto.offset.reset", "earliest")
        .set("enable.auto.commit", "false")
        .create()?;
    consumer.subscribe(&[INTERACTIONS, SURVEYS])?;
    let deadline = Instant::now() + Duration::from_secs(600);
    let mut first = None;
    let mut seen = 0u64;
    while seen < n {
        if Instant::now() > deadline {
            bail!("only {seen} of {n} messages within the time limit");
        }
        if let Some(message) = consumer.poll(Duration::from_millis(100)) {
            message?;
            first.get_or_insert_with(Instant::now);
            seen += 1;
        }
    }
    let seconds = first.map_or(0.0, |f| f.elapsed().as_secs_f64());
    println!("{seconds:.3} {:.0}", n as f64 / seconds.max(1e-9));
    Ok(())
}
