//! `openai_project_user`: a user's membership of a project, with a role.
//!
//! Endpoints (Administration API, "Project users"):
//! `GET|POST /organization/projects/{project_id}/users` (list with `limit`/`after`; add) and
//! `GET|POST|DELETE /organization/projects/{project_id}/users/{user_id}` (retrieve; change the
//! role; remove). The id is `PROJECT_ID/USER_ID`.
//!
//! Writes are idempotent: create looks before it adds and changes the role of a user already
//! there; a retried add that OpenAI refuses because the first attempt did land is recognised
//! by reading again; removing a user already gone succeeds. Project owners are reported as
//! privileged, so an owner that nothing in the policy declares or grants is drift that widens
//! access.

use breakglass_provider::{Attributes, ErrorKind, ProviderError, Value};
use std::collections::{BTreeMap, BTreeSet};

use crate::api::{ProjectUser, ProjectUserCreate, ProjectUserDeleted, ProjectUserUpdate};
use crate::attributes::{collect, id_part, one_of, split_id};
use crate::client::Api;
use crate::pages::all_pages;
use crate::schema::{PROJECT_USER, ROLES};

/// The role that is privileged: owners manage the project's members and keys.
pub const PRIVILEGED_ROLE: &str = "owner";

/// `PROJECT_ID/USER_ID`, after checking the declared attributes.
pub fn id(attributes: &Attributes) -> Result<String, ProviderError> {
    let project = id_part(attributes, PROJECT_USER, "project_id")?;
    let user = id_part(attributes, PROJECT_USER, "user_id")?;
    one_of(attributes, PROJECT_USER, "role", &ROLES)?;
    Ok(format!("{project}/{user}"))
}

fn attributes(project: &str, user: &ProjectUser) -> Attributes {
    collect([
        ("project_id", Some(Value::from(project))),
        ("user_id", Some(Value::from(user.id.as_str()))),
        ("role", Some(Value::from(user.role.as_str()))),
        ("email", Some(user.email.clone().map_or(Value::Null, Value::from))),
        ("name", Some(user.name.clone().map_or(Value::Null, Value::from))),
        ("added_at", Some(Value::from(user.added_at))),
    ])
}

async fn get(api: &Api, project: &str, user: &str) -> Result<Option<ProjectUser>, ProviderError> {
    match api.get(&["organization", "projects", project, "users", user], &[]).await {
        Ok(found) => Ok(Some(found)),
        Err(error) if error.kind() == ErrorKind::NotFound => Ok(None),
        Err(error) => Err(error),
    }
}

async fn set_role(
    api: &Api,
    project: &str,
    user: &str,
    role: &str,
) -> Result<ProjectUser, ProviderError> {
    api.post(&["organization", "projects", project, "users", user], &ProjectUserUpdate { role })
        .await
}

/// Reads members by id, one call each; ids not found are left out.
pub async fn read(
    api: &Api,
    ids: &[String],
) -> Result<(BTreeMap<String, Attributes>, u64), ProviderError> {
    let mut objects = BTreeMap::new();
    for id in ids {
        let (project, user) = split_id(PROJECT_USER, id)?;
        if let Some(found) = get(api, project, user).await? {
            objects.insert(id.clone(), attributes(project, &found));
        }
    }
    Ok((objects, ids.len() as u64))
}

/// Every member of every project the scope names, and which of them are owners.
pub async fn list(
    api: &Api,
    scope: &[Attributes],
) -> Result<(BTreeMap<String, Attributes>, u64, BTreeSet<String>), ProviderError> {
    let projects: BTreeSet<&str> =
        scope.iter().filter_map(|a| a.get("project_id").and_then(Value::as_str)).collect();
    let mut objects = BTreeMap::new();
    let mut privileged = BTreeSet::new();
    let mut calls = 0;
    for project in projects {
        let what = format!("GET /organization/projects/{project}/users");
        let (users, pages): (Vec<ProjectUser>, u64) = all_pages(&what, |after| {
            let mut query = vec![("limit", api.page_size().to_string())];
            query.extend(after.map(|after| ("after", after)));
            async move { api.get(&["organization", "projects", project, "users"], &query).await }
        })
        .await?;
        calls += pages;
        for user in users {
            let id = format!("{project}/{}", user.id);
            if user.role == PRIVILEGED_ROLE {
                privileged.insert(id.clone());
            }
            objects.insert(id, attributes(project, &user));
        }
    }
    Ok((objects, calls, privileged))
}

