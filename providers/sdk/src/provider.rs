//! The one trait through which the engine reaches every platform.

use async_trait::async_trait;

use crate::error::ProviderError;
use crate::request::{
    ConfigureRequest, CreateRequest, CreateResponse, DeleteRequest, DeleteResponse, DryRunRequest,
    DryRunResponse, IdRequest, ListRequest, ListResponse, ReadRequest, ReadResponse, UpdateRequest,
    UpdateResponse,
};
use crate::schema::ProviderSchema;

/// A platform that breakglass can read and change.
///
/// The engine calls [`Provider::schema`] at validate time (no configuration needed),
/// [`Provider::configure`] once per run, then reads and writes through the other methods,
/// possibly concurrently (hence `&self` and `Send + Sync`). Writes must be idempotent: a retry
/// after a crash or timeout must neither fail nor grant twice.
#[async_trait]
pub trait Provider: Send + Sync {
    /// The configuration attributes and resource types offered.
    fn schema(&self) -> ProviderSchema;

    /// Takes credentials and endpoint from the `provider` block. Called once before any other
    /// call except [`Provider::schema`].
    async fn configure(&mut self, request: ConfigureRequest) -> Result<(), ProviderError>;

    /// The natural id of an object with these declared attributes (a role name, a
    /// `workspace/user` pair). Pure: no API call.
    fn resource_id(&self, request: IdRequest<'_>) -> Result<String, ProviderError>;

    /// Reads objects by id; ids that do not exist are absent from the response.
    async fn read(&self, request: ReadRequest) -> Result<ReadResponse, ProviderError>;

    /// Lists every object of a type around a scope, in few paged calls. Offered only for types
    /// whose schema says `listable`; the default says it is not offered.
    async fn list(&self, request: ListRequest) -> Result<ListResponse, ProviderError> {
        Err(ProviderError::unsupported(format!(
            "listing {} is not offered by this provider",
            request.resource_type
        )))
    }

    /// Creates an object (or finds it already there, as asked).
    async fn create(&self, request: CreateRequest) -> Result<CreateResponse, ProviderError>;

    /// Changes an object's attributes in place.
    async fn update(&self, request: UpdateRequest) -> Result<UpdateResponse, ProviderError>;

    /// Deletes an object (or finds it already gone).
    async fn delete(&self, request: DeleteRequest) -> Result<DeleteResponse, ProviderError>;

    /// Checks, changing nothing, that the platform would accept a create or an update as
    /// planned (a Kubernetes server-side dry run: validation, admission, RBAC escalation
    /// checks). `plan` asks for every create and update it proposes, so a write the platform
    /// would refuse fails the plan with the platform's reason instead of failing half-way
    /// through an apply. Return an error of the kind the real write would get. The default
    /// checks nothing: most platforms offer no dry run.
    async fn dry_run(&self, request: DryRunRequest) -> Result<DryRunResponse, ProviderError> {
        let _ = request;
        Ok(DryRunResponse::default())
    }

    /// Whether a desired and a live value of one attribute mean the same. The engine has
    /// already treated `null` and absent as equal and compared JSON documents as JSON; override
    /// this for platform rules beyond that (an IAM policy's single value versus a one-element
    /// list, say).
    fn attribute_equal(
        &self,
        resource_type: &str,
        attribute: &str,
        desired: &crate::value::Value,
        live: &crate::value::Value,
    ) -> bool {
        let _ = (resource_type, attribute);
        desired == live
    }

    /// What the provider does beyond the change itself when it takes access of this type back
    /// (ends open sessions, say), shown as a note on the plan's reverts so reviewers know.
    fn revert_note(&self, resource_type: &str) -> Option<String> {
        let _ = resource_type;
        None
    }

    /// The same for one object, `id`, so the note can name what exactly the revert also takes
    /// back (which role's tokens, whose sessions). By default, the type's note.
    fn revert_note_for(&self, resource_type: &str, id: &str) -> Option<String> {
        let _ = id;
        self.revert_note(resource_type)
    }

    /// Whether the platform can end access of this type at a given time by itself.
    fn native_expiry(&self, resource_type: &str) -> bool {
        self.schema()
            .resource_types
            .get(resource_type)
            .is_some_and(|schema| schema.expiry_attribute.is_some())
    }

    /// Whether this object, with these declared attributes, can carry an end the platform
    /// enforces. Asked only for objects whose type has an expiry attribute, so by default yes;
    /// a provider says no where some objects of such a type cannot (an AWS Identity Center
    /// assignment to a group): the engine then sets no end on them and their access ends with
    /// the revert alone.
    fn expires_natively(&self, resource_type: &str, attributes: &crate::value::Attributes) -> bool {
        let _ = (resource_type, attributes);
        true
    }

    /// The attributes `list` of `resource_type` reads from its scope (`ListRequest::scope`):
    /// the engine cuts each object's attributes down to these, once each distinct value, instead
    /// of copying them all (100,000 objects at scale). `None` (the default) passes them whole;
    /// an empty list passes none, for a provider that lists everything regardless.
    fn list_scope(&self, resource_type: &str) -> Option<&'static [&'static str]> {
        let _ = resource_type;
        None
    }
}

/// Makes a fresh, unconfigured provider; the registry holds one per provider name.
pub type ProviderFactory = fn() -> Box<dyn Provider>;
