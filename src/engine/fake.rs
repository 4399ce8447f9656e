//! An in-memory provider for the engine's own tests: objects in a map, a schema with the
//! attribute kinds the engine treats specially (sensitive, JSON documents, forces-replacement),
//! and a call log. It stands beside the engine it tests, as Terraform's provider mock does.

use async_trait::async_trait;
use breakglass_provider::{
    AttributeSchema, AttributeType, Attributes, ConfigureRequest, CreateRequest, CreateResponse,
    DeleteRequest, DeleteResponse, DryRunRequest, DryRunResponse, IdRequest, Provider,
    ProviderError, ProviderSchema, ReadRequest, ReadResponse, ResourceSchema, UpdateRequest,
    UpdateResponse, Value,
};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

/// The fake provider's one resource type.
pub const FAKE_USER: &str = "fake_user";

/// Objects and calls, shared with the test that made the provider.
#[derive(Debug, Default)]
pub struct FakeWorld {
    /// Live objects by id.
    pub objects: BTreeMap<String, Attributes>,
    /// Calls made, as `verb id`.
    pub calls: Vec<String>,
}

/// An in-memory provider.
#[derive(Debug, Clone, Default)]
pub struct FakeProvider {
    /// What it holds.
    pub world: Arc<Mutex<FakeWorld>>,
}

/// The fake provider's schema.
pub fn fake_schema() -> ProviderSchema {
    ProviderSchema::new("fake", "In-memory objects for engine tests.").resource_type(
        FAKE_USER,
        ResourceSchema::new("A user with a password and a policy document.")
            .attribute(
                "name",
                AttributeSchema::new(AttributeType::String).required().forces_replacement(),
            )
            .attribute("password", AttributeSchema::new(AttributeType::String).sensitive())
            .attribute("policy", AttributeSchema::new(AttributeType::Json))
            .attribute("arn", AttributeSchema::new(AttributeType::String).computed()),
    )
}

#[async_trait]
impl Provider for FakeProvider {
    fn schema(&self) -> ProviderSchema {
        fake_schema()
    }

    async fn configure(&mut self, _request: ConfigureRequest) -> Result<(), ProviderError> {
        Ok(())
    }

    fn resource_id(&self, request: IdRequest) -> Result<String, ProviderError> {
        request
            .attributes
            .get("name")
            .and_then(Value::as_str)
            .map(str::to_owned)
            .ok_or_else(|| ProviderError::invalid("fake_user needs a name"))
    }

    /// Refuses names that say so, like a platform's validation would.
    async fn dry_run(&self, request: DryRunRequest) -> Result<DryRunResponse, ProviderError> {
        self.world.lock().unwrap().calls.push(format!("dry_run {}", request.id));
        if request.id.starts_with("refused") {
            return Err(ProviderError::invalid(format!(
                "the fake platform refuses the name {}",
                request.id
            )));
        }
        Ok(DryRunResponse::new(vec!["the fake platform accepted it in a dry run".to_owned()]))
    }

    async fn read(&self, request: ReadRequest) -> Result<ReadResponse, ProviderError> {
        let mut world = self.world.lock().unwrap();
        world.calls.push(format!("read {}", request.ids.join(",")));
        let objects = request
            .ids
            .iter()
            .filter_map(|id| {
                // Like most platforms, passwords are not read back.
                let mut object = world.objects.get(id)?.clone();
                object.remove("password");
                Some((id.clone(), object))
            })
            .collect();
        Ok(ReadResponse::new(objects, 1))
    }

    async fn create(&self, request: CreateRequest) -> Result<CreateResponse, ProviderError> {
        let mut world = self.world.lock().unwrap();
        world.calls.push(format!("create {}", request.id));
        let mut attributes = request.attributes.clone();
        attributes.insert("arn".into(), Value::String(format!("arn:fake:{}", request.id)));
        world.objects.insert(request.id.clone(), attributes.clone());
        Ok(CreateResponse::new(request.id, attributes))
    }

    async fn update(&self, request: UpdateRequest) -> Result<UpdateResponse, ProviderError> {
        let mut world = self.world.lock().unwrap();
        world.calls.push(format!("update {}", request.id));
        let object = world.objects.entry(request.id.clone()).or_default();
        object.extend(request.after.clone());
        Ok(UpdateResponse::new(object.clone()))
    }

    async fn delete(&self, request: DeleteRequest) -> Result<DeleteResponse, ProviderError> {
        let mut world = self.world.lock().unwrap();
        world.calls.push(format!("delete {}", request.id));
        world.objects.remove(&request.id);
        Ok(DeleteResponse::default())
    }
}
