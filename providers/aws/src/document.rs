//! IAM policy documents: semantic comparison, and the conditions the provider writes itself.
//!
//! **Comparison.** IAM stores a document as written but means the same by many spellings: a
//! single `Action` or a one-element list, statements and list elements in any order, condition
//! values as strings or booleans, `"Principal": {"AWS": "123456789012"}` or the account's root
//! ARN (to which IAM rewrites it), action names in any case. [`canonical`] maps every spelling
//! to one form, and [`equivalent`] compares those, so a plan never shows a change that is only a
//! respelling.
//!
//! **Conditions the provider owns.** Three kinds of condition are written by the provider, not
//! by the policy author, and are recognised when read back:
//! - MFA in trust policies ([`with_mfa`], [`mfa_of`]): `aws:MultiFactorAuthPresent` and
//!   `aws:MultiFactorAuthAge` on every statement that lets an AWS principal assume the role;
//! - an end time on inline policies granted by an activation ([`with_expiry`], [`expiry_of`]):
//!   `DateLessThan aws:CurrentTime` on every `Allow` statement;
//! - the guard and the revocation policies ([`expiry_guard`], [`revocation`]) the provider puts
//!   beside an activation's attachments.

use serde_json::{Map, Value, json};

/// Parses a document held as a string (or already parsed).
pub fn parse(value: &Value) -> Option<Value> {
    match value {
        Value::String(text) => serde_json::from_str(text).ok(),
        Value::Object(_) => Some(value.clone()),
        _ => None,
    }
}

/// Whether two documents mean the same.
pub fn equivalent(a: &Value, b: &Value) -> bool {
    match (parse(a), parse(b)) {
        (Some(a), Some(b)) => canonical(&a) == canonical(&b),
        _ => a == b,
    }
}

fn scalar_string(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// A string or a list of them as a sorted, de-duplicated list of strings.
fn string_set(value: &Value, lower: bool) -> Value {
    let mut items: Vec<String> = match value {
        Value::Array(items) => items.iter().map(scalar_string).collect(),
        other => vec![scalar_string(other)],
    };
    if lower {
        items.iter_mut().for_each(|item| *item = item.to_lowercase());
    }
    items.sort();
    items.dedup();
    Value::Array(items.into_iter().map(Value::String).collect())
}

fn canonical_principal(value: &Value) -> Value {
    match value {
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(kind, ids)| {
                    let mut set = string_set(ids, false);
                    if kind == "AWS"
                        && let Value::Array(items) = &mut set
                    {
                        for item in items.iter_mut() {
                            if let Value::String(id) = item
                                && id.len() == 12
                                && id.bytes().all(|b| b.is_ascii_digit())
                            {
                                *id = format!("arn:aws:iam::{id}:root");
                            }
                        }
                        items.sort_by_key(scalar_string);
                    }
                    (kind.clone(), set)
                })
                .collect(),
        ),
        other => other.clone(),
    }
}

fn canonical_condition(value: &Value) -> Value {
    let Value::Object(operators) = value else { return value.clone() };
    let mut out = Map::new();
    for (operator, keys) in operators {
        let Value::Object(keys) = keys else {
            out.insert(operator.clone(), keys.clone());
            continue;
        };
        let keys: Map<String, Value> = keys
            .iter()
            .map(|(key, values)| (key.to_lowercase(), string_set(values, false)))
            .collect();
        if !keys.is_empty() {
            out.insert(operator.clone(), Value::Object(keys));
        }
    }
    Value::Object(out)
}

fn canonical_statement(statement: &Value) -> Value {
    let Value::Object(fields) = statement else { return statement.clone() };
    let mut out = Map::new();
    for (name, value) in fields {
        let value = match name.as_str() {
            "Action" | "NotAction" => string_set(value, true),
            "Resource" | "NotResource" => string_set(value, false),
            "Principal" | "NotPrincipal" => canonical_principal(value),
            "Condition" => {
                let condition = canonical_condition(value);
                if condition.as_object().is_some_and(Map::is_empty) {
                    continue;
                }
                condition
            }
            _ => value.clone(),
        };
        out.insert(name.clone(), value);
    }
    Value::Object(out)
}

