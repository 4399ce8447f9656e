//! `openai_project_rate_limit`: a project's rate limit for one model.
//!
//! Endpoints (Administration API, "Project rate limits"):
//! `GET /organization/projects/{project_id}/rate_limits` (list with `limit`/`after`) and
//! `POST /organization/projects/{project_id}/rate_limits/{rate_limit_id}` (change limits).
//!
//! OpenAI keeps one rate limit per model a project can use and offers no way to create or
//! delete one, nor to read one by id. So the natural id is `PROJECT_ID/MODEL` (what a policy
//! author knows), a read lists the project's limits once for all the ids asked about, and the
//! `rate_limit_id` the update needs is taken from the live object.
//!
//! An update sends exactly the limits whose desired value differs from the live one, no more:
//! for an override's revert these are the values the engine read before the override, so the
//! revert writes back exactly what was there, and a limit someone else changed meanwhile (which
//! the engine leaves as it is, as a conflict) is not written at all. The answer is checked: a
//! limit OpenAI kept at another value (above the organization's own limit, say) is an error,
//! not a silent success.

use breakglass_provider::{Attributes, ErrorKind, ProviderError, Value};
use std::collections::{BTreeMap, BTreeSet};

use crate::api::ProjectRateLimit;
use crate::attributes::{collect, id_part, split_id, whole_number};
use crate::client::Api;
use crate::pages::all_pages;
use crate::schema::{LIMITS, RATE_LIMIT};

/// `PROJECT_ID/MODEL`, after checking the declared attributes.
pub fn id(attributes: &Attributes) -> Result<String, ProviderError> {
    let project = id_part(attributes, RATE_LIMIT, "project_id")?;
    let model =
        attributes.get("model").and_then(Value::as_str).filter(|m| !m.is_empty()).ok_or_else(
            || ProviderError::invalid(format!("{RATE_LIMIT}: `model` must be set to a model name")),
        )?;
    for limit in LIMITS {
        whole_number(attributes, RATE_LIMIT, limit)?;
    }
    Ok(format!("{project}/{model}"))
}

fn attributes(project: &str, limit: &ProjectRateLimit) -> Attributes {
    let mut attributes = collect([
        ("project_id", Some(Value::from(project))),
        ("model", Some(Value::from(limit.model.as_str()))),
        ("rate_limit_id", Some(Value::from(limit.id.as_str()))),
    ]);
    for name in LIMITS {
        if let Some(value) = limit.limit(name) {
            attributes.insert(name.into(), Value::from(value));
        }
    }
    attributes
}

/// Every rate limit of `project`, and the pages it took.
async fn list_project(
    api: &Api,
    project: &str,
) -> Result<(Vec<ProjectRateLimit>, u64), ProviderError> {
    let what = format!("GET /organization/projects/{project}/rate_limits");
    all_pages(&what, |after| {
        let mut query = vec![("limit", api.page_size().to_string())];
        query.extend(after.map(|after| ("after", after)));
        async move { api.get(&["organization", "projects", project, "rate_limits"], &query).await }
    })
    .await
}

/// Reads rate limits by id, listing each project once; ids not found are left out. A project
/// that does not exist has no rate limits.
pub async fn read(
    api: &Api,
    ids: &[String],
) -> Result<(BTreeMap<String, Attributes>, u64), ProviderError> {
    let mut wanted: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    for id in ids {
        let (project, model) = split_id(RATE_LIMIT, id)?;
        wanted.entry(project).or_default().insert(model);
    }
    let mut objects = BTreeMap::new();
    let mut calls = 0;
    for (project, models) in wanted {
        let limits = match list_project(api, project).await {
            Ok((limits, pages)) => {
                calls += pages;
                limits
            }
            Err(error) if error.kind() == ErrorKind::NotFound => {
                calls += 1;
                continue;
            }
            Err(error) => return Err(error),
        };
        for limit in limits.iter().filter(|l| models.contains(l.model.as_str())) {
            objects.insert(format!("{project}/{}", limit.model), attributes(project, limit));
        }
    }
    Ok((objects, calls))
}

/// The limits to send: those `after` holds that differ from `before` (all of them when the
/// live values are not known).
fn body(
    before: Option<&Attributes>,
    after: &Attributes,
) -> Result<BTreeMap<&'static str, i64>, ProviderError> {
    let mut body = BTreeMap::new();
    for name in LIMITS {
        let Some(value) = whole_number(after, RATE_LIMIT, name)? else { continue };
        let live = before.and_then(|b| b.get(name)).and_then(crate::attributes::as_whole);
        if live != Some(value) {
            body.insert(name, value);
        }
    }
    Ok(body)
}

