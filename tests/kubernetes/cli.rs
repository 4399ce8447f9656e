//! `examples/kubernetes` through the CLI against the contract server: validate, plan (with the
//! server-side dry run), apply, an emergency cluster-admin grant requested, approved and
//! applied, its revert at the end, and a clean plan again; drift that widens access removed;
//! a write the API server refuses failing the plan and changing nothing.

use std::path::Path;

use super::contract::{ADMIN_TOKEN, Cluster, ContractServer, VIEWER_TOKEN};
use crate::util::{Outcome, Run, copy_dir, example_copy, root};

const BEFORE: &str = "2026-12-01T09:00:00Z";
const END: &str = "2026-12-01T09:31:00Z";

/// The example with the quickstart's private demo keys beside its public ones, and a
/// kubeconfig for `server` as `token`.
fn example(server: &ContractServer, token: &str) -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = example_copy("kubernetes");
    copy_dir(&root().join("examples/quickstart/keys"), &dir.path().join("keys"));
    let kubeconfig = server.kubeconfig(dir.path(), token);
    (dir, kubeconfig)
}

fn run(dir: &Path, kubeconfig: &Path, at: &str) -> Run {
    Run::new(dir).env("BREAKGLASS_TEST_NOW", at).env("KUBECONFIG", kubeconfig)
}

fn statuses(dir: &Path) -> Vec<serde_json::Value> {
    let state: serde_json::Value = crate::util::state(dir);
    state["activations"]
        .as_object()
        .map_or_else(Vec::new, |a| a.values().map(|a| a["status"].clone()).collect())
}

