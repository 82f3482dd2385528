//! `cxpulse_restore_*` and `cxpulse_checkpoint_*`: restore progress and checkpoint volume.

use prometheus::{Counter, IntCounter, IntCounterVec, IntGauge, Opts, Registry};

pub struct CheckpointMetrics {
    pub restoring: IntGauge,
    pub restore_records: IntCounter,
    pub restore_bytes: IntCounter,
    pub restore_customers: IntCounter,
    pub restore_seconds: Counter,
    pub restore_failures: IntCounter,
    pub checkpoints: IntCounterVec,
    pub checkpoint_bytes: IntCounter,
    pub suppressed: IntCounter,
    pub fenced: IntCounter,
}

impl CheckpointMetrics {
    /// Creates the metrics in `registry` (once per service).
    pub fn register(registry: &Registry) -> prometheus::Result<Self> {
        let restoring = IntGauge::new("cxpulse_restore_partitions_restoring", "Partitions restoring their state now.")?;
        let restore_records =
            IntCounter::new("cxpulse_restore_records_total", "Checkpoint and output records read by restores.")?;
        let restore_bytes = IntCounter::new("cxpulse_restore_bytes_total", "Checkpoint bytes read by restores.")?;
        let restore_customers = IntCounter::new("cxpulse_restore_customers_total", "Customers restored.")?;
        let restore_seconds = Counter::new("cxpulse_restore_seconds_total", "Time spent restoring partitions.")?;
        let restore_failures = IntCounter::new(
            "cxpulse_restore_failures_total",
            "Restores refused (corrupt, missing or incompatible checkpoint) or reset by the operator's choice.",
        )?;
        let checkpoints =
            IntCounterVec::new(Opts::new("cxpulse_checkpoints_total", "Checkpoints written by kind."), &["kind"])?;
        let checkpoint_bytes = IntCounter::new("cxpulse_checkpoint_bytes_total", "Bytes of checkpoints written.")?;
        let suppressed = IntCounter::new(
            "cxpulse_effects_suppressed_total",
            "Effects found published already and not published again: re-emitted after a restore, or sent again after a delivery that failed although the record had landed.",
        )?;
        let fenced = IntCounter::new(
            "cxpulse_partitions_fenced_total",
            "Partitions this instance stopped publishing for because another instance had taken them over (it was paused or cut off past the session timeout).",
        )?;
        for kind in ["base", "delta"] {
            checkpoints.with_label_values(&[kind]);
        }
        registry.register(Box::new(restoring.clone()))?;
        registry.register(Box::new(restore_records.clone()))?;
        registry.register(Box::new(restore_bytes.clone()))?;
        registry.register(Box::new(restore_customers.clone()))?;
        registry.register(Box::new(restore_seconds.clone()))?;
        registry.register(Box::new(restore_failures.clone()))?;
        registry.register(Box::new(checkpoints.clone()))?;
        registry.register(Box::new(checkpoint_bytes.clone()))?;
        registry.register(Box::new(suppressed.clone()))?;
        registry.register(Box::new(fenced.clone()))?;
        Ok(CheckpointMetrics {
            restoring,
            restore_records,
            restore_bytes,
            restore_customers,
            restore_seconds,
            restore_failures,
            checkpoints,
            checkpoint_bytes,
            suppressed,
            fenced,
        })
    }
}
