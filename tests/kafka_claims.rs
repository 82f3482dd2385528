//! Segment admission in a cluster on a real broker (tansu): with `segments.max_values = 2`, two
//! instances that meet more plan values than that, in different orders on their partitions, admit
//! the same two values, the first two claimed in the claims topic, and map every other value to
//! `other`; a restarted instance keeps that mapping and claims nothing again.
//!
//! Admission by first sight would fail this: partition 0 meets `c`, `a` first and partition 1
//! `d`, `b`, so two instances owning one partition each would admit four values between them.

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::{ClientConfig, Message};
use support::*;

const PARTITIONS: i32 = 2;
const GROUP: &str = "claimers";
const CLAIMS_TOPIC: &str = "cx.claimers-claims";
const BASE: i64 = 1_767_225_600_000; // 2026-01-01T00:00:00Z

const CONFIG: &str = r#"
[segments]
dimensions = ["plan", "region"]
max_values = 2

[clock]
max_lag = "36500d"
max_future_skew = "36500d"

[service]
merge_wait = "300ms"
probe_interval = "1s"
commit_interval = "300ms"
shutdown_timeout = "20s"

[checkpoint]
replication_factor = 1
"#;

/// Plan values in the order each partition meets them: disjoint first two, five values in all.
const ORDERS: [[&str; 6]; 2] = [["c", "a", "e", "a", "c", "e"], ["d", "b", "e", "b", "d", "a"]];

fn line(customer: &str, ts: i64, plan: &str) -> String {
    format!(
        r#"{{"type":"interaction","kind":"login","customer_id":"{customer}","ts":{ts},"segments":{{"plan":"{plan}","region":"eu"}}}}"#
    )
}

/// Produces `lines` to one partition of the interactions topic, in order, one record per batch.
async fn produce_to(bootstrap: &str, partition: i32, lines: &[(String, String)]) {
    let producer: FutureProducer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("linger.ms", "0")
        .set("batch.num.messages", "1")
        .set("enable.idempotence", "true")
        .create()
        .unwrap();
    for (key, value) in lines {
        let record = FutureRecord::to(TOPICS[0]).partition(partition).key(key.as_str()).payload(value.as_str());
        producer.send(record, Duration::from_secs(10)).await.unwrap();
    }
}

/// Customers `p{partition}-{batch}-{i}`, one event each, with the plans of `plans`.
async fn produce_events(bootstrap: &str, batch: usize, plans: [&[&str]; 2]) {
    let sends = (0..PARTITIONS).map(|p| {
        let lines: Vec<(String, String)> = plans[p as usize]
            .iter()
            .enumerate()
            .map(|(i, plan)| {
                let customer = format!("p{p}-{batch}-{i}");
                let ts = BASE + (batch * 100 + i) as i64 * 60_000;
                (customer.clone(), line(&customer, ts, plan))
            })
            .collect();
        async move { produce_to(bootstrap, p, &lines).await }
    });
    futures::future::join_all(sends).await;
}

/// Whether the two instances own one partition each.
async fn one_each(a: &Binary, b: &Binary) -> bool {
    let (oa, ob) = (owned_partitions(&a.metrics().await), owned_partitions(&b.metrics().await));
    oa.len() == 1 && ob.len() == 1 && oa != ob
}

/// Plan segment → customers (all states) in `cxpulse_customers` lines.
fn plan_customers(lines: &BTreeSet<String>) -> BTreeMap<String, f64> {
    let mut out = BTreeMap::new();
    for l in lines.iter().filter(|l| l.starts_with("cxpulse_customers{dimension=\"plan\",")) {
        let segment = l.split("segment=\"").nth(1).and_then(|s| s.split('"').next()).unwrap_or_default();
        let value: f64 = l.rsplit_once(' ').and_then(|(_, v)| v.parse().ok()).unwrap_or(0.0);
        *out.entry(segment.to_string()).or_insert(0.0) += value;
    }
    out
}

fn count(metrics: &str, series: &str) -> f64 {
    metric(metrics, series).unwrap_or(0.0)
}

/// The first two distinct plan values in the claims topic, in offset order.
fn first_claimed(bootstrap: &str) -> (Vec<String>, usize) {
    let records = read_topic(bootstrap, CLAIMS_TOPIC, 2, Duration::from_secs(20));
    let mut admitted: Vec<String> = Vec::new();
    for record in &records {
        let claim: serde_json::Value = serde_json::from_slice(record.payload().unwrap()).unwrap();
        let value = claim["value"].as_str().unwrap().to_string();
        if claim["dimension"] == "plan" && value != "other" && !admitted.contains(&value) && admitted.len() < 2 {
            admitted.push(value);
        }
    }
    (admitted, records.len())
}

