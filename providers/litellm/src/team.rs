//! `litellm_team`: an existing team's blocked flag.
//!
//! Endpoints (<https://docs.litellm.ai/docs/proxy/team_budgets>, and the proxy's own OpenAPI
//! description): `GET /team/info?team_id=…` (`{"team_id", "team_info": {…, "blocked"}}`),
//! `POST /team/block` and `POST /team/unblock` with `{"team_id"}`. Teams are made and removed
//! by their owners, not by breakglass: it adopts a team and stops managing it.

use breakglass_provider::{Attributes, ProviderError, Value};
use serde_json::json;
use std::collections::BTreeMap;

use crate::client::{AdminClient, Kind, field};
use crate::schema::TEAM;

/// The team id.
pub fn id(attributes: &Attributes) -> Result<String, ProviderError> {
    attributes
        .get("team_id")
        .and_then(Value::as_str)
        .filter(|id| !id.trim().is_empty())
        .map(str::to_owned)
        .ok_or_else(|| {
            ProviderError::invalid(format!("{TEAM}: `team_id` must be a non-empty string"))
        })
}

async fn find(client: &AdminClient, team_id: &str) -> Result<Option<Attributes>, ProviderError> {
    let call = "GET /team/info";
    let Some(answer) = client.get("/team/info", &[("team_id", team_id.to_owned())]).await? else {
        return Ok(None);
    };
    let info = field(&answer, "team_info", Kind::Object, call)?
        .and_then(Value::as_object)
        .ok_or_else(|| ProviderError::protocol(format!("litellm: {call}: `team_info` is null")))?;
    let id = field(info, "team_id", Kind::String, call)?.cloned().unwrap_or(Value::Null);
    if id.as_str() != Some(team_id) {
        return Err(ProviderError::protocol(format!(
            "litellm: {call}: asked for team {team_id}, the answer is about {id}"
        )));
    }
    Ok(Some(Attributes::from([
        ("team_id".to_owned(), id),
        (
            "blocked".to_owned(),
            field(info, "blocked", Kind::Bool, call)?.cloned().unwrap_or(Value::Bool(false)),
        ),
        (
            "team_alias".to_owned(),
            field(info, "team_alias", Kind::String, call)?.cloned().unwrap_or(Value::Null),
        ),
    ])))
}

/// Reads teams by id, one call each.
pub async fn read(
    client: &AdminClient,
    ids: &[String],
) -> Result<BTreeMap<String, Attributes>, ProviderError> {
    let mut objects = BTreeMap::new();
    for id in ids {
        if let Some(team) = find(client, id).await? {
            objects.insert(id.clone(), team);
        }
    }
    Ok(objects)
}

/// Adopts an existing team and sets its blocked flag.
pub async fn create(
    client: &AdminClient,
    team_id: &str,
    desired: &Attributes,
) -> Result<Attributes, ProviderError> {
    let Some(live) = find(client, team_id).await? else {
        return Err(ProviderError::not_found(format!(
            "{TEAM}: the team {team_id} does not exist on the proxy; breakglass blocks and unblocks \
             existing teams, it does not make them"
        )));
    };
    update(client, team_id, &live, desired).await
}

/// Blocks or unblocks the team.
pub async fn update(
    client: &AdminClient,
    team_id: &str,
    before: &Attributes,
    desired: &Attributes,
) -> Result<Attributes, ProviderError> {
    let Some(blocked) = desired.get("blocked").and_then(Value::as_bool) else {
        return Ok(before.clone());
    };
    if before.get("blocked").and_then(Value::as_bool) != Some(blocked) {
        let path = if blocked { "/team/block" } else { "/team/unblock" };
        client.post(path, &json!({ "team_id": team_id })).await?;
    }
    find(client, team_id).await?.ok_or_else(|| {
        ProviderError::not_found(format!("{TEAM}: the team {team_id} is gone from the proxy"))
    })
}
