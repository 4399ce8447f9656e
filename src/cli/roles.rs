//! `breakglass roles`: what may be requested, by whom, for how long, approved by whom and how
//! the requester authenticates — read from the policy alone, so a responder can find out at
//! 3 a.m. without reading HCL.

use clap::Args;
use serde::Serialize;
use std::fmt::Write;

use super::context::load_policy;
use super::exit::ExitStatus;
use super::output::{Output, write_stdout};
use crate::policy::blocks::AccessRules;
use crate::policy::{Policy, Reference, ReferenceKind};

/// Arguments of `roles`.
#[derive(Debug, Args)]
#[command(
    about = "List the roles and overrides that can be requested, and their rules",
    long_about = "Lists every role and override of the policy: what it grants or changes, the \
                  longest it may last, who may request it, who approves it and how many, and \
                  what the requester must present. With --as PERSON, only what PERSON may \
                  request, and how they would request it. Reads the policy only.",
    after_help = "Examples:\n  breakglass roles\n  breakglass roles --as alice\n  \
                  breakglass roles --json"
)]
pub struct RolesArgs {
    /// Only what PERSON may request.
    #[arg(long = "as", value_name = "PERSON", env = "BREAKGLASS_AS")]
    pub person: Option<String>,

    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

/// One role or override, as `roles` shows it.
#[derive(Debug, Serialize)]
struct Entry {
    name: String,
    kind: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    description: Option<String>,
    risk: &'static str,
    max_duration: String,
    /// What an activation adds (roles: `TYPE.NAME`) or changes (overrides: `TYPE.NAME: attrs`).
    grants: Vec<String>,
    requesters: Vec<String>,
    approval: Approval,
    #[serde(skip_serializing_if = "Option::is_none")]
    authentication: Option<Authentication>,
}

#[derive(Debug, Serialize)]
struct Approval {
    /// Approvers blocks that approve it automatically, with no token.
    auto_approved_by: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    approvers: Option<String>,
    members: Vec<String>,
    quorum: u32,
    allow_self_approval: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    token_lifetime: Option<String>,
}

#[derive(Debug, Serialize)]
struct Authentication {
    name: String,
    totp: bool,
    mfa: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    max_mfa_age: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    max_token_age: Option<String>,
}

fn entry(
    policy: &Policy,
    reference: &Reference,
    rules: &AccessRules,
    grants: Vec<String>,
) -> Entry {
    let group = rules.approvers.as_ref().and_then(|r| policy.approvers.get(&r.name));
    let approval = Approval {
        auto_approved_by: policy
            .auto_approvers_of(reference)
            .iter()
            .map(|group| group.name.clone())
            .collect(),
        approvers: rules.approvers.as_ref().map(|r| r.name.clone()),
        members: group.map_or_else(Vec::new, |g| {
            policy
                .expand_persons(g.members.iter().map(|m| &m.value))
                .into_iter()
                .map(str::to_owned)
                .collect()
        }),
        quorum: rules
            .quorum
            .as_ref()
            .map(|q| q.value)
            .or(group.map(|g| g.quorum.value))
            .unwrap_or(0),
        allow_self_approval: group.is_some_and(|g| g.allow_self_approval.value),
        token_lifetime: group.map(|g| g.token_lifetime.to_string()),
    };
    let authentication =
        rules.authentication.as_ref().and_then(|r| policy.authentications.get(&r.name)).map(|a| {
            Authentication {
                name: a.name.clone(),
                totp: a.totp,
                mfa: a.mfa,
                max_mfa_age: a.max_mfa_age.map(|d| d.to_string()),
                max_token_age: a.max_token_age.map(|d| d.to_string()),
            }
        });
    Entry {
        name: reference.name.clone(),
        kind: if reference.kind == ReferenceKind::Override { "override" } else { "role" },
        description: rules.description.clone(),
        risk: rules.risk.value.as_str(),
        max_duration: rules.max_duration.value.to_string(),
        grants,
        requesters: policy.allowed_requesters(rules).into_iter().map(str::to_owned).collect(),
        approval,
        authentication,
    }
}

fn entries(policy: &Policy) -> Vec<Entry> {
    let roles = policy.roles.values().map(|role| {
        let grants = role.resources.iter().map(|t| t.address.to_string()).collect();
        entry(policy, &Reference::new(ReferenceKind::Role, &role.name), &role.rules, grants)
    });
    let overrides = policy.overrides.values().map(|override_| {
        let grants = override_
            .changes
            .iter()
            .map(|change| {
                let attributes: Vec<String> = change
                    .set
                    .value
                    .iter()
                    .map(|(name, value)| format!("{name} = {value}"))
                    .collect();
                format!("{}: {}", change.resource.value.name, attributes.join(", "))
            })
            .collect();
        entry(
            policy,
            &Reference::new(ReferenceKind::Override, &override_.name),
            &override_.rules,
            grants,
        )
    });
    roles.chain(overrides).collect()
}

fn describe_approval(approval: &Approval, requester: Option<&str>) -> String {
    if !approval.auto_approved_by.is_empty() {
        return format!(
            "auto-approved (by {}), no token needed",
            approval.auto_approved_by.join(", ")
        );
    }
    let Some(group) = &approval.approvers else {
        return "nobody approves it: it cannot be granted in an emergency".to_owned();
    };
    let mut text = format!("{} of {group} ({})", approval.quorum, approval.members.join(", "));
    if !approval.allow_self_approval {
        match requester.filter(|r| approval.members.iter().any(|m| m == r)) {
            Some(person) => {
                let _ = write!(text, "; {person} cannot approve their own request");
            }
            None if requester.is_none() => text.push_str("; never the requester's own"),
            None => {}
        }
    }
    if let Some(lifetime) = &approval.token_lifetime {
        let _ = write!(text, "; tokens valid {lifetime}");
    }
    text
}

fn describe_authentication(authentication: Option<&Authentication>) -> String {
    let Some(a) = authentication else { return "a signed request".to_owned() };
    let mut factors = vec!["a signed request".to_owned()];
    if a.totp {
        factors.push("a TOTP code at apply time (--totp)".to_owned());
    }
    if a.mfa {
        let age =
            a.max_mfa_age.as_ref().map_or_else(String::new, |age| format!(", at most {age} old"));
        factors.push(format!("MFA on the platform{age}"));
    }
    let mut text = format!("{}: {}", a.name, factors.join(" + "));
    if let Some(age) = &a.max_token_age {
        let _ = write!(text, "; approval tokens at most {age} old");
    }
    text
}

fn render_text(entries: &[Entry], person: Option<&str>, not_yours: &[&Entry]) -> String {
    let mut out = String::new();
    match person {
        Some(person) if entries.is_empty() => {
            let _ = writeln!(out, "{person} may not request any role or override.");
        }
        Some(person) => {
            let _ = writeln!(out, "What {person} may request:\n");
        }
        None if entries.is_empty() => {
            let _ = writeln!(out, "The policy declares no roles or overrides.");
        }
        None => {
            let _ = writeln!(out, "Roles and overrides of this policy:\n");
        }
    }
    for entry in entries {
        let _ = writeln!(
            out,
            "{} ({}, risk {}, at most {})",
            entry.name, entry.kind, entry.risk, entry.max_duration
        );
        if let Some(description) = &entry.description {
            let _ = writeln!(out, "  {description}");
        }
        let verb = if entry.kind == "role" { "grants" } else { "changes" };
        let _ = writeln!(out, "  {verb:<16}{}", entry.grants.join("; "));
        if person.is_none() {
            let _ = writeln!(out, "  {:<16}{}", "requesters", entry.requesters.join(", "));
        }
        let _ = writeln!(out, "  {:<16}{}", "approval", describe_approval(&entry.approval, person));
        let _ = writeln!(
            out,
            "  {:<16}{}",
            "authentication",
            describe_authentication(entry.authentication.as_ref())
        );
        if let Some(person) = person {
            let _ = writeln!(
                out,
                "  {:<16}breakglass request {} --duration {} --justification \"…\" --as {person} \
                 --key KEYFILE --out request.json",
                "request with", entry.name, entry.max_duration
            );
        }
        out.push('\n');
    }
    if !not_yours.is_empty() {
        let names: Vec<String> =
            not_yours.iter().map(|e| format!("{} ({})", e.name, e.requesters.join(", "))).collect();
        let _ =
            writeln!(out, "Not {}'s to request: {}.", person.unwrap_or_default(), names.join("; "));
    }
    out
}

/// Runs `roles`.
pub fn run(args: &RolesArgs, output: Output) -> anyhow::Result<ExitStatus> {
    let policy = load_policy(output)?;
    let person = args.person.as_deref();
    if let Some(person) = person
        && !policy.persons.contains_key(person)
    {
        let known: Vec<&str> = policy.persons.keys().map(String::as_str).collect();
        anyhow::bail!(
            "{person} is not a person in the policy; the persons are: {}",
            known.join(", ")
        );
    }
    let (mine, not_yours): (Vec<Entry>, Vec<Entry>) = entries(&policy)
        .into_iter()
        .partition(|e| person.is_none_or(|p| e.requesters.iter().any(|r| r == p)));
    if args.json {
        let others: Vec<&str> = not_yours.iter().map(|e| e.name.as_str()).collect();
        let document = serde_json::json!({
            "person": person,
            "roles": mine,
            "not_requestable": others,
        });
        write_stdout(format!("{}\n", serde_json::to_string_pretty(&document)?).as_bytes())?;
    } else {
        let not_yours: Vec<&Entry> = not_yours.iter().collect();
        write_stdout(render_text(&mine, person, &not_yours).as_bytes())?;
    }
    Ok(ExitStatus::Success)
}
