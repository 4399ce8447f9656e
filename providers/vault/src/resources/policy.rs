//! `vault_policy`: an ACL policy at `sys/policies/acl/NAME`; its id is the name.
//!
//! A refresh of several policies reads them all in one `LIST sys/policies/detailed/acl` on
//! OpenBao, one `GET` each on Vault ([`read_many`]).
//!
//! The text is compared by meaning ([`crate::policy_document`]). On OpenBao 2.3 and later a
//! policy may carry `expiration`, after which OpenBao deletes it by itself; on Vault, asking for
//! one is refused before anything is written.

use breakglass_provider::{Attributes, ErrorKind, ProviderError, Value};
use serde_json::json;
use std::collections::{BTreeMap, BTreeSet};

use super::{Context, required, timestamp};
use crate::client::segment;
use crate::schema::POLICY;

/// The natural id: the name. Vault stores policy names in lower case, so an upper-case name
/// would never read back as declared.
pub fn id(attributes: &Attributes) -> Result<String, ProviderError> {
    let name = required(attributes, POLICY, "name")?;
    if name != name.to_lowercase() {
        return Err(ProviderError::invalid(format!(
            "{POLICY}: the name {name:?} has upper-case letters; Vault keeps policy names in \
             lower case, write {:?}",
            name.to_lowercase()
        )));
    }
    if name == "root" {
        return Err(ProviderError::invalid(format!(
            "{POLICY}: the root policy is built in and cannot be managed"
        )));
    }
    Ok(name.to_owned())
}

/// OpenBao's listing of every ACL policy with its text.
const DETAILED_LIST: &str = "sys/policies/detailed/acl";

fn path(name: &str) -> String {
    format!("sys/policies/acl/{}", segment(name))
}

/// `GET sys/policies/acl/NAME`.
pub async fn read(ctx: &Context<'_>, name: &str) -> Result<Option<Attributes>, ProviderError> {
    Ok(ctx.client.read(&path(name)).await?.map(|data| attributes(name, &data)))
}

/// Several policies at once. OpenBao lists every ACL policy with its text in one call
/// (`LIST sys/policies/detailed/acl`); HashiCorp Vault lists only names, an OpenBao without that
/// listing answers 404 (every OpenBao has `root` and `default`, so an empty list means it is not
/// there), and a token may not be allowed to list it: then each policy is read with its own
/// `GET`, as [`read`] does.
pub async fn read_many(
    ctx: &Context<'_>,
    names: &[String],
) -> Result<BTreeMap<String, Attributes>, ProviderError> {
    let mut found = BTreeMap::new();
    let mut unread: Vec<&String> = names.iter().collect();
    if ctx.server.openbao && names.len() > 1 {
        match ctx.client.list(DETAILED_LIST).await {
            Ok(listing) if !listing.keys.is_empty() => {
                let listed: BTreeSet<&str> = listing.keys.iter().map(String::as_str).collect();
                unread.retain(|name| {
                    if let Some(data) = listing.key_info.get(name.as_str()) {
                        found.insert((*name).clone(), attributes(name, data));
                        false
                    } else {
                        // Listed without its details (not seen from OpenBao): read it alone.
                        listed.contains(name.as_str())
                    }
                });
            }
            Ok(_) => {}
            Err(error)
                if matches!(
                    error.kind(),
                    ErrorKind::Denied | ErrorKind::Unsupported | ErrorKind::NotFound
                ) => {}
            Err(error) => return Err(error.context(format!("{POLICY}: listing the policies"))),
        }
    }
    for name in unread {
        if let Some(attributes) = read(ctx, name).await? {
            found.insert(name.clone(), attributes);
        }
    }
    Ok(found)
}

/// The attributes of a policy as `GET` (or the detailed listing, whose entries have the same
/// fields) gives them.
fn attributes(name: &str, data: &Value) -> Attributes {
    let mut attributes = Attributes::new();
    attributes.insert("name".into(), json!(name));
    attributes.insert(
        "policy".into(),
        data.get("policy").cloned().filter(Value::is_string).unwrap_or(json!("")),
    );
    let expiration = data
        .get("expiration")
        .and_then(Value::as_str)
        .and_then(|text| text.parse::<jiff::Timestamp>().ok())
        .map_or(Value::Null, |end| json!(end.to_string()));
    attributes.insert("expiration".into(), expiration);
    attributes
}

/// `POST sys/policies/acl/NAME` (creates or replaces), then reads it back.
pub async fn write(
    ctx: &Context<'_>,
    name: &str,
    attributes: &Attributes,
) -> Result<Attributes, ProviderError> {
    let text = required(attributes, POLICY, "policy")?;
    let mut body = json!({ "policy": text });
    if let Some(end) = timestamp(attributes, POLICY, "expiration")? {
        if !ctx.server.policy_expiration {
            return Err(ProviderError::invalid(format!(
                "{POLICY} {name}: `expiration` needs OpenBao 2.3 or later, and the server is {}; \
                 leave it unset (access then ends with the revert alone)",
                ctx.server.name()
            )));
        }
        if end <= jiff::Timestamp::now() {
            return Err(ProviderError::invalid(format!(
                "{POLICY} {name}: `expiration` {end} has already passed"
            )));
        }
        body["expiration"] = json!(end.to_string());
    }
    ctx.client
        .write(&path(name), &body)
        .await
        .map_err(|e| e.context(format!("{POLICY} {name}")))?;
    read(ctx, name).await?.ok_or_else(|| {
        ProviderError::protocol(format!("{POLICY} {name}: written, but not found when read back"))
    })
}

/// `DELETE sys/policies/acl/NAME`.
pub async fn delete(ctx: &Context<'_>, name: &str) -> Result<(), ProviderError> {
    ctx.client.delete(&path(name)).await.map_err(|e| e.context(format!("{POLICY} {name}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_lower_case_and_root_is_not_managed() {
        let attrs =
            |name: &str| -> Attributes { serde_json::from_value(json!({ "name": name })).unwrap() };
        assert_eq!(id(&attrs("breakglass-admin")).unwrap(), "breakglass-admin");
        assert!(id(&attrs("Admin")).unwrap_err().message().contains("write \"admin\""));
        assert!(id(&attrs("root")).unwrap_err().message().contains("built in"));
        assert!(id(&Attributes::new()).unwrap_err().message().contains("`name` must be set"));
    }
}
