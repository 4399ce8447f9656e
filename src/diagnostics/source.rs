//! Source files and positions within them.

use serde::Serialize;
use std::collections::BTreeMap;
use std::fmt;
use std::ops::Range;
use std::sync::Arc;

/// A position in a file: 1-based line and column (in characters), 0-based byte offset.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct Position {
    /// Line, from 1.
    pub line: usize,
    /// Column, from 1, counted in characters.
    pub column: usize,
    /// Byte offset, from 0.
    pub byte: usize,
}

/// A stretch of a file.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct SourceRange {
    /// The file's name, relative to the policy directory.
    pub filename: Arc<str>,
    /// Where it starts.
    pub start: Position,
    /// Where it ends (exclusive).
    pub end: Position,
}

impl fmt::Display for SourceRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}", self.filename, self.start.line, self.start.column)
    }
}

/// Where a file stops being UTF-8.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotUtf8 {
    /// The first bad byte.
    pub at: SourceRange,
    /// Its value.
    pub byte: u8,
}

impl fmt::Display for NotUtf8 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}: the file is not UTF-8 text: byte 0x{:02X} (offset {}) does not start a valid \
             UTF-8 character",
            self.at, self.byte, self.at.start.byte
        )
    }
}

/// One loaded file and an index of where its lines start.
#[derive(Debug, Clone)]
pub struct SourceFile {
    name: Arc<str>,
    text: String,
    line_starts: Vec<usize>,
}

impl SourceFile {
    /// A file called `name` (relative to the policy directory) holding `text`.
    pub fn new(name: impl Into<Arc<str>>, text: impl Into<String>) -> Self {
        let text = text.into();
        let line_starts =
            std::iter::once(0).chain(text.match_indices('\n').map(|(at, _)| at + 1)).collect();
        Self { name: name.into(), text, line_starts }
    }

    /// A file read as bytes, and where it stops being UTF-8 if it does. Policy files are
    /// UTF-8; for one that is not, the file holds the text with each bad sequence replaced (so
    /// its lines can still be quoted).
    pub fn from_bytes(name: impl Into<Arc<str>>, bytes: Vec<u8>) -> (Self, Option<NotUtf8>) {
        match String::from_utf8(bytes) {
            Ok(text) => (Self::new(name, text), None),
            Err(error) => {
                let offset = error.utf8_error().valid_up_to();
                let byte = error.as_bytes()[offset];
                // The lossy text is the same as the file up to `offset`, so positions there are
                // the file's own.
                let file = Self::new(name, String::from_utf8_lossy(error.as_bytes()).into_owned());
                let at = file.range(offset..offset);
                (file, Some(NotUtf8 { at, byte }))
            }
        }
    }

    /// The file's name.
    pub fn name(&self) -> &Arc<str> {
        &self.name
    }

    /// The file's text.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// The position of byte offset `byte` (clamped to the file).
    pub fn position(&self, byte: usize) -> Position {
        let byte = byte.min(self.text.len());
        let line_index = match self.line_starts.binary_search(&byte) {
            Ok(index) => index,
            Err(index) => index - 1,
        };
        let line_start = self.line_starts[line_index];
        let column = self
            .text
            .get(line_start..byte)
            .map_or(byte - line_start, |prefix| prefix.chars().count())
            + 1;
        Position { line: line_index + 1, column, byte }
    }

    /// The range covering byte offsets `span`.
    pub fn range(&self, span: Range<usize>) -> SourceRange {
        SourceRange {
            filename: self.name.clone(),
            start: self.position(span.start),
            end: self.position(span.end.max(span.start)),
        }
    }

    /// The text of line `line` (1-based), without its newline.
    pub fn line_text(&self, line: usize) -> Option<&str> {
        let start = *self.line_starts.get(line.checked_sub(1)?)?;
        let end = self.line_starts.get(line).map_or(self.text.len(), |next| *next);
        Some(self.text[start..end].trim_end_matches(['\n', '\r']))
    }
}

/// Every file of a policy, by name, so a diagnostic can quote the line it is about.
#[derive(Debug, Clone, Default)]
pub struct SourceMap {
    files: BTreeMap<Arc<str>, SourceFile>,
}

impl SourceMap {
    /// An empty map.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a file.
    pub fn insert(&mut self, file: SourceFile) {
        self.files.insert(file.name.clone(), file);
    }

    /// The file called `name`.
    pub fn get(&self, name: &str) -> Option<&SourceFile> {
        self.files.get(name)
    }

    /// Every file, by name.
    pub fn files(&self) -> impl Iterator<Item = &SourceFile> {
        self.files.values()
    }
}

#[cfg(test)]
mod tests {
    use super::SourceFile;

    #[test]
    fn positions_count_lines_and_characters_from_one() {
        let file = SourceFile::new("main.hcl", "a = 1\nbé = \"x\"\n");
        let cases = [(0, 1, 1), (4, 1, 5), (6, 2, 1), (10, 2, 4), (18, 3, 1)];
        for (byte, line, column) in cases {
            let position = file.position(byte);
            assert_eq!((position.line, position.column), (line, column), "byte {byte}");
        }
        assert_eq!(file.line_text(2), Some("bé = \"x\""));
        assert_eq!(file.line_text(9), None);
    }
}
