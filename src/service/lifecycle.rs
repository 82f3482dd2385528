//! Partitions coming and going: a task and an engine partition per assigned number, stopped and
//! dropped on revoke. The task restores the partition's state from its checkpoint before it
//! processes anything and writes a last checkpoint when stopped (see `checkpoint`), so a partition
//! that comes back, here or on another instance, resumes exactly where it was.

use std::collections::BTreeMap;
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use tokio::runtime::Handle;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::partition_task::PartitionTask;
use super::positions::Positions;
use super::readiness::Readiness;
use super::TaskEnv;
use crate::source::kafka::{AssignedPartition, LiveConsumer, PartitionLifecycle, SIDES};

/// After the graceful wait, how long an abandoned task gets to notice.
const ABANDON_GRACE: Duration = Duration::from_secs(2);

struct Running {
    topics: [Option<String>; SIDES],
    positions: Arc<Positions>,
    stop: CancellationToken,
    abandon: CancellationToken,
    /// Disconnected when the task has ended (its sender is dropped, also on panic).
    done: Receiver<()>,
}

/// What the lag probe needs to know about a running partition.
pub struct PartitionProgress {
    pub number: i32,
    pub topics: [Option<String>; SIDES],
    pub positions: Arc<Positions>,
}

pub struct Lifecycle {
    env: Arc<TaskEnv>,
    readiness: Arc<Readiness>,
    handle: Handle,
    tracker: TaskTracker,
    stop_timeout: Duration,
    running: Mutex<BTreeMap<i32, Running>>,
}

impl Lifecycle {
    pub fn new(
        env: Arc<TaskEnv>,
        readiness: Arc<Readiness>,
        handle: Handle,
        tracker: TaskTracker,
        stop_timeout: Duration,
    ) -> Self {
        Lifecycle { env, readiness, handle, tracker, stop_timeout, running: Mutex::default() }
    }

    fn running(&self) -> MutexGuard<'_, BTreeMap<i32, Running>> {
        self.running.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn progress(&self) -> Vec<PartitionProgress> {
        self.running()
            .iter()
            .map(|(number, r)| PartitionProgress {
                number: *number,
                topics: r.topics.clone(),
                positions: Arc::clone(&r.positions),
            })
            .collect()
    }

    /// Stops every partition (shutdown). Blocking: call from `spawn_blocking`.
    pub fn stop_all(&self) {
        let numbers: Vec<i32> = self.running().keys().copied().collect();
        self.revoked(&numbers, false);
    }

    /// Waits for each task until the deadline, then abandons the rest and waits a little more.
    fn wait_all(&self, stopped: &[(i32, Running)], lost: bool) {
        let deadline = Instant::now() + if lost { Duration::ZERO } else { self.stop_timeout };
        for (number, running) in stopped {
            let left = deadline.saturating_duration_since(Instant::now());
            if running.done.recv_timeout(left) == Err(RecvTimeoutError::Timeout) {
                if !lost {
                    tracing::warn!(partition = number, "partition task did not finish in time; abandoning its batch");
                }
                running.abandon.cancel();
                if running.done.recv_timeout(ABANDON_GRACE) == Err(RecvTimeoutError::Timeout) {
                    tracing::error!(partition = number, "partition task still running after being abandoned");
                }
            }
        }
    }
}

impl PartitionLifecycle for Lifecycle {
    fn assigned(&self, partition: AssignedPartition, consumer: &Arc<LiveConsumer>) {
        let number = partition.number;
        let mut running = self.running();
        if running.contains_key(&number) {
            tracing::warn!(partition = number, "partition assigned twice; keeping the running task");
            return;
        }
        let engine_partition = self.env.engine.partition(number);
        let topics = partition.sides.each_ref().map(|s| s.as_ref().map(|s| s.topic.clone()));
        let positions = Arc::new(Positions::default());
        let stop = CancellationToken::new();
        let abandon = self.env.abandon.child_token();
        let (done_tx, done) = std::sync::mpsc::sync_channel::<()>(0);
        let task = PartitionTask::new(
            Arc::clone(&self.env),
            number,
            engine_partition,
            partition.sides,
            Arc::clone(&positions),
            Arc::clone(consumer),
            abandon.clone(),
        );
        let task_stop = stop.clone();
        self.tracker.spawn_on(
            async move {
                task.run(task_stop).await;
                drop(done_tx);
            },
            &self.handle,
        );
        running.insert(number, Running { topics, positions, stop, abandon, done });
        self.readiness.set_assigned(running.len());
    }

    fn revoked(&self, numbers: &[i32], lost: bool) {
        let stopped: Vec<(i32, Running)> = {
            let mut running = self.running();
            let stopped = numbers.iter().filter_map(|n| running.remove(n).map(|r| (*n, r))).collect();
            self.readiness.set_assigned(running.len());
            stopped
        };
        for (_, running) in &stopped {
            running.stop.cancel();
            if lost {
                running.abandon.cancel();
            }
        }
        self.wait_all(&stopped, lost);
        for (number, running) in &stopped {
            self.env.engine.view.unregister(*number);
            self.env.rules.forget_partition(*number);
            self.readiness.set_refused(*number, None);
            for topic in running.topics.iter().flatten() {
                self.env.metrics.forget_partition_lag(topic, *number);
            }
        }
    }
}
