//! `cxpulse replay`: the engine over a JSONL file, deterministic, with file outputs.
//!
//! By default the file is read and decoded on a second thread ([`DecodingReader`]) while this one
//! applies: the same lines reach [`Run::line`] in the same order with the same decode outcome as
//! on one thread, and everything with an effect happens here, so the outputs are byte-identical
//! (`tests/replay_threads.rs` checks it).

use std::fs::File;
use std::io::{BufWriter, IsTerminal, Write};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::Context;

use crate::alert::{Effect, EffectSink, JsonlEffectSink};
use crate::config::Config;
use crate::detect::RuleEvaluator;
use crate::engine::{look_ahead, Engine, Outcome, Partition};
use crate::event::time::format_rfc3339;
use crate::event::{DeadLetter, Decoder, Event, Millis, Reason, Rejection, SourcePosition};
use crate::source::decoding_reader::DecodingReader;
use crate::source::jsonl::JsonlSource;
use crate::state::customer::NEVER;
use crate::telemetry::processing_times::ProcessingTimes;
use crate::telemetry::status::report::{write_report, ReplayStatus};
use crate::telemetry::status::RecentAlerts;
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
    /// Also write the status page's overview at the final clock here (`--report FILE.html`).
    pub report: Option<PathBuf>,
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

/// How many threads a replay uses. Outputs are byte-identical either way; only the timings in
/// `cxpulse_event_processing_seconds` differ.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Threads {
    /// Read, decode and apply on the calling thread.
    One,
    /// Read and decode on a second thread, apply on the calling one
    /// ([`DecodingReader`] says why the result is the same).
    #[default]
    Two,
}

/// Runs a replay (on two threads) and writes the requested outputs.
pub fn replay(config: &Config, opts: &ReplayOptions) -> anyhow::Result<ReplaySummary> {
    replay_with(config, opts, Threads::default())
}

/// Runs a replay on the given threads and writes the requested outputs.
pub fn replay_with(config: &Config, opts: &ReplayOptions, threads: Threads) -> anyhow::Result<ReplaySummary> {
    let started = Instant::now();
    let source = JsonlSource::open(&opts.input)?;
    let engine = Engine::new(config);
    let settings = &engine.settings;
    let decoder = Decoder::new(settings.max_event_bytes, settings.dimensions.clone(), settings.max_future_skew as u64);
    let mut run = Run::new(&engine, opts, source.name().to_string(), &config.status)?;
    // The customer look-up's hash of each event, worked out where the event is decoded.
    let hasher = run.partition.id_hasher();
    let hash = move |event: &Event| hasher.customer(&event.customer_id);
    match threads {
        Threads::One => {
            let mut source = source;
            while let Some((line, bytes)) = source.next_line_ref()? {
                let received = Instant::now();
                let decoded = decoder.decode(bytes, None);
                let customer_hash = decoded.as_ref().map_or(0, &hash);
                run.line(line, &decoded, customer_hash, bytes, received)?;
            }
        }
        Threads::Two => std::thread::scope(|scope| -> anyhow::Result<()> {
            let reader =
                DecodingReader::spawn(scope, source, decoder, hash).context("cannot start the reading thread")?;
            while let Some(batch) = reader.next() {
                let batch = batch?;
                let lines = &batch.lines;
                let hash = |at: usize| lines.get(at).map(|l| l.hash);
                for (at, l) in lines.iter().enumerate() {
                    look_ahead(&run.partition, at, hash);
                    run.line(l.line, &l.decoded, l.hash, batch.payload(l), batch.received)?;
                }
                reader.recycle(batch);
            }
            Ok(())
        })?,
    }
    run.finish(&engine, opts, started)
}

/// One replay between lines: the partition, the rules, the outputs and the counts.
struct Run {
    partition: Partition,
    rules: RuleEvaluator,
    metrics: Metrics,
    /// Observations of `cxpulse_event_processing_seconds`, read from the clock once every few events.
    processing: ProcessingTimes,
    sink: JsonlEffectSink,
    dead_letters: Option<Box<dyn Write + Send>>,
    file: String,
    summary: ReplaySummary,
    effects: Vec<Effect>,
    progress: Progress,
}

