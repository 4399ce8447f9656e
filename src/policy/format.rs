//! Canonical formatting of policy files, keeping every comment (`breakglass fmt`).
//!
//! The target style is what `terraform fmt` produces: two spaces of indentation per nesting
//! level, `=` aligned within a run of consecutive one-line attributes (a run is broken by a
//! blank line, a block, a comment-only line or a multi-line value), single spaces in block
//! headers, at most one blank line between items and none right after `{` or before `}`, no
//! trailing whitespace, LF line endings and exactly one newline at the end of the file.
//!
//! # Design
//!
//! `hcl::format` normalises but throws comments away, so it cannot be used. Instead the source is
//! parsed with `hcl-edit`, which keeps every byte of whitespace and every comment as *decor*
//! (a prefix and a suffix around each node). The tree is left as it is — this module never adds,
//! removes or reorders nodes — and only the decor is rewritten: a [`VisitMut`] walk visits each
//! node in output order and lays out the whitespace around it with `layout`, which re-emits the
//! comments found there with canonical spacing. Because only whitespace moves, the formatter
//! cannot change what the file means, and a second run finds nothing left to change.
//!
//! Indentation follows `terraform fmt`'s rule: the lines inside a bracket pair that spans lines
//! (a block body, `[ ]`, `{ }`, `( )`, a function call's arguments, an index, a `for` expression)
//! are indented one level deeper than the line on which the bracket opened, and a line starting
//! with the closing bracket is indented like that opening line. The walk therefore tracks the
//! indentation of the line it is writing and of the line that opened the innermost bracket.
//!
//! Three things are handled around `hcl-edit` rather than through it:
//! - **Heredocs** are copied verbatim from the source. Their content is part of a string value,
//!   and `hcl-edit` re-encodes `<<-` heredocs (dropping whitespace on blank lines) and the line
//!   ending after `<<EOF`. Each heredoc is swapped for a placeholder identifier during the walk
//!   and its original text is put back at the very end.
//! - **Operator decor.** `hcl-edit` 0.10 does not resolve the whitespace around binary operators
//!   and traversal operators (`.attr`, `[index]`) to text, so it would print default spacing and
//!   silently drop any comment there. That whitespace is recovered from the source by span.
//! - **Line ends.** Trailing whitespace and carriage returns are stripped line by line after
//!   encoding; this is safe because outside heredocs a line can only end in whitespace, a comment
//!   or between tokens, never inside a quoted string.
//!
//! # Known limits
//!
//! - Heredoc bodies and their closing markers are never re-indented, and in a CRLF file a heredoc
//!   body keeps its CRLF line endings (they are part of the string's value).
//! - The inside of a quoted template (`"${ ... }"`) is left exactly as written.
//! - The continuation lines of a multi-line `/* */` comment keep their original indentation.
//! - Within one line, spacing is normalised around `=`, `,`, brackets, operators, `? :`, `.` and
//!   in `for` expressions, but the text of a literal is kept, so a negative number written `- 1`
//!   stays so. Quoted strings are re-encoded by `hcl-edit` from their value, so an escape such as
//!   `\u0041` may come out as the character it stands for.
//! - Trailing comments are aligned only across consecutive one-line attributes (or object items
//!   ending in a newline), not across other kinds of lines.
//! - An attribute whose value is a heredoc takes part in the `=` alignment of the attributes just
//!   before it and ends the run, as in `terraform fmt`.

use hcl_edit::expr::{
    Array, BinaryOp, Conditional, Expression, ForExpr, FuncArgs, FuncCall, Object, ObjectKey,
    ObjectValue, ObjectValueAssignment, ObjectValueTerminator, Parenthesis, Traversal,
    TraversalOperator, UnaryOp,
};
use hcl_edit::structure::{Attribute, Block, Body, Structure};
use hcl_edit::template::{HeredocTemplate, StringTemplate};
use hcl_edit::visit_mut::{self, VisitMut};
use hcl_edit::{Decor, Decorate, Decorated, Ident, Span};
use std::ops::Range;

/// Formats HCL source canonically, keeping every comment. Idempotent: format(format(x)) == format(x).
///
/// # Errors
///
/// Returns a [`FormatError`] locating the first syntax error if `source` is not valid HCL.
pub fn format_source(source: &str) -> Result<String, FormatError> {
    let mut body = hcl_edit::parser::parse_body(source).map_err(FormatError::from_parse)?;
    let mut formatter = Formatter::new(source);
    formatter.format_file(&mut body);
    Ok(formatter.finish(&body.to_string()))
}

/// The source is not valid HCL.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("syntax error at line {line}, column {column}: {message}")]
#[non_exhaustive]
pub struct FormatError {
    /// Line of the error, 1-based.
    pub line: usize,
    /// Column of the error in characters, 1-based.
    pub column: usize,
    /// Byte offset of the error in the source, 0-based.
    pub offset: usize,
    /// What the parser expected or found.
    pub message: String,
}

impl FormatError {
    fn from_parse(err: hcl_edit::parser::Error) -> FormatError {
        let location = err.location();
        FormatError {
            line: location.line(),
            column: location.column(),
            offset: location.offset(),
            message: err.message().to_owned(),
        }
    }
}

const INDENT: &str = "  ";

/// Walks the tree in output order and rewrites its decor.
struct Formatter<'s> {
    source: &'s str,
    /// Indentation level of the line being written.
    indent: usize,
    /// Indentation level of the line on which the innermost open bracket was opened.
    open: usize,
    /// Prefix of the placeholder identifiers that stand in for heredocs; absent from the source.
    placeholder: String,
    /// Placeholder name and original source text of each heredoc, in order.
    heredocs: Vec<(String, String)>,
}

impl<'s> Formatter<'s> {
    fn new(source: &'s str) -> Self {
        let mut placeholder = String::from("breakglassfmtheredoc");
        while source.contains(&placeholder) {
            placeholder.push('x');
        }
        Formatter { source, indent: 0, open: 0, placeholder, heredocs: Vec::new() }
    }

    fn format_file(&mut self, body: &mut Body) {
        self.format_body(body, 0);
        body.set_prefer_omit_trailing_newline(false);
        let gap =
            Gap { start: Start::LineStart, indent: 0, blank_ok: !body.is_empty(), next: Next::Eof };
        let suffix = layout(suffix_of(body.decor()), gap).text;
        body.decor_mut().set_suffix(suffix);
    }

    /// Strips trailing whitespace, ends the file with one newline and puts the heredocs back.
    fn finish(&self, encoded: &str) -> String {
        let mut out = String::with_capacity(encoded.len() + 1);
        for line in encoded.split('\n') {
            out.push_str(line.trim_end_matches([' ', '\t', '\r']));
            out.push('\n');
        }
        out.truncate(out.trim_end_matches('\n').len());
        if !out.is_empty() {
            out.push('\n');
        }
        for (name, text) in &self.heredocs {
            out = out.replacen(name.as_str(), text, 1);
        }
        out
    }

