//! How plans read: text like Terraform's (symbols, colours on a terminal, a summary line) and
//! markdown for pull-request comments. JSON is the plan itself, serialised.

use anstyle::{AnsiColor, Style};
use breakglass_provider::{Attributes, Value};
use std::fmt::Write;

use crate::activation::ActivationKind;
use crate::plan::{Action, Drift, DriftKind, Plan, ResourceChange};

const GREEN: Style = AnsiColor::Green.on_default();
const RED: Style = AnsiColor::Red.on_default();
const YELLOW: Style = AnsiColor::Yellow.on_default();
const BOLD: Style = Style::new().bold();
const DIM: Style = Style::new().dimmed();

fn paint(color: bool, style: Style, text: &str) -> String {
    if color { format!("{style}{text}{style:#}") } else { text.to_owned() }
}

fn action_style(action: Action) -> Style {
    match action {
        Action::Create => GREEN,
        Action::Delete => RED,
        Action::Update => YELLOW,
        Action::Replace => YELLOW,
        Action::NoOp => Style::new(),
    }
}

/// A value as HCL would write it.
pub fn show_value(value: &Value) -> String {
    match value {
        Value::String(text) => format!("{text:?}"),
        Value::Null => "null".to_owned(),
        other => other.to_string(),
    }
}

/// A JSON document held in a string, pretty-printed, if it is one.
fn as_document(value: &Value) -> Option<String> {
    let Value::String(text) = value else { return None };
    let parsed: Value = serde_json::from_str(text).ok()?;
    if !(parsed.is_object() || parsed.is_array()) {
        return None;
    }
    serde_json::to_string_pretty(&parsed).ok()
}

fn block_header(change: &ResourceChange) -> String {
    if change.address.is_baseline() || change.address.is_in_activation() {
        let name = change.address.resource.name.as_str();
        format!("resource \"{}\" \"{name}\"", change.resource_type)
    } else {
        format!("object \"{}\" {:?}", change.resource_type, change.id)
    }
}

fn attribute_lines(out: &mut String, change: &ResourceChange, color: bool) {
    let empty = Attributes::new();
    let before = change.before.as_ref().unwrap_or(&empty);
    let after = change.after.as_ref().unwrap_or(&empty);
    let names: Vec<&str> = match change.action {
        Action::Create => {
            after.iter().filter(|(_, v)| !v.is_null()).map(|(k, _)| k.as_str()).collect()
        }
        Action::Delete => {
            before.iter().filter(|(_, v)| !v.is_null()).map(|(k, _)| k.as_str()).collect()
        }
        _ => change.changed_attributes.iter().map(String::as_str).collect(),
    };
    let width = names.iter().map(|n| n.len()).max().unwrap_or(0);
    for name in &names {
        let (symbol, style) = match change.action {
            Action::Create => ("+", GREEN),
            Action::Delete => ("-", RED),
            _ => ("~", YELLOW),
        };
        let old = before.get(*name).unwrap_or(&Value::Null);
        let new = after.get(*name).unwrap_or(&Value::Null);
        let documents = (as_document(old), as_document(new));
        let line = match (change.action, documents) {
            (Action::Update | Action::Replace, (Some(old_doc), Some(new_doc))) => {
                let mut text = format!("{name:width$} = jsonencode(\n");
                let diff = similar::TextDiff::from_lines(&old_doc, &new_doc);
                for part in diff.iter_all_changes() {
                    let (mark, part_style) = match part.tag() {
                        similar::ChangeTag::Delete => ("-", RED),
                        similar::ChangeTag::Insert => ("+", GREEN),
                        similar::ChangeTag::Equal => (" ", Style::new()),
                    };
                    let _ = write!(
                        text,
                        "        {}",
                        paint(color, part_style, &format!("{mark} {}", part.value()))
                    );
                }
                text.push_str("      )");
                text
            }
            (Action::Create, _) => format!("{name:width$} = {}", show_value(new)),
            (Action::Delete, _) => format!("{name:width$} = {}", show_value(old)),
            _ => format!("{name:width$} = {} -> {}", show_value(old), show_value(new)),
        };
        let _ = writeln!(out, "      {} {line}", paint(color, style, symbol));
    }
    if matches!(change.action, Action::Update | Action::Replace) {
        let hidden = after.len().saturating_sub(names.len());
        if hidden > 0 {
            let _ = writeln!(
                out,
                "        {}",
                paint(color, DIM, &format!("# ({hidden} unchanged attributes hidden)"))
            );
        }
    }
}

