//! Issue 3's refresh benchmark: 10,000 objects from a provider with 20 ms latency per call,
//! through the real engine (`breakglass::engine::refresh`), reporting API calls made and wall
//! time against the bound N/page × latency — and against reading one object per call at the
//! default parallelism (10), the way Terraform refreshes.
//!
//! The `local` provider simulates the API: `latency_ms` per call, `list` costs
//! ceil(N / page_size) sequential calls (paging), `read` one call per id.
//!
//! `cargo bench --bench refresh`; `BENCH_OBJECTS=N`, `BENCH_LATENCY_MS=N` to change the setup.

mod support;

use async_trait::async_trait;
use breakglass::engine::{Providers, Silent, compile, refresh};
use breakglass::state::State;
use breakglass_provider::{
    ConfigureRequest, CreateRequest, CreateResponse, DeleteRequest, DeleteResponse, IdRequest,
    ListRequest, ListResponse, Provider, ProviderError, ProviderSchema, ReadRequest, ReadResponse,
    UpdateRequest, UpdateResponse, Value,
};
use std::path::Path;
use std::sync::Arc;
use std::time::Instant;
use support::Spec;

/// The same provider with `list` not offered: refresh falls back to reading by id.
struct ReadOnly(Arc<dyn Provider>);

#[async_trait]
impl Provider for ReadOnly {
    fn schema(&self) -> ProviderSchema {
        let mut schema = self.0.schema();
        for resource in schema.resource_types.values_mut() {
            resource.listable = false;
        }
        schema
    }
    async fn configure(&mut self, _: ConfigureRequest) -> Result<(), ProviderError> {
        Ok(())
    }
    fn resource_id(&self, request: IdRequest) -> Result<String, ProviderError> {
        self.0.resource_id(request)
    }
    async fn read(&self, request: ReadRequest) -> Result<ReadResponse, ProviderError> {
        self.0.read(request).await
    }
    async fn list(&self, request: ListRequest) -> Result<ListResponse, ProviderError> {
        self.0.list(request).await
    }
    async fn create(&self, request: CreateRequest) -> Result<CreateResponse, ProviderError> {
        self.0.create(request).await
    }
    async fn update(&self, request: UpdateRequest) -> Result<UpdateResponse, ProviderError> {
        self.0.update(request).await
    }
    async fn delete(&self, request: DeleteRequest) -> Result<DeleteResponse, ProviderError> {
        self.0.delete(request).await
    }
}

fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// Writes a policy of `objects` baseline access entries with this provider configuration, and
/// the application document holding them (as after an apply).
fn setup(dir: &Path, objects: usize, latency_ms: u64, page_size: u64) {
    let spec = Spec {
        roles: 0,
        persons: 20,
        team_size: 10,
        baseline_access: objects,
        baseline_settings: 0,
        activations: 0,
        provider_extra: format!("  latency_ms = {latency_ms}\n  page_size  = {page_size}\n"),
    };
    support::write_policy(dir, &spec);
    let access: Vec<Value> = (0..objects)
        .map(|n| serde_json::json!({ "principal": format!("svc-{n:06}"), "role": "viewer" }))
        .collect();
    fs_err::create_dir_all(dir.join("app")).unwrap();
    fs_err::write(
        dir.join("app/access.json"),
        serde_json::to_string_pretty(&serde_json::json!({ "access": access, "settings": {} }))
            .unwrap(),
    )
    .unwrap();
}

struct Case {
    name: String,
    page_size: u64,
    list: bool,
    parallelism: usize,
    runs: usize,
}

fn main() {
    let objects = env_u64("BENCH_OBJECTS", 10_000) as usize;
    let latency_ms = env_u64("BENCH_LATENCY_MS", 20);
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    println!("== refresh (issue 3): {objects} objects, {latency_ms} ms per API call ==");
    let cases = [
        Case {
            name: "list, page 100".into(),
            page_size: 100,
            list: true,
            parallelism: 10,
            runs: 3,
        },
        Case {
            name: "list, page 1000".into(),
            page_size: 1000,
            list: true,
            parallelism: 10,
            runs: 3,
        },
        Case {
            name: "read by id (Terraform-style)".into(),
            page_size: 100,
            list: false,
            parallelism: 10,
            runs: 1,
        },
    ];
    let dir = tempfile::tempdir().unwrap();
    for case in &cases {
        setup(dir.path(), objects, latency_ms, case.page_size);
        let loaded = support::load(dir.path(), jiff::Timestamp::now());
        let policy = loaded.policy.unwrap();
        let configured = runtime.block_on(Providers::configure(&policy)).unwrap();
        let providers = if case.list {
            configured
        } else {
            let inner = configured.get("local").unwrap().clone();
            Providers::from_providers([("local".to_owned(), Arc::new(ReadOnly(inner)) as _)])
        };
        let state = State::new();
        let desired =
            compile(&policy, &state, &providers, jiff::Timestamp::now(), None, false).unwrap();
        let mut times = Vec::new();
        let mut calls = 0;
        let mut read = 0;
        for _ in 0..case.runs {
            let started = Instant::now();
            let live = runtime
                .block_on(refresh(
                    &desired,
                    &state,
                    &providers,
                    case.parallelism,
                    true,
                    Arc::new(Silent),
                ))
                .unwrap();
            times.push(started.elapsed().as_secs_f64());
            calls = live.api_calls;
            read = live.objects.len();
        }
        assert_eq!(read, objects, "every object is read");
        let latency = latency_ms as f64 / 1e3;
        let bound = if case.list {
            (objects as f64 / case.page_size as f64).ceil() * latency
        } else {
            objects as f64 * latency / case.parallelism as f64
        };
        let bound_text = if case.list {
            format!("N/page × latency = {}/{} × {latency_ms} ms", objects, case.page_size)
        } else {
            format!(
                "N × latency / parallelism = {objects} × {latency_ms} ms / {}",
                case.parallelism
            )
        };
        let median = {
            let mut sorted = times.clone();
            sorted.sort_by(f64::total_cmp);
            support::percentile(&sorted, 50.0)
        };
        println!(
            "{:<30} parallelism {:>2}: {calls:>6} calls, {read} objects, wall {} — bound {:.2} s \
             ({bound_text}); wall/bound {:.2}",
            case.name,
            case.parallelism,
            support::summary_ms(&times),
            bound,
            median / bound
        );
    }
}
