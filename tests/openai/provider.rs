//! The provider's calls against the contract server: paging, retries, errors, idempotence.

use breakglass::engine::Providers;
use breakglass_provider::{
    Attributes, ChangeContext, CreateRequest, DeleteRequest, ErrorKind, ListRequest, Provider,
    ReadRequest, UpdateRequest,
};
use breakglass_provider_openai::{
    MODEL_PERMISSIONS, OpenAiProvider, PROJECT, PROJECT_USER, RATE_LIMIT,
};
use serde_json::{Value, json};
use std::time::{Duration, Instant};

use super::contract::{ADMIN_KEY, ContractServer, Fault, Org};

/// A provider configured against `server`, with `extra` block attributes.
async fn provider(server: &ContractServer, extra: Value) -> OpenAiProvider {
    let mut config: Attributes = serde_json::from_value(extra).expect("attributes");
    config.insert("base_url".into(), json!(server.base_url()));
    config.entry("admin_key".into()).or_insert(json!(ADMIN_KEY));
    let mut provider = OpenAiProvider::new();
    provider
        .configure(breakglass_provider::ConfigureRequest::new(config, "."))
        .await
        .expect("configured");
    provider
}

fn attributes(value: Value) -> Attributes {
    serde_json::from_value(value).expect("attributes")
}

fn scope(project: &str) -> Vec<Attributes> {
    vec![attributes(json!({"project_id": project, "user_id": "user-x", "role": "member"}))]
}

/// An organization with `n` users, all members of proj_big; every tenth an owner.
fn big_org(n: usize) -> Org {
    let mut org = Org::new().project("proj_big", "Big");
    for i in 0..n {
        org = org.user(&format!("user-{i:03}"), &format!("User {i}"));
        let role = if i % 10 == 0 { "owner" } else { "member" };
        org = org.member("proj_big", &format!("user-{i:03}"), role);
    }
    org
}

#[tokio::test]
async fn a_project_with_more_users_than_a_page_is_listed_in_full() {
    let server = ContractServer::start(big_org(250));
    let provider = provider(&server, json!({})).await;
    let listed = provider.list(ListRequest::new(PROJECT_USER, scope("proj_big"))).await.unwrap();
    assert_eq!(listed.objects.len(), 250);
    assert_eq!(listed.api_calls, 3, "250 users at 100 a page");
    assert_eq!(listed.privileged.len(), 25, "owners are privileged");
    assert!(listed.privileged.contains("proj_big/user-120"));
    assert_eq!(listed.objects["proj_big/user-249"]["role"], json!("member"));
    assert_eq!(listed.objects["proj_big/user-249"]["email"], json!("user.249@example.com"));

    // A smaller page size walks more pages, each cursor the previous page's last id.
    let provider = self::provider(&server, json!({"page_size": 40})).await;
    let listed = provider.list(ListRequest::new(PROJECT_USER, scope("proj_big"))).await.unwrap();
    assert_eq!((listed.objects.len(), listed.api_calls), (250, 7));
    let queries: Vec<String> = server.org(|org| {
        org.received_matching("GET", "/proj_big/users")
            .iter()
            .rev()
            .take(7)
            .map(|r| r.query.clone().unwrap_or_default())
            .collect()
    });
    assert!(queries.contains(&"limit=40".to_owned()), "{queries:?}");
    assert!(queries.contains(&"limit=40&after=user-039".to_owned()), "{queries:?}");
}

#[tokio::test]
async fn throttling_and_server_errors_are_retried_as_openai_asks() {
    let server = ContractServer::start(big_org(30));
    let provider = provider(&server, json!({})).await;
    server.inject(Fault::TooManyRequests { retry_after_ms: 300 }, "GET", "/proj_big/users", 2);
    server.inject(Fault::ServerError, "GET", "/proj_big/users", 1);
    let began = Instant::now();
    let listed = provider.list(ListRequest::new(PROJECT_USER, scope("proj_big"))).await.unwrap();
    assert_eq!(listed.objects.len(), 30);
    assert!(began.elapsed() >= Duration::from_millis(600), "waited as retry-after-ms asked");
    let statuses: Vec<u16> = server.org(|org| org.received.iter().map(|r| r.status).collect());
    assert_eq!(statuses, [429, 429, 500, 200]);
    assert_eq!(provider.calls(), 4);

    // Failures that do not pass: the last one is returned, of its kind, naming the provider.
    server.inject(Fault::ServerError, "GET", "/proj_big/users", 10);
    let provider = self::provider(&server, json!({"max_attempts": 3})).await;
    let error = provider.list(ListRequest::new(PROJECT_USER, scope("proj_big"))).await.unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Transient, "{error}");
    assert_eq!(
        error.message(),
        "openai: GET /v1/organization/projects/proj_big/users answered 500 Internal Server \
         Error after 3 attempts"
    );
}

