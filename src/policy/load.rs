//! Loading a policy directory: read every `*.hcl` file, parse it (keeping spans), dispatch each
//! top-level block to its decoder, then resolve resources and validate across blocks.

use breakglass_provider::ProviderSchema;
use hcl_edit::Span;
use hcl_edit::structure::{Block, Body, Structure};
use jiff::Timestamp;
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::path::Path;

use super::blocks::{
    Approvers, Authentication, Grant, Limit, Override, Person, ProviderBlock, ResourceDecl, Role,
    Settings, Team, resource_labels,
};
use super::model::Policy;
use super::reader::{BlockReader, header_range};
use super::reference::{Reference, ReferenceKind};
use super::suggest::did_you_mean;
use super::{resolve, validate};
use crate::address::ResourceAddress;
use crate::diagnostics::{Diagnostic, Diagnostics, SourceFile, SourceMap, SourceRange};

/// Every provider's schema, by provider name.
pub type ProviderSchemas = BTreeMap<String, ProviderSchema>;

/// What loading found: the policy, if it could be read at all, and every problem.
#[derive(Debug)]
pub struct Loaded {
    /// The policy; `None` when no file could be read. Present even with errors, so callers can
    /// show as much as possible, but only usable when `diagnostics` has no errors.
    pub policy: Option<Policy>,
    /// Every problem found, sorted by place.
    pub diagnostics: Diagnostics,
    /// The files read, for rendering diagnostics.
    pub sources: SourceMap,
}

impl Loaded {
    /// The policy, if it loaded without errors.
    pub fn valid_policy(&self) -> Option<&Policy> {
        self.policy.as_ref().filter(|_| !self.diagnostics.has_errors())
    }
}

/// The block kinds a policy file may contain, with how many labels each takes and an example.
const BLOCK_KINDS: [(&str, usize, &str); 11] = [
    ("breakglass", 0, "breakglass { … }"),
    ("provider", 1, "provider \"local\" { … }"),
    ("person", 1, "person \"alice\" { … }"),
    ("team", 1, "team \"oncall\" { … }"),
    ("approvers", 1, "approvers \"leads\" { … }"),
    ("authentication", 1, "authentication \"strong\" { … }"),
    ("resource", 2, "resource \"local_access\" \"oncall_admin\" { … }"),
    ("role", 1, "role \"prod_admin\" { … }"),
    ("override", 1, "override \"chatbot_kill_switch\" { … }"),
    ("grant", 1, "grant \"chg_1234\" { … }"),
    ("limit", 1, "limit \"high_risk_monthly\" { … }"),
];

/// Whether `name` can be used in references: letters, digits, `_` and `-`, not starting with
/// a digit.
pub fn is_identifier(name: &str) -> bool {
    let mut characters = name.chars();
    characters.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && characters.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

/// How strict loading is about problems of housekeeping rather than meaning.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Strictness {
    /// `validate` (and CI): a grant that already ended is an error, to be removed from git.
    Review,
    /// Commands that act (plan, apply, reconcile, watch): such problems are warnings, so an
    /// expired grant can never stop its own revert.
    Operate,
}

/// Loads and validates the policy in `dir`, as of time `now` (grants that already ended are
/// reported against it, as errors or warnings by `strictness`).
pub fn load(
    dir: &Path,
    schemas: &ProviderSchemas,
    now: Timestamp,
    strictness: Strictness,
) -> Loaded {
    load_with(dir, schemas, now, strictness, |_| {})
}

