//! Checks across blocks: references resolve, numbers add up, time windows make sense, and
//! legal-but-suspicious choices are warned about.

use jiff::Timestamp;

use super::blocks::{AccessRules, GrantTarget, Risk};
use super::load::{ProviderSchemas, Strictness};
use super::model::Policy;
use super::reference::{Reference, ReferenceKind};
use super::spanned::Spanned;
use super::suggest::did_you_mean;
use crate::diagnostics::{Diagnostic, Diagnostics, SourceRange};

/// Runs every cross-block check on `policy` as of `now`.
pub fn validate(
    policy: &Policy,
    _schemas: &ProviderSchemas,
    now: Timestamp,
    strictness: Strictness,
    diagnostics: &mut Diagnostics,
) {
    check_references(policy, diagnostics);
    check_approvers(policy, diagnostics);
    for role in policy.roles.values() {
        let reference = Reference::new(ReferenceKind::Role, role.name.clone());
        check_rules(policy, &reference, &role.rules, &role.range, diagnostics);
    }
    for override_ in policy.overrides.values() {
        let reference = Reference::new(ReferenceKind::Override, override_.name.clone());
        check_rules(policy, &reference, &override_.rules, &override_.range, diagnostics);
    }
    check_grants(policy, now, strictness, diagnostics);
    check_passkeys(policy, diagnostics);
    for rule in policy.authentications.values() {
        if rule.max_mfa_age.is_some() && !rule.mfa {
            diagnostics.push(
                Diagnostic::warning(
                    format!("max_mfa_age of authentication \"{}\" has no effect", rule.name),
                    "it applies only with mfa = true",
                )
                .at(rule.range.clone()),
            );
        }
    }
    for limit in policy.limits.values() {
        if limit.max_activations == 0 || limit.window.as_secs() == 0 {
            diagnostics.push(
                Diagnostic::error(
                    format!("limit \"{}\" can never be met", limit.name),
                    "max_activations and window must be more than zero, as in \
                     max_activations = 3, window = \"30d\"",
                )
                .at(limit.range.clone()),
            );
        }
    }
    let tolerance = policy.settings.clock_skew_tolerance;
    if tolerance > super::Duration::from_mins(10) {
        diagnostics.push(Diagnostic::warning(
            format!("clock_skew_tolerance of {tolerance} is large"),
            "a time a requester or approver signs may be that far ahead of the executor's clock \
             and still be accepted; keep clocks synchronised (NTP) and the tolerance at a few \
             minutes (default 2m)",
        ));
    }
    if policy.settings.plan_signers.is_empty() {
        diagnostics.push(Diagnostic::warning(
            "no trusted plan signers",
            "apply refuses every saved plan until breakglass { plan_signers = [person.NAME] } names \
             whose signatures to trust",
        ));
    }
}

/// Passkeys need the console's origin and relying-party id, and a credential belongs to one
/// person.
fn check_passkeys(policy: &Policy, diagnostics: &mut Diagnostics) {
    let mut owners: std::collections::BTreeMap<&[u8], &str> = std::collections::BTreeMap::new();
    for person in policy.persons.values() {
        for passkey in person.passkeys.values() {
            if policy.settings.console.is_none() {
                diagnostics.push(
                    Diagnostic::error(
                        format!(
                            "passkey \"{}\" of person \"{}\" has no relying party",
                            passkey.name, person.name
                        ),
                        "passkeys are verified against the console's origin and rp_id: declare \
                         breakglass { console { url = \"https://…\" } }",
                    )
                    .at(passkey.range.clone()),
                );
            }
            if let Some(owner) = owners.insert(&passkey.credential_id, &person.name) {
                diagnostics.push(
                    Diagnostic::error(
                        format!(
                            "passkey \"{}\" of person \"{}\" is also {owner}'s",
                            passkey.name, person.name
                        ),
                        "a credential belongs to one person; enrol a passkey for each",
                    )
                    .at(passkey.range.clone()),
                );
            }
        }
    }
    for rule in policy.authentications.values().filter(|r| r.passkey) {
        if policy.settings.console.is_none() {
            diagnostics.push(
                Diagnostic::error(
                    format!(
                        "authentication \"{}\" asks for a passkey but there is no console",
                        rule.name
                    ),
                    "passkey assertions are verified against the console's origin and rp_id: \
                     declare breakglass { console { url = \"https://…\" } }",
                )
                .at(rule.range.clone()),
            );
        }
    }
}

