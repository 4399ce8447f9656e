//! Diagnostics as people read them (text, with the offending line quoted and underlined) and as
//! programs read them (the JSON shape of `terraform validate -json`).

use anstyle::{AnsiColor, Style};
use serde_json::json;
use std::fmt::Write;

use super::diagnostic::{Diagnostic, Diagnostics, Severity};
use super::source::SourceMap;

const ERROR: Style = AnsiColor::Red.on_default().bold();
const WARNING: Style = AnsiColor::Yellow.on_default().bold();
const GUTTER: Style = AnsiColor::Blue.on_default().bold();
const BOLD: Style = Style::new().bold();

/// Renders every diagnostic as text, each naming `file:line:column`, quoting the line and
/// underlining the range. `color` adds ANSI styles.
pub fn render_text(diagnostics: &Diagnostics, sources: &SourceMap, color: bool) -> String {
    let mut out = String::new();
    for diagnostic in diagnostics {
        render_one(&mut out, diagnostic, sources, color);
        out.push('\n');
    }
    out
}

fn paint(color: bool, style: Style, text: &str) -> String {
    if color { format!("{style}{text}{style:#}") } else { text.to_owned() }
}

fn render_one(out: &mut String, diagnostic: &Diagnostic, sources: &SourceMap, color: bool) {
    let style = match diagnostic.severity {
        Severity::Error => ERROR,
        Severity::Warning => WARNING,
    };
    let _ = writeln!(
        out,
        "{}{}",
        paint(color, style, &diagnostic.severity.to_string()),
        paint(color, BOLD, &format!(": {}", diagnostic.summary))
    );
    let quoted = diagnostic.range.as_ref().and_then(|range| {
        let file = sources.get(&range.filename)?;
        let line = file.line_text(range.start.line)?;
        Some((range, line))
    });
    let width = quoted.map_or(1, |(range, _)| range.start.line.to_string().len());
    let pad = " ".repeat(width);
    if let Some(range) = &diagnostic.range {
        let _ = writeln!(out, "{pad}{} {range}", paint(color, GUTTER, "-->"));
    }
    if let Some((range, line)) = quoted {
        let bar = paint(color, GUTTER, "|");
        let line_display = line.replace('\t', " ");
        let start = range.start.column.saturating_sub(1);
        let line_chars = line_display.chars().count();
        let end = if range.end.line == range.start.line {
            range.end.column.saturating_sub(1)
        } else {
            line_chars
        };
        let carets = end.saturating_sub(start).max(1);
        let _ = writeln!(out, "{pad} {bar}");
        let _ = writeln!(
            out,
            "{} {bar} {line_display}",
            paint(color, GUTTER, &range.start.line.to_string())
        );
        let _ = writeln!(
            out,
            "{pad} {bar} {}{}",
            " ".repeat(start),
            paint(color, style, &"^".repeat(carets))
        );
    }
    for (index, line) in diagnostic.detail.lines().enumerate() {
        let lead = if index == 0 { "=" } else { " " };
        let _ = writeln!(out, "{pad} {} {line}", paint(color, GUTTER, lead));
    }
}

/// The `validate --json` document: `{format_version, valid, error_count, warning_count,
/// diagnostics[]}`, each diagnostic `{severity, summary, detail, range{filename,
/// start{line,column,byte}, end{…}}}`.
pub fn render_json(diagnostics: &Diagnostics) -> serde_json::Value {
    json!({
        "format_version": "1.0",
        "valid": !diagnostics.has_errors(),
        "error_count": diagnostics.error_count(),
        "warning_count": diagnostics.warning_count(),
        "diagnostics": diagnostics,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diagnostics::{SourceFile, SourceMap};

    #[test]
    fn text_quotes_the_line_and_underlines_the_range() {
        let file = SourceFile::new("main.hcl", "approvers \"leads\" {\n  quorom = 2\n}\n");
        let range = file.range(22..28);
        let mut sources = SourceMap::new();
        sources.insert(file);
        let diagnostics = Diagnostics::from(vec![
            Diagnostic::error("unknown attribute \"quorom\"", "did you mean \"quorum\"?").at(range),
        ]);
        let text = render_text(&diagnostics, &sources, false);
        assert_eq!(
            text,
            "error: unknown attribute \"quorom\"\n --> main.hcl:2:3\n  |\n2 |   quorom = 2\n  |   ^^^^^^\n  = did you mean \"quorum\"?\n\n"
        );
    }

    #[test]
    fn json_counts_errors_and_warnings() {
        let diagnostics =
            Diagnostics::from(vec![Diagnostic::error("a", "b"), Diagnostic::warning("c", "d")]);
        let value = render_json(&diagnostics);
        assert_eq!(value["valid"], false);
        assert_eq!(value["error_count"], 1);
        assert_eq!(value["warning_count"], 1);
        assert_eq!(value["diagnostics"][1]["severity"], "warning");
    }
}
