//! `litellm_key`: a virtual key, known by its alias.
//!
//! Endpoints (<https://docs.litellm.ai/docs/proxy/virtual_keys>, and the proxy's own OpenAPI
//! description served at `/openapi.json`): `GET /key/list` (filtered by `key_alias`, with
//! `return_full_object=true`), `POST /key/generate`, `POST /key/update`, `POST /key/delete`,
//! `POST /key/block` and `POST /key/unblock`.

use breakglass_provider::{ActivationContext, Attributes, ErrorKind, ProviderError, Value};
use jiff::{Timestamp, Unit};
use serde_json::json;
use std::collections::BTreeMap;

use crate::client::{AdminClient, Kind, Object, field};
use crate::schema::KEY;

/// How far apart a declared and a live expiry may be and still mean the same: LiteLLM counts
/// the duration from when the request arrives.
const EXPIRY_TOLERANCE_SECONDS: i64 = 120;

/// Attributes written through `/key/update`, each with its JSON kind.
const LIMITS: [(&str, Kind); 5] = [
    ("models", Kind::Strings),
    ("max_budget", Kind::Number),
    ("rpm_limit", Kind::Integer),
    ("tpm_limit", Kind::Integer),
    ("team_id", Kind::String),
];

/// The alias, after checking the declared values are ones LiteLLM accepts.
pub fn id(attributes: &Attributes) -> Result<String, ProviderError> {
    let alias = attributes.get("key_alias").and_then(Value::as_str).unwrap_or_default();
    if alias.trim().is_empty() {
        return Err(ProviderError::invalid(format!(
            "{KEY}: `key_alias` must be a non-empty string"
        )));
    }
    for name in ["rpm_limit", "tpm_limit"] {
        if let Some(value) = attributes.get(name).filter(|v| !v.is_null())
            && value.as_u64().is_none()
        {
            return Err(ProviderError::invalid(format!(
                "{KEY} {alias}: `{name}` must be a whole number of 0 or more, got {value}"
            )));
        }
    }
    if let Some(value) = attributes.get("max_budget").filter(|v| !v.is_null())
        && value.as_f64().is_none_or(|budget| budget < 0.0)
    {
        return Err(ProviderError::invalid(format!(
            "{KEY} {alias}: `max_budget` must be a number of 0 or more, got {value}"
        )));
    }
    if let Some(at) = attributes.get("expires_at").and_then(Value::as_str) {
        parse_time(at).ok_or_else(|| {
            ProviderError::invalid(format!(
                "{KEY} {alias}: `expires_at` must be an RFC 3339 time such as \
                 2031-01-15T17:00:00Z, got \"{at}\""
            ))
        })?;
    }
    Ok(alias.to_owned())
}

/// `2031-01-15T17:00:00Z`, `…+00:00`, or LiteLLM's offset-less `2031-01-15T17:00:00.123456`
/// (UTC).
pub fn parse_time(text: &str) -> Option<Timestamp> {
    text.parse::<Timestamp>().ok().or_else(|| format!("{text}Z").parse::<Timestamp>().ok())
}

/// Whether two expiries mean the same.
pub fn same_expiry(desired: &Value, live: &Value) -> bool {
    match (desired.as_str().and_then(parse_time), live.as_str().and_then(parse_time)) {
        (Some(a), Some(b)) => (a.as_second() - b.as_second()).abs() <= EXPIRY_TOLERANCE_SECONDS,
        _ => desired == live,
    }
}

/// A key as listed, with its token apart.
struct LiveKey {
    token: String,
    attributes: Attributes,
}

