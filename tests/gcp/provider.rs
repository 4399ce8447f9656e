//! The provider's calls against the contract server: bindings read, listed, granted with an
//! expiry Google enforces, extended and revoked exactly; a concurrent change between read and
//! write never lost; throttling retried; expired tokens refreshed; a read that lags behind a
//! write read again rather than believed.

use breakglass_provider::{
    ActivationContext, Attributes, ChangeContext, ConfigureRequest, CreateRequest, DeleteRequest,
    ErrorKind, IdRequest, ListRequest, Provider, ProviderError, ReadRequest, UpdateRequest,
};
use breakglass_provider_gcp::GcpProvider;
use serde_json::{Value, json};
use std::sync::Arc;

use super::contract::{Binding, ContractServer, EXECUTOR, Fault};
use super::{FOLDER, ORGANIZATION, PROJECT, example_cloud, key_file, key_pair, new_key};

const PROJECT_MEMBER: &str = "gcp_project_iam_member";
const ALICE: &str = "user:alice@example.com";
const END: &str = "2031-03-02T01:00:00Z";

fn attributes(value: Value) -> Attributes {
    serde_json::from_value(value).expect("attributes")
}

async fn configured(config: Value) -> Result<GcpProvider, ProviderError> {
    let mut provider = GcpProvider::new();
    provider.configure(ConfigureRequest::new(attributes(config), "/")).await?;
    Ok(provider)
}

/// The provider as the executor, with its key file.
async fn executor(server: &ContractServer) -> GcpProvider {
    configured(json!({
        "credentials": key_file(key_pair(), &server.token_uri()),
        "endpoint": server.endpoint(),
        "max_attempts": 4,
    }))
    .await
    .expect("configured")
}

fn grant(id: &str) -> ChangeContext {
    let start = "2031-03-01T22:00:00Z".parse().unwrap();
    ChangeContext::grant(ActivationContext::new(id, "alice", start, END.parse().unwrap()))
}

fn cloudsql(member: &str, end: Option<&str>) -> Attributes {
    let mut declared = attributes(json!({
        "project": "payments-prod", "role": "roles/cloudsql.admin", "member": member,
    }));
    if let Some(end) = end {
        declared.insert("expires_at".into(), json!(end));
    }
    declared
}

fn id_of(provider: &GcpProvider, resource_type: &str, declared: &Attributes) -> String {
    provider.resource_id(IdRequest::new(resource_type, declared)).expect("an id")
}

async fn create(
    provider: &GcpProvider,
    declared: &Attributes,
    context: ChangeContext,
) -> Result<Attributes, ProviderError> {
    let id = id_of(provider, PROJECT_MEMBER, declared);
    provider
        .create(CreateRequest::new(PROJECT_MEMBER, id, declared.clone(), context))
        .await
        .map(|r| r.attributes)
}

async fn read_one(
    provider: &GcpProvider,
    resource_type: &str,
    id: &str,
) -> Result<Option<Attributes>, ProviderError> {
    let mut read = provider.read(ReadRequest::new(resource_type, vec![id.to_owned()])).await?;
    Ok(read.objects.remove(id))
}

fn writes(server: &ContractServer) -> usize {
    server.cloud(|cloud| cloud.received.iter().filter(|r| r.method == "setIamPolicy").count())
}

