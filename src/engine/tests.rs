//! The engine end to end in-process, on the fake provider: what only the engine decides —
//! redaction of secrets, JSON documents compared as JSON, replacement, drift, idempotence.

use breakglass_provider::{Provider, Value};
use jiff::Timestamp;
use std::sync::Arc;

use super::fake::{FakeProvider, fake_schema};
use super::{ApplyMode, PlanOptions, Providers, Silent, apply, make_plan};
use crate::plan::{Action, DriftKind, Reason};
use crate::policy::{Policy, Strictness, load};
use crate::state::{LocalStore, StateStore};

const NOW: &str = "2026-11-28T12:00:00Z";

pub(super) fn policy(dir: &std::path::Path, body: &str) -> Policy {
    fs_err::write(dir.join("main.hcl"), body).unwrap();
    let schemas = [("fake".to_owned(), fake_schema())].into_iter().collect();
    let loaded = load(dir, &schemas, NOW.parse().unwrap(), Strictness::Operate);
    assert!(!loaded.diagnostics.has_errors(), "{:?}", loaded.diagnostics);
    loaded.policy.unwrap()
}

fn options() -> PlanOptions {
    PlanOptions {
        at: NOW.parse::<Timestamp>().unwrap(),
        refresh: true,
        targets: Vec::new(),
        parallelism: 4,
        revert_interrupted: false,
        scoped: false,
    }
}

const USER: &str = r#"
resource "fake_user" "svc" {
  name     = "svc"
  password = "hunter2-secret"
  policy   = jsonencode({ Version = "2012-10-17", Statement = [{ Effect = "Allow", Action = "s3:GetObject" }] })
}
"#;

async fn plan_and_apply(
    policy: &Policy,
    store: &LocalStore,
    providers: &Providers,
) -> crate::plan::Plan {
    let mut guard = store.lock("test", std::time::Duration::from_secs(1)).await.unwrap();
    let mut state = guard.read().await.unwrap();
    let planned =
        make_plan(policy, &state, providers, &options(), None, Arc::new(Silent)).await.unwrap();
    apply(
        guard.as_mut(),
        &mut state,
        providers,
        &planned.desired,
        &planned.live,
        &planned.plan.resource_changes,
        &ApplyMode::Full,
        4,
        Arc::new(Silent),
    )
    .await
    .unwrap();
    planned.plan
}

fn setup(body: &str) -> (tempfile::TempDir, Policy, LocalStore, FakeProvider, Providers) {
    let dir = tempfile::tempdir().unwrap();
    let policy = policy(dir.path(), body);
    let store = LocalStore::new(dir.path().join("state.db"));
    let fake = FakeProvider::default();
    let providers = Providers::from_providers([(
        "fake".to_owned(),
        Arc::new(fake.clone()) as Arc<dyn Provider>,
    )]);
    (dir, policy, store, fake, providers)
}

#[tokio::test]
async fn secrets_never_reach_plans_or_state_and_are_compared_by_digest() {
    let (dir, policy, store, fake, providers) = setup(USER);
    let plan = plan_and_apply(&policy, &store, &providers).await;
    let text = serde_json::to_string(&plan).unwrap();
    assert!(!text.contains("hunter2"), "the plan leaks the password: {text}");
    assert!(text.contains("(sensitive:sha256:"), "{text}");
    let state = serde_json::to_string(&store.read().await.unwrap()).unwrap();
    assert!(!state.contains("hunter2"), "the state leaks the password");
    let file = fs_err::read(dir.path().join("state.db")).unwrap();
    assert!(!String::from_utf8_lossy(&file).contains("hunter2"), "the database leaks it");
    assert_eq!(
        fake.world.lock().unwrap().objects["svc"]["password"],
        "hunter2-secret",
        "the platform got it"
    );

    // The platform does not read passwords back; the recorded digest says it is unchanged.
    let state = store.read().await.unwrap();
    let again =
        make_plan(&policy, &state, &providers, &options(), None, Arc::new(Silent)).await.unwrap();
    assert!(!again.plan.has_changes(), "{:?}", again.plan.resource_changes);

    // A new password is a change, still shown only as a digest.
    let changed =
        super::tests::policy(dir.path(), &USER.replace("hunter2-secret", "correct-horse"));
    let planned =
        make_plan(&changed, &state, &providers, &options(), None, Arc::new(Silent)).await.unwrap();
    let change = &planned.plan.resource_changes[0];
    assert_eq!(change.action, Action::Update);
    assert_eq!(change.changed_attributes, ["password"]);
    assert!(!serde_json::to_string(&planned.plan).unwrap().contains("correct-horse"));
}