fn render_change(out: &mut String, change: &ResourceChange, color: bool) {
    let style = action_style(change.action);
    let _ = writeln!(
        out,
        "  {} will be {}",
        paint(color, BOLD, &format!("# {}", change.address)),
        change.action.past_participle()
    );
    let _ = writeln!(out, "  {}", paint(color, DIM, &format!("# ({})", change.reason)));
    for note in &change.notes {
        let _ = writeln!(out, "  {}", paint(color, DIM, &format!("# {note}")));
    }
    let _ = writeln!(
        out,
        "{} {} {{",
        paint(color, style, &format!("{:>3}", change.action.symbol())),
        block_header(change)
    );
    attribute_lines(out, change, color);
    let _ = writeln!(out, "    }}\n");
}

fn render_drift(out: &mut String, drift: &Drift, color: bool) {
    let what = match &drift.address {
        Some(address) => address.to_string(),
        None => format!("{} {:?}", drift.resource_type, drift.id),
    };
    let verb = match (drift.kind, drift.privileged) {
        (DriftKind::Changed, _) => "has changed".to_owned(),
        (DriftKind::Deleted, _) => "has been deleted".to_owned(),
        (DriftKind::Unmanaged, false) => "exists but nothing in the policy declares it".to_owned(),
        (DriftKind::Unmanaged, true) => {
            "grants PRIVILEGED access that nothing in the policy grants".to_owned()
        }
        (DriftKind::Conflict, _) => conflict_verb(drift),
    };
    let _ = writeln!(out, "  {} {verb}", paint(color, BOLD, &format!("# {what}")));
    match drift.kind {
        // Removed by hand: what the grant had made.
        DriftKind::Conflict if drift.live.is_none() => {
            for (name, value) in drift.recorded.iter().flatten().filter(|(_, v)| !v.is_null()) {
                let _ = writeln!(
                    out,
                    "      {} {name} = {}",
                    paint(color, RED, "-"),
                    show_value(value)
                );
            }
        }
        DriftKind::Changed | DriftKind::Conflict => {
            let empty = Attributes::new();
            let recorded = drift.recorded.as_ref().unwrap_or(&empty);
            let live = drift.live.as_ref().unwrap_or(&empty);
            for (name, value) in recorded {
                let now = live.get(name).unwrap_or(&Value::Null);
                if now != value {
                    let _ = writeln!(
                        out,
                        "      {} {name} = {} -> {}",
                        paint(color, YELLOW, "~"),
                        show_value(value),
                        show_value(now)
                    );
                }
            }
        }
        DriftKind::Unmanaged => {
            for (name, value) in drift.live.iter().flatten().filter(|(_, v)| !v.is_null()) {
                let _ = writeln!(out, "        {name} = {}", show_value(value));
            }
        }
        DriftKind::Deleted => {}
    }
    out.push('\n');
}

/// What a conflict is, as the line about it says.
fn conflict_verb(drift: &Drift) -> String {
    let held = drift.held_by.as_ref();
    let activation = held.map_or_else(String::new, |h| format!(" ({})", h.activation));
    match (held.map(|h| h.kind), &drift.live) {
        (Some(ActivationKind::Role), None) => format!(
            "was removed outside breakglass while a grant held it{activation}: CONFLICT, left \
             removed, not granted again"
        ),
        (Some(ActivationKind::Role), Some(_)) => format!(
            "was changed outside breakglass while a grant held it{activation}: CONFLICT, left as \
             is, not granted again"
        ),
        _ => format!(
            "was changed outside breakglass while an override held it{activation}: CONFLICT, \
             the revert leaves it as is"
        ),
    }
}

