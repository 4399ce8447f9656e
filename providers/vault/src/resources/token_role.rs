//! `vault_token_role`: a role of the token auth method at `auth/token/roles/NAME`; its id is
//! the name.
//!
//! **Native expiry.** Vault cannot give a token an absolute end, only a lifetime. When
//! `expires_at` is set (the engine sets it to the activation's end for a role a grant
//! creates), the role is written with `token_explicit_max_ttl` = the time left until then, so
//! a token made at once ends at `expires_at` and no token made with the role outlives the end
//! by more than the time between the role's write and its own making; Vault enforces this even
//! if no reconciler ever runs again. The end is also written into the tokens' path,
//! `path_suffix = "breakglass-until-YYYYMMDDTHHMMSSZ"`, which is how it reads back.
//!
//! **Revocation that sticks.** Deleting the role in a revert also revokes every token made with
//! it, and so their child tokens and leases ([`crate::revocation::revoke_role_tokens`]).

use breakglass_provider::{Attributes, ChangeContext, ProviderError, Value};
use serde_json::json;

use super::{
    Context, boolean, json_strings, number, optional, required, string_list, strings, timestamp,
};
use crate::client::segment;
use crate::revocation::revoke_role_tokens;
use crate::schema::TOKEN_ROLE;

/// The start of a `path_suffix` that carries an end.
pub const SUFFIX_PREFIX: &str = "breakglass-until-";

/// The natural id: the name.
pub fn id(attributes: &Attributes) -> Result<String, ProviderError> {
    let name = required(attributes, TOKEN_ROLE, "name")?;
    if name.contains('/') {
        return Err(ProviderError::invalid(format!(
            "{TOKEN_ROLE}: the name {name:?} has a `/`; token role names cannot"
        )));
    }
    Ok(name.to_owned())
}

fn path(name: &str) -> String {
    format!("auth/token/roles/{}", segment(name))
}

/// The path suffix that carries `end`.
pub fn suffix(end: jiff::Timestamp) -> String {
    format!("{SUFFIX_PREFIX}{}", end.strftime("%Y%m%dT%H%M%SZ"))
}

/// The end a path suffix carries, if it is one of ours.
pub fn end_of(suffix: &str) -> Option<jiff::Timestamp> {
    let t = suffix.strip_prefix(SUFFIX_PREFIX)?;
    if t.len() != 16 || !t.is_ascii() || &t[8..9] != "T" || &t[15..] != "Z" {
        return None;
    }
    let (date, time) = (&t[..8], &t[9..15]);
    let text = format!(
        "{}-{}-{}T{}:{}:{}Z",
        &date[..4],
        &date[4..6],
        &date[6..],
        &time[..2],
        &time[2..4],
        &time[4..]
    );
    text.parse().ok()
}

/// `GET auth/token/roles/NAME`.
pub async fn read(ctx: &Context<'_>, name: &str) -> Result<Option<Attributes>, ProviderError> {
    let Some(data) = ctx.client.read(&path(name)).await? else {
        return Ok(None);
    };
    let mut attributes = Attributes::new();
    attributes.insert("name".into(), json!(name));
    for list in ["allowed_policies", "disallowed_policies"] {
        let mut items = json_strings(data.get(list));
        items.sort();
        attributes.insert(list.into(), string_list(items));
    }
    for key in ["orphan", "renewable", "token_type", "token_ttl", "token_explicit_max_ttl"] {
        attributes.insert(key.into(), data.get(key).cloned().unwrap_or(Value::Null));
    }
    let suffix = data.get("path_suffix").and_then(Value::as_str).unwrap_or_default();
    attributes.insert("path_suffix".into(), json!(suffix));
    let end = end_of(suffix).map_or(Value::Null, |end| json!(end.to_string()));
    attributes.insert("expires_at".into(), end);
    Ok(Some(attributes))
}

