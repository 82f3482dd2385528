//! What cxpulse tells the outside world: alerts and re-engagement messages, with deterministic ids,
//! and the sinks they are written to.

pub mod id;
pub mod kafka_sink;
pub mod record;
pub mod sink;

pub use record::{Alert, AlertKind, Effect, ReengagementMessage};
pub use sink::{EffectSink, JsonlEffectSink};
