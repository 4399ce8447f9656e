//! `breakglass audit verify|head|report|export`: prove the log is intact, record its head,
//! write the post-event audit, and feed a SIEM.

use super::output::{errln, out, outln};
mod render;

use anyhow::Context as _;
use clap::{Args, Subcommand, ValueEnum};
use std::io::Write;
use std::path::PathBuf;

use super::context::{load_policy, open_store, parse_at};
use super::exit::ExitStatus;
use super::output::Output;
use crate::audit::ocsf::{Context, event_to_ocsf};
use crate::audit::report::{Integrity, ReportOptions, activation_facts, build, digest_index};
use crate::audit::{AuditError, AuditLog, Stamped, verify_lines};

/// Arguments of `audit`.
#[derive(Debug, Args)]
#[command(
    about = "Verify the tamper-evident audit log, print its head, report on activations, export",
    long_about = "The audit log (.breakglass/audit.jsonl by default; breakglass { audit { path } }) \
                  holds one JSON event a line, each carrying the sha256 of the line before it. \
                  `verify` recomputes the chain and names the first line that does not fit; \
                  `head` prints the hash of the last line, to record in a CI log or a ticket and \
                  pass later as `verify --anchor`, which also catches lines removed from the end. \
                  `report` is the post-event audit of each activation; `export` writes the events \
                  for a SIEM.",
    after_help = "Examples:\n  breakglass audit verify\n  HEAD=$(breakglass audit head)\n  \
                  breakglass audit verify --anchor $HEAD\n  \
                  breakglass audit report --since -7d --format markdown > review.md\n  \
                  breakglass audit report --activation act_01JABCDEFGHJKMNPQRSTVWXYZ0\n  \
                  breakglass audit export --format ocsf > events.ocsf.jsonl"
)]
pub struct AuditArgs {
    /// What to do.
    #[command(subcommand)]
    pub command: AuditCommand,
}

/// `audit` subcommands.
#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Recompute the hash chain; report the first broken line (exit 1).
    #[command(
        after_help = "Exit codes: 0 the log verifies; 1 it does not (or cannot be read).\n\n\
                      Examples:\n  breakglass audit verify\n  \
                      breakglass audit verify --anchor 3f9c…(64 hex digits) --json"
    )]
    Verify {
        /// A head recorded earlier (`audit head`): it must still be in the log, so lines
        /// removed from the end are caught too.
        #[arg(long, value_name = "HASH", value_parser = parse_hash)]
        anchor: Option<String>,
        /// Print the result as JSON on stdout.
        #[arg(long)]
        json: bool,
        /// Verify this file instead of the policy's log (no policy needed).
        #[arg(long, value_name = "FILE")]
        log: Option<PathBuf>,
    },
    /// Print the hash of the last line (after verifying the chain).
    #[command(after_help = "Exit codes: 0 printed; 1 the chain is broken, so there is no \
                            trustworthy head.\n\n\
                            Examples:\n  breakglass audit head >> ci-audit-heads.txt\n  \
                            breakglass audit head --json")]
    Head {
        /// Read this file instead of the policy's log (no policy needed).
        #[arg(long, value_name = "FILE")]
        log: Option<PathBuf>,
        /// Print the head as JSON: {path, verified, lines, head}; a broken chain gives
        /// {path, verified: false, line, problem}, as `verify --json` does.
        #[arg(long)]
        json: bool,
    },
    /// The post-event audit of each activation: who, why, approvals, authentication, every
    /// change, how it ended, anomalies; then refusals and use per person and role.
    #[command(
        after_help = "Exit codes: 0 done; 1 the log does not verify (the report is still printed, \
                      with a warning at the top).\n\n\
                      Examples:\n  breakglass audit report\n  \
                      breakglass audit report --since 2026-11-01T00:00:00Z --format markdown\n  \
                      breakglass audit report --activation act_01JABCDEFGHJKMNPQRSTVWXYZ0 --format json"
    )]
    Report {
        /// Only activations with anything on record since TIME (RFC 3339, or -7d from now).
        #[arg(long, value_name = "TIME", value_parser = parse_at, allow_hyphen_values = true)]
        since: Option<jiff::Timestamp>,
        /// Only this activation.
        #[arg(long, value_name = "ID")]
        activation: Option<String>,
        /// Output format.
        #[arg(long, value_enum, default_value_t = ReportFormat::Text)]
        format: ReportFormat,
    },
    /// Write every event as one JSON line: OCSF for a SIEM, or as recorded.
    #[command(
        after_help = "Examples:\n  breakglass audit export --format ocsf > events.ocsf.jsonl\n  \
                      breakglass audit export --format json --since -1d"
    )]
    Export {
        /// `ocsf`: Open Cybersecurity Schema Framework 1.3.0; `json`: each event as recorded,
        /// with its hash.
        #[arg(long, value_enum)]
        format: ExportFormat,
        /// Only events at or after TIME (RFC 3339, or -7d from now).
        #[arg(long, value_name = "TIME", value_parser = parse_at, allow_hyphen_values = true)]
        since: Option<jiff::Timestamp>,
    },
}