/// The one spelling of a document that [`equivalent`] compares.
pub fn canonical(document: &Value) -> Value {
    let Value::Object(fields) = document else { return document.clone() };
    let mut out = Map::new();
    for (name, value) in fields {
        if name == "Statement" {
            let statements: Vec<Value> = match value {
                Value::Array(items) => items.iter().map(canonical_statement).collect(),
                single => vec![canonical_statement(single)],
            };
            let mut keyed: Vec<(String, Value)> =
                statements.into_iter().map(|s| (s.to_string(), s)).collect();
            keyed.sort_by(|a, b| a.0.cmp(&b.0));
            keyed.dedup_by(|a, b| a.0 == b.0);
            out.insert(name.clone(), Value::Array(keyed.into_iter().map(|(_, s)| s).collect()));
        } else {
            out.insert(name.clone(), value.clone());
        }
    }
    Value::Object(out)
}

/// The statements of a document as a list (one statement may be written without a list).
fn statements_mut(document: &mut Value) -> Vec<&mut Map<String, Value>> {
    let Some(fields) = document.as_object_mut() else { return Vec::new() };
    let Some(statement) = fields.get_mut("Statement") else { return Vec::new() };
    if statement.is_object() {
        let single = statement.take();
        *statement = Value::Array(vec![single]);
    }
    statement
        .as_array_mut()
        .map(|items| items.iter_mut().filter_map(Value::as_object_mut).collect())
        .unwrap_or_default()
}

fn statements(document: &Value) -> Vec<&Map<String, Value>> {
    match document.get("Statement") {
        Some(Value::Array(items)) => items.iter().filter_map(Value::as_object).collect(),
        Some(Value::Object(single)) => vec![single],
        _ => Vec::new(),
    }
}

fn is_allow(statement: &Map<String, Value>) -> bool {
    statement.get("Effect").and_then(Value::as_str) == Some("Allow")
}

/// Whether a trust statement lets an AWS principal (a user, a role, an account) assume the
/// role: the statements MFA applies to. Service and federated principals cannot present MFA.
fn lets_aws_principal_assume(statement: &Map<String, Value>) -> bool {
    let assumes = statement.get("Action").is_some_and(|action| {
        let actions = string_set(action, true);
        actions.as_array().is_some_and(|items| {
            items.iter().any(|a| matches!(a.as_str(), Some("sts:assumerole" | "sts:*" | "*")))
        })
    });
    let aws_principal = match statement.get("Principal") {
        Some(Value::Object(principal)) => principal.contains_key("AWS"),
        Some(Value::String(star)) => star == "*",
        _ => false,
    };
    is_allow(statement) && assumes && aws_principal
}

fn condition_mut<'a>(
    statement: &'a mut Map<String, Value>,
    operator: &str,
) -> &'a mut Map<String, Value> {
    let condition = statement.entry("Condition").or_insert_with(|| json!({}));
    if !condition.is_object() {
        *condition = json!({});
    }
    let by_operator = condition.as_object_mut().expect("an object");
    let keys = by_operator.entry(operator.to_owned()).or_insert_with(|| json!({}));
    if !keys.is_object() {
        *keys = json!({});
    }
    keys.as_object_mut().expect("an object")
}

fn condition_value(statement: &Map<String, Value>, operator: &str, key: &str) -> Option<String> {
    let keys = statement.get("Condition")?.get(operator)?.as_object()?;
    let (_, value) = keys.iter().find(|(k, _)| k.eq_ignore_ascii_case(key))?;
    match value {
        Value::Array(items) if items.len() == 1 => Some(scalar_string(&items[0])),
        Value::Array(_) => None,
        other => Some(scalar_string(other)),
    }
}

fn remove_condition(statement: &mut Map<String, Value>, operator: &str, key: &str) {
    let Some(Value::Object(condition)) = statement.get_mut("Condition") else { return };
    if let Some(Value::Object(keys)) = condition.get_mut(operator) {
        keys.retain(|k, _| !k.eq_ignore_ascii_case(key));
        if keys.is_empty() {
            condition.remove(operator);
        }
    }
    if condition.is_empty() {
        statement.remove("Condition");
    }
}

