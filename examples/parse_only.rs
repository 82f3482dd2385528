//! Baseline for the replay benchmark: reads and decodes every line of a JSONL file, nothing else.
//! `cargo run --release --example parse_only -- FILE`

use std::path::PathBuf;
use std::time::Instant;

use cxpulse::config::Config;
use cxpulse::event::Decoder;
use cxpulse::source::jsonl::JsonlSource;

fn main() -> anyhow::Result<()> {
    let path = PathBuf::from(std::env::args().nth(1).ok_or_else(|| anyhow::anyhow!("usage: parse_only FILE"))?);
    let config = Config::builtin()?;
    let decoder = Decoder::new(config.limits.max_event_bytes, config.segments.dimensions.clone(), 0);
    let mut source = JsonlSource::open(&path)?;
    let started = Instant::now();
    let (mut lines, mut valid) = (0u64, 0u64);
    while let Some((_, line)) = source.next_line_ref()? {
        lines += 1;
        valid += u64::from(decoder.decode(line, None).is_ok());
    }
    let seconds = started.elapsed().as_secs_f64();
    println!("parsed {lines} lines ({valid} valid) in {seconds:.2}s ({:.0} lines/s)", lines as f64 / seconds);
    Ok(())
}
