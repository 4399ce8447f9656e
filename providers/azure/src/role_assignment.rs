//! `azure_role_assignment`: a principal holds a role at a scope.
//!
//! Read: `GET {scope}/providers/Microsoft.Authorization/roleAssignments` (2022-04-01) tells
//! whether the assignment exists, and `GET {scope}/providers/Microsoft.Authorization/
//! roleAssignmentSchedules` (2020-10-01) when Azure ends it (`endDateTime`, read back as
//! `expires_at`). Both are paged (`nextLink`) and filtered: `principalId eq '…'` to read some
//! principals' assignments, `atScope()` to list a scope's.
//!
//! Write, two ways:
//! - **Without `expires_at`** (the baseline): a plain role assignment, `PUT …/roleAssignments/
//!   {name}` with a name derived from the triple, so the same create sent twice is one
//!   assignment; taken away with `DELETE`.
//! - **With `expires_at`** (set by the engine to the activation's end when a role grant
//!   creates it): an active PIM assignment through a schedule request (`AdminAssign`, expiration
//!   `AfterDateTime`), which Azure ends by itself; extended with `AdminUpdate`, taken away with
//!   `AdminRemove` (see [`crate::schedule`]).
//!
//! Every write is confirmed by reading until the change shows: role assignments are eventually
//! consistent, and a read right after a write may not see it yet. A create that finds the
//! assignment already there takes it as done only if it is its own (made by the same request,
//! or with the same end). One made by someone else since the plan read the scope is left as it
//! is and refused, so their change is never lost: plan again, and the engine treats it as
//! access that predates the grant.

use breakglass_provider::{Attributes, ChangeContext, ErrorKind, ProviderError, Value};
use jiff::Timestamp;
use std::collections::{BTreeMap, BTreeSet};
use tokio::time::Instant;

use crate::api::{
    ROLE_ASSIGNMENTS_API, RoleAssignment, RoleAssignmentCreate, RoleAssignmentCreateProperties,
    SCHEDULES_API, Schedule,
};
use crate::arm::Arm;
use crate::key::{
    Key, checked_scope, derived_guid, is_guid, principal_type, role_guid, same_scope,
};
use crate::schedule::{self, MAX_POLL_INTERVAL, RequestType};
use crate::schema::ROLE_ASSIGNMENT;

/// An assignment as Azure reports it, with the schedules that say when it ends.
#[derive(Debug, Clone)]
pub struct Live {
    /// The role assignment.
    pub assignment: RoleAssignment,
    /// Its schedules (none for an assignment that PIM does not track).
    pub schedules: Vec<Schedule>,
}

impl Live {
    /// The assignment's scope.
    pub fn scope(&self) -> String {
        self.assignment.properties.scope.clone().unwrap_or_else(|| {
            let id = &self.assignment.id;
            let lower = id.to_ascii_lowercase();
            lower
                .find("/providers/microsoft.authorization/roleassignments/")
                .map_or_else(|| id.clone(), |at| id[..at].to_owned())
        })
    }

    /// When Azure ends it, to the second: `None` when it is permanent (no schedule, or one without an end).
    pub fn end(&self) -> Option<Timestamp> {
        let mut ends = Vec::new();
        for schedule in &self.schedules {
            match schedule.properties.end_date_time.as_deref().map(str::parse::<Timestamp>) {
                Some(Ok(end)) => ends.push(whole_second(end)),
                // No end, or one that cannot be read: access that does not end by itself.
                _ => return None,
            }
        }
        ends.into_iter().max()
    }

    /// Whether schedule request `name` made it.
    pub fn made_by(&self, name: &str) -> bool {
        self.schedules.iter().any(|schedule| {
            schedule
                .properties
                .role_assignment_schedule_request_id
                .as_deref()
                .and_then(|id| id.rsplit('/').next())
                .is_some_and(|made_by| made_by.eq_ignore_ascii_case(name))
        })
    }

    /// Whether PIM manages it through a schedule request (rather than a plain assignment).
    fn scheduled(&self) -> bool {
        self.end().is_some()
            || self
                .schedules
                .iter()
                .any(|s| s.properties.role_assignment_schedule_request_id.is_some())
    }