/// [`load`], calling `decoded` with the policy as soon as every block is decoded (settings
/// included), before the checks across blocks: a caller can start work that needs only the
/// settings, such as reading the state they name, while the rest is checked. Not called when a
/// file could not be read or parsed; what `decoded` sees may still turn out invalid.
pub fn load_with(
    dir: &Path,
    schemas: &ProviderSchemas,
    now: Timestamp,
    strictness: Strictness,
    decoded: impl FnOnce(&Policy),
) -> Loaded {
    let mut diagnostics = Diagnostics::new();
    let mut sources = SourceMap::new();
    let files = match policy_files(dir) {
        Ok(files) => files,
        Err(diagnostic) => {
            diagnostics.push(diagnostic);
            return Loaded { policy: None, diagnostics, sources };
        }
    };
    let mut unreadable = false;
    for (name, bytes) in files {
        let (file, not_utf8) = SourceFile::from_bytes(name, bytes);
        if let Some(not_utf8) = not_utf8 {
            diagnostics.push(
                Diagnostic::error(
                    "policy file is not UTF-8",
                    format!(
                        "byte 0x{:02X} does not start a valid UTF-8 character; policy files \
                             are UTF-8 text: re-save the file as UTF-8 (for example \
                             `iconv -f latin1 -t utf-8`)",
                        not_utf8.byte
                    ),
                )
                .at(not_utf8.at),
            );
            unreadable = true;
        }
        sources.insert(file);
    }
    if unreadable {
        return Loaded { policy: None, diagnostics, sources };
    }

    let mut policy = Policy::empty(dir.to_path_buf());
    let mut seen: BTreeMap<String, SourceRange> = BTreeMap::new();
    let mut settings_seen = false;
    let mut unparsed = 0;
    let mut decode = |file: &SourceFile, parsed: Result<Body, hcl_edit::parser::Error>| {
        let body = match parsed {
            Ok(body) => body,
            Err(error) => {
                unparsed += 1;
                diagnostics.push(syntax_error(file, &error));
                return;
            }
        };
        for structure in body.iter() {
            match structure {
                Structure::Attribute(attribute) => diagnostics.push(
                    Diagnostic::error(
                        format!("attribute \"{}\" outside any block", attribute.key.as_str()),
                        "settings go inside breakglass { … }; everything else is a block, such \
                         as person \"alice\" { … }",
                    )
                    .at(file.range(attribute.key.span().unwrap_or(0..0))),
                ),
                Structure::Block(block) => decode_block(
                    block,
                    file,
                    dir,
                    schemas,
                    &mut policy,
                    &mut seen,
                    &mut settings_seen,
                    &mut diagnostics,
                ),
            }
        }
    };
    // Each file is parsed on a thread of its own while the one before it is decoded, and its
    // syntax tree dropped once decoded: the trees (some 35 times the size of their text) are
    // never all held at once.
    std::thread::scope(|scope| {
        let (send, receive) = std::sync::mpsc::sync_channel(1);
        let files = &sources;
        scope.spawn(move || {
            for file in files.files() {
                if send.send((file, hcl_edit::parser::parse_body(file.text()))).is_err() {
                    break;
                }
            }
        });
        for (file, parsed) in receive {
            decode(file, parsed);
        }
    });

    // With a file unreadable, checks across blocks would report its blocks as missing:
    // show the syntax errors alone, as Terraform does.
    if unparsed == 0 {
        decoded(&policy);
        resolve::resolve_resources(&mut policy, schemas, &mut diagnostics);
        validate::validate(&policy, schemas, now, strictness, &mut diagnostics);
    }
    // Built one insert at a time in file order, the largest maps have half-empty B-tree nodes;
    // rebuilt in one go they are full (10,000 roles and 40,000 resource blocks: 14 MiB less).
    policy.resources = std::mem::take(&mut policy.resources).into_iter().collect();
    policy.roles = std::mem::take(&mut policy.roles).into_iter().collect();
    policy.declared = std::mem::take(&mut policy.declared).into_iter().collect();
    policy.digest = digest(&sources, &policy);
    policy.sources = sources.clone();
    diagnostics.sort();
    Loaded { policy: Some(policy), diagnostics, sources }
}

/// The diagnostic for a file that is not valid HCL.
fn syntax_error(file: &SourceFile, error: &hcl_edit::parser::Error) -> Diagnostic {
    let offset = error.location().offset();
    // A string left open runs on to the next line, where the parser stops: report it where it
    // starts, the mistake a person has to fix.
    match unterminated_string(file.text(), offset) {
        Some(quote) => Diagnostic::error(
            "unterminated string",
            "this string has no closing quote on its line; add the \" that ends it (a string \
             cannot span lines: for several lines use a heredoc, <<EOT … EOT)",
        )
        .at(file.range(quote..quote + 1)),
        None => {
            let start = file.position(offset);
            Diagnostic::error("HCL syntax error", syntax_detail(error.message())).at(SourceRange {
                filename: file.name().clone(),
                start,
                end: start,
            })
        }
    }
}

