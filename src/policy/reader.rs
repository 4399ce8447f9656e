//! Reading one block's attributes into typed values, collecting a diagnostic for every problem.
//!
//! Each block kind's decoder asks the reader for the attributes it knows, by name and type
//! (`reader.duration("max_duration", Presence::Required)`). The reader records every name
//! asked for, so when the decoder calls [`BlockReader::finish`], whatever the block holds that
//! nobody asked for is reported as unknown, with a "did you mean". The decoder is therefore the
//! single list of a block's attributes: nothing can be accepted but ignored.

use hcl_edit::Span;
use hcl_edit::expr::Expression;
use hcl_edit::structure::{Attribute, Block, Body, Structure};
use jiff::Timestamp;
use std::collections::BTreeMap;
use std::path::Path;

use super::duration::Duration;
use super::eval::{self, Functions};
use super::reference::{Reference, ReferenceKind};
use super::spanned::Spanned;
use super::suggest::did_you_mean;
use crate::diagnostics::{Diagnostic, Diagnostics, SourceFile, SourceRange};

/// Whether an attribute must be present.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Presence {
    /// Missing is an error.
    Required,
    /// Missing is fine.
    Optional,
}

/// Reads the attributes and nested blocks of one block.
#[derive(Debug)]
pub struct BlockReader<'a> {
    file: &'a SourceFile,
    base_dir: &'a Path,
    what: String,
    range: SourceRange,
    attributes: Vec<&'a Attribute>,
    blocks: Vec<&'a Block>,
    known_attributes: Vec<&'static str>,
    known_blocks: Vec<&'static str>,
    missing: Vec<&'static str>,
    diagnostics: Diagnostics,
}

/// The range of a block's header: its keyword and labels.
pub fn header_range(file: &SourceFile, block: &Block) -> SourceRange {
    let start = block.ident.span().map_or(0, |span| span.start);
    let end = block
        .labels
        .last()
        .and_then(Span::span)
        .or_else(|| block.ident.span())
        .map_or(start, |span| span.end);
    file.range(start..end)
}

/// A block's keyword and labels as a sentence names it: `approvers "leads"`.
pub fn describe_block(block: &Block) -> String {
    let mut what = block.ident.as_str().to_owned();
    for label in &block.labels {
        what.push_str(&format!(" \"{}\"", label.as_str()));
    }
    what
}

/// Describes a JSON value's type for "expected X, found Y" messages.
pub fn describe_value(value: &serde_json::Value) -> String {
    use serde_json::Value;
    match value {
        Value::Null => "null".to_owned(),
        Value::Bool(b) => format!("the bool {b}"),
        Value::Number(n) => format!("the number {n}"),
        Value::String(s) if s.chars().count() > 40 => "a string".to_owned(),
        Value::String(s) => format!("the string {s:?}"),
        Value::Array(_) => "a list".to_owned(),
        Value::Object(_) => "an object".to_owned(),
    }
}

impl<'a> BlockReader<'a> {
    /// A reader for `block`, which is in `file`; relative paths resolve against `base_dir`.
    pub fn new(block: &'a Block, file: &'a SourceFile, base_dir: &'a Path) -> Self {
        Self::for_body(
            &block.body,
            file,
            base_dir,
            describe_block(block),
            header_range(file, block),
        )
    }

    /// A reader for a body, described as `what` in messages, whose header is at `range`.
    pub fn for_body(
        body: &'a Body,
        file: &'a SourceFile,
        base_dir: &'a Path,
        what: String,
        range: SourceRange,
    ) -> Self {
        let mut reader = Self {
            file,
            base_dir,
            what,
            range,
            attributes: Vec::new(),
            blocks: Vec::new(),
            known_attributes: Vec::new(),
            known_blocks: Vec::new(),
            missing: Vec::new(),
            diagnostics: Diagnostics::new(),
        };
        let mut first_seen: BTreeMap<&str, SourceRange> = BTreeMap::new();
        for structure in body.iter() {
            match structure {
                Structure::Attribute(attribute) => {
                    let key = attribute.key.as_str();
                    let range = reader.key_range(attribute);
                    if let Some(first) = first_seen.get(key) {
                        reader.diagnostics.push(
                            Diagnostic::error(
                                format!("attribute \"{key}\" is set twice in {}", reader.what),
                                format!("it was first set at {first}; keep one of them"),
                            )
                            .at(range),
                        );
                        continue;
                    }
                    first_seen.insert(key, range);
                    reader.attributes.push(attribute);
                }
                Structure::Block(block) => reader.blocks.push(block),
            }
        }
        reader
    }

