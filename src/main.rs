//! The `cxpulse` command line (SPEC §6).

use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand};

use cxpulse::config::{self, Config, ConfigError};
use cxpulse::event::time::parse_rfc3339;
use cxpulse::replay::{replay_with_report, ReplayOptions};
use cxpulse::source::simulator::{write_jsonl, SimulationOptions};

#[derive(Parser)]
#[command(name = "cxpulse", version, about = "Live customer-experience figures and churn alerts")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Runs the service: Kafka in, figures on /metrics, alerts and messages out. With no config the
    /// broker is `embedded`: an in-process demo broker fed by the simulator.
    Run {
        #[arg(long)]
        config: Option<PathBuf>,
    },
    /// Replays a JSONL file through the engine, deterministically.
    Replay {
        /// Input events, one JSON object per line (`-` for standard input).
        #[arg(long)]
        input: PathBuf,
        #[arg(long)]
        config: Option<PathBuf>,
        /// Move the stream clock to this RFC 3339 time at the end, if later.
        #[arg(long)]
        as_of: Option<String>,
        /// Final Prometheus text exposition.
        #[arg(long)]
        metrics_out: Option<PathBuf>,
        #[arg(long)]
        alerts_out: Option<PathBuf>,
        #[arg(long)]
        messages_out: Option<PathBuf>,
        #[arg(long)]
        dead_letter_out: Option<PathBuf>,
        /// The status page's overview at the final clock, as one self-contained HTML file.
        #[arg(long, value_name = "FILE.html")]
        report: Option<PathBuf>,
    },
    /// Writes realistic synthetic events, sorted by time.
    Simulate {
        #[arg(long)]
        customers: u64,
        #[arg(long)]
        days: u32,
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// First day of the simulation (RFC 3339).
        #[arg(long, default_value = "2026-01-01T00:00:00Z")]
        start: String,
        #[arg(long)]
        out: PathBuf,
    },
    /// Validates a config file and lists every problem; exit 0 only when valid.
    CheckConfig { file: PathBuf },
}

fn main() -> ExitCode {
    init_logging();
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Run { config } => run_service(config.as_deref()),
        Command::Replay { input, config, as_of, metrics_out, alerts_out, messages_out, dead_letter_out, report } => {
            let opts = ReplayOptions {
                input,
                as_of: None,
                metrics_out,
                alerts_out,
                messages_out,
                dead_letter_out,
                progress: true,
            };
            run_replay(config.as_deref(), opts, as_of, report.as_deref())
        }
        Command::Simulate { customers, days, seed, start, out } => run_simulate(customers, days, seed, &start, &out),
        Command::CheckConfig { file } => return check_config(&file),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("CXPULSE_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
}

fn environment() -> Vec<(String, String)> {
    std::env::vars().filter(|(k, _)| k.starts_with("CXPULSE_") && k != "CXPULSE_LOG").collect()
}

fn load_config(path: Option<&Path>) -> anyhow::Result<Config> {
    Ok(config::load(path, &environment())?)
}

fn run_replay(
    config: Option<&Path>,
    mut opts: ReplayOptions,
    as_of: Option<String>,
    report: Option<&Path>,
) -> anyhow::Result<()> {
    let config = load_config(config)?;
    opts.as_of = as_of
        .map(|t| parse_rfc3339(&t).with_context(|| format!("--as-of {t:?} is not an RFC 3339 time with offset")))
        .transpose()?;
    let summary = replay_with_report(&config, &opts, report)?;
    eprintln!("{summary}");
    Ok(())
}

fn run_service(config: Option<&Path>) -> anyhow::Result<()> {
    let config = load_config(config)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("cxpulse")
        .build()
        .context("cannot start the async runtime")?;
    let result = runtime.block_on(async {
        let shutdown = tokio_util::sync::CancellationToken::new();
        cxpulse::service::signals::cancel_on_signal(shutdown.clone());
        cxpulse::service::run(config, shutdown).await
    });
    // A blocking librdkafka call still waiting on an unreachable broker must not hold up the exit.
    runtime.shutdown_timeout(std::time::Duration::from_secs(1));
    result
}

fn run_simulate(customers: u64, days: u32, seed: u64, start: &str, out: &Path) -> anyhow::Result<()> {
    let start_ms = parse_rfc3339(start).with_context(|| format!("--start {start:?} is not an RFC 3339 time"))?;
    let file = std::fs::File::create(out).with_context(|| format!("cannot create {}", out.display()))?;
    let mut writer = BufWriter::with_capacity(1 << 20, file);
    let n = write_jsonl(SimulationOptions { customers, days, seed, start_ms }, &mut writer)
        .and_then(|n| writer.flush().map(|_| n))
        .with_context(|| format!("cannot write {}", out.display()))?;
    eprintln!("wrote {n} events for {customers} customers over {days} days to {}", out.display());
    Ok(())
}

fn check_config(file: &Path) -> ExitCode {
    match config::load(Some(file), &environment()) {
        Ok(_) => {
            println!("{}: valid", file.display());
            ExitCode::SUCCESS
        }
        Err(ConfigError::Invalid { problems }) => {
            println!("{}: {} problem{}", file.display(), problems.len(), if problems.len() == 1 { "" } else { "s" });
            for p in problems {
                println!("  - {p}");
            }
            ExitCode::FAILURE
        }
        Err(e) => {
            println!("{e}");
            ExitCode::FAILURE
        }
    }
}
