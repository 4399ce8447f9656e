//! Asking each provider, before anything is applied, whether the platform would accept the
//! creates and updates a plan proposes ([`Provider::dry_run`]: a Kubernetes server-side dry
//! run). A write the platform would refuse (a name it rejects, a binding the executor may not
//! make) then fails `plan` with the platform's own reason, instead of failing an apply half-way.
//!
//! Only changes whose prerequisites already exist are checked: a change that depends on another
//! change of the same plan would be judged against a platform that lacks what it needs.
//! Replacements are left out too (their create meets the object they replace). Calls run
//! concurrently, at most `parallelism` at once, and cost one call per checked change.

use breakglass_provider::{DryRunRequest, ProviderError};
use std::collections::BTreeSet;
use std::sync::Arc;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

use super::compile::Desired;
use super::error::EngineError;
use super::providers::Providers;
use super::refresh::Live;
use crate::address::Address;
use crate::plan::{Action, Plan};

/// One change the platform refused in a dry run.
#[derive(Debug)]
pub struct Refusal {
    /// The change's address.
    pub address: Address,
    /// The platform's reason.
    pub error: ProviderError,
}

/// Dry-runs the plan's creates and updates and adds the providers' notes to the changes.
/// Fails with every refusal when the platform refused any.
pub async fn dry_run(
    plan: &mut Plan,
    desired: &Desired,
    live: &Live,
    providers: &Providers,
    parallelism: usize,
) -> Result<(), EngineError> {
    let planned: BTreeSet<&Address> = plan
        .resource_changes
        .iter()
        .filter(|c| c.action != Action::NoOp)
        .map(|c| &c.address)
        .collect();
    let semaphore = Arc::new(Semaphore::new(parallelism.max(1)));
    let mut tasks = JoinSet::new();
    for (index, change) in plan.resource_changes.iter().enumerate() {
        if !matches!(change.action, Action::Create | Action::Update)
            || change.depends_on.iter().any(|d| planned.contains(d))
        {
            continue;
        }
        let Some(resource) = desired.resources.get(&change.address) else { continue };
        let before = live.object(&change.address, &change.provider, &change.resource_type).cloned();
        let request = DryRunRequest::new(
            change.resource_type.clone(),
            change.id.clone(),
            before.filter(|_| change.action == Action::Update),
            resource.attributes.clone(),
            resource.context(),
        );
        let provider = providers.get(&change.provider)?.clone();
        let semaphore = semaphore.clone();
        let address = change.address.clone();
        tasks.spawn(async move {
            let _permit = semaphore.acquire_owned().await;
            (index, address, provider.dry_run(request).await)
        });
    }
    let mut refusals = Vec::new();
    while let Some(joined) = tasks.join_next().await {
        let (index, address, outcome) = joined
            .map_err(|error| EngineError::Refused(format!("a dry-run task failed: {error}")))?;
        match outcome {
            Ok(response) => plan.resource_changes[index].notes.extend(response.notes),
            Err(error) => refusals.push(Refusal { address, error }),
        }
    }
    if refusals.is_empty() {
        return Ok(());
    }
    refusals.sort_by(|a, b| a.address.cmp(&b.address));
    Err(EngineError::DryRun(refusals))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::fake::FakeProvider;
    use crate::engine::{PlanOptions, Silent, make_plan};
    use crate::state::State;
    use breakglass_provider::Provider;

    fn setup(body: &str) -> (tempfile::TempDir, crate::policy::Policy, FakeProvider, Providers) {
        let dir = tempfile::tempdir().unwrap();
        let policy = crate::engine::tests::policy(dir.path(), body);
        let fake = FakeProvider::default();
        let providers = Providers::from_providers([(
            "fake".to_owned(),
            Arc::new(fake.clone()) as Arc<dyn Provider>,
        )]);
        (dir, policy, fake, providers)
    }

    fn options() -> PlanOptions {
        PlanOptions {
            at: "2026-11-28T12:00:00Z".parse().unwrap(),
            refresh: true,
            targets: Vec::new(),
            parallelism: 4,
            revert_interrupted: false,
            scoped: false,
        }
    }

    const TWO: &str = r#"
resource "fake_user" "ok" {
  name = "ok"
}

resource "fake_user" "refused" {
  name = "refused-by-platform"
}

resource "fake_user" "later" {
  name       = "later"
  depends_on = [fake_user.refused]
}
"#;

    #[tokio::test]
    async fn accepted_writes_get_the_providers_notes_and_refused_ones_fail_the_plan() {
        let (_dir, policy, fake, providers) = setup(TWO);
        let state = State::default();
        let mut planned =
            make_plan(&policy, &state, &providers, &options(), None, Arc::new(Silent))
                .await
                .unwrap();
        let error = dry_run(&mut planned.plan, &planned.desired, &planned.live, &providers, 2)
            .await
            .unwrap_err();
        let EngineError::DryRun(refusals) = &error else { panic!("{error}") };
        assert_eq!(refusals.len(), 1, "{error}");
        assert_eq!(refusals[0].address.to_string(), "fake_user.refused");
        let message = error.to_string();
        assert!(message.contains("fake_user.refused"), "{message}");
        assert!(message.contains("the fake platform refuses"), "{message}");
        // Only changes whose prerequisites exist are asked about; nothing was written.
        let calls = fake.world.lock().unwrap().calls.clone();
        let mut dry: Vec<&str> =
            calls.iter().filter(|c| c.starts_with("dry_run")).map(String::as_str).collect();
        dry.sort_unstable();
        assert_eq!(dry, ["dry_run ok", "dry_run refused-by-platform"]);
        assert!(fake.world.lock().unwrap().objects.is_empty());
        let ok = planned
            .plan
            .resource_changes
            .iter()
            .find(|c| c.address.to_string() == "fake_user.ok")
            .unwrap();
        assert_eq!(ok.notes, ["the fake platform accepted it in a dry run"]);
    }
}
