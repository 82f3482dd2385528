//! The embedded demo broker (`kafka.brokers = "embedded"`, the default): librdkafka's in-process
//! mock cluster, which speaks the Kafka protocol on a loopback port, with every configured topic
//! created. The service then runs its real consumer and producer path against it, fed by the
//! simulator ([`super::demo_feed`]), so a fresh machine shows the whole pipeline with one command.
//!
//! The mock cluster is not `Send`: it lives on a thread of its own until [`EmbeddedBroker::stop`].

use std::sync::mpsc;
use std::thread::JoinHandle;

use rdkafka::mocking::MockCluster;
use thiserror::Error;

use crate::config::TopicsConfig;

#[derive(Debug, Error)]
pub enum EmbeddedError {
    #[error("cannot start the embedded kafka broker: {0}")]
    Start(String),
}

impl EmbeddedError {
    pub fn code(&self) -> &'static str {
        match self {
            EmbeddedError::Start(_) => "start",
        }
    }
}

pub struct EmbeddedBroker {
    bootstrap: String,
    stop: Option<mpsc::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl EmbeddedBroker {
    /// Starts the broker with every topic of `topics`, `partitions` partitions each.
    pub fn start(topics: &TopicsConfig, partitions: i32) -> Result<Self, EmbeddedError> {
        let mut names = vec![
            topics.interactions.clone(),
            topics.surveys.clone(),
            topics.alerts.clone(),
            topics.reengagement.clone(),
            topics.dead_letter.clone(),
            topics.repartition.clone(),
        ];
        names.dedup();
        let (ready_tx, ready_rx) = mpsc::channel::<Result<String, String>>();
        let (stop_tx, stop_rx) = mpsc::channel::<()>();
        let thread = std::thread::Builder::new()
            .name("embedded-kafka".into())
            .spawn(move || {
                let cluster = match MockCluster::new(1) {
                    Ok(cluster) => cluster,
                    Err(e) => {
                        let _ = ready_tx.send(Err(e.to_string()));
                        return;
                    }
                };
                for name in &names {
                    if let Err(e) = cluster.create_topic(name, partitions, 1) {
                        let _ = ready_tx.send(Err(format!("topic {name}: {e}")));
                        return;
                    }
                }
                let _ = ready_tx.send(Ok(cluster.bootstrap_servers()));
                // Until stopped (or the handle is dropped).
                let _ = stop_rx.recv();
                drop(cluster);
            })
            .map_err(|e| EmbeddedError::Start(e.to_string()))?;
        let bootstrap = ready_rx
            .recv()
            .map_err(|_| EmbeddedError::Start("the broker thread ended early".into()))?
            .map_err(EmbeddedError::Start)?;
        Ok(EmbeddedBroker { bootstrap, stop: Some(stop_tx), thread: Some(thread) })
    }

    /// The `host:port` list clients connect to.
    pub fn bootstrap(&self) -> &str {
        &self.bootstrap
    }

    /// Stops the broker and waits for its thread. Blocking.
    pub fn stop(mut self) {
        self.shutdown();
    }

    fn shutdown(&mut self) {
        drop(self.stop.take());
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Drop for EmbeddedBroker {
    fn drop(&mut self) {
        self.shutdown();
    }
}