    /// Formats the structures of a body whose lines are indented `depth` levels. The body's own
    /// decor (around its braces) is the caller's.
    fn format_body(&mut self, body: &mut Body, depth: usize) {
        let mut rows = Vec::with_capacity(body.len());
        let mut suffixes = Vec::with_capacity(body.len());
        for index in 0..body.len() {
            let Some(structure) = body.get_mut(index) else {
                continue;
            };
            self.indent = depth;
            self.open = depth;
            let gap = Gap {
                start: Start::LineStart,
                indent: depth,
                blank_ok: index > 0,
                next: Next::Token,
            };
            let prefix = layout(prefix_of(structure.decor()), gap);
            let fresh = prefix.breaks_run;
            let plain = starts_line(&prefix.text);
            structure.decor_mut().set_prefix(prefix.text);

            let mut row = match structure {
                Structure::Attribute(attr) => self.format_attribute(attr, depth, plain),
                Structure::Block(block) => {
                    self.format_block(block, depth);
                    Row::breaking()
                }
            };
            row.fresh = fresh;

            // Whatever follows the structure on its line: only ever a comment.
            let suffix = layout(suffix_of(structure.decor()), Gap::line_end());
            row.comment = suffix.has_comment;
            structure.decor_mut().set_suffix(suffix.text.clone());
            suffixes.push(suffix.text);
            rows.push(row);
        }

        let (equals, comments) = alignment(&rows);
        for (index, row) in rows.iter().enumerate() {
            let Some(Structure::Attribute(attr)) = body.get_mut(index) else {
                continue;
            };
            if row.chain != Chain::Break {
                attr.key.decor_mut().set_suffix(" ".repeat(equals[index]));
            }
            if comments[index] != 1 {
                let comment = suffixes[index].trim_start();
                let suffix = format!("{}{comment}", " ".repeat(comments[index]));
                attr.decor_mut().set_suffix(suffix);
            }
        }
    }

    /// Formats an attribute on a line of its own; `plain` says nothing precedes its key there.
    fn format_attribute(&mut self, attr: &mut Attribute, depth: usize, plain: bool) -> Row {
        let key_suffix = layout(suffix_of(attr.key.decor()), Gap::inline(" "));
        let plain = plain && !key_suffix.has_comment;
        attr.key.decor_mut().set_suffix(key_suffix.text);

        let heredoc = matches!(attr.value, Expression::HeredocTemplate(_));
        let heredocs = self.heredocs.len();
        self.lead(&mut attr.value, " ", false);
        self.visit_expr_mut(&mut attr.value);
        // The value's suffix and the attribute's run together up to the end of the line.
        let tail = take_suffix(&mut attr.value);
        let suffix = format!("{tail}{}", suffix_of(attr.decor()));
        attr.decor_mut().set_suffix(suffix);

        let value = attr.value.to_string();
        let chain = if !plain {
            Chain::Break
        } else if heredoc {
            Chain::JoinLast
        } else if value.contains('\n') || self.heredocs.len() > heredocs {
            Chain::Break
        } else {
            Chain::Join
        };
        Row {
            chain,
            fresh: false,
            indent: depth * INDENT.len(),
            key_width: attr.key.as_str().chars().count(),
            tail_width: 1 + value.chars().count(),
            comment: false,
        }
    }

    fn format_block(&mut self, block: &mut Block, depth: usize) {
        let gap = layout(suffix_of(block.ident.decor()), Gap::inline(" ")).text;
        block.ident.decor_mut().set_suffix(gap);
        for label in &mut block.labels {
            let gap = layout(prefix_of(label.decor()), Gap::inline("")).text;
            label.decor_mut().set_prefix(gap);
            let gap = layout(suffix_of(label.decor()), Gap::inline(" ")).text;
            label.decor_mut().set_suffix(gap);
        }

        let body = &mut block.body;
        if body.prefer_oneline() {
            self.format_oneline_body(body, depth);
        } else {
            // After `{`: at most a comment before the line ends.
            let prefix = layout(prefix_of(body.decor()), Gap::line_end()).text;
            body.decor_mut().set_prefix(prefix);
            self.format_body(body, depth + 1);
            let gap = Gap {
                start: Start::LineStart,
                indent: depth + 1,
                blank_ok: !body.is_empty(),
                next: Next::Close { indent: depth, inline: "", own_line: true },
            };
            let suffix = layout(suffix_of(body.decor()), gap).text;
            body.decor_mut().set_suffix(suffix);
        }
        self.indent = depth;
        self.open = depth;
    }

    /// `name { key = value }` or `name {}`.
    fn format_oneline_body(&mut self, body: &mut Body, depth: usize) {
        self.indent = depth;
        self.open = depth;
        let mut tail = String::new();
        let mut has_attribute = false;
        if let Some(Structure::Attribute(attr)) = body.get_mut(0) {
            has_attribute = true;
            self.lead(attr, " ", false);
            let gap = layout(suffix_of(attr.key.decor()), Gap::inline(" ")).text;
            attr.key.decor_mut().set_suffix(gap);
            self.lead(&mut attr.value, " ", false);
            self.visit_expr_mut(&mut attr.value);
            tail.push_str(&take_suffix(&mut attr.value));
            tail.push_str(&take_suffix(attr));
        }
        tail.push_str(suffix_of(body.decor()));
        let spaced = has_attribute || has_comment(&tail);
        let pad = if spaced { " " } else { "" };
        let gap = Gap {
            start: Start::After(pad),
            indent: depth + 1,
            blank_ok: false,
            next: Next::Close { indent: depth, inline: pad, own_line: false },
        };
        let suffix = layout(&tail, gap).text;
        body.decor_mut().set_suffix(suffix);
    }

    /// Runs `f` inside a bracket pair opened on the current line.
    fn bracketed<R>(&mut self, f: impl FnOnce(&mut Self) -> R) -> R {
        let outer = self.open;
        self.open = self.indent;
        let result = f(self);
        self.open = outer;
        result
    }

    /// Lays out the gap before `item`, which follows a token it is separated from by `lead`.
    fn lead(&mut self, item: &mut impl Decorate, lead: &'static str, blank_ok: bool) {
        let text = self.token_gap(prefix_of(item.decor()), lead, blank_ok);
        item.decor_mut().set_prefix(text);
    }

    /// Lays out the gap after `item`, which is followed by a token after `lead`.
    fn trail(&mut self, item: &mut impl Decorate, lead: &'static str) {
        let text = self.token_gap(suffix_of(item.decor()), lead, true);
        item.decor_mut().set_suffix(text);
    }

    /// Lays out the gap after `item`, which is followed by the closing bracket at `indent`.
    fn trail_close(&mut self, item: &mut impl Decorate, indent: usize, inline: &'static str) {
        let text = self.close_gap(suffix_of(item.decor()), indent, inline);
        item.decor_mut().set_suffix(text);
    }

    fn token_gap(&mut self, raw: &str, lead: &'static str, blank_ok: bool) -> String {
        let gap =
            Gap { start: Start::After(lead), indent: self.open + 1, blank_ok, next: Next::Token };
        self.track(layout(raw, gap))
    }