/// The role's body: every field it manages, defaults included, so a write replaces what an
/// earlier one set.
fn body(name: &str, attributes: &Attributes) -> Result<Value, ProviderError> {
    let declared_max = number(attributes, TOKEN_ROLE, "token_explicit_max_ttl")?;
    let (explicit_max_ttl, path_suffix) = match timestamp(attributes, TOKEN_ROLE, "expires_at")? {
        Some(end) => {
            if declared_max.is_some() {
                return Err(ProviderError::invalid(format!(
                    "{TOKEN_ROLE} {name}: set `expires_at` or `token_explicit_max_ttl`, not both \
                     (expires_at sets the other); a role a grant creates gets expires_at = the \
                     activation's end"
                )));
            }
            let left = end.duration_since(jiff::Timestamp::now()).as_secs_f64().ceil();
            if left < 1.0 {
                return Err(ProviderError::invalid(format!(
                    "{TOKEN_ROLE} {name}: `expires_at` {end} has already passed"
                )));
            }
            (left as u64, suffix(end))
        }
        None => (declared_max.unwrap_or(0), String::new()),
    };
    let token_type = optional(attributes, "token_type").unwrap_or_else(|| "default-service".into());
    if !["service", "batch", "default-service", "default-batch"].contains(&token_type.as_str()) {
        return Err(ProviderError::invalid(format!(
            "{TOKEN_ROLE} {name}: `token_type` must be \"service\", \"batch\", \"default-service\" \
             or \"default-batch\", got {token_type:?}"
        )));
    }
    Ok(json!({
        "allowed_policies": strings(attributes, TOKEN_ROLE, "allowed_policies")?,
        "disallowed_policies": strings(attributes, TOKEN_ROLE, "disallowed_policies")?,
        "orphan": boolean(attributes, TOKEN_ROLE, "orphan")?.unwrap_or(false),
        "renewable": boolean(attributes, TOKEN_ROLE, "renewable")?.unwrap_or(true),
        "token_type": token_type,
        "token_ttl": number(attributes, TOKEN_ROLE, "token_ttl")?.unwrap_or(0),
        "token_explicit_max_ttl": explicit_max_ttl,
        "path_suffix": path_suffix,
    }))
}

/// `POST auth/token/roles/NAME` (creates or replaces), then reads it back.
pub async fn write(
    ctx: &Context<'_>,
    name: &str,
    attributes: &Attributes,
) -> Result<Attributes, ProviderError> {
    let body = body(name, attributes)?;
    ctx.client
        .write(&path(name), &body)
        .await
        .map_err(|e| e.context(format!("{TOKEN_ROLE} {name}")))?;
    read(ctx, name).await?.ok_or_else(|| {
        ProviderError::protocol(format!(
            "{TOKEN_ROLE} {name}: written, but not found when read back"
        ))
    })
}

/// `DELETE auth/token/roles/NAME`; in a revert, then revokes every token made with it.
pub async fn delete(
    ctx: &Context<'_>,
    name: &str,
    context: &ChangeContext,
) -> Result<Vec<String>, ProviderError> {
    ctx.client.delete(&path(name)).await.map_err(|e| e.context(format!("{TOKEN_ROLE} {name}")))?;
    if context.revert {
        return Ok(vec![revoke_role_tokens(ctx.client, name).await?]);
    }
    Ok(Vec::new())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_end_round_trips_through_the_path_suffix() {
        let end: jiff::Timestamp = "2031-03-02T01:00:00Z".parse().unwrap();
        assert_eq!(suffix(end), "breakglass-until-20310302T010000Z");
        assert_eq!(end_of(&suffix(end)), Some(end));
        assert_eq!(end_of("v1"), None);
        assert_eq!(end_of("breakglass-until-garbage"), None);
    }

    #[test]
    fn bodies_compute_the_lifetime_and_refuse_contradictions() {
        let attrs = |value: Value| -> Attributes { serde_json::from_value(value).unwrap() };
        let in_an_hour = jiff::Timestamp::now() + jiff::SignedDuration::from_secs(3600);
        let body =
            body("r", &attrs(json!({"name": "r", "expires_at": in_an_hour.to_string()}))).unwrap();
        let ttl = body["token_explicit_max_ttl"].as_u64().unwrap();
        assert!((3590..=3600).contains(&ttl), "{ttl}");
        assert!(body["path_suffix"].as_str().unwrap().starts_with(SUFFIX_PREFIX));
        let plain =
            super::body("r", &attrs(json!({"name": "r", "token_explicit_max_ttl": 60}))).unwrap();
        assert_eq!(
            (plain["token_explicit_max_ttl"].as_u64(), plain["path_suffix"].as_str()),
            (Some(60), Some(""))
        );
        let cases = [
            (
                json!({"expires_at": in_an_hour.to_string(), "token_explicit_max_ttl": 60}),
                "not both",
            ),
            (json!({"expires_at": "2001-01-01T00:00:00Z"}), "already passed"),
            (json!({"expires_at": "tomorrow"}), "RFC 3339"),
            (json!({"token_type": "forever"}), "`token_type` must be"),
        ];
        for (value, says) in cases {
            let error = super::body("r", &attrs(value)).unwrap_err();
            assert!(error.message().contains(says), "{error}");
        }
    }
}
