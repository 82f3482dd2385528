//! Getting partitions assigned again after the group dropped this member (a broker outage longer
//! than `session.timeout.ms`).
//!
//! Why it is needed: after such an outage librdkafka rejoins with a new member id, as it should.
//! tansu 0.6.0's coordinator, though, handles the expired member's last queued heartbeat first and
//! removes the member without clearing it as the group's leader; every new `JoinGroup` then names
//! that absent leader, every `SyncGroup` of the rejoining member is answered "rebalance in
//! progress" and then "unknown member", and no partition is ever assigned again (seen every time
//! in a reproduction; read in tansu's `coordinator/group/administrator.rs`). The coordinator drops
//! a leader that is not a member when it reloads the group from storage, which a group request
//! arriving while another is held (a follower's join is held 3 s) makes it do. One consumer never
//! sends two group requests at once, so it cannot get out alone.
//!
//! What this does: once an assignment was lost, and while no partition has been assigned again
//! for [`GRACE`], a second handle of the same group (never subscribed, so never a member) commits
//! one offset every [`EVERY`], for at most [`FOR_AT_MOST`], and stops at the next assignment.
//! `tests/kafka_durable.rs` freezes a broker for 15 s with a 6 s session timeout: the partition was
//! assigned again 3 s after the brokers were seen reachable, in 6 runs of 6.
//!
//! Why it is harmless: the commit is a "simple" commit (generation -1, no member id) of offset 0
//! of [`NUDGE_TOPIC`], a topic nobody consumes, so no consumer's position moves. Kafka's
//! coordinator accepts a simple commit only for a group without members, and answers
//! `UNKNOWN_MEMBER_ID` otherwise (its rule; not tried here, the tests run on tansu); and the
//! nudges stop as soon as a broker that rejoins the member by itself assigns partitions.

use std::time::{Duration, Instant};

use rdkafka::client::ClientContext;
use rdkafka::config::RDKafkaLogLevel;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer, ConsumerContext};
use rdkafka::error::{KafkaError, KafkaResult};
use rdkafka::topic_partition_list::TopicPartitionList;
use rdkafka::{ClientConfig, Offset};

/// How long after a lost assignment the group may take to assign partitions by itself.
pub const GRACE: Duration = Duration::from_secs(3);
/// How often the coordinator is nudged while nothing is assigned.
pub const EVERY: Duration = Duration::from_secs(1);
/// When to give up: a member may legitimately be left without partitions (more members than
/// partitions), and then nudging would never end.
pub const FOR_AT_MOST: Duration = Duration::from_secs(120);
/// The topic of the nudging commit; nothing reads its offsets.
pub const NUDGE_TOPIC: &str = "__cxpulse-rejoin-nudge";

/// When to nudge: a pure function of the times, for testing.
#[derive(Debug, Default)]
pub struct RejoinSchedule {
    lost_at: Option<Instant>,
    last_nudge: Option<Instant>,
    nudges: u32,
}

impl RejoinSchedule {
    /// The group took this member's partitions away (`assignment_lost`).
    pub fn lost(&mut self, now: Instant) {
        self.lost_at.get_or_insert(now);
    }

    /// Partitions were assigned: nothing to do until the next loss.
    pub fn assigned(&mut self) {
        *self = RejoinSchedule::default();
    }

    /// `Some(n)` when the n-th nudge since the loss is due now (and counts it as sent).
    pub fn due(&mut self, now: Instant) -> Option<u32> {
        let waited = now.saturating_duration_since(self.lost_at?);
        let rested = self.last_nudge.is_none_or(|last| now.saturating_duration_since(last) >= EVERY);
        if waited < GRACE || waited > FOR_AT_MOST || !rested {
            return None;
        }
        self.last_nudge = Some(now);
        self.nudges += 1;
        Some(self.nudges)
    }
}

/// The second handle of the group, created on the first nudge (most runs never need it).
pub struct GroupNudger {
    config: ClientConfig,
    handle: Option<BaseConsumer<Quiet>>,
}

/// The nudging handle's context: its commits are refused by design (an unknown topic, or a group
/// with members), and it has nothing else to say that the consumer does not say already.
pub struct Quiet;

impl ClientContext for Quiet {
    fn log(&self, _level: RDKafkaLogLevel, facility: &str, message: &str) {
        tracing::debug!(facility, message, "group nudge");
    }

    fn error(&self, error: KafkaError, reason: &str) {
        tracing::debug!(%error, reason, "group nudge");
    }
}

impl ConsumerContext for Quiet {
    fn commit_callback(&self, _result: KafkaResult<()>, _offsets: &TopicPartitionList) {}
}

impl GroupNudger {
    /// `config` is the consumer's own (the same brokers, security and `group.id`).
    pub fn new(mut config: ClientConfig) -> Self {
        config.set("enable.auto.commit", "false");
        GroupNudger { config, handle: None }
    }

    /// Sends one nudging commit (asynchronously: its answer does not matter) and serves the
    /// handle's callbacks.
    pub fn nudge(&mut self) -> KafkaResult<()> {
        let handle = match &mut self.handle {
            Some(handle) => handle,
            none => none.insert(self.config.create_with_context(Quiet)?),
        };
        let mut offsets = TopicPartitionList::new();
        offsets.add_partition_offset(NUDGE_TOPIC, 0, Offset::Offset(0))?;
        handle.commit(&offsets, CommitMode::Async)?;
        let _ = handle.poll(Duration::ZERO);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nudges_only_after_a_loss_past_the_grace_once_a_second_and_not_for_ever() {
        let start = Instant::now();
        let at = |ms: u64| start + Duration::from_millis(ms);
        let mut schedule = RejoinSchedule::default();
        assert_eq!(schedule.due(at(10_000)), None, "nothing was lost");
        schedule.lost(at(0));
        schedule.lost(at(2_000)); // the first loss counts
        assert_eq!(schedule.due(at(2_999)), None);
        assert_eq!(schedule.due(at(3_000)), Some(1));
        assert_eq!(schedule.due(at(3_500)), None);
        assert_eq!(schedule.due(at(4_000)), Some(2));
        assert_eq!(schedule.due(at(120_000)), Some(3));
        assert_eq!(schedule.due(at(121_000)), None, "gave up");
        schedule.assigned();
        assert_eq!(schedule.due(at(125_000)), None);
        schedule.lost(at(130_000));
        assert_eq!(schedule.due(at(133_000)), Some(1), "a new loss starts again");
        schedule.assigned();
        assert_eq!(schedule.due(at(134_000)), None);
    }
}