    /// Its attributes, as the schema names them.
    pub fn attributes(&self) -> Attributes {
        let properties = &self.assignment.properties;
        let mut attributes = Attributes::new();
        attributes.insert("scope".into(), Value::from(self.scope()));
        attributes.insert(
            "role_definition_id".into(),
            Value::from(properties.role_definition_id.as_str()),
        );
        attributes.insert("principal_id".into(), Value::from(properties.principal_id.as_str()));
        if let Some(kind) = &properties.principal_type {
            attributes.insert("principal_type".into(), Value::from(kind.as_str()));
        }
        attributes.insert(
            "expires_at".into(),
            self.end().map_or(Value::Null, |end| Value::from(end.to_string())),
        );
        attributes.insert("assignment_id".into(), Value::from(self.assignment.id.as_str()));
        attributes
    }

    /// The natural id of what Azure reported, if it is an assignment breakglass can address.
    fn key(&self) -> Option<Key> {
        let properties = &self.assignment.properties;
        let scope = checked_scope(&self.scope()).ok()?;
        let role_guid = role_guid(&properties.role_definition_id)?;
        is_guid(&properties.principal_id).then(|| Key {
            scope,
            role_definition_id: properties.role_definition_id.clone(),
            role_guid,
            principal_id: properties.principal_id.to_ascii_lowercase(),
        })
    }
}

fn assignments_path(scope: &str) -> String {
    format!("{scope}/providers/Microsoft.Authorization/roleAssignments")
}

fn schedules_path(scope: &str) -> String {
    format!("{scope}/providers/Microsoft.Authorization/roleAssignmentSchedules")
}

/// The assignments and schedules `filter` selects at `scope`, joined: those at exactly `scope`
/// (a filter also returns some above or below it), by natural id. And the calls it took.
async fn fetch(
    arm: &Arm,
    scope: &str,
    filter: &str,
) -> Result<(BTreeMap<String, Live>, u64), ProviderError> {
    let (assignments, pages): (Vec<RoleAssignment>, u64) =
        arm.list(&assignments_path(scope), ROLE_ASSIGNMENTS_API, filter).await?;
    let (schedules, more): (Vec<Schedule>, u64) =
        arm.list(&schedules_path(scope), SCHEDULES_API, filter).await?;
    let mut found = BTreeMap::new();
    for assignment in assignments {
        let mut live = Live { assignment, schedules: Vec::new() };
        let Some(key) = live.key() else { continue };
        if !same_scope(&key.scope, scope) {
            continue;
        }
        live.schedules = schedules
            .iter()
            .filter(|s| {
                let p = &s.properties;
                key.matches(
                    p.scope.as_deref().unwrap_or_default(),
                    p.role_definition_id.as_deref().unwrap_or_default(),
                    p.principal_id.as_deref().unwrap_or_default(),
                )
            })
            .cloned()
            .collect();
        found.insert(key.id(), live);
    }
    Ok((found, pages + more))
}

/// The assignment `key` names, if Azure has it; and the calls it took.
pub async fn read_one(arm: &Arm, key: &Key) -> Result<(Option<Live>, u64), ProviderError> {
    let (mut found, calls) = fetch(arm, &key.scope, &principal_filter(&key.principal_id)).await?;
    Ok((found.remove(&key.id()), calls))
}

fn principal_filter(principal: &str) -> String {
    format!("principalId eq '{principal}'")
}

/// Reads assignments by natural id, one pair of listings per scope and principal.
pub async fn read(
    arm: &Arm,
    ids: &[String],
) -> Result<(BTreeMap<String, Attributes>, u64), ProviderError> {
    let mut groups: BTreeMap<(String, String), (String, Vec<String>)> = BTreeMap::new();
    for id in ids {
        let key = Key::from_id(id)?;
        groups
            .entry((key.scope.to_ascii_lowercase(), key.principal_id.clone()))
            .or_insert_with(|| (key.scope.clone(), Vec::new()))
            .1
            .push(key.id());
    }
    let mut objects = BTreeMap::new();
    let mut calls = 0;
    for ((_, principal), (scope, wanted)) in groups {
        let (mut found, used) = fetch(arm, &scope, &principal_filter(&principal)).await?;
        calls += used;
        for id in wanted {
            if let Some(live) = found.remove(&id) {
                objects.insert(id, live.attributes());
            }
        }
    }
    Ok((objects, calls))
}