#[tokio::test]
async fn a_grant_carries_a_condition_google_enforces_and_its_revert_removes_exactly_it() {
    let server = ContractServer::start(example_cloud());
    let provider = executor(&server).await;
    // Bob holds the role under someone else's condition; it must survive everything below.
    server.cloud(|cloud| {
        cloud.change(PROJECT, |bindings| {
            bindings.push(Binding {
                role: "roles/cloudsql.admin".into(),
                members: vec!["user:bob@example.com".into()],
                condition: Some(json!({"title": "office hours", "expression": "request.time < timestamp(\"2040-01-01T00:00:00Z\")"})),
            })
        })
    });
    let before = server.cloud(|cloud| cloud.bindings(PROJECT));
    let audit = server.cloud(|cloud| cloud.audit_of(PROJECT));

    let declared = cloudsql(ALICE, Some(END));
    let id = id_of(&provider, PROJECT_MEMBER, &declared);
    assert_eq!(id, "projects/payments-prod roles/cloudsql.admin user:alice@example.com expiring");
    let live = create(&provider, &declared, grant("act_01JD5X")).await.unwrap();
    assert_eq!(live["expires_at"], END);
    assert_eq!(live["condition_title"], "act_01JD5X");

    // On Google's side: a binding titled with the activation, ending at END.
    let granted: Vec<Binding> = server.cloud(|cloud| cloud.bindings(PROJECT));
    let ours = granted.iter().find(|b| b.members == [ALICE]).expect("alice's binding");
    let condition = ours.condition.as_ref().expect("a condition");
    assert_eq!(condition["title"], "act_01JD5X");
    assert_eq!(condition["expression"], format!("request.time < timestamp(\"{END}\")"));
    assert!(server.cloud(|c| c.has_access(
        PROJECT,
        ALICE,
        "roles/cloudsql.admin",
        "2031-03-02T00:59:59Z"
    )));
    assert!(
        !server.cloud(|c| c.has_access(PROJECT, ALICE, "roles/cloudsql.admin", END)),
        "Google ends the access at END by itself"
    );
    let set = server
        .cloud(|cloud| cloud.calls("setIamPolicy", PROJECT).last().map(|r| r.body.clone()))
        .unwrap();
    assert_eq!(set["policy"]["version"], 3, "conditions are written as version 3: {set}");
    assert!(set["policy"]["etag"].is_string(), "every write carries the etag: {set}");

    // Idempotent: creating again writes nothing.
    let writes_before = writes(&server);
    create(&provider, &declared, grant("act_01JD5X")).await.unwrap();
    assert_eq!(writes(&server), writes_before);

    // Read and list see it; the owner binding is privileged, alice's is not.
    assert_eq!(read_one(&provider, PROJECT_MEMBER, &id).await.unwrap().unwrap()["expires_at"], END);
    let listing = provider
        .list(ListRequest::new(
            PROJECT_MEMBER,
            vec![attributes(json!({"project": "payments-prod"}))],
        ))
        .await
        .unwrap();
    assert!(listing.objects.contains_key(&id));
    let bob =
        "projects/payments-prod roles/cloudsql.admin user:bob@example.com condition:office hours";
    assert!(listing.objects.contains_key(bob), "{:?}", listing.objects.keys());
    assert_eq!(
        listing.privileged.iter().collect::<Vec<_>>(),
        ["projects/payments-prod roles/owner group:platform-admins@example.com"]
    );

    // Extend: the condition is rewritten, not added to.
    let later = cloudsql(ALICE, Some("2031-03-02T03:00:00Z"));
    let updated = provider
        .update(UpdateRequest::new(
            PROJECT_MEMBER,
            id.clone(),
            live.clone(),
            later,
            grant("act_01JD5X"),
        ))
        .await
        .unwrap();
    assert_eq!(updated.attributes["expires_at"], "2031-03-02T03:00:00Z");
    let alice_bindings: Vec<Binding> = server
        .cloud(|c| c.bindings(PROJECT))
        .into_iter()
        .filter(|b| b.members.contains(&ALICE.to_owned()))
        .collect();
    assert_eq!(alice_bindings.len(), 1, "{alice_bindings:?}");
    assert!(server.cloud(|c| c.has_access(
        PROJECT,
        ALICE,
        "roles/cloudsql.admin",
        "2031-03-02T02:00:00Z"
    )));

    // Revert: exactly that binding goes; everything else is as it was, audit settings too.
    provider
        .delete(DeleteRequest::new(
            PROJECT_MEMBER,
            id.clone(),
            updated.attributes,
            ChangeContext::revert(None),
        ))
        .await
        .unwrap();
    assert_eq!(server.cloud(|c| c.bindings(PROJECT)), before);
    assert_eq!(server.cloud(|c| c.audit_of(PROJECT)), audit);
    assert_eq!(read_one(&provider, PROJECT_MEMBER, &id).await.unwrap(), None);
    let writes_before = writes(&server);
    provider
        .delete(DeleteRequest::new(
            PROJECT_MEMBER,
            id,
            Attributes::new(),
            ChangeContext::revert(None),
        ))
        .await
        .unwrap();
    assert_eq!(writes(&server), writes_before, "deleting what is gone writes nothing");
    assert_eq!(server.cloud(|c| c.blind_writes), 0);
}

