//! `/readyz`: ready when the brokers answer, the input topics are laid out right, partitions are
//! assigned and their summed consumer lag is within `service.ready_max_lag`.

use std::sync::atomic::{AtomicBool, AtomicI64, AtomicUsize, Ordering};
use std::sync::Arc;

use crate::source::kafka_log::BrokerStatus;

/// Lag not measured yet.
const UNKNOWN: i64 = -1;

#[derive(Debug)]
pub struct Readiness {
    broker: Arc<BrokerStatus>,
    topology_ok: AtomicBool,
    assigned: AtomicUsize,
    lag: AtomicI64,
    max_lag: u64,
    stopping: AtomicBool,
    /// Assigned partitions still restoring their state.
    restoring: AtomicUsize,
    /// Partitions that refused to start on a checkpoint they cannot restore, with why.
    refused: std::sync::Mutex<std::collections::BTreeMap<i32, String>>,
    /// Why the cluster figures are not current (stale or foreign partials), if so.
    cluster: std::sync::Mutex<Option<String>>,
}

impl Readiness {
    pub fn new(broker: Arc<BrokerStatus>, max_lag: u64) -> Self {
        Readiness {
            broker,
            topology_ok: AtomicBool::new(false),
            assigned: AtomicUsize::new(0),
            lag: AtomicI64::new(UNKNOWN),
            max_lag,
            stopping: AtomicBool::new(false),
            restoring: AtomicUsize::new(0),
            refused: std::sync::Mutex::default(),
            cluster: std::sync::Mutex::default(),
        }
    }

    /// The partials exchange's verdict (`cluster::Exchange::check`).
    pub fn set_cluster(&self, problem: Option<String>) {
        *self.cluster.lock().unwrap_or_else(|e| e.into_inner()) = problem;
    }

    pub fn broker(&self) -> &Arc<BrokerStatus> {
        &self.broker
    }

    pub fn set_topology_ok(&self, ok: bool) {
        self.topology_ok.store(ok, Ordering::Release);
    }

    pub fn set_assigned(&self, partitions: usize) {
        self.assigned.store(partitions, Ordering::Release);
        if partitions == 0 {
            self.lag.store(UNKNOWN, Ordering::Release);
        }
    }

    pub fn set_lag(&self, lag: i64) {
        self.lag.store(lag.max(0), Ordering::Release);
    }

    pub fn set_stopping(&self) {
        self.stopping.store(true, Ordering::Release);
    }

    pub fn restoring(&self, delta: isize) {
        if delta >= 0 {
            self.restoring.fetch_add(delta as usize, Ordering::AcqRel);
        } else {
            self.restoring.fetch_sub(delta.unsigned_abs(), Ordering::AcqRel);
        }
    }

    /// A partition refuses to run (`Some(why)`), or no longer does (`None`: revoked).
    pub fn set_refused(&self, partition: i32, why: Option<String>) {
        let mut refused = self.refused.lock().unwrap_or_else(|e| e.into_inner());
        match why {
            Some(why) => refused.insert(partition, why),
            None => refused.remove(&partition),
        };
    }

    /// `Ok` when ready, else why not (the `/readyz` body).
    pub fn check(&self) -> Result<(), String> {
        if self.stopping.load(Ordering::Acquire) {
            return Err("shutting down".into());
        }
        if !self.broker.reachable() {
            if self.broker.refused() {
                return Err("kafka refused our credentials or TLS (see the log)".into());
            }
            return Err("kafka brokers unreachable".into());
        }
        if !self.topology_ok.load(Ordering::Acquire) {
            return Err("input topics missing or not co-partitioned (see the log)".into());
        }
        if self.assigned.load(Ordering::Acquire) == 0 {
            return Err("no partitions assigned".into());
        }
        if let Some((partition, why)) = self.refused.lock().unwrap_or_else(|e| e.into_inner()).iter().next() {
            return Err(format!("partition {partition} refuses to run: {why}"));
        }
        if let Some(problem) = self.cluster.lock().unwrap_or_else(|e| e.into_inner()).as_ref() {
            return Err(format!("cluster figures incomplete: {problem}"));
        }
        match self.restoring.load(Ordering::Acquire) {
            0 => {}
            n => return Err(format!("restoring the state of {n} partition(s) from checkpoints")),
        }
        match self.lag.load(Ordering::Acquire) {
            UNKNOWN => Err("consumer lag not measured yet".into()),
            lag if lag as u64 > self.max_lag => {
                Err(format!("catching up: consumer lag {lag} is above service.ready_max_lag {}", self.max_lag))
            }
            _ => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ready_only_when_every_condition_holds() {
        let broker = Arc::new(BrokerStatus::default());
        let r = Readiness::new(Arc::clone(&broker), 100);
        assert!(r.check().unwrap_err().contains("unreachable"));
        broker.set_reachable(true);
        assert!(r.check().unwrap_err().contains("topics"));
        r.set_topology_ok(true);
        assert!(r.check().unwrap_err().contains("assigned"));
        r.set_assigned(2);
        assert!(r.check().unwrap_err().contains("not measured"));
        r.set_lag(500);
        assert!(r.check().unwrap_err().contains("catching up"));
        r.set_lag(100);
        assert_eq!(r.check(), Ok(()));
        r.set_cluster(Some("partition 3's partials are 75 s old".into()));
        assert!(r.check().unwrap_err().contains("partition 3"));
        r.set_cluster(None);
        assert_eq!(r.check(), Ok(()));
        r.set_stopping();
        assert_eq!(r.check(), Err("shutting down".into()));
    }
}
