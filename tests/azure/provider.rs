//! The provider's calls against the contract server: plain and PIM assignments, Azure's own
//! expiry, the revert that waits, long-running requests, eventual consistency, races with
//! someone else's change, paging, throttling, tokens, and errors.

use breakglass_provider::{
    ActivationContext, Attributes, ChangeContext, ConfigureRequest, CreateRequest, DeleteRequest,
    ErrorKind, ListRequest, Provider, ProviderError, ReadRequest, UpdateRequest,
};
use breakglass_provider_azure::{AzureProvider, ROLE_ASSIGNMENT};
use jiff::{SignedDuration, Timestamp};
use serde_json::{Value, json};
use std::time::{Duration, Instant};

use super::contract::{
    CLIENT_ID, CLIENT_SECRET, ContractServer, Fault, TENANT_ID, Tenant, role_id, roles,
    schedule_request_body, subscription_scope,
};

const ALICE: &str = "3f2b8c1e-5d4a-4e6b-9c7d-0a1b2c3d4e5f";
const BOB: &str = "7d1e9a2b-4c6f-4b8a-9e0d-2f3a4b5c6d7e";
const GHOST: &str = "00000000-0000-4000-8000-00000000dead";

fn now() -> Timestamp {
    "2026-12-01T10:00:00Z".parse().unwrap()
}

fn tenant() -> Tenant {
    Tenant::new(now()).principal(ALICE, "User").principal(BOB, "User")
}

/// A provider configured against `server`, quick to poll, with `extra` block attributes.
async fn provider(server: &ContractServer, extra: Value) -> AzureProvider {
    let mut config: Attributes = serde_json::from_value(json!({
        "tenant_id": TENANT_ID,
        "client_id": CLIENT_ID,
        "client_secret": CLIENT_SECRET,
        "authority_host": server.url(),
        "resource_manager_endpoint": server.url(),
        "poll_interval_seconds": 0.02,
        "operation_timeout_seconds": 5,
    }))
    .unwrap();
    for (name, value) in serde_json::from_value::<Attributes>(extra).unwrap().iter() {
        config.insert(name.clone(), value.clone());
    }
    let mut provider = AzureProvider::new();
    provider.configure(ConfigureRequest::new(config, ".")).await.expect("configured");
    provider
}

fn declared(scope: &str, role: &str, principal: &str) -> Attributes {
    serde_json::from_value(json!({
        "scope": scope, "role_definition_id": role_id(role), "principal_id": principal,
    }))
    .unwrap()
}

fn id(provider: &AzureProvider, attributes: &Attributes) -> String {
    provider.resource_id(breakglass_provider::IdRequest::new(ROLE_ASSIGNMENT, attributes)).unwrap()
}

fn activation(hours: i64) -> ActivationContext {
    ActivationContext::new("act_01JTEST", "alice", now(), now() + SignedDuration::from_hours(hours))
}

fn granted(scope: &str, role: &str, principal: &str, end: Timestamp) -> Attributes {
    let mut attributes = declared(scope, role, principal);
    attributes.insert("expires_at".into(), json!(end.to_string()));
    attributes
}

async fn create(
    provider: &AzureProvider,
    attributes: &Attributes,
    context: ChangeContext,
) -> Result<Attributes, ProviderError> {
    let request =
        CreateRequest::new(ROLE_ASSIGNMENT, id(provider, attributes), attributes.clone(), context);
    provider.create(request).await.map(|response| response.attributes)
}

async fn read(provider: &AzureProvider, id: &str) -> Option<Attributes> {
    let response =
        provider.read(ReadRequest::new(ROLE_ASSIGNMENT, vec![id.to_owned()])).await.unwrap();
    response.objects.get(id).cloned()
}

async fn delete(
    provider: &AzureProvider,
    id: &str,
    context: ChangeContext,
) -> Result<(), ProviderError> {
    let request = DeleteRequest::new(ROLE_ASSIGNMENT, id, Attributes::new(), context);
    provider.delete(request).await.map(|_| ())
}