#[tokio::test]
async fn folders_and_organizations_take_the_same_bindings() {
    let server = ContractServer::start(example_cloud());
    let provider = executor(&server).await;
    let cases = [
        ("gcp_folder_iam_member", json!({"folder": "1234567890"}), FOLDER, "folders/1234567890"),
        (
            "gcp_organization_iam_member",
            json!({"org_id": "123456789012"}),
            ORGANIZATION,
            "123456789012",
        ),
    ];
    for (resource_type, container, resource, reported) in cases {
        let mut declared = attributes(container.clone());
        declared.insert("role".into(), json!("roles/iam.securityReviewer"));
        declared.insert("member".into(), json!(ALICE));
        declared.insert("expires_at".into(), json!(END));
        let id = id_of(&provider, resource_type, &declared);
        assert!(id.starts_with(resource), "{id}");
        let live = provider
            .create(CreateRequest::new(resource_type, id.clone(), declared.clone(), grant("act_2")))
            .await
            .unwrap()
            .attributes;
        let attribute = container.as_object().unwrap().keys().next().unwrap().clone();
        assert_eq!(live[attribute.as_str()], reported, "{resource_type}");
        assert!(provider.attribute_equal(
            resource_type,
            &attribute,
            &container[&attribute],
            &live[attribute.as_str()]
        ));
        assert!(!server.cloud(|c| c.has_access(
            resource,
            ALICE,
            "roles/iam.securityReviewer",
            END
        )));
        assert!(read_one(&provider, resource_type, &id).await.unwrap().is_some());
        provider
            .delete(DeleteRequest::new(
                resource_type,
                id.clone(),
                live,
                ChangeContext::revert(None),
            ))
            .await
            .unwrap();
        assert!(
            read_one(&provider, resource_type, &id).await.unwrap().is_none(),
            "{resource_type}"
        );
    }
}

#[tokio::test]
async fn basic_roles_are_granted_without_a_condition_since_iam_refuses_one() {
    let server = ContractServer::start(example_cloud());
    let provider = executor(&server).await;
    let declared =
        attributes(json!({"project": "payments-prod", "role": "roles/editor", "member": ALICE}));
    assert!(!provider.expires_natively(PROJECT_MEMBER, &declared));
    create(&provider, &declared, grant("act_3")).await.unwrap();
    let editor = server
        .cloud(|c| c.bindings(PROJECT))
        .into_iter()
        .find(|b| b.role == "roles/editor")
        .unwrap();
    assert_eq!(editor.condition, None);
    assert_eq!(editor.members, [ALICE]);
}

