//! SIGINT / SIGTERM: the first asks for a graceful shutdown, a second one exits at once.

use tokio_util::sync::CancellationToken;

/// Cancels `shutdown` on the first signal; exits the process with 130 on the second.
pub fn cancel_on_signal(shutdown: CancellationToken) {
    tokio::spawn(async move {
        // One listener for both signals, created once: a listener created after a signal was
        // delivered would see that same signal again.
        let mut signals = Signals::new();
        let name = signals.next().await;
        tracing::info!(signal = name, "shutdown requested; draining (a second signal exits at once)");
        shutdown.cancel();
        let name = signals.next().await;
        tracing::warn!(signal = name, "second signal; exiting without draining");
        std::process::exit(130);
    });
}

#[cfg(unix)]
struct Signals {
    streams: Option<(tokio::signal::unix::Signal, tokio::signal::unix::Signal)>,
}

#[cfg(unix)]
impl Signals {
    fn new() -> Self {
        use tokio::signal::unix::{signal, SignalKind};
        Signals { streams: signal(SignalKind::terminate()).ok().zip(signal(SignalKind::interrupt()).ok()) }
    }

    async fn next(&mut self) -> &'static str {
        match &mut self.streams {
            Some((term, int)) => tokio::select! {
                _ = term.recv() => "SIGTERM",
                _ = int.recv() => "SIGINT",
            },
            None => {
                let _ = tokio::signal::ctrl_c().await;
                "SIGINT"
            }
        }
    }
}

#[cfg(not(unix))]
struct Signals;

#[cfg(not(unix))]
impl Signals {
    fn new() -> Self {
        Signals
    }

    async fn next(&mut self) -> &'static str {
        let _ = tokio::signal::ctrl_c().await;
        "ctrl-c"
    }
}
