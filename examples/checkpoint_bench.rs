//! Checkpoint figures: bytes per customer of a full checkpoint, and the time to restore one per
//! million customers, from memory and from a local checkpoint directory. Prints medians; asserts
//! nothing.
//!
//!   cargo run --release --example checkpoint_bench -- [CUSTOMERS] [RUNS]

use std::time::Instant;

use compact_str::CompactString;
use cxpulse::checkpoint::restore::{latest, restore};
use cxpulse::checkpoint::store::{DirectoryStore, Store};
use cxpulse::checkpoint::{Checkpointer, Extras, MemoryStore};
use cxpulse::config::Config;
use cxpulse::engine::{Engine, NoBoundaries};
use cxpulse::event::{Event, Interaction, Payload};

const BASE: i64 = 1_767_225_600_000;
const PLANS: [&str; 4] = ["free", "pro", "team", "enterprise"];
const REGIONS: [&str; 5] = ["eu", "na", "apac", "latam", "mea"];

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let mut args = std::env::args().skip(1);
    let customers: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(1_000_000);
    let runs: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(3);
    let config = Config::builtin().expect("defaults");
    let engine = Engine::new(&config);
    let mut partition = engine.partition(0);
    let mut effects = Vec::new();
    // Two events per customer spread over 20 days: a login and a purchase or a page view.
    for round in 0..2 {
        for i in 0..customers {
            let ts = BASE + (i as i64 * 1_728_000_000 / customers as i64) + round * 3_600_000;
            let payload = if round == 1 && i % 3 == 0 {
                Payload::Interaction(Interaction::Purchase { amount: (i % 200) as f64 })
            } else {
                Payload::Interaction(if round == 0 { Interaction::Login } else { Interaction::PageView })
            };
            let event = Event {
                customer_id: format!("customer-{i:08}").into(),
                ts,
                event_id: Some(CompactString::from(format!("e-{round}-{i}"))),
                segments: vec![("plan".into(), PLANS[i % 4].into()), ("region".into(), REGIONS[i % 5].into())],
                payload,
            };
            partition.apply(&event, &mut effects, &mut NoBoundaries);
            effects.clear();
        }
    }
    let mut checkpointer = Checkpointer::new(0, 262_144, 50);
    let started = Instant::now();
    let plan = checkpointer.plan(&mut partition, Extras::default());
    let encode = started.elapsed().as_secs_f64();
    let mut memory = MemoryStore::default();
    memory.write(&plan);
    let bytes = memory.bytes();
    println!("customers:                       {customers}");
    println!(
        "full checkpoint:                 {bytes} bytes in {} records, encoded in {encode:.2}s",
        plan.chunks.len() + 1
    );
    println!("bytes per customer:              {:.1}", bytes as f64 / customers as f64);

    let mut from_memory = Vec::new();
    for _ in 0..runs {
        let fresh = Engine::new(&config);
        let mut target = fresh.partition(0);
        let started = Instant::now();
        let records = latest(memory.records());
        let restored = restore(&records, 0, &mut target).expect("restore").expect("a checkpoint");
        from_memory.push(started.elapsed().as_secs_f64());
        assert_eq!(restored.customers, customers);
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let store = Store::Directory(DirectoryStore::new(dir.path()).expect("dir store"));
    let never = tokio_util::sync::CancellationToken::new();
    store.write(&plan.chunks, &never).await.expect("write");
    store.write(std::slice::from_ref(&plan.meta), &never).await.expect("write");
    let mut from_dir = Vec::new();
    for _ in 0..runs {
        let fresh = Engine::new(&config);
        let mut target = fresh.partition(0);
        let started = Instant::now();
        let records = latest(store.read(0).await.expect("read"));
        restore(&records, 0, &mut target).expect("restore").expect("a checkpoint");
        from_dir.push(started.elapsed().as_secs_f64());
    }
    let per_million = |s: f64| s * 1_000_000.0 / customers as f64;
    let (m, d) = (median(from_memory.clone()), median(from_dir.clone()));
    println!(
        "restore from memory (median of {runs}): {m:.2}s = {:.2}s per million customers  runs: {from_memory:.2?}",
        per_million(m)
    );
    println!(
        "restore from directory (median of {runs}): {d:.2}s = {:.2}s per million customers  runs: {from_dir:.2?}",
        per_million(d)
    );
}
