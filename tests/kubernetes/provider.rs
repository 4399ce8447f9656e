//! The provider's calls against the contract server: paging and relisting, optimistic
//! concurrency, exact reverts, retries, Status errors, dry runs, idempotence, credentials.

use breakglass_provider::{
    ActivationContext, Attributes, ChangeContext, ConfigureRequest, CreateRequest, DeleteRequest,
    DryRunRequest, ErrorKind, ListRequest, Provider, ReadRequest, UpdateRequest,
};
use breakglass_provider_kubernetes::{
    CLUSTER_ROLE, CLUSTER_ROLE_BINDING, KubernetesProvider, ROLE, ROLE_BINDING,
};
use serde_json::{Value, json};
use std::path::Path;
use std::time::{Duration, Instant};

use super::contract::{ADMIN_TOKEN, Cluster, ContractServer, Fault, VIEWER_TOKEN};

/// A provider configured against `server` with `token`, and `extra` block attributes.
async fn provider_as(
    server: &ContractServer,
    dir: &Path,
    token: &str,
    extra: Value,
) -> KubernetesProvider {
    let kubeconfig = server.kubeconfig(dir, token);
    let mut config: Attributes = serde_json::from_value(extra).expect("attributes");
    config.insert("kubeconfig".into(), json!(kubeconfig.display().to_string()));
    config.entry("max_attempts".into()).or_insert(json!(3));
    let mut provider = KubernetesProvider::new();
    provider.configure(ConfigureRequest::new(config, dir)).await.expect("configured");
    provider
}

async fn provider(server: &ContractServer, dir: &Path) -> KubernetesProvider {
    provider_as(server, dir, ADMIN_TOKEN, json!({})).await
}

fn attributes(value: Value) -> Attributes {
    serde_json::from_value(value).expect("attributes")
}

fn admin_binding(name: &str, user: &str) -> Attributes {
    attributes(json!({"name": name, "role": "cluster-admin",
                      "subjects": [{"kind": "User", "name": user}]}))
}

fn activation(id: &str) -> ActivationContext {
    ActivationContext::new(
        id,
        "alice",
        "2026-12-01T10:00:00Z".parse().unwrap(),
        "2026-12-01T10:30:00Z".parse().unwrap(),
    )
}

/// A cluster with `n` hand-made ClusterRoleBindings to `view`.
fn cluster_with_bindings(n: usize) -> Cluster {
    let mut cluster = Cluster::new();
    for i in 0..n {
        cluster = cluster.binding(&format!("team-{i:04}"), "view", &format!("user-{i}"));
    }
    cluster
}

/// The benchmark of the issue: a refresh of 1,000 bindings costs at most ten API calls.
#[tokio::test]
async fn refresh_of_1000_bindings_takes_at_most_ten_calls() {
    let server = ContractServer::start(cluster_with_bindings(1000));
    let dir = tempfile::tempdir().unwrap();
    let provider = provider(&server, dir.path()).await;
    let listed = provider.list(ListRequest::new(CLUSTER_ROLE_BINDING, vec![])).await.unwrap();
    assert_eq!(listed.objects.len(), 1001, "1,000 bindings and Kubernetes' default");
    eprintln!(
        "refresh of {} ClusterRoleBindings: {} API calls (page size 500)",
        listed.objects.len(),
        listed.api_calls
    );
    assert!(listed.api_calls <= 10, "{} calls", listed.api_calls);
    assert_eq!(listed.api_calls, 3, "1,001 objects at 500 a page");
    assert_eq!(server.cluster(|c| c.received.len()), 3, "the count is the server's too");
    assert_eq!(
        listed.objects["team-0999"]["subjects"],
        json!([{"kind": "User", "name": "user-999"}])
    );
    assert_eq!(listed.objects["team-0999"]["role"], "view");
}

#[tokio::test]
async fn an_expired_continue_token_makes_the_provider_list_again_from_the_start() {
    let server = ContractServer::start(cluster_with_bindings(5));
    let dir = tempfile::tempdir().unwrap();
    let provider = provider_as(&server, dir.path(), ADMIN_TOKEN, json!({"page_size": 2})).await;
    server.inject(Fault::ExpiredContinue, "GET", "/clusterrolebindings", 1);
    let listed = provider.list(ListRequest::new(CLUSTER_ROLE_BINDING, vec![])).await.unwrap();
    assert_eq!(listed.objects.len(), 6, "nothing missed, nothing twice");
    let asked: Vec<(Option<String>, u16)> = server.cluster(|c| {
        c.received.iter().map(|r| (r.param("continue").map(str::to_owned), r.status)).collect()
    });
    assert_eq!(asked[0], (None, 200));
    assert_eq!(asked[1].1, 410, "{asked:?}");
    assert_eq!(asked[2], (None, 200), "listed again from the start: {asked:?}");
    assert_eq!(asked.len(), 5, "2 + a fresh walk of 3 pages: {asked:?}");
    assert_eq!(listed.api_calls, 5);
}

