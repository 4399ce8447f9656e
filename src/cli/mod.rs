//! The command line: one file per command, each holding its arguments, its logic and its
//! rendering; exit codes are decided in [`exit`].

use output::errln;
pub mod apply;
pub mod approve;
pub mod audit;
mod audit_trail;
pub mod completions;
mod context;
pub mod drill;
pub mod exit;
pub mod extend;
pub mod fmt;
pub mod keygen;
pub mod man;
pub mod output;
pub mod passkey;
pub mod plan;
mod plan_view;
mod progress;
pub mod reconcile;
pub mod request;
pub mod requests;
pub mod revoke;
pub mod roles;
pub mod serve;
pub mod show;
pub mod state;
pub mod status;
pub mod totp;
pub mod validate;
pub mod watch;

use clap::{Parser, Subcommand};
use std::path::PathBuf;

use exit::{EXIT_CODES_HELP, ExitStatus};
use output::Output;

const ABOUT: &str = "Declarative, signed, time-bounded emergency access";

const LONG_ABOUT: &str = "\
breakglass reconciles emergency (\"break-glass\") access from HCL policy files reviewed in git.
Governance teams declare roles, approvers, authentication rules and overrides; `plan` shows what
would change on each platform; responders request access during an incident, approvers sign
tokens, `apply --emergency` grants it for a bounded time, and it is reverted when it ends.";

/// breakglass
#[derive(Debug, Parser)]
#[command(
    name = "breakglass",
    version = env!("BREAKGLASS_VERSION"),
    about = ABOUT,
    long_about = LONG_ABOUT,
    after_help = EXIT_CODES_HELP,
    propagate_version = true
)]
pub struct Cli {
    /// Run in DIR, the policy directory (default: BREAKGLASS_DIR, else found upwards from here).
    #[arg(short = 'C', global = true, value_name = "DIR")]
    pub directory: Option<PathBuf>,

    /// Never colour output (NO_COLOR is honoured too).
    #[arg(long, global = true)]
    pub no_color: bool,

    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Check the policy for errors.
    Validate(validate::ValidateArgs),
    /// Show what would change, and why.
    Plan(plan::PlanArgs),
    /// Show a saved plan and who signed it.
    Show(show::ShowArgs),
    /// Apply a saved plan, or plan and apply after confirmation.
    Apply(apply::ApplyArgs),
    /// Ask for emergency access to a role or an override.
    Request(request::RequestArgs),
    /// Review an emergency request and sign an approval token.
    Approve(approve::ApproveArgs),
    /// Ask to extend a live activation.
    Extend(extend::ExtendArgs),
    /// List activations: who has what, why, until when.
    Status(status::StatusArgs),
    /// List what can be requested, by whom, for how long, approved by whom.
    Roles(roles::RolesArgs),
    /// List emergency requests: awaiting my approval, mine, all pending.
    Requests(requests::RequestsArgs),
    /// End an activation early.
    Revoke(revoke::RevokeArgs),
    /// Revert what has ended (never grants).
    Reconcile(reconcile::ReconcileArgs),
    /// Revert each activation as it ends, continuously.
    Watch(watch::WatchArgs),
    /// Enrol an authenticator app, or show a current TOTP code.
    Totp(totp::TotpArgs),
    /// Rehearse the emergency procedure, changing nothing.
    Drill(drill::DrillArgs),
    /// Inspect state, or remove a stale lock.
    State(state::StateArgs),
    /// Verify the audit log, print its head, report on activations, export for a SIEM.
    Audit(audit::AuditArgs),
    /// Rewrite policy files in the canonical style.
    Fmt(fmt::FmtArgs),
    /// Make an Ed25519 key pair.
    Keygen(keygen::KeygenArgs),
    /// Serve the web console: live dashboard, approval inbox, passkey approvals.
    Serve(serve::ServeArgs),
    /// Enrol a passkey for a person.
    Passkey(passkey::PasskeyArgs),
    /// Print a shell completion script.
    Completions(completions::CompletionsArgs),
    /// Write manual pages.
    Man(man::ManArgs),
}

/// Parses the command line, runs the command, and returns its exit status. Errors are printed
/// here, once.
pub fn main() -> ExitStatus {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(error) => {
            let _ = error.print();
            // Usage errors exit 1, not clap's 2: 2 means "changes" for plan --detailed-exitcode.
            return if error.use_stderr() { ExitStatus::Failure } else { ExitStatus::Success };
        }
    };
    match run(cli) {
        Ok(status) => status,
        Err(error) => {
            errln!("error: {error:#}");
            ExitStatus::Failure
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<ExitStatus> {
    if let Some(directory) = &cli.directory {
        std::env::set_current_dir(directory).map_err(|error| {
            anyhow::anyhow!("cannot change to directory {}: {error}", directory.display())
        })?;
    }
    context::find_policy_dir(cli.directory.is_some());
    let output = Output::detect(cli.no_color);
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    let result = match &cli.command {
        Command::Validate(args) => validate::run(args, output),
        Command::Plan(args) => runtime.block_on(plan::run(args, output)),
        Command::Show(args) => show::run(args, output),
        Command::Apply(args) => runtime.block_on(apply::run(args, output)),
        Command::State(args) => runtime.block_on(state::run(args, output)),
        Command::Audit(args) => runtime.block_on(audit::run(args, output)),
        Command::Request(args) => runtime.block_on(request::run(args, output)),
        Command::Approve(args) => runtime.block_on(approve::run(args, output)),
        Command::Extend(args) => runtime.block_on(extend::run(args, output)),
        Command::Status(args) => runtime.block_on(status::run(args, output)),
        Command::Roles(args) => roles::run(args, output),
        Command::Requests(args) => runtime.block_on(requests::run(args, output)),
        Command::Revoke(args) => runtime.block_on(revoke::run(args, output)),
        Command::Reconcile(args) => runtime.block_on(reconcile::run(args, output)),
        Command::Watch(args) => runtime.block_on(watch::run(args, output)),
        Command::Drill(args) => runtime.block_on(drill::run(args, output)),
        Command::Totp(args) => totp::run(args, output),
        Command::Fmt(args) => fmt::run(args),
        Command::Keygen(args) => keygen::run(args),
        Command::Serve(args) => runtime.block_on(serve::run(args, output)),
        Command::Passkey(args) => runtime.block_on(passkey::run(args, output)),
        Command::Completions(args) => completions::run(args),
        Command::Man(args) => man::run(args),
    };
    // Refusals (a failed check) have their own exit code, so scripts can tell them from failures.
    match result {
        Err(error)
            if error
                .downcast_ref::<crate::engine::EngineError>()
                .is_some_and(|e| e.is_refusal()) =>
        {
            errln!("error: {error:#}");
            Ok(ExitStatus::Refused)
        }
        other => other,
    }
}