/// The byte offset of the opening quote of the first quoted string in `text` that reaches the
/// end of its line unclosed, if it opens by the end of the line holding `before` (where the
/// parser gave up). Comments,
/// heredocs, escapes and `${ … }` interpolations (which may hold strings of their own) are
/// skipped as HCL reads them.
fn unterminated_string(text: &str, before: usize) -> Option<usize> {
    let bytes = text.as_bytes();
    // The parser may stop before the string (at the attribute it could not read) or after it
    // (at the next line): a string that opens by the end of that line counts.
    let before = line_end(bytes, before.min(bytes.len().saturating_sub(1)));
    let mut at = 0;
    // Each open string, and the brace depth of each interpolation inside it.
    let mut strings: Vec<(usize, usize)> = Vec::new();
    while at < bytes.len() {
        let byte = bytes[at];
        match strings.last_mut() {
            // Inside a string's text.
            Some((_, 0)) => match byte {
                b'\\' => at += 1,
                b'"' => {
                    strings.pop();
                }
                b'$' | b'%' if bytes.get(at + 1) == Some(&b'{') => {
                    if let Some(open) = strings.last_mut() {
                        open.1 = 1;
                    }
                    at += 1;
                }
                b'\n' => return strings.first().map(|(start, _)| *start).filter(|s| *s <= before),
                _ => {}
            },
            // Inside an interpolation: code, until its braces balance.
            Some((_, depth)) => match byte {
                b'{' => *depth += 1,
                b'}' => *depth -= 1,
                b'"' => strings.push((at, 0)),
                _ => {}
            },
            // Code.
            None if at > before => return None,
            None => match byte {
                b'"' => strings.push((at, 0)),
                b'#' => at = line_end(bytes, at),
                b'/' if bytes.get(at + 1) == Some(&b'/') => at = line_end(bytes, at),
                b'/' if bytes.get(at + 1) == Some(&b'*') => {
                    at = text[at + 2..].find("*/").map_or(bytes.len(), |end| at + 2 + end + 1);
                }
                b'<' if bytes.get(at + 1) == Some(&b'<') => at = heredoc_end(text, at),
                _ => {}
            },
        }
        at += 1;
    }
    None
}

/// The offset of the newline that ends the line holding `at` (or the end of the text).
fn line_end(bytes: &[u8], at: usize) -> usize {
    bytes[at..].iter().position(|b| *b == b'\n').map_or(bytes.len(), |n| at + n)
}

/// The offset of the last byte of the heredoc that starts at `at` (`<<EOT` or `<<-EOT`), or
/// `at + 1` when it is not one.
fn heredoc_end(text: &str, at: usize) -> usize {
    let rest = text[at + 2..].strip_prefix('-').unwrap_or(&text[at + 2..]);
    let marker: String =
        rest.chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_').collect();
    let body_start = line_end(text.as_bytes(), at) + 1;
    if marker.is_empty() || body_start >= text.len() {
        return at + 1;
    }
    let mut line_start = body_start;
    for line in text[body_start..].split_inclusive('\n') {
        if line.trim() == marker {
            return line_start + line.len().saturating_sub(1);
        }
        line_start += line.len();
    }
    text.len()
}

fn syntax_detail(message: &str) -> String {
    let message = message.trim();
    if message.contains("redefined attribute") {
        "an attribute is set twice in the same block; keep one of them".to_owned()
    } else if message.is_empty() {
        "the file is not valid HCL here; check for a missing quote, brace or `=`".to_owned()
    } else {
        format!("{message}; check for a missing quote, brace or `=`")
    }
}

