//! `breakglass validate`: check the policy, report every problem.

use super::output::{out, outln};
use clap::Args;

use super::exit::ExitStatus;
use super::output::Output;
use crate::diagnostics::{render_json, render_text};
use crate::{clock, policy, providers};

/// Arguments of `validate`.
#[derive(Debug, Args)]
#[command(
    about = "Check the policy for errors, reporting every problem with file:line:column",
    long_about = "Loads every *.hcl file in the policy directory and checks syntax, block and \
                  attribute names, types, references between blocks, durations and times, \
                  quorums, keys and provider schemas. Every problem is reported, not only the \
                  first, each with what is wrong and what would be right. Nothing is contacted \
                  and nothing is changed.",
    after_help = "Examples:\n  breakglass validate\n  breakglass -C examples/quickstart validate --json"
)]
pub struct ValidateArgs {
    /// Print the result as JSON: {format_version, valid, error_count, warning_count,
    /// diagnostics[]}, the shape of `terraform validate -json`.
    #[arg(long)]
    pub json: bool,
}

/// Runs `validate` in the current directory.
pub fn run(args: &ValidateArgs, output: Output) -> anyhow::Result<ExitStatus> {
    let loaded = policy::load(
        &super::context::policy_dir(),
        &providers::schemas(),
        clock::now(),
        policy::Strictness::Review,
    );
    let diagnostics = &loaded.diagnostics;
    if args.json {
        outln!("{}", serde_json::to_string_pretty(&render_json(diagnostics))?)?;
    } else {
        out!("{}", render_text(diagnostics, &loaded.sources, output.color))?;
        outln!("{}", summary(diagnostics.error_count(), diagnostics.warning_count()))?;
    }
    Ok(if diagnostics.has_errors() { ExitStatus::Failure } else { ExitStatus::Success })
}

fn summary(errors: usize, warnings: usize) -> String {
    let plural = |n: usize, word: &str| format!("{n} {word}{}", if n == 1 { "" } else { "s" });
    match (errors, warnings) {
        (0, 0) => "Success! The policy is valid.".to_owned(),
        (0, w) => format!("The policy is valid, with {}.", plural(w, "warning")),
        (e, 0) => format!("The policy is invalid: {}.", plural(e, "error")),
        (e, w) => {
            format!("The policy is invalid: {} and {}.", plural(e, "error"), plural(w, "warning"))
        }
    }
}