fn writes(server: &ContractServer) -> Vec<(String, String)> {
    server.tenant(|t| {
        t.received
            .iter()
            .filter(|r| r.method != "GET" && !r.path.ends_with("/token"))
            .map(|r| (r.method.clone(), r.path.rsplit('/').nth(1).unwrap_or_default().to_owned()))
            .collect()
    })
}

#[tokio::test]
async fn a_baseline_assignment_is_created_once_read_and_deleted() {
    let server = ContractServer::start(tenant());
    let provider = provider(&server, json!({})).await;
    let scope = subscription_scope();
    let mut wanted = declared(&scope, roles::READER, BOB);
    wanted.insert("principal_type".into(), json!("User"));
    let id = id(&provider, &wanted);

    let live = create(&provider, &wanted, ChangeContext::baseline()).await.unwrap();
    assert_eq!(live["principal_id"], json!(BOB));
    assert_eq!(live["expires_at"], Value::Null);
    assert_eq!(
        live["role_definition_id"],
        json!(format!("/providers/Microsoft.Authorization/roleDefinitions/{}", roles::READER))
    );
    let put = server.tenant(|t| t.received_matching("PUT", "").last().map(|r| r.body.clone()));
    assert_eq!(
        put.flatten().unwrap(),
        json!({"properties": {"roleDefinitionId": role_id(roles::READER), "principalId": BOB, "principalType": "User"}})
    );
    assert_eq!(read(&provider, &id).await.unwrap()["scope"], json!(scope));

    // Again: found, not made twice.
    create(&provider, &wanted, ChangeContext::baseline()).await.unwrap();
    assert_eq!(writes(&server), [("PUT".to_owned(), "roleAssignments".to_owned())]);
    assert_eq!(server.tenant(|t| t.assignments.len()), 1);

    delete(&provider, &id, ChangeContext::baseline()).await.unwrap();
    assert!(read(&provider, &id).await.is_none());
    delete(&provider, &id, ChangeContext::baseline()).await.unwrap();
    assert_eq!(
        writes(&server),
        [
            ("PUT".to_owned(), "roleAssignments".to_owned()),
            ("DELETE".to_owned(), "roleAssignments".to_owned())
        ],
        "deleting what is gone sends nothing"
    );
}

#[tokio::test]
async fn an_emergency_grant_is_a_pim_assignment_that_azure_ends_by_itself() {
    let server = ContractServer::start(tenant());
    let provider = provider(&server, json!({})).await;
    let scope = subscription_scope();
    let context = activation(2);
    let wanted = granted(&scope, roles::OWNER, ALICE, context.end);
    let id = id(&provider, &wanted);

    let live = create(&provider, &wanted, ChangeContext::grant(context.clone())).await.unwrap();
    assert_eq!(live["expires_at"], json!("2026-12-01T12:00:00Z"));
    let body = server.tenant(|t| t.requests[0].body.clone());
    assert_eq!(body["properties"]["requestType"], "AdminAssign");
    assert_eq!(
        body["properties"]["scheduleInfo"],
        json!({"startDateTime": "2026-12-01T10:00:00Z", "expiration": {"type": "AfterDateTime", "endDateTime": "2026-12-01T12:00:00Z"}})
    );
    assert_eq!(
        body["properties"]["ticketInfo"],
        json!({"ticketNumber": "act_01JTEST", "ticketSystem": "breakglass"})
    );
    let end = server.tenant(|t| t.schedules_of(&scope, roles::OWNER, ALICE)[0].end);
    assert_eq!(end, Some(context.end), "Azure holds the end");
    assert_eq!(read(&provider, &id).await.unwrap()["expires_at"], json!("2026-12-01T12:00:00Z"));

    // A retry of the same grant finds its own assignment.
    create(&provider, &wanted, ChangeContext::grant(context)).await.unwrap();
    assert_eq!(server.tenant(|t| t.requests.len()), 1);

    // Nobody runs breakglass; Azure's clock passes the end, and the access is gone.
    server.tenant(|t| t.now = "2026-12-01T12:00:01Z".parse().unwrap());
    assert!(read(&provider, &id).await.is_none());
    assert!(server.tenant(|t| t.assignment(&scope, roles::OWNER, ALICE).is_none()));
    // The revert finds nothing left to take, and sends nothing.
    delete(&provider, &id, ChangeContext::revert(Some(activation(2)))).await.unwrap();
    assert_eq!(writes(&server), [("PUT".to_owned(), "roleAssignmentScheduleRequests".to_owned())]);
}

