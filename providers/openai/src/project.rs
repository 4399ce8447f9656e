//! `openai_project`: a project that exists, adopted by its id.
//!
//! Endpoints (Administration API, "Projects"): `GET|POST /organization/projects/{project_id}`
//! (retrieve; change the name).
//!
//! breakglass keeps a project's name and reads its status, and that is all. It does not create
//! projects (their ids are OpenAI's to assign, so a create could not be retried safely), and it
//! never archives one: an archived project cannot be brought back and its API keys stop
//! working, so no plan, override or revert may do it. Deleting the resource is refused with
//! that reason.

use breakglass_provider::{Attributes, ErrorKind, ProviderError, Value};
use std::collections::BTreeMap;

use crate::api::{Project, ProjectUpdate};
use crate::attributes::{collect, id_part};
use crate::client::Api;
use crate::schema::PROJECT;

/// The project id, after checking the declared attributes.
pub fn id(attributes: &Attributes) -> Result<String, ProviderError> {
    if let Some(name) = attributes.get("name").filter(|n| !n.is_null())
        && !name.is_string()
    {
        return Err(ProviderError::invalid(format!("{PROJECT}: `name` must be a string")));
    }
    Ok(id_part(attributes, PROJECT, "project_id")?.to_owned())
}

fn attributes(project: &Project) -> Attributes {
    collect([
        ("project_id", Some(Value::from(project.id.as_str()))),
        ("name", Some(project.name.clone().map_or(Value::Null, Value::from))),
        ("status", Some(project.status.clone().map_or(Value::Null, Value::from))),
    ])
}

async fn get(api: &Api, project: &str) -> Result<Option<Project>, ProviderError> {
    match api.get(&["organization", "projects", project], &[]).await {
        Ok(found) => Ok(Some(found)),
        Err(error) if error.kind() == ErrorKind::NotFound => Ok(None),
        Err(error) => Err(error),
    }
}

/// Reads projects by id; ids not found are left out.
pub async fn read(
    api: &Api,
    ids: &[String],
) -> Result<(BTreeMap<String, Attributes>, u64), ProviderError> {
    let mut objects = BTreeMap::new();
    for project in ids {
        if let Some(found) = get(api, project).await? {
            objects.insert(project.clone(), attributes(&found));
        }
    }
    Ok((objects, ids.len() as u64))
}

/// Sets the name `after` holds, if any.
pub async fn update(
    api: &Api,
    project: &str,
    after: &Attributes,
) -> Result<Attributes, ProviderError> {
    let Some(name) = after.get("name").and_then(Value::as_str) else {
        return match get(api, project).await? {
            Some(found) => Ok(attributes(&found)),
            None => Err(missing(project)),
        };
    };
    let updated: Project =
        api.post(&["organization", "projects", project], &ProjectUpdate { name }).await?;
    Ok(attributes(&updated))
}

/// A project found after all is adopted; one that does not exist cannot be made.
pub async fn create(
    api: &Api,
    project: &str,
    wanted: &Attributes,
) -> Result<Attributes, ProviderError> {
    match get(api, project).await? {
        Some(_) => update(api, project, wanted).await,
        None => Err(missing(project)),
    }
}

fn missing(project: &str) -> ProviderError {
    ProviderError::not_found(format!(
        "openai: project {project} does not exist, or the admin key cannot see it. breakglass \
         adopts existing projects by id and never creates one: create it in the OpenAI \
         dashboard, or correct `project_id`"
    ))
}

/// Refused, always: deleting a project means archiving it, which cannot be undone.
pub fn delete(project: &str) -> ProviderError {
    ProviderError::invalid(format!(
        "openai: breakglass never archives a project: archiving {project} cannot be undone (its \
         API keys stop working and it cannot be restored). Keep the {PROJECT} block to keep \
         managing its name, or archive the project yourself in the OpenAI dashboard"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_id_is_the_project_id() {
        let declared: Attributes =
            serde_json::from_value(json!({"project_id": "proj_1", "name": "Chatbot"})).unwrap();
        assert_eq!(id(&declared).unwrap(), "proj_1");
        let wrong: Attributes =
            serde_json::from_value(json!({"project_id": "proj_1", "name": 3})).unwrap();
        assert!(id(&wrong).is_err());
    }

    #[test]
    fn deleting_is_refused_with_the_reason() {
        let error = delete("proj_1");
        assert_eq!(error.kind(), ErrorKind::Invalid);
        assert!(error.message().contains("never archives"), "{error}");
        assert!(error.message().contains("cannot be undone"), "{error}");
    }
}
