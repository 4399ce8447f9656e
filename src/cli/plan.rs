//! `breakglass plan`: what would change, and why.

use super::output::{errln, out, outln};
use anyhow::{Context as _, bail};
use clap::{Args, ValueEnum};
use std::path::PathBuf;

use super::apply::executor;
use super::audit_trail::{Audit, signer_name};
use super::context::{configure_providers, load_policy_and_state, parse_at, progress};
use super::exit::ExitStatus;
use super::output::Output;
use super::plan_view::{self, MarkdownBudget};
use crate::address::Address;
use crate::engine::{PlanOptions, dry_run, make_plan};
use crate::plan::Plan;
use crate::sign::{PrivateKey, sign_plan, unsigned_plan};

/// Output formats of `plan` and `show`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// For people: like Terraform's plan.
    Text,
    /// The versioned JSON contract (schemas/plan.schema.json), for CI.
    Json,
    /// For pull-request comments.
    Markdown,
}

/// Arguments of `plan`.
#[derive(Debug, Args)]
#[command(
    about = "Show what would change on each platform, and why",
    long_about = "Computes desired state (the baseline plus every activation live at the time), \
                  reads the live objects, and shows each change with its reason: baseline, an \
                  activation starting, an activation that expired or was revoked, or drift. \
                  Nothing is changed. With --out, the plan is saved as a signed DSSE envelope \
                  that `apply` accepts if its signer is a trusted plan signer.",
    after_help = "Examples:\n  breakglass plan\n  breakglass plan --out plan.json --sign-key keys/ci.key\n  \
                  breakglass plan --format markdown > comment.md\n  \
                  breakglass plan --at +2h            # what happens in two hours\n  \
                  breakglass plan --detailed-exitcode # 0 no changes, 2 changes, 4 drift only"
)]
pub struct PlanArgs {
    /// Save the signed plan to FILE, for `apply FILE`.
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,

    /// Private key that signs the saved plan.
    #[arg(long, value_name = "FILE", env = "BREAKGLASS_SIGN_KEY")]
    pub sign_key: Option<PathBuf>,

    /// Save the plan unsigned, for review only: `show` renders it, `apply` refuses it. For
    /// pull-request checks, which hold no signing key.
    #[arg(long, requires = "out", conflicts_with = "sign_key")]
    pub no_sign: bool,

    /// Print the plan as JSON (same as --format json).
    #[arg(long)]
    pub json: bool,

    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,

    /// Exit 0 when there are no changes, 2 when there are, 4 when only drift is reported.
    #[arg(long)]
    pub detailed_exitcode: bool,

    /// Plan for another time: RFC 3339 (2026-12-01T15:00:00Z) or an offset (+2h). Shows what
    /// expiry will do; a plan for another time cannot be applied.
    #[arg(long, value_name = "TIME", value_parser = parse_at)]
    pub at: Option<jiff::Timestamp>,

    /// Read live objects (false: plan against state alone).
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set, value_name = "BOOL")]
    pub refresh: bool,

    /// Plan only this address and what it depends on (repeatable).
    #[arg(long, value_name = "ADDRESS")]
    pub target: Vec<Address>,

    /// Provider calls in flight at once (default: the policy's parallelism, 10).
    #[arg(long, value_name = "N")]
    pub parallelism: Option<usize>,

    #[command(flatten)]
    pub markdown: MarkdownArgs,
}

/// How a markdown plan fits a pull-request comment (`plan` and `show`).
#[derive(Debug, Args)]
pub struct MarkdownArgs {
    /// With --format markdown: stay under CHARS characters (GitHub refuses comments over
    /// 65,536); changes that do not fit are left out and a note says how many. 0: no limit.
    #[arg(long, value_name = "CHARS", default_value_t = MarkdownBudget::GITHUB_COMMENT)]
    pub max_chars: usize,

    /// With --format markdown: where the whole plan can be read (a job summary or artifact
    /// URL), named in the note when changes are left out.
    #[arg(long, value_name = "WHERE")]
    pub full_plan: Option<String>,
}

impl MarkdownArgs {
    /// The budget these flags set.
    pub fn budget(&self) -> MarkdownBudget {
        MarkdownBudget {
            max_chars: (self.max_chars > 0).then_some(self.max_chars),
            full_plan: self.full_plan.clone(),
        }
    }
}