#[tokio::test]
async fn the_revert_submits_admin_remove_and_waits_until_reads_no_longer_show_it() {
    let mut tenant = tenant();
    tenant.provisioning_ticks = 3;
    tenant.consistency_lag = 2;
    let server = ContractServer::start(tenant);
    let provider = provider(&server, json!({})).await;
    let scope = subscription_scope();
    let context = activation(1);
    let wanted = granted(&scope, roles::OWNER, ALICE, context.end);
    let id = id(&provider, &wanted);

    create(&provider, &wanted, ChangeContext::grant(context.clone())).await.unwrap();
    assert_eq!(server.tenant(|t| t.requests[0].status.clone()), "Provisioned");
    assert!(read(&provider, &id).await.is_some(), "visible once create returns");

    delete(&provider, &id, ChangeContext::revert(Some(context))).await.unwrap();
    let (remove, status) =
        server.tenant(|t| (t.requests[1].request_type.clone(), t.requests[1].status.clone()));
    assert_eq!((remove.as_str(), status.as_str()), ("AdminRemove", "Revoked"));
    assert!(read(&provider, &id).await.is_none(), "gone once delete returns");
    let polls = server.tenant(|t| t.received_matching("GET", &t.requests[1].name.clone()).len());
    assert!(polls >= 1, "the pending removal was looked at until it was done");
}

#[tokio::test]
async fn a_request_that_does_not_finish_in_time_is_a_retryable_error_and_is_picked_up_again() {
    let mut tenant = tenant();
    tenant.provisioning_ticks = 1_000_000;
    let server = ContractServer::start(tenant);
    let provider = provider(&server, json!({"operation_timeout_seconds": 1})).await;
    let context = activation(1);
    let wanted = granted(&subscription_scope(), roles::OWNER, ALICE, context.end);
    let began = Instant::now();
    let error =
        create(&provider, &wanted, ChangeContext::grant(context.clone())).await.unwrap_err();
    assert!(began.elapsed() < Duration::from_secs(4), "bounded by the operation timeout");
    assert_eq!(error.kind(), ErrorKind::Transient, "{error}");
    let name = server.tenant(|t| t.requests[0].name.clone());
    assert!(error.message().contains(&format!("AdminAssign request {name}")), "{error}");
    assert!(error.message().contains("is still Accepted after 1 s"), "{error}");

    // Azure gets there; the next apply sends the same request and waits for it.
    server.tenant(|t| t.requests[0].ticks_left = 2);
    create(&provider, &wanted, ChangeContext::grant(context)).await.unwrap();
    assert_eq!(server.tenant(|t| t.requests.len()), 1, "one request, picked up again");
    assert_eq!(server.tenant(|t| t.assignments.len()), 1);
}

#[tokio::test]
async fn a_request_azure_fails_is_an_error_naming_its_status_and_grants_nothing() {
    let server = ContractServer::start(tenant());
    let provider = provider(&server, json!({})).await;
    server.inject(Fault::RequestEnds("Failed".into()), "PUT", "", 1);
    let context = activation(1);
    let wanted = granted(&subscription_scope(), roles::OWNER, ALICE, context.end);
    let error = create(&provider, &wanted, ChangeContext::grant(context)).await.unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Invalid);
    assert!(error.message().contains("ended Failed: Azure did not carry it out"), "{error}");
    assert!(server.tenant(|t| t.assignments.is_empty()));
}