#[tokio::test]
async fn a_grant_is_created_labelled_and_its_revert_deletes_exactly_that_binding() {
    let server = ContractServer::start(Cluster::new());
    let dir = tempfile::tempdir().unwrap();
    let provider = provider(&server, dir.path()).await;
    let grant = ChangeContext::grant(activation("act_01JDQ4Z9XKTEST"));
    let created = provider
        .create(CreateRequest::new(
            CLUSTER_ROLE_BINDING,
            "bg-alice",
            admin_binding("bg-alice", "alice@example.com"),
            grant,
        ))
        .await
        .unwrap();
    assert_eq!(created.attributes["activation"], "act_01JDQ4Z9XKTEST");
    let stored =
        server.cluster(|c| c.object("clusterrolebindings", None, "bg-alice").cloned()).unwrap();
    assert_eq!(stored["metadata"]["labels"]["breakglass.dev/activation"], "act_01JDQ4Z9XKTEST");
    assert_eq!(stored["metadata"]["labels"]["app.kubernetes.io/managed-by"], "breakglass");
    assert_eq!(stored["metadata"]["annotations"]["breakglass.dev/ends-at"], "2026-12-01T10:30:00Z");
    assert_eq!(stored["subjects"][0]["apiGroup"], "rbac.authorization.k8s.io");

    let revert = ChangeContext::revert(Some(activation("act_01JDQ4Z9XKTEST")));
    let deleted = provider
        .delete(DeleteRequest::new(
            CLUSTER_ROLE_BINDING,
            "bg-alice",
            created.attributes.clone(),
            revert.clone(),
        ))
        .await
        .unwrap();
    assert!(
        deleted.notes[0].starts_with("deleted ClusterRoleBinding bg-alice (uid "),
        "{:?}",
        deleted.notes
    );
    assert!(server.cluster(|c| c.object("clusterrolebindings", None, "bg-alice").is_none()));
    let delete =
        server.cluster(|c| c.received_matching("DELETE", "/bg-alice")[0].body.clone()).unwrap();
    assert_eq!(
        delete["preconditions"]["uid"], stored["metadata"]["uid"],
        "exactly the object read"
    );
    assert_eq!(delete["preconditions"]["resourceVersion"], stored["metadata"]["resourceVersion"]);
    // Reverting again: already gone is success.
    provider
        .delete(DeleteRequest::new(
            CLUSTER_ROLE_BINDING,
            "bg-alice",
            created.attributes,
            revert.clone(),
        ))
        .await
        .unwrap();

    // Someone made a binding of the same name by hand: the revert leaves it, loudly.
    server.cluster(|c| {
        c.put_object("clusterrolebindings", None, json!({
            "metadata": {"name": "bg-alice"},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "cluster-admin"},
            "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": "alice@example.com"}]
        }))
    });
    let error = provider
        .delete(DeleteRequest::new(CLUSTER_ROLE_BINDING, "bg-alice", Attributes::new(), revert))
        .await
        .unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Invalid);
    assert!(
        error
            .message()
            .contains("is not the ClusterRoleBinding activation act_01JDQ4Z9XKTEST created"),
        "{error}"
    );
    assert!(error.message().contains("it has no such label"), "{error}");
    assert!(server.cluster(|c| c.object("clusterrolebindings", None, "bg-alice").is_some()));

    // And a grant never takes over a binding it did not create.
    let error = provider
        .create(CreateRequest::new(
            CLUSTER_ROLE_BINDING,
            "bg-alice",
            admin_binding("bg-alice", "alice@example.com"),
            ChangeContext::grant(activation("act_2")),
        ))
        .await
        .unwrap_err();
    assert!(
        error.message().contains("already exists and activation act_2 did not create it"),
        "{error}"
    );
}

