//! Partition assignment on a real broker (tansu): with one input topic for both event types (and
//! no repartition topic beside it) the group uses the cooperative-sticky assignor, so when a second
//! member joins, the partitions the first member keeps are not revoked: their tasks and in-memory
//! state carry on.

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use cxpulse::event::Decoder;
use cxpulse::source::simulator::{SimulationOptions, Simulator};
use support::*;

const EVENTS: &str = "cx.events";
const PARTITIONS: i32 = 4;

fn config() -> String {
    format!(
        "[clock]\nmax_lag = \"36500d\"\n\n[service]\nprobe_interval = \"1s\"\n\n\
         [kafka.topics]\ninteractions = \"{EVENTS}\"\nsurveys = \"{EVENTS}\"\n"
    )
}

fn simulated(customers: u64, days: u32) -> (Vec<Record>, Vec<Record>) {
    let opts = SimulationOptions { customers, days, seed: 5, start_ms: SimulationOptions::DEFAULT_START_MS };
    let records: Vec<Record> =
        Simulator::new(opts).map(|e| Record { topic: EVENTS.to_string(), ..route_line(e.json.as_bytes()) }).collect();
    let half = records.len() / 2;
    (records[..half].to_vec(), records[half..].to_vec())
}

/// A member's config file: mis-keyed records dead-lettered, so that the input is the only topic.
fn config_file(dir: &std::path::Path, bootstrap: &str, port: u16) -> std::path::PathBuf {
    let path = write_config(dir, bootstrap, "sticky", port, &config());
    let text = std::fs::read_to_string(&path).unwrap();
    std::fs::write(&path, text.replace("[kafka]\n", "[kafka]\nmismatched_keys = \"dead_letter\"\n")).unwrap();
    path
}

/// The partitions a member owns, from its lag series (`{partition="N",topic="…"}`).
fn owned(metrics: &str) -> BTreeSet<i32> {
    let topic = format!("topic=\"{EVENTS}\"");
    metrics
        .lines()
        .filter(|l| l.starts_with("cxpulse_consumer_lag{") && l.contains(&topic))
        .filter_map(|l| l.split("partition=\"").nth(1)?.split('"').next()?.parse().ok())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_joining_member_leaves_the_first_members_kept_partitions_alone() {
    let tansu = Tansu::start();
    let bootstrap = tansu.bootstrap();
    create_topics(&bootstrap, &[(EVENTS, PARTITIONS), (TOPICS[2], 1), (TOPICS[3], 1), (TOPICS[4], 1)]).await;
    let (first, second) = simulated(160, 20);
    let positions = produce(&bootstrap, &first).await;
    // Customers with a valid event, by partition: the ones the service tracks.
    let decoder = Decoder::new(65_536, Vec::new(), 0);
    let mut customers_of: BTreeMap<i32, BTreeSet<String>> = BTreeMap::new();
    for (record, (partition, _)) in first.iter().zip(&positions) {
        if let Ok(event) = decoder.decode(record.value.as_deref().unwrap_or_default(), None) {
            customers_of.entry(*partition).or_default().insert(event.customer_id.to_string());
        }
    }

    let (dir_a, dir_b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (port_a, port_b) = (free_port(), free_port());
    let a = InProcess::start(&config_file(dir_a.path(), &bootstrap, port_a), port_a);
    // Owned partitions show once the probe has measured their lag (every second).
    wait_until(Duration::from_secs(90), "A consumed the first half and owns every partition", || async {
        let m = a.metrics().await;
        events_seen(&m) == first.len() as u64 && owned(&m).len() == PARTITIONS as usize && a.ready().await.0
    })
    .await;

    let b = InProcess::start(&config_file(dir_b.path(), &bootstrap, port_b), port_b);
    // Settled: the members' lag series split the partitions, and still do a few probe rounds later.
    let split = || async {
        let (kept, taken) = (owned(&a.metrics().await), owned(&b.metrics().await));
        a.ready().await.0
            && b.ready().await.0
            && !taken.is_empty()
            && kept.is_disjoint(&taken)
            && kept.len() + taken.len() == PARTITIONS as usize
    };
    wait_until(Duration::from_secs(60), "both members own partitions", split).await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    wait_until(Duration::from_secs(60), "both members still own partitions", split).await;
    let kept = owned(&a.metrics().await);
    assert!(!kept.is_empty() && kept.len() < PARTITIONS as usize, "A keeps some partitions: {kept:?}");
    // The kept partitions were never revoked: their customers are still tracked, although none of
    // their events was read again (an eager rebalance would have rebuilt them empty).
    let expected: usize = kept.iter().map(|p| customers_of.get(p).map_or(0, BTreeSet::len)).sum();
    let tracked = metric(&a.metrics().await, "cxpulse_tracked_customers").unwrap_or(0.0) as usize;
    assert_eq!(tracked, expected, "customers of the partitions A kept ({kept:?})");
    assert_eq!(events_seen(&a.metrics().await), first.len() as u64, "nothing read twice");

    produce(&bootstrap, &second).await;
    let total = (first.len() + second.len()) as u64;
    wait_until(Duration::from_secs(90), "every event consumed once", || async {
        events_seen(&a.metrics().await) + events_seen(&b.metrics().await) == total
    })
    .await;
    a.stop().await;
    b.stop().await;
}