    fn close_gap(&mut self, raw: &str, indent: usize, inline: &'static str) -> String {
        let gap = Gap {
            start: Start::After(inline),
            indent: self.open + 1,
            blank_ok: true,
            next: Next::Close { indent, inline, own_line: false },
        };
        self.track(layout(raw, gap))
    }

    fn track(&mut self, laid: Laid) -> String {
        if let Some(indent) = laid.line_indent {
            self.indent = indent;
        }
        laid.text
    }

    fn format_object_item(
        &mut self,
        key: &mut ObjectKey,
        value: &mut ObjectValue,
        index: usize,
        line_start: bool,
    ) -> (Row, String) {
        let start = if line_start { Start::LineStart } else { Start::After(" ") };
        let gap = Gap { start, indent: self.open + 1, blank_ok: index > 0, next: Next::Token };
        let prefix = layout(prefix_of(key.decor()), gap);
        let own_line = prefix.line_indent.is_some() && starts_line(&prefix.text);
        let fresh = prefix.breaks_run;
        let prefix = self.track(prefix);
        key.decor_mut().set_prefix(prefix);

        let key_width = match key {
            ObjectKey::Ident(ident) => ident.as_str().chars().count(),
            ObjectKey::Expression(expr) => {
                self.visit_expr_mut(expr);
                let mut bare = expr.clone();
                bare.decor_mut().clear();
                bare.to_string().chars().count()
            }
        };
        // `=` gets a space on both sides; `:` is left as it was written.
        let lead = match value.assignment() {
            ObjectValueAssignment::Equals => " ",
            ObjectValueAssignment::Colon if suffix_of(key.decor()).is_empty() => "",
            ObjectValueAssignment::Colon => " ",
        };
        let key_suffix = layout(suffix_of(key.decor()), Gap::inline(lead));
        let plain = !key_suffix.has_comment && value.assignment() == ObjectValueAssignment::Equals;
        key.decor_mut().set_suffix(key_suffix.text);

        let expr = value.expr_mut();
        let heredoc = matches!(expr, Expression::HeredocTemplate(_));
        let heredocs = self.heredocs.len();
        self.lead(expr, " ", false);
        self.visit_expr_mut(expr);
        let mut comment = false;
        let mut rest = String::new();
        match value.terminator() {
            ObjectValueTerminator::Comma => {
                let indent = self.open + 1;
                self.trail_close(value.expr_mut(), indent, "");
            }
            ObjectValueTerminator::Newline => {
                let suffix = layout(suffix_of(value.expr().decor()), Gap::line_end());
                comment = suffix.has_comment;
                value.expr_mut().decor_mut().set_suffix(suffix.text);
            }
            // The last item runs straight into the closing brace; the caller lays that out.
            ObjectValueTerminator::None => rest = take_suffix(value.expr_mut()),
        }

        let text = value.expr().to_string();
        let chain = if !own_line || !plain {
            Chain::Break
        } else if heredoc {
            Chain::JoinLast
        } else if text.contains('\n') || self.heredocs.len() > heredocs {
            Chain::Break
        } else {
            Chain::Join
        };
        let comma = usize::from(value.terminator() == ObjectValueTerminator::Comma);
        let row = Row {
            chain,
            fresh,
            indent: (self.open + 1) * INDENT.len(),
            key_width,
            tail_width: 1 + text.chars().count() + comma,
            comment,
        };
        (row, rest)
    }
}