#[tokio::test]
async fn json_documents_are_compared_as_json_not_text() {
    let (_dir, policy, store, fake, providers) = setup(USER);
    plan_and_apply(&policy, &store, &providers).await;
    // The platform returns the document with other whitespace and key order.
    {
        let mut world = fake.world.lock().unwrap();
        let object = world.objects.get_mut("svc").unwrap();
        object.insert(
            "policy".into(),
            Value::String("{ \"Statement\": [ {\"Action\": \"s3:GetObject\", \"Effect\": \"Allow\"} ],\n \"Version\": \"2012-10-17\" }".into()),
        );
    }
    let state = store.read().await.unwrap();
    let planned =
        make_plan(&policy, &state, &providers, &options(), None, Arc::new(Silent)).await.unwrap();
    assert!(!planned.plan.has_changes(), "{:?}", planned.plan.resource_changes);
    assert!(planned.plan.drift.is_empty(), "{:?}", planned.plan.drift);
}

#[tokio::test]
async fn changing_an_identifying_attribute_replaces_the_object() {
    let (dir, policy, store, fake, providers) = setup(USER);
    plan_and_apply(&policy, &store, &providers).await;
    let renamed = super::tests::policy(
        dir.path(),
        &USER.replace("name     = \"svc\"", "name     = \"svc2\""),
    );
    let plan = plan_and_apply(&renamed, &store, &providers).await;
    let change = &plan.resource_changes[0];
    assert_eq!(change.action, Action::Replace);
    assert_eq!(change.actions, ["delete", "create"]);
    let world = fake.world.lock().unwrap();
    assert!(
        world.objects.contains_key("svc2") && !world.objects.contains_key("svc"),
        "{:?}",
        world.objects.keys()
    );
    let calls: Vec<&String> = world.calls.iter().filter(|c| !c.starts_with("read")).collect();
    assert_eq!(calls, ["create svc", "delete svc", "create svc2"]);
}

#[tokio::test]
async fn drift_is_reported_and_put_back_and_a_second_apply_is_a_no_op() {
    let (_dir, policy, store, fake, providers) = setup(USER);
    plan_and_apply(&policy, &store, &providers).await;
    fake.world
        .lock()
        .unwrap()
        .objects
        .get_mut("svc")
        .unwrap()
        .insert("policy".into(), Value::String("{}".into()));
    let plan = plan_and_apply(&policy, &store, &providers).await;
    assert_eq!(plan.drift.len(), 1);
    assert_eq!(plan.drift[0].kind, DriftKind::Changed);
    assert_eq!(plan.resource_changes[0].reason, Reason::Drift);
    let calls_before = fake.world.lock().unwrap().calls.len();
    let plan = plan_and_apply(&policy, &store, &providers).await;
    assert!(!plan.has_changes());
    let calls: Vec<String> = fake.world.lock().unwrap().calls[calls_before..].to_vec();
    assert!(calls.iter().all(|c| c.starts_with("read")), "a second apply only reads: {calls:?}");
}

/// Diffing is spread over the cores in runs of addresses: the changes and drift are those one
/// run over every address finds, in the same order. Every address has something to show, so
/// one lost or walked twice at the edge of a run shows.
#[tokio::test]
async fn a_diff_spread_over_cores_equals_one_run() {
    let user = |i: usize| {
        format!(
            "resource \"fake_user\" \"u{i:05}\" {{\n  name = \"u{i:05}\"\n  policy = \"{{}}\"\n}}\n"
        )
    };
    let (dir, policy, store, fake, providers) = setup(&(0..4_500).map(user).collect::<String>());
    plan_and_apply(&policy, &store, &providers).await;
    {
        let mut world = fake.world.lock().unwrap();
        for i in (0..4_500).step_by(3) {
            let object = world.objects.get_mut(&format!("u{i:05}")).unwrap();
            object.insert("policy".into(), Value::String("{\"changed\":true}".into()));
        }
        for i in (1..4_500).step_by(3) {
            world.objects.remove(&format!("u{i:05}"));
        }
    }
    // A third of the users leave the policy (the rest drifted or were deleted); some join it.
    let body: String = (0..4_700).filter(|i| *i >= 4_500 || i % 3 != 2).map(user).collect();
    let policy = super::tests::policy(dir.path(), &body);
    let state = store.read().await.unwrap();
    let planned =
        make_plan(&policy, &state, &providers, &options(), None, Arc::new(Silent)).await.unwrap();

    let spread = super::diff::diff(&planned.desired, &planned.live, &state, &providers);
    let everything = (std::ops::Bound::Unbounded, std::ops::Bound::Unbounded);
    let mut one = super::diff::diff_addresses(
        &planned.desired,
        &planned.live,
        &state,
        &providers,
        everything,
    );
    super::diff::add_unmanaged(
        &mut one.changes,
        &mut one.drift,
        &planned.desired,
        &planned.live,
        &providers,
    );
    assert_eq!(spread.changes.len(), 4_700, "one change per address");
    assert_eq!(spread.changes, one.changes);
    assert_eq!(spread.drift, one.drift);
    for action in [Action::Create, Action::Update, Action::Delete] {
        assert!(spread.changes.iter().any(|c| c.action == action), "no {action:?} to compare");
    }
    assert!(spread.drift.iter().any(|d| d.kind == DriftKind::Changed));
    assert!(spread.drift.iter().any(|d| d.kind == DriftKind::Deleted));
}