fn parse_key(object: &Object, call: &str) -> Result<LiveKey, ProviderError> {
    let get = |name, kind| field(object, name, kind, call).map(|value| value.cloned());
    let token = get("token", Kind::String)?
        .and_then(|token| token.as_str().map(str::to_owned))
        .ok_or_else(|| ProviderError::protocol(format!("litellm: {call}: a key has no token")))?;
    let expires = match get("expires", Kind::String)? {
        None => Value::Null,
        Some(text) => {
            let text = text.as_str().unwrap_or_default();
            let at = parse_time(text).ok_or_else(|| {
                ProviderError::protocol(format!(
                    "litellm: {call}: `expires` \"{text}\" is not a time"
                ))
            })?;
            let at = at.round(Unit::Second).unwrap_or(at);
            Value::String(at.to_string())
        }
    };
    let mut attributes = Attributes::from([
        ("key_alias".to_owned(), get("key_alias", Kind::String)?.unwrap_or(Value::Null)),
        ("models".to_owned(), get("models", Kind::Strings)?.unwrap_or_else(|| json!([]))),
        // Never blocked is `null` in LiteLLM.
        ("blocked".to_owned(), get("blocked", Kind::Bool)?.unwrap_or(Value::Bool(false))),
        ("expires_at".to_owned(), expires),
        ("token".to_owned(), Value::String(token.clone())),
    ]);
    for (name, kind) in LIMITS.iter().skip(1) {
        attributes.insert((*name).into(), get(name, *kind)?.unwrap_or(Value::Null));
    }
    Ok(LiveKey { token, attributes })
}

/// The key with this alias, if any.
async fn find(client: &AdminClient, alias: &str) -> Result<Option<LiveKey>, ProviderError> {
    let call = "GET /key/list";
    let query = [
        ("key_alias", alias.to_owned()),
        ("return_full_object", "true".to_owned()),
        ("page", "1".to_owned()),
        ("size", "100".to_owned()),
    ];
    let Some(page) = client.get("/key/list", &query).await? else {
        return Err(ProviderError::protocol(format!(
            "litellm: {call} answered 404: is `base_url` the proxy's address, and does the proxy \
             have a database (key management needs one)?"
        )));
    };
    let keys = page.get("keys").and_then(Value::as_array).ok_or_else(|| {
        ProviderError::protocol(format!("litellm: {call}: the answer has no `keys` list"))
    })?;
    let mut found = Vec::new();
    for key in keys {
        let object = key.as_object().ok_or_else(|| {
            ProviderError::protocol(format!(
                "litellm: {call}: asked for full key objects, got {}",
                if key.is_string() { "a string" } else { "something else" }
            ))
        })?;
        let live = parse_key(object, call)?;
        if live.attributes.get("key_alias").and_then(Value::as_str) == Some(alias) {
            found.push(live);
        }
    }
    if found.len() > 1 {
        return Err(ProviderError::invalid(format!(
            "{KEY} {alias}: {} keys share this alias on the proxy; breakglass knows keys by alias, \
             so give them distinct aliases",
            found.len()
        )));
    }
    Ok(found.pop())
}

/// Reads keys by alias, one call each.
pub async fn read(
    client: &AdminClient,
    aliases: &[String],
) -> Result<BTreeMap<String, Attributes>, ProviderError> {
    let mut objects = BTreeMap::new();
    for alias in aliases {
        if let Some(key) = find(client, alias).await? {
            objects.insert(alias.clone(), key.attributes);
        }
    }
    Ok(objects)
}

/// `duration` in seconds until `expires_at`, as LiteLLM reads it (`"5400s"`).
fn duration_until(alias: &str, expires_at: &str, now: Timestamp) -> Result<String, ProviderError> {
    let at = parse_time(expires_at).ok_or_else(|| {
        ProviderError::invalid(format!(
            "{KEY} {alias}: `expires_at` \"{expires_at}\" is not a time"
        ))
    })?;
    let seconds = at.as_second() - now.as_second();
    if seconds <= 0 {
        return Err(ProviderError::invalid(format!(
            "{KEY} {alias}: `expires_at` {expires_at} has passed; a key cannot be made to expire \
             in the past"
        )));
    }
    Ok(format!("{seconds}s"))
}