/// The summary line: `Plan: 1 to add, 0 to change, 1 to destroy.`
pub fn summary_line(plan: &Plan) -> String {
    let s = &plan.summary;
    let mut line = format!(
        "Plan: {} to add, {} to change, {} to destroy.",
        s.create + s.replace,
        s.update,
        s.delete + s.replace
    );
    if s.drift > 0 {
        let _ = write!(line, " Drift: {} object(s) changed outside breakglass.", s.drift);
    }
    if s.conflicts > 0 {
        let _ = write!(
            line,
            " Conflicts: {} object(s) changed by hand while an activation held them, left as is.",
            s.conflicts
        );
    }
    line
}

/// What a plan with nothing to apply says, by what it found.
fn nothing_to_apply(plan: &Plan) -> String {
    let s = &plan.summary;
    if s.conflicts > 0 {
        format!(
            "No changes to apply. {} conflict(s) above: a person changed what an activation \
             held, and breakglass left it as they set it; review it, and settle it in the \
             policy or on the platform.",
            s.conflicts
        )
    } else if !plan.drift.is_empty() {
        "No changes to apply. The drift above is reported, not put back.".to_owned()
    } else {
        "No changes. Live objects match the policy.".to_owned()
    }
}

/// The plan as text.
pub fn render_text(plan: &Plan, color: bool) -> String {
    let mut out = String::new();
    if plan.refresh.refreshed {
        let _ = writeln!(
            out,
            "Read {} live objects in {} API calls (desired state as of {}).\n",
            plan.refresh.objects, plan.refresh.api_calls, plan.evaluated_at
        );
    } else {
        let _ =
            writeln!(out, "Live objects were not read (--refresh=false): planned against state.\n");
    }
    if !plan.drift.is_empty() {
        let _ = writeln!(
            out,
            "{}\n",
            paint(color, BOLD, "Objects have changed outside of breakglass:")
        );
        for drift in &plan.drift {
            render_drift(&mut out, drift, color);
        }
    }
    let changes: Vec<&ResourceChange> =
        plan.resource_changes.iter().filter(|c| c.action != Action::NoOp).collect();
    if changes.is_empty() {
        let _ = writeln!(out, "{}", paint(color, BOLD, &nothing_to_apply(plan)));
        return out;
    }
    let _ = writeln!(out, "breakglass will perform the following actions:\n");
    for change in changes {
        render_change(&mut out, change, color);
    }
    for activation in &plan.activations {
        let _ = writeln!(
            out,
            "Starts {} {} for {} ({}), until {}: {}",
            activation.kind.as_str(),
            activation.name,
            activation.requester,
            activation.id,
            activation.end,
            activation.justification
        );
    }
    if !plan.activations.is_empty() {
        out.push('\n');
    }
    let _ = writeln!(out, "{}", paint(color, BOLD, &summary_line(plan)));
    out
}

/// How much room a markdown plan may take, and where the whole plan is when it does not fit.
#[derive(Debug, Clone)]
pub struct MarkdownBudget {
    /// The most characters the rendering may have; `None` for no limit. GitHub refuses
    /// comments over 65,536 characters.
    pub max_chars: Option<usize>,
    /// Where a reader finds the whole plan (a job summary, an artifact), named in the note
    /// that says what was left out.
    pub full_plan: Option<String>,
}

impl MarkdownBudget {
    /// GitHub's limit on one pull-request comment, in characters.
    pub const GITHUB_COMMENT: usize = 65_536;

    /// No limit.
    pub fn unlimited() -> Self {
        Self { max_chars: None, full_plan: None }
    }
}

/// Room kept for the note that says what was left out.
const NOTE_ROOM: usize = 600;