#[test]
fn kubernetes_example_validates_plans_applies_grants_in_an_emergency_and_reverts() {
    let server = ContractServer::start(Cluster::new());
    let (dir, kubeconfig) = example(&server, ADMIN_TOKEN);
    let path = dir.path();
    run(path, &kubeconfig, BEFORE).args(["validate"]).run().expect_code(0);

    let plan =
        run(path, &kubeconfig, BEFORE).args(["plan", "--detailed-exitcode"]).run().expect_code(2);
    snapshot!("kubernetes_example_plan", plan.stdout);
    let dry_runs =
        server.cluster(|c| c.received.iter().filter(|r| r.param("dryRun") == Some("All")).count());
    assert_eq!(dry_runs, 3, "creates whose prerequisites exist are dry-run at plan time");
    assert!(server.cluster(|c| c.names("clusterroles")) == ["cluster-admin"], "plan wrote nothing");

    let applied =
        run(path, &kubeconfig, BEFORE).args(["apply", "--auto-approve"]).run().expect_code(0);
    assert!(applied.stdout.contains("4 added, 0 changed, 0 destroyed"), "{}", applied.stdout);
    assert_eq!(server.cluster(|c| c.names("clusterroles")), ["breakglass-debug", "cluster-admin"]);
    assert_eq!(server.cluster(|c| c.names("rolebindings")), ["payments/payments-readers"]);
    run(path, &kubeconfig, BEFORE).args(["plan", "--detailed-exitcode"]).run().expect_code(0);

    // The incident: alice asks for cluster-admin, carol approves, the executor applies it.
    run(path, &kubeconfig, BEFORE)
        .args(["request", "cluster_admin", "--duration", "30m"])
        .args(["--justification", "INC-4711: API server overloaded"])
        .args(["--as", "alice", "--key", "keys/alice.key", "--out", "req.json"])
        .run()
        .expect_code(0);
    let token = run(path, &kubeconfig, BEFORE)
        .args(["approve", "req.json", "--as", "carol", "--key", "keys/carol.key", "--yes"])
        .run()
        .expect_code(0)
        .stdout
        .trim()
        .to_owned();
    run(path, &kubeconfig, BEFORE)
        .args(["apply", "--emergency", "req.json", "--approval", &token])
        .run()
        .expect_code(0);
    let binding = server
        .cluster(|c| {
            c.object("clusterrolebindings", None, "breakglass-alice-cluster-admin").cloned()
        })
        .expect("the grant's binding");
    assert_eq!(binding["roleRef"]["name"], "cluster-admin");
    assert_eq!(binding["subjects"][0]["name"], "alice@example.com");
    let activation = binding["metadata"]["annotations"]["breakglass.dev/activation"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(activation.starts_with("act_"), "{activation}");
    assert_eq!(binding["metadata"]["labels"]["breakglass.dev/activation"], activation.as_str());
    assert_eq!(statuses(path), [serde_json::json!("active")]);
    // While it lasts, the grant is not drift and nothing is to do.
    run(path, &kubeconfig, BEFORE).args(["plan", "--detailed-exitcode"]).run().expect_code(0);

    // The end: reconcile deletes exactly that binding, confirmed by a re-read.
    let reconciled = run(path, &kubeconfig, END).args(["reconcile"]).run().expect_code(0);
    assert!(reconciled.stdout.contains("breakglass-alice-cluster-admin"), "{}", reconciled.stdout);
    assert!(server.cluster(|c| {
        c.object("clusterrolebindings", None, "breakglass-alice-cluster-admin").is_none()
    }));
    assert_eq!(statuses(path), [serde_json::json!("reverted")]);
    assert_eq!(
        server.cluster(|c| c.names("clusterrolebindings")),
        ["cluster-admin", "sre-view"],
        "the default is untouched"
    );
    run(path, &kubeconfig, END).args(["plan", "--detailed-exitcode"]).run().expect_code(0);
    assert_eq!(server.cluster(|c| c.unconditional_updates), 0);
}

#[test]
fn a_cluster_admin_binding_made_by_hand_is_reported_and_removed() {
    let server =
        ContractServer::start(Cluster::new().binding("mallory-admin", "cluster-admin", "mallory"));
    let (dir, kubeconfig) = example(&server, ADMIN_TOKEN);
    let path = dir.path();
    let plan = run(path, &kubeconfig, BEFORE).args(["plan"]).run().expect_code(0);
    assert!(plan.stdout.contains("mallory-admin"), "{}", plan.stdout);
    assert!(
        !plan.stdout.contains("kubernetes_cluster_role_binding cluster-admin"),
        "{}",
        plan.stdout
    );
    run(path, &kubeconfig, BEFORE).args(["apply", "--auto-approve"]).run().expect_code(0);
    assert_eq!(server.cluster(|c| c.names("clusterrolebindings")), ["cluster-admin", "sre-view"]);
    run(path, &kubeconfig, BEFORE).args(["plan", "--detailed-exitcode"]).run().expect_code(0);
}

#[test]
fn a_write_the_api_server_refuses_fails_the_plan_and_changes_nothing() {
    let server = ContractServer::start(Cluster::new());
    let (dir, kubeconfig) = example(&server, VIEWER_TOKEN);
    let outcome: Outcome = run(dir.path(), &kubeconfig, BEFORE).args(["plan"]).run();
    assert_eq!(outcome.code, 1, "{}\n{}", outcome.stdout, outcome.stderr);
    assert!(
        outcome.stderr.contains("refused 3 planned change(s) in a dry run"),
        "{}",
        outcome.stderr
    );
    assert!(outcome.stderr.contains("kubernetes_cluster_role.debug"), "{}", outcome.stderr);
    assert!(
        outcome.stderr.contains("User \\\"viewer\\\" cannot create")
            || outcome.stderr.contains("User \"viewer\" cannot create"),
        "{}",
        outcome.stderr
    );
    assert!(!outcome.stderr.contains(VIEWER_TOKEN), "{}", outcome.stderr);
    assert!(server.cluster(|c| {
        c.received.iter().all(|r| r.method == "GET" || r.param("dryRun") == Some("All"))
    }));
    let state = crate::util::state(dir.path());
    let empty = |field: &str| state[field].as_object().is_none_or(serde_json::Map::is_empty);
    assert!(empty("resources") && empty("activations"), "no state written: {state}");
}
