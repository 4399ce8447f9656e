//! References from one block to another: `team.oncall`, `approvers.leads`, `role.prod_admin`,
//! `local_setting.chatbot_enabled`.

use schemars::JsonSchema;
use serde::{Serialize, Serializer};
use std::fmt;

/// What a reference points at.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ReferenceKind {
    /// `person.NAME`
    Person,
    /// `team.NAME`
    Team,
    /// `approvers.NAME`
    Approvers,
    /// `authentication.NAME`
    Authentication,
    /// `role.NAME`
    Role,
    /// `override.NAME`
    Override,
    /// `grant.NAME`
    Grant,
    /// `limit.NAME`
    Limit,
    /// `TYPE.NAME`, a baseline `resource` block.
    Resource(String),
}

impl ReferenceKind {
    /// Every block kind that can be referred to by its keyword, with the keyword.
    pub const KEYWORDS: [(&'static str, ReferenceKind); 8] = [
        ("person", ReferenceKind::Person),
        ("team", ReferenceKind::Team),
        ("approvers", ReferenceKind::Approvers),
        ("authentication", ReferenceKind::Authentication),
        ("role", ReferenceKind::Role),
        ("override", ReferenceKind::Override),
        ("grant", ReferenceKind::Grant),
        ("limit", ReferenceKind::Limit),
    ];

    /// The kind named by `keyword` (`team`), if it is one of the block keywords.
    pub fn from_keyword(keyword: &str) -> Option<Self> {
        Self::KEYWORDS.iter().find(|(word, _)| *word == keyword).map(|(_, kind)| kind.clone())
    }

    /// The keyword or resource type that starts a reference of this kind.
    pub fn keyword(&self) -> &str {
        match self {
            ReferenceKind::Person => "person",
            ReferenceKind::Team => "team",
            ReferenceKind::Approvers => "approvers",
            ReferenceKind::Authentication => "authentication",
            ReferenceKind::Role => "role",
            ReferenceKind::Override => "override",
            ReferenceKind::Grant => "grant",
            ReferenceKind::Limit => "limit",
            ReferenceKind::Resource(resource_type) => resource_type,
        }
    }

    /// How a sentence names this kind ("a team", "a resource").
    pub fn describe(&self) -> String {
        match self {
            ReferenceKind::Resource(_) => "a resource".to_owned(),
            ReferenceKind::Approvers => "an approvers block".to_owned(),
            ReferenceKind::Authentication => "an authentication rule".to_owned(),
            ReferenceKind::Override => "an override".to_owned(),
            other => format!("a {}", other.keyword()),
        }
    }
}

/// A reference to a named block.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Reference {
    /// What kind of block.
    pub kind: ReferenceKind,
    /// Its name.
    pub name: String,
}

impl Reference {
    /// A reference to the block `name` of `kind`.
    pub fn new(kind: ReferenceKind, name: impl Into<String>) -> Self {
        Self { kind, name: name.into() }
    }
}

impl fmt::Display for Reference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.kind.keyword(), self.name)
    }
}

impl Serialize for Reference {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(&format_args!("${{{self}}}"))
    }
}

impl JsonSchema for Reference {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Reference".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "type": "string",
            "pattern": "^\\$\\{[A-Za-z_][A-Za-z0-9_]*\\.[A-Za-z_][A-Za-z0-9_-]*\\}$",
            "description": "A reference to another block, as HCL's JSON form writes it: \"${team.oncall}\".",
        })
    }
}