#[tokio::test]
async fn a_call_that_times_out_is_retried_then_reported() {
    let server = ContractServer::start(big_org(3));
    let provider = provider(&server, json!({"timeout_seconds": 1, "max_attempts": 2})).await;
    server.inject(Fault::Slow(Duration::from_millis(1500)), "GET", "/proj_big/users", 1);
    let listed = provider.list(ListRequest::new(PROJECT_USER, scope("proj_big"))).await.unwrap();
    assert_eq!((listed.objects.len(), provider.calls()), (3, 2), "the second attempt answered");

    server.inject(Fault::Slow(Duration::from_millis(1500)), "GET", "/proj_big/users", 2);
    let error = provider.list(ListRequest::new(PROJECT_USER, scope("proj_big"))).await.unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Transient, "{error}");
    assert!(
        error.message().starts_with(
            "openai: GET /v1/organization/projects/proj_big/users failed after 2 attempts: \
             timed out"
        ),
        "{error}"
    );
}

#[tokio::test]
async fn a_wrong_admin_key_is_a_clear_error_that_names_the_variable_and_hides_the_key() {
    let server = ContractServer::start(big_org(3));
    let provider = provider(&server, json!({"admin_key": "sk-admin-wrong-9876543210fedcba"})).await;
    let error = provider.list(ListRequest::new(PROJECT_USER, scope("proj_big"))).await.unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Denied);
    let message = error.to_string();
    assert!(
        message.contains("openai: GET /v1/organization/projects/proj_big/users answered 401"),
        "{message}"
    );
    assert!(message.contains("OPENAI_ADMIN_KEY"), "{message}");
    assert!(
        !message.contains("wrong") && !message.contains("9876") && !message.contains("fedcba"),
        "{message}"
    );
    assert_eq!(server.org(|org| org.received.len()), 1, "a 401 is not retried");
}

#[tokio::test]
async fn unexpected_json_is_an_error_not_a_default() {
    let server = ContractServer::start(big_org(3));
    let provider = provider(&server, json!({})).await;
    let cases = [
        (Fault::NotJson, "is not JSON"),
        (Fault::WrongShape(json!({"object": "list", "data": []})), "missing field `has_more`"),
        (
            Fault::WrongShape(
                json!({"object": "list", "data": [{"object": "organization.project.user", "id": "u", "role": "owner", "added_at": "noon"}], "has_more": false}),
            ),
            "does not have that shape",
        ),
        (
            Fault::WrongShape(
                json!({"object": "organization.project", "data": [], "has_more": false}),
            ),
            "expected an object of type `list`, got `organization.project`",
        ),
    ];
    for (fault, expected) in cases {
        server.inject(fault.clone(), "GET", "/proj_big/users", 1);
        let error =
            provider.list(ListRequest::new(PROJECT_USER, scope("proj_big"))).await.unwrap_err();
        assert_eq!(error.kind(), ErrorKind::Protocol, "{fault:?}: {error}");
        assert!(
            error.message().starts_with("openai: GET /v1/organization/projects/proj_big/users"),
            "{error}"
        );
        assert!(error.message().contains(expected), "{fault:?}: {error}");
    }
}

#[tokio::test]
async fn a_cursor_that_does_not_advance_is_an_error_not_a_loop() {
    let server = ContractServer::start(big_org(250));
    let provider = provider(&server, json!({})).await;
    server.inject(Fault::StuckCursor, "GET", "/proj_big/users", usize::MAX);
    let error = provider.list(ListRequest::new(PROJECT_USER, scope("proj_big"))).await.unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Protocol);
    assert!(
        error.message().contains("page 2 ends at `user-099` again: the cursor does not advance"),
        "{error}"
    );
    assert_eq!(server.org(|org| org.received.len()), 2, "stopped at the second page");
}

fn member(project: &str, user: &str, role: &str) -> Attributes {
    attributes(json!({"project_id": project, "user_id": user, "role": role}))
}

