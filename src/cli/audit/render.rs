//! Rendering of `audit report`: text for a terminal, markdown for an incident ticket, JSON for
//! tools. Text and markdown say the same things in the same order: the log's integrity, a
//! summary line per activation, then each activation's story, refusals, use per person and
//! role, limits, and anomalies.
//!
//! Each activation's section is rendered on its own ([`section`]) as soon as its report is
//! built, and the whole report is written around those sections ([`write`]): a report on
//! 60,000 activations never holds them all.

use std::fmt::Write as _;
use std::io;

use super::ReportFormat;
use crate::audit::EventResult;
use crate::audit::report::{
    ActivationReport, ActivationSummary, Approval, ExtensionEntry, Outcome, Report,
};
use crate::policy::Duration;

/// Writes section number `n` (as [`section`] made it) to `out`.
pub type Sections<'a> = dyn FnMut(usize, &mut dyn io::Write) -> io::Result<()> + 'a;

/// Appends one activation's section of the report in `format` to `out`, exactly as the whole
/// report holds it.
pub fn section(format: ReportFormat, activation: &ActivationReport, out: &mut Vec<u8>) {
    match format {
        ReportFormat::Text => out.extend_from_slice(text_section(activation).as_bytes()),
        ReportFormat::Markdown => out.extend_from_slice(markdown_section(activation).as_bytes()),
        // Writing to memory fails only if the model cannot be serialized, which it always can.
        ReportFormat::Json => {
            let _ = nested_json(activation, b"    ", out);
        }
    }
}

/// Writes the whole report in `format`: its head, each activation's section in the report's
/// order (from `sections`), its tail.
pub fn write(
    format: ReportFormat,
    report: &Report,
    sections: &mut Sections<'_>,
    out: &mut dyn io::Write,
) -> io::Result<()> {
    match format {
        ReportFormat::Text => {
            out.write_all(text_head(report).as_bytes())?;
            for activation in &report.activations {
                sections(activation.section, out)?;
            }
            out.write_all(text_tail(report).as_bytes())
        }
        ReportFormat::Markdown => {
            out.write_all(markdown_head(report).as_bytes())?;
            for activation in &report.activations {
                sections(activation.section, out)?;
            }
            out.write_all(markdown_tail(report).as_bytes())
        }
        ReportFormat::Json => json(report, sections, out),
    }
}

/// Writes `value` as pretty JSON nested `indent.len() / 2` levels deep: what
/// `serde_json::to_writer_pretty` writes for it, with every line after the first indented by
/// `indent` more. JSON strings hold no raw line breaks, so every one is between tokens. The
/// value is written to memory first and copied out a line at a time (serde writes token by
/// token, and a writer per token costs more than the whole copy).
fn nested_json<T: serde::Serialize + ?Sized, W: io::Write + ?Sized>(
    value: &T,
    indent: &'static [u8],
    out: &mut W,
) -> io::Result<()> {
    let mut pretty = Vec::with_capacity(1024);
    serde_json::to_writer_pretty(&mut pretty, value).map_err(io::Error::from)?;
    let mut start = 0;
    for end in memchr::memchr_iter(b'\n', &pretty) {
        out.write_all(&pretty[start..=end])?;
        out.write_all(indent)?;
        start = end + 1;
    }
    out.write_all(&pretty[start..])
}

/// Writes `"name": value`, a field of the report's object after the first.
fn json_field<T: serde::Serialize + ?Sized>(
    out: &mut dyn io::Write,
    name: &str,
    value: &T,
) -> io::Result<()> {
    write!(out, ",\n  \"{name}\": ")?;
    nested_json(value, b"  ", out)
}