/// Makes the key. Within an activation it always gets an expiry (the activation's end unless the
/// template set an earlier one). A retry that finds the alias taken converges on the key there.
pub async fn create(
    client: &AdminClient,
    alias: &str,
    desired: &Attributes,
    activation: Option<&ActivationContext>,
) -> Result<Attributes, ProviderError> {
    let mut body = json!({ "key_alias": alias, "metadata": { "managed_by": "breakglass" } });
    for (name, _) in LIMITS.iter().chain([&("blocked", Kind::Bool)]) {
        if let Some(value) = desired.get(*name).filter(|v| !v.is_null()) {
            body[*name] = value.clone();
        }
    }
    let mut expires_at = desired.get("expires_at").and_then(Value::as_str).map(str::to_owned);
    if let Some(activation) = activation {
        body["metadata"]["breakglass_activation"] = json!(activation.id);
        let end = activation.end.to_string();
        let earlier =
            expires_at.as_deref().and_then(parse_time).is_some_and(|at| at < activation.end);
        if !earlier {
            expires_at = Some(end);
        }
    }
    if let Some(at) = &expires_at {
        body["duration"] = json!(duration_until(alias, at, Timestamp::now())?);
    }
    match client.post("/key/generate", &body).await {
        Ok(answer) => {
            // The answer holds the secret key: only check it is a key, keep nothing of it.
            field(&answer, "token", Kind::String, "POST /key/generate")?.ok_or_else(|| {
                ProviderError::protocol("litellm: POST /key/generate: the answer has no token")
            })?;
        }
        Err(error) if error.kind() == ErrorKind::Invalid => {
            // The alias is taken: a retried create, or a key made meanwhile.
            let Some(existing) = find(client, alias).await? else { return Err(error) };
            let mut wanted = desired.clone();
            if let Some(at) = expires_at {
                wanted.insert("expires_at".into(), Value::String(at));
            }
            return update(client, alias, &existing.attributes, &wanted).await;
        }
        Err(error) => return Err(error),
    }
    reread(client, alias, "generated").await
}

async fn reread(
    client: &AdminClient,
    alias: &str,
    what: &str,
) -> Result<Attributes, ProviderError> {
    find(client, alias).await?.map(|key| key.attributes).ok_or_else(|| {
        ProviderError::protocol(format!(
            "{KEY} {alias}: the proxy {what} the key but does not list it under its alias"
        ))
    })
}

/// Changes the key in place: blocking through `/key/block` and `/key/unblock`, the rest through
/// `/key/update`.
pub async fn update(
    client: &AdminClient,
    alias: &str,
    before: &Attributes,
    desired: &Attributes,
) -> Result<Attributes, ProviderError> {
    let token = match before.get("token").and_then(Value::as_str) {
        Some(token) => token.to_owned(),
        None => match find(client, alias).await? {
            Some(key) => key.token,
            None => {
                return Err(ProviderError::not_found(format!(
                    "{KEY} {alias}: no key has this alias on the proxy"
                )));
            }
        },
    };
    let mut body = serde_json::Map::new();
    for (name, _) in LIMITS {
        if let Some(value) = desired.get(name)
            && !same_value(value, before.get(name).unwrap_or(&Value::Null))
        {
            body.insert(name.to_owned(), value.clone());
        }
    }
    if let Some(wanted) = desired.get("expires_at") {
        let live = before.get("expires_at").unwrap_or(&Value::Null);
        match wanted.as_str() {
            Some(at) if !same_expiry(wanted, live) => {
                body.insert(
                    "duration".to_owned(),
                    json!(duration_until(alias, at, Timestamp::now())?),
                );
            }
            None if !live.is_null() => {
                return Err(ProviderError::invalid(format!(
                    "{KEY} {alias}: LiteLLM cannot take an expiry off a key; declare \
                     `expires_at` or remove the key"
                )));
            }
            _ => {}
        }
    }
    if !body.is_empty() {
        body.insert("key".to_owned(), Value::String(token.clone()));
        client.post("/key/update", &Value::Object(body)).await?;
    }
    if let Some(blocked) = desired.get("blocked").and_then(Value::as_bool)
        && before.get("blocked").and_then(Value::as_bool) != Some(blocked)
    {
        let path = if blocked { "/key/block" } else { "/key/unblock" };
        client.post(path, &json!({ "key": token })).await?;
    }
    reread(client, alias, "updated").await
}

/// Deletes the key; one already gone is success.
pub async fn delete(
    client: &AdminClient,
    alias: &str,
    before: &Attributes,
) -> Result<(), ProviderError> {
    let body = match before.get("token").and_then(Value::as_str) {
        Some(token) => json!({ "keys": [token] }),
        None => json!({ "key_aliases": [alias] }),
    };
    match client.post("/key/delete", &body).await {
        Ok(_) => Ok(()),
        Err(error) if matches!(error.kind(), ErrorKind::NotFound | ErrorKind::Invalid) => {
            match find(client, alias).await? {
                None => Ok(()),
                Some(_) => Err(error),
            }
        }
        Err(error) => Err(error),
    }
}