#[tokio::test]
async fn project_users_are_added_raised_and_removed_idempotently() {
    let server = ContractServer::start(
        Org::new()
            .user("user-alice", "Alice")
            .user("user-bob", "Bob")
            .project("proj_1", "One")
            .member("proj_1", "user-bob", "member"),
    );
    let provider = provider(&server, json!({})).await;
    let grant = member("proj_1", "user-alice", "owner");
    for _ in 0..2 {
        let created = provider
            .create(CreateRequest::new(
                PROJECT_USER,
                "proj_1/user-alice",
                grant.clone(),
                ChangeContext::baseline(),
            ))
            .await
            .unwrap();
        assert_eq!(created.attributes["role"], json!("owner"));
    }
    assert_eq!(
        server.org(|org| org.received_matching("POST", "/proj_1/users").len()),
        1,
        "added once"
    );

    // A create that finds the user already there with another role raises it in place.
    let raised = provider
        .create(CreateRequest::new(
            PROJECT_USER,
            "proj_1/user-bob",
            member("proj_1", "user-bob", "owner"),
            ChangeContext::baseline(),
        ))
        .await
        .unwrap();
    assert_eq!(raised.attributes["role"], json!("owner"));
    let lowered = provider
        .update(UpdateRequest::new(
            PROJECT_USER,
            "proj_1/user-bob",
            raised.attributes.clone(),
            member("proj_1", "user-bob", "member"),
            ChangeContext::baseline(),
        ))
        .await
        .unwrap();
    assert_eq!(lowered.attributes["role"], json!("member"));
    assert_eq!(
        server.org(|org| org.member_of("proj_1", "user-bob").unwrap().role.clone()),
        "member"
    );

    for _ in 0..2 {
        provider
            .delete(DeleteRequest::new(
                PROJECT_USER,
                "proj_1/user-alice",
                grant.clone(),
                ChangeContext::baseline(),
            ))
            .await
            .unwrap();
    }
    assert!(server.org(|org| org.member_of("proj_1", "user-alice").is_none()));
    let read = provider
        .read(ReadRequest::new(
            PROJECT_USER,
            vec!["proj_1/user-alice".into(), "proj_1/user-bob".into()],
        ))
        .await
        .unwrap();
    assert_eq!(read.objects.keys().collect::<Vec<_>>(), ["proj_1/user-bob"]);
}

#[tokio::test]
async fn an_add_whose_answer_was_lost_is_not_an_error_when_retried() {
    let server =
        ContractServer::start(Org::new().user("user-alice", "Alice").project("proj_1", "One"));
    let provider = provider(&server, json!({})).await;
    server.inject(Fault::LostResponse, "POST", "/proj_1/users", 1);
    let created = provider
        .create(CreateRequest::new(
            PROJECT_USER,
            "proj_1/user-alice",
            member("proj_1", "user-alice", "member"),
            ChangeContext::baseline(),
        ))
        .await
        .unwrap();
    assert_eq!(created.attributes["role"], json!("member"));
    let statuses: Vec<(String, u16)> =
        server.org(|org| org.received.iter().map(|r| (r.method.clone(), r.status)).collect());
    // Looked, added (answer lost), added again (duplicate), looked again and found it.
    assert_eq!(
        statuses,
        [("GET".into(), 404), ("POST".into(), 500), ("POST".into(), 400), ("GET".into(), 200)]
    );
    assert_eq!(server.org(|org| org.projects[0].members.len()), 1);
}

#[tokio::test]
async fn adding_someone_outside_the_organization_is_refused_clearly() {
    let server = ContractServer::start(Org::new().project("proj_1", "One"));
    let provider = provider(&server, json!({})).await;
    let error = provider
        .create(CreateRequest::new(
            PROJECT_USER,
            "proj_1/user-eve",
            member("proj_1", "user-eve", "owner"),
            ChangeContext::baseline(),
        ))
        .await
        .unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Invalid);
    assert!(error.message().contains("OpenAI refused POST /v1/organization/projects/proj_1/users (400 Bad Request): User user-eve is not a member of the organization"), "{error}");
    assert!(server.org(|org| org.projects[0].members.is_empty()));
}

