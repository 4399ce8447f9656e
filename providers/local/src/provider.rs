//! The `local` provider's implementation of the provider contract.

use async_trait::async_trait;
use breakglass_provider::{
    Attributes, ConfigureRequest, CreateRequest, CreateResponse, DeleteRequest, DeleteResponse,
    ErrorKind, IdRequest, ListRequest, ListResponse, Provider, ProviderError, ProviderSchema,
    ReadRequest, ReadResponse, UpdateRequest, UpdateResponse, Value,
};
use std::collections::BTreeMap;

use crate::config::LocalConfig;
use crate::document::{AccessEntry, Document, DocumentError, access_id};
use crate::schema::{ACCESS, SETTING, schema};

/// The `local` provider. Unconfigured until [`Provider::configure`] is called.
#[derive(Debug, Default)]
pub struct LocalProvider {
    config: Option<LocalConfig>,
}

impl LocalProvider {
    /// A fresh, unconfigured provider.
    pub fn new() -> Self {
        Self::default()
    }

    /// Makes a boxed provider, for the provider registry.
    pub fn boxed() -> Box<dyn Provider> {
        Box::new(Self::new())
    }

    fn config(&self) -> Result<&LocalConfig, ProviderError> {
        self.config.as_ref().ok_or_else(|| {
            ProviderError::unsupported("the local provider was used before it was configured")
        })
    }

    async fn simulate_calls(&self, calls: u64) -> Result<(), ProviderError> {
        let latency = self.config()?.latency;
        if !latency.is_zero() {
            for _ in 0..calls {
                tokio::time::sleep(latency).await;
            }
        }
        Ok(())
    }

    fn check_write_allowed(&self, id: &str) -> Result<(), ProviderError> {
        if self.config()?.fail_writes_to.contains(id) {
            return Err(ProviderError::new(
                ErrorKind::Invalid,
                format!("simulated failure writing {id} (listed in fail_writes_to)"),
            ));
        }
        Ok(())
    }

    async fn with_document<T: Send + 'static>(
        &self,
        change: impl FnOnce(&mut Document) -> Result<T, ProviderError> + Send + 'static,
    ) -> Result<T, ProviderError> {
        let path = self.config()?.path.clone();
        tokio::task::spawn_blocking(move || Document::update(&path, change))
            .await
            .map_err(|error| ProviderError::transient(format!("document writer stopped: {error}")))?
            .map_err(document_error)?
    }

    async fn load(&self) -> Result<Document, ProviderError> {
        let path = self.config()?.path.clone();
        tokio::task::spawn_blocking(move || Document::load(&path))
            .await
            .map_err(|error| ProviderError::transient(format!("document reader stopped: {error}")))?
            .map_err(document_error)
    }
}

fn document_error(error: DocumentError) -> ProviderError {
    match error {
        DocumentError::Io(_) => ProviderError::transient(error.to_string()),
        DocumentError::Parse(..) => ProviderError::protocol(error.to_string()),
    }
}

fn string_attribute<'a>(
    attributes: &'a Attributes,
    resource_type: &str,
    name: &str,
) -> Result<&'a str, ProviderError> {
    attributes.get(name).and_then(Value::as_str).ok_or_else(|| {
        ProviderError::invalid(format!("{resource_type}: `{name}` must be set to a string"))
    })
}

fn optional_string(attributes: &Attributes, name: &str) -> Option<String> {
    attributes.get(name).and_then(Value::as_str).map(str::to_owned)
}

fn access_attributes(entry: &AccessEntry) -> Attributes {
    let mut attributes = Attributes::new();
    attributes.insert("principal".into(), Value::String(entry.principal.clone()));
    attributes.insert("role".into(), Value::String(entry.role.clone()));
    attributes
        .insert("expires_at".into(), entry.expires_at.clone().map_or(Value::Null, Value::String));
    attributes
}

fn setting_attributes(key: &str, value: &str) -> Attributes {
    let mut attributes = Attributes::new();
    attributes.insert("key".into(), Value::String(key.to_owned()));
    attributes.insert("value".into(), Value::String(value.to_owned()));
    attributes
}

fn all_objects(
    document: &Document,
    resource_type: &str,
) -> Result<BTreeMap<String, Attributes>, ProviderError> {
    match resource_type {
        ACCESS => {
            Ok(document.access.iter().map(|entry| (entry.id(), access_attributes(entry))).collect())
        }
        SETTING => Ok(document
            .settings
            .iter()
            .map(|(key, value)| (key.clone(), setting_attributes(key, value)))
            .collect()),
        other => Err(unknown_type(other)),
    }
}

