//! The one place SQL text is made from values.
//!
//! PostgreSQL cannot bind identifiers (role, database, schema, table names) as parameters, nor
//! any value inside utility statements (`CREATE ROLE … VALID UNTIL '…'`, `GRANT … TO …`). So
//! every name goes through [`Ident`], which checks it and double-quotes it the way the server's
//! own `quote_ident` does, and every literal through [`Literal`]. Keywords (privileges, object
//! kinds) are never taken from input: they come from fixed tables after a lookup. Queries
//! that read the catalogs bind their values as parameters; nothing is ever built by pasting
//! user input into SQL.

use breakglass_provider::ProviderError;
use std::fmt;

/// PostgreSQL truncates longer names silently (`NAMEDATALEN - 1`), which would make the object
/// we create differ from the one we read back: refuse them instead.
pub const MAX_NAME_BYTES: usize = 63;

/// A checked, quoted identifier: displays as `"name"` with inner quotes doubled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ident(String);

impl Ident {
    /// Checks `name` (what it names is for the message: `role`, `schema`…).
    pub fn new(name: &str, what: &str) -> Result<Self, ProviderError> {
        if name.is_empty() {
            return Err(ProviderError::invalid(format!("postgres: the {what} name is empty")));
        }
        if name.contains('\0') {
            return Err(ProviderError::invalid(format!(
                "postgres: the {what} name {name:?} contains a NUL character, which PostgreSQL \
                 names cannot hold"
            )));
        }
        if name.len() > MAX_NAME_BYTES {
            return Err(ProviderError::invalid(format!(
                "postgres: the {what} name {name:?} is {} bytes long; PostgreSQL names hold at \
                 most {MAX_NAME_BYTES} bytes (longer ones are silently truncated)",
                name.len()
            )));
        }
        Ok(Self(name.to_owned()))
    }

    /// The name as given (unquoted).
    pub fn name(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Ident {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "\"{}\"", self.0.replace('"', "\"\""))
    }
}

/// A quoted string literal: `'text'` with quotes doubled, or `E'…'` with backslashes doubled
/// too when the text holds one, so it reads the same whatever `standard_conforming_strings`
/// says (as the server's `quote_literal` does).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Literal(String);

impl Literal {
    /// Checks `text` (it may not hold a NUL, which no PostgreSQL text can).
    pub fn new(text: &str, what: &str) -> Result<Self, ProviderError> {
        if text.contains('\0') {
            return Err(ProviderError::invalid(format!(
                "postgres: the {what} contains a NUL character, which PostgreSQL text cannot hold"
            )));
        }
        Ok(Self(text.to_owned()))
    }
}

impl fmt::Display for Literal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let quoted = self.0.replace('\'', "''");
        if quoted.contains('\\') {
            write!(f, "E'{}'", quoted.replace('\\', "\\\\"))
        } else {
            write!(f, "'{quoted}'")
        }
    }
}

/// `"schema"."name"`.
pub fn qualified(schema: &Ident, name: &Ident) -> String {
    format!("{schema}.{name}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identifiers_are_double_quoted_with_inner_quotes_doubled() {
        let cases = [
            ("alice", "\"alice\""),
            ("Mixed Case", "\"Mixed Case\""),
            ("x\"; DROP ROLE postgres; --", "\"x\"\"; DROP ROLE postgres; --\""),
            ("a'b", "\"a'b\""),
            ("ünïcode", "\"ünïcode\""),
        ];
        for (name, quoted) in cases {
            assert_eq!(Ident::new(name, "role").unwrap().to_string(), quoted, "{name}");
        }
    }

    #[test]
    fn names_postgres_would_mangle_are_refused() {
        for bad in ["", "a\0b", &"x".repeat(64)] {
            let error = Ident::new(bad, "role").unwrap_err();
            assert!(error.message().starts_with("postgres: the role name"), "{error}");
        }
        assert!(Ident::new(&"x".repeat(63), "role").is_ok());
    }

    #[test]
    fn literals_double_quotes_and_escape_backslashes() {
        let cases = [
            ("plain", "'plain'"),
            ("it's", "'it''s'"),
            ("'; DROP TABLE t; --", "'''; DROP TABLE t; --'"),
            ("back\\slash'", "E'back\\\\slash'''"),
        ];
        for (text, quoted) in cases {
            assert_eq!(Literal::new(text, "value").unwrap().to_string(), quoted, "{text}");
        }
        assert!(Literal::new("a\0", "value").is_err());
    }
}
