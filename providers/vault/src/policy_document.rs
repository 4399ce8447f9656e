//! ACL policy documents compared by meaning.
//!
//! Vault stores a policy's text as it was written, so two texts can differ in comments,
//! spacing, order, quoting, or HCL versus JSON and still grant exactly the same. Both sides are
//! parsed (HCL with `hcl-rs`, JSON with serde) into one normal form: each path's rules, with
//! capabilities as a sorted set (`deny` alone where present, as Vault applies it), the old
//! `policy = "read"` shorthand expanded into the capabilities Vault gives it, parameter lists
//! sorted, and the rules of a path written twice merged. Two documents are equal when their
//! normal forms are.

use serde_json::{Map, Value};
use std::collections::{BTreeMap, BTreeSet};

/// A policy in normal form: the rules of each path, by path.
pub type Normal = BTreeMap<String, BTreeMap<String, Value>>;

/// Why a document could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError(pub String);

impl std::fmt::Display for ParseError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// The capabilities the old `policy = "…"` shorthand stands for.
fn shorthand(policy: &str) -> Option<&'static [&'static str]> {
    Some(match policy {
        "deny" => &["deny"],
        "read" => &["read", "list"],
        "write" => &["create", "read", "update", "delete", "list"],
        "sudo" => &["create", "read", "update", "delete", "list", "sudo"],
        _ => return None,
    })
}

/// Lists of strings whose order means nothing.
const UNORDERED: &[&str] = &["required_parameters", "mfa_methods"];
/// Maps of lists whose lists' order means nothing.
const PARAMETER_MAPS: &[&str] = &["allowed_parameters", "denied_parameters"];

fn sorted_strings(value: &Value) -> Value {
    match value {
        Value::Array(items) => {
            let mut items = items.clone();
            items.sort_by_key(Value::to_string);
            items.dedup();
            Value::Array(items)
        }
        other => other.clone(),
    }
}

/// Adds the rules `rules` for `path` to `normal`.
fn add_rules(
    normal: &mut Normal,
    path: &str,
    rules: &Map<String, Value>,
) -> Result<(), ParseError> {
    let entry = normal.entry(path.to_owned()).or_default();
    let mut capabilities: BTreeSet<String> = entry
        .get("capabilities")
        .and_then(Value::as_array)
        .map(|c| c.iter().filter_map(|c| c.as_str().map(str::to_owned)).collect())
        .unwrap_or_default();
    for (key, value) in rules {
        match key.as_str() {
            "capabilities" => {
                let list = value.as_array().ok_or_else(|| {
                    ParseError(format!("path {path:?}: `capabilities` must be a list of strings"))
                })?;
                for capability in list {
                    let capability = capability.as_str().ok_or_else(|| {
                        ParseError(format!("path {path:?}: `capabilities` must be strings"))
                    })?;
                    capabilities.insert(capability.to_ascii_lowercase());
                }
            }
            "policy" => {
                let expanded = value.as_str().and_then(shorthand).ok_or_else(|| {
                    ParseError(format!(
                        "path {path:?}: `policy` must be \"deny\", \"read\", \"write\" or \"sudo\""
                    ))
                })?;
                capabilities.extend(expanded.iter().map(|c| (*c).to_owned()));
            }
            key if UNORDERED.contains(&key) => {
                entry.insert(key.to_owned(), sorted_strings(value));
            }
            key if PARAMETER_MAPS.contains(&key) => {
                let map = match value {
                    Value::Object(map) => {
                        map.iter().map(|(k, v)| (k.clone(), sorted_strings(v))).collect()
                    }
                    other => other.clone(),
                };
                entry.insert(key.to_owned(), map);
            }
            key => {
                entry.insert(key.to_owned(), value.clone());
            }
        }
    }
    if capabilities.contains("deny") {
        capabilities = BTreeSet::from(["deny".to_owned()]);
    }
    entry.insert(
        "capabilities".to_owned(),
        Value::Array(capabilities.into_iter().map(Value::String).collect()),
    );
    Ok(())
}

/// `{"path": {"p": {…}}}` or `{"path": [{"p": {…}}, …]}` (the JSON form of a policy).
fn from_json(document: &Value) -> Result<Normal, ParseError> {
    let top = document
        .as_object()
        .ok_or_else(|| ParseError("a JSON policy must be an object with \"path\"".to_owned()))?;
    let mut normal = Normal::new();
    let mut add_object = |paths: &Map<String, Value>| -> Result<(), ParseError> {
        for (path, rules) in paths {
            let rules = rules
                .as_object()
                .ok_or_else(|| ParseError(format!("path {path:?}: its rules must be an object")))?;
            add_rules(&mut normal, path, rules)?;
        }
        Ok(())
    };
    for (key, value) in top {
        match (key.as_str(), value) {
            ("path", Value::Object(paths)) => add_object(paths)?,
            ("path", Value::Array(items)) => {
                for item in items {
                    add_object(item.as_object().ok_or_else(|| {
                        ParseError("each element of \"path\" must be an object".to_owned())
                    })?)?;
                }
            }
            ("path", _) => return Err(ParseError("\"path\" must be an object".to_owned())),
            (other, _) => {
                return Err(ParseError(format!(
                    "unexpected top-level key {other:?}: a policy holds only \"path\" rules"
                )));
            }
        }
    }
    Ok(normal)
}