impl Run {
    fn new(
        engine: &Engine,
        opts: &ReplayOptions,
        file: String,
        status: &crate::config::StatusConfig,
    ) -> anyhow::Result<Self> {
        let metrics = Metrics::new();
        if opts.report.is_some() {
            metrics.keep_recent_alerts(std::sync::Arc::new(RecentAlerts::new(status)));
        }
        Ok(Run {
            partition: engine.partition(0),
            rules: engine.rule_evaluator(),
            processing: metrics.processing_times(),
            metrics,
            sink: JsonlEffectSink::new(create(&opts.alerts_out, "alerts")?, create(&opts.messages_out, "messages")?),
            dead_letters: create(&opts.dead_letter_out, "dead-letter")?,
            file,
            summary: ReplaySummary::default(),
            effects: Vec::new(),
            progress: Progress::new(opts.progress),
        })
    }

    /// One input line, in file order: applied, or dead-lettered with its original `payload`.
    /// `customer_hash`: the event's look-up hash ([`Partition::apply_hashed`]).
    fn line(
        &mut self,
        line: u64,
        decoded: &Result<Event, Rejection>,
        customer_hash: u64,
        payload: &[u8],
        received: Instant,
    ) -> anyhow::Result<()> {
        self.summary.lines += 1;
        let limit;
        let refused = match decoded {
            Err(rejection) => Some(rejection),
            Ok(event) => {
                let outcome = self.partition.apply_hashed(event, customer_hash, &mut self.effects, &mut self.rules);
                match outcome {
                    Outcome::Accepted => self.summary.accepted += 1,
                    Outcome::Duplicate => self.summary.duplicate += 1,
                    Outcome::Late => self.summary.late += 1,
                    Outcome::CustomerLimit => {}
                }
                publish(&mut self.sink, &mut self.effects, &self.metrics, &mut self.summary)?;
                self.processing.applied(received);
                if outcome != Outcome::CustomerLimit {
                    None
                } else {
                    limit = Rejection::new(Reason::CustomerLimit, "the partition tracks limits.max_customers already");
                    Some(&limit)
                }
            }
        };
        if let Some(rejection) = refused {
            self.summary.invalid += 1;
            self.metrics.event_rejected(rejection.reason);
            if let Some(out) = self.dead_letters.as_mut() {
                let record = DeadLetter {
                    reason: rejection.reason,
                    detail: rejection.detail.clone(),
                    source: SourcePosition::File { file: self.file.clone(), line },
                    payload: payload.to_vec(),
                };
                writeln!(out, "{}", record.to_json_line()).context("cannot write the dead-letter file")?;
            }
        }
        self.progress.tick(self.summary.lines, self.partition.clock());
        Ok(())
    }

    /// The end of the input: `--as-of`, a last rule evaluation, then the files.
    fn finish(mut self, engine: &Engine, opts: &ReplayOptions, started: Instant) -> anyhow::Result<ReplaySummary> {
        let (partition, rules, effects) = (&mut self.partition, &mut self.rules, &mut self.effects);
        if let Some(as_of) = opts.as_of {
            partition.advance_to(as_of, effects, rules);
        }
        let clock = partition.clock();
        if clock != NEVER {
            rules.evaluate_all(clock, effects);
        }
        let summary = &mut self.summary;
        publish(&mut self.sink, effects, &self.metrics, summary)?;
        self.sink.flush()?;
        self.processing.flush();
        if let Some(out) = self.dead_letters.as_mut() {
            out.flush().context("cannot write the dead-letter file")?;
        }
        // Counted locally in the loop, recorded once.
        for (outcome, n) in [("accepted", summary.accepted), ("duplicate", summary.duplicate), ("late", summary.late)] {
            self.metrics.events(outcome, n);
        }
        self.metrics.set_stream_time(if clock == NEVER { 0 } else { clock });
        self.metrics.set_tracked_customers(engine.view.tracked_customers());
        if let Some(path) = &opts.metrics_out {
            let at = if clock == NEVER { 0 } else { clock };
            let text = engine.render_segments(rules, at) + &self.metrics.render();
            std::fs::write(path, text).with_context(|| format!("cannot write metrics file {}", path.display()))?;
        }
        if let Some(path) = &opts.report {
            let source = ReplayStatus { engine, rules: rules.states(), metrics: &self.metrics };
            write_report(path, &source)?;
        }
        summary.customers = partition.customer_count();
        summary.stream_time = (clock != NEVER).then_some(clock);
        summary.seconds = started.elapsed().as_secs_f64();
        self.progress.finish();
        Ok(self.summary)
    }
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