const MFA_PRESENT: &str = "aws:MultiFactorAuthPresent";
const MFA_AGE: &str = "aws:MultiFactorAuthAge";
const CURRENT_TIME: &str = "aws:CurrentTime";

/// A trust policy with MFA demanded on every statement that lets an AWS principal assume the
/// role, with the sign-in at most `max_age` seconds old when given.
pub fn with_mfa(document: &Value, max_age: Option<u64>) -> Value {
    let mut document = document.clone();
    for statement in statements_mut(&mut document) {
        if !lets_aws_principal_assume(statement) {
            continue;
        }
        condition_mut(statement, "Bool").insert(MFA_PRESENT.to_owned(), json!("true"));
        if let Some(age) = max_age {
            condition_mut(statement, "NumericLessThan")
                .insert(MFA_AGE.to_owned(), json!(age.to_string()));
        }
    }
    document
}

/// Whether a trust policy demands MFA of every AWS principal it lets in, and the largest MFA
/// age it accepts when every such statement names the same one.
pub fn mfa_of(document: &Value) -> (bool, Option<u64>) {
    let assume: Vec<&Map<String, Value>> =
        statements(document).into_iter().filter(|s| lets_aws_principal_assume(s)).collect();
    if assume.is_empty() {
        return (false, None);
    }
    let demanded = assume.iter().all(|s| {
        condition_value(s, "Bool", MFA_PRESENT).is_some_and(|v| v.eq_ignore_ascii_case("true"))
    });
    let ages: Vec<Option<u64>> = assume
        .iter()
        .map(|s| condition_value(s, "NumericLessThan", MFA_AGE).and_then(|v| v.parse().ok()))
        .collect();
    let age = ages.first().copied().flatten().filter(|_| ages.windows(2).all(|w| w[0] == w[1]));
    (demanded, if demanded { age } else { None })
}

/// A trust policy without the MFA conditions [`with_mfa`] writes.
pub fn without_mfa(document: &Value) -> Value {
    let mut document = document.clone();
    for statement in statements_mut(&mut document) {
        if lets_aws_principal_assume(statement) {
            remove_condition(statement, "Bool", MFA_PRESENT);
            remove_condition(statement, "NumericLessThan", MFA_AGE);
        }
    }
    document
}

/// A policy whose every `Allow` statement holds only before `end` (RFC 3339).
pub fn with_expiry(document: &Value, end: &str) -> Value {
    let mut document = document.clone();
    for statement in statements_mut(&mut document) {
        if is_allow(statement) {
            condition_mut(statement, "DateLessThan").insert(CURRENT_TIME.to_owned(), json!(end));
        }
    }
    document
}

/// The end time every `Allow` statement of a policy holds until, if they all name the same.
pub fn expiry_of(document: &Value) -> Option<String> {
    let allows: Vec<&Map<String, Value>> =
        statements(document).into_iter().filter(|s| is_allow(s)).collect();
    let ends: Vec<Option<String>> =
        allows.iter().map(|s| condition_value(s, "DateLessThan", CURRENT_TIME)).collect();
    let first = ends.first().cloned().flatten()?;
    ends.iter().all(|end| end.as_deref() == Some(first.as_str())).then_some(first)
}

/// A policy without the end time [`with_expiry`] writes.
pub fn without_expiry(document: &Value) -> Value {
    let mut document = document.clone();
    for statement in statements_mut(&mut document) {
        if is_allow(statement) {
            remove_condition(statement, "DateLessThan", CURRENT_TIME);
        }
    }
    document
}

/// Sid of the guard statement.
pub const GUARD_SID: &str = "BreakglassActivationEnds";

/// The guard put beside an attachment an activation granted: from `end` on, the principal
/// may do nothing, so access ends at the end even if no reconciler ever runs again. An
/// attachment of a managed policy cannot carry a condition itself; a `Deny` wins over every
/// `Allow`.
pub fn expiry_guard(end: &str) -> Value {
    json!({
        "Version": "2012-10-17",
        "Statement": [{
            "Sid": GUARD_SID,
            "Effect": "Deny",
            "Action": "*",
            "Resource": "*",
            "Condition": { "DateGreaterThanEquals": { CURRENT_TIME: end } }
        }]
    })
}