/// `path "p" { capabilities = [...] }` blocks (the HCL form).
fn from_hcl(text: &str) -> Result<Normal, ParseError> {
    let body = hcl::parse(text).map_err(|error| ParseError(format!("not valid HCL: {error}")))?;
    if let Some(attribute) = body.attributes().next() {
        return Err(ParseError(format!(
            "unexpected attribute {:?} outside a path block",
            attribute.key()
        )));
    }
    let mut normal = Normal::new();
    for block in body.blocks() {
        let [label] = block.labels() else {
            return Err(ParseError(format!(
                "a {:?} block needs exactly one label, as path \"secret/*\" {{ … }}",
                block.identifier()
            )));
        };
        if block.identifier() != "path" {
            return Err(ParseError(format!(
                "unexpected block {:?}: a policy holds only path blocks",
                block.identifier()
            )));
        }
        let mut rules = Map::new();
        for attribute in block.body().attributes() {
            let value = hcl::Value::from(attribute.expr().clone());
            let value = serde_json::to_value(value)
                .map_err(|error| ParseError(format!("path {:?}: {error}", label.as_str())))?;
            rules.insert(attribute.key().to_owned(), value);
        }
        if let Some(nested) = block.body().blocks().next() {
            return Err(ParseError(format!(
                "path {:?}: unexpected nested block {:?}",
                label.as_str(),
                nested.identifier()
            )));
        }
        add_rules(&mut normal, label.as_str(), &rules)?;
    }
    Ok(normal)
}

/// Parses a policy document, HCL or JSON, into its normal form.
pub fn normalize(text: &str) -> Result<Normal, ParseError> {
    let trimmed = text.trim();
    if trimmed.starts_with('{') {
        let document: Value = serde_json::from_str(trimmed)
            .map_err(|error| ParseError(format!("not valid JSON: {error}")))?;
        return from_json(&document);
    }
    from_hcl(trimmed)
}

/// Whether two policy texts grant the same; texts that cannot be parsed are compared as text.
pub fn equivalent(a: &str, b: &str) -> bool {
    match (normalize(a), normalize(b)) {
        (Ok(a), Ok(b)) => a == b,
        _ => a.trim() == b.trim(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BASE: &str = r#"
        # Read the app's secrets.
        path "secret/data/app/*" {
          capabilities = ["read", "list"]
        }
        path "database/creds/admin" { capabilities = ["read"] }
    "#;

    #[test]
    fn documents_that_grant_the_same_are_equal() {
        let cases = [
            // Order of blocks and of capabilities, comments, spacing.
            r#"path "database/creds/admin" {
                 capabilities = ["read"]
               }
               path "secret/data/app/*" { capabilities = ["list", "read", "read"] }"#,
            // The old shorthand.
            r#"path "secret/data/app/*" { policy = "read" }
               path "database/creds/admin" { capabilities = ["READ"] }"#,
            // JSON.
            r#"{"path": {"secret/data/app/*": {"capabilities": ["read", "list"]},
                         "database/creds/admin": {"capabilities": ["read"]}}}"#,
            // A path written twice.
            r#"path "secret/data/app/*" { capabilities = ["read"] }
               path "secret/data/app/*" { capabilities = ["list"] }
               path "database/creds/admin" { capabilities = ["read"] }"#,
        ];
        for case in cases {
            assert!(equivalent(BASE, case), "{case}");
        }
    }

    #[test]
    fn documents_that_grant_differently_differ() {
        let cases = [
            r#"path "secret/data/app/*" { capabilities = ["read", "list", "update"] }
               path "database/creds/admin" { capabilities = ["read"] }"#,
            r#"path "secret/data/app/*" { capabilities = ["read", "list"] }"#,
            r#"path "secret/data/app/+" { capabilities = ["read", "list"] }
               path "database/creds/admin" { capabilities = ["read"] }"#,
            r#"path "secret/data/app/*" { capabilities = ["read", "list"] }
               path "database/creds/admin" {
                 capabilities = ["read"]
                 required_parameters = ["ttl"]
               }"#,
        ];
        for case in cases {
            assert!(!equivalent(BASE, case), "{case}");
        }
    }

    #[test]
    fn deny_wins_and_parameter_lists_are_sets() {
        let a = r#"path "sys/*" { capabilities = ["deny", "read", "sudo"] }
                   path "kv/x" {
                     capabilities = ["update"]
                     allowed_parameters = { "color" = ["red", "blue"] }
                   }"#;
        let b = r#"path "sys/*" { capabilities = ["deny"] }
                   path "kv/x" {
                     capabilities = ["update"]
                     allowed_parameters = { "color" = ["blue", "red"] }
                   }"#;
        assert!(equivalent(a, b));
    }

    #[test]
    fn malformed_documents_say_what_is_wrong() {
        let cases = [
            (r#"path "x" { capabilities = "read" }"#, "must be a list"),
            (r#"path { capabilities = ["read"] }"#, "exactly one label"),
            (r#"rule "x" { capabilities = ["read"] }"#, "only path blocks"),
            (r#"path "x" { policy = "everything" }"#, "\"deny\", \"read\""),
            ("path \"x\" {", "not valid HCL"),
            (r#"{"paths": {}}"#, "unexpected top-level key"),
        ];
        for (text, says) in cases {
            let error = normalize(text).unwrap_err();
            assert!(error.0.contains(says), "{text}: {error}");
        }
        assert!(equivalent("not a policy {", "  not a policy {\n"), "compared as text");
    }
}