/// Every reference anywhere in the policy, with where it was written.
fn all_references(policy: &Policy) -> Vec<&Spanned<Reference>> {
    let mut references: Vec<&Spanned<Reference>> = Vec::new();
    references.extend(&policy.settings.plan_signers);
    if let Some(console) = &policy.settings.console {
        references.extend(&console.viewers);
        references.extend(&console.requesters);
    }
    for team in policy.teams.values() {
        references.extend(&team.members);
    }
    for group in policy.approvers.values() {
        references.extend(group.members.iter());
        references.extend(&group.auto_approve);
    }
    let rules = policy
        .roles
        .values()
        .map(|role| &role.rules)
        .chain(policy.overrides.values().map(|o| &o.rules));
    for rules in rules {
        if let Some(requesters) = &rules.requesters {
            references.extend(requesters.iter());
        }
        references.extend(&rules.approvers);
        references.extend(&rules.authentication);
    }
    for override_ in policy.overrides.values() {
        references.extend(override_.changes.iter().map(|change| &change.resource));
    }
    for grant in policy.grants.values() {
        references.push(grant.target.reference());
        references.extend(&grant.to);
    }
    for limit in policy.limits.values() {
        references.extend(&limit.roles);
    }
    for resource in policy.resources.values() {
        references.extend(&resource.depends_on);
    }
    references
}

fn check_references(policy: &Policy, diagnostics: &mut Diagnostics) {
    for reference in all_references(policy) {
        if !policy.contains(reference) {
            diagnostics.push(undeclared(policy, reference, reference.range.clone()));
        }
    }
}

/// The error for a reference to a block the policy does not declare, wherever it is written
/// (an attribute, a template, a baseline expression): the same words, with "did you mean" and
/// what is declared, for every kind of block.
pub(super) fn undeclared(policy: &Policy, reference: &Reference, range: SourceRange) -> Diagnostic {
    let kind = &reference.kind;
    let declare = match kind {
        ReferenceKind::Resource(resource_type) => {
            format!("resource \"{resource_type}\" \"{}\" {{ … }}", reference.name)
        }
        other => format!("{} \"{}\" {{ … }}", other.keyword(), reference.name),
    };
    let candidates = policy.names_of(kind);
    let known = if candidates.is_empty() {
        String::new()
    } else {
        format!(" Declared: {}.", candidates.join(", "))
    };
    Diagnostic::error(
        format!("reference to undeclared {} {reference}", kind_word(kind)),
        format!(
            "there is no {declare} in the policy.{}{known}",
            did_you_mean(&reference.name, candidates.iter().copied())
        ),
    )
    .at(range)
}

fn kind_word(kind: &ReferenceKind) -> &str {
    match kind {
        ReferenceKind::Resource(_) => "resource",
        ReferenceKind::Approvers => "approvers",
        other => other.keyword(),
    }
}