fn unknown_type(resource_type: &str) -> ProviderError {
    ProviderError::invalid(format!(
        "the local provider has no resource type {resource_type}; it offers {ACCESS} and {SETTING}"
    ))
}

/// Writes `attributes` for `id` into the document and returns the object as now stored.
fn put(
    document: &mut Document,
    resource_type: &str,
    id: &str,
    attributes: &Attributes,
) -> Result<Attributes, ProviderError> {
    match resource_type {
        ACCESS => {
            let principal = string_attribute(attributes, ACCESS, "principal")?.to_owned();
            let role = string_attribute(attributes, ACCESS, "role")?.to_owned();
            if access_id(&principal, &role) != id {
                return Err(ProviderError::invalid(format!(
                    "{ACCESS} {id}: principal and role cannot change in place; replace it"
                )));
            }
            let expires_at = optional_string(attributes, "expires_at");
            let entry = match document.access.iter_mut().find(|entry| entry.id() == id) {
                Some(entry) => {
                    entry.expires_at = expires_at;
                    entry.clone()
                }
                None => {
                    let entry = AccessEntry { principal, role, expires_at };
                    document.access.push(entry.clone());
                    entry
                }
            };
            Ok(access_attributes(&entry))
        }
        SETTING => {
            let value = string_attribute(attributes, SETTING, "value")?.to_owned();
            document.settings.insert(id.to_owned(), value.clone());
            Ok(setting_attributes(id, &value))
        }
        other => Err(unknown_type(other)),
    }
}

#[async_trait]
impl Provider for LocalProvider {
    fn schema(&self) -> ProviderSchema {
        schema()
    }

    async fn configure(&mut self, request: ConfigureRequest) -> Result<(), ProviderError> {
        self.config = Some(LocalConfig::from_attributes(&request.config, &request.base_dir)?);
        Ok(())
    }

    fn resource_id(&self, request: IdRequest<'_>) -> Result<String, ProviderError> {
        match request.resource_type {
            ACCESS => Ok(access_id(
                string_attribute(request.attributes, ACCESS, "principal")?,
                string_attribute(request.attributes, ACCESS, "role")?,
            )),
            SETTING => Ok(string_attribute(request.attributes, SETTING, "key")?.to_owned()),
            other => Err(unknown_type(other)),
        }
    }

    async fn read(&self, request: ReadRequest) -> Result<ReadResponse, ProviderError> {
        // One simulated GET per object: the way a per-resource refresh reads an API.
        let calls = request.ids.len() as u64;
        self.simulate_calls(calls).await?;
        let document = self.load().await?;
        let mut everything = all_objects(&document, &request.resource_type)?;
        let objects = request.ids.iter().filter_map(|id| everything.remove_entry(id)).collect();
        Ok(ReadResponse::new(objects, calls))
    }