/// Every assignment at each scope the scope names (`atScope()`, cut to exactly the scope), and
/// which grant privileged roles.
pub async fn list(
    arm: &Arm,
    scope: &[Attributes],
) -> Result<(BTreeMap<String, Attributes>, u64, BTreeSet<String>), ProviderError> {
    let mut scopes: BTreeMap<String, String> = BTreeMap::new();
    for attributes in scope {
        if let Some(Value::String(text)) = attributes.get("scope") {
            let checked = checked_scope(text)?;
            scopes.entry(checked.to_ascii_lowercase()).or_insert(checked);
        }
    }
    let mut objects = BTreeMap::new();
    let mut privileged = BTreeSet::new();
    let mut calls = 0;
    for scope in scopes.values() {
        let (found, used) = fetch(arm, scope, "atScope()").await?;
        calls += used;
        for (id, live) in found {
            let role = role_guid(&live.assignment.properties.role_definition_id);
            if role.is_some_and(|role| arm.privileged_roles.contains(&role)) {
                privileged.insert(id.clone());
            }
            objects.insert(id, live.attributes());
        }
    }
    Ok((objects, calls, privileged))
}

/// `time` to the whole second. Azure keeps .NET's 100 ns ticks and an activation's times may
/// hold nanoseconds: ends are sent and compared to the second, so they always agree.
pub fn whole_second(time: Timestamp) -> Timestamp {
    Timestamp::from_second(time.as_second()).unwrap_or(time)
}

/// `expires_at` of `attributes`, if set, to the second.
fn expires_at(attributes: &Attributes) -> Result<Option<Timestamp>, ProviderError> {
    match attributes.get("expires_at") {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(text)) => {
            text.parse().map(|end| Some(whole_second(end))).map_err(|error| {
                ProviderError::invalid(format!(
                    "{ROLE_ASSIGNMENT}: `expires_at` {text:?} is not an RFC 3339 time \
                 (2026-12-01T12:00:00Z): {error}"
                ))
            })
        }
        Some(other) => Err(ProviderError::invalid(format!(
            "{ROLE_ASSIGNMENT}: `expires_at` must be an RFC 3339 time, got {other}"
        ))),
    }
}

/// Creates the assignment (or finds it already there, made by this same create).
pub async fn create(
    arm: &Arm,
    wanted: &Attributes,
    context: &ChangeContext,
) -> Result<Attributes, ProviderError> {
    let key = Key::from_attributes(wanted)?;
    match expires_at(wanted)? {
        None => create_plain(arm, &key, principal_type(wanted)?).await,
        Some(end) => create_scheduled(arm, &key, end, context).await,
    }
}

/// A plain role assignment, named after its triple.
async fn create_plain(
    arm: &Arm,
    key: &Key,
    principal_type: Option<&str>,
) -> Result<Attributes, ProviderError> {
    if let (Some(live), _) = read_one(arm, key).await? {
        return Ok(live.attributes());
    }
    let name = derived_guid(&["roleAssignment", &key.id()]);
    let body = RoleAssignmentCreate {
        properties: RoleAssignmentCreateProperties {
            role_definition_id: &key.role_definition_id,
            principal_id: &key.principal_id,
            principal_type,
        },
    };
    let path = format!("{}/{name}", assignments_path(&key.scope));
    match arm.put::<RoleAssignment, _>(&path, ROLE_ASSIGNMENTS_API, &body).await {
        Ok(_) => {}
        // Made meanwhile, by someone else or by an attempt whose answer was lost: the baseline
        // asks only that it exist, and it is left exactly as it is.
        Err(error) if error.is("RoleAssignmentExists") => {}
        Err(error) => return Err(error.into()),
    }
    let live = settle(arm, key, "the new role assignment to show", |found| found.is_some()).await?;
    Ok(live.map(|live| live.attributes()).unwrap_or_default())
}

/// An active PIM assignment that Azure ends at `end`.
async fn create_scheduled(
    arm: &Arm,
    key: &Key,
    end: Timestamp,
    context: &ChangeContext,
) -> Result<Attributes, ProviderError> {
    let activation = context.activation.as_ref();
    let name = derived_guid(&[
        "AdminAssign",
        &key.id(),
        &end.to_string(),
        activation.map_or("", |a| a.id.as_str()),
    ]);
    let ours = |live: &Live| live.made_by(&name) || live.end() == Some(end);
    if let (Some(live), _) = read_one(arm, key).await? {
        return if ours(&live) { Ok(live.attributes()) } else { Err(already_there(key, &live)) };
    }
    let start = whole_second(activation.map_or_else(Timestamp::now, |a| a.start));
    let body = schedule::body(RequestType::AdminAssign, key, start, Some(end), activation);
    match schedule::submit(arm, key, &name, &body).await {
        Ok(request) => {
            schedule::wait(arm, key, RequestType::AdminAssign, request).await?;
        }
        Err(error) if error.is("RoleAssignmentExists") => {
            let live = settle(arm, key, "the existing assignment to show", |f| f.is_some()).await?;
            return match live {
                Some(live) if ours(&live) => Ok(live.attributes()),
                Some(live) => Err(already_there(key, &live)),
                None => Err(error.into()),
            };
        }
        Err(error) => return Err(error.into()),
    }
    let live = settle(arm, key, "the new assignment and its end to show", |found| {
        found.is_some_and(|live| live.end() == Some(end))
    })
    .await?;
    Ok(live.map(|live| live.attributes()).unwrap_or_default())
}