fn check_approvers(policy: &Policy, diagnostics: &mut Diagnostics) {
    for group in policy.approvers.values() {
        let members = policy.expand_persons(group.members.iter().map(|m| &m.value));
        let quorum = group.quorum.value as usize;
        if quorum == 0 {
            diagnostics.push(
                Diagnostic::error(
                    format!("approvers \"{}\" has a quorum of 0", group.name),
                    "a quorum of 0 approves everything; to approve without tokens, list the \
                     roles in auto_approve instead",
                )
                .at(group.quorum.range.clone()),
            );
        } else if quorum > members.len() {
            diagnostics.push(
                Diagnostic::error(
                    format!(
                        "approvers \"{}\" needs {quorum} approvals but has {} member(s)",
                        group.name,
                        members.len()
                    ),
                    format!(
                        "the quorum can never be met; lower it to at most {} or add members",
                        members.len()
                    ),
                )
                .at(group.quorum.range.clone()),
            );
        }
        for reference in &group.auto_approve {
            let risk = match reference.kind {
                ReferenceKind::Role => {
                    policy.roles.get(&reference.name).map(|r| r.rules.risk.value)
                }
                ReferenceKind::Override => {
                    policy.overrides.get(&reference.name).map(|o| o.rules.risk.value)
                }
                _ => None,
            };
            if let Some(risk) = risk.filter(|risk| *risk != Risk::Low) {
                diagnostics.push(
                    Diagnostic::error(
                        format!(
                            "approvers \"{}\" auto-approves {}, which is {} risk",
                            group.name,
                            reference.value,
                            risk.as_str()
                        ),
                        "only declared low-risk cases may be approved automatically; set \
                         risk = \"low\" on it or remove it from auto_approve",
                    )
                    .at(reference.range.clone()),
                );
            }
        }
    }
}

fn check_rules(
    policy: &Policy,
    reference: &Reference,
    rules: &AccessRules,
    range: &SourceRange,
    diagnostics: &mut Diagnostics,
) {
    let what = format!("{} \"{}\"", reference.kind.keyword(), reference.name);
    let auto_approved = !policy.auto_approvers_of(reference).is_empty();
    let approvers =
        rules.approvers.as_ref().and_then(|reference| policy.approvers.get(&reference.name));
    if rules.approvers.is_none() && !auto_approved && !rules.unreadable.contains(&"approvers") {
        diagnostics.push(
            Diagnostic::error(
                format!("{what} has no approvers"),
                format!(
                    "set approvers = approvers.NAME, or, for a low-risk case, list {reference} \
                     in an approvers block's auto_approve"
                ),
            )
            .at(range.clone()),
        );
    }
    if let (Some(quorum), Some(group)) = (&rules.quorum, approvers) {
        let members = policy.expand_persons(group.members.iter().map(|m| &m.value)).len();
        if quorum.value == 0 {
            diagnostics.push(
                Diagnostic::error(
                    format!("{what} has a quorum of 0"),
                    "use auto_approve for cases that need no approval",
                )
                .at(quorum.range.clone()),
            );
        } else if quorum.value as usize > members {
            diagnostics.push(
                Diagnostic::error(
                    format!(
                        "{what} needs {} approvals but approvers \"{}\" has {members} member(s)",
                        quorum.value, group.name
                    ),
                    format!("the quorum can never be met; lower it to at most {members}"),
                )
                .at(quorum.range.clone()),
            );
        }
    }
    let global = policy.settings.max_duration;
    let duration_read = !rules.unreadable.contains(&"max_duration");
    if duration_read && rules.max_duration.value > global {
        diagnostics.push(
            Diagnostic::error(
                format!(
                    "max_duration of {what} is {}, above the global maximum of {global}",
                    rules.max_duration.value
                ),
                format!(
                    "lower it to {global} or less, or raise breakglass {{ max_duration }} if \
                     that is really intended"
                ),
            )
            .at(rules.max_duration.range.clone()),
        );
    }
    if duration_read && rules.max_duration.value.as_secs() == 0 {
        diagnostics.push(
            Diagnostic::error(
                format!("max_duration of {what} is zero"),
                "an activation must last some time, as in max_duration = \"1h\"",
            )
            .at(rules.max_duration.range.clone()),
        );
    }
    if let (Some(quorum), None) = (&rules.quorum, &rules.approvers) {
        diagnostics.push(
            Diagnostic::warning(
                format!("quorum of {what} has no effect"),
                "it names no approvers block, so it is only auto-approved; remove quorum or set \
                 approvers = approvers.NAME",
            )
            .at(quorum.range.clone()),
        );
    }
    if let Some(requesters) = &rules.requesters
        && requesters.value.is_empty()
        && !rules.unreadable.contains(&"requesters")
    {
        diagnostics.push(
            Diagnostic::warning(
                format!("nobody may request {what}"),
                "requesters is an empty list; name the persons or teams who may, or remove the block",
            )
            .at(requesters.range.clone()),
        );
    }
    if rules.requesters.is_none() {
        diagnostics.push(
            Diagnostic::warning(
                format!("anyone may request {what}"),
                "it names no requesters, so every person in the policy may request it; set \
                 requesters = [team.NAME] to narrow it",
            )
            .at(range.clone()),
        );
    }
    if let Some(group) = approvers
        && group.allow_self_approval.value
        && rules.risk.value == Risk::High
    {
        diagnostics.push(
            Diagnostic::warning(
                format!(
                    "{what} is high risk but approvers \"{}\" allows self-approval",
                    group.name
                ),
                "a requester who is also an approver could approve their own high-risk \
                     request; set allow_self_approval = false",
            )
            .at(group.allow_self_approval.range.clone()),
        );
    }
}

