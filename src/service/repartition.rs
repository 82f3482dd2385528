//! Re-keying (`kafka.mismatched_keys = "repartition"`), as Kafka Streams re-keys through a
//! repartition topic: a record whose Kafka key is missing or not its `customer_id` is not applied
//! where it arrived but forwarded, keyed by its customer id, to the partition of `cx.repartition`
//! that carries the number of its customer's partition. The task of that number reads it as its
//! third input side and applies it there, so a customer lives in exactly one partition.
//!
//! Which number is the customer's depends on how the input's producers partition by key
//! (`kafka.key_partitioner`); librdkafka's own partitioner functions compute it, so the answer
//! is exactly what a librdkafka producer would pick (`murmur2` is the Java clients' choice).
//!
//! Exactly once, without transactions: a forward is one of the batch's records, so it is
//! delivered before any input offset that covers it is stored, and it carries an id
//! (`rk:{topic}:{partition}:{offset}`, its source position) and the input position in its headers
//! like any effect. After a crash, the restore reads the outputs back, the repartition topic
//! among them, and suppresses a forward that was delivered already when its input is processed
//! again (`checkpoint::effects`). The receiving side's offsets are checkpointed like any input's.

use std::sync::OnceLock;

use rdkafka::bindings::{rd_kafka_msg_partitioner_consistent, rd_kafka_msg_partitioner_murmur2};

use crate::config::KeyPartitioner;

/// The repartition topic as the partition tasks use it.
#[derive(Debug)]
pub struct Repartition {
    topic: String,
    partitioner: KeyPartitioner,
    /// The input's partition count, known once the topic was checked at start-up.
    partitions: OnceLock<i32>,
}

impl Repartition {
    pub fn new(topic: &str, partitioner: KeyPartitioner) -> Self {
        Repartition { topic: topic.to_string(), partitioner, partitions: OnceLock::new() }
    }

    pub fn topic(&self) -> &str {
        &self.topic
    }

    pub fn set_partitions(&self, partitions: i32) {
        let _ = self.partitions.set(partitions);
    }

    /// The partition number of a customer: where the input's producers put records keyed by its id.
    /// `None` before start-up checked the topic.
    pub fn partition_of(&self, customer_id: &str) -> Option<i32> {
        self.partitions.get().map(|n| partition_for(self.partitioner, customer_id.as_bytes(), *n))
    }
}

/// librdkafka's partitioner for a non-null `key` over `partitions` partitions.
pub fn partition_for(partitioner: KeyPartitioner, key: &[u8], partitions: i32) -> i32 {
    let f = match partitioner {
        KeyPartitioner::Murmur2 => rd_kafka_msg_partitioner_murmur2,
        KeyPartitioner::Consistent => rd_kafka_msg_partitioner_consistent,
    };
    // SAFETY: for a non-null key both functions only hash `key[..len]` and reduce it modulo
    // `partitions` (librdkafka's rdkafka_msg.c); the topic handle and opaques are read only for
    // a null key (random fallback), which is never passed here.
    let p = unsafe {
        f(
            std::ptr::null(),
            key.as_ptr().cast(),
            key.len(),
            partitions.max(1),
            std::ptr::null_mut(),
            std::ptr::null_mut(),
        )
    };
    p.clamp(0, partitions.max(1) - 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Kafka's own murmur2 test vectors (`Utils.murmur2`, then `toPositive(h) % n`): the keys
    /// land where a Java producer puts them.
    #[test]
    fn murmur2_agrees_with_the_java_clients() {
        let java = |h: i32, n: i32| (h & 0x7fff_ffff) % n;
        for (key, hash) in [
            ("21", -973_932_308),
            ("foobar", -790_332_482),
            ("a-little-bit-long-string", -985_981_536),
            ("a-little-bit-longer-string", -1_486_304_829),
            ("lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8", -58_897_971),
            ("abc", 479_470_107),
        ] {
            for n in [1, 2, 3, 7, 64, 1000] {
                assert_eq!(partition_for(KeyPartitioner::Murmur2, key.as_bytes(), n), java(hash, n), "{key} over {n}");
            }
        }
    }

    #[test]
    fn consistent_is_crc32_modulo_the_count() {
        // CRC-32 (IEEE) of "123456789" is 0xCBF43926.
        for n in [1, 2, 3, 7, 64] {
            assert_eq!(partition_for(KeyPartitioner::Consistent, b"123456789", n), (0xCBF4_3926u32 % n as u32) as i32);
        }
    }

    #[test]
    fn no_partition_before_the_count_is_known() {
        let r = Repartition::new("cx.repartition", KeyPartitioner::Murmur2);
        assert_eq!(r.partition_of("c-1"), None);
        r.set_partitions(4);
        assert!((0..4).contains(&r.partition_of("c-1").unwrap()));
    }
}