#[tokio::test]
async fn a_concurrent_change_between_read_and_write_is_never_lost() {
    let server = ContractServer::start(example_cloud());
    let provider = executor(&server).await;
    // Just before breakglass's write lands, a colleague adds erin and removes the service
    // account's client role in the console.
    let change: super::contract::Change = Arc::new(|bindings: &mut Vec<Binding>| {
        bindings.push(Binding::new("roles/viewer", &["user:erin@example.com"]));
        bindings.retain(|b| b.role != "roles/cloudsql.client");
    });
    server.inject(Fault::ChangeFirst(change), "setIamPolicy", PROJECT, 1);
    create(&provider, &cloudsql(ALICE, Some(END)), grant("act_4")).await.unwrap();

    let statuses: Vec<u16> =
        server.cloud(|c| c.calls("setIamPolicy", PROJECT).iter().map(|r| r.status).collect());
    assert_eq!(
        statuses,
        [409, 200],
        "the stale write was refused, then made again from a fresh read"
    );
    let bindings = server.cloud(|c| c.bindings(PROJECT));
    assert!(
        bindings.iter().any(|b| b.members.contains(&"user:erin@example.com".to_owned())),
        "erin kept: {bindings:?}"
    );
    assert!(
        !bindings.iter().any(|b| b.role == "roles/cloudsql.client"),
        "the removal kept: {bindings:?}"
    );
    assert!(bindings.iter().any(|b| b.members.contains(&ALICE.to_owned())), "{bindings:?}");
    assert_eq!(server.cloud(|c| c.blind_writes), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_executors_racing_on_one_policy_lose_nothing() {
    let server = ContractServer::start(example_cloud());
    let executors = [Arc::new(executor(&server).await), Arc::new(executor(&server).await)];
    let members: Vec<String> = (0..12).map(|n| format!("user:responder{n}@example.com")).collect();
    let mut jobs = tokio::task::JoinSet::new();
    for (n, member) in members.iter().enumerate() {
        let provider = executors[n % 2].clone();
        let declared = cloudsql(member, Some(END));
        jobs.spawn(async move { create(&provider, &declared, grant(&format!("act_{n}"))).await });
    }
    while let Some(outcome) = jobs.join_next().await {
        outcome.expect("the task ran").expect("every grant lands");
    }
    let bindings = server.cloud(|c| c.bindings(PROJECT));
    for member in &members {
        assert!(bindings.iter().any(|b| b.members.contains(member)), "{member} lost: {bindings:?}");
    }
    assert!(bindings.iter().any(|b| b.role == "roles/owner"), "the owners kept");
    let conflicts = server
        .cloud(|c| c.calls("setIamPolicy", PROJECT).iter().filter(|r| r.status == 409).count());
    assert!(conflicts > 0, "two writers on one policy do conflict, and recover");
}

#[tokio::test]
async fn throttling_and_unavailability_are_retried_with_backoff() {
    let server = ContractServer::start(example_cloud());
    let provider = executor(&server).await;
    server.inject(Fault::Throttle, "setIamPolicy", PROJECT, 2);
    server.inject(Fault::Unavailable, "getIamPolicy", PROJECT, 1);
    let started = std::time::Instant::now();
    create(&provider, &cloudsql(ALICE, Some(END)), grant("act_5")).await.unwrap();
    let statuses: Vec<(String, u16)> = server.cloud(|c| {
        c.received
            .iter()
            .filter(|r| r.method != "token")
            .map(|r| (r.method.clone(), r.status))
            .collect()
    });
    let expected: Vec<(String, u16)> = [
        ("getIamPolicy", 503),
        ("getIamPolicy", 200),
        ("setIamPolicy", 429),
        ("setIamPolicy", 429),
        ("setIamPolicy", 200),
    ]
    .iter()
    .map(|(m, s)| ((*m).to_owned(), *s))
    .collect();
    assert_eq!(statuses, expected);
    assert!(
        started.elapsed() >= std::time::Duration::from_millis(300),
        "it backed off: {:?}",
        started.elapsed()
    );

    // Throttled past the attempts: a throttling error, and nothing written.
    server.inject(Fault::Throttle, "setIamPolicy", PROJECT, 10);
    let error = create(&provider, &cloudsql("user:bob@example.com", Some(END)), grant("act_6"))
        .await
        .unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Throttled, "{error}");
    assert!(error.message().contains("429"), "{error}");
    assert!(
        !server
            .cloud(|c| c.bindings(PROJECT))
            .iter()
            .any(|b| b.members.contains(&"user:bob@example.com".to_owned()))
    );
}

#[tokio::test]
async fn a_write_whose_answer_was_lost_is_recognised_on_retry_not_made_twice() {
    let server = ContractServer::start(example_cloud());
    let provider = executor(&server).await;
    server.inject(Fault::LostAnswer, "setIamPolicy", PROJECT, 1);
    let live = create(&provider, &cloudsql(ALICE, Some(END)), grant("act_9")).await.unwrap();
    assert_eq!(live["expires_at"], END);
    // The write landed but its answer was lost; the retry carries the old etag and is refused;
    // a fresh read shows the binding already there, so nothing more is written.
    let statuses: Vec<u16> =
        server.cloud(|c| c.calls("setIamPolicy", PROJECT).iter().map(|r| r.status).collect());
    assert_eq!(statuses, [503, 409]);
    let alice: Vec<Binding> = server
        .cloud(|c| c.bindings(PROJECT))
        .into_iter()
        .filter(|b| b.members.contains(&ALICE.to_owned()))
        .collect();
    assert_eq!(alice.len(), 1, "{alice:?}");
}

#[tokio::test]
async fn an_expired_token_is_replaced_and_the_call_goes_through() {
    let server = ContractServer::start(example_cloud());
    let provider = executor(&server).await;
    let id = id_of(&provider, PROJECT_MEMBER, &cloudsql(ALICE, None));
    read_one(&provider, PROJECT_MEMBER, &id).await.unwrap();
    assert_eq!(server.cloud(|c| c.exchanges()), 1);
    read_one(&provider, PROJECT_MEMBER, &id).await.unwrap();
    assert_eq!(server.cloud(|c| c.exchanges()), 1, "the token is kept while it is fresh");

    // Google stops honouring the token (revoked, or it expired early): 401, a new token, done.
    server.cloud(|c| c.expire_tokens());
    create(&provider, &cloudsql(ALICE, None), ChangeContext::baseline()).await.unwrap();
    assert_eq!(server.cloud(|c| c.exchanges()), 2);
    assert_eq!(provider.token_exchanges(), 2);
    let unauthorized = server.cloud(|c| c.received.iter().filter(|r| r.status == 401).count());
    assert_eq!(unauthorized, 1);
}

#[tokio::test]
async fn a_token_about_to_expire_is_replaced_before_it_is_used() {
    let server = ContractServer::start(example_cloud().token_lifetime(1));
    let provider = executor(&server).await;
    let id = id_of(&provider, PROJECT_MEMBER, &cloudsql(ALICE, None));
    read_one(&provider, PROJECT_MEMBER, &id).await.unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(600)).await;
    read_one(&provider, PROJECT_MEMBER, &id).await.unwrap();
    assert_eq!(server.cloud(|c| c.exchanges()), 2);
    assert!(server.cloud(|c| c.received.iter().all(|r| r.status != 401)), "no call was refused");
}