impl VisitMut for Formatter<'_> {
    fn visit_expr_mut(&mut self, node: &mut Expression) {
        if let Expression::HeredocTemplate(heredoc) = node {
            if let Some(text) = heredoc.span().and_then(|span| self.source.get(span)) {
                let name = format!("{}{}z", self.placeholder, self.heredocs.len());
                self.heredocs.push((name.clone(), heredoc_text(text)));
                let mut placeholder = Decorated::new(Ident::new(name));
                *placeholder.decor_mut() = heredoc.decor().clone();
                *node = Expression::Variable(placeholder);
            }
            return;
        }
        visit_mut::visit_expr_mut(self, node);
    }

    fn visit_array_mut(&mut self, node: &mut Array) {
        self.bracketed(|this| {
            let open = this.open;
            let len = node.len();
            let trailing_comma = node.trailing_comma();
            let mut rest = String::new();
            for (index, value) in node.iter_mut().enumerate() {
                this.lead(value, if index == 0 { "" } else { " " }, index > 0);
                this.visit_expr_mut(value);
                if index + 1 == len && !trailing_comma {
                    rest = take_suffix(value);
                } else {
                    this.trail_close(value, open + 1, "");
                }
            }
            rest.push_str(node.trailing());
            let trailing = this.close_gap(&rest, open, "");
            node.set_trailing(trailing);
        });
    }

    fn visit_object_mut(&mut self, node: &mut Object) {
        self.bracketed(|this| {
            let open = this.open;
            // Rebuilt from owned items: the borrowed iterator cannot reach into keys.
            let object = std::mem::take(node);
            let decor = object.decor().clone();
            let trailing = object.trailing().to_string();
            let mut items: Vec<(ObjectKey, ObjectValue)> = object.into_iter().collect();

            let mut rows = Vec::with_capacity(items.len());
            let mut suffixes = Vec::with_capacity(items.len());
            let mut line_start = false;
            let mut rest = String::new();
            for (index, (key, value)) in items.iter_mut().enumerate() {
                let (row, tail) = this.format_object_item(key, value, index, line_start);
                rows.push(row);
                suffixes.push(suffix_of(value.expr().decor()).to_owned());
                line_start = value.terminator() == ObjectValueTerminator::Newline;
                rest = tail;
            }
            rest.push_str(&trailing);
            let inline = if items.is_empty() && !has_comment(&rest) { "" } else { " " };
            let gap = Gap {
                start: if line_start { Start::LineStart } else { Start::After(inline) },
                indent: open + 1,
                blank_ok: true,
                next: Next::Close { indent: open, inline, own_line: false },
            };
            let trailing = this.track(layout(&rest, gap));

            let (equals, comments) = alignment(&rows);
            for (index, (key, value)) in items.iter_mut().enumerate() {
                if rows[index].chain != Chain::Break {
                    key.decor_mut().set_suffix(" ".repeat(equals[index]));
                }
                if comments[index] != 1 {
                    let comment = suffixes[index].trim_start();
                    let suffix = format!("{}{comment}", " ".repeat(comments[index]));
                    value.expr_mut().decor_mut().set_suffix(suffix);
                }
            }

            let mut object: Object = items.into_iter().collect();
            object.set_trailing(trailing);
            *object.decor_mut() = decor;
            *node = object;
        });
    }

    fn visit_func_call_mut(&mut self, node: &mut FuncCall) {
        for component in &mut node.name.namespace {
            self.lead(component, "", true);
            self.trail(component, "");
        }
        self.lead(&mut node.name.name, "", true);
        self.trail(&mut node.name.name, "");
        self.lead(&mut node.args, "", true);
        self.trail(&mut node.args, "");
        self.visit_func_args_mut(&mut node.args);
    }

    fn visit_func_args_mut(&mut self, node: &mut FuncArgs) {
        self.bracketed(|this| {
            let open = this.open;
            let len = node.len();
            let merge_last = !node.trailing_comma() && !node.expand_final();
            let mut rest = String::new();
            for (index, arg) in node.iter_mut().enumerate() {
                this.lead(arg, if index == 0 { "" } else { " " }, index > 0);
                this.visit_expr_mut(arg);
                if index + 1 == len && merge_last {
                    rest = take_suffix(arg);
                } else {
                    this.trail_close(arg, open + 1, "");
                }
            }
            rest.push_str(node.trailing());
            let trailing = this.close_gap(&rest, open, "");
            node.set_trailing(trailing);
        });
    }

    fn visit_parenthesis_mut(&mut self, node: &mut Parenthesis) {
        self.bracketed(|this| {
            let open = this.open;
            let inner = node.inner_mut();
            this.lead(inner, "", false);
            this.visit_expr_mut(inner);
            this.trail_close(inner, open, "");
        });
    }

    fn visit_conditional_mut(&mut self, node: &mut Conditional) {
        self.lead(&mut node.cond_expr, "", true);
        self.visit_expr_mut(&mut node.cond_expr);
        self.trail(&mut node.cond_expr, " ");
        self.lead(&mut node.true_expr, " ", true);
        self.visit_expr_mut(&mut node.true_expr);
        self.trail(&mut node.true_expr, " ");
        self.lead(&mut node.false_expr, " ", true);
        self.visit_expr_mut(&mut node.false_expr);
        self.trail(&mut node.false_expr, "");
    }

    fn visit_unary_op_mut(&mut self, node: &mut UnaryOp) {
        self.lead(&mut node.expr, "", true);
        self.visit_expr_mut(&mut node.expr);
        self.trail(&mut node.expr, "");
    }

    fn visit_binary_op_mut(&mut self, node: &mut BinaryOp) {
        recover_binary_op(self.source, node);
        self.lead(&mut node.lhs_expr, "", true);
        self.visit_expr_mut(&mut node.lhs_expr);
        self.trail(&mut node.lhs_expr, "");
        self.lead(&mut node.operator, " ", true);
        self.trail(&mut node.operator, " ");
        self.lead(&mut node.rhs_expr, "", true);
        self.visit_expr_mut(&mut node.rhs_expr);
        self.trail(&mut node.rhs_expr, "");
    }

    fn visit_traversal_mut(&mut self, node: &mut Traversal) {
        recover_traversal(self.source, node);
        self.lead(&mut node.expr, "", true);
        self.visit_expr_mut(&mut node.expr);
        self.trail(&mut node.expr, "");
        for operator in &mut node.operators {
            self.lead(operator, "", true);
            match operator.value_mut() {
                TraversalOperator::Index(expr) => self.bracketed(|this| {
                    let open = this.open;
                    this.lead(expr, "", false);
                    this.visit_expr_mut(expr);
                    this.trail_close(expr, open, "");
                }),
                TraversalOperator::GetAttr(ident) => {
                    self.lead(ident, "", true);
                    self.trail(ident, "");
                }
                TraversalOperator::AttrSplat(splat) | TraversalOperator::FullSplat(splat) => {
                    self.lead(splat, "", true);
                    self.trail(splat, "");
                }
                TraversalOperator::LegacyIndex(index) => {
                    self.lead(index, "", true);
                    self.trail(index, "");
                }
            }
            self.trail(operator, "");
        }
    }

    fn visit_for_expr_mut(&mut self, node: &mut ForExpr) {
        self.bracketed(|this| {
            let open = this.open;
            // `{ for k, v in m : k => v }` but `[for v in l : v]`, as braces and brackets differ.
            let inline = if node.key_expr.is_some() { " " } else { "" };
            this.lead(&mut node.intro, inline, false);
            let intro = &mut node.intro;
            if let Some(key_var) = &mut intro.key_var {
                this.lead(key_var, " ", true);
                this.trail(key_var, "");
            }
            this.lead(&mut intro.value_var, " ", true);
            this.trail(&mut intro.value_var, " ");
            this.lead(&mut intro.collection_expr, " ", true);
            this.visit_expr_mut(&mut intro.collection_expr);
            this.trail(&mut intro.collection_expr, " ");
            this.trail(intro, "");
            if let Some(key_expr) = &mut node.key_expr {
                this.lead(key_expr, " ", true);
                this.visit_expr_mut(key_expr);
                this.trail(key_expr, " ");
            }
            this.lead(&mut node.value_expr, " ", true);
            this.visit_expr_mut(&mut node.value_expr);
            if node.grouping {
                this.trail(&mut node.value_expr, "");
            } else if let Some(cond) = &mut node.cond {
                // Both gaps sit before `if`: lay them out as one.
                let gap = take_suffix(&mut node.value_expr) + prefix_of(cond.decor());
                cond.decor_mut().set_prefix(gap);
            } else {
                this.trail_close(&mut node.value_expr, open, inline);
            }
            if let Some(cond) = &mut node.cond {
                this.lead(cond, " ", true);
                this.lead(&mut cond.expr, " ", true);
                this.visit_expr_mut(&mut cond.expr);
                this.trail_close(&mut cond.expr, open, inline);
            }
        });
    }

    fn visit_string_template_mut(&mut self, node: &mut StringTemplate) {
        // Left as written, but operator decor still has to be recovered to be printed at all.
        OperatorRecovery { source: self.source }.visit_string_template_mut(node);
    }

    fn visit_heredoc_template_mut(&mut self, _node: &mut HeredocTemplate) {
        // Only reached for a heredoc without a span, which hcl-edit then prints itself.
    }
}

/// Restores the operator decor that `hcl-edit` leaves unresolved, without reformatting.
struct OperatorRecovery<'s> {
    source: &'s str,
}

impl VisitMut for OperatorRecovery<'_> {
    fn visit_binary_op_mut(&mut self, node: &mut BinaryOp) {
        recover_binary_op(self.source, node);
        visit_mut::visit_binary_op_mut(self, node);
    }

    fn visit_traversal_mut(&mut self, node: &mut Traversal) {
        recover_traversal(self.source, node);
        visit_mut::visit_traversal_mut(self, node);
    }
}

/// Moves the source text around a binary operator into the operator's decor.
fn recover_binary_op(source: &str, node: &mut BinaryOp) {
    let operator = node.operator.span();
    if let Some(before) = source_gap(source, node.lhs_expr.span(), operator.clone()) {
        node.lhs_expr.decor_mut().set_suffix("");
        node.operator.decor_mut().set_prefix(before);
    }
    if let Some(after) = source_gap(source, operator, node.rhs_expr.span()) {
        node.rhs_expr.decor_mut().set_prefix("");
        node.operator.decor_mut().set_suffix(after);
    }
}

/// Moves the source text before each traversal operator into the operator's decor.
fn recover_traversal(source: &str, node: &mut Traversal) {
    let mut previous = node.expr.span();
    for (index, operator) in node.operators.iter_mut().enumerate() {
        let span = operator.span();
        if let Some(before) = source_gap(source, previous, span.clone()) {
            if index == 0 {
                node.expr.decor_mut().set_suffix("");
            }
            operator.decor_mut().set_prefix(before);
        }
        previous = span;
    }
}

