//! `breakglass show`: render a saved plan, and say who signed it.

use clap::Args;
use std::path::PathBuf;

use super::context::load_policy;
use super::exit::ExitStatus;
use super::output::Output;
use super::plan::{Format, MarkdownArgs, exit_status, print_plan};
use crate::sign::{PLAN_PAYLOAD_TYPE, read_plan_file};

/// Arguments of `show`.
#[derive(Debug, Args)]
#[command(
    about = "Show a saved plan and who signed it",
    long_about = "Renders a saved plan file and checks its signature against the policy's \
                  trusted plan signers. Nothing is contacted and nothing is changed.",
    after_help = "Examples:\n  breakglass show plan.json\n  breakglass show plan.json --json\n  \
                  breakglass show plan.json --format markdown --detailed-exitcode > comment.md"
)]
pub struct ShowArgs {
    /// The plan file.
    #[arg(value_name = "FILE")]
    pub file: PathBuf,

    /// Print the plan as JSON.
    #[arg(long)]
    pub json: bool,

    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,

    /// Exit 0 when the plan has no changes, 2 when it has, 4 when it reports only drift (as
    /// `plan --detailed-exitcode` did when the plan was made).
    #[arg(long)]
    pub detailed_exitcode: bool,

    #[command(flatten)]
    pub markdown: MarkdownArgs,
}

/// Runs `show`.
pub fn run(args: &ShowArgs, output: Output) -> anyhow::Result<ExitStatus> {
    let signed = read_plan_file(&args.file)?;
    let plan = signed.plan()?;
    let format = if args.json { Format::Json } else { args.format };
    print_plan(&plan, format, &args.markdown.budget(), output)?;
    let trust = if signed.envelope.signatures.is_empty() {
        "unsigned (saved for review with --no-sign; apply refuses it)".to_owned()
    } else {
        match load_policy(output) {
            Ok(policy) => {
                let trusted = super::apply::trusted_signers(&policy);
                match signed
                    .envelope
                    .verify(PLAN_PAYLOAD_TYPE, trusted.iter().map(|(n, k)| (*n, *k)))
                {
                    Ok((signer, _)) => format!("signed by {signer}, a trusted plan signer"),
                    Err(error) => format!("NOT trusted: {error}"),
                }
            }
            Err(_) => "signature not checked: the policy here could not be loaded".to_owned(),
        }
    };
    eprintln!("Plan {}: {trust}; expires {}.", signed.digest, plan.expires_at);
    Ok(exit_status(&plan, args.detailed_exitcode))
}