/// Reads every `*.hcl` file of `dir`, sorted by name, as bytes (decoded by the caller, which
/// reports a file that is not UTF-8 with its position).
fn policy_files(dir: &Path) -> Result<Vec<(String, Vec<u8>)>, Diagnostic> {
    let entries = fs_err::read_dir(dir).map_err(|error| {
        Diagnostic::error(
            format!("cannot read the policy directory {}", dir.display()),
            format!(
                "{error}; run breakglass in the policy directory (or below it), pass -C DIR, or \
                 set BREAKGLASS_DIR"
            ),
        )
    })?;
    let mut files = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|error| {
            Diagnostic::error("cannot list the policy directory", error.to_string())
        })?;
        let path = entry.path();
        if path.extension().is_some_and(|ext| ext == "hcl") && path.is_file() {
            let name = path.file_name().unwrap_or_default().to_string_lossy().into_owned();
            let bytes = fs_err::read(&path).map_err(|error| {
                Diagnostic::error(format!("cannot read {name}"), error.to_string())
            })?;
            files.push((name, bytes));
        }
    }
    if files.is_empty() {
        return Err(Diagnostic::error(
            format!(
                "no policy files in {}",
                std::path::absolute(dir).unwrap_or_else(|_| dir.to_path_buf()).display()
            ),
            "a policy is every *.hcl file in one directory; run breakglass there (or below it), \
             pass -C DIR or set BREAKGLASS_DIR (try -C examples/quickstart)",
        ));
    }
    files.sort();
    Ok(files)
}

#[allow(clippy::too_many_arguments)]
fn decode_block(
    block: &Block,
    file: &SourceFile,
    dir: &Path,
    schemas: &ProviderSchemas,
    policy: &mut Policy,
    seen: &mut BTreeMap<String, SourceRange>,
    settings_seen: &mut bool,
    diagnostics: &mut Diagnostics,
) {
    let kind = block.ident.as_str();
    let range = header_range(file, block);
    let Some((_, label_count, example)) = BLOCK_KINDS.iter().find(|(k, _, _)| *k == kind) else {
        diagnostics.push(
            Diagnostic::error(
                format!("unknown block kind \"{kind}\""),
                format!(
                    "a policy holds these blocks: {}.{}",
                    BLOCK_KINDS.map(|(k, _, _)| k).join(", "),
                    did_you_mean(kind, BLOCK_KINDS.map(|(k, _, _)| k))
                ),
            )
            .at(range),
        );
        return;
    };
    if block.labels.len() != *label_count {
        let wanted = match label_count {
            0 => "no labels".to_owned(),
            1 => "one label, its name".to_owned(),
            n => format!("{n} labels"),
        };
        diagnostics.push(
            Diagnostic::error(
                format!("{kind} block has {} label(s)", block.labels.len()),
                format!("{kind} blocks take {wanted}: {example}"),
            )
            .at(range),
        );
        return;
    }
    for label in &block.labels {
        if !is_identifier(label.as_str()) {
            diagnostics.push(
                Diagnostic::error(
                    format!("invalid name \"{}\" in {kind} block", label.as_str()),
                    "names start with a letter or _ and hold only letters, digits, _ and -, so \
                     they can be referred to (team.oncall)",
                )
                .at(file.range(label.span().unwrap_or(0..0))),
            );
            return;
        }
    }
    let labels: Vec<&str> = block.labels.iter().map(|label| label.as_str()).collect();
    let key = format!("{kind} {}", labels.join("."));
    if kind == "breakglass" {
        if *settings_seen {
            diagnostics.push(
                Diagnostic::error(
                    "more than one breakglass block",
                    "settings live in a single breakglass { … } block; merge them",
                )
                .at(range),
            );
            return;
        }
        *settings_seen = true;
    } else if let Some(first) = seen.get(&key) {
        let shown = match labels.as_slice() {
            [one] => format!("{kind} \"{one}\""),
            [a, b] => format!("{kind} \"{a}\" \"{b}\""),
            _ => kind.to_owned(),
        };
        diagnostics.push(
            Diagnostic::error(
                format!("duplicate {shown}"),
                format!("it is first declared at {first}; names must be unique per block kind"),
            )
            .at(range),
        );
        return;
    }
    seen.insert(key, range.clone());
    let declared_kind = match kind {
        "resource" => Some(ReferenceKind::Resource(labels[0].to_owned())),
        other => ReferenceKind::from_keyword(other),
    };
    if let Some(declared_kind) = declared_kind {
        policy.declared.insert(Reference::new(declared_kind, *labels.last().unwrap_or(&"")));
    }

    let mut reader = BlockReader::new(block, file, dir);
    let name = labels.first().copied().unwrap_or_default().to_owned();
    match kind {
        "breakglass" => policy.settings = Settings::decode(&mut reader),
        "provider" => {
            if !schemas.contains_key(&name) {
                reader.push(
                    Diagnostic::error(
                        format!("unknown provider \"{name}\""),
                        format!(
                            "providers available: {}.{}",
                            schemas.keys().cloned().collect::<Vec<_>>().join(", "),
                            did_you_mean(&name, schemas.keys().map(String::as_str))
                        ),
                    )
                    .at(range.clone()),
                );
            }
            policy.providers.insert(name.clone(), ProviderBlock::decode(&mut reader, &name));
        }
        "person" => insert(&mut policy.persons, &name, Person::decode(&mut reader, &name)),
        "team" => insert(&mut policy.teams, &name, Team::decode(&mut reader, &name)),
        "approvers" => insert(&mut policy.approvers, &name, Approvers::decode(&mut reader, &name)),
        "authentication" => {
            insert(&mut policy.authentications, &name, Authentication::decode(&mut reader, &name))
        }
        "resource" => {
            if let Some((resource_type, resource_name)) = resource_labels(block) {
                let address = ResourceAddress::new(resource_type, resource_name);
                let resource = ResourceDecl::decode(&mut reader, address.clone());
                policy.resources.insert(address, resource);
            }
        }
        "role" => insert(&mut policy.roles, &name, Role::decode(&mut reader, &name)),
        "override" => insert(&mut policy.overrides, &name, Override::decode(&mut reader, &name)),
        "grant" => insert(&mut policy.grants, &name, Grant::decode(&mut reader, &name)),
        "limit" => insert(&mut policy.limits, &name, Limit::decode(&mut reader, &name)),
        _ => unreachable!("every kind in BLOCK_KINDS is decoded"),
    }
    diagnostics.extend(reader.finish());
}