/// The source between two spans, if it is only whitespace and comments.
fn source_gap(
    source: &str,
    left: Option<Range<usize>>,
    right: Option<Range<usize>>,
) -> Option<&str> {
    let text = source.get(left?.end..right?.start)?;
    lex_trivia(text).is_some().then_some(text)
}

/// A heredoc's source text, with the line ending after `<<EOF` normalised (it is not content).
fn heredoc_text(text: &str) -> String {
    match text.split_once('\n') {
        Some((opener, body)) if opener.ends_with('\r') => {
            format!("{}\n{body}", &opener[..opener.len() - 1])
        }
        _ => text.to_owned(),
    }
}

fn prefix_of(decor: &Decor) -> &str {
    decor.prefix().map_or("", |raw| &**raw)
}

fn suffix_of(decor: &Decor) -> &str {
    decor.suffix().map_or("", |raw| &**raw)
}

fn take_suffix(item: &mut impl Decorate) -> String {
    let suffix = suffix_of(item.decor()).to_owned();
    item.decor_mut().set_suffix("");
    suffix
}

/// Whether a laid-out structure prefix leaves its structure alone at the start of a line.
fn starts_line(prefix: &str) -> bool {
    prefix.rsplit('\n').next().is_some_and(|line| line.chars().all(|c| c == ' '))
}

fn has_comment(raw: &str) -> bool {
    lex_trivia(raw).is_none_or(|pieces| pieces.iter().any(|p| matches!(p, Piece::Comment { .. })))
}

/// How a line takes part in `=` alignment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Chain {
    /// A one-line `key = value`: aligned with its neighbours.
    Join,
    /// `key = <<EOF`: aligned with the lines before it, ends the run.
    JoinLast,
    /// Anything else: not aligned, ends the run.
    Break,
}

/// One attribute or object item, as seen by the alignment pass.
#[derive(Debug, Clone, Copy)]
struct Row {
    chain: Chain,
    /// A blank line or a comment-only line comes before it.
    fresh: bool,
    /// Columns before the key.
    indent: usize,
    key_width: usize,
    /// Columns from `=` to the end of the value.
    tail_width: usize,
    /// It ends in a comment.
    comment: bool,
}

impl Row {
    fn breaking() -> Row {
        Row {
            chain: Chain::Break,
            fresh: false,
            indent: 0,
            key_width: 0,
            tail_width: 0,
            comment: false,
        }
    }
}

/// The spaces before each row's `=` and before its trailing comment.
fn alignment(rows: &[Row]) -> (Vec<usize>, Vec<usize>) {
    fn close(run: &mut Vec<usize>, pads: &mut [usize], width: impl Fn(usize) -> usize) {
        let max = run.iter().map(|&i| width(i)).max().unwrap_or(0);
        for &i in run.iter() {
            pads[i] = max - width(i) + 1;
        }
        run.clear();
    }

    let mut equals = vec![1; rows.len()];
    let mut run = Vec::new();
    for (index, row) in rows.iter().enumerate() {
        if row.fresh || row.chain == Chain::Break {
            close(&mut run, &mut equals, |i| rows[i].key_width);
        }
        if row.chain != Chain::Break {
            run.push(index);
        }
        if row.chain == Chain::JoinLast {
            close(&mut run, &mut equals, |i| rows[i].key_width);
        }
    }
    close(&mut run, &mut equals, |i| rows[i].key_width);

    let width = |i: usize| {
        let row = &rows[i];
        row.indent + row.key_width + equals[i] + row.tail_width
    };
    let mut comments = vec![1; rows.len()];
    for (index, row) in rows.iter().enumerate() {
        let joins = row.chain == Chain::Join && row.comment;
        if row.fresh || !joins {
            close(&mut run, &mut comments, width);
        }
        if joins {
            run.push(index);
        }
    }
    close(&mut run, &mut comments, width);
    (equals, comments)
}

/// Where a gap of whitespace and comments sits.
#[derive(Debug, Clone, Copy)]
struct Gap {
    start: Start,
    /// Indentation level for comment lines and for a token that starts a line.
    indent: usize,
    /// Whether a blank line may come before the first thing in the gap.
    blank_ok: bool,
    next: Next,
}

impl Gap {
    /// Up to the end of a line that cannot break here, before a token spaced by `lead`.
    fn inline(lead: &'static str) -> Gap {
        Gap { start: Start::After(lead), indent: 0, blank_ok: false, next: Next::Token }
    }

    /// The rest of a line after a structure or after `{`: nothing, or a comment.
    fn line_end() -> Gap {
        Gap { start: Start::After(" "), indent: 0, blank_ok: false, next: Next::LineBreak }
    }
}

#[derive(Debug, Clone, Copy)]
enum Start {
    /// The gap starts a line.
    LineStart,
    /// The gap follows a token on the same line; `lead` separates it from what comes next.
    After(&'static str),
}

/// What follows a gap.
#[derive(Debug, Clone, Copy)]
enum Next {
    /// A token.
    Token,
    /// A closing bracket, indented `indent` if it starts a line, else after `inline`.
    Close {
        indent: usize,
        inline: &'static str,
        /// The bracket must start a line.
        own_line: bool,
    },
    /// The line break the encoder writes after a structure.
    LineBreak,
    /// The end of the file.
    Eof,
}

/// A laid-out gap.
#[derive(Debug)]
struct Laid {
    text: String,
    /// The indentation level of the token after the gap, if it starts a line.
    line_indent: Option<usize>,
    /// The gap holds a blank line or a comment on a line of its own.
    breaks_run: bool,
    has_comment: bool,
}

#[derive(Debug)]
enum Piece<'a> {
    /// A run of whitespace holding this many newlines.
    Space(usize),
    Comment {
        text: &'a str,
        line: bool,
    },
}

/// Splits decor into whitespace runs and comments; `None` if it holds anything else.
fn lex_trivia(raw: &str) -> Option<Vec<Piece<'_>>> {
    let mut pieces = Vec::new();
    let mut newlines = None;
    let mut rest = raw;
    while let Some(c) = rest.chars().next() {
        if matches!(c, ' ' | '\t' | '\r' | '\n') {
            *newlines.get_or_insert(0) += usize::from(c == '\n');
            rest = &rest[1..];
            continue;
        }
        if let Some(count) = newlines.take() {
            pieces.push(Piece::Space(count));
        }
        let (text, line, len) = if rest.starts_with('#') || rest.starts_with("//") {
            let end = rest.find('\n').unwrap_or(rest.len());
            (rest[..end].trim_end(), true, end)
        } else if let Some(body) = rest.strip_prefix("/*") {
            let end = body.find("*/")? + 4;
            (&rest[..end], false, end)
        } else {
            return None;
        };
        pieces.push(Piece::Comment { text, line });
        rest = &rest[len..];
    }
    if let Some(count) = newlines {
        pieces.push(Piece::Space(count));
    }
    Some(pieces)
}

