//! What happens to one object.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::fmt;

/// An action on one object, which knows its symbol (Terraform's `plans.Action`).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    /// Nothing to do.
    NoOp,
    /// `+` create.
    Create,
    /// `~` change in place.
    Update,
    /// `-/+` delete, then create anew.
    Replace,
    /// `-` delete.
    Delete,
}

impl Action {
    /// The symbol plans print before the object.
    pub fn symbol(self) -> &'static str {
        match self {
            Action::NoOp => " ",
            Action::Create => "+",
            Action::Update => "~",
            Action::Replace => "-/+",
            Action::Delete => "-",
        }
    }

    /// The verb, as in "will be created".
    pub fn past_participle(self) -> &'static str {
        match self {
            Action::NoOp => "left unchanged",
            Action::Create => "created",
            Action::Update => "updated in-place",
            Action::Replace => "replaced",
            Action::Delete => "destroyed",
        }
    }

    /// The JSON `actions` list, as Terraform's plan JSON writes it.
    pub fn json_actions(self) -> &'static [&'static str] {
        match self {
            Action::NoOp => &["no-op"],
            Action::Create => &["create"],
            Action::Update => &["update"],
            Action::Replace => &["delete", "create"],
            Action::Delete => &["delete"],
        }
    }

    /// Whether it removes the object (delete, or the first half of replace).
    pub fn deletes(self) -> bool {
        matches!(self, Action::Delete | Action::Replace)
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.json_actions().join("+").as_str())
    }
}