#[tokio::test]
async fn a_conflicting_write_is_decided_again_from_a_fresh_read_never_overwritten() {
    let server = ContractServer::start(Cluster::new().binding("oncall", "view", "bob"));
    let dir = tempfile::tempdir().unwrap();
    let provider = provider(&server, dir.path()).await;
    server.inject(Fault::ConcurrentWrite, "PUT", "/clusterrolebindings/oncall", 1);
    let after = attributes(json!({"name": "oncall", "role": "view",
        "subjects": [{"kind": "User", "name": "bob"}, {"kind": "User", "name": "erin"}]}));
    let updated = provider
        .update(UpdateRequest::new(
            CLUSTER_ROLE_BINDING,
            "oncall",
            Attributes::new(),
            after,
            ChangeContext::baseline(),
        ))
        .await
        .unwrap();
    assert_eq!(updated.attributes["subjects"].as_array().unwrap().len(), 2);
    let puts: Vec<(u16, Value)> = server.cluster(|c| {
        c.received_matching("PUT", "/oncall")
            .iter()
            .map(|r| (r.status, r.body.clone().unwrap()["metadata"]["resourceVersion"].clone()))
            .collect()
    });
    assert_eq!(puts.len(), 2, "{puts:?}");
    assert_eq!(puts[0].0, 409);
    assert_eq!(puts[1].0, 200);
    assert_ne!(puts[0].1, puts[1].1, "the second write carries the version read again");
    assert_eq!(server.cluster(|c| c.unconditional_updates), 0, "never a blind overwrite");
    let stored =
        server.cluster(|c| c.object("clusterrolebindings", None, "oncall").cloned()).unwrap();
    assert_eq!(
        stored["metadata"]["annotations"]["touched-by"], "someone-else",
        "the other writer's change is kept"
    );

    // A roleRef cannot change in place: the error says to replace.
    let other_role = attributes(
        json!({"name": "oncall", "role": "edit", "subjects": [{"kind": "User", "name": "bob"}]}),
    );
    let error = provider
        .update(UpdateRequest::new(
            CLUSTER_ROLE_BINDING,
            "oncall",
            Attributes::new(),
            other_role,
            ChangeContext::baseline(),
        ))
        .await
        .unwrap_err();
    assert!(error.message().contains("roleRef cannot change"), "{error}");
}

#[tokio::test]
async fn throttling_waits_as_long_as_retry_after_asks_and_server_errors_are_retried() {
    let server = ContractServer::start(cluster_with_bindings(3));
    let dir = tempfile::tempdir().unwrap();
    let provider = provider(&server, dir.path()).await;
    server.inject(Fault::TooManyRequests(1), "GET", "/clusterrolebindings", 1);
    server.inject(Fault::ServerError, "GET", "/clusterroles", 1);
    let began = Instant::now();
    let listed = provider.list(ListRequest::new(CLUSTER_ROLE_BINDING, vec![])).await.unwrap();
    assert!(began.elapsed() >= Duration::from_millis(950), "waited only {:?}", began.elapsed());
    assert_eq!(listed.objects.len(), 4);
    assert_eq!(listed.api_calls, 1, "one list walk; the retry is the HTTP client's");
    let roles = provider.list(ListRequest::new(CLUSTER_ROLE, vec![])).await.unwrap();
    assert_eq!(roles.objects.len(), 1);
    let statuses: Vec<u16> = server.cluster(|c| c.received.iter().map(|r| r.status).collect());
    assert_eq!(statuses, [429, 200, 500, 200]);

    // Throttled on every attempt: the error says so, and how long the server asked to wait.
    server.inject(Fault::TooManyRequests(0), "GET", "/clusterrolebindings", 3);
    let error = provider.list(ListRequest::new(CLUSTER_ROLE_BINDING, vec![])).await.unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Throttled, "{error}");
    assert!(error.message().contains("429 Too Many Requests after 3 attempts"), "{error}");
}