#[tokio::test]
async fn extending_a_grant_moves_the_end_azure_enforces() {
    let server = ContractServer::start(tenant());
    let provider = provider(&server, json!({})).await;
    let scope = subscription_scope();
    let context = activation(1);
    let before = granted(&scope, roles::OWNER, ALICE, context.end);
    let id = id(&provider, &before);
    create(&provider, &before, ChangeContext::grant(context.clone())).await.unwrap();
    let later = now() + SignedDuration::from_hours(3);
    let after = granted(&scope, roles::OWNER, ALICE, later);
    let request =
        UpdateRequest::new(ROLE_ASSIGNMENT, &id, before, after, ChangeContext::grant(context));
    let live = provider.update(request).await.unwrap().attributes;
    assert_eq!(live["expires_at"], json!(later.to_string()));
    let (kind, schedule_end) = server.tenant(|t| {
        (t.requests[1].request_type.clone(), t.schedules_of(&scope, roles::OWNER, ALICE)[0].end)
    });
    assert_eq!((kind.as_str(), schedule_end), ("AdminUpdate", Some(later)));
}

#[tokio::test]
async fn a_read_right_after_a_write_that_does_not_see_it_yet_is_waited_out() {
    let mut tenant = tenant();
    tenant.consistency_lag = 2;
    let server = ContractServer::start(tenant);
    let provider = provider(&server, json!({})).await;
    let wanted = declared(&subscription_scope(), roles::READER, BOB);
    let id = id(&provider, &wanted);
    let live = create(&provider, &wanted, ChangeContext::baseline()).await.unwrap();
    assert_eq!(live["principal_id"], json!(BOB), "the create returns what a read finally showed");
    let lists_after_put = server.tenant(|t| {
        let put = t.received.iter().position(|r| r.method == "PUT").unwrap();
        t.received[put..].iter().filter(|r| r.path.ends_with("/roleAssignments")).count()
    });
    assert_eq!(
        lists_after_put, 2,
        "one stale read (a read spends lag on both lists), then one that saw it"
    );
    assert!(read(&provider, &id).await.is_some());

    delete(&provider, &id, ChangeContext::baseline()).await.unwrap();
    assert!(read(&provider, &id).await.is_none(), "the delete returned once reads agreed");
}

#[tokio::test]
async fn a_grant_meets_someone_elses_assignment_made_between_its_read_and_its_write() {
    let server = ContractServer::start(tenant());
    let provider = provider(&server, json!({})).await;
    let scope = subscription_scope();
    let racing_scope = scope.clone();
    // Someone makes alice a permanent Owner in the portal as breakglass's request is on its way.
    server.before("PUT", "", move |tenant| {
        tenant.assign(&racing_scope, roles::OWNER, ALICE);
    });
    let context = activation(1);
    let wanted = granted(&scope, roles::OWNER, ALICE, context.end);
    let error = create(&provider, &wanted, ChangeContext::grant(context)).await.unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Invalid);
    assert!(error.message().contains("made outside this grant"), "{error}");
    assert!(error.message().contains("never ends"), "{error}");
    // Their assignment is exactly as they made it: permanent, not turned into ours.
    let schedules = server.tenant(|t| {
        t.schedules_of(&scope, roles::OWNER, ALICE).iter().map(|s| s.end).collect::<Vec<_>>()
    });
    assert_eq!(schedules, [None]);
    assert_eq!(writes(&server), [("PUT".to_owned(), "roleAssignmentScheduleRequests".to_owned())]);
    assert_eq!(server.tenant(|t| t.received.last().unwrap().status), 200, "ends with a read");

    // A baseline create that meets the same: the baseline asks only that it exist.
    let other = subscription_scope() + "/resourceGroups/rg-prod";
    let racing = other.clone();
    server.before("PUT", "/roleAssignments/", move |tenant| {
        tenant.assign(&racing, roles::READER, BOB);
    });
    let theirs = declared(&other, roles::READER, BOB);
    create(&provider, &theirs, ChangeContext::baseline()).await.unwrap();
    let names = server.tenant(|t| {
        t.assignments
            .iter()
            .filter(|a| a.principal == BOB)
            .map(|a| a.name.clone())
            .collect::<Vec<_>>()
    });
    assert_eq!(names.len(), 1, "one assignment, theirs, untouched: {names:?}");
}