/// Sets the limits `after` holds on the rate limit `id`; `before` is the live object (its
/// `rate_limit_id` is used), or `None` to look it up.
pub async fn update(
    api: &Api,
    id: &str,
    before: Option<&Attributes>,
    after: &Attributes,
) -> Result<Attributes, ProviderError> {
    let (project, model) = split_id(RATE_LIMIT, id)?;
    let known =
        before.and_then(|b| b.get("rate_limit_id")).and_then(Value::as_str).map(str::to_owned);
    let rate_limit_id = match known {
        Some(known) => known,
        None => find(api, project, model).await?.id,
    };
    let body = body(before, after)?;
    if body.is_empty()
        && let Some(before) = before
    {
        return Ok(before.clone());
    }
    let updated: ProjectRateLimit = api
        .post(&["organization", "projects", project, "rate_limits", &rate_limit_id], &body)
        .await?;
    if updated.model != model {
        return Err(ProviderError::protocol(format!(
            "openai: updated rate limit {rate_limit_id} of {project} expecting model {model}, \
             but OpenAI answered for model {}",
            updated.model
        )));
    }
    let kept: Vec<String> = body
        .iter()
        .filter(|(name, value)| updated.limit(name) != Some(**value))
        .map(|(name, value)| {
            let now = updated.limit(name).map_or_else(|| "nothing".to_owned(), |v| v.to_string());
            format!("{name}: asked {value}, OpenAI kept {now}")
        })
        .collect();
    if !kept.is_empty() {
        return Err(ProviderError::invalid(format!(
            "openai: the rate limit of {model} in {project} did not take the values asked \
             ({}); a project limit cannot exceed the organization's limit for the model",
            kept.join("; ")
        )));
    }
    Ok(attributes(project, &updated))
}

async fn find(api: &Api, project: &str, model: &str) -> Result<ProjectRateLimit, ProviderError> {
    let (limits, _) = list_project(api, project).await?;
    let models: Vec<String> = limits.iter().map(|l| l.model.clone()).collect();
    limits.into_iter().find(|l| l.model == model).ok_or_else(|| {
        ProviderError::not_found(format!(
            "openai: project {project} has no rate limit for model {model:?}; OpenAI keeps one \
             per model the project can use, and breakglass cannot create one. Models with a \
             limit: {}",
            if models.is_empty() { "none".to_owned() } else { models.join(", ") }
        ))
    })
}

/// A rate limit that was not found when planned: it exists after all (set its limits), or it
/// cannot be made.
pub async fn create(api: &Api, id: &str, wanted: &Attributes) -> Result<Attributes, ProviderError> {
    update(api, id, None, wanted).await
}

/// What deleting means for a rate limit, which OpenAI cannot delete: forgetting it, leaving its
/// values as they are, for a resource taken out of the policy. Taking back a role's change
/// this way would leave the raised limits in place, so that is refused.
pub fn delete(id: &str, revert: bool) -> Result<Vec<String>, ProviderError> {
    if revert {
        return Err(ProviderError::invalid(format!(
            "openai: {RATE_LIMIT} {id} cannot be taken back by deleting it: OpenAI cannot \
             delete a rate limit, so the raised values would stay. Change rate limits with an \
             `override`, whose revert writes back the values read before, not in a `role`"
        )));
    }
    Ok(vec![format!(
        "{id}: OpenAI cannot delete a rate limit; it keeps its current values and is no longer \
         managed"
    )])
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_id_is_project_and_model_and_limits_are_whole_numbers() {
        let declared: Attributes = serde_json::from_value(json!({
            "project_id": "proj_1", "model": "gpt-4o", "max_requests_per_1_minute": 500
        }))
        .unwrap();
        assert_eq!(id(&declared).unwrap(), "proj_1/gpt-4o");
        let mut wrong = declared.clone();
        wrong.insert("max_tokens_per_1_minute".into(), json!(1.5));
        assert!(id(&wrong).unwrap_err().message().contains("max_tokens_per_1_minute"));
    }

    #[test]
    fn the_body_holds_exactly_the_limits_that_change() {
        let after: Attributes = serde_json::from_value(json!({
            "project_id": "proj_1", "model": "gpt-4o", "rate_limit_id": "rl-x",
            "max_requests_per_1_minute": 500, "max_tokens_per_1_minute": 30000.0,
            "max_images_per_1_minute": null
        }))
        .unwrap();
        let all = body(None, &after).unwrap();
        assert_eq!(
            serde_json::to_value(&all).unwrap(),
            json!({"max_requests_per_1_minute": 500, "max_tokens_per_1_minute": 30000})
        );
        let live: Attributes = serde_json::from_value(json!({
            "max_requests_per_1_minute": 500, "max_tokens_per_1_minute": 10000
        }))
        .unwrap();
        let changed = body(Some(&live), &after).unwrap();
        assert_eq!(
            serde_json::to_value(&changed).unwrap(),
            json!({"max_tokens_per_1_minute": 30000})
        );
    }

    #[test]
    fn deleting_forgets_but_a_revert_is_refused() {
        let notes = delete("proj_1/gpt-4o", false).unwrap();
        assert!(notes[0].contains("keeps its current values"), "{notes:?}");
        let error = delete("proj_1/gpt-4o", true).unwrap_err();
        assert!(error.message().contains("`override`"), "{error}");
    }
}