/// Whether two values of a limit mean the same: numbers by value (`10` is `10.0`), model lists
/// as sets.
pub fn same_value(desired: &Value, live: &Value) -> bool {
    match (desired, live) {
        (Value::Number(a), Value::Number(b)) => a.as_f64() == b.as_f64(),
        (Value::Array(a), Value::Array(b)) => {
            let mut a: Vec<String> = a.iter().map(Value::to_string).collect();
            let mut b: Vec<String> = b.iter().map(Value::to_string).collect();
            a.sort();
            a.dedup();
            b.sort();
            b.dedup();
            a == b
        }
        _ => desired == live,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn declared_values_are_checked_at_plan_time() {
        let key = |pairs: &[(&str, Value)]| -> Attributes {
            pairs.iter().map(|(k, v)| ((*k).to_owned(), v.clone())).collect()
        };
        assert_eq!(id(&key(&[("key_alias", json!("ir-alice"))])).unwrap(), "ir-alice");
        let bad = [
            key(&[("key_alias", json!(""))]),
            key(&[("key_alias", json!("a")), ("rpm_limit", json!(1.5))]),
            key(&[("key_alias", json!("a")), ("tpm_limit", json!(-1))]),
            key(&[("key_alias", json!("a")), ("max_budget", json!(-2))]),
            key(&[("key_alias", json!("a")), ("expires_at", json!("tomorrow"))]),
        ];
        for attributes in bad {
            assert_eq!(id(&attributes).unwrap_err().kind(), ErrorKind::Invalid, "{attributes:?}");
        }
    }

    #[test]
    fn expiry_is_sent_as_seconds_from_now_and_compared_with_tolerance() {
        let now: Timestamp = "2031-01-15T15:30:00Z".parse().unwrap();
        assert_eq!(duration_until("k", "2031-01-15T17:00:00Z", now).unwrap(), "5400s");
        assert!(duration_until("k", "2031-01-15T15:00:00Z", now).is_err());
        assert!(same_expiry(&json!("2031-01-15T17:00:00Z"), &json!("2031-01-15T17:00:41Z")));
        assert!(same_expiry(&json!("2031-01-15T17:00:00Z"), &json!("2031-01-15T17:00:00.5+00:00")));
        assert!(!same_expiry(&json!("2031-01-15T17:00:00Z"), &json!("2031-01-15T17:05:00Z")));
        assert_eq!(
            parse_time("2031-01-15T17:00:00.123456").unwrap().to_string(),
            "2031-01-15T17:00:00.123456Z"
        );
    }

    #[test]
    fn limits_compare_by_value() {
        assert!(same_value(&json!(10), &json!(10.0)));
        assert!(same_value(&json!(["b", "a"]), &json!(["a", "b"])));
        assert!(!same_value(&json!(["a"]), &json!(["a", "b"])));
        assert!(!same_value(&json!(10), &json!(11)));
    }

    #[test]
    fn a_listed_key_decodes_strictly_and_keeps_no_secret() {
        let object: Object = serde_json::from_value(json!({
            "token": "8f3c…", "key_alias": "ir-alice", "models": ["gpt-4o"], "max_budget": 5.0,
            "rpm_limit": 60, "tpm_limit": null, "team_id": null, "blocked": null,
            "expires": "2031-01-15T17:00:00.400000+00:00", "spend": 0.0
        }))
        .unwrap();
        let live = parse_key(&object, "GET /key/list").unwrap();
        assert_eq!(live.attributes["expires_at"], json!("2031-01-15T17:00:00Z"));
        assert_eq!(live.attributes["blocked"], json!(false));
        assert_eq!(live.attributes["token"], json!("8f3c…"));
        let mut missing = object.clone();
        missing.remove("models");
        assert!(parse_key(&missing, "GET /key/list").is_err());
        let mut wrong = object;
        wrong.insert("rpm_limit".into(), json!("sixty"));
        assert!(parse_key(&wrong, "GET /key/list").is_err());
    }
}