#[tokio::test]
async fn a_retry_after_a_lost_answer_finds_its_own_write() {
    let server = ContractServer::start(tenant());
    let provider = provider(&server, json!({})).await;
    server.inject(Fault::LostResponse, "PUT", "", 1);
    let context = activation(1);
    let wanted = granted(&subscription_scope(), roles::OWNER, ALICE, context.end);
    create(&provider, &wanted, ChangeContext::grant(context)).await.unwrap();
    server.inject(Fault::LostResponse, "PUT", "", 1);
    let plain = declared(&subscription_scope(), roles::READER, BOB);
    create(&provider, &plain, ChangeContext::baseline()).await.unwrap();
    let statuses: Vec<u16> = server
        .tenant(|t| t.received.iter().filter(|r| r.method == "PUT").map(|r| r.status).collect());
    assert_eq!(
        statuses,
        [500, 201, 500, 200],
        "each retried once, answered with what the first made"
    );
    assert_eq!(server.tenant(|t| (t.requests.len(), t.assignments.len())), (1, 2));
}

fn many(tenant: &mut Tenant, n: usize) {
    for i in 0..n {
        let principal = format!("5e7a{i:04x}-0000-4000-8000-000000000000");
        tenant.principals.insert(principal.clone(), "User".into());
        let role = if i % 10 == 0 { roles::OWNER } else { roles::READER };
        tenant.assign(&subscription_scope(), role, &principal);
    }
}

#[tokio::test]
async fn a_scope_with_more_assignments_than_a_page_is_listed_in_full_and_only_that_scope() {
    let mut tenant = tenant();
    many(&mut tenant, 250);
    tenant.assign(&(subscription_scope() + "/resourceGroups/rg-prod"), roles::OWNER, ALICE);
    tenant.assign("/providers/Microsoft.Management/managementGroups/root", roles::OWNER, BOB);
    let server = ContractServer::start(tenant);
    let provider = provider(&server, json!({})).await;
    let scope: Attributes = serde_json::from_value(json!({"scope": subscription_scope()})).unwrap();
    let listed = provider.list(ListRequest::new(ROLE_ASSIGNMENT, vec![scope])).await.unwrap();
    assert_eq!(
        listed.objects.len(),
        250,
        "the resource group's assignment is not the subscription's"
    );
    assert_eq!(listed.api_calls, 6, "three pages of assignments and three of schedules");
    assert_eq!(listed.privileged.len(), 25, "owners are privileged");
    let skips: Vec<Option<String>> = server.tenant(|t| {
        t.received_matching("GET", "/roleAssignments")
            .iter()
            .map(|r| r.query("$skipToken").map(str::to_owned))
            .collect()
    });
    assert_eq!(skips, [None, Some("100".to_owned()), Some("200".to_owned())]);
    let filters: Vec<Option<String>> = server.tenant(|t| {
        t.received
            .iter()
            .filter(|r| r.method == "GET")
            .map(|r| r.query("$filter").map(str::to_owned))
            .collect()
    });
    assert!(filters.iter().all(|f| f.as_deref() == Some("atScope()")), "{filters:?}");
}

#[tokio::test]
async fn throttling_is_retried_as_azure_asks() {
    let mut tenant = tenant();
    many(&mut tenant, 3);
    let server = ContractServer::start(tenant);
    let provider = provider(&server, json!({})).await;
    server.inject(Fault::TooManyRequests { retry_after_secs: 1 }, "GET", "/roleAssignments", 2);
    let scope: Attributes = serde_json::from_value(json!({"scope": subscription_scope()})).unwrap();
    let began = Instant::now();
    let listed =
        provider.list(ListRequest::new(ROLE_ASSIGNMENT, vec![scope.clone()])).await.unwrap();
    assert_eq!(listed.objects.len(), 3);
    assert!(began.elapsed() >= Duration::from_millis(1900), "waited as Retry-After asked");
    let statuses: Vec<u16> = server.tenant(|t| {
        t.received_matching("GET", "/roleAssignments").iter().map(|r| r.status).collect()
    });
    assert_eq!(statuses, [429, 429, 200]);

    server.inject(Fault::ServerError, "GET", "/roleAssignments", 10);
    let provider = self::provider(&server, json!({"max_attempts": 2})).await;
    let error = provider.list(ListRequest::new(ROLE_ASSIGNMENT, vec![scope])).await.unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Transient);
    assert_eq!(
        error.message(),
        format!(
            "azure: GET /subscriptions/{}/providers/Microsoft.Authorization/roleAssignments answered 500 Internal Server Error after 2 attempts",
            super::contract::SUBSCRIPTION
        )
    );
}