#[tokio::test]
async fn a_fixed_access_token_works_until_it_expires_and_then_says_what_to_do() {
    let server = ContractServer::start(example_cloud());
    let token = server.cloud(|c| c.issue_token(EXECUTOR));
    let provider =
        configured(json!({"access_token": token, "endpoint": server.endpoint()})).await.unwrap();
    let id = id_of(&provider, PROJECT_MEMBER, &cloudsql(ALICE, None));
    assert_eq!(read_one(&provider, PROJECT_MEMBER, &id).await.unwrap(), None);
    server.cloud(|c| c.expire_tokens());
    let error = read_one(&provider, PROJECT_MEMBER, &id).await.unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Denied);
    assert!(error.message().contains("gcloud auth print-access-token"), "{error}");
    assert!(!error.message().contains(&token), "the token is never shown: {error}");
}

#[tokio::test]
async fn a_key_google_does_not_know_is_refused_and_nothing_changes() {
    let server = ContractServer::start(example_cloud());
    let stranger = new_key();
    let provider = configured(json!({
        "credentials": key_file(&stranger, &server.token_uri()),
        "endpoint": server.endpoint(),
    }))
    .await
    .unwrap();
    let error = create(&provider, &cloudsql(ALICE, Some(END)), grant("act_7")).await.unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Denied, "{error}");
    assert!(error.message().contains("Invalid JWT Signature"), "{error}");
    assert!(error.message().contains(EXECUTOR), "names the account: {error}");
    assert!(!error.message().contains("PRIVATE KEY"), "{error}");
    assert!(
        server.cloud(|c| c.received.iter().all(|r| r.method == "token")),
        "no API call was made"
    );
}

#[tokio::test]
async fn missing_permission_names_the_permission_and_the_resource() {
    let server = ContractServer::start(example_cloud().resource(
        "projects/ledger-prod",
        vec![Binding::new("roles/viewer", &["group:x@example.com"])],
    ));
    let provider = executor(&server).await;
    for project in ["ledger-prod", "no-such-project"] {
        let declared =
            attributes(json!({"project": project, "role": "roles/viewer", "member": ALICE}));
        let id = id_of(&provider, PROJECT_MEMBER, &declared);
        let error = read_one(&provider, PROJECT_MEMBER, &id).await.unwrap_err();
        assert_eq!(error.kind(), ErrorKind::Denied, "{project}: {error}");
        assert!(error.message().contains("resourcemanager.projects.getIamPolicy"), "{error}");
        assert!(error.message().contains(&format!("projects/{project}")), "{error}");
        assert!(error.message().contains(EXECUTOR), "{error}");
    }
}

