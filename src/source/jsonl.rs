//! Lines of a JSONL file (or standard input) with their 1-based line numbers.

use std::fs::File;
use std::io::{self, Read};
use std::path::Path;

use thiserror::Error;

#[derive(Debug, Error)]
pub enum SourceError {
    #[error("cannot open input {path}: {source}")]
    Open {
        path: String,
        #[source]
        source: io::Error,
    },
    #[error("cannot read input {path} at line {line}: {source}")]
    Read {
        path: String,
        line: u64,
        #[source]
        source: io::Error,
    },
}

/// Reads whole lines out of a large buffer and lends them out in place: a line is copied only
/// when it straddles the end of the buffer (moved to its front before the next read).
pub struct JsonlSource {
    reader: Box<dyn Read + Send>,
    name: String,
    line: u64,
    buf: Vec<u8>,
    /// The unread bytes are `buf[start..end]`.
    start: usize,
    end: usize,
    eof: bool,
}

/// Bytes read at a time; a longer line makes the buffer grow to hold it.
const READ_BYTES: usize = 1 << 20;

impl JsonlSource {
    /// Opens `path`, or standard input for `-`.
    pub fn open(path: &Path) -> Result<Self, SourceError> {
        let name = path.display().to_string();
        let reader: Box<dyn Read + Send> = if name == "-" {
            Box::new(io::stdin())
        } else {
            Box::new(File::open(path).map_err(|source| SourceError::Open { path: name.clone(), source })?)
        };
        Ok(JsonlSource { reader, name, line: 0, buf: vec![0; READ_BYTES], start: 0, end: 0, eof: false })
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// The next non-empty line (without its line ending) and its 1-based number, lent from the
    /// buffer. Empty lines carry no event and are skipped (they still count).
    pub fn next_line_ref(&mut self) -> Result<Option<(u64, &[u8])>, SourceError> {
        let (from, to) = loop {
            let (from, mut to, next) = match memchr::memchr(b'\n', &self.buf[self.start..self.end]) {
                Some(i) => (self.start, self.start + i, self.start + i + 1),
                None if self.eof && self.start < self.end => (self.start, self.end, self.end),
                None if self.eof => return Ok(None),
                None => {
                    self.refill()?;
                    continue;
                }
            };
            self.start = next;
            self.line += 1;
            if to > from && self.buf[to - 1] == b'\r' {
                to -= 1;
            }
            if to > from {
                break (from, to);
            }
        };
        Ok(Some((self.line, &self.buf[from..to])))
    }

    /// Moves the unread bytes to the front (growing the buffer when they fill it) and reads more.
    fn refill(&mut self) -> Result<(), SourceError> {
        self.buf.copy_within(self.start..self.end, 0);
        self.end -= self.start;
        self.start = 0;
        if self.end == self.buf.len() {
            self.buf.resize(self.buf.len() * 2, 0);
        }
        loop {
            match self.reader.read(&mut self.buf[self.end..]) {
                Ok(0) => {
                    self.eof = true;
                    return Ok(());
                }
                Ok(n) => {
                    self.end += n;
                    return Ok(());
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(source) => {
                    return Err(SourceError::Read { path: self.name.clone(), line: self.line + 1, source });
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A reader that hands out at most `step` bytes per read, to put line ends at every offset.
    struct Trickle(Vec<u8>, usize, usize);

    impl Read for Trickle {
        fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
            let n = self.1.min(out.len()).min(self.0.len() - self.2);
            out[..n].copy_from_slice(&self.0[self.2..self.2 + n]);
            self.2 += n;
            Ok(n)
        }
    }

    fn lines(text: &[u8], step: usize, capacity: usize) -> Vec<(u64, Vec<u8>)> {
        let mut source = JsonlSource {
            reader: Box::new(Trickle(text.to_vec(), step, 0)),
            name: "t".into(),
            line: 0,
            buf: vec![0; capacity],
            start: 0,
            end: 0,
            eof: false,
        };
        let mut out = Vec::new();
        while let Some((n, line)) = source.next_line_ref().unwrap() {
            out.push((n, line.to_vec()));
        }
        out
    }

    #[test]
    fn lines_numbers_and_endings_whatever_the_reads() {
        let text = b"a\n\nbb\r\n\r\nccc\n\n\ndddddddddddddddddd\r";
        let want: Vec<(u64, Vec<u8>)> =
            vec![(1, b"a".to_vec()), (3, b"bb".to_vec()), (5, b"ccc".to_vec()), (8, b"dddddddddddddddddd".to_vec())];
        for step in 1..text.len() + 2 {
            for capacity in [1, 2, 3, 7, 64] {
                assert_eq!(lines(text, step, capacity), want, "step {step} capacity {capacity}");
            }
        }
        assert!(lines(b"", 4, 4).is_empty());
        assert!(lines(b"\n\r\n", 4, 4).is_empty());
    }
}
