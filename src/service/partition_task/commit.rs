//! A partition task's commit point: deliver the batch (each round only while this instance still
//! owns the partition, `checkpoint::ownership`), then, when due, write a checkpoint, and only then
//! store the input offsets it covers (`checkpoint`).

use rdkafka::consumer::Consumer;
use rdkafka::{Offset, TopicPartitionList};

use super::PartitionTask;
use crate::alert::kafka_sink::{OutRecord, PublishError, Retry};
use crate::checkpoint::store::StoreError;
use crate::checkpoint::Extras;
use crate::service::durable::offsets_of;
use crate::service::live_rules::RULES_PARTITION;
use crate::source::kafka::SIDES;

/// How long a checkpoint waits for the delivery of the rule-boundary snapshots it covers.
const SNAPSHOT_WAIT: std::time::Duration = std::time::Duration::from_secs(5);

impl PartitionTask {
    /// Flushes the batch; then, when due (or `force`d at the end), writes a checkpoint. Offsets
    /// are stored only once a checkpoint covers them, so a committed offset never runs ahead of
    /// the durable state.
    pub(super) async fn commit_point(&mut self, force: bool) -> Result<(), PublishError> {
        // A checkpoint must not cover a rule boundary whose snapshot could still be lost
        // (`live_rules`): in a cluster the snapshots taken are published at once and the
        // checkpoint below waits for their delivery; on one instance the boundaries now due are
        // evaluated first.
        if self.hook.has_unpublished() {
            self.publish_in_background();
        }
        self.evaluate_rules();
        self.flush().await?;
        let Some(cp) = self.env.checkpoint.as_ref() else {
            if self.number == RULES_PARTITION {
                self.env.rules.release(self.env.rules.evaluated_until());
            }
            return Ok(());
        };
        let Some(durable) = self.durable.as_mut() else {
            return Ok(());
        };
        durable.processed(self.next_input);
        if !(durable.due(cp, self.partition.clock()) || force && durable.changed) {
            return Ok(());
        }
        if !self.snapshots_delivered().await? {
            return Ok(());
        }
        self.checkpoint_now().await?;
        for side in 0..SIDES {
            if self.next_input[side] >= 0 {
                self.to_store[side] = Some(self.next_input[side]);
            }
        }
        self.store_offsets();
        Ok(())
    }

    /// Waits for the publishes that carried rule-boundary snapshots. When one was lost, or is
    /// still not delivered after [`SNAPSHOT_WAIT`], the partials are published again in full
    /// (with the kept snapshots) and the checkpoint waits for the next commit point.
    async fn snapshots_delivered(&mut self) -> Result<bool, PublishError> {
        let Some(in_flight) = self.snapshots_in_flight.take() else {
            return Ok(true);
        };
        let delivered = tokio::select! {
            delivered = in_flight.delivered_within(SNAPSHOT_WAIT) => delivered,
            _ = self.abandon.cancelled() => return Err(PublishError::Abandoned { output: "partials" }),
        };
        if !delivered {
            tracing::warn!(partition = self.number, "rule-boundary snapshots not delivered; checkpoint postponed");
            self.snapshots_in_flight = self.publish_partials();
        }
        Ok(delivered)
    }

    /// Writes a checkpoint of the partition as it stands (its input offsets, and partition 0's
    /// rule state, whose evaluated boundaries readers may then forget).
    pub(super) async fn checkpoint_now(&mut self) -> Result<(), PublishError> {
        let (Some(durable), Some(cp)) = (self.durable.as_mut(), self.env.checkpoint.as_ref()) else {
            return Ok(());
        };
        let topics = self.sides.each_ref().map(|s| s.as_ref().map(|s| s.topic.clone()));
        let rules = (self.number == RULES_PARTITION).then(|| self.env.rules.export_state());
        let evaluated_until = rules.as_ref().map(|r| r.evaluated_until);
        let extras = Extras { offsets: offsets_of(&topics, self.next_input), rules, ..Extras::default() };
        durable.checkpoint(cp, &mut self.partition, extras, &self.abandon).await.map_err(from_store)?;
        if let Some(through) = evaluated_until {
            self.env.rules.release(through);
        }
        Ok(())
    }

    fn store_offsets(&mut self) {
        let mut offsets = TopicPartitionList::new();
        for (side, next) in std::mem::take(&mut self.to_store).iter().enumerate() {
            if let (Some(next), Some(input)) = (next, &self.sides[side]) {
                if let Err(error) = offsets.add_partition_offset(&input.topic, self.number, Offset::Offset(*next)) {
                    tracing::error!(%error, "cannot build the offset list");
                }
            }
        }
        if offsets.count() > 0 {
            if let Err(error) = self.consumer.store_offsets(&offsets) {
                tracing::warn!(partition = self.number, %error, "cannot store offsets; the records will be read again");
            }
        }
    }

    /// Delivers the batch's records, then stores its offsets.
    async fn flush(&mut self) -> Result<(), PublishError> {
        let batch = std::mem::take(&mut self.batch);
        if !batch.records.is_empty() {
            let (sink, abandon) = (&self.env.sink, &self.abandon);
            let mut retry = Retry::default();
            loop {
                // Each round only while this instance still owns the partition; asked again right
                // after a failure, which is how a paused owner finds out (`checkpoint::ownership`).
                if let (Some(durable), Some(cp)) = (&mut self.durable, &self.env.checkpoint) {
                    durable.still_owner(cp, abandon).await.map_err(from_store)?;
                }
                let lease = self.durable.as_ref().and_then(|durable| durable.lease_until());
                if sink.deliver_round(&batch.records, &mut retry, lease, abandon).await? {
                    break;
                }
                if let (Some(durable), Some(cp)) = (&mut self.durable, &self.env.checkpoint) {
                    durable.still_owner(cp, abandon).await.map_err(from_store)?;
                }
                retry.wait(abandon).await?;
                if let (Some(durable), Some(cp)) = (&self.durable, &self.env.checkpoint) {
                    let topic_of = |record: &OutRecord| sink.topic(record.output).to_string();
                    match durable.find_landed(cp, self.number, &batch.records, topic_of, &mut retry, abandon).await {
                        Ok(()) => {}
                        Err(StoreError::Abandoned) => return Err(from_store(StoreError::Abandoned)),
                        // Not known: sent again, as before this check existed.
                        Err(error) => tracing::warn!(%error, "cannot look for failed records on the broker"),
                    }
                }
            }
            if let Some(durable) = &mut self.durable {
                for (record, (partition, offset)) in batch.records.iter().zip(retry.landed()) {
                    durable.delivered(sink.topic(record.output), partition, offset);
                }
            }
        }
        let metrics = &self.env.metrics;
        for (slot, label) in ["accepted", "duplicate", "late"].into_iter().enumerate() {
            metrics.events(label, batch.outcomes[slot]);
        }
        for (side, next) in batch.next_offsets.iter().enumerate() {
            if let Some(next) = next {
                self.positions.set(side, *next);
                if self.durable.is_none() {
                    self.to_store[side] = Some(*next);
                }
            }
        }
        if self.durable.is_none() {
            self.store_offsets();
        }
        Ok(())
    }
}

fn from_store(error: StoreError) -> PublishError {
    match error {
        StoreError::Fenced { .. } => PublishError::Fenced,
        _ => PublishError::Abandoned { output: "changelog" },
    }
}