/// Re-emits the comments of a gap with canonical whitespace: line breaks stay where they were
/// (runs of blank lines collapse to one), lines are re-indented, and within a line the gap
/// becomes `lead`, or single spaces around comments.
fn layout(raw: &str, gap: Gap) -> Laid {
    let Some(pieces) = lex_trivia(raw) else {
        // Not whitespace and comments: never rewrite what is not understood.
        return Laid {
            text: raw.to_owned(),
            line_indent: None,
            breaks_run: true,
            has_comment: true,
        };
    };
    let lead = match gap.start {
        Start::LineStart => "",
        Start::After(lead) => lead,
    };
    let mut w = GapWriter {
        out: String::new(),
        at_line_start: matches!(gap.start, Start::LineStart),
        blank: false,
        comments: 0,
        after_line_comment: false,
        breaks_run: false,
        blank_ok: gap.blank_ok,
    };
    for piece in pieces {
        match piece {
            Piece::Space(0) => {}
            Piece::Space(newlines) => w.newlines(newlines),
            Piece::Comment { text, line } => {
                if w.at_line_start {
                    w.start_line(gap.indent);
                    w.breaks_run = true;
                } else {
                    // A comment is always set off from the token before it.
                    w.out.push(' ');
                }
                w.out.push_str(text);
                w.comments += 1;
                w.after_line_comment = line;
            }
        }
    }

    let mut line_indent = None;
    match gap.next {
        Next::Token => {
            if w.after_line_comment && !w.at_line_start {
                w.newlines(1);
            }
            if w.at_line_start {
                w.start_line(gap.indent);
                line_indent = Some(gap.indent);
            } else {
                w.out.push_str(if w.comments > 0 { " " } else { lead });
            }
        }
        Next::Close { indent, inline, own_line } => {
            if !w.at_line_start && (w.after_line_comment || own_line) {
                w.newlines(1);
            }
            if w.at_line_start {
                // No blank line before a closing bracket.
                w.out.push_str(&INDENT.repeat(indent));
                line_indent = Some(indent);
            } else {
                w.out.push_str(inline);
            }
        }
        Next::LineBreak => {}
        Next::Eof => {
            if !w.at_line_start {
                w.out.push('\n');
            }
        }
    }
    Laid { text: w.out, line_indent, breaks_run: w.breaks_run, has_comment: w.comments > 0 }
}

/// The state of [`layout`] while it writes a gap.
struct GapWriter {
    out: String,
    at_line_start: bool,
    /// A blank line was seen and is not written yet.
    blank: bool,
    comments: usize,
    after_line_comment: bool,
    breaks_run: bool,
    blank_ok: bool,
}

impl GapWriter {
    fn newlines(&mut self, count: usize) {
        let mut blanks = count;
        if !self.at_line_start {
            self.out.push('\n');
            blanks -= 1;
            self.at_line_start = true;
            self.after_line_comment = false;
        }
        self.blank |= blanks > 0;
    }

    /// Starts a line holding a comment or a token, after the pending blank line if allowed.
    fn start_line(&mut self, indent: usize) {
        if self.blank && (self.comments > 0 || self.blank_ok) {
            self.out.push('\n');
            self.breaks_run = true;
        }
        self.blank = false;
        self.at_line_start = false;
        self.out.push_str(&INDENT.repeat(indent));
    }
}

#[cfg(test)]
mod tests {
    use super::{FormatError, format_source};

    struct Case {
        name: &'static str,
        input: &'static str,
        expected: &'static str,
    }

