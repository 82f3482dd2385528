//! Writes the second benchmark data shape: every event carries `segments` (plan, region and a
//! dimension that is not configured) and a 36-character UUID customer id, timestamps come in mixed
//! forms (RFC 3339 with `Z`, with an offset, with milliseconds, and integer epoch milliseconds),
//! and about one event in four is a survey. Deterministic for a given seed.
//!
//! `cargo run --release --example gen_uuid_segments -- EVENTS CUSTOMERS DAYS SEED > FILE`
//!
//! With a fifth argument `grouped`, each customer's events are consecutive (the memory benchmark's
//! inputs: every customer is tracked at the end).

use std::io::{BufWriter, Write};

use anyhow::Context;
use chrono::{DateTime, FixedOffset, SecondsFormat, Utc};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

const PLANS: [&str; 4] = ["free", "basic", "pro", "enterprise"];
const REGIONS: [&str; 6] = ["eu-west", "eu-central", "us-east", "us-west", "apac", "latam"];
const CHANNELS: [&str; 3] = ["web", "ios", "android"];
const KINDS: [&str; 6] = ["login", "page_view", "session", "purchase", "search", "support_opened"];
const START_MS: i64 = 1_767_225_600_000; // 2026-01-01T00:00:00Z

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let usage = "usage: gen_uuid_segments EVENTS CUSTOMERS DAYS SEED [grouped]";
    let num = |i: usize| -> anyhow::Result<u64> { args.get(i).context(usage)?.parse().context(usage) };
    let (events, customers, days, seed) = (num(0)?, num(1)?.max(1), num(2)?.max(1), num(3)?);
    // `grouped`: customer i's events are consecutive (memory benchmark: every customer is live at
    // the end); otherwise customers are drawn at random along a rising clock.
    let grouped = args.get(4).is_some_and(|a| a == "grouped");
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let out = std::io::stdout();
    let mut out = BufWriter::with_capacity(1 << 20, out.lock());
    let span_ms = (days * 86_400_000) as i64;
    for n in 0..events {
        let customer = if grouped { n * customers / events.max(1) } else { rng.gen_range(0..customers) };
        let ts = START_MS + (n as i128 * span_ms as i128 / events.max(1) as i128) as i64;
        let ts = ts + rng.gen_range(0..60_000);
        write_event(&mut out, &mut rng, Origin { seed, customer, n, grouped }, ts)?;
    }
    out.flush()?;
    Ok(())
}

/// A UUID-shaped (8-4-4-4-12 hex) id derived from the customer number, stable per seed.
fn uuid(seed: u64, customer: u64) -> String {
    let mut r = ChaCha8Rng::seed_from_u64(seed ^ customer.wrapping_mul(0x9E37_79B9_7F4A_7C15));
    let (a, b): (u128, u128) = (r.gen(), r.gen());
    let x = a ^ (b << 64);
    let h = format!("{x:032x}");
    format!("{}-{}-4{}-a{}-{}", &h[0..8], &h[8..12], &h[13..16], &h[17..20], &h[20..32])
}

fn timestamp(rng: &mut ChaCha8Rng, ts: i64) -> anyhow::Result<String> {
    let t = DateTime::<Utc>::from_timestamp_millis(ts).context("time out of range")?;
    Ok(match rng.gen_range(0..4) {
        0 => format!("{ts}"),
        1 => format!("\"{}\"", t.to_rfc3339_opts(SecondsFormat::Secs, true)),
        2 => format!("\"{}\"", t.to_rfc3339_opts(SecondsFormat::Millis, true)),
        _ => {
            let offset = FixedOffset::east_opt(rng.gen_range(-12..=14) * 3600).context("offset")?;
            format!("\"{}\"", t.with_timezone(&offset).to_rfc3339_opts(SecondsFormat::Secs, false))
        }
    })
}

/// Where an event comes from: the seed, the customer number, its sequence number, and whether
/// customers' events are grouped.
struct Origin {
    seed: u64,
    customer: u64,
    n: u64,
    grouped: bool,
}

fn write_event(out: &mut impl Write, rng: &mut ChaCha8Rng, origin: Origin, ts: i64) -> anyhow::Result<()> {
    let Origin { seed, customer, n, grouped } = origin;
    let id = uuid(seed, customer);
    let plan = PLANS[(customer % 4) as usize];
    let region = REGIONS[(customer / 4 % 6) as usize];
    let channel = CHANNELS[rng.gen_range(0..3)];
    let ts = timestamp(rng, ts)?;
    let common = format!(
        r#""customer_id":"{id}","ts":{ts},"event_id":"e-{seed}-{n:012}","segments":{{"plan":"{plan}","region":"{region}","channel":"{channel}"}}"#
    );
    if rng.gen_range(0..4) == 0 {
        let (survey, score) = match rng.gen_range(0..3) {
            0 => ("nps", rng.gen_range(0..=10)),
            1 => ("csat", rng.gen_range(1..=5)),
            _ => ("ces", rng.gen_range(1..=7)),
        };
        writeln!(out, r#"{{"type":"survey",{common},"survey":"{survey}","score":{score}}}"#)?;
        return Ok(());
    }
    // Grouped (memory) runs open no tickets: the ticket book is per ticket, not per customer.
    let kinds = if grouped { &KINDS[..4] } else { &KINDS[..] };
    let kind = kinds[rng.gen_range(0..kinds.len())];
    let extra = match kind {
        "session" => format!(r#","duration_seconds":{:.1}"#, rng.gen_range(5.0..3600.0)),
        "purchase" => format!(r#","amount":{:.2}"#, rng.gen_range(1.0..400.0)),
        "support_opened" => format!(r#","ticket_id":"t-{n}""#),
        _ => String::new(),
    };
    writeln!(out, r#"{{"type":"interaction",{common},"kind":"{kind}"{extra}}}"#)?;
    Ok(())
}