fn check_grants(
    policy: &Policy,
    now: Timestamp,
    strictness: Strictness,
    diagnostics: &mut Diagnostics,
) {
    for grant in policy.grants.values() {
        let what = format!("grant \"{}\"", grant.name);
        if !grant.unreadable.is_empty() {
            continue; // its times are reported as unreadable; nothing to compare
        }
        let (start, end) = (grant.start.value, grant.end.value);
        if end <= start {
            diagnostics.push(
                Diagnostic::error(
                    format!("{what} ends before it starts"),
                    format!("it starts at {start} and ends at {end}; end must be after start"),
                )
                .at(grant.end.range.clone()),
            );
            continue;
        }
        if end <= now {
            let severity = match strictness {
                Strictness::Review => Diagnostic::error,
                Strictness::Operate => Diagnostic::warning,
            };
            diagnostics.push(
                severity(
                    format!("{what} ended in the past"),
                    format!(
                        "it ended at {end}; remove the block (its record stays in state and the \
                         audit log) or correct the dates"
                    ),
                )
                .at(grant.end.range.clone()),
            );
        }
        let rules = match &grant.target {
            GrantTarget::Role(reference) => policy.roles.get(&reference.name).map(|r| &r.rules),
            GrantTarget::Override(reference) => {
                policy.overrides.get(&reference.name).map(|o| &o.rules)
            }
        };
        let Some(rules) = rules else { continue };
        let length = end.duration_since(start);
        let duration_read = !rules.unreadable.contains(&"max_duration");
        if duration_read && length > rules.max_duration.value.to_signed() {
            diagnostics.push(
                Diagnostic::error(
                    format!("{what} lasts longer than {} allows", grant.target.reference().value),
                    format!(
                        "it lasts {}, and max_duration is {}; shorten it or split it into \
                         reviewed grants",
                        crate::policy::duration::Duration::from_secs(
                            u64::try_from(length.as_secs()).unwrap_or(0)
                        ),
                        rules.max_duration.value
                    ),
                )
                .at(grant.end.range.clone()),
            );
        }
        if let Some(to) = &grant.to {
            let allowed = policy.allowed_requesters(rules);
            if policy.persons.contains_key(&to.name) && !allowed.contains(to.name.as_str()) {
                diagnostics.push(
                    Diagnostic::warning(
                        format!(
                            "{what} goes to {}, who may not request {}",
                            to.value,
                            grant.target.reference().value
                        ),
                        "a reviewed grant may do this, but check that it is meant",
                    )
                    .at(to.range.clone()),
                );
            }
        }
    }
}