    const CASES: &[Case] = &[
        Case {
            name: "representative policy",
            input: r#"breakglass {
  max_duration = "12h"
    plan_signers = [person.ci]
}
person "alice" {
  email = "alice@example.com"   # on-call
  public_key = file("keys/alice.pub")
  identities = {
    local = "alice"
      aws_arn = "arn:aws:iam::123456789012:user/alice"
  }
}
role "prod_admin" {
  risk = "high"
  requesters = [team.oncall]
  resource "local_access" "admin" {
    principal = requester.name
    role = "prod-admin"
  }
}
"#,
            expected: r#"breakglass {
  max_duration = "12h"
  plan_signers = [person.ci]
}
person "alice" {
  email      = "alice@example.com" # on-call
  public_key = file("keys/alice.pub")
  identities = {
    local   = "alice"
    aws_arn = "arn:aws:iam::123456789012:user/alice"
  }
}
role "prod_admin" {
  risk       = "high"
  requesters = [team.oncall]
  resource "local_access" "admin" {
    principal = requester.name
    role      = "prod-admin"
  }
}
"#,
        },
        Case {
            name: "misindented nested blocks and header spacing",
            input: "outer   \"a\"{\n      inner {\n   deep    {\n a = 1\n         }\n   }\n  }\n",
            expected: "outer \"a\" {\n  inner {\n    deep {\n      a = 1\n    }\n  }\n}\n",
        },
        Case {
            name: "equals aligned in a run",
            input: "a = 1\nbbb = 2\ncc    =    \"x\"\n",
            expected: "a   = 1\nbbb = 2\ncc  = \"x\"\n",
        },
        Case {
            name: "blank line breaks a run",
            input: "a = 1\nbbb = 2\n\ncc = 3\nd = 4\n",
            expected: "a   = 1\nbbb = 2\n\ncc = 3\nd  = 4\n",
        },
        Case {
            name: "block breaks a run",
            input: "a = 1\nlong_key = 2\nnested {\nx = 1\n}\nb = 3\nlonger = 4\n",
            expected: "a        = 1\nlong_key = 2\nnested {\n  x = 1\n}\nb      = 3\nlonger = 4\n",
        },
        Case {
            name: "comment line breaks a run",
            input: "a = 1\n# about b\nbbb = 2\ncc = 3\n",
            expected: "a = 1\n# about b\nbbb = 2\ncc  = 3\n",
        },
        Case {
            name: "multi-line value breaks a run",
            input: "a = 1\nlist = [\n1,\n]\nbbb = 2\nc = 3\n",
            expected: "a = 1\nlist = [\n  1,\n]\nbbb = 2\nc   = 3\n",
        },
        Case {
            name: "heredoc value joins the run before it and ends it",
            input: "a = 1\nlong_name = <<EOF\nx\nEOF\nb = 2\ncc = 3\n",
            expected: "a         = 1\nlong_name = <<EOF\nx\nEOF\nb  = 2\ncc = 3\n",
        },
        Case {
            name: "comments of all kinds kept and re-indented",
            input: "# file header\n\n// before block\nrole \"r\" {   # after brace\n# before attribute\nrisk = \"high\"     // end of line\n/* before nested block */\nresource \"x\" \"y\" {\nprincipal = \"p\"    /* trailing block comment */\n}   # after block\n    # before close\n}\n/* file end */",
            expected: "# file header\n\n// before block\nrole \"r\" { # after brace\n  # before attribute\n  risk = \"high\" // end of line\n  /* before nested block */\n  resource \"x\" \"y\" {\n    principal = \"p\" /* trailing block comment */\n  } # after block\n  # before close\n}\n/* file end */\n",
        },
        Case {
            name: "multi-line block comment and inline comment before a key",
            input: "a = 1\n  /* multi\n   line */\nb = 2\nblk {\n/* one */ h = 1\nlonger = 2\n}\n",
            expected: "a = 1\n/* multi\n   line */\nb = 2\nblk {\n  /* one */ h = 1\n  longer = 2\n}\n",
        },
        Case {
            name: "trailing comments aligned in a run",
            input: "x = 1 # one\nlonger_key = \"abc\" # two\nz = 3\n",
            expected: "x          = 1     # one\nlonger_key = \"abc\" # two\nz          = 3\n",
        },
        Case {
            name: "blank lines collapsed, none after { or before }",
            input: "\n\n\na = 1\n\n\n\nb = 2\nblock {\n\n\n  c = 3\n\n\n  d = 4\n\n\n}\n\n\n",
            expected: "a = 1\n\nb = 2\nblock {\n  c = 3\n\n  d = 4\n}\n",
        },
        Case {
            name: "CRLF input",
            input: "a = 1\r\nbb = 2 # c\r\nblock {\r\n  x = [\r\n    1,\r\n  ]\r\n}\r\n",
            expected: "a  = 1\nbb = 2 # c\nblock {\n  x = [\n    1,\n  ]\n}\n",
        },
        Case {
            name: "heredocs kept byte-exact inside a re-indented block",
            input: "outer {\n      text = <<EOF\n  keep trailing   \n\ttab\n    EOF\n      flush = <<-EOT\n        a\n      \n          b\n        EOT\n   after = 1\n}\n",
            expected: "outer {\n  text = <<EOF\n  keep trailing   \n\ttab\n    EOF\n  flush = <<-EOT\n        a\n      \n          b\n        EOT\n  after = 1\n}\n",
        },
        Case { name: "empty file", input: "", expected: "" },
        Case { name: "whitespace-only file", input: "\n\n   \n\t\n", expected: "" },
        Case {
            name: "comment-only file",
            input: "\n\n# just a note   \n\n\n",
            expected: "# just a note\n",
        },
        Case {
            name: "trailing whitespace and missing final newline",
            input: "a = 1   \t\nb {   \n  c = 2   \n}",
            expected: "a = 1\nb {\n  c = 2\n}\n",
        },
        Case {
            name: "one-line and empty blocks",
            input: "a { }\nb {\n}\nc {x=1}\nd \"l\"   {   }\ne { /* why */ }\n",
            expected: "a {}\nb {\n}\nc { x = 1 }\nd \"l\" {}\ne { /* why */ }\n",
        },
        Case {
            name: "collections re-indented and spaced",
            input: "person \"bob\" {\nidentities = {\nlocal = \"bob\"\n        aws_arn = \"arn\"\n}\ngroups = [\n\"a\",\n      \"b\",\n]\nkeys = [ \"k1\" , \"k2\" ]\nlabels = {a=1,b=\"two\"}\nempty = { }\nnone = [ ]\nnoted = {/* later */}\n}\n",
            expected: "person \"bob\" {\n  identities = {\n    local   = \"bob\"\n    aws_arn = \"arn\"\n  }\n  groups = [\n    \"a\",\n    \"b\",\n  ]\n  keys   = [\"k1\", \"k2\"]\n  labels = { a = 1, b = \"two\" }\n  empty  = {}\n  none   = []\n  noted  = { /* later */ }\n}\n",
        },
        Case {
            name: "comments inside collections",
            input: "a = [\n  # first\n  1, # one\n\n\n  2 /* two */,\n  # last\n]\no = {\n# lead\na = 1 # one\nbb = 2\n\n  # before close\n}\n",
            expected: "a = [\n  # first\n  1, # one\n\n  2 /* two */,\n  # last\n]\no = {\n  # lead\n  a  = 1 # one\n  bb = 2\n\n  # before close\n}\n",
        },
        Case {
            name: "function calls, operators and for expressions",
            input: "f = foo( a ,b )\ng = merge(\nlocal.a,\n    local.b, # why\n)\nsum = 1+2*3\ncond = var.x?\"a\":\"b\"\nt = [for x in xs: upper(x) if x != \"\"]\nu = {for k, v in m: k => v}\nidx = local.list[ 0 ].name\nkept = a /* why */ + b\n",
            expected: "f = foo(a, b)\ng = merge(\n  local.a,\n  local.b, # why\n)\nsum  = 1 + 2 * 3\ncond = var.x ? \"a\" : \"b\"\nt    = [for x in xs : upper(x) if x != \"\"]\nu    = { for k, v in m : k => v }\nidx  = local.list[0].name\nkept = a /* why */ + b\n",
        },
        Case {
            name: "nested brackets indent from their opening line",
            input: "c = x ? [\n1\n] : [\n2\n]\nv = foo([\n1,\n], {\na = 1\n})\n",
            expected: "c = x ? [\n  1\n] : [\n  2\n]\nv = foo([\n  1,\n], {\n  a = 1\n})\n",
        },
        Case {
            name: "multi-line for expression and conditional",
            input: "f = [\nfor x in xs :\n    upper(x)\n      if x != \"\"\n]\nc = (\nvar.enabled\n? \"yes\" # y\n: \"no\"\n)\n",
            expected: "f = [\n  for x in xs :\n  upper(x)\n  if x != \"\"\n]\nc = (\n  var.enabled\n  ? \"yes\" # y\n  : \"no\"\n)\n",
        },
        Case {
            name: "string templates left as written",
            input: "s = \"${a  +  b}\"\nt = \"${a /* c */ + b}\"\n",
            expected: "s = \"${a  +  b}\"\nt = \"${a /* c */ + b}\"\n",
        },
    ];

    fn format(input: &str) -> String {
        format_source(input).unwrap_or_else(|err| panic!("{err}\n--- input ---\n{input}"))
    }

    fn body(source: &str) -> hcl::Body {
        hcl::from_str(source).unwrap_or_else(|err| panic!("{err}\n--- source ---\n{source}"))
    }

    /// The comments in `source`, in order, found by a scan that knows just enough HCL for
    /// these cases: quoted strings and heredocs are skipped.
    fn comments(source: &str) -> Vec<String> {
        let source = source.replace("\r\n", "\n");
        let mut found = Vec::new();
        let mut rest = source.as_str();
        while let Some(c) = rest.chars().next() {
            if c == '"' {
                let mut escaped = false;
                let end = rest[1..]
                    .find(|c: char| {
                        let done = c == '"' && !escaped;
                        escaped = c == '\\' && !escaped;
                        done
                    })
                    .map_or(rest.len(), |i| i + 2);
                rest = &rest[end..];
            } else if let Some(heredoc) = rest.strip_prefix("<<") {
                let heredoc = heredoc.trim_start_matches('-');
                let (marker, body) = heredoc.split_once('\n').unwrap_or((heredoc, ""));
                let end = body
                    .split_inclusive('\n')
                    .scan(0, |offset, line| {
                        *offset += line.len();
                        Some((*offset, line.trim() == marker))
                    })
                    .find_map(|(offset, closes)| closes.then_some(offset))
                    .unwrap_or(body.len());
                rest = &body[end..];
            } else if rest.starts_with('#') || rest.starts_with("//") {
                let end = rest.find('\n').unwrap_or(rest.len());
                found.push(rest[..end].trim_end().to_owned());
                rest = &rest[end..];
            } else if rest.starts_with("/*") {
                let end = rest.find("*/").map_or(rest.len(), |i| i + 2);
                let text: Vec<&str> = rest[..end].lines().map(str::trim_end).collect();
                found.push(text.join("\n"));
                rest = &rest[end..];
            } else {
                rest = &rest[c.len_utf8()..];
            }
        }
        found
    }

    #[test]
    fn formats_each_case_canonically() {
        for case in CASES {
            assert_eq!(format(case.input), case.expected, "case: {}", case.name);
        }
    }

    /// Properties every case must have, whatever its input.
    #[test]
    fn every_case_is_idempotent_semantics_preserving_and_keeps_comments() {
        for case in CASES {
            for input in [case.input, case.expected] {
                let once = format(input);
                let twice = format(&once);
                assert_eq!(twice, once, "not idempotent: {}", case.name);
                assert_eq!(body(&once), body(input), "meaning changed: {}", case.name);
                assert_eq!(comments(&once), comments(input), "comments changed: {}", case.name);
                assert!(
                    once.is_empty() || (once.ends_with('\n') && !once.ends_with("\n\n")),
                    "file end: {}",
                    case.name
                );
                assert!(!once.contains('\r') || case.input.contains("<<"), "CR: {}", case.name);
            }
        }
    }

    /// Disturbing only whitespace outside heredocs and block comments formats back to the same.
    #[test]
    fn whitespace_perturbations_format_back_to_canonical() {
        for case in CASES {
            if case.expected.contains("<<") || case.expected.contains("/*") {
                continue;
            }
            let perturbations = [
                case.expected.replace('\n', "\r\n"),
                case.expected.replace('\n', " \t\n"),
                case.expected
                    .lines()
                    .enumerate()
                    .map(|(i, line)| format!("{}{line}\n", " ".repeat(i % 5)))
                    .collect(),
                case.expected
                    .lines()
                    .enumerate()
                    .map(|(i, line)| format!("{}{line}\n", "\t".repeat(i % 2)))
                    .collect(),
            ];
            for input in perturbations {
                assert_eq!(format(&input), case.expected, "case: {}\n{input:?}", case.name);
            }
        }
    }

    /// Comments and line breaks in unusual places; checked only for the properties.
    const AWKWARD: &[&str] = &[
        "block /* a */ \"l\" /* b */ \"m\" /* c */ {\n  k /* d */ = /* e */ 1 /* f */\n}\n",
        "x = foo /* a */ (1)\ny = a /* b */ .b\nz = x[ /* c */ 0 /* d */ ]\n",
        "a = (\n  # lead\n  1 +\n  # mid\n  2\n)\n",
        "c = (\n  var.enabled\n  ? \"yes\" # y\n  : \"no\"\n)\n",
        "f = [\n  for x in xs :\n  # c\n  upper(x)\n  if x != \"\"\n]\n",
        "g = {\n  for k, v in m : k => v... if v != null\n}\n",
        "h = {\n  (var.k) = 1 # expr key\n  \"quoted key\" = 2\n}\n",
        "s = a.*.b\nt = a[*].b\nu = a.0\nv = !x\nw = - 1\nn = -1.5e3\n",
        "e = f(xs...)\ng = f(\n  1,\n  xs...\n)\n",
        "hd = foo(<<EOF\nx\nEOF\n)\nha = [<<A\n1\nA\n, <<B\n2\nB\n]\n",
        "o {\n  m = {\n    text = <<-EOT\n      ${var.x} %{ if y }yes%{ endif }\n    EOT\n    n = 1\n  }\n}\n",
        "t = \"${ {a = 1}.a }\"\nd = \"%{ for x in xs }${x}, %{ endfor }\"\n",
        "a = [\n  [\n    1, [\n      2\n    ]\n  ],\n  { k = [\n  3\n  ] },\n]\n",
        "deep {\n      list = [\n  {\n      a = 1 # one\n        bb = 2 # two\n  },\n      ]\n}\n",
        "a = 1 /* one */ /* two */ # three\n/* x */ /* y */\nb = 2\n",
        "# c1\n# c2\n\n\n# c3\nblk {\n  # only comments\n\n\n  # here\n}\n",
        "blk { # c\n}\nempty {\n  # inside\n}\n",
        "a = 1 // trailing\r\n/* crlf\r\n   block */\r\nb = 2\r\n",
        "a = {\n  k = 1, # after comma\n  j = 2, l = 3\n  m = 4 }\n",
        "x = a ? b : c ? d : e\ny = (a || b) && !c\nz = a == b != c\n",
    ];

    #[test]
    fn awkward_inputs_keep_the_properties() {
        for input in AWKWARD {
            let once = format(input);
            assert_eq!(format(&once), once, "not idempotent:\n{input}\n--- once ---\n{once}");
            assert_eq!(body(&once), body(input), "meaning changed:\n{input}\n---\n{once}");
            assert_eq!(comments(&once), comments(input), "comments:\n{input}\n---\n{once}");
        }
    }

    #[test]
    fn heredoc_in_crlf_file_keeps_its_content_bytes() {
        let input = "outer {\r\n  a = <<EOF\r\n  line one  \r\nEOF\r\n    b = 1\r\n}\r\n";
        let output = format(input);
        assert_eq!(output, "outer {\n  a = <<EOF\n  line one  \r\nEOF\n  b = 1\n}\n");
        assert_eq!(body(&output), body(input));
    }

    #[test]
    fn syntax_error_carries_location_and_message() {
        // (input, line, column): the column points at the offending character.
        let cases = [
            ("block {\n  a = 1\n  b = = 2\n}\n", 3, 7),
            ("a = 1\na = 2\n", 2, 1),
            ("a = 1 b = 2\n", 1, 7),
            ("role \"r\" {\n  requesters = [team.oncall\n}\n", 3, 1),
            ("person \"x\" {\n  email = \n}\n", 2, 11),
            ("a = foo(1,,2)\n", 1, 11),
            ("a = {\n  k = 1\n  k = 2\n}\n", 3, 3),
        ];
        for (input, line, column) in cases {
            let err = format_source(input).expect_err(input);
            assert_eq!((err.line, err.column), (line, column), "{input:?}: {err}");
            let line_start: usize = input.split_inclusive('\n').take(line - 1).map(str::len).sum();
            assert_eq!(err.offset, line_start + column - 1, "{input:?}");
            assert!(!err.message.is_empty());
        }
    }

    #[test]
    fn syntax_error_display_names_line_and_column() {
        let err: FormatError = format_source("a = 1\nb = = 2\n").expect_err("invalid");
        let shown = err.to_string();
        assert!(shown.starts_with("syntax error at line 2, column 5: "), "{shown}");
    }
}
