//! `anthropic_api_key_status`: the status of an existing API key, the reversible kill switch.
//!
//! Endpoints (<https://platform.claude.com/docs/en/api/admin/api_keys>):
//! `GET /v1/organizations/api_keys/{api_key_id}` and `POST /v1/organizations/api_keys/{api_key_id}`
//! with `{"status": …}`. Keys are created and deleted in the Console only, so breakglass adopts an
//! existing key, never makes one, and stops managing it rather than deleting it.

use breakglass_provider::{Attributes, ProviderError, Value};
use serde_json::json;
use std::collections::BTreeMap;

use crate::api::ApiKey;
use crate::client::{AdminClient, segment};
use crate::provider::required_str;
use crate::schema::{API_KEY_STATUS, SETTABLE_STATUSES};

/// The key's id, after checking the declared status is one breakglass may set.
pub fn id(attributes: &Attributes) -> Result<String, ProviderError> {
    let key = segment("api_key_id", required_str(attributes, API_KEY_STATUS, "api_key_id")?)?;
    check_status(required_str(attributes, API_KEY_STATUS, "status")?)?;
    Ok(key.to_owned())
}

fn check_status(status: &str) -> Result<(), ProviderError> {
    match status {
        "archived" => Err(ProviderError::invalid(format!(
            "{API_KEY_STATUS}: `status` \"archived\" is refused: no API call can undo archiving a \
             key, and every change breakglass makes must be reversible. Use \"inactive\" to switch \
             the key off until it is made \"active\" again"
        ))),
        status if SETTABLE_STATUSES.contains(&status) => Ok(()),
        other => Err(ProviderError::invalid(format!(
            "{API_KEY_STATUS}: `status` \"{other}\" is not one of active, inactive"
        ))),
    }
}

fn path(id: &str) -> Result<String, ProviderError> {
    Ok(format!("/v1/organizations/api_keys/{}", segment("api_key_id", id)?))
}

/// The attributes of a live key.
pub fn attributes(key: &ApiKey) -> Attributes {
    let optional = |value: &Option<String>| value.clone().map_or(Value::Null, Value::String);
    Attributes::from([
        ("api_key_id".to_owned(), Value::String(key.id.clone())),
        ("status".to_owned(), Value::String(key.status.clone())),
        ("name".to_owned(), Value::String(key.name.clone())),
        ("workspace_id".to_owned(), optional(&key.workspace_id)),
        ("partial_key_hint".to_owned(), optional(&key.partial_key_hint)),
    ])
}

/// Reads keys by id, one call each.
pub async fn read(
    client: &AdminClient,
    ids: &[String],
) -> Result<BTreeMap<String, Attributes>, ProviderError> {
    let mut found = BTreeMap::new();
    for id in ids {
        if let Some(key) = client.get::<ApiKey>(&path(id)?).await? {
            found.insert(id.clone(), attributes(&key));
        }
    }
    Ok(found)
}

/// Adopts an existing key and sets its status.
pub async fn create(
    client: &AdminClient,
    id: &str,
    desired: &Attributes,
) -> Result<Attributes, ProviderError> {
    let Some(key) = client.get::<ApiKey>(&path(id)?).await? else {
        return Err(ProviderError::not_found(format!(
            "{API_KEY_STATUS}: the API key {id} does not exist in this organization; breakglass \
             manages the status of keys made in the Console, it does not make keys"
        )));
    };
    let status = required_str(desired, API_KEY_STATUS, "status")?;
    if key.status == status {
        return Ok(attributes(&key));
    }
    set_status(client, id, &key.status, status).await
}

/// Sets the key's status.
pub async fn update(
    client: &AdminClient,
    id: &str,
    before: &Attributes,
    desired: &Attributes,
) -> Result<Attributes, ProviderError> {
    let status = required_str(desired, API_KEY_STATUS, "status")?;
    let live = before.get("status").and_then(Value::as_str).unwrap_or_default();
    set_status(client, id, live, status).await
}

async fn set_status(
    client: &AdminClient,
    id: &str,
    live: &str,
    status: &str,
) -> Result<Attributes, ProviderError> {
    check_status(status)?;
    if matches!(live, "archived" | "expired") {
        return Err(ProviderError::invalid(format!(
            "{API_KEY_STATUS} {id}: the key is {live}; it cannot be made {status} again"
        )));
    }
    let key: ApiKey = client.post(&path(id)?, &json!({ "status": status })).await?;
    if key.status != status {
        return Err(ProviderError::protocol(format!(
            "{API_KEY_STATUS} {id}: the API accepted status \"{status}\" but answered with \
             \"{}\"",
            key.status
        )));
    }
    Ok(attributes(&key))
}

#[cfg(test)]
mod tests {
    use super::*;
    use breakglass_provider::ErrorKind;

    fn declared(status: &str) -> Attributes {
        Attributes::from([
            ("api_key_id".to_owned(), json!("apikey_chatbot")),
            ("status".to_owned(), json!(status)),
        ])
    }

    #[test]
    fn archived_is_refused_as_irreversible_and_unknown_statuses_too() {
        assert_eq!(id(&declared("inactive")).unwrap(), "apikey_chatbot");
        assert_eq!(id(&declared("active")).unwrap(), "apikey_chatbot");
        let error = id(&declared("archived")).unwrap_err();
        assert_eq!(error.kind(), ErrorKind::Invalid);
        assert!(error.message().contains("can undo archiving"), "{error}");
        assert!(error.message().contains("\"inactive\""), "{error}");
        assert!(id(&declared("off")).unwrap_err().message().contains("active, inactive"));
    }
}