/// The refusal for an assignment found where a grant meant to make one.
fn already_there(key: &Key, live: &Live) -> ProviderError {
    let ends = live.end().map_or_else(|| "never ends".to_owned(), |end| format!("ends at {end}"));
    ProviderError::invalid(format!(
        "azure: {} already holds role {} at {} ({}, {ends}), made outside this grant after the \
         plan read the scope. breakglass leaves it exactly as it is rather than take it over; \
         plan again to see it as access that predates the grant",
        key.principal_id, key.role_guid, key.scope, live.assignment.id
    ))
}

/// Gives the assignment its new end (`expires_at`), through an `AdminUpdate` request.
pub async fn update(
    arm: &Arm,
    id: &str,
    after: &Attributes,
    context: &ChangeContext,
) -> Result<Attributes, ProviderError> {
    let key = Key::from_id(id)?;
    let end = expires_at(after)?;
    let Some(live) = read_one(arm, &key).await?.0 else {
        return Err(ProviderError::not_found(format!(
            "azure: the assignment {id} is gone (ended by Azure, or removed by someone); plan \
             again"
        )));
    };
    if live.end() == end {
        return Ok(live.attributes());
    }
    let role_definition_id = live.assignment.properties.role_definition_id.clone();
    let key = Key { role_definition_id, ..key };
    let activation = context.activation.as_ref();
    let name = derived_guid(&[
        "AdminUpdate",
        &key.id(),
        &end.map(|end| end.to_string()).unwrap_or_default(),
        &live.assignment.name,
    ]);
    let start = whole_second(
        schedule_start(&live).or(activation.map(|a| a.start)).unwrap_or_else(Timestamp::now),
    );
    let body = schedule::body(RequestType::AdminUpdate, &key, start, end, activation);
    let request = schedule::submit(arm, &key, &name, &body).await?;
    schedule::wait(arm, &key, RequestType::AdminUpdate, request).await?;
    let live = settle(arm, &key, "the new end to show", |found| {
        found.is_some_and(|live| live.end() == end)
    })
    .await?;
    Ok(live.map(|live| live.attributes()).unwrap_or_default())
}

/// When the assignment's schedule started, if it has one.
fn schedule_start(live: &Live) -> Option<Timestamp> {
    live.schedules
        .iter()
        .filter_map(|s| s.properties.start_date_time.as_deref()?.parse().ok())
        .min()
}

/// Takes the assignment away and waits until a read no longer finds it: an `AdminRemove`
/// request for one PIM manages (every grant is one: it has an end), `DELETE` for a plain one
/// (the baseline's, or one made by hand that drift removal takes away). An assignment already
/// gone (removed, or ended by Azure) is success.
pub async fn delete(
    arm: &Arm,
    id: &str,
    context: &ChangeContext,
) -> Result<Vec<String>, ProviderError> {
    let key = Key::from_id(id)?;
    let Some(live) = read_one(arm, &key).await?.0 else {
        return Ok(Vec::new());
    };
    if live.scheduled() {
        // The role as Azure names it (a custom role's id is its subscription's).
        let role_definition_id = live.assignment.properties.role_definition_id.clone();
        let key = Key { role_definition_id, ..key.clone() };
        let name = derived_guid(&["AdminRemove", &key.id(), &live.assignment.name]);
        let body = schedule::body(
            RequestType::AdminRemove,
            &key,
            Timestamp::now(),
            None,
            context.activation.as_ref(),
        );
        match schedule::submit(arm, &key, &name, &body).await {
            Ok(request) => {
                schedule::wait(arm, &key, RequestType::AdminRemove, request).await?;
            }
            // `RoleAssignmentDoesNotExist`: it ended (Azure's expiry) since it was read.
            Err(error) if error.kind() == ErrorKind::NotFound => {}
            Err(error) => return Err(error.into()),
        }
    } else {
        let name = &live.assignment.name;
        if !is_guid(name) {
            return Err(ProviderError::protocol(format!(
                "azure: the assignment {} has a name that is not a GUID",
                live.assignment.id
            )));
        }
        let path = format!("{}/{name}", assignments_path(&checked_scope(&live.scope())?));
        match arm.delete(&path, ROLE_ASSIGNMENTS_API).await {
            Ok(()) => {}
            Err(error) if error.kind() == ErrorKind::NotFound => {}
            Err(error) => return Err(error.into()),
        }
    }
    settle(arm, &key, "the assignment to be gone", |found| found.is_none()).await?;
    Ok(Vec::new())
}