#[tokio::test]
async fn a_read_right_after_a_write_that_does_not_see_it_yet_is_read_again() {
    let server = ContractServer::start(example_cloud());
    let provider = executor(&server).await;
    let declared = cloudsql(ALICE, Some(END));
    let id = id_of(&provider, PROJECT_MEMBER, &declared);
    let live = create(&provider, &declared, grant("act_8")).await.unwrap();
    // From now on, the two reads after each write still answer the policy from before it.
    server.cloud(|c| c.lag_reads(PROJECT, 2));
    provider
        .delete(DeleteRequest::new(PROJECT_MEMBER, id.clone(), live, ChangeContext::revert(None)))
        .await
        .unwrap();
    let current = server.cloud(|c| c.etag(PROJECT));

    // The revert's verification: the stale answers (which still hold alice) are not believed.
    assert_eq!(read_one(&provider, PROJECT_MEMBER, &id).await.unwrap(), None);
    let reads: Vec<Option<String>> = server.cloud(|c| {
        let calls = c.calls("getIamPolicy", PROJECT);
        calls[calls.len() - 3..].iter().map(|r| r.etag.clone()).collect()
    });
    assert_eq!(reads[2].as_deref(), Some(current.as_str()), "the last read saw the write");
    assert!(
        reads[..2].iter().all(|etag| etag.as_deref() != Some(current.as_str())),
        "two stale answers: {reads:?}"
    );

    // When Google does not catch up in time, the read fails as transient: neither "gone" nor
    // "still there" is concluded from a stale answer.
    let live = create(&provider, &declared, grant("act_8")).await.unwrap();
    server.cloud(|c| c.lag_reads(PROJECT, 50));
    provider
        .delete(DeleteRequest::new(PROJECT_MEMBER, id.clone(), live, ChangeContext::revert(None)))
        .await
        .unwrap();
    let error = read_one(&provider, PROJECT_MEMBER, &id).await.unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Transient, "{error}");
    assert!(error.message().contains("eventually consistent"), "{error}");
}

#[tokio::test]
async fn someone_elses_conditional_binding_of_a_privileged_role_is_listed_and_removed_alone() {
    let server = ContractServer::start(example_cloud());
    let provider = executor(&server).await;
    server.cloud(|c| {
        c.change(PROJECT, |bindings| {
            bindings.push(Binding::new("roles/editor", &["user:mallory@example.com"]));
            bindings.push(Binding {
                role: "roles/iam.securityAdmin".into(),
                members: vec!["user:mallory@example.com".into()],
                condition: Some(json!({"title": "temporary", "expression": "request.time < timestamp(\"2040-01-01T00:00:00Z\")"})),
            });
        })
    });
    let listing = provider
        .list(ListRequest::new(
            PROJECT_MEMBER,
            vec![attributes(json!({"project": "payments-prod"}))],
        ))
        .await
        .unwrap();
    let editor = "projects/payments-prod roles/editor user:mallory@example.com";
    assert!(listing.privileged.contains(editor), "{:?}", listing.privileged);
    let conditional = "projects/payments-prod roles/iam.securityAdmin user:mallory@example.com condition:temporary";
    let found = &listing.objects[conditional];
    assert_eq!(found["condition_title"], "temporary");
    assert!(found.get("expires_at").is_none(), "someone else's end is not breakglass's expiry");
    provider
        .delete(DeleteRequest::new(
            PROJECT_MEMBER,
            conditional,
            found.clone(),
            ChangeContext::baseline(),
        ))
        .await
        .unwrap();
    let bindings = server.cloud(|c| c.bindings(PROJECT));
    assert!(!bindings.iter().any(|b| b.role == "roles/iam.securityAdmin"), "{bindings:?}");
    assert!(
        bindings.iter().any(|b| b.role == "roles/editor"),
        "only the named binding went: {bindings:?}"
    );
}
