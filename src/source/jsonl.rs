//! Lines of a JSONL file (or standard input) with their 1-based line numbers.

use std::fs::File;
use std::io::{self, BufRead, BufReader};
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

pub struct JsonlSource {
    reader: Box<dyn BufRead + Send>,
    name: String,
    line: u64,
}

impl JsonlSource {
    /// Opens `path`, or standard input for `-`.
    pub fn open(path: &Path) -> Result<Self, SourceError> {
        let name = path.display().to_string();
        let reader: Box<dyn BufRead + Send> = if name == "-" {
            Box::new(BufReader::with_capacity(1 << 20, io::stdin()))
        } else {
            let file = File::open(path).map_err(|source| SourceError::Open { path: name.clone(), source })?;
            Box::new(BufReader::with_capacity(1 << 20, file))
        };
        Ok(JsonlSource { reader, name, line: 0 })
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// Reads the next non-empty line into `buf` (without its line ending); returns its number.
    /// Empty lines carry no event and are skipped.
    pub fn next_line(&mut self, buf: &mut Vec<u8>) -> Result<Option<u64>, SourceError> {
        loop {
            buf.clear();
            let n = self.reader.read_until(b'\n', buf).map_err(|source| SourceError::Read {
                path: self.name.clone(),
                line: self.line + 1,
                source,
            })?;
            if n == 0 {
                return Ok(None);
            }
            self.line += 1;
            if buf.last() == Some(&b'\n') {
                buf.pop();
            }
            if buf.last() == Some(&b'\r') {
                buf.pop();
            }
            if !buf.is_empty() {
                return Ok(Some(self.line));
            }
        }
    }
}