/// The report as one JSON document, as `serde_json::to_writer_pretty` writes the model: the
/// fields in order, the activations as the array of their sections.
fn json(report: &Report, sections: &mut Sections<'_>, out: &mut dyn io::Write) -> io::Result<()> {
    out.write_all(b"{\n  \"generated_at\": ")?;
    nested_json(&report.generated_at, b"  ", out)?;
    if let Some(since) = &report.since {
        json_field(out, "since", since)?;
    }
    json_field(out, "log", &report.log)?;
    json_field(out, "working_hours", &report.working_hours)?;
    if report.activations.is_empty() {
        out.write_all(b",\n  \"activations\": []")?;
    } else {
        out.write_all(b",\n  \"activations\": [")?;
        for (index, activation) in report.activations.iter().enumerate() {
            out.write_all(if index == 0 { b"\n    " } else { b",\n    " })?;
            sections(activation.section, out)?;
        }
        out.write_all(b"\n  ]")?;
    }
    json_field(out, "refusals", &report.refusals)?;
    json_field(out, "usage", &report.usage)?;
    json_field(out, "limits", &report.limits)?;
    json_field(out, "anomalies", &report.anomalies)?;
    out.write_all(b"\n}")
}

fn duration(seconds: i64) -> String {
    Duration::from_secs(u64::try_from(seconds).unwrap_or(0)).to_string()
}

fn what(kind: &str, name: &str, risk: Option<&str>) -> String {
    format!("{kind} {name}{}", risk.map_or_else(String::new, |r| format!(" ({r} risk)")))
}

fn what_of(activation: &ActivationReport) -> String {
    what(&activation.kind, &activation.name, activation.risk.as_deref())
}

fn what_summary(activation: &ActivationSummary) -> String {
    what(&activation.kind, &activation.name, activation.risk.as_deref())
}

fn status_word(outcome: &Outcome) -> &'static str {
    match outcome {
        Outcome::Live { .. } => "LIVE",
        Outcome::Expired { .. } => "expired",
        Outcome::Revoked { .. } => "revoked",
        Outcome::RevertPending { .. } => "REVERT PENDING",
        Outcome::Applying => "APPLYING",
        Outcome::Refused { .. } => "refused",
        Outcome::NotApplied => "not applied",
    }
}

fn approval_line(approval: &Approval) -> String {
    let verb = if approval.decision == "deny" { "denied" } else { "approved" };
    let mut line = format!("{} {verb} at {}", approval.approver, approval.at);
    if let Some(comment) = &approval.comment {
        let _ = write!(line, ": \"{comment}\"");
    }
    if !approval.counted {
        line.push_str(if approval.decision == "deny" {
            " (the denial stopped the apply)"
        } else {
            " (not counted)"
        });
    }
    line
}

fn approvals(activation: &ActivationReport) -> Vec<String> {
    if activation.auto_approved && activation.approvals.is_empty() {
        return vec!["auto-approved (declared low-risk case)".to_owned()];
    }
    if activation.approvals.is_empty() {
        return vec!["none on record".to_owned()];
    }
    activation.approvals.iter().map(approval_line).collect()
}

/// When the access was granted, and by which executor.
fn granted(activation: &ActivationReport) -> Option<String> {
    let at = activation.activated_at?;
    let by = activation.executor.as_deref().map_or_else(String::new, |e| format!(" by {e}"));
    Some(format!("{at}{by}"))
}

fn extension_line(extension: &ExtensionEntry) -> String {
    format!(
        "at {}: {} → {} ({}; approved by {})",
        extension.at,
        extension.previous_end,
        extension.new_end,
        extension.justification,
        extension.approvers.join(", ")
    )
}

fn window(activation: &ActivationReport) -> String {
    match (activation.start, activation.end) {
        (Some(start), Some(end)) => {
            format!("{start} → {end} ({})", duration(end.duration_since(start).as_secs()))
        }
        (None, Some(end)) => format!("until {end}"),
        _ => "unknown".to_owned(),
    }
}

fn integrity(report: &Report) -> String {
    let log = &report.log;
    if log.verified {
        format!(
            "{}, {} event(s), chain verified, head {}",
            log.path,
            log.lines,
            log.head.as_deref().unwrap_or("")
        )
    } else {
        format!(
            "{}, {} line(s), DOES NOT VERIFY at line {}: {}",
            log.path,
            log.lines,
            log.broken_at.unwrap_or(0),
            log.problem.as_deref().unwrap_or("")
        )
    }
}

fn hours(report: &Report) -> String {
    if report.working_hours.declared {
        report.working_hours.description.clone()
    } else {
        format!(
            "{} (the default; declare breakglass {{ audit {{ working_hours {{ … }} }} }})",
            report.working_hours.description
        )
    }
}