fn insert<T>(map: &mut BTreeMap<String, T>, name: &str, value: Option<T>) {
    if let Some(value) = value {
        map.insert(name.to_owned(), value);
    }
}

fn digest(sources: &SourceMap, policy: &Policy) -> String {
    let mut hasher = Sha256::new();
    for file in sources.files() {
        hasher.update(file.name().as_bytes());
        hasher.update([0]);
        hasher.update(file.text().len().to_le_bytes());
        hasher.update(file.text().as_bytes());
    }
    // The decoded policy covers what files pull in through file(), such as public keys.
    // Streamed into the hasher: at 10,000 roles the JSON would be tens of MB held for nothing.
    let _ = serde_json::to_writer(Hashing(&mut hasher), policy);
    format!("sha256:{}", hex::encode(hasher.finalize()))
}

/// Bytes written go into a hash.
struct Hashing<'a>(&'a mut Sha256);

impl std::io::Write for Hashing<'_> {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.update(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::unterminated_string;

    #[test]
    fn an_unterminated_string_is_found_where_it_opens() {
        let cases: [(&str, Option<usize>); 7] = [
            ("a = \"open\nb = \"x\"\n", Some(4)),
            ("a = \"closed\"\nb = \"x\"\n", None),
            ("a = \"esc \\\" still\nb = 1\n", Some(4)),
            ("# a \" in a comment\nb = \"x\n", Some(23)),
            ("a = \"${f(\"in\")} out\nb = 1\n", Some(4)),
            ("a = <<EOT\nhas \" one quote\nEOT\nb = \"open\n", Some(34)),
            ("/* \" */ a = \"x\"\n", None),
        ];
        for (text, expected) in cases {
            assert_eq!(unterminated_string(text, text.len()), expected, "{text:?}");
        }
        // Only strings that open by the end of the line where the parser stopped.
        assert_eq!(unterminated_string("a = 1\nb = \"open\n", 3), None);
        assert_eq!(unterminated_string("a = 1\nb = \"open\n", 6), Some(10));
    }
}