/// Adds the user with the role, or gives a user already there the role.
///
/// When `granting` (the create belongs to an activation), a user already there with another
/// role is refused: the revert removes what the grant added, which would take away a
/// membership the user had before. Raising the role of a member who stays is an override's job.
pub async fn create(
    api: &Api,
    wanted: &Attributes,
    granting: bool,
) -> Result<Attributes, ProviderError> {
    let project = id_part(wanted, PROJECT_USER, "project_id")?;
    let user = id_part(wanted, PROJECT_USER, "user_id")?;
    let role = one_of(wanted, PROJECT_USER, "role", &ROLES)?;
    if let Some(found) = get(api, project, user).await? {
        if granting && found.role != role {
            return Err(ProviderError::invalid(format!(
                "openai: {user} is already a {} of {project}: granting {role} through a role \
                 would remove them from the project when the grant ends. Declare them as an \
                 {PROJECT_USER} and raise the role with an `override`, whose revert puts the \
                 {} role back",
                found.role, found.role
            )));
        }
        return converge(api, project, found, role).await;
    }
    let added = api
        .post::<ProjectUser, _>(
            &["organization", "projects", project, "users"],
            &ProjectUserCreate { user_id: user, role },
        )
        .await;
    match added {
        Ok(added) => converge(api, project, added, role).await,
        // A retry of an add whose first attempt landed is refused as a duplicate.
        Err(error) if error.kind() == ErrorKind::Invalid => match get(api, project, user).await? {
            Some(found) => converge(api, project, found, role).await,
            None => Err(error),
        },
        Err(error) => Err(error),
    }
}

async fn converge(
    api: &Api,
    project: &str,
    found: ProjectUser,
    role: &str,
) -> Result<Attributes, ProviderError> {
    let user =
        if found.role == role { found } else { set_role(api, project, &found.id, role).await? };
    check_role(&user, role)?;
    Ok(attributes(project, &user))
}

fn check_role(user: &ProjectUser, role: &str) -> Result<(), ProviderError> {
    if user.role == role {
        Ok(())
    } else {
        Err(ProviderError::protocol(format!(
            "openai: asked for {} to be {role}, but OpenAI answered with role {}",
            user.id, user.role
        )))
    }
}

/// Changes the member's role.
pub async fn update(api: &Api, id: &str, after: &Attributes) -> Result<Attributes, ProviderError> {
    let (project, user) = split_id(PROJECT_USER, id)?;
    let role = one_of(after, PROJECT_USER, "role", &ROLES)?;
    let updated = set_role(api, project, user, role).await.map_err(|error| {
        if error.kind() == ErrorKind::NotFound {
            error.context(format!(
                "{user} is no longer a member of {project}; run plan again to add them back"
            ))
        } else {
            error
        }
    })?;
    check_role(&updated, role)?;
    Ok(attributes(project, &updated))
}

/// Removes the member; a member already gone is success.
pub async fn delete(api: &Api, id: &str) -> Result<(), ProviderError> {
    let (project, user) = split_id(PROJECT_USER, id)?;
    match api
        .delete::<ProjectUserDeleted>(&["organization", "projects", project, "users", user])
        .await
    {
        Ok(deleted) if deleted.deleted => Ok(()),
        Ok(_) => Err(ProviderError::protocol(format!(
            "openai: removing {user} from {project}: OpenAI answered `deleted: false`"
        ))),
        Err(error) if error.kind() == ErrorKind::NotFound => Ok(()),
        Err(error) => Err(error),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_id_is_project_and_user_and_the_role_is_checked() {
        let declared: Attributes = serde_json::from_value(
            json!({"project_id": "proj_1", "user_id": "user-a", "role": "owner"}),
        )
        .unwrap();
        assert_eq!(id(&declared).unwrap(), "proj_1/user-a");
        let mut wrong = declared.clone();
        wrong.insert("role".into(), json!("admin"));
        let error = id(&wrong).unwrap_err();
        assert!(error.message().contains("\"owner\" or \"member\""), "{error}");
    }

    #[test]
    fn attributes_carry_what_the_api_says() {
        let user = ProjectUser {
            object: "organization.project.user".into(),
            id: "user-a".into(),
            name: None,
            email: Some("a@example.com".into()),
            role: "member".into(),
            added_at: 1711471533,
        };
        let attributes = attributes("proj_1", &user);
        assert_eq!(attributes["role"], json!("member"));
        assert_eq!(attributes["name"], Value::Null);
        assert_eq!(attributes["added_at"], json!(1711471533));
    }
}
