//! Privilege keywords and grantees: the fixed tables every GRANT and REVOKE takes its
//! keywords from, so no keyword is ever copied from input.

use breakglass_provider::ProviderError;
use std::fmt;

use crate::sql::Ident;

/// Privileges on a database.
pub const DATABASE: &[&str] = &["CONNECT", "CREATE", "TEMPORARY"];
/// Privileges on a schema.
pub const SCHEMA: &[&str] = &["CREATE", "USAGE"];
/// Privileges on tables (and views, materialized views, foreign tables).
pub const TABLE: &[&str] =
    &["DELETE", "INSERT", "REFERENCES", "SELECT", "TRIGGER", "TRUNCATE", "UPDATE"];
/// Privileges on sequences.
pub const SEQUENCE: &[&str] = &["SELECT", "UPDATE", "USAGE"];
/// Privileges on functions.
pub const FUNCTION: &[&str] = &["EXECUTE"];
/// Privileges on types.
pub const TYPE: &[&str] = &["USAGE"];

/// Canonical privileges: upper case, `TEMP` spelled `TEMPORARY`, `ALL` expanded, sorted,
/// without duplicates; each taken from `allowed`, so what reaches SQL is a fixed keyword.
pub fn canonical(
    given: &[String],
    allowed: &'static [&'static str],
    what: &str,
) -> Result<Vec<&'static str>, ProviderError> {
    let mut privileges = Vec::new();
    for privilege in given {
        let upper = privilege.trim().to_ascii_uppercase();
        let upper = if upper == "TEMP" { "TEMPORARY".to_owned() } else { upper };
        if upper == "ALL" || upper == "ALL PRIVILEGES" {
            privileges.extend_from_slice(allowed);
            continue;
        }
        let keyword = allowed.iter().find(|keyword| **keyword == upper).ok_or_else(|| {
            ProviderError::invalid(format!(
                "postgres: {privilege:?} is not a privilege on {what}; use {} or ALL",
                allowed.join(", ")
            ))
        })?;
        privileges.push(*keyword);
    }
    privileges.sort_unstable();
    privileges.dedup();
    if privileges.is_empty() {
        return Err(ProviderError::invalid(format!(
            "postgres: no privileges listed on {what}; use {} or ALL",
            allowed.join(", ")
        )));
    }
    Ok(privileges)
}

/// Who receives privileges: a role, or every role (`public`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Grantee {
    /// `PUBLIC`.
    Public,
    /// A role.
    Role(Ident),
}

impl Grantee {
    /// `public` (any case) is PUBLIC, which no role can be named.
    pub fn parse(name: &str) -> Result<Self, ProviderError> {
        if name.eq_ignore_ascii_case("public") {
            Ok(Self::Public)
        } else {
            Ok(Self::Role(Ident::new(name, "role")?))
        }
    }

    /// The name as the catalogs report it (`public` for PUBLIC).
    pub fn name(&self) -> &str {
        match self {
            Self::Public => "public",
            Self::Role(ident) => ident.name(),
        }
    }
}

impl fmt::Display for Grantee {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Public => f.write_str("PUBLIC"),
            Self::Role(ident) => ident.fmt(f),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn privileges_are_canonical_and_only_from_the_table() {
        let given = vec!["select".to_owned(), "ALL".to_owned(), " Update ".to_owned()];
        assert_eq!(
            canonical(&given, SEQUENCE, "sequences").unwrap(),
            ["SELECT", "UPDATE", "USAGE"]
        );
        assert_eq!(canonical(&["temp".to_owned()], DATABASE, "a database").unwrap(), ["TEMPORARY"]);
        let error = canonical(&["SELECT; DROP TABLE t".to_owned()], TABLE, "tables").unwrap_err();
        assert!(error.message().contains("is not a privilege on tables"), "{error}");
        assert!(canonical(&[], TABLE, "tables").is_err());
    }

    #[test]
    fn public_is_the_keyword_and_other_names_are_quoted() {
        assert_eq!(Grantee::parse("PUBLIC").unwrap().to_string(), "PUBLIC");
        assert_eq!(Grantee::parse("auditor").unwrap().to_string(), "\"auditor\"");
    }
}