#[tokio::test]
async fn rate_limits_are_read_by_model_and_updated_with_exactly_the_values_asked() {
    let mut org = Org::new().project("proj_1", "One");
    for i in 0..12 {
        org = org.rate_limit("proj_1", &format!("model-{i:02}"), 100 + i, 10_000 + i);
    }
    let server = ContractServer::start(org.rate_limit("proj_1", "gpt-4o", 3500, 87_654));
    let provider = provider(&server, json!({"page_size": 5})).await;
    let ids =
        vec!["proj_1/gpt-4o".to_owned(), "proj_1/model-07".to_owned(), "proj_1/nope".to_owned()];
    let read = provider.read(ReadRequest::new(RATE_LIMIT, ids)).await.unwrap();
    assert_eq!(read.objects.len(), 2);
    assert_eq!(read.api_calls, 3, "13 limits at 5 a page, one listing for both ids");
    let before = read.objects["proj_1/gpt-4o"].clone();
    assert_eq!(before["max_requests_per_1_minute"], json!(3500));
    assert_eq!(before["rate_limit_id"], json!("rl-gpt-4o"));

    let mut after = attributes(json!({"project_id": "proj_1", "model": "gpt-4o"}));
    after.insert("max_requests_per_1_minute".into(), json!(10_000));
    let updated = provider
        .update(UpdateRequest::new(
            RATE_LIMIT,
            "proj_1/gpt-4o",
            before.clone(),
            after,
            ChangeContext::baseline(),
        ))
        .await
        .unwrap();
    assert_eq!(updated.attributes["max_requests_per_1_minute"], json!(10_000));
    assert_eq!(updated.attributes["max_tokens_per_1_minute"], json!(87_654), "untouched");
    let sent =
        server.org(|org| org.received_matching("POST", "/rate_limits/rl-gpt-4o")[0].body.clone());
    assert_eq!(sent, Some(json!({"max_requests_per_1_minute": 10_000})));

    // Above the organization's limit: refused by OpenAI, reported, nothing changed.
    let too_high = attributes(
        json!({"project_id": "proj_1", "model": "gpt-4o", "max_tokens_per_1_minute": 999_999_999}),
    );
    let error = provider
        .update(UpdateRequest::new(
            RATE_LIMIT,
            "proj_1/gpt-4o",
            before,
            too_high,
            ChangeContext::baseline(),
        ))
        .await
        .unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Invalid);
    assert!(error.message().contains("exceeds the organization's limit"), "{error}");
    assert_eq!(
        server.org(|org| org.limit_of("proj_1", "gpt-4o").values["max_tokens_per_1_minute"]),
        87_654
    );

    // A model without a limit cannot be created.
    let error = provider
        .create(CreateRequest::new(
            RATE_LIMIT,
            "proj_1/nope",
            attributes(json!({"project_id": "proj_1", "model": "nope"})),
            ChangeContext::baseline(),
        ))
        .await
        .unwrap_err();
    assert_eq!(error.kind(), ErrorKind::NotFound);
    assert!(error.message().contains("no rate limit for model \"nope\""), "{error}");
}

#[tokio::test]
async fn negative_limits_the_spec_allows_are_read_and_written_not_refused() {
    // ProjectRateLimit's limits are `type: integer` with no minimum in OpenAI's spec.
    let server = ContractServer::start(
        Org::new().project("proj_1", "One").rate_limit("proj_1", "gpt-4o", 3500, 87_654),
    );
    server.org(|org| {
        org.limit_of("proj_1", "gpt-4o").values.insert("max_requests_per_1_day".to_owned(), -1);
    });
    let provider = provider(&server, json!({})).await;
    let read = provider.read(ReadRequest::new(RATE_LIMIT, vec!["proj_1/gpt-4o".to_owned()])).await;
    let before = read.expect("read, not refused").objects["proj_1/gpt-4o"].clone();
    assert_eq!(before["max_requests_per_1_day"], json!(-1));

    let mut after = attributes(json!({"project_id": "proj_1", "model": "gpt-4o"}));
    after.insert("max_requests_per_1_minute".into(), json!(-1));
    let updated = provider
        .update(UpdateRequest::new(
            RATE_LIMIT,
            "proj_1/gpt-4o",
            before,
            after,
            ChangeContext::baseline(),
        ))
        .await
        .expect("written");
    assert_eq!(updated.attributes["max_requests_per_1_minute"], json!(-1));
    server.assert_spec_clean();
}