/// The report for a terminal, up to the activations' sections.
fn text_head(report: &Report) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "Break-glass audit report, {}", report.generated_at);
    if let Some(since) = report.since {
        let _ = writeln!(out, "Period:        since {since}");
    }
    let _ = writeln!(out, "Audit log:     {}", integrity(report));
    let _ = writeln!(out, "Working hours: {}", hours(report));
    let _ = writeln!(out, "Activations:   {}", report.activations.len());
    for activation in &report.activations {
        let _ = writeln!(
            out,
            "  {}  {:<14} {} for {}{}",
            activation.id,
            status_word(&activation.outcome),
            what_summary(activation),
            activation.requester,
            match activation.anomalies {
                0 => String::new(),
                n => format!("  [{n} anomal{}]", if n == 1 { "y" } else { "ies" }),
            }
        );
    }
    out
}

/// One activation's story, for a terminal.
fn text_section(activation: &ActivationReport) -> String {
    let mut out = String::new();
    {
        let _ = writeln!(
            out,
            "\n{} {}: {} for {}",
            "=".repeat(3),
            activation.id,
            what_of(activation),
            activation.requester
        );
        let row = |out: &mut String, label: &str, value: &str| {
            let _ = writeln!(out, "  {label:<15}{value}");
        };
        row(&mut out, "Justification", &activation.justification);
        let source = match &activation.plan_digest {
            Some(digest) => format!("{} (request {})", activation.source, digest),
            None => activation.source.clone(),
        };
        row(&mut out, "Source", &source);
        if let Some(requested) = requested(activation) {
            row(&mut out, "Requested", &requested);
        }
        row(&mut out, "Window", &window(activation));
        for (index, line) in approvals(activation).iter().enumerate() {
            row(&mut out, if index == 0 { "Approvals" } else { "" }, line);
        }
        if !activation.authentication.is_empty() {
            row(&mut out, "Authentication", &activation.authentication.join(", "));
        }
        if let Some(granted) = granted(activation) {
            row(&mut out, "Granted", &granted);
        }
        for extension in &activation.extensions {
            row(&mut out, "Extended", &extension_line(extension));
        }
        row(&mut out, "Outcome", &activation.outcome.describe());
        if activation.changes.is_empty() {
            row(&mut out, "Changes", "none");
        } else {
            let _ = writeln!(out, "  Changes:");
            for change in &activation.changes {
                let _ = writeln!(
                    out,
                    "    {}  {} {} on {} ({}){}{}",
                    change.time,
                    change.action,
                    change.address,
                    change.provider,
                    change.id,
                    if change.attributes.is_empty() {
                        String::new()
                    } else {
                        format!(": {}", change.attributes)
                    },
                    match (&change.result, &change.error) {
                        (EventResult::Ok, _) => String::new(),
                        (_, Some(error)) => format!("  FAILED: {error}"),
                        (_, None) => "  FAILED".to_owned(),
                    }
                );
            }
        }
        if activation.anomalies.is_empty() {
            row(&mut out, "Anomalies", "none");
        } else {
            let _ = writeln!(out, "  Anomalies:");
            for anomaly in &activation.anomalies {
                let _ = writeln!(out, "    - {anomaly}");
            }
        }
        let _ = writeln!(out, "  Timeline:");
        for entry in &activation.timeline {
            let _ = writeln!(
                out,
                "    {:>5}  {}  {}",
                format!("#{}", entry.line),
                entry.time,
                entry.summary
            );
        }
    }
    out
}