/// Runs `plan`.
pub async fn run(args: &PlanArgs, output: Output) -> anyhow::Result<ExitStatus> {
    let format = if args.json { Format::Json } else { args.format };
    // What --out needs is checked before any work, not after the plan is printed.
    let signing = match (&args.out, &args.sign_key, args.no_sign) {
        (None, _, _) | (Some(_), _, true) => None,
        (Some(_), Some(key), false) => Some(PrivateKey::load(key)?),
        (Some(_), None, false) => bail!(
            "saving a plan needs a key to sign it: pass --sign-key FILE or set \
             BREAKGLASS_SIGN_KEY (or --no-sign to save it for review only)"
        ),
    };
    if args.out.is_some() && args.at.is_some() {
        bail!("a plan made with --at shows another time and cannot be applied; drop --out or --at");
    }
    let (policy, store, state) = load_policy_and_state(output).await?;
    let providers = configure_providers(&policy).await?;
    let at = args.at.unwrap_or_else(crate::clock::now);
    let options = PlanOptions {
        at,
        refresh: args.refresh,
        targets: args.target.clone(),
        parallelism: args.parallelism.unwrap_or(policy.settings.parallelism as usize),
        revert_interrupted: false,
        scoped: false,
    };
    let mut planned = make_plan(
        &policy,
        &state,
        &providers,
        &options,
        None,
        progress(output, format != Format::Text),
    )
    .await?;
    if args.refresh {
        // The platform's own checks (a Kubernetes server-side dry run), before anyone applies.
        dry_run(
            &mut planned.plan,
            &planned.desired,
            &planned.live,
            &providers,
            options.parallelism,
        )
        .await?;
    }
    let plan = planned.plan;
    let audit = Audit::in_store(store);
    if args.refresh {
        audit.record_drift(&executor(), &plan.drift).await;
    }
    print_plan(&plan, format, &args.markdown.budget(), output)?;
    if let Some(out) = &args.out {
        match &signing {
            Some(key) => {
                let digest = save_signed(&plan, out, key)?;
                audit
                    .record_plan_signed(
                        &signer_name(&policy, &key.public_key()),
                        &plan,
                        &digest,
                        out,
                    )
                    .await?;
            }
            None => save_unsigned(&plan, out)?,
        }
    }
    Ok(exit_status(&plan, args.detailed_exitcode))
}

/// Prints a plan in `format`.
pub fn print_plan(
    plan: &Plan,
    format: Format,
    budget: &MarkdownBudget,
    output: Output,
) -> anyhow::Result<()> {
    match format {
        Format::Text => out!("{}", plan_view::render_text(plan, output.color))?,
        Format::Json => outln!("{}", serde_json::to_string_pretty(plan)?)?,
        Format::Markdown => out!("{}", plan_view::render_markdown(plan, budget))?,
    }
    Ok(())
}

/// Signs and saves `plan`; returns the envelope's digest.
fn save_signed(plan: &Plan, out: &PathBuf, key: &PrivateKey) -> anyhow::Result<String> {
    let envelope = sign_plan(plan, key);
    fs_err::write(out, envelope.to_json() + "\n")
        .with_context(|| format!("cannot save the plan to {}", out.display()))?;
    errln!(
        "Saved the plan to {}, signed by {}. Apply it with: breakglass apply {}",
        out.display(),
        crate::sign::key_id(&key.public_key()),
        out.display()
    );
    Ok(envelope.digest()?)
}

/// Saves `plan` with no signature, for review: `show` renders it, `apply` refuses it.
fn save_unsigned(plan: &Plan, out: &PathBuf) -> anyhow::Result<()> {
    let envelope = unsigned_plan(plan);
    fs_err::write(out, envelope.to_json() + "\n")
        .with_context(|| format!("cannot save the plan to {}", out.display()))?;
    errln!(
        "Saved the plan to {}, unsigned (for review: `breakglass show {}`; apply refuses it).",
        out.display(),
        out.display()
    );
    Ok(())
}

/// The exit status `--detailed-exitcode` asks for.
pub fn exit_status(plan: &Plan, detailed: bool) -> ExitStatus {
    if !detailed {
        ExitStatus::Success
    } else if plan.has_changes() {
        ExitStatus::Changes
    } else if plan.has_reported_drift() {
        ExitStatus::DriftOnly
    } else {
        ExitStatus::Success
    }
}