/// Formats of `audit report`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ReportFormat {
    /// For people, in a terminal.
    Text,
    /// Ready to paste into an incident ticket.
    Markdown,
    /// The report model, for tools.
    Json,
}

/// Formats of `audit export`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ExportFormat {
    /// Open Cybersecurity Schema Framework 1.3.0 events.
    Ocsf,
    /// Each event as recorded, plus its `hash`.
    Json,
}

fn parse_hash(text: &str) -> Result<String, String> {
    let hash = text.trim().to_ascii_lowercase();
    if hash.len() == 64 && hash.chars().all(|c| c.is_ascii_hexdigit()) {
        Ok(hash)
    } else {
        Err(format!(
            "{text:?} is not a head hash: `breakglass audit head` prints one (64 hex digits)"
        ))
    }
}

/// The log to read, `--log FILE` or the policy's, and how to name it in messages.
fn open_log(file: Option<&PathBuf>, output: Output) -> anyhow::Result<(AuditLog, String)> {
    match file {
        Some(file) => Ok((AuditLog::new(file), file.display().to_string())),
        None => {
            let policy = load_policy(output)?;
            let path = &policy.settings.audit.path;
            Ok((AuditLog::new(policy.dir.join(path)), path.clone()))
        }
    }
}

/// Runs `audit`.
pub async fn run(args: &AuditArgs, output: Output) -> anyhow::Result<ExitStatus> {
    match &args.command {
        AuditCommand::Verify { anchor, json, log } => {
            let (log, name) = open_log(log.as_ref(), output)?;
            verify(&log, &name, anchor.as_deref(), *json)
        }
        AuditCommand::Head { log, json } => {
            let (log, name) = open_log(log.as_ref(), output)?;
            match log.verify(None) {
                Ok(verified) if *json => {
                    let head = serde_json::json!({
                        "path": name,
                        "verified": true,
                        "lines": verified.lines,
                        "head": verified.head,
                    });
                    outln!("{}", serde_json::to_string_pretty(&head)?)?;
                    Ok(ExitStatus::Success)
                }
                Ok(verified) => {
                    outln!("{}", verified.head)?;
                    Ok(ExitStatus::Success)
                }
                Err(AuditError::Broken { line, problem, .. }) if *json => {
                    let broken = serde_json::json!({
                        "path": name,
                        "verified": false,
                        "line": line,
                        "problem": problem,
                    });
                    outln!("{}", serde_json::to_string_pretty(&broken)?)?;
                    errln!("error: the audit log {name} does NOT verify: line {line}: {problem}");
                    Ok(ExitStatus::Failure)
                }
                Err(error @ AuditError::Broken { .. }) => {
                    errln!("error: {error}");
                    errln!("The chain is broken, so it has no trustworthy head.");
                    Ok(ExitStatus::Failure)
                }
                Err(error) => Err(error.into()),
            }
        }
        AuditCommand::Report { since, activation, format } => {
            report(*since, activation.clone(), *format, output).await
        }
        AuditCommand::Export { format, since } => export(*format, *since, output).await,
    }
}

