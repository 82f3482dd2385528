//! `cxpulse replay`: the engine over a JSONL file, deterministic, with file outputs.

use std::fs::File;
use std::io::{BufWriter, IsTerminal, Write};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::Context;

use crate::alert::{Effect, EffectSink, JsonlEffectSink};
use crate::config::Config;
use crate::engine::{Engine, Outcome};
use crate::event::time::format_rfc3339;
use crate::event::{DeadLetter, Decoder, Millis, Reason, Rejection, SourcePosition};
use crate::source::jsonl::JsonlSource;
use crate::state::customer::NEVER;
use crate::telemetry::Metrics;

#[derive(Debug, Clone, Default)]
pub struct ReplayOptions {
    pub input: PathBuf,
    pub as_of: Option<Millis>,
    pub metrics_out: Option<PathBuf>,
    pub alerts_out: Option<PathBuf>,
    pub messages_out: Option<PathBuf>,
    pub dead_letter_out: Option<PathBuf>,
    /// Show progress on standard error (only sensible on a terminal).
    pub progress: bool,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct ReplaySummary {
    pub lines: u64,
    pub accepted: u64,
    pub invalid: u64,
    pub duplicate: u64,
    pub late: u64,
    pub alerts: u64,
    pub messages: u64,
    pub customers: usize,
    pub stream_time: Option<Millis>,
    pub seconds: f64,
}

fn create(path: &Option<PathBuf>, what: &str) -> anyhow::Result<Option<Box<dyn Write + Send>>> {
    path.as_ref()
        .map(|p| {
            File::create(p)
                .map(|f| Box::new(BufWriter::with_capacity(1 << 20, f)) as Box<dyn Write + Send>)
                .with_context(|| format!("cannot create {what} file {}", p.display()))
        })
        .transpose()
}

/// Runs a replay and writes the requested outputs.
pub fn replay(config: &Config, opts: &ReplayOptions) -> anyhow::Result<ReplaySummary> {
    let started = Instant::now();
    let mut source = JsonlSource::open(&opts.input)?;
    let mut sink = JsonlEffectSink::new(create(&opts.alerts_out, "alerts")?, create(&opts.messages_out, "messages")?);
    let mut dead_letters = create(&opts.dead_letter_out, "dead-letter")?;
    let engine = Engine::new(config);
    let settings = &engine.settings;
    let decoder = Decoder::new(settings.max_event_bytes, settings.dimensions.clone(), settings.max_future_skew as u64);
    let mut partition = engine.partition(0);
    let mut rules = engine.rule_evaluator();
    let metrics = Metrics::new();
    let mut summary = ReplaySummary::default();
    let mut effects = Vec::new();
    let mut buf = Vec::new();
    let mut progress = Progress::new(opts.progress);

    while let Some(line) = source.next_line(&mut buf)? {
        summary.lines += 1;
        let received = Instant::now();
        let refused = match decoder.decode(&buf, None) {
            Err(rejection) => Some(rejection),
            Ok(event) => {
                let outcome = partition.apply(&event, &mut effects, &mut rules);
                match outcome {
                    Outcome::Accepted => summary.accepted += 1,
                    Outcome::Duplicate => summary.duplicate += 1,
                    Outcome::Late => summary.late += 1,
                    Outcome::CustomerLimit => {}
                }
                publish(&mut sink, &mut effects, &metrics, &mut summary)?;
                metrics.processing_time(received.elapsed().as_secs_f64());
                (outcome == Outcome::CustomerLimit)
                    .then(|| Rejection::new(Reason::CustomerLimit, "the partition tracks limits.max_customers already"))
            }
        };
        if let Some(rejection) = refused {
            summary.invalid += 1;
            metrics.event_rejected(rejection.reason);
            if let Some(out) = dead_letters.as_mut() {
                let record = DeadLetter {
                    reason: rejection.reason,
                    detail: rejection.detail,
                    source: SourcePosition::File { file: source.name().to_string(), line },
                    payload: buf.clone(),
                };
                writeln!(out, "{}", record.to_json_line()).context("cannot write the dead-letter file")?;
            }
        }
        progress.tick(summary.lines, partition.clock());
    }
    if let Some(as_of) = opts.as_of {
        partition.advance_to(as_of, &mut effects, &mut rules);
    }
    let clock = partition.clock();
    if clock != NEVER {
        rules.evaluate_all(clock, &mut effects);
    }
    publish(&mut sink, &mut effects, &metrics, &mut summary)?;
    sink.flush()?;
    if let Some(out) = dead_letters.as_mut() {
        out.flush().context("cannot write the dead-letter file")?;
    }
    // Counted locally in the loop, recorded once.
    for (outcome, n) in [("accepted", summary.accepted), ("duplicate", summary.duplicate), ("late", summary.late)] {
        metrics.events(outcome, n);
    }
    metrics.set_stream_time(if clock == NEVER { 0 } else { clock });
    metrics.set_tracked_customers(engine.view.tracked_customers());
    if let Some(path) = &opts.metrics_out {
        let at = if clock == NEVER { 0 } else { clock };
        let text = engine.render_segments(&rules, at) + &metrics.render();
        std::fs::write(path, text).with_context(|| format!("cannot write metrics file {}", path.display()))?;
    }
    summary.customers = partition.customer_count();
    summary.stream_time = (clock != NEVER).then_some(clock);
    summary.seconds = started.elapsed().as_secs_f64();
    progress.finish();
    Ok(summary)
}

fn publish(
    sink: &mut JsonlEffectSink,
    effects: &mut Vec<Effect>,
    metrics: &Metrics,
    summary: &mut ReplaySummary,
) -> anyhow::Result<()> {
    for effect in effects.drain(..) {
        match &effect {
            Effect::Alert(_) => summary.alerts += 1,
            Effect::Message(_) => summary.messages += 1,
        }
        metrics.effect_emitted(&effect);
        sink.publish(&effect)?;
    }
    Ok(())
}

impl std::fmt::Display for ReplaySummary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let rate = if self.seconds > 0.0 { self.lines as f64 / self.seconds } else { 0.0 };
        write!(
            f,
            "replayed {} lines in {:.2}s ({:.0} lines/s): {} accepted, {} invalid, {} duplicate, {} late; \
             {} customers, {} alerts, {} messages; stream time {}",
            self.lines,
            self.seconds,
            rate,
            self.accepted,
            self.invalid,
            self.duplicate,
            self.late,
            self.customers,
            self.alerts,
            self.messages,
            self.stream_time.map_or("-".to_string(), format_rfc3339)
        )
    }
}

/// A one-line progress display on standard error, refreshed once a second, on terminals only.
struct Progress {
    enabled: bool,
    last: Instant,
    last_lines: u64,
}

impl Progress {
    fn new(enabled: bool) -> Self {
        Progress { enabled: enabled && std::io::stderr().is_terminal(), last: Instant::now(), last_lines: 0 }
    }

    fn tick(&mut self, lines: u64, clock: Millis) {
        if !self.enabled || !lines.is_multiple_of(4096) || self.last.elapsed() < Duration::from_secs(1) {
            return;
        }
        let rate = (lines - self.last_lines) as f64 / self.last.elapsed().as_secs_f64();
        let time = if clock == NEVER { "-".to_string() } else { format_rfc3339(clock) };
        eprint!("\r\x1b[2K{lines} events, {rate:.0} events/s, stream time {time}");
        self.last = Instant::now();
        self.last_lines = lines;
    }

    fn finish(&self) {
        if self.enabled && self.last_lines > 0 {
            eprint!("\r\x1b[2K");
        }
    }
}