/// Waits until both instances' cluster figures count `customers` in dimension `plan`.
async fn wait_cluster_customers(instances: [&Binary; 2], customers: f64) {
    let whole = || async {
        let mut all = true;
        for instance in instances {
            let total: f64 = plan_customers(&cluster_figures(&instance.metrics().await)).values().sum();
            all &= total == customers;
        }
        all
    };
    if !wait_for(Duration::from_secs(45), whole).await {
        let mut seen = Vec::new();
        for instance in instances {
            seen.push(plan_customers(&cluster_figures(&instance.metrics().await)));
        }
        panic!("cluster figures never counted {customers} customers: {seen:?}");
    }
}

/// Every instance: its own plan segments are among the cluster's, and the cluster's are exactly
/// `expected`.
async fn assert_same_labels(instances: [&Binary; 2], expected: &BTreeSet<String>) {
    let mut local_union = BTreeSet::new();
    for (i, instance) in instances.iter().enumerate() {
        let metrics = instance.metrics().await;
        let cluster: BTreeSet<String> = plan_customers(&cluster_figures(&metrics)).into_keys().collect();
        let local: BTreeSet<String> = plan_customers(&segment_figures(&metrics)).into_keys().collect();
        assert_eq!(&cluster, expected, "instance {i}: cluster plan segments");
        assert!(local.is_subset(expected), "instance {i}: local plan segments {local:?}, admitted {expected:?}");
        local_union.extend(local);
    }
    assert_eq!(&local_union, expected, "the instances' own plan segments together");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn instances_admit_the_first_claimed_values_and_keep_them_across_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let tansu = Tansu::start();
    let bootstrap = tansu.bootstrap();
    create_default_topics(&bootstrap, PARTITIONS).await;
    let ports = [free_port(), free_port()];
    // Each instance's config file, written once (same group, its own HTTP port).
    for (i, port) in ports.iter().enumerate() {
        let path = write_config(dir.path(), &bootstrap, GROUP, *port, &format!("{CONFIG}{QUICK_REJOIN}"));
        std::fs::rename(path, dir.path().join(format!("{GROUP}-{i}.toml"))).unwrap();
    }
    let start_only = |i: usize| {
        Binary::start(
            &dir.path().join(format!("{GROUP}-{i}.toml")),
            ports[i],
            &dir.path().join(format!("service-{i}.log")),
        )
    };
    let mut a = start_only(0);
    let b = start_only(1);
    assert!(wait_for(Duration::from_secs(40), || one_each(&a, &b)).await, "not one partition each");

    produce_events(&bootstrap, 0, [&ORDERS[0], &ORDERS[1]]).await;
    wait_cluster_customers([&a, &b], 12.0).await;
    // Two values with a label between both instances: each admitted the same ones.
    let labelled = plan_customers(&cluster_figures(&a.metrics().await)).into_keys().filter(|l| l != "other").count();
    assert_eq!(labelled, 2, "plan values with their own segment in the cluster figures");
    let (admitted, claims) = first_claimed(&bootstrap);
    assert_eq!(admitted.len(), 2, "two plan values claimed first");
    let expected: BTreeSet<String> = admitted.iter().cloned().chain(["other".to_string()]).collect();
    assert_same_labels([&a, &b], &expected).await;
    // Every customer is in one plan segment; values not admitted are counted in `other`.
    let by_plan = plan_customers(&cluster_figures(&a.metrics().await));
    let in_admitted: usize = ORDERS.iter().flatten().filter(|v| admitted.iter().any(|a| a == *v)).count();
    assert_eq!(by_plan.values().sum::<f64>(), 12.0);
    assert_eq!(by_plan.get("other").copied(), Some((12 - in_admitted) as f64), "{by_plan:?}");
    // Both read the whole topic; between them they claimed all of it.
    let (ma, mb) = (a.metrics().await, b.metrics().await);
    let published =
        count(&ma, "cxpulse_segment_claims_published_total") + count(&mb, "cxpulse_segment_claims_published_total");
    assert_eq!(published as usize, claims, "claims in the topic");
    for m in [&ma, &mb] {
        assert_eq!(count(m, "cxpulse_segment_claims_applied_total") as usize, claims);
    }

    // A restart: the restarted instance restores from its checkpoint and reads the claims first.
    a.stop();
    a = start_only(0);
    assert!(wait_for(Duration::from_secs(40), || one_each(&a, &b)).await, "not one partition each after the restart");
    // A new value, and the old ones in another order.
    produce_events(&bootstrap, 1, [&["f", "a", "c"], &["b", "f", "d"]]).await;
    wait_cluster_customers([&a, &b], 18.0).await;
    assert_same_labels([&a, &b], &expected).await;
    let restarted = a.metrics().await;
    assert_eq!(count(&restarted, "cxpulse_segment_claims_published_total"), 0.0, "a full dimension claims nothing");
    assert_eq!(count(&restarted, "cxpulse_segment_claims_applied_total") as usize, claims, "read every claim again");
    assert_eq!(first_claimed(&bootstrap), (admitted, claims), "the claims topic is unchanged");
    a.stop();
    b.stop();
}
