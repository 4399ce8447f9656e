//! One request struct and one response struct per provider call. All are `#[non_exhaustive]`:
//! build requests with their `new` constructors so fields can be added later.

use jiff::Timestamp;
use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use crate::value::Attributes;

/// The evaluated `provider` block.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ConfigureRequest {
    /// Attribute values from the block (`env(...)` already resolved).
    pub config: Attributes,
    /// The policy directory, against which relative paths in the configuration resolve.
    pub base_dir: PathBuf,
}

impl ConfigureRequest {
    /// A configuration from block attributes and the policy directory.
    pub fn new(config: Attributes, base_dir: impl Into<PathBuf>) -> Self {
        Self { config, base_dir: base_dir.into() }
    }
}

/// Asks a provider for the natural id of an object from its declared attributes. Borrowed: the
/// engine asks for every desired object's id, 100,000 of them at scale.
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub struct IdRequest<'a> {
    /// The resource type (`local_access`).
    pub resource_type: &'a str,
    /// The declared attributes.
    pub attributes: &'a Attributes,
}

impl<'a> IdRequest<'a> {
    /// A request for the id of an object of `resource_type` with `attributes`.
    pub fn new(resource_type: &'a str, attributes: &'a Attributes) -> Self {
        Self { resource_type, attributes }
    }
}

/// Reads objects by id.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ReadRequest {
    /// The resource type.
    pub resource_type: String,
    /// The ids to read.
    pub ids: Vec<String>,
}

impl ReadRequest {
    /// A read of `ids` of `resource_type`.
    pub fn new(resource_type: impl Into<String>, ids: Vec<String>) -> Self {
        Self { resource_type: resource_type.into(), ids }
    }
}

/// The objects that exist, by id; an id that is absent was not found.
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct ReadResponse {
    /// Live attributes by id.
    pub objects: BTreeMap<String, Attributes>,
    /// How many API calls the read took (reported in the refresh summary).
    pub api_calls: u64,
}

impl ReadResponse {
    /// A response holding `objects`, read in `api_calls` calls.
    pub fn new(objects: BTreeMap<String, Attributes>, api_calls: u64) -> Self {
        Self { objects, api_calls }
    }
}

/// Lists every object of a type in a scope.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ListRequest {
    /// The resource type.
    pub resource_type: String,
    /// The declared attributes of the objects the engine cares about; the provider lists the
    /// containers they live in (a project, a workspace, a whole account) and returns every object
    /// found there, declared or not, so drift that nobody declared can be seen.
    pub scope: Vec<Attributes>,
}

impl ListRequest {
    /// A listing of `resource_type` around the objects in `scope`.
    pub fn new(resource_type: impl Into<String>, scope: Vec<Attributes>) -> Self {
        Self { resource_type: resource_type.into(), scope }
    }
}

/// Every object found, by id.
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct ListResponse {
    /// Live attributes by id.
    pub objects: BTreeMap<String, Attributes>,
    /// How many API calls the listing took.
    pub api_calls: u64,
    /// Ids of listed objects that grant privileged access by the provider's own configuration
    /// (an `AdministratorAccess` attachment, a superuser, a membership in a role the provider
    /// block names as privileged). When nothing in the policy declares or grants them, the
    /// engine reports them as drift that widens access, and removes them where the policy
    /// says `drift = "revert"` for the provider. Removing one is a `delete` of that id.
    pub privileged: BTreeSet<String>,
}

impl ListResponse {
    /// A response holding `objects`, listed in `api_calls` calls.
    pub fn new(objects: BTreeMap<String, Attributes>, api_calls: u64) -> Self {
        Self { objects, api_calls, privileged: BTreeSet::new() }
    }

    /// Marks listed objects as granting privileged access.
    pub fn with_privileged(mut self, ids: impl IntoIterator<Item = String>) -> Self {
        self.privileged.extend(ids);
        self
    }
}

/// The activation a change belongs to, so a provider can set a native expiry or tag objects.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ActivationContext {
    /// The activation id (`act_01J…`).
    pub id: String,
    /// The person it was granted to.
    pub requester: String,
    /// When it started.
    pub start: Timestamp,
    /// When it ends: the moment the platform should cut access by itself, where it can.
    pub end: Timestamp,
}

impl ActivationContext {
    /// An activation context.
    pub fn new(
        id: impl Into<String>,
        requester: impl Into<String>,
        start: Timestamp,
        end: Timestamp,
    ) -> Self {
        Self { id: id.into(), requester: requester.into(), start, end }
    }
}

/// Why a write happens, beyond its attributes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ChangeContext {
    /// The activation that grants (or, when `revert`, granted) this access.
    pub activation: Option<ActivationContext>,
    /// The write takes access away that an activation gave: a provider that can end sessions
    /// opened during the grant (role sessions, database connections) must end them too.
    pub revert: bool,
}