#[tokio::test]
async fn model_permissions_are_replaced_and_removed_idempotently() {
    let server = ContractServer::start(Org::new().project("proj_1", "One").model_permissions(
        "proj_1",
        "allow_list",
        &["gpt-4.1", "o3"],
    ));
    let provider = provider(&server, json!({})).await;
    let read = provider
        .read(ReadRequest::new(MODEL_PERMISSIONS, vec!["proj_1".into(), "proj_404".into()]))
        .await
        .unwrap();
    assert_eq!(read.objects.len(), 1, "a project that does not exist has no policy");
    assert_eq!(read.objects["proj_1"]["model_ids"], json!(["gpt-4.1", "o3"]));
    let deny =
        attributes(json!({"project_id": "proj_1", "mode": "deny_list", "model_ids": ["o3"]}));
    for _ in 0..2 {
        let updated = provider
            .update(UpdateRequest::new(
                MODEL_PERMISSIONS,
                "proj_1",
                read.objects["proj_1"].clone(),
                deny.clone(),
                ChangeContext::baseline(),
            ))
            .await
            .unwrap();
        assert_eq!(updated.attributes, deny);
    }
    for _ in 0..2 {
        provider
            .delete(DeleteRequest::new(
                MODEL_PERMISSIONS,
                "proj_1",
                deny.clone(),
                ChangeContext::baseline(),
            ))
            .await
            .unwrap();
    }
    assert_eq!(server.org(|org| org.projects[0].model_permissions.clone()), None);
    let error = provider
        .delete(DeleteRequest::new(MODEL_PERMISSIONS, "proj_1", deny, ChangeContext::revert(None)))
        .await
        .unwrap_err();
    assert!(error.message().contains("would allow every model"), "{error}");
}

#[tokio::test]
async fn a_project_is_renamed_but_never_archived() {
    let server = ContractServer::start(Org::new().project("proj_1", "One"));
    let provider = provider(&server, json!({})).await;
    let renamed = provider
        .update(UpdateRequest::new(
            PROJECT,
            "proj_1",
            Attributes::new(),
            attributes(json!({"project_id": "proj_1", "name": "Chatbot"})),
            ChangeContext::baseline(),
        ))
        .await
        .unwrap();
    assert_eq!(renamed.attributes["name"], json!("Chatbot"));
    assert_eq!(renamed.attributes["status"], json!("active"));
    let error = provider
        .delete(DeleteRequest::new(
            PROJECT,
            "proj_1",
            renamed.attributes,
            ChangeContext::baseline(),
        ))
        .await
        .unwrap_err();
    assert!(error.message().contains("never archives a project"), "{error}");
    let error = provider
        .create(CreateRequest::new(
            PROJECT,
            "proj_2",
            attributes(json!({"project_id": "proj_2"})),
            ChangeContext::baseline(),
        ))
        .await
        .unwrap_err();
    assert!(error.message().contains("never creates one"), "{error}");
    let received: Vec<String> =
        server.org(|org| org.received.iter().map(|r| format!("{} {}", r.method, r.path)).collect());
    assert!(!received.iter().any(|r| r.contains("archive")), "{received:?}");
}

#[tokio::test]
async fn the_provider_registers_under_its_name() {
    let providers = Providers::from_providers([(
        "openai".to_owned(),
        std::sync::Arc::new(OpenAiProvider::new()) as std::sync::Arc<dyn Provider>,
    )]);
    assert!(providers.resource_schema("openai", RATE_LIMIT).is_some());
    assert!(breakglass::providers::registry().contains_key("openai"));
}

#[tokio::test]
async fn a_grant_never_adopts_a_membership_its_revert_would_remove() {
    let server = ContractServer::start(
        Org::new().user("user-erin", "Erin").project("proj_1", "One").member(
            "proj_1",
            "user-erin",
            "member",
        ),
    );
    let provider = provider(&server, json!({})).await;
    let start: jiff::Timestamp = "2026-12-01T10:00:00Z".parse().unwrap();
    let activation = breakglass_provider::ActivationContext::new(
        "grant_inc_1",
        "erin",
        start,
        start + jiff::SignedDuration::from_hours(2),
    );
    let error = provider
        .create(CreateRequest::new(
            PROJECT_USER,
            "proj_1/user-erin",
            member("proj_1", "user-erin", "owner"),
            ChangeContext::grant(activation),
        ))
        .await
        .unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Invalid);
    assert!(error.message().contains("user-erin is already a member of proj_1"), "{error}");
    assert!(error.message().contains("`override`"), "{error}");
    assert_eq!(
        server.org(|org| org.member_of("proj_1", "user-erin").unwrap().role.clone()),
        "member"
    );
    assert!(server.org(|org| org.received.iter().all(|r| r.method == "GET")));
}