    /// The file being read.
    pub fn file(&self) -> &'a SourceFile {
        self.file
    }

    /// The policy directory.
    pub fn base_dir(&self) -> &'a Path {
        self.base_dir
    }

    /// The block's header range.
    pub fn range(&self) -> &SourceRange {
        &self.range
    }

    /// How messages name this block.
    pub fn what(&self) -> &str {
        &self.what
    }

    /// Records a problem.
    pub fn push(&mut self, diagnostic: Diagnostic) {
        self.diagnostics.push(diagnostic);
    }

    /// The range of an attribute's key.
    pub fn key_range(&self, attribute: &Attribute) -> SourceRange {
        self.file.range(attribute.key.span().unwrap_or(0..0))
    }

    /// The range of an expression.
    pub fn expression_range(&self, expression: &Expression) -> SourceRange {
        self.file.range(expression.span().unwrap_or(0..0))
    }

    /// The attribute `name`, marking it known. Reports it missing when required.
    pub fn attribute(&mut self, name: &'static str, presence: Presence) -> Option<&'a Attribute> {
        self.known_attributes.push(name);
        let found = self.attributes.iter().copied().find(|a| a.key.as_str() == name);
        if found.is_none() && presence == Presence::Required && !self.missing.contains(&name) {
            self.missing.push(name);
        }
        found
    }

    /// Evaluates attribute `name` with the general function library and no variables.
    pub fn value(
        &mut self,
        name: &'static str,
        presence: Presence,
    ) -> Option<Spanned<serde_json::Value>> {
        let attribute = self.attribute(name, presence)?;
        self.evaluate(attribute, &eval::context(Functions::General))
    }

    /// Evaluates an attribute's value in `context`, reporting problems at the value.
    pub fn evaluate(
        &mut self,
        attribute: &Attribute,
        context: &hcl::eval::Context<'_>,
    ) -> Option<Spanned<serde_json::Value>> {
        let range = self.expression_range(&attribute.value);
        match eval::evaluate(&attribute.value, context, self.base_dir) {
            Ok(value) => Some(Spanned::new(value, range)),
            Err(problems) => {
                for problem in problems {
                    let at =
                        problem.span.map_or_else(|| range.clone(), |span| self.file.range(span));
                    self.diagnostics.push(
                        Diagnostic::error(
                            format!(
                                "invalid value for \"{}\" in {}",
                                attribute.key.as_str(),
                                self.what
                            ),
                            problem.message,
                        )
                        .at(at),
                    );
                }
                None
            }
        }
    }

    fn wrong_type(&mut self, name: &str, expected: &str, found: &Spanned<serde_json::Value>) {
        self.diagnostics.push(
            Diagnostic::error(
                format!("wrong type for \"{name}\" in {}", self.what),
                format!("expected {expected}, found {}", describe_value(found)),
            )
            .at(found.range.clone()),
        );
    }

    /// A string attribute.
    pub fn string(&mut self, name: &'static str, presence: Presence) -> Option<Spanned<String>> {
        let value = self.value(name, presence)?;
        match &value.value {
            serde_json::Value::String(text) => Some(Spanned::new(text.clone(), value.range)),
            _ => {
                self.wrong_type(name, "a string", &value);
                None
            }
        }
    }

    /// A bool attribute.
    pub fn bool(&mut self, name: &'static str) -> Option<Spanned<bool>> {
        let value = self.value(name, Presence::Optional)?;
        match value.value {
            serde_json::Value::Bool(flag) => Some(Spanned::new(flag, value.range)),
            _ => {
                self.wrong_type(name, "true or false", &value);
                None
            }
        }
    }

    /// A whole, non-negative number.
    pub fn count(&mut self, name: &'static str, presence: Presence) -> Option<Spanned<u32>> {
        let value = self.value(name, presence)?;
        match value.value.as_u64().and_then(|n| u32::try_from(n).ok()) {
            Some(number) => Some(Spanned::new(number, value.range)),
            None => {
                self.wrong_type(name, "a whole number (0 or more)", &value);
                None
            }
        }
    }

    /// A duration written as a string (`"4h"`).
    pub fn duration(
        &mut self,
        name: &'static str,
        presence: Presence,
    ) -> Option<Spanned<Duration>> {
        let text = self.string(name, presence)?;
        match text.value.parse::<Duration>() {
            Ok(duration) => Some(Spanned::new(duration, text.range)),
            Err(error) => {
                self.diagnostics.push(
                    Diagnostic::error(
                        format!("invalid duration for \"{name}\" in {}", self.what),
                        error.to_string(),
                    )
                    .at(text.range),
                );
                None
            }
        }
    }

    /// An RFC 3339 timestamp written as a string.
    pub fn timestamp(
        &mut self,
        name: &'static str,
        presence: Presence,
    ) -> Option<Spanned<Timestamp>> {
        let text = self.string(name, presence)?;
        match text.value.parse::<Timestamp>() {
            Ok(timestamp) => Some(Spanned::new(timestamp, text.range)),
            Err(error) => {
                self.diagnostics.push(
                    Diagnostic::error(
                        format!("invalid timestamp for \"{name}\" in {}", self.what),
                        format!(
                            "{:?} is not an RFC 3339 time ({error}); write it with a date, a \
                             time and an offset, as in \"2026-12-01T09:00:00Z\"",
                            text.value
                        ),
                    )
                    .at(text.range),
                );
                None
            }
        }
    }

    /// One of a fixed set of words (`"low"`, `"medium"`, `"high"`).
    pub fn keyword<T: Copy>(
        &mut self,
        name: &'static str,
        presence: Presence,
        words: &[(&'static str, T)],
    ) -> Option<Spanned<T>> {
        let text = self.string(name, presence)?;
        if let Some((_, value)) = words.iter().find(|(word, _)| *word == text.value) {
            return Some(Spanned::new(*value, text.range));
        }
        let choices: Vec<String> = words.iter().map(|(word, _)| format!("\"{word}\"")).collect();
        self.diagnostics.push(
            Diagnostic::error(
                format!("invalid value for \"{name}\" in {}", self.what),
                format!(
                    "{:?} is not one of {}.{}",
                    text.value,
                    choices.join(", "),
                    did_you_mean(&text.value, words.iter().map(|(word, _)| *word))
                ),
            )
            .at(text.range),
        );
        None
    }

    /// A map of strings (`{ aws = "arn:…", local = "alice" }`).
    pub fn string_map(&mut self, name: &'static str) -> Option<Spanned<BTreeMap<String, String>>> {
        let value = self.value(name, Presence::Optional)?;
        let map = value.value.as_object().and_then(|object| {
            object
                .iter()
                .map(|(key, item)| Some((key.clone(), item.as_str()?.to_owned())))
                .collect::<Option<BTreeMap<_, _>>>()
        });
        match map {
            Some(map) => Some(Spanned::new(map, value.range)),
            None => {
                self.wrong_type(name, "a map of strings, as in { key = \"value\" }", &value);
                None
            }
        }
    }

    /// A map of any values (`set = { value = "false" }`).
    pub fn object(
        &mut self,
        name: &'static str,
        presence: Presence,
    ) -> Option<Spanned<serde_json::Map<String, serde_json::Value>>> {
        let value = self.value(name, presence)?;
        match value.value {
            serde_json::Value::Object(map) => Some(Spanned::new(map, value.range)),
            _ => {
                self.wrong_type(name, "an object, as in { attribute = value }", &value);
                None
            }
        }
    }

    /// A single reference to a block of one of `kinds` (`approvers.leads`). A
    /// `ReferenceKind::Resource` in `kinds` accepts any resource type.
    pub fn reference(
        &mut self,
        name: &'static str,
        presence: Presence,
        kinds: &[ReferenceKind],
    ) -> Option<Spanned<Reference>> {
        let attribute = self.attribute(name, presence)?;
        self.reference_in(attribute.key.as_str(), &attribute.value, kinds)
    }

    /// A list of references (`[team.oncall, person.alice]`).
    pub fn references(
        &mut self,
        name: &'static str,
        presence: Presence,
        kinds: &[ReferenceKind],
    ) -> Option<Spanned<Vec<Spanned<Reference>>>> {
        let attribute = self.attribute(name, presence)?;
        let range = self.expression_range(&attribute.value);
        let Expression::Array(items) = &attribute.value else {
            self.diagnostics.push(
                Diagnostic::error(
                    format!("wrong type for \"{name}\" in {}", self.what),
                    format!(
                        "expected a list of references, as in {name} = [{}]",
                        example_reference(kinds)
                    ),
                )
                .at(range),
            );
            return None;
        };
        let references =
            items.iter().filter_map(|item| self.reference_in(name, item, kinds)).collect();
        Some(Spanned::new(references, range))
    }

    fn reference_in(
        &mut self,
        name: &str,
        expression: &Expression,
        kinds: &[ReferenceKind],
    ) -> Option<Spanned<Reference>> {
        let range = self.expression_range(expression);
        let expected = kinds.iter().map(ReferenceKind::describe).collect::<Vec<_>>().join(" or ");
        let example = example_reference(kinds);
        let Some((root, target)) = eval::as_reference(expression) else {
            let hint = match expression {
                Expression::String(text) => format!(
                    "found the string {:?}; references are written without quotes, as in \
                     {name} = {example}",
                    text.as_str()
                ),
                _ => format!("write it as {name} = {example}"),
            };
            self.diagnostics.push(
                Diagnostic::error(
                    format!("\"{name}\" in {} must be a reference to {expected}", self.what),
                    hint,
                )
                .at(range),
            );
            return None;
        };
        let kind = match ReferenceKind::from_keyword(&root) {
            Some(kind) if kinds.contains(&kind) => kind,
            None if kinds.iter().any(|k| matches!(k, ReferenceKind::Resource(_)))
                && root.contains('_') =>
            {
                ReferenceKind::Resource(root)
            }
            _ => {
                self.diagnostics.push(
                    Diagnostic::error(
                        format!("\"{name}\" in {} must be a reference to {expected}", self.what),
                        format!("{root}.{target} is not {expected}; write it as {example}"),
                    )
                    .at(range),
                );
                return None;
            }
        };
        Some(Spanned::new(Reference::new(kind, target), range))
    }

    /// How many nested blocks the block holds, of any name.
    pub fn block_count(&self) -> usize {
        self.blocks.len()
    }

    /// The nested blocks called `ident`, marking the name known.
    pub fn blocks(&mut self, ident: &'static str) -> Vec<&'a Block> {
        self.known_blocks.push(ident);
        self.blocks.iter().copied().filter(|b| b.ident.as_str() == ident).collect()
    }

    /// Every attribute nobody asked for yet, marking them all known. For blocks whose
    /// attributes are defined elsewhere (a resource's, by its provider's schema).
    pub fn remaining_attributes(&mut self) -> Vec<&'a Attribute> {
        let remaining: Vec<&'a Attribute> = self
            .attributes
            .iter()
            .copied()
            .filter(|a| !self.known_attributes.contains(&a.key.as_str()))
            .collect();
        self.attributes.retain(|a| !remaining.iter().any(|r| std::ptr::eq(*r, *a)));
        remaining
    }

    /// Reports what the block holds that no one asked for, and required attributes that are
    /// missing (unless a misspelling of them was reported as unknown), and returns every
    /// problem found.
    pub fn finish(mut self) -> Diagnostics {
        let mut misspelt = Vec::new();
        for attribute in &self.attributes {
            let key = attribute.key.as_str();
            if !self.known_attributes.contains(&key) {
                misspelt
                    .extend(super::suggest::closest(key, self.known_attributes.iter().copied()));
            }
        }
        for name in std::mem::take(&mut self.missing) {
            if misspelt.contains(&name) {
                continue;
            }
            self.diagnostics.push(
                Diagnostic::error(
                    format!("{} is missing required attribute \"{name}\"", self.what),
                    format!("add `{name} = …` to the block"),
                )
                .at(self.range.clone()),
            );
        }
        for attribute in self.attributes.clone() {
            let key = attribute.key.as_str();
            if self.known_attributes.contains(&key) {
                continue;
            }
            let detail = if self.known_blocks.contains(&key) {
                format!("{key} is a block here: write `{key} {{ … }}` without `=`")
            } else if self.known_attributes.is_empty() {
                format!("{} takes no attributes", self.what)
            } else {
                let mut known = self.known_attributes.clone();
                known.sort_unstable();
                known.dedup();
                format!(
                    "{} accepts: {}.{}",
                    self.what,
                    known.join(", "),
                    did_you_mean(key, known.iter().copied())
                )
            };
            self.diagnostics.push(
                Diagnostic::error(format!("unknown attribute \"{key}\" in {}", self.what), detail)
                    .at(self.key_range(attribute)),
            );
        }
        for block in self.blocks.clone() {
            let ident = block.ident.as_str();
            if self.known_blocks.contains(&ident) {
                continue;
            }
            let detail = if self.known_attributes.contains(&ident) {
                format!("{ident} is an attribute here: write `{ident} = …`")
            } else if self.known_blocks.is_empty() {
                format!("{} takes no nested blocks", self.what)
            } else {
                format!(
                    "{} accepts the blocks: {}.{}",
                    self.what,
                    self.known_blocks.join(", "),
                    did_you_mean(ident, self.known_blocks.iter().copied())
                )
            };
            self.diagnostics.push(
                Diagnostic::error(format!("unknown block \"{ident}\" in {}", self.what), detail)
                    .at(header_range(self.file, block)),
            );
        }
        self.diagnostics
    }
}

fn example_reference(kinds: &[ReferenceKind]) -> String {
    match kinds.first() {
        Some(ReferenceKind::Person) => "person.alice".to_owned(),
        Some(ReferenceKind::Team) => "team.oncall".to_owned(),
        Some(ReferenceKind::Approvers) => "approvers.leads".to_owned(),
        Some(ReferenceKind::Authentication) => "authentication.strong".to_owned(),
        Some(ReferenceKind::Role) => "role.prod_admin".to_owned(),
        Some(ReferenceKind::Override) => "override.chatbot_kill_switch".to_owned(),
        Some(ReferenceKind::Resource(_)) => "local_setting.chatbot_enabled".to_owned(),
        Some(other) => format!("{}.NAME", other.keyword()),
        None => "kind.name".to_owned(),
    }
}