    fn list_scope(&self, _resource_type: &str) -> Option<&'static [&'static str]> {
        // The whole document is listed; the scope is not read.
        Some(&[])
    }

    async fn list(&self, request: ListRequest) -> Result<ListResponse, ProviderError> {
        let document = self.load().await?;
        let objects = all_objects(&document, &request.resource_type)?;
        let page_size = self.config()?.page_size;
        let calls = objects.len().div_ceil(page_size).max(1) as u64;
        self.simulate_calls(calls).await?;
        let privileged_roles = &self.config()?.privileged_roles;
        let privileged: Vec<String> = if request.resource_type == ACCESS {
            document
                .access
                .iter()
                .filter(|entry| privileged_roles.contains(&entry.role))
                .map(AccessEntry::id)
                .collect()
        } else {
            Vec::new()
        };
        Ok(ListResponse::new(objects, calls).with_privileged(privileged))
    }

    async fn create(&self, request: CreateRequest) -> Result<CreateResponse, ProviderError> {
        self.check_write_allowed(&request.id)?;
        self.simulate_calls(1).await?;
        let CreateRequest { resource_type, id, attributes, .. } = request;
        let stored_id = id.clone();
        let attributes = self
            .with_document(move |document| put(document, &resource_type, &id, &attributes))
            .await?;
        Ok(CreateResponse::new(stored_id, attributes))
    }

    async fn update(&self, request: UpdateRequest) -> Result<UpdateResponse, ProviderError> {
        self.check_write_allowed(&request.id)?;
        self.simulate_calls(1).await?;
        let UpdateRequest { resource_type, id, after, .. } = request;
        let attributes =
            self.with_document(move |document| put(document, &resource_type, &id, &after)).await?;
        Ok(UpdateResponse::new(attributes))
    }

    async fn delete(&self, request: DeleteRequest) -> Result<DeleteResponse, ProviderError> {
        self.check_write_allowed(&request.id)?;
        self.simulate_calls(1).await?;
        let DeleteRequest { resource_type, id, .. } = request;
        self.with_document(move |document| match resource_type.as_str() {
            ACCESS => {
                document.access.retain(|entry| entry.id() != id);
                Ok(())
            }
            SETTING => {
                document.settings.remove(&id);
                Ok(())
            }
            other => Err(unknown_type(other)),
        })
        .await?;
        Ok(DeleteResponse::default())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use breakglass_provider::ChangeContext;
    use serde_json::json;

    async fn configured(dir: &std::path::Path) -> LocalProvider {
        let mut provider = LocalProvider::new();
        let mut config = Attributes::new();
        config.insert("path".into(), json!("app.json"));
        config.insert("page_size".into(), json!(2));
        config.insert("fail_writes_to".into(), json!(["mallory/admin"]));
        provider.configure(ConfigureRequest::new(config, dir)).await.unwrap();
        provider
    }

    fn access(principal: &str, role: &str, expires_at: Option<&str>) -> Attributes {
        let mut attributes = Attributes::new();
        attributes.insert("principal".into(), json!(principal));
        attributes.insert("role".into(), json!(role));
        attributes.insert("expires_at".into(), expires_at.map_or(Value::Null, |at| json!(at)));
        attributes
    }

    #[tokio::test]
    async fn create_read_update_delete_round_trip_and_are_idempotent() {
        let dir = tempfile::tempdir().unwrap();
        let provider = configured(dir.path()).await;
        let wanted = access("alice", "admin", Some("2030-01-01T00:00:00Z"));
        let id = provider.resource_id(IdRequest::new(ACCESS, &wanted)).unwrap();
        assert_eq!(id, "alice/admin");
        for _ in 0..2 {
            let created = provider
                .create(CreateRequest::new(ACCESS, &id, wanted.clone(), ChangeContext::baseline()))
                .await
                .unwrap();
            assert_eq!(created.attributes, wanted);
        }
        let read = provider.read(ReadRequest::new(ACCESS, vec![id.clone()])).await.unwrap();
        assert_eq!(read.objects.len(), 1, "a second create must not add a second entry");
        let later = access("alice", "admin", Some("2031-01-01T00:00:00Z"));
        let updated = provider
            .update(UpdateRequest::new(
                ACCESS,
                &id,
                wanted.clone(),
                later.clone(),
                ChangeContext::baseline(),
            ))
            .await
            .unwrap();
        assert_eq!(updated.attributes, later);
        for _ in 0..2 {
            provider
                .delete(DeleteRequest::new(ACCESS, &id, later.clone(), ChangeContext::baseline()))
                .await
                .unwrap();
        }
        let read = provider.read(ReadRequest::new(ACCESS, vec![id])).await.unwrap();
        assert!(read.objects.is_empty());
    }

    #[tokio::test]
    async fn list_counts_pages() {
        let dir = tempfile::tempdir().unwrap();
        let provider = configured(dir.path()).await;
        for n in 0..5 {
            let attributes = access(&format!("user{n}"), "viewer", None);
            let id = provider.resource_id(IdRequest::new(ACCESS, &attributes)).unwrap();
            provider
                .create(CreateRequest::new(ACCESS, id, attributes, ChangeContext::baseline()))
                .await
                .unwrap();
        }
        let listed = provider.list(ListRequest::new(ACCESS, vec![])).await.unwrap();
        assert_eq!(listed.objects.len(), 5);
        assert_eq!(listed.api_calls, 3, "5 objects at 2 a page");
    }

    #[tokio::test]
    async fn writes_to_listed_ids_fail_and_change_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let provider = configured(dir.path()).await;
        let attributes = access("mallory", "admin", None);
        let error = provider
            .create(CreateRequest::new(
                ACCESS,
                "mallory/admin",
                attributes,
                ChangeContext::baseline(),
            ))
            .await
            .unwrap_err();
        assert!(error.message().contains("simulated failure"), "{error}");
        let listed = provider.list(ListRequest::new(ACCESS, vec![])).await.unwrap();
        assert!(listed.objects.is_empty());
    }

    #[tokio::test]
    async fn an_unknown_type_is_refused_with_the_types_offered() {
        let dir = tempfile::tempdir().unwrap();
        let provider = configured(dir.path()).await;
        let error = provider.read(ReadRequest::new("local_nope", vec![])).await.unwrap_err();
        assert!(error.message().contains("local_access"), "{error}");
    }
}