/// The plan as markdown for a pull-request comment: a summary table, then each change in a
/// collapsible section, then drift. When the whole does not fit `budget`, changes and drift are
/// kept in order until the next would not, and a closing note says how many are not shown and
/// where the whole plan is; the summary table always counts everything.
pub fn render_markdown(plan: &Plan, budget: &MarkdownBudget) -> String {
    let mut head = String::new();
    let s = &plan.summary;
    let _ = writeln!(head, "### breakglass plan\n");
    let _ = writeln!(
        head,
        "| | Create | Update | Replace | Delete | Drift |\n|---|---:|---:|---:|---:|---:|"
    );
    let _ = writeln!(
        head,
        "| **objects** | {} | {} | {} | {} | {} |\n",
        s.create, s.update, s.replace, s.delete, s.drift
    );
    let _ = writeln!(head, "**{}**\n", summary_line(plan));
    let _ = writeln!(
        head,
        "Desired state as of `{}`; policy `{}`; state serial {}.\n",
        plan.evaluated_at,
        short(&plan.policy_digest),
        plan.state.serial
    );
    let changes: Vec<String> = plan
        .resource_changes
        .iter()
        .filter(|c| c.action != Action::NoOp)
        .map(|change| {
            let mut body = String::new();
            attribute_lines(&mut body, change, false);
            format!(
                "<details><summary><code>{} {}</code> — {}</summary>\n\n```diff\n{}```\n</details>\n\n",
                change.action.symbol(),
                change.address,
                escape(&change.reason.to_string()),
                body.lines().map(|l| format!("{}\n", l.trim_start())).collect::<String>()
            )
        })
        .collect();
    let drift: Vec<String> = plan
        .drift
        .iter()
        .map(|drift| {
            let what = drift.address.as_ref().map_or_else(
                || format!("{} `{}`", drift.resource_type, drift.id),
                |a| format!("`{a}`"),
            );
            match (drift.kind, &drift.held_by) {
                (DriftKind::Conflict, Some(held)) => format!(
                    "- {what}: Conflict — changed by hand while `{}` held it; left as is\n",
                    held.activation
                ),
                (kind, _) => format!("- {what}: {kind:?}\n"),
            }
        })
        .collect();
    const DRIFT_HEADING: &str = "#### Drift (changed outside breakglass)\n\n";

    let length = |text: &str| text.chars().count();
    let whole = length(&head)
        + changes.iter().map(|c| length(c)).sum::<usize>()
        + if drift.is_empty() { 0 } else { length(DRIFT_HEADING) }
        + drift.iter().map(|d| length(d)).sum::<usize>();
    let room = match budget.max_chars {
        Some(max) if whole > max => max.saturating_sub(NOTE_ROOM),
        _ => usize::MAX,
    };

    let mut out = head;
    let mut used = length(&out);
    let shown_changes = take_while_room(&changes, &mut used, room);
    for change in &changes[..shown_changes] {
        out.push_str(change);
    }
    let mut shown_drift = 0;
    if !drift.is_empty() && shown_changes == changes.len() && used + length(DRIFT_HEADING) <= room {
        used += length(DRIFT_HEADING);
        out.push_str(DRIFT_HEADING);
        shown_drift = take_while_room(&drift, &mut used, room);
        for line in &drift[..shown_drift] {
            out.push_str(line);
        }
    }
    let hidden_changes = changes.len() - shown_changes;
    let hidden_drift = drift.len() - shown_drift;
    if hidden_changes + hidden_drift > 0 {
        let mut hidden = Vec::new();
        if hidden_changes > 0 {
            hidden.push(format!("{hidden_changes} of {} changes", changes.len()));
        }
        if hidden_drift > 0 {
            hidden.push(format!("{hidden_drift} of {} drifted objects", drift.len()));
        }
        let limit = budget.max_chars.unwrap_or_default();
        let whole_plan = budget.full_plan.as_deref().map_or_else(
            || "run `breakglass show PLAN` on the saved plan".to_owned(),
            |place| format!("see {place}"),
        );
        if shown_drift > 0 {
            out.push('\n');
        }
        let _ = writeln!(
            out,
            "> [!NOTE]\n> **{} not shown**: this comment is kept under {limit} characters. \
             For the whole plan, {whole_plan}.",
            hidden.join(" and ")
        );
    }
    out
}

/// How many of `sections` fit, in order, in what is left of `room`; adds their length to `used`.
fn take_while_room(sections: &[String], used: &mut usize, room: usize) -> usize {
    let mut taken = 0;
    for section in sections {
        let length = section.chars().count();
        if *used + length > room {
            break;
        }
        *used += length;
        taken += 1;
    }
    taken
}

fn short(digest: &str) -> String {
    digest
        .strip_prefix("sha256:")
        .map_or_else(|| digest.to_owned(), |hex| format!("sha256:{}", &hex[..hex.len().min(12)]))
}

fn escape(text: &str) -> String {
    text.replace('<', "&lt;").replace('>', "&gt;")
}