#[tokio::test]
async fn a_spent_read_budget_paces_the_reads_instead_of_meeting_429() {
    let mut tenant = tenant();
    many(&mut tenant, 6);
    tenant.page_size = 2;
    tenant.read_budget = Some(3);
    let server = ContractServer::start(tenant);
    let provider = provider(&server, json!({})).await;
    let scope: Attributes = serde_json::from_value(json!({"scope": subscription_scope()})).unwrap();
    let began = Instant::now();
    let listed = provider.list(ListRequest::new(ROLE_ASSIGNMENT, vec![scope])).await.unwrap();
    assert_eq!((listed.objects.len(), listed.api_calls), (6, 6));
    assert!(began.elapsed() >= Duration::from_millis(900), "paused when the budget ran out");
    let statuses: Vec<u16> = server
        .tenant(|t| t.received.iter().filter(|r| r.method == "GET").map(|r| r.status).collect());
    assert!(statuses.iter().all(|s| *s == 200), "never throttled: {statuses:?}");
}

#[tokio::test]
async fn an_expired_token_is_replaced_and_the_call_goes_through() {
    let server = ContractServer::start(tenant());
    let provider = provider(&server, json!({})).await;
    let id = id(&provider, &declared(&subscription_scope(), roles::READER, BOB));
    assert!(read(&provider, &id).await.is_none());
    assert!(read(&provider, &id).await.is_none());
    assert_eq!(provider.tokens_fetched(), 1, "cached between calls");

    server.tenant(Tenant::expire_tokens);
    assert!(read(&provider, &id).await.is_none());
    assert_eq!(provider.tokens_fetched(), 2);
    let refused = server.tenant(|t| t.received.iter().filter(|r| r.status == 401).count());
    assert_eq!(refused, 1, "one 401, then a fresh token");

    // Refused again with a fresh token: a clear error, not a loop.
    server.inject(Fault::ExpiredToken, "GET", "/roleAssignments", 2);
    let error = provider.read(ReadRequest::new(ROLE_ASSIGNMENT, vec![id])).await.unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Denied);
    assert!(error.message().contains("refused a fresh token too"), "{error}");
    assert!(error.message().contains("AZURE_CLIENT_ID"), "{error}");
}

#[tokio::test]
async fn a_wrong_secret_names_the_variable_and_shows_no_secret() {
    let server = ContractServer::start(tenant());
    let provider = provider(&server, json!({"client_secret": "wrong~secret~value~42"})).await;
    let id = id(&provider, &declared(&subscription_scope(), roles::READER, BOB));
    let error = provider.read(ReadRequest::new(ROLE_ASSIGNMENT, vec![id])).await.unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Denied);
    let message = error.to_string();
    assert!(message.contains("AADSTS7000215"), "{message}");
    assert!(message.contains("AZURE_CLIENT_SECRET is wrong or has expired"), "{message}");
    assert!(!message.contains("wrong~secret") && !message.contains("Trace ID"), "{message}");
    assert!(
        server.tenant(|t| t.received.iter().all(|r| r.path.ends_with("/token"))),
        "no ARM call"
    );
}

#[tokio::test]
async fn a_missing_permission_is_a_clear_error_and_changes_nothing() {
    let mut tenant = tenant();
    tenant.denied_scopes.push(subscription_scope());
    let server = ContractServer::start(tenant);
    let provider = provider(&server, json!({})).await;
    let error = create(
        &provider,
        &declared(&subscription_scope(), roles::READER, BOB),
        ChangeContext::baseline(),
    )
    .await
    .unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Denied);
    assert!(error.message().contains("AuthorizationFailed"), "{error}");
    assert!(error.message().contains("User Access Administrator"), "{error}");
    assert!(server.tenant(|t| t.assignments.is_empty()));
}

