//! Where records come from: JSONL files for replay, Kafka for the service, and the simulator.

pub mod decoding_reader;
pub mod demo_feed;
pub mod embedded;
pub mod group_rejoin;
pub mod jsonl;
pub mod kafka;
pub mod kafka_client;
pub mod kafka_log;
pub mod merge;
pub mod renewing_producer;
pub mod simulator;
pub mod topology;
