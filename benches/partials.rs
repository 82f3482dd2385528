//! Partials-topic volume (issue 9): bytes one partition publishes per one-second tick with 200
//! segments, at several event rates, and the size of a full publish (a new owner's first). Each
//! event carries four dimensions, so it touches five segments (`all` included).
//!
//! `cargo bench --bench partials`

mod common;

use common::uuid;
use cxpulse::cluster::exchange::shape_of;
use cxpulse::cluster::publisher::Progress;
use cxpulse::cluster::PartialsPublisher;
use cxpulse::config::Config;
use cxpulse::engine::{Engine, NoBoundaries};
use cxpulse::event::Decoder;

const T0: i64 = 1_767_225_600_000;
const SECONDS: i64 = 120;

fn main() {
    let mut config = Config::builtin().expect("built-in config");
    // 4 dimensions × 50 values = 200 segments (plus `all`).
    config.segments.dimensions = ["plan", "region", "channel", "country"].map(String::from).to_vec();
    for rate in [100u64, 1_000, 10_000] {
        let engine = Engine::new(&config);
        let decoder = Decoder::new(config.limits.max_event_bytes, config.segments.dimensions.clone(), 0);
        let mut partition = engine.partition(0);
        let mut publisher = PartialsPublisher::new(0, 1, shape_of(&engine.settings), Vec::new());
        let mut effects = Vec::new();
        let (mut bytes, mut records, mut first) = (Vec::new(), 0usize, 0usize);
        let mut i = 0u64;
        for second in 0..SECONDS {
            for _ in 0..rate {
                let c = i % 20_000;
                let ts = T0 + second * 1_000 + (i % rate) as i64 * 1_000 / rate as i64;
                let (a, b, d, e) = (c % 50, (c / 50) % 50, (c / 7) % 50, (c / 11) % 50);
                let line = format!(
                    r#"{{"type":"interaction","kind":"purchase","amount":12.5,"customer_id":"{}","ts":{ts},"segments":{{"plan":"p{a}","region":"r{b}","channel":"c{d}","country":"k{e}"}}}}"#,
                    uuid(c)
                );
                let event = decoder.decode(line.as_bytes(), None).expect("valid bench event");
                partition.apply(&event, &mut effects, &mut NoBoundaries);
                effects.clear();
                i += 1;
            }
            let published =
                publisher.collect(partition.view(), &engine.catalog, Progress::default(), partition.clock(), 0);
            let size: usize = published.iter().map(|r| r.key().len() + r.encode().len()).sum();
            if second == 0 {
                first = size;
            } else {
                bytes.push(size);
                records += published.len();
            }
        }
        publisher.resend_all();
        let full: usize = publisher
            .collect(partition.view(), &engine.catalog, Progress::default(), partition.clock(), 0)
            .iter()
            .map(|r| r.key().len() + r.encode().len())
            .sum();
        bytes.sort_unstable();
        println!(
            "{rate:>6} events/s: {:>8} bytes per tick (median of {}), {:>6.0} records per tick; first publish {first} bytes; full publish after {SECONDS} s {full} bytes",
            bytes[bytes.len() / 2],
            bytes.len(),
            records as f64 / bytes.len() as f64,
        );
    }
}
