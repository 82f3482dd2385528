//! Where effects go. Replay writes JSON lines to files; the service publishes to Kafka.

use std::io::Write;

use thiserror::Error;

use super::record::Effect;

#[derive(Debug, Error)]
pub enum SinkError {
    #[error("cannot write {what}: {source}")]
    Io {
        what: &'static str,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot publish {what}: {detail}")]
    Publish { what: &'static str, detail: String },
}

impl SinkError {
    pub fn code(&self) -> &'static str {
        match self {
            SinkError::Io { .. } => "io",
            SinkError::Publish { .. } => "publish",
        }
    }
}

pub trait EffectSink {
    fn publish(&mut self, effect: &Effect) -> Result<(), SinkError>;
    fn flush(&mut self) -> Result<(), SinkError>;
}

/// Alerts to one writer and messages to another, one JSON object per line.
pub struct JsonlEffectSink {
    alerts: Option<Box<dyn Write + Send>>,
    messages: Option<Box<dyn Write + Send>>,
}

impl JsonlEffectSink {
    pub fn new(alerts: Option<Box<dyn Write + Send>>, messages: Option<Box<dyn Write + Send>>) -> Self {
        JsonlEffectSink { alerts, messages }
    }
}

fn write_line(
    out: &mut Option<Box<dyn Write + Send>>,
    what: &'static str,
    json: &serde_json::Value,
) -> Result<(), SinkError> {
    if let Some(out) = out {
        serde_json::to_writer(&mut *out, json).map_err(|e| SinkError::Io { what, source: e.into() })?;
        out.write_all(b"\n").map_err(|source| SinkError::Io { what, source })?;
    }
    Ok(())
}

impl EffectSink for JsonlEffectSink {
    fn publish(&mut self, effect: &Effect) -> Result<(), SinkError> {
        match effect {
            Effect::Alert(a) => write_line(&mut self.alerts, "alerts", &a.to_json()),
            Effect::Message(m) => write_line(&mut self.messages, "messages", &m.to_json()),
        }
    }

    fn flush(&mut self) -> Result<(), SinkError> {
        for (out, what) in [(&mut self.alerts, "alerts"), (&mut self.messages, "messages")] {
            if let Some(out) = out {
                out.flush().map_err(|source| SinkError::Io { what, source })?;
            }
        }
        Ok(())
    }
}
