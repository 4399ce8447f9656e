//! `breakglass audit verify|head|report|export`: prove the log is intact, record its head,
//! write the post-event audit, and feed a SIEM.

mod render;
mod sections;

use anyhow::Context as _;
use clap::{Args, Subcommand, ValueEnum};
use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;

use super::context::{load_policy, open_store, parse_at};
use super::exit::ExitStatus;
use super::output::{Output, errln, outln};
use crate::audit::ocsf::event_to_ocsf;
use crate::audit::read;
use crate::audit::report::{ActivationReport, ReportOptions};
use crate::audit::{AuditError, AuditLog, Stamped, Verified};
use crate::state::{EventFilter, Scope, StateStore};
use sections::SectionStore;

/// Arguments of `audit`.
#[derive(Debug, Args)]
#[command(
    about = "Verify the tamper-evident audit log, print its head, report on activations, export",
    long_about = "The audit log lives with the state (in .breakglass/state.db, or in the \
                  PostgreSQL state database, shared by every executor): one JSON event each, in \
                  order, each carrying the sha256 of the one before it, recorded in the same \
                  transaction as the state change it describes. `verify` recomputes the chain \
                  and names the first event that does not fit; `head` prints the hash of the \
                  last one, to record in a CI log or a ticket and pass later as `verify \
                  --anchor`, which also catches events removed from the end. `report` is the \
                  post-event audit of each activation; `export` writes the events for a SIEM. \
                  All of them read the log as a stream, in constant memory.",
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
        /// Verify this JSONL file (one event a line, as earlier versions kept the log) instead
        /// of the policy's log (no policy needed).
        #[arg(long, value_name = "FILE")]
        log: Option<PathBuf>,
    },
    /// Print the hash of the last event (after verifying the chain).
    #[command(after_help = "Exit codes: 0 printed; 1 the chain is broken, so there is no \
                            trustworthy head.\n\n\
                            Examples:\n  breakglass audit head >> ci-audit-heads.txt\n  \
                            breakglass audit head --json")]
    Head {
        /// Read this JSONL file instead of the policy's log (no policy needed).
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
        /// Only activations requested before TIME (RFC 3339, or -1d from now).
        #[arg(long, value_name = "TIME", value_parser = parse_at, allow_hyphen_values = true)]
        until: Option<jiff::Timestamp>,
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
        /// Only events before TIME (RFC 3339, or -1d from now).
        #[arg(long, value_name = "TIME", value_parser = parse_at, allow_hyphen_values = true)]
        until: Option<jiff::Timestamp>,
        /// Only events about this activation.
        #[arg(long, value_name = "ID")]
        activation: Option<String>,
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

/// The log to read: `--log FILE`, or the one kept with the policy's state.
enum Source {
    File(AuditLog, String),
    Store(Arc<dyn StateStore>, String),
}

fn open_log(file: Option<&PathBuf>, output: Output) -> anyhow::Result<Source> {
    match file {
        Some(file) => Ok(Source::File(AuditLog::new(file), file.display().to_string())),
        None => {
            let policy = load_policy(output)?;
            let store = open_store(&policy)?;
            let name = store.describe();
            Ok(Source::Store(store, name))
        }
    }
}

impl Source {
    async fn verify(&self, anchor: Option<&str>) -> Result<Verified, AuditError> {
        match self {
            Source::File(log, _) => log.verify(anchor),
            Source::Store(store, name) => read::verify(store.as_ref(), anchor, true)
                .await?
                .map_err(|error| AuditError::Broken {
                    path: name.into(),
                    line: usize::try_from(error.line).unwrap_or(usize::MAX),
                    problem: error.problem,
                }),
        }
    }

    fn name(&self) -> &str {
        match self {
            Source::File(_, name) | Source::Store(_, name) => name,
        }
    }
}

/// Runs `audit`.
pub async fn run(args: &AuditArgs, output: Output) -> anyhow::Result<ExitStatus> {
    match &args.command {
        AuditCommand::Verify { anchor, json, log } => {
            let source = open_log(log.as_ref(), output)?;
            verify(&source, anchor.as_deref(), *json).await
        }
        AuditCommand::Head { log, json } => {
            let source = open_log(log.as_ref(), output)?;
            let name = source.name();
            match source.verify(None).await {
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
        AuditCommand::Report { since, until, activation, format } => {
            report(*since, *until, activation.clone(), *format, output).await
        }
        AuditCommand::Export { format, since, until, activation } => {
            let filter = EventFilter {
                since: *since,
                until: *until,
                activation: activation.clone(),
                ..EventFilter::default()
            };
            export(*format, filter, output).await
        }
    }
}

async fn verify(source: &Source, anchor: Option<&str>, json: bool) -> anyhow::Result<ExitStatus> {
    let path = source.name();
    match source.verify(anchor).await {
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
    until: Option<jiff::Timestamp>,
    activation: Option<String>,
    format: ReportFormat,
    output: Output,
) -> anyhow::Result<ExitStatus> {
    let policy = load_policy(output)?;
    let store = open_store(&policy)?;
    if let Some(id) = &activation {
        let known = store
            .read_scope(&Scope { activations: [id.clone()].into(), ..Scope::default() })
            .await?
            .activations
            .contains_key(id)
            || !store
                .event_activations(&EventFilter {
                    activation: Some(id.clone()),
                    ..EventFilter::default()
                })
                .await?
                .is_empty();
        if !known {
            anyhow::bail!(
                "there is no activation {id} in the state or the audit log; `breakglass status \
                 --all` lists them"
            );
        }
    }
    let options = ReportOptions { since, until, activation, now: crate::clock::now() };
    // Each activation's section is rendered as soon as it is built; the report is written
    // around them in its order once every activation is known.
    let mut store_sections = SectionStore::new();
    let mut rendered = Vec::new();
    let mut sink = |activation: &ActivationReport| {
        rendered.clear();
        render::section(format, activation, &mut rendered);
        store_sections.push(&rendered);
    };
    let report = read::report(&store, Some(&policy), &options, &mut sink).await?;
    let mut sections =
        store_sections.finish().context("cannot keep the report's sections in a temporary file")?;
    let verified = report.log.verified;
    let mut out = std::io::BufWriter::with_capacity(1 << 16, super::output::Stdout);
    render::write(format, &report, &mut |n, out| sections.copy(n, out), &mut out)?;
    if format == ReportFormat::Json {
        writeln!(out)?;
    }
    out.flush()?;
    if !verified {
        errln!("error: the audit log does NOT verify; run `breakglass audit verify` for details");
        return Ok(ExitStatus::Failure);
    }
    Ok(ExitStatus::Success)
}

async fn export(
    format: ExportFormat,
    filter: EventFilter,
    output: Output,
) -> anyhow::Result<ExitStatus> {
    let policy = load_policy(output)?;
    let store = open_store(&policy)?;
    let context = read::export_context(store.as_ref()).await?;
    let mut out = std::io::BufWriter::with_capacity(1 << 16, super::output::Stdout);
    let mut failed: Option<std::io::Error> = None;
    store
        .scan_events(&filter, &mut |event| {
            let Ok(parsed) = serde_json::from_str::<crate::audit::Event>(&event.line) else {
                errln!(
                    "warning: event {} of the audit log is not an event; it is left out",
                    event.seq
                );
                return true;
            };
            let stamped = Stamped { event: parsed, hash: event.hash };
            let line = match format {
                ExportFormat::Ocsf => serde_json::to_string(&event_to_ocsf(&stamped, &context)),
                ExportFormat::Json => serde_json::to_string(&stamped),
            };
            match line.map_err(std::io::Error::other).and_then(|line| writeln!(out, "{line}")) {
                Ok(()) => true,
                Err(error) => {
                    failed = Some(error);
                    false
                }
            }
        })
        .await?;
    if let Some(error) = failed {
        return Err(error).context("cannot write the export");
    }
    out.flush().context("cannot write the export")?;
    if let Err(error) = read::verify(store.as_ref(), None, false).await? {
        errln!(
            "error: the audit log does NOT verify (event {}: {}); what was exported from that \
             event on may have been tampered with",
            error.line,
            error.problem
        );
        return Ok(ExitStatus::Failure);
    }
    Ok(ExitStatus::Success)
}
