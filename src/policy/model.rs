//! The whole policy: every block of every `*.hcl` file in the policy directory.

use schemars::JsonSchema;
use serde::{Serialize, Serializer};
use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use super::blocks::{
    Approvers, Authentication, Grant, Limit, Override, Person, ProviderBlock, ResourceDecl, Role,
    Settings, Team,
};
use super::reference::{Reference, ReferenceKind};
use crate::address::ResourceAddress;
use crate::diagnostics::SourceMap;

/// A loaded, validated policy. Serialises to HCL's JSON form (`schemas/policy.schema.json`).
#[derive(Debug, Clone, Serialize, JsonSchema)]
#[schemars(title = "breakglass policy (HCL JSON form)")]
pub struct Policy {
    /// The policy directory.
    #[serde(skip)]
    pub dir: PathBuf,
    /// Every file, for quoting lines in later diagnostics.
    #[serde(skip)]
    pub sources: SourceMap,
    /// sha256 over the files and the decoded policy; plans bind to it.
    #[serde(skip)]
    pub digest: String,
    /// Every block declared, even those too broken to decode, so one mistake in a block does
    /// not also make every reference to it an error.
    #[serde(skip)]
    pub declared: BTreeSet<Reference>,
    /// `breakglass { … }`.
    #[serde(rename = "breakglass")]
    pub settings: Settings,
    /// `provider "NAME" { … }`.
    #[serde(rename = "provider")]
    pub providers: BTreeMap<String, ProviderBlock>,
    /// `person "NAME" { … }`.
    #[serde(rename = "person")]
    pub persons: BTreeMap<String, Person>,
    /// `team "NAME" { … }`.
    #[serde(rename = "team")]
    pub teams: BTreeMap<String, Team>,
    /// `approvers "NAME" { … }`.
    pub approvers: BTreeMap<String, Approvers>,
    /// `authentication "NAME" { … }`.
    #[serde(rename = "authentication")]
    pub authentications: BTreeMap<String, Authentication>,
    /// `resource "TYPE" "NAME" { … }`, by address.
    #[serde(rename = "resource", serialize_with = "serialize_resources")]
    #[schemars(with = "BTreeMap<String, BTreeMap<String, ResourceDecl>>")]
    pub resources: BTreeMap<ResourceAddress, ResourceDecl>,
    /// `role "NAME" { … }`.
    #[serde(rename = "role")]
    pub roles: BTreeMap<String, Role>,
    /// `override "NAME" { … }`.
    #[serde(rename = "override")]
    pub overrides: BTreeMap<String, Override>,
    /// `grant "NAME" { … }`.
    #[serde(rename = "grant")]
    pub grants: BTreeMap<String, Grant>,
    /// `limit "NAME" { … }`.
    #[serde(rename = "limit")]
    pub limits: BTreeMap<String, Limit>,
}

fn serialize_resources<S: Serializer>(
    resources: &BTreeMap<ResourceAddress, ResourceDecl>,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    let mut by_type: BTreeMap<&str, BTreeMap<&str, &ResourceDecl>> = BTreeMap::new();
    for (address, resource) in resources {
        by_type.entry(&address.resource_type).or_default().insert(&address.name, resource);
    }
    by_type.serialize(serializer)
}

impl Policy {
    /// An empty policy in `dir`, filled by `load`.
    pub(crate) fn empty(dir: PathBuf) -> Self {
        Self {
            dir,
            sources: SourceMap::new(),
            digest: String::new(),
            declared: BTreeSet::new(),
            settings: Settings::default(),
            providers: BTreeMap::new(),
            persons: BTreeMap::new(),
            teams: BTreeMap::new(),
            approvers: BTreeMap::new(),
            authentications: BTreeMap::new(),
            resources: BTreeMap::new(),
            roles: BTreeMap::new(),
            overrides: BTreeMap::new(),
            grants: BTreeMap::new(),
            limits: BTreeMap::new(),
        }
    }

    /// Whether a block that `reference` points at is declared.
    pub fn contains(&self, reference: &Reference) -> bool {
        self.declared.contains(reference)
    }

    /// Why `name` is refused as a person: it is not one, and the nearest that is, if any.
    pub fn unknown_person(&self, name: &str) -> String {
        format!(
            "{name} is not a person in the policy.{}",
            super::suggest::did_you_mean(name, self.persons.keys().map(String::as_str))
        )
    }

    /// The names of declared blocks of `kind`, for "did you mean" (blocks with errors of their
    /// own included: they are declared, and named in the suggestions).
    pub fn names_of(&self, kind: &ReferenceKind) -> Vec<&str> {
        self.declared.iter().filter(|r| r.kind == *kind).map(|r| r.name.as_str()).collect()
    }

    /// The persons that a list of person and team references names, each once.
    pub fn expand_persons<'a>(
        &'a self,
        references: impl IntoIterator<Item = &'a Reference>,
    ) -> BTreeSet<&'a str> {
        let mut persons = BTreeSet::new();
        for reference in references {
            match reference.kind {
                // Declared counts, even if the block has errors of its own: those are reported
                // once, at the block, not again at every group it belongs to.
                ReferenceKind::Person if self.contains(reference) => {
                    persons.insert(reference.name.as_str());
                }
                ReferenceKind::Team => {
                    if let Some(team) = self.teams.get(&reference.name) {
                        for member in &team.members {
                            if self.contains(member) {
                                persons.insert(member.name.as_str());
                            }
                        }
                    }
                }
                _ => {}
            }
        }
        persons
    }

    /// The persons who may request a role or override with these rules: its requesters, or
    /// every person when it names none.
    pub fn allowed_requesters<'a>(
        &'a self,
        rules: &'a super::blocks::AccessRules,
    ) -> BTreeSet<&'a str> {
        match &rules.requesters {
            Some(requesters) => self.expand_persons(requesters.iter().map(|r| &r.value)),
            None => self.persons.keys().map(String::as_str).collect(),
        }
    }

    /// The approvers blocks that auto-approve the role or override `reference`.
    pub fn auto_approvers_of(&self, reference: &Reference) -> Vec<&Approvers> {
        self.approvers
            .values()
            .filter(|group| group.auto_approve.iter().any(|r| r.value == *reference))
            .collect()
    }
}