#[tokio::test]
async fn status_errors_become_clear_errors() {
    let server = ContractServer::start(Cluster::new());
    let dir = tempfile::tempdir().unwrap();
    let viewer = provider_as(&server, dir.path(), VIEWER_TOKEN, json!({})).await;
    let error = viewer
        .create(CreateRequest::new(
            CLUSTER_ROLE_BINDING,
            "bg",
            admin_binding("bg", "alice"),
            ChangeContext::baseline(),
        ))
        .await
        .unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Denied);
    assert!(
        error.message().contains("User \"viewer\" cannot create resource \"clusterrolebindings\""),
        "{error}"
    );
    assert!(error.message().contains("docs/providers/kubernetes.md"), "{error}");

    let admin = provider(&server, dir.path()).await;
    let long = "x".repeat(300);
    let error = admin
        .create(CreateRequest::new(
            CLUSTER_ROLE_BINDING,
            long.as_str(),
            admin_binding(&long, "alice"),
            ChangeContext::baseline(),
        ))
        .await
        .unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Invalid);
    assert!(error.message().contains("422 Unprocessable Entity, Invalid"), "{error}");
    assert!(error.message().contains("metadata.name: Invalid value"), "{error}");

    let error = admin
        .update(UpdateRequest::new(ROLE, "payments/missing", Attributes::new(),
            attributes(json!({"name": "missing", "namespace": "payments", "rules": [{"verbs": ["get"], "resources": ["pods"]}]})),
            ChangeContext::baseline()))
        .await
        .unwrap_err();
    assert_eq!(error.kind(), ErrorKind::NotFound);
    assert!(error.message().contains("no longer exists; run plan again"), "{error}");

    let bad_token = provider_as(&server, dir.path(), "wrong-token", json!({})).await;
    let error = bad_token.list(ListRequest::new(ROLE, vec![])).await.unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Denied);
    assert!(
        error.message().contains("did not accept the credentials of context \"contract\""),
        "{error}"
    );
    assert!(!error.message().contains("wrong-token"), "{error}");
}

#[tokio::test]
async fn a_dry_run_checks_with_the_server_and_writes_nothing() {
    let server = ContractServer::start(Cluster::new().binding("oncall", "view", "bob"));
    let dir = tempfile::tempdir().unwrap();
    let provider = provider(&server, dir.path()).await;
    let create = DryRunRequest::new(
        CLUSTER_ROLE_BINDING,
        "bg",
        None,
        admin_binding("bg", "alice"),
        ChangeContext::grant(activation("act_1")),
    );
    let accepted = provider.dry_run(create).await.unwrap();
    assert_eq!(
        accepted.notes,
        ["the API server accepted it in a server-side dry run (dryRun=All)"]
    );
    assert!(
        server.cluster(|c| c.object("clusterrolebindings", None, "bg").is_none()),
        "nothing written"
    );
    let update = DryRunRequest::new(
        CLUSTER_ROLE_BINDING,
        "oncall",
        Some(Attributes::new()),
        attributes(
            json!({"name": "oncall", "role": "view", "subjects": [{"kind": "Group", "name": "sre"}]}),
        ),
        ChangeContext::baseline(),
    );
    provider.dry_run(update).await.unwrap();
    let stored =
        server.cluster(|c| c.object("clusterrolebindings", None, "oncall").cloned()).unwrap();
    assert_eq!(stored["subjects"][0]["name"], "bob", "nothing written");
    let dry: Vec<Option<String>> = server.cluster(|c| {
        c.received
            .iter()
            .filter(|r| r.method != "GET")
            .map(|r| r.param("dryRun").map(str::to_owned))
            .collect()
    });
    assert_eq!(dry, [Some("All".to_owned()), Some("All".to_owned())]);

    let viewer = provider_as(&server, dir.path(), VIEWER_TOKEN, json!({})).await;
    let refused = viewer
        .dry_run(DryRunRequest::new(
            CLUSTER_ROLE_BINDING,
            "bg",
            None,
            admin_binding("bg", "alice"),
            ChangeContext::baseline(),
        ))
        .await
        .unwrap_err();
    assert_eq!(refused.kind(), ErrorKind::Denied, "{refused}");
}

#[tokio::test]
async fn a_lost_answer_and_repeated_writes_are_idempotent() {
    let server = ContractServer::start(Cluster::new());
    let dir = tempfile::tempdir().unwrap();
    let provider = provider(&server, dir.path()).await;
    server.inject(Fault::LostResponse, "POST", "/clusterrolebindings", 1);
    let grant = ChangeContext::grant(activation("act_lost"));
    let created = provider
        .create(CreateRequest::new(
            CLUSTER_ROLE_BINDING,
            "bg",
            admin_binding("bg", "alice"),
            grant.clone(),
        ))
        .await
        .unwrap();
    assert_eq!(created.attributes["activation"], "act_lost");
    let posts: Vec<u16> = server.cluster(|c| {
        c.received_matching("POST", "/clusterrolebindings").iter().map(|r| r.status).collect()
    });
    assert_eq!(posts, [500, 409], "the retry met its own object");
    // Again: nothing new, no error.
    provider
        .create(CreateRequest::new(CLUSTER_ROLE_BINDING, "bg", admin_binding("bg", "alice"), grant))
        .await
        .unwrap();
    assert_eq!(server.cluster(|c| c.names("clusterrolebindings")), ["bg", "cluster-admin"]);
    assert_eq!(server.cluster(|c| c.received_matching("PUT", "/bg").len()), 0, "nothing to change");
}