/// The end time a guard policy names.
pub fn guard_end(document: &Value) -> Option<String> {
    statements(document)
        .into_iter()
        .find(|s| s.get("Sid").and_then(Value::as_str) == Some(GUARD_SID))
        .and_then(|s| condition_value(s, "DateGreaterThanEquals", CURRENT_TIME))
}

/// The statement that ends one user's use of a permission set in one account at `end`, put
/// in the permission set's inline policy beside an assignment an activation granted. IAM
/// Identity Center names every session after the user (`aws:userid` is `ROLE_ID:USERNAME`), so
/// the deny reaches that user's sessions in that account only, not the set's other users.
/// <https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_variables.html#principaltable>
pub fn assignment_guard(sid: &str, end: &str, user_name: &str, account: &str) -> Value {
    json!({
        "Sid": sid,
        "Effect": "Deny",
        "Action": "*",
        "Resource": "*",
        "Condition": {
            "DateGreaterThanEquals": { CURRENT_TIME: end },
            "StringLike": { "aws:userid": format!("*:{user_name}") },
            "StringEquals": { "aws:PrincipalAccount": account }
        }
    })
}

/// The end time of the statement `sid` in `document`, if it is there.
pub fn statement_end(document: &Value, sid: &str) -> Option<String> {
    statements(document)
        .into_iter()
        .find(|s| s.get("Sid").and_then(Value::as_str) == Some(sid))
        .and_then(|s| condition_value(s, "DateGreaterThanEquals", CURRENT_TIME))
}

/// `document` without the statement `sid`, plus `statement` when given; `None` when no
/// statement is left (the policy is then deleted rather than written empty).
pub fn with_statement(
    document: Option<&Value>,
    sid: &str,
    statement: Option<Value>,
) -> Option<Value> {
    let mut kept: Vec<Value> = document
        .map(|d| {
            statements(d).into_iter().filter(|s| s.get("Sid").and_then(Value::as_str) != Some(sid))
        })
        .into_iter()
        .flatten()
        .map(|s| Value::Object(s.clone()))
        .collect();
    kept.extend(statement);
    if kept.is_empty() {
        return None;
    }
    let version = document.and_then(|d| d.get("Version")).cloned().unwrap_or(json!("2012-10-17"));
    Some(json!({ "Version": version, "Statement": kept }))
}

/// AWS's documented way to revoke a role's active sessions: deny everything to sessions
/// whose credentials were issued before `before` (RFC 3339). New sessions are unaffected.
/// <https://docs.aws.amazon.com/IAM/latest/UserGuide/id_roles_use_revoke-sessions.html>
pub fn revocation(before: &str) -> Value {
    json!({
        "Version": "2012-10-17",
        "Statement": [{
            "Sid": "BreakglassRevokeOlderSessions",
            "Effect": "Deny",
            "Action": ["*"],
            "Resource": ["*"],
            "Condition": { "DateLessThan": { "aws:TokenIssueTime": before } }
        }]
    })
}

/// The cut-off a revocation policy names.
pub fn revocation_time(document: &Value) -> Option<String> {
    statements(document)
        .into_iter()
        .find_map(|s| condition_value(s, "DateLessThan", "aws:TokenIssueTime"))
}

#[cfg(test)]
mod tests {
    #[test]
    fn with_statement_replaces_one_statement_and_keeps_the_rest() {
        let own = json!({"Sid": "Own", "Effect": "Allow", "Action": "s3:*", "Resource": "*"});
        let guard = |end: &str| assignment_guard("BreakglassExpiryab", end, "alice", "1");
        let document = json!({"Version": "2012-10-17", "Statement": own.clone()});
        let added = with_statement(
            Some(&document),
            "BreakglassExpiryab",
            Some(guard("2031-01-01T00:00:00Z")),
        )
        .unwrap();
        assert_eq!(added["Statement"], json!([own, guard("2031-01-01T00:00:00Z")]));
        assert_eq!(
            statement_end(&added, "BreakglassExpiryab").as_deref(),
            Some("2031-01-01T00:00:00Z")
        );
        let moved =
            with_statement(Some(&added), "BreakglassExpiryab", Some(guard("2032-01-01T00:00:00Z")))
                .unwrap();
        assert_eq!(moved["Statement"], json!([own, guard("2032-01-01T00:00:00Z")]));
        let removed = with_statement(Some(&moved), "BreakglassExpiryab", None).unwrap();
        assert_eq!(removed["Statement"], json!([own]));
        let alone = with_statement(None, "BreakglassExpiryab", Some(guard("2031-01-01T00:00:00Z")))
            .unwrap();
        assert_eq!(
            with_statement(Some(&alone), "BreakglassExpiryab", None),
            None,
            "nothing left: deleted"
        );
        assert_eq!(alone["Version"], json!("2012-10-17"));
    }

