//! Where records come from: JSONL files for replay, Kafka for the service, and the simulator.

pub mod jsonl;
pub mod simulator;
