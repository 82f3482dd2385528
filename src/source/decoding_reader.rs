//! A JSONL file read and decoded on a thread of its own, handed over in batches: replay's second
//! core (the other applies).
//!
//! # Why the output stays byte-identical and deterministic
//! The reading thread only does what does not depend on engine state: it reads lines in file
//! order and decodes each one (decoding is a pure function of the bytes, the configured
//! dimensions and, in replay, no wall clock). Batches travel through one FIFO channel, so the
//! applying thread sees exactly the sequence of (line number, decode outcome) that a single
//! thread would compute, and everything that has an effect (engine state, alerts, messages,
//! dead letters, metrics) happens on the applying thread in that order.
//!
//! # Why memory stays bounded
//! The channel holds at most [`IN_FLIGHT`] batches of at most [`BATCH_LINES`] lines; when it is
//! full the reader blocks (backpressure). Emptied batches come back through a second channel to
//! be refilled, so steady state allocates no batch buffers.

use std::ops::Range;
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};
use std::thread::{Scope, ScopedJoinHandle};
use std::time::Instant;

use super::jsonl::{JsonlSource, SourceError};
use crate::event::{Decoder, Event, Rejection};

/// Lines per batch: large enough that the hand-over costs nothing per line, small enough that
/// the two threads overlap well.
pub const BATCH_LINES: usize = 1024;
/// Batches queued between the threads at most (and as many spare buffers).
pub const IN_FLIGHT: usize = 8;

/// One input line after decoding.
pub struct DecodedLine {
    /// 1-based line number in the file.
    pub line: u64,
    pub decoded: Result<Event, Rejection>,
    /// What the reader's `hash` made of the event (the applying thread's customer look-up hash,
    /// worked out here so that thread need not); 0 for a line that did not decode.
    pub hash: u64,
    /// Where the original bytes lie in [`Batch::bytes`]: a rejected line's dead letter quotes
    /// them, and so does the dead letter of a valid event refused at apply time
    /// (`limits.max_customers`).
    payload: Range<usize>,
}

/// Lines in file order, all decoded.
pub struct Batch {
    pub lines: Vec<DecodedLine>,
    /// Every line's bytes, one after another: one reused buffer per batch, not one copy per line.
    bytes: Vec<u8>,
    /// When the reader handed the batch over: the receipt time of its events.
    pub received: Instant,
}

impl Batch {
    /// The original bytes of one of this batch's lines.
    pub fn payload(&self, line: &DecodedLine) -> &[u8] {
        &self.bytes[line.payload.clone()]
    }
}

/// The receiving end; the reading thread ends when the file does, on a read error (sent as the
/// last item), or when this is dropped.
pub struct DecodingReader<'scope> {
    batches: Receiver<Result<Batch, SourceError>>,
    spare: SyncSender<Batch>,
    _thread: ScopedJoinHandle<'scope, ()>,
}

impl<'scope> DecodingReader<'scope> {
    /// Starts the reading thread inside `scope`; it also works out `hash` of every event.
    pub fn spawn<'env>(
        scope: &'scope Scope<'scope, 'env>,
        source: JsonlSource,
        decoder: Decoder,
        hash: impl Fn(&Event) -> u64 + Send + 'scope,
    ) -> std::io::Result<Self> {
        let (batch_tx, batches) = sync_channel(IN_FLIGHT);
        let (spare, spare_rx) = sync_channel(IN_FLIGHT + 2);
        let thread = std::thread::Builder::new()
            .name("replay-read".into())
            .spawn_scoped(scope, move || read_all(source, &decoder, &hash, &batch_tx, &spare_rx))?;
        Ok(DecodingReader { batches, spare, _thread: thread })
    }

    /// The next batch in file order, `None` at the end of the file.
    pub fn next(&self) -> Option<Result<Batch, SourceError>> {
        self.batches.recv().ok()
    }

    /// Gives an applied batch back: its buffer is reused and its events freed by the reader.
    pub fn recycle(&self, batch: Batch) {
        // A full spare queue only means the buffer is dropped here instead of reused.
        let _ = self.spare.try_send(batch);
    }
}

fn read_all(
    mut source: JsonlSource,
    decoder: &Decoder,
    hash: &dyn Fn(&Event) -> u64,
    batches: &SyncSender<Result<Batch, SourceError>>,
    spare: &Receiver<Batch>,
) {
    loop {
        // A returned buffer still holds the events it carried: they are dropped here, on this
        // thread, rather than on the applying one.
        let Batch { mut lines, mut bytes, .. } = spare.try_recv().unwrap_or_else(|_| Batch {
            lines: Vec::with_capacity(BATCH_LINES),
            bytes: Vec::new(),
            received: Instant::now(),
        });
        lines.clear();
        bytes.clear();
        let mut failed = None;
        while lines.len() < BATCH_LINES {
            match source.next_line_ref() {
                Ok(Some((line, line_bytes))) => {
                    let decoded = decoder.decode(line_bytes, None);
                    let hash = decoded.as_ref().map_or(0, hash);
                    let start = bytes.len();
                    bytes.extend_from_slice(line_bytes);
                    lines.push(DecodedLine { line, decoded, hash, payload: start..bytes.len() });
                }
                Ok(None) => break,
                Err(e) => {
                    failed = Some(e);
                    break;
                }
            }
        }
        let last = lines.len() < BATCH_LINES;
        if !lines.is_empty() && batches.send(Ok(Batch { lines, bytes, received: Instant::now() })).is_err() {
            return; // the applying side stopped
        }
        if let Some(e) = failed {
            let _ = batches.send(Err(e));
            return;
        }
        if last {
            return;
        }
    }
}