/// The report for a terminal, after the activations' sections.
fn text_tail(report: &Report) -> String {
    let mut out = String::new();
    if !report.refusals.is_empty() {
        let _ = writeln!(out, "\nRefusals:");
        for refusal in &report.refusals {
            let _ = writeln!(
                out,
                "  {}  {} ({}): {}",
                refusal.time,
                refusal.actor,
                refusal.command.as_deref().unwrap_or("?"),
                refusal.reason
            );
        }
    }
    if !report.usage.is_empty() {
        let _ = writeln!(out, "\nUse per person and role:");
        for usage in &report.usage {
            let _ = writeln!(
                out,
                "  {:<12} {:<28} {} activation(s), {} granted, {} refused",
                usage.person,
                format!("{} {}", usage.kind, usage.name),
                usage.activations,
                duration(usage.granted_seconds),
                usage.refused
            );
        }
    }
    if !report.limits.is_empty() {
        let _ = writeln!(out, "\nLimits (now):");
        for limit in &report.limits {
            let _ = writeln!(
                out,
                "  {:<20} {:<12} {} of {} in {} (beyond: {})",
                limit.limit, limit.whom, limit.used, limit.max, limit.window, limit.action
            );
        }
    }
    let _ = writeln!(out, "\nAnomalies across activations:");
    if report.anomalies.is_empty() {
        let _ = writeln!(out, "  none");
    }
    for anomaly in &report.anomalies {
        let _ = writeln!(out, "  - {anomaly}");
    }
    out
}

/// A table cell: one line, pipes escaped.
fn cell(text: &str) -> String {
    text.replace('|', "\\|").replace(['\n', '\r'], " ")
}

/// The report as markdown, ready to paste into an incident ticket, up to the activations'
/// sections.
fn markdown_head(report: &Report) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "# Break-glass audit report\n");
    let _ = writeln!(out, "- **Generated:** {}", report.generated_at);
    let _ = writeln!(
        out,
        "- **Period:** {}",
        report.since.map_or_else(|| "everything on record".to_owned(), |s| format!("since {s}"))
    );
    let log = &report.log;
    if log.verified {
        let _ = writeln!(
            out,
            "- **Audit log:** `{}`, {} event(s), chain verified, head `{}`",
            log.path,
            log.lines,
            log.head.as_deref().unwrap_or("")
        );
    } else {
        let _ = writeln!(
            out,
            "- **Audit log:** `{}` **DOES NOT VERIFY** at line {}: {}",
            log.path,
            log.broken_at.unwrap_or(0),
            cell(log.problem.as_deref().unwrap_or(""))
        );
    }
    let _ = writeln!(out, "- **Working hours:** {}", hours(report));
    let _ = writeln!(out, "\n## Summary\n");
    if report.activations.is_empty() {
        let _ = writeln!(out, "No activations on record for this period.");
    } else {
        let _ = writeln!(out, "| Activation | What | Requester | Outcome | Anomalies |");
        let _ = writeln!(out, "|---|---|---|---|---|");
        for activation in &report.activations {
            let _ = writeln!(
                out,
                "| `{}` | {} | {} | {} | {} |",
                activation.id,
                cell(&what_summary(activation)),
                cell(&activation.requester),
                status_word(&activation.outcome),
                activation.anomalies
            );
        }
    }
    out
}

/// One activation's story, in markdown.
fn markdown_section(activation: &ActivationReport) -> String {
    let mut out = String::new();
    {
        let _ = writeln!(
            out,
            "\n## `{}`: {} for {}\n",
            activation.id,
            what_of(activation),
            activation.requester
        );
        let _ = writeln!(out, "| | |\n|---|---|");
        let row = |out: &mut String, label: &str, value: &str| {
            let _ = writeln!(out, "| **{label}** | {} |", cell(value));
        };
        row(&mut out, "Requester", &activation.requester);
        row(&mut out, "Justification", &activation.justification);
        let source = match &activation.plan_digest {
            Some(digest) => format!("{} (request `{digest}`)", activation.source),
            None => activation.source.clone(),
        };
        row(&mut out, "Source", &source);
        if let Some(requested) = requested(activation) {
            row(&mut out, "Requested", &requested);
        }
        row(&mut out, "Window", &window(activation));
        row(&mut out, "Approvals", &approvals(activation).join("; "));
        row(
            &mut out,
            "Authentication",
            &if activation.authentication.is_empty() {
                "none on record".to_owned()
            } else {
                activation.authentication.join(", ")
            },
        );
        if let Some(granted) = granted(activation) {
            row(&mut out, "Granted", &granted);
        }
        for extension in &activation.extensions {
            row(&mut out, "Extended", &extension_line(extension));
        }
        row(&mut out, "Outcome", &activation.outcome.describe());
        let _ = writeln!(out, "\n**What changed**\n");
        if activation.changes.is_empty() {
            let _ = writeln!(out, "Nothing was changed on any system.");
        } else {
            let _ = writeln!(out, "| Time | System | Object | Change | Result |");
            let _ = writeln!(out, "|---|---|---|---|---|");
            for change in &activation.changes {
                let result = match (&change.result, &change.error) {
                    (EventResult::Ok, _) => "ok".to_owned(),
                    (_, Some(error)) => format!("**failed**: {error}"),
                    (_, None) => "**failed**".to_owned(),
                };
                let _ = writeln!(
                    out,
                    "| {} | {} | `{}` (id `{}`) | {}{} | {} |",
                    change.time,
                    cell(&change.provider),
                    change.address,
                    cell(&change.id),
                    change.action,
                    if change.attributes.is_empty() {
                        String::new()
                    } else {
                        format!(": {}", cell(&change.attributes))
                    },
                    cell(&result)
                );
            }
        }
        let _ = writeln!(out, "\n**Anomalies**\n");
        if activation.anomalies.is_empty() {
            let _ = writeln!(out, "None.");
        }
        for anomaly in &activation.anomalies {
            let _ = writeln!(out, "- {anomaly}");
        }
        let _ = writeln!(out, "\n**Timeline**\n");
        let _ = writeln!(out, "| Line | Time | Who | Event |");
        let _ = writeln!(out, "|---|---|---|---|");
        for entry in &activation.timeline {
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} |",
                entry.line,
                entry.time,
                cell(&entry.actor),
                cell(&entry.summary)
            );
        }
    }
    out
}