impl ChangeContext {
    /// A baseline change, tied to no activation.
    pub fn baseline() -> Self {
        Self::default()
    }

    /// A change that grants access for `activation`.
    pub fn grant(activation: ActivationContext) -> Self {
        Self { activation: Some(activation), revert: false }
    }

    /// A change that reverts `activation`.
    pub fn revert(activation: Option<ActivationContext>) -> Self {
        Self { activation, revert: true }
    }
}

/// Creates an object. Must be idempotent: if the object already exists as asked, succeed.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct CreateRequest {
    /// The resource type.
    pub resource_type: String,
    /// The natural id from [`crate::Provider::resource_id`].
    pub id: String,
    /// The desired attributes.
    pub attributes: Attributes,
    /// Why.
    pub context: ChangeContext,
}

impl CreateRequest {
    /// A create of `id` with `attributes`.
    pub fn new(
        resource_type: impl Into<String>,
        id: impl Into<String>,
        attributes: Attributes,
        context: ChangeContext,
    ) -> Self {
        Self { resource_type: resource_type.into(), id: id.into(), attributes, context }
    }
}

/// The object as it now is.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct CreateResponse {
    /// The id the object is known by from now on.
    pub id: String,
    /// Its live attributes after the create.
    pub attributes: Attributes,
}

impl CreateResponse {
    /// A response for object `id` with live `attributes`.
    pub fn new(id: impl Into<String>, attributes: Attributes) -> Self {
        Self { id: id.into(), attributes }
    }
}

/// Changes attributes of an object in place.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct UpdateRequest {
    /// The resource type.
    pub resource_type: String,
    /// The object's id.
    pub id: String,
    /// Its live attributes as read before the change.
    pub before: Attributes,
    /// The desired attributes.
    pub after: Attributes,
    /// Why.
    pub context: ChangeContext,
}

impl UpdateRequest {
    /// An update of `id` from `before` to `after`.
    pub fn new(
        resource_type: impl Into<String>,
        id: impl Into<String>,
        before: Attributes,
        after: Attributes,
        context: ChangeContext,
    ) -> Self {
        Self { resource_type: resource_type.into(), id: id.into(), before, after, context }
    }
}

/// The object as it now is.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct UpdateResponse {
    /// Its live attributes after the change.
    pub attributes: Attributes,
}

impl UpdateResponse {
    /// A response with live `attributes`.
    pub fn new(attributes: Attributes) -> Self {
        Self { attributes }
    }
}

/// Deletes an object. Must be idempotent: deleting what is already gone succeeds.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct DeleteRequest {
    /// The resource type.
    pub resource_type: String,
    /// The object's id.
    pub id: String,
    /// Its live attributes as read before the delete.
    pub before: Attributes,
    /// Why.
    pub context: ChangeContext,
}

impl DeleteRequest {
    /// A delete of `id`.
    pub fn new(
        resource_type: impl Into<String>,
        id: impl Into<String>,
        before: Attributes,
        context: ChangeContext,
    ) -> Self {
        Self { resource_type: resource_type.into(), id: id.into(), before, context }
    }
}

/// The outcome of a delete.
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct DeleteResponse {
    /// Follow-up actions the provider took that a reviewer should know of ("terminated 2
    /// sessions of alice"), for the audit log.
    pub notes: Vec<String>,
}

impl DeleteResponse {
    /// A response with `notes`.
    pub fn new(notes: Vec<String>) -> Self {
        Self { notes }
    }
}

/// Asks the platform whether it would accept a create (`before` is `None`) or an update,
/// without making it: a server-side dry run, where the platform offers one.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct DryRunRequest {
    /// The resource type.
    pub resource_type: String,
    /// The object's id.
    pub id: String,
    /// Its live attributes, for an update; `None` for a create.
    pub before: Option<Attributes>,
    /// The desired attributes.
    pub after: Attributes,
    /// Why.
    pub context: ChangeContext,
}

impl DryRunRequest {
    /// A dry run of writing `after` to `id` (over `before`, if it exists).
    pub fn new(
        resource_type: impl Into<String>,
        id: impl Into<String>,
        before: Option<Attributes>,
        after: Attributes,
        context: ChangeContext,
    ) -> Self {
        Self { resource_type: resource_type.into(), id: id.into(), before, after, context }
    }
}

/// What a dry run found: the platform accepted the write.
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct DryRunResponse {
    /// What a reviewer should know ("the API server accepted it in a dry run"), shown on the
    /// plan's change.
    pub notes: Vec<String>,
}

impl DryRunResponse {
    /// A response with `notes`.
    pub fn new(notes: Vec<String>) -> Self {
        Self { notes }
    }
}