fn verify(
    log: &AuditLog,
    path: &str,
    anchor: Option<&str>,
    json: bool,
) -> anyhow::Result<ExitStatus> {
    match log.verify(anchor) {
        Ok(verified) => {
            if json {
                let mut result = serde_json::json!({
                    "path": path,
                    "verified": true,
                    "lines": verified.lines,
                    "head": verified.head,
                });
                if let (Some(anchor), Some(line)) = (anchor, verified.anchor_line) {
                    result["anchor"] = serde_json::json!({ "hash": anchor, "line": line });
                }
                outln!("{}", serde_json::to_string_pretty(&result)?)?;
            } else {
                outln!(
                    "The audit log {path} verifies: {} event(s), head {}.",
                    verified.lines,
                    verified.head
                )?;
                if let Some(line) = verified.anchor_line {
                    outln!(
                        "The anchor is {}, so nothing recorded up to it was removed.",
                        if line == 0 {
                            "the start of the log".to_owned()
                        } else {
                            format!("line {line}")
                        }
                    )?;
                }
            }
            Ok(ExitStatus::Success)
        }
        Err(AuditError::Broken { line, problem, .. }) => {
            if json {
                outln!(
                    "{}",
                    serde_json::to_string_pretty(&serde_json::json!({
                        "path": path,
                        "verified": false,
                        "line": line,
                        "problem": problem,
                    }))?
                )?;
            }
            errln!("error: the audit log {path} does NOT verify: line {line}: {problem}");
            Ok(ExitStatus::Failure)
        }
        Err(error) => Err(error.into()),
    }
}

async fn report(
    since: Option<jiff::Timestamp>,
    activation: Option<String>,
    format: ReportFormat,
    output: Output,
) -> anyhow::Result<ExitStatus> {
    let policy = load_policy(output)?;
    let log = AuditLog::new(policy.dir.join(&policy.settings.audit.path));
    let state = open_store(&policy)?.read().await?;
    let text = log.read()?;
    let entries = log.entries()?;
    let integrity = match verify_lines(&text, None) {
        Ok(verified) => Integrity {
            path: policy.settings.audit.path.clone(),
            lines: verified.lines,
            verified: true,
            head: Some(verified.head),
            broken_at: None,
            problem: None,
        },
        Err((line, problem)) => Integrity {
            path: policy.settings.audit.path.clone(),
            lines: text.split_terminator('\n').count(),
            verified: false,
            head: None,
            broken_at: Some(line),
            problem: Some(problem),
        },
    };
    let verified = integrity.verified;
    if let Some(id) = &activation
        && !state.activations.contains_key(id)
        && !entries.events.iter().any(|(_, s)| s.event.subject.activation.as_ref() == Some(id))
    {
        anyhow::bail!(
            "there is no activation {id} in the state or the audit log; `breakglass status --all` \
             lists them"
        );
    }
    let options = ReportOptions { since, activation, now: crate::clock::now() };
    let report = build(&entries.events, integrity, &state, Some(&policy), &options);
    let rendered = match format {
        ReportFormat::Text => render::text(&report),
        ReportFormat::Markdown => render::markdown(&report),
        ReportFormat::Json => serde_json::to_string_pretty(&report)? + "\n",
    };
    out!("{rendered}")?;
    if !verified {
        errln!("error: the audit log does NOT verify; run `breakglass audit verify` for details");
        return Ok(ExitStatus::Failure);
    }
    Ok(ExitStatus::Success)
}

async fn export(
    format: ExportFormat,
    since: Option<jiff::Timestamp>,
    output: Output,
) -> anyhow::Result<ExitStatus> {
    let policy = load_policy(output)?;
    let log = AuditLog::new(policy.dir.join(&policy.settings.audit.path));
    let entries = log.entries()?;
    for line in &entries.unreadable {
        errln!("warning: line {line} of the audit log is not an event; it is left out");
    }
    let state = open_store(&policy)?.read().await?;
    let context = Context {
        facts: activation_facts(&entries.events, &state),
        by_digest: digest_index(&entries.events),
    };
    let mut out = std::io::BufWriter::new(super::output::Stdout);
    let wanted = |stamped: &&Stamped| since.is_none_or(|since| stamped.event.time >= since);
    for stamped in entries.events.iter().map(|(_, s)| s).filter(wanted) {
        let line = match format {
            ExportFormat::Ocsf => serde_json::to_string(&event_to_ocsf(stamped, &context))?,
            ExportFormat::Json => serde_json::to_string(stamped)?,
        };
        writeln!(out, "{line}").context("cannot write the export")?;
    }
    out.flush().context("cannot write the export")?;
    if let Err((line, problem)) = verify_lines(&log.read()?, None) {
        errln!(
            "error: the audit log does NOT verify (line {line}: {problem}); what was exported \
             from that line on may have been tampered with"
        );
        return Ok(ExitStatus::Failure);
    }
    Ok(ExitStatus::Success)
}