#[tokio::test]
async fn privileged_bindings_are_marked_but_kubernetes_defaults_are_not() {
    let mut cluster = Cluster::new()
        .binding("mallory-admin", "cluster-admin", "mallory")
        .binding("viewers", "view", "erin");
    cluster.put_object("rolebindings", Some("payments"), json!({
        "metadata": {"name": "ns-admin"},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "cluster-admin"},
        "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": "eve"}]
    }));
    let server = ContractServer::start(cluster);
    let dir = tempfile::tempdir().unwrap();
    let provider = provider(&server, dir.path()).await;
    let bindings = provider.list(ListRequest::new(CLUSTER_ROLE_BINDING, vec![])).await.unwrap();
    assert_eq!(bindings.privileged.iter().collect::<Vec<_>>(), ["mallory-admin"]);
    let namespaced = provider.list(ListRequest::new(ROLE_BINDING, vec![])).await.unwrap();
    assert_eq!(namespaced.privileged.iter().collect::<Vec<_>>(), ["payments/ns-admin"]);
    assert_eq!(namespaced.objects["payments/ns-admin"]["role_kind"], "ClusterRole");
}

#[tokio::test]
async fn roles_are_created_read_and_updated_with_their_rules() {
    let server = ContractServer::start(Cluster::new());
    let dir = tempfile::tempdir().unwrap();
    let provider = provider(&server, dir.path()).await;
    let declared = attributes(
        json!({"name": "reader", "namespace": "payments", "labels": {"team": "payments"},
        "rules": [{"api_groups": [""], "resources": ["pods", "pods/log"], "verbs": ["get", "list"]}]}),
    );
    provider
        .create(CreateRequest::new(ROLE, "payments/reader", declared, ChangeContext::baseline()))
        .await
        .unwrap();
    let read = provider
        .read(ReadRequest::new(ROLE, vec!["payments/reader".into(), "payments/none".into()]))
        .await
        .unwrap();
    assert_eq!(read.objects.len(), 1);
    let live = &read.objects["payments/reader"];
    assert_eq!(
        live["rules"],
        json!([{"api_groups": [""], "resources": ["pods", "pods/log"], "verbs": ["get", "list"]}])
    );
    assert_eq!(
        live["labels"],
        json!({"app.kubernetes.io/managed-by": "breakglass", "team": "payments"})
    );
    let wider = attributes(json!({"name": "reader", "namespace": "payments",
        "rules": [{"api_groups": [""], "resources": ["pods"], "verbs": ["*"]}]}));
    let updated = provider
        .update(UpdateRequest::new(
            ROLE,
            "payments/reader",
            live.clone(),
            wider,
            ChangeContext::baseline(),
        ))
        .await
        .unwrap();
    assert_eq!(updated.attributes["rules"][0]["verbs"], json!(["*"]));
    let stored =
        server.cluster(|c| c.object("roles", Some("payments"), "reader").cloned()).unwrap();
    assert_eq!(stored["metadata"]["labels"]["team"], "payments", "labels others set are kept");
}

#[tokio::test]
async fn an_exec_credential_plugin_supplies_the_token() {
    let server = ContractServer::start(Cluster::new());
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("get-token.sh");
    fs_err::write(&script, format!(
        "#!/bin/sh\necho '{{\"apiVersion\":\"client.authentication.k8s.io/v1\",\"kind\":\"ExecCredential\",\"status\":{{\"token\":\"{ADMIN_TOKEN}\"}}}}'\n"
    )).unwrap();
    let kubeconfig = dir.path().join("exec-kubeconfig");
    fs_err::write(&kubeconfig, format!(
        "apiVersion: v1\nkind: Config\ncurrent-context: exec\nclusters:\n- name: c\n  cluster:\n    server: {}\n\
         contexts:\n- name: exec\n  context:\n    cluster: c\n    user: u\nusers:\n- name: u\n  user:\n    exec:\n      \
         apiVersion: client.authentication.k8s.io/v1\n      command: /bin/sh\n      args: [\"{}\"]\n      interactiveMode: Never\n",
        server.url(), script.display()
    )).unwrap();
    let mut provider = KubernetesProvider::new();
    provider
        .configure(ConfigureRequest::new(
            attributes(json!({"kubeconfig": kubeconfig.display().to_string()})),
            dir.path(),
        ))
        .await
        .unwrap();
    let listed = provider.list(ListRequest::new(CLUSTER_ROLE, vec![])).await.unwrap();
    assert_eq!(listed.objects.len(), 1);
}
