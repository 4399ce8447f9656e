//! `openai_project_model_permissions`: which models a project may use.
//!
//! Endpoints (Administration API, "Projects"):
//! `GET|POST|DELETE /organization/projects/{project_id}/model_permissions` (read; replace with
//! a `mode` and `model_ids`; remove). One policy per project, so the id is the project id.
//!
//! A `deny_list` denies the models listed and allows the rest; an `allow_list` allows only the
//! models listed (an empty allow list allows none: the strongest kill switch). An override
//! that denies a model in an incident is reverted by writing back the mode and list read
//! before. The published description does not say what a project with no policy answers; an
//! empty deny list (restricting nothing) and a 404 are both read correctly.

use breakglass_provider::{Attributes, ErrorKind, ProviderError, Value};
use std::collections::{BTreeMap, BTreeSet};

use crate::api::{ModelPermissions, ModelPermissionsDeleted, ModelPermissionsUpdate};
use crate::attributes::{collect, id_part, one_of, strings};
use crate::client::Api;
use crate::schema::{MODEL_PERMISSIONS, MODES};

/// The project id, after checking the declared attributes.
pub fn id(attributes: &Attributes) -> Result<String, ProviderError> {
    let project = id_part(attributes, MODEL_PERMISSIONS, "project_id")?;
    one_of(attributes, MODEL_PERMISSIONS, "mode", &MODES)?;
    strings(attributes, MODEL_PERMISSIONS, "model_ids")?;
    Ok(project.to_owned())
}

fn attributes(project: &str, permissions: &ModelPermissions) -> Attributes {
    collect([
        ("project_id", Some(Value::from(project))),
        ("mode", Some(Value::from(permissions.mode.as_str()))),
        ("model_ids", Some(Value::from(permissions.model_ids.clone()))),
    ])
}

fn path(project: &str) -> [&str; 4] {
    ["organization", "projects", project, "model_permissions"]
}

/// Reads the policies of the projects asked about; a project not found is left out.
pub async fn read(
    api: &Api,
    ids: &[String],
) -> Result<(BTreeMap<String, Attributes>, u64), ProviderError> {
    let mut objects = BTreeMap::new();
    for project in ids {
        match api.get::<ModelPermissions>(&path(project), &[]).await {
            Ok(found) => {
                check_mode(&found, project)?;
                objects.insert(project.clone(), attributes(project, &found));
            }
            Err(error) if error.kind() == ErrorKind::NotFound => {}
            Err(error) => return Err(error),
        }
    }
    Ok((objects, ids.len() as u64))
}

fn check_mode(permissions: &ModelPermissions, project: &str) -> Result<(), ProviderError> {
    if MODES.contains(&permissions.mode.as_str()) {
        Ok(())
    } else {
        Err(ProviderError::protocol(format!(
            "openai: model permissions of {project}: mode `{}` is neither allow_list nor \
             deny_list",
            permissions.mode
        )))
    }
}

/// Replaces the project's policy with the mode and models of `wanted`.
pub async fn put(
    api: &Api,
    project: &str,
    wanted: &Attributes,
) -> Result<Attributes, ProviderError> {
    let mode = one_of(wanted, MODEL_PERMISSIONS, "mode", &MODES)?;
    let model_ids = strings(wanted, MODEL_PERMISSIONS, "model_ids")?;
    let stored: ModelPermissions =
        api.post(&path(project), &ModelPermissionsUpdate { mode, model_ids: &model_ids }).await?;
    check_mode(&stored, project)?;
    let asked: BTreeSet<&String> = model_ids.iter().collect();
    if stored.mode != mode || stored.model_ids.iter().collect::<BTreeSet<_>>() != asked {
        return Err(ProviderError::protocol(format!(
            "openai: set the model permissions of {project} to {mode} {model_ids:?}, but OpenAI \
             answered {} {:?}",
            stored.mode, stored.model_ids
        )));
    }
    Ok(attributes(project, &stored))
}

/// Removes the project's policy (every model allowed again); none there is success.
pub async fn delete(api: &Api, project: &str, revert: bool) -> Result<(), ProviderError> {
    if revert {
        // Deleting widens access to every model; what a role set is taken back by an override.
        return Err(ProviderError::invalid(format!(
            "openai: {MODEL_PERMISSIONS} {project} cannot be taken back by deleting it, which \
             would allow every model. Change model permissions with an `override`, whose revert \
             writes back the policy read before, not in a `role`"
        )));
    }
    match api.delete::<ModelPermissionsDeleted>(&path(project)).await {
        Ok(deleted) if deleted.deleted => Ok(()),
        Ok(_) => Err(ProviderError::protocol(format!(
            "openai: removing the model permissions of {project}: OpenAI answered `deleted: false`"
        ))),
        Err(error) if error.kind() == ErrorKind::NotFound => Ok(()),
        Err(error) => Err(error),
    }
}

/// Model lists are sets: the order OpenAI answers in is not a change.
pub fn same_models(desired: &Value, live: &Value) -> bool {
    let set = |value: &Value| {
        value.as_array().map(|items| items.iter().map(ToString::to_string).collect::<BTreeSet<_>>())
    };
    matches!((set(desired), set(live)), (Some(a), Some(b)) if a == b)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_id_is_the_project_and_the_policy_is_checked() {
        let declared: Attributes = serde_json::from_value(
            json!({"project_id": "proj_1", "mode": "deny_list", "model_ids": []}),
        )
        .unwrap();
        assert_eq!(id(&declared).unwrap(), "proj_1");
        let cases = [
            (json!({"project_id": "proj_1", "mode": "block", "model_ids": []}), "`mode`"),
            (
                json!({"project_id": "proj_1", "mode": "allow_list", "model_ids": ["", "o3"]}),
                "`model_ids`",
            ),
            (json!({"project_id": "proj_1", "mode": "allow_list"}), "`model_ids`"),
        ];
        for (value, named) in cases {
            let attributes: Attributes = serde_json::from_value(value.clone()).unwrap();
            let error = id(&attributes).unwrap_err();
            assert!(error.message().contains(named), "{value}: {error}");
        }
    }

    #[test]
    fn model_lists_compare_as_sets() {
        assert!(same_models(&json!(["o3", "gpt-4.1"]), &json!(["gpt-4.1", "o3"])));
        assert!(!same_models(&json!(["o3"]), &json!(["o3", "gpt-4.1"])));
        assert!(!same_models(&json!("o3"), &json!(["o3"])));
    }
}
