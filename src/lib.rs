//! # cxpulse
//!
//! Turns a customer event stream into live customer-experience figures per segment, customer
//! transitions (inactive, churned, reactivated), re-engagement messages and threshold alerts.
//!
//! # Layout
//!
//! ```text
//! JSONL file / Kafka / embedded broker
//!    │ raw record {source position, bytes}
//!    ▼
//! source/     the JSONL reader, the simulator (and the Kafka consumer)
//!    ▼
//! event/      decode + validate → Event, or Rejection{reason} → dead letter
//!    ▼
//! engine/     the stream clock; one Partition per input partition, merged through EngineView
//!    ├─ state/    customers (one store per partition), segment catalog, dedup, tickets, inactivity index
//!    └─ window/   epoch-aligned bucket rings per segment, mergeable partials, metric formulas
//!    ▼
//! detect/     transitions (inactive, churned, reactivated) and threshold rules
//!    ▼
//! alert/      alert and message records with deterministic ids; sinks
//! telemetry/  service metrics registry and the segment gauge exposition
//! config/     serde structs, layering (defaults ← file ← env), validation
//! replay.rs   `cxpulse replay` wiring
//! cluster/    the partials exchange: every instance merges every partition's figures
//! service/    `cxpulse run`: Kafka in and out, partition tasks, readiness, shutdown
//! fuzzing.rs  bodies of the fuzz targets (`fuzz/`), also run over the corpora by the tests
//! ```

pub mod alert;
pub mod checkpoint;
pub mod cluster;
pub mod config;
pub mod detect;
pub mod engine;
pub mod event;
#[doc(hidden)]
pub mod fuzzing;
pub mod replay;
pub mod service;
pub mod source;
pub mod state;
pub mod telemetry;
pub mod window;