/// The report as markdown, after the activations' sections.
fn markdown_tail(report: &Report) -> String {
    let mut out = String::new();
    if !report.refusals.is_empty() {
        let _ = writeln!(out, "\n## Refusals\n");
        let _ = writeln!(out, "| Time | Who | Command | Reason |");
        let _ = writeln!(out, "|---|---|---|---|");
        for refusal in &report.refusals {
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} |",
                refusal.time,
                cell(&refusal.actor),
                cell(refusal.command.as_deref().unwrap_or("")),
                cell(&refusal.reason)
            );
        }
    }
    let _ = writeln!(out, "\n## Use per person and role\n");
    if report.usage.is_empty() {
        let _ = writeln!(out, "No use on record for this period.");
    } else {
        let _ =
            writeln!(out, "| Person | Role or override | Activations | Time granted | Refused |");
        let _ = writeln!(out, "|---|---|---|---|---|");
        for usage in &report.usage {
            let _ = writeln!(
                out,
                "| {} | {} `{}` | {} | {} | {} |",
                cell(&usage.person),
                usage.kind,
                usage.name,
                usage.activations,
                duration(usage.granted_seconds),
                usage.refused
            );
        }
    }
    if !report.limits.is_empty() {
        let _ = writeln!(out, "\n## Limits (now)\n");
        let _ = writeln!(out, "| Limit | Whom | Used | Allowed | Window | Beyond the limit |");
        let _ = writeln!(out, "|---|---|---|---|---|---|");
        for limit in &report.limits {
            let _ = writeln!(
                out,
                "| `{}` | {} | {} | {} | {} | {} |",
                limit.limit, limit.whom, limit.used, limit.max, limit.window, limit.action
            );
        }
    }
    let _ = writeln!(out, "\n## Anomalies across activations\n");
    if report.anomalies.is_empty() {
        let _ = writeln!(out, "None.");
    }
    for anomaly in &report.anomalies {
        let _ = writeln!(out, "- {anomaly}");
    }
    out
}