    use super::*;

    #[test]
    fn respellings_are_equivalent_and_real_changes_are_not() {
        let written = json!({
            "Version": "2012-10-17",
            "Statement": {
                "Effect": "Allow",
                "Principal": {"AWS": "123456789012"},
                "Action": "sts:AssumeRole",
                "Condition": {"Bool": {"aws:MultiFactorAuthPresent": true}}
            }
        });
        let stored = json!({
            "Statement": [{
                "Condition": {"Bool": {"aws:multifactorauthpresent": ["true"]}},
                "Action": ["STS:AssumeRole"],
                "Principal": {"AWS": ["arn:aws:iam::123456789012:root"]},
                "Effect": "Allow"
            }],
            "Version": "2012-10-17"
        });
        assert!(equivalent(&Value::String(written.to_string()), &stored));
        let mut widened = stored.clone();
        widened["Statement"][0]["Action"] = json!(["sts:AssumeRole", "sts:TagSession"]);
        assert!(!equivalent(&written, &widened));
        let two = json!({"Statement": [{"Effect": "Allow", "Action": ["b", "a"], "Resource": "*"},
                                       {"Effect": "Deny", "Action": "c", "Resource": "*"}]});
        let swapped = json!({"Statement": [{"Effect": "Deny", "Action": ["c"], "Resource": ["*"]},
                                           {"Effect": "Allow", "Action": ["a", "b"], "Resource": "*"}]});
        assert!(equivalent(&two, &swapped));
        assert!(!equivalent(&two, &json!({"Statement": []})));
    }

    #[test]
    fn mfa_is_added_to_aws_principals_only_and_read_back() {
        let trust = json!({
            "Version": "2012-10-17",
            "Statement": [
                {"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::123456789012:root"}, "Action": "sts:AssumeRole"},
                {"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}
            ]
        });
        assert_eq!(mfa_of(&trust), (false, None));
        let demanded = with_mfa(&trust, Some(3600));
        assert_eq!(mfa_of(&demanded), (true, Some(3600)));
        assert_eq!(
            demanded["Statement"][0]["Condition"],
            json!({"Bool": {"aws:MultiFactorAuthPresent": "true"},
                   "NumericLessThan": {"aws:MultiFactorAuthAge": "3600"}})
        );
        assert!(demanded["Statement"][1].get("Condition").is_none());
        assert!(equivalent(&without_mfa(&demanded), &trust));
        assert_eq!(mfa_of(&with_mfa(&trust, None)), (true, None));
    }

    #[test]
    fn expiry_is_added_to_allow_statements_and_read_back() {
        let policy = json!({"Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Action": "s3:*", "Resource": "*"},
            {"Effect": "Deny", "Action": "s3:DeleteBucket", "Resource": "*"}
        ]});
        assert_eq!(expiry_of(&policy), None);
        let expiring = with_expiry(&policy, "2031-01-15T17:00:00Z");
        assert_eq!(expiry_of(&expiring).as_deref(), Some("2031-01-15T17:00:00Z"));
        assert!(expiring["Statement"][1].get("Condition").is_none());
        assert!(equivalent(&without_expiry(&expiring), &policy));
    }

    #[test]
    fn guard_and_revocation_name_their_times() {
        let guard = expiry_guard("2031-01-15T17:00:00Z");
        assert_eq!(guard_end(&guard).as_deref(), Some("2031-01-15T17:00:00Z"));
        assert_eq!(guard["Statement"][0]["Effect"], "Deny");
        let revoke = revocation("2031-01-15T17:00:05Z");
        assert_eq!(revocation_time(&revoke).as_deref(), Some("2031-01-15T17:00:05Z"));
    }
}
