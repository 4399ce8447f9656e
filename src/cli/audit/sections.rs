//! Where `audit report` keeps each activation's rendered section until the report is written
//! in its order: in memory while they are few, in an unnamed temporary file (removed when the
//! process ends, whatever way it ends) once they pass [`MEMORY_LIMIT`], so the report on a log
//! of any length holds only the activations' summaries. Sections are written once, in the order
//! they are built, and read back once, in the report's order (close to the order they were
//! built: the log groups events by activation id, which is time-ordered).

use std::fs::File;
use std::io::{self, BufWriter, Read, Seek, SeekFrom, Write};

/// Sections kept in memory up to this many bytes in all; beyond it they go to a file.
pub const MEMORY_LIMIT: usize = 32 << 20;

/// Sections by number, in the order they were added.
#[derive(Debug, Default)]
pub struct SectionStore {
    /// Each section's start and length: in `memory`, or in `file` once it exists.
    spans: Vec<(u64, u64)>,
    memory: Vec<u8>,
    file: Option<BufWriter<File>>,
    written: u64,
    failed: Option<io::Error>,
}

impl SectionStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds the next section (numbered from 0). An error writing the file is kept and
    /// returned by [`SectionStore::finish`].
    pub fn push(&mut self, bytes: &[u8]) {
        let start = self.written;
        self.spans.push((start, bytes.len() as u64));
        self.written += bytes.len() as u64;
        if self.failed.is_some() {
            return;
        }
        if self.file.is_none() && self.memory.len() + bytes.len() > MEMORY_LIMIT {
            let moved = tempfile::tempfile().and_then(|file| {
                let mut file = BufWriter::with_capacity(1 << 20, file);
                file.write_all(&self.memory)?;
                Ok(file)
            });
            match moved {
                Ok(file) => {
                    self.file = Some(file);
                    self.memory = Vec::new();
                }
                Err(error) => {
                    self.failed = Some(error);
                    return;
                }
            }
        }
        match &mut self.file {
            Some(file) => {
                if let Err(error) = file.write_all(bytes) {
                    self.failed = Some(error);
                }
            }
            None => self.memory.extend_from_slice(bytes),
        }
    }

    /// Ready to read: the sections, or the first error writing them.
    pub fn finish(mut self) -> io::Result<Sections> {
        if let Some(error) = self.failed.take() {
            return Err(error);
        }
        let file = match self.file.take() {
            Some(file) => Some(file.into_inner().map_err(io::IntoInnerError::into_error)?),
            None => None,
        };
        Ok(Sections { spans: self.spans, memory: self.memory, file, buffer: Vec::new() })
    }
}

/// Finished sections, to copy out by number.
#[derive(Debug)]
pub struct Sections {
    spans: Vec<(u64, u64)>,
    memory: Vec<u8>,
    file: Option<File>,
    buffer: Vec<u8>,
}

impl Sections {
    /// Writes section `n` to `out`.
    pub fn copy(&mut self, n: usize, out: &mut dyn Write) -> io::Result<()> {
        let (start, length) = self.spans[n];
        match &mut self.file {
            None => {
                let start = usize::try_from(start).map_err(io::Error::other)?;
                let end = start + usize::try_from(length).map_err(io::Error::other)?;
                out.write_all(&self.memory[start..end])
            }
            Some(file) => {
                file.seek(SeekFrom::Start(start))?;
                self.buffer.clear();
                file.take(length).read_to_end(&mut self.buffer)?;
                out.write_all(&self.buffer)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read_back(store: SectionStore, order: &[usize]) -> String {
        let mut sections = store.finish().unwrap();
        let mut out = Vec::new();
        for n in order {
            sections.copy(*n, &mut out).unwrap();
        }
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn sections_come_back_by_number_from_memory() {
        let mut store = SectionStore::new();
        for text in ["zero ", "one ", "two "] {
            store.push(text.as_bytes());
        }
        assert!(store.file.is_none());
        assert_eq!(read_back(store, &[2, 0, 1]), "two zero one ");
    }

    #[test]
    fn sections_past_the_memory_limit_go_to_a_file_and_come_back_whole() {
        let mut store = SectionStore::new();
        let big = "x".repeat(MEMORY_LIMIT / 2 + 1);
        store.push(b"first ");
        store.push(big.as_bytes());
        assert!(store.file.is_none());
        store.push(big.as_bytes());
        assert!(store.file.is_some(), "the third section passes the limit");
        assert!(store.memory.is_empty());
        store.push(b" last");
        let text = read_back(store, &[3, 0, 1]);
        assert_eq!(text.len(), " last".len() + "first ".len() + big.len());
        assert!(text.starts_with(" lastfirst xx"));
    }
}