/// When it was requested, whose clock says so, and when the executor received it.
fn requested(activation: &ActivationReport) -> Option<String> {
    let at = activation.requested_at?;
    let mut text = at.to_string();
    if activation.requested_at_claimed {
        text.push_str(&format!(" by {}'s clock", activation.requester));
    }
    if let Some(received) = activation.received_at.filter(|received| *received != at) {
        text.push_str(&format!("; received by the executor at {received}"));
    }
    Some(text)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::report::{Hours, Integrity, LimitUse, Refusal, ReportOptions, Usage, build};
    use crate::audit::{Event, Stamped, action};
    use crate::state::State;
    use jiff::Timestamp;
    use serde::Serialize;

    /// The report as one value, as `audit report --format json` wrote it when the renderers
    /// took the whole report: the shape docs/audit.md documents.
    #[derive(Serialize)]
    struct Whole<'a> {
        generated_at: Timestamp,
        #[serde(skip_serializing_if = "Option::is_none")]
        since: Option<Timestamp>,
        log: &'a Integrity,
        working_hours: &'a Hours,
        activations: &'a [ActivationReport],
        refusals: &'a [Refusal],
        usage: &'a [Usage],
        limits: &'a [LimitUse],
        anomalies: &'a [String],
    }

    fn event(
        line: usize,
        time: &str,
        actor: &str,
        name: &str,
        result: EventResult,
    ) -> (usize, Stamped) {
        let mut event = Event::new(actor, name, result);
        event.time = time.parse().unwrap();
        (line, Stamped { event, hash: format!("{line:064}") })
    }

    fn events() -> Vec<(usize, Stamped)> {
        let mut events = Vec::new();
        for (n, (id, who)) in
            [("act_2", "bob"), ("act_1", "alice"), ("act_3", "alice")].iter().enumerate()
        {
            let mut request = event(
                n * 2 + 1,
                &format!("2026-11-28T12:0{}:00Z", 5 - n),
                who,
                action::REQUEST,
                EventResult::Ok,
            );
            request.1.event = request
                .1
                .event
                .activation(*id)
                .plan(format!("sha256:{id}"))
                .reason("INC-\"9\"\nsecond line")
                .details(serde_json::json!({ "kind": "role", "name": "prod_admin" }));
            events.push(request);
            let mut refused = event(
                n * 2 + 2,
                &format!("2026-11-28T12:1{n}:00Z"),
                who,
                action::REFUSAL,
                EventResult::Refused,
            );
            refused.1.event =
                refused.1.event.plan(format!("sha256:{id}")).reason("dave denied the request");
            events.push(refused);
        }
        let mut loose =
            event(7, "2026-11-28T12:20:00Z", "carol", action::REFUSAL, EventResult::Refused);
        loose.1.event = loose
            .1
            .event
            .reason("request x: no")
            .details(serde_json::json!({ "command": "request", "name": "x" }));
        events.push(loose);
        events
    }

    fn json_both_ways(events: &[(usize, Stamped)], since: Option<&str>) -> (String, String) {
        let options = ReportOptions {
            since: since.map(|s| s.parse().unwrap()),
            until: None,
            activation: None,
            now: "2026-12-01T00:00:00Z".parse().unwrap(),
        };
        let integrity = Integrity {
            path: "audit.jsonl".to_owned(),
            lines: events.len(),
            verified: true,
            head: Some("abc".to_owned()),
            broken_at: None,
            problem: None,
        };
        let (report, activations) = build(events, integrity, &State::new(), None, &options);
        let whole = Whole {
            generated_at: report.generated_at,
            since: report.since,
            log: &report.log,
            working_hours: &report.working_hours,
            activations: &activations,
            refusals: &report.refusals,
            usage: &report.usage,
            limits: &report.limits,
            anomalies: &report.anomalies,
        };
        let expected = serde_json::to_string_pretty(&whole).unwrap();
        // Sections made in the order they were built, written in the report's order.
        let mut sections = vec![Vec::new(); report.activations.len()];
        for (summary, activation) in report.activations.iter().zip(&activations) {
            section(ReportFormat::Json, activation, &mut sections[summary.section]);
        }
        let mut written = Vec::new();
        write(
            ReportFormat::Json,
            &report,
            &mut |n, out: &mut dyn io::Write| out.write_all(&sections[n]),
            &mut written,
        )
        .unwrap();
        (expected, String::from_utf8(written).unwrap())
    }

    #[test]
    fn the_json_written_section_by_section_is_the_whole_report_serialized() {
        let events = events();
        for since in [None, Some("2026-11-28T12:11:00Z"), Some("2027-01-01T00:00:00Z")] {
            let (expected, written) = json_both_ways(&events, since);
            assert_eq!(written, expected, "since {since:?}");
        }
        let (expected, written) = json_both_ways(&[], None);
        assert_eq!(written, expected);
        assert!(written.contains("\"activations\": []"), "{written}");
    }
}
