//! Refreshing an account with 1,000 roles and 3,000 attachments in moto: the provider's bulk
//! listing (one `GetAccountAuthorizationDetails` snapshot shared by both types, plus
//! `ListRoles`) against one call per resource, the way Terraform refreshes (`GetRole` per role,
//! `ListAttachedRolePolicies` per attachment), made 8 at a time as the shared HTTP client
//! allows.
//!
//! Run: `cargo bench -p breakglass-provider-aws --features test-support --bench refresh`
//! (`BENCH_ROLES=N` for another size). Needs moto (scripts/install/moto).

use breakglass_provider::{Attributes, ListRequest, Provider};
use breakglass_provider_aws::AwsProvider;
use breakglass_provider_aws::client::AwsClient;
use breakglass_provider_aws::iam;
use breakglass_provider_aws::testing::{Moto, client, iam_call};
use serde_json::json;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::task::JoinSet;

const POLICIES: [&str; 3] = [
    "arn:aws:iam::aws:policy/ReadOnlyAccess",
    "arn:aws:iam::aws:policy/SecurityAudit",
    "arn:aws:iam::aws:policy/job-function/ViewOnlyAccess",
];

const TRUST: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::123456789012:root"},"Action":"sts:AssumeRole"}]}"#;

fn role_name(n: usize) -> String {
    format!("app-{n:04}")
}

async fn seed(client: &AwsClient, roles: usize) {
    let mut tasks = JoinSet::new();
    for n in 0..roles {
        let client = client.clone();
        tasks.spawn(async move {
            let name = role_name(n);
            iam_call(
                &client,
                "CreateRole",
                &[("RoleName", &name), ("AssumeRolePolicyDocument", TRUST)],
            )
            .await;
            for policy in POLICIES {
                iam_call(
                    &client,
                    "AttachRolePolicy",
                    &[("RoleName", &name), ("PolicyArn", policy)],
                )
                .await;
            }
        });
        if tasks.len() >= 8 {
            tasks.join_next().await;
        }
    }
    while tasks.join_next().await.is_some() {}
}

fn provider(url: &str) -> AwsProvider {
    let mut attributes = Attributes::new();
    attributes.insert("endpoint".into(), json!(url));
    let env: BTreeMap<String, String> = [
        ("AWS_ACCESS_KEY_ID".to_owned(), "testing".to_owned()),
        ("AWS_SECRET_ACCESS_KEY".to_owned(), "testing".to_owned()),
        ("HOME".to_owned(), "/nonexistent".to_owned()),
    ]
    .into();
    let mut provider = AwsProvider::new();
    provider.configure_with_env(&attributes, std::path::Path::new("."), env).expect("configured");
    provider
}

/// Bulk: the provider's `list` of both types, as the engine's refresh makes it.
async fn bulk(url: &str, roles: usize) -> (u64, usize, Duration) {
    let provider = Arc::new(provider(url));
    let role_scope: Vec<Attributes> = (0..roles)
        .map(|n| [("name".to_owned(), json!(role_name(n)))].into_iter().collect())
        .collect();
    let attachment_scope: Vec<Attributes> = (0..roles)
        .flat_map(|n| {
            POLICIES.iter().map(move |p| {
                [("role".to_owned(), json!(role_name(n))), ("policy_arn".to_owned(), json!(p))]
                    .into_iter()
                    .collect()
            })
        })
        .collect();
    let started = Instant::now();
    let (a, b) = (provider.clone(), provider.clone());
    let listed_roles =
        tokio::spawn(async move { a.list(ListRequest::new("aws_iam_role", role_scope)).await });
    let listed_attachments = tokio::spawn(async move {
        b.list(ListRequest::new("aws_iam_role_policy_attachment", attachment_scope)).await
    });
    let roles_listed = listed_roles.await.expect("joined").expect("listed roles");
    let attachments_listed = listed_attachments.await.expect("joined").expect("listed attachments");
    let took = started.elapsed();
    (
        roles_listed.api_calls + attachments_listed.api_calls,
        roles_listed.objects.len() + attachments_listed.objects.len(),
        took,
    )
}

/// One call per resource, 8 at a time.
async fn per_resource(client: &AwsClient, roles: usize) -> (u64, usize, Duration) {
    let counted = client.counted();
    let started = Instant::now();
    let mut tasks = JoinSet::new();
    let mut found = 0;
    let mut jobs: Vec<(usize, Option<&'static str>)> = (0..roles).map(|n| (n, None)).collect();
    jobs.extend((0..roles).flat_map(|n| POLICIES.iter().map(move |p| (n, Some(*p)))));
    for (n, policy) in jobs {
        let client = counted.clone();
        tasks.spawn(async move {
            let name = role_name(n);
            match policy {
                None => {
                    usize::from(iam::get_role(&client, &name).await.expect("GetRole").is_some())
                }
                Some(arn) => {
                    let attached = iam::attached_role_policies(&client, &name)
                        .await
                        .expect("List")
                        .unwrap_or_default();
                    usize::from(attached.iter().any(|a| a.policy_arn == arn))
                }
            }
        });
        if tasks.len() >= 8 {
            found += tasks.join_next().await.expect("a task").expect("joined");
        }
    }
    while let Some(result) = tasks.join_next().await {
        found += result.expect("joined");
    }
    (counted.api_calls(), found, started.elapsed())
}

fn main() {
    let roles: usize =
        std::env::var("BENCH_ROLES").ok().and_then(|v| v.parse().ok()).unwrap_or(1000);
    let runtime = tokio::runtime::Runtime::new().expect("a runtime");
    let moto = Moto::start();
    let client = client(&moto.url);
    let seeding = Instant::now();
    runtime.block_on(seed(&client, roles));
    eprintln!("seeded {roles} roles and {} attachments in {:.1?}", roles * 3, seeding.elapsed());

    let (bulk_calls, bulk_objects, bulk_time) = runtime.block_on(bulk(&moto.url, roles));
    let (each_calls, each_objects, each_time) = runtime.block_on(per_resource(&client, roles));
    assert_eq!(bulk_objects, roles * 4, "the bulk listing found every object");
    assert_eq!(each_objects, roles * 4, "the per-resource reads found every object");
    println!("refresh of {roles} roles and {} attachments (moto 5, 127.0.0.1)", roles * 3);
    println!("{:<40} {:>8} {:>10}", "", "calls", "time");
    println!(
        "{:<40} {:>8} {:>9.2}s",
        "bulk (GetAccountAuthorizationDetails)",
        bulk_calls,
        bulk_time.as_secs_f64()
    );
    println!(
        "{:<40} {:>8} {:>9.2}s",
        "one call per resource (Terraform)",
        each_calls,
        each_time.as_secs_f64()
    );
    println!(
        "{:<40} {:>7.0}x {:>9.1}x",
        "bulk advantage",
        each_calls as f64 / bulk_calls.max(1) as f64,
        each_time.as_secs_f64() / bulk_time.as_secs_f64().max(1e-9)
    );
}