#[tokio::test]
async fn bad_input_is_refused_with_azures_reason() {
    let mut tenant = tenant();
    tenant.max_active_duration = Some(SignedDuration::from_hours(8));
    let server = ContractServer::start(tenant);
    let provider = provider(&server, json!({})).await;
    let scope = subscription_scope();
    let cases = [
        (declared(&scope, roles::READER, GHOST), ChangeContext::baseline(), "PrincipalNotFound"),
        (
            declared(&scope, "11111111-2222-4333-8444-555555555555", BOB),
            ChangeContext::baseline(),
            "RoleDefinitionDoesNotExist",
        ),
        (
            granted(&scope, roles::OWNER, ALICE, now() + SignedDuration::from_hours(12)),
            ChangeContext::grant(activation(12)),
            "RoleAssignmentRequestPolicyValidationFailed",
        ),
    ];
    for (wanted, context, expected) in cases {
        let error = create(&provider, &wanted, context).await.unwrap_err();
        assert_eq!(error.kind(), ErrorKind::Invalid, "{error}");
        assert!(error.message().contains(expected), "{error}");
    }
    assert!(server.tenant(|t| t.assignments.is_empty()));
}

/// A token from the server, as another administrator's tool would get one.
async fn token(server: &ContractServer) -> String {
    let client = reqwest::Client::builder().no_proxy().build().unwrap();
    let answer: Value = client
        .post(format!("{}/{TENANT_ID}/oauth2/v2.0/token", server.url()))
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", CLIENT_ID),
            ("client_secret", CLIENT_SECRET),
            ("scope", &format!("{}/.default", server.url())),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    answer["access_token"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn a_schedule_someone_made_with_after_duration_reads_back_with_its_end() {
    let server = ContractServer::start(tenant());
    let provider = provider(&server, json!({})).await;
    let scope = subscription_scope();
    let body = schedule_request_body(
        ALICE,
        roles::CONTRIBUTOR,
        "AdminAssign",
        Some(
            json!({"startDateTime": "2026-12-01T10:00:00Z", "expiration": {"type": "AfterDuration", "endDateTime": null, "duration": "PT8H"}}),
        ),
    );
    let answer = reqwest::Client::builder()
        .no_proxy()
        .build()
        .unwrap()
        .put(format!("{}{scope}/providers/Microsoft.Authorization/roleAssignmentScheduleRequests/fea7a502-9a96-4806-a26f-eee560e52045?api-version=2020-10-01", server.url()))
        .bearer_auth(token(&server).await)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 201);
    let id = id(&provider, &declared(&scope, roles::CONTRIBUTOR, ALICE));
    let live = read(&provider, &id).await.unwrap();
    assert_eq!(live["expires_at"], json!("2026-12-01T18:00:00Z"));
}

#[tokio::test]
async fn a_grant_whose_end_holds_nanoseconds_is_sent_and_compared_to_the_second() {
    let server = ContractServer::start(tenant());
    let provider = provider(&server, json!({})).await;
    let start = now() + SignedDuration::from_nanos(987_654_321);
    let end = start + SignedDuration::from_hours(1);
    let context = ActivationContext::new("act_01JNANOS", "alice", start, end);
    let wanted = granted(&subscription_scope(), roles::OWNER, ALICE, end);
    let live = create(&provider, &wanted, ChangeContext::grant(context)).await.unwrap();
    let info = server.tenant(|t| t.requests[0].body["properties"]["scheduleInfo"].clone());
    assert_eq!(
        info,
        json!({"startDateTime": "2026-12-01T10:00:00Z", "expiration": {"type": "AfterDateTime", "endDateTime": "2026-12-01T11:00:00Z"}})
    );
    assert!(provider.attribute_equal(
        ROLE_ASSIGNMENT,
        "expires_at",
        &json!(end.to_string()),
        &live["expires_at"]
    ));
}