/// Reads `key` until `done` says the change shows, waiting longer each time; a retryable error
/// naming what was awaited when it does not show within the operation timeout.
async fn settle(
    arm: &Arm,
    key: &Key,
    awaited: &str,
    done: impl Fn(Option<&Live>) -> bool,
) -> Result<Option<Live>, ProviderError> {
    let deadline = Instant::now() + arm.operation_timeout;
    let mut interval = arm.poll_interval;
    loop {
        let (found, _) = read_one(arm, key).await?;
        if done(found.as_ref()) {
            return Ok(found);
        }
        let now = Instant::now();
        if now >= deadline {
            return Err(ProviderError::transient(format!(
                "azure: waited {} s for {awaited} ({} holding role {} at {}), and reads do not \
                 show it yet; Azure's role assignments are eventually consistent: run apply or \
                 reconcile again",
                arm.operation_timeout.as_secs(),
                key.principal_id,
                key.role_guid,
                key.scope
            )));
        }
        tokio::time::sleep(interval.min(deadline - now)).await;
        interval = (interval * 2).min(MAX_POLL_INTERVAL);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn live(schedules: serde_json::Value) -> Live {
        Live {
            assignment: serde_json::from_value(json!({
                "id": "/subscriptions/s1/providers/Microsoft.Authorization/roleAssignments/b0f43c54-e787-4862-89b1-a653fa9cf747",
                "name": "b0f43c54-e787-4862-89b1-a653fa9cf747",
                "properties": {
                    "roleDefinitionId": "/subscriptions/s1/providers/Microsoft.Authorization/roleDefinitions/8e3af657-a8ff-443c-a75c-2fe8c4bcb635",
                    "principalId": "3F2B8C1E-5D4A-4E6B-9C7D-0A1B2C3D4E5F",
                    "principalType": "User"
                }
            }))
            .unwrap(),
            schedules: serde_json::from_value(schedules).unwrap(),
        }
    }

    fn schedule(end: serde_json::Value, request: &str) -> serde_json::Value {
        json!({"id": "/x/s", "name": "s", "properties": {
            "endDateTime": end,
            "roleAssignmentScheduleRequestId": format!("/subscriptions/s1/providers/Microsoft.Authorization/RoleAssignmentScheduleRequests/{request}"),
        }})
    }

    #[test]
    fn the_end_is_the_schedules_and_none_when_any_is_permanent() {
        let plain = live(json!([]));
        assert_eq!(plain.end(), None);
        assert!(!plain.scheduled());
        assert_eq!(plain.scope(), "/subscriptions/s1", "read from the id when not given");
        assert_eq!(
            plain.key().unwrap().id(),
            "/subscriptions/s1|8e3af657-a8ff-443c-a75c-2fe8c4bcb635|3f2b8c1e-5d4a-4e6b-9c7d-0a1b2c3d4e5f"
        );

        let ending = live(json!([schedule(json!("2026-12-01T12:00:00.0000000Z"), "AB")]));
        assert_eq!(ending.end(), Some("2026-12-01T12:00:00Z".parse().unwrap()));
        assert!(ending.made_by("ab") && !ending.made_by("cd"));
        assert_eq!(ending.attributes()["expires_at"], json!("2026-12-01T12:00:00Z"));
        assert_eq!(ending.attributes()["principal_type"], json!("User"));

        let both =
            live(json!([schedule(json!("2026-12-01T12:00:00Z"), "a"), schedule(json!(null), "b")]));
        assert_eq!(both.end(), None, "a permanent schedule keeps the access");
        assert!(both.scheduled());
    }

    #[test]
    fn expires_at_must_be_a_time() {
        let attributes: Attributes =
            serde_json::from_value(json!({"expires_at": "tomorrow"})).unwrap();
        let error = expires_at(&attributes).unwrap_err();
        assert!(error.message().contains("not an RFC 3339 time"), "{error}");
        assert_eq!(expires_at(&Attributes::new()).unwrap(), None);
    }
}
