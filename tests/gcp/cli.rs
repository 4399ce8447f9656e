//! `examples/gcp` end to end through the CLI against the contract server: validate, plan and
//! apply the baseline; the planned grant taken inside its window, with the IAM Condition on
//! Google's side, and reverted at its end (confirmed by a re-read); an emergency request
//! approved, applied, extended (the condition rewritten) and reverted by `reconcile`, also
//! when reads lag behind writes; a
//! hand-made owner or editor binding reported as drift.

use serde_json::Value;
use std::path::Path;

use super::contract::{Binding, ContractServer};
use super::{FOLDER, ORGANIZATION, PROJECT, example_cloud, key_file, key_pair};
use crate::util::{Run, example_copy, root};

/// Inside the example's grant `chg_2031` (2031-03-01 22:00 to 2031-03-02 01:00 UTC).
const IN_WINDOW: &str = "2031-03-01T23:00:00Z";
const AFTER_WINDOW: &str = "2031-03-02T01:00:01Z";
const BOB: &str = "user:bob@example.com";
const ALICE: &str = "user:alice@example.com";

/// `breakglass` in `dir` against the server, with credentials from the environment only: a
/// key file whose `token_uri` is the server's.
fn gcp(dir: &Path, server: &ContractServer) -> Run {
    let key = dir.join("executor-key.json");
    if !key.exists() {
        fs_err::write(&key, key_file(key_pair(), &server.token_uri())).expect("write the key file");
    }
    Run::new(dir)
        .env("GOOGLE_APPLICATION_CREDENTIALS", key)
        .env("GOOGLE_OAUTH_ACCESS_TOKEN", "")
        .env("CLOUDSDK_API_ENDPOINT_OVERRIDES_CLOUDRESOURCEMANAGER", server.endpoint())
}

fn activation_status(dir: &Path, id: &str) -> String {
    let state: Value = crate::util::state(dir);
    state["activations"][id]["status"].as_str().unwrap_or_default().to_owned()
}

/// The condition of `member`'s binding to `role` on `resource`, if it has one.
fn condition_of(
    server: &ContractServer,
    resource: &str,
    role: &str,
    member: &str,
) -> Option<Value> {
    server.cloud(|cloud| {
        cloud
            .bindings(resource)
            .into_iter()
            .find(|b| b.role == role && b.members.iter().any(|m| m == member))
            .and_then(|b| b.condition)
    })
}

fn holds(server: &ContractServer, resource: &str, member: &str) -> Vec<String> {
    server.cloud(|cloud| {
        cloud
            .bindings(resource)
            .into_iter()
            .filter(|b| b.members.iter().any(|m| m == member))
            .map(|b| b.role)
            .collect()
    })
}

fn writes(server: &ContractServer) -> usize {
    server.cloud(|cloud| cloud.received.iter().filter(|r| r.method == "setIamPolicy").count())
}

#[test]
fn the_example_validates_plans_applies_takes_its_grant_and_reverts_it() {
    let server = ContractServer::start(example_cloud());
    let dir = example_copy("gcp");
    let run = || gcp(dir.path(), &server);

    run().args(["validate"]).run().expect_code(0);
    let plan = run().args(["plan", "--detailed-exitcode"]).run().expect_code(2);
    assert!(plan.stdout.contains("Plan: 2 to add, 0 to change, 0 to destroy."), "{}", plan.stdout);
    let applied = run().args(["apply", "--auto-approve"]).run().expect_code(0);
    assert!(applied.stdout.contains("2 added, 0 changed, 0 destroyed"), "{}", applied.stdout);
    run().args(["plan", "--detailed-exitcode"]).run().expect_code(0);
    assert_eq!(holds(&server, PROJECT, "group:oncall@example.com"), ["roles/viewer"]);
    assert_eq!(
        holds(&server, FOLDER, "group:security@example.com"),
        ["roles/iam.securityReviewer"]
    );
    let baseline = server.cloud(|cloud| cloud.bindings(PROJECT));
    let audit = server.cloud(|cloud| cloud.audit_of(PROJECT));

    // The maintenance window: bob administers the databases until its end, which Google
    // itself enforces through the condition on each binding.
    let at = |time: &str| gcp(dir.path(), &server).env("BREAKGLASS_TEST_NOW", time);
    let plan = at(IN_WINDOW).args(["plan"]).run().expect_code(0);
    assert!(plan.stdout.contains("Plan: 2 to add, 0 to change, 0 to destroy."), "{}", plan.stdout);
    assert!(
        plan.stdout.contains("the platform itself ends this access at 2031-03-02T01:00:00Z"),
        "{}",
        plan.stdout
    );
    let granted = at(IN_WINDOW).args(["apply", "--auto-approve"]).run().expect_code(0);
    assert!(granted.stdout.contains("2 added, 0 changed, 0 destroyed"), "{}", granted.stdout);
    assert_eq!(activation_status(dir.path(), "grant_chg_2031"), "active");
    for role in ["roles/cloudsql.admin", "roles/logging.viewer"] {
        let condition = condition_of(&server, PROJECT, role, BOB).expect("a conditional binding");
        assert_eq!(condition["title"], "grant_chg_2031", "{condition}");
        assert_eq!(condition["expression"], "request.time < timestamp(\"2031-03-02T01:00:00Z\")");
        assert!(server.cloud(|c| c.has_access(PROJECT, BOB, role, "2031-03-02T00:59:59Z")));
        assert!(
            !server.cloud(|c| c.has_access(PROJECT, BOB, role, "2031-03-02T01:00:00Z")),
            "{role}"
        );
    }
    at(IN_WINDOW).args(["plan", "--detailed-exitcode"]).run().expect_code(0);

    // The window ends: exactly what the grant added goes, confirmed by reading the policy.
    let plan = at(AFTER_WINDOW).args(["plan"]).run().expect_code(0);
    assert!(plan.stdout.contains("IAM checks bindings on every request"), "{}", plan.stdout);
    let reverted = at(AFTER_WINDOW).args(["apply", "--auto-approve"]).run().expect_code(0);
    assert!(reverted.stdout.contains("0 added, 0 changed, 2 destroyed"), "{}", reverted.stdout);
    assert!(
        reverted.stdout.contains(
            "Activation grant_chg_2031 is reverted (confirmed by reading the live objects)"
        ),
        "{}",
        reverted.stdout
    );
    assert_eq!(activation_status(dir.path(), "grant_chg_2031"), "reverted");
    assert!(holds(&server, PROJECT, BOB).is_empty());
    assert_eq!(server.cloud(|c| c.bindings(PROJECT)), baseline, "nothing else was touched");
    assert_eq!(server.cloud(|c| c.audit_of(PROJECT)), audit);

    // Converged: planning and applying again changes nothing and writes nothing.
    let before = writes(&server);
    at(AFTER_WINDOW).args(["plan", "--detailed-exitcode"]).run().expect_code(0);
    let again = at(AFTER_WINDOW).args(["apply", "--auto-approve"]).run().expect_code(0);
    assert!(again.stdout.contains("0 added, 0 changed, 0 destroyed"), "{}", again.stdout);
    assert_eq!(writes(&server), before);
    assert_eq!(server.cloud(|c| c.blind_writes), 0);
}

/// The demo keys and TOTP secrets of the quickstart's cast (the same people), into `dir`.
fn demo_secrets(dir: &Path) -> std::path::PathBuf {
    let quickstart_keys = root().join("examples/quickstart/keys");
    for person in ["alice", "carol", "dave"] {
        let key = format!("{person}.key");
        fs_err::copy(quickstart_keys.join(&key), dir.join("keys").join(&key))
            .expect("copy a demo key");
    }
    quickstart_keys.join("totp-secrets.demo.json")
}

/// `request.json` approved by carol and dave at `at` and applied in an emergency with alice's
/// TOTP code.
fn approve_and_apply(dir: &Path, server: &ContractServer, at: &str) {
    let secrets = demo_secrets(dir);
    let run =
        || gcp(dir, server).env("BREAKGLASS_TEST_NOW", at).env("BREAKGLASS_TOTP_SECRETS", &secrets);
    let token = |person: &str| {
        run()
            .args([
                "approve",
                "request.json",
                "--as",
                person,
                "--key",
                &format!("keys/{person}.key"),
                "--yes",
            ])
            .run()
            .expect_code(0)
            .stdout
            .trim()
            .to_owned()
    };
    let (carol, dave) = (token("carol"), token("dave"));
    let code = breakglass::engine::emergency::TotpSecrets::load(&secrets)
        .unwrap()
        .code("alice", at.parse().unwrap())
        .unwrap();
    let applied = run()
        .args([
            "apply",
            "--emergency",
            "request.json",
            "--approval",
            &carol,
            "--approval",
            &dave,
            "--totp",
            &code,
        ])
        .run()
        .expect_code(0);
    assert!(applied.stdout.contains("approved by carol, dave"), "{}", applied.stdout);
}

/// Runs an emergency request of `role` by alice at `at` for an hour, approved and applied;
/// returns the activation id.
fn emergency(dir: &Path, server: &ContractServer, role: &str, at: &str) -> String {
    demo_secrets(dir);
    gcp(dir, server)
        .env("BREAKGLASS_TEST_NOW", at)
        .args([
            "request",
            role,
            "--duration",
            "1h",
            "--justification",
            "INC-77: payments database failover",
        ])
        .args(["--as", "alice", "--key", "keys/alice.key", "--out", "request.json"])
        .run()
        .expect_code(0);
    approve_and_apply(dir, server, at);
    let state: Value = crate::util::state(dir);
    let ids: Vec<String> = state["activations"]
        .as_object()
        .expect("activations")
        .iter()
        .filter(|(_, a)| a["status"] == "active" && a["requester"] == "alice")
        .map(|(id, _)| id.clone())
        .collect();
    assert_eq!(ids.len(), 1, "{state}");
    ids[0].clone()
}

#[test]
fn an_emergency_grant_is_approved_applied_extended_and_reverted_even_when_reads_lag() {
    const T: &str = "2031-05-01T10:00:00Z";
    let server = ContractServer::start(example_cloud());
    let dir = example_copy("gcp");
    gcp(dir.path(), &server)
        .env("BREAKGLASS_TEST_NOW", T)
        .args(["apply", "--auto-approve"])
        .run()
        .expect_code(0);
    let baseline = server.cloud(|cloud| cloud.bindings(PROJECT));

    let activation = emergency(dir.path(), &server, "prod_db_admin", T);
    let condition =
        condition_of(&server, PROJECT, "roles/cloudsql.admin", ALICE).expect("a condition");
    assert_eq!(condition["title"], activation.as_str());
    assert_eq!(
        condition["expression"], "request.time < timestamp(\"2031-05-01T11:00:00Z\")",
        "Google itself ends the grant at the activation's end"
    );

    // Extended by half an hour, approved like the request: the condition on Google's side is
    // rewritten, not doubled.
    const LATER: &str = "2031-05-01T10:30:00Z";
    gcp(dir.path(), &server)
        .env("BREAKGLASS_TEST_NOW", LATER)
        .args([
            "extend",
            &activation,
            "--duration",
            "30m",
            "--justification",
            "INC-77: failover still running",
        ])
        .args(["--as", "alice", "--key", "keys/alice.key", "--out", "request.json"])
        .run()
        .expect_code(0);
    approve_and_apply(dir.path(), &server, LATER);
    for role in ["roles/cloudsql.admin", "roles/logging.viewer"] {
        let conditions: Vec<Value> = server.cloud(|cloud| {
            cloud
                .bindings(PROJECT)
                .into_iter()
                .filter(|b| b.role == role && b.members.contains(&ALICE.to_owned()))
                .filter_map(|b| b.condition)
                .collect()
        });
        assert_eq!(conditions.len(), 1, "{role}: {conditions:?}");
        assert_eq!(
            conditions[0]["expression"], "request.time < timestamp(\"2031-05-01T11:30:00Z\")",
            "{role}"
        );
        assert!(server.cloud(|c| c.has_access(PROJECT, ALICE, role, "2031-05-01T11:15:00Z")));
    }
    const END_PLUS_ONE: &str = "2031-05-01T11:30:01Z";

    // Google's reads now lag: the two reads after each write still answer the policy from
    // before it. The revert's verification reads again until it sees its own write.
    server.cloud(|cloud| cloud.lag_reads(PROJECT, 2));
    let reverted = gcp(dir.path(), &server)
        .env("BREAKGLASS_TEST_NOW", END_PLUS_ONE)
        .args(["reconcile"])
        .run()
        .expect_code(0);
    assert!(
        reverted.stdout.contains(&format!(
            "Activation {activation} is reverted (confirmed by reading the live objects)"
        )),
        "{}\n{}",
        reverted.stdout,
        reverted.stderr
    );
    assert_eq!(server.cloud(|c| c.bindings(PROJECT)), baseline);
    server.cloud(|cloud| cloud.lag_reads(PROJECT, 0));
    gcp(dir.path(), &server)
        .env("BREAKGLASS_TEST_NOW", END_PLUS_ONE)
        .args(["plan", "--detailed-exitcode"])
        .run()
        .expect_code(0);
}

#[test]
fn a_revert_google_has_not_caught_up_with_stays_unconfirmed_until_it_has() {
    const T: &str = "2031-06-01T10:00:00Z";
    const END_PLUS_ONE: &str = "2031-06-01T11:00:01Z";
    let server = ContractServer::start(example_cloud());
    let dir = example_copy("gcp");
    gcp(dir.path(), &server)
        .env("BREAKGLASS_TEST_NOW", T)
        .args(["apply", "--auto-approve"])
        .run()
        .expect_code(0);
    let activation = emergency(dir.path(), &server, "org_security_review", T);
    assert!(condition_of(&server, ORGANIZATION, "roles/iam.securityReviewer", ALICE).is_some());

    // Reads lag far longer than the provider waits: the revert is written but cannot be seen.
    server.cloud(|cloud| cloud.lag_reads(ORGANIZATION, 1000));
    let pending = gcp(dir.path(), &server)
        .env("BREAKGLASS_TEST_NOW", END_PLUS_ONE)
        .args(["reconcile"])
        .run()
        .expect_code(7);
    assert!(pending.stderr.contains("is NOT confirmed reverted"), "{}", pending.stderr);
    assert!(pending.stderr.contains("eventually consistent"), "{}", pending.stderr);
    assert_eq!(
        activation_status(dir.path(), &activation),
        "reverting",
        "not declared reverted on a stale read"
    );
    assert!(holds(&server, ORGANIZATION, ALICE).is_empty(), "the removal itself was written");

    // Google catches up: the next run confirms it.
    server.cloud(|cloud| cloud.lag_reads(ORGANIZATION, 0));
    let confirmed = gcp(dir.path(), &server)
        .env("BREAKGLASS_TEST_NOW", END_PLUS_ONE)
        .args(["reconcile"])
        .run()
        .expect_code(0);
    assert!(
        confirmed.stdout.contains(&format!("Activation {activation} is reverted")),
        "{}",
        confirmed.stdout
    );
    assert_eq!(activation_status(dir.path(), &activation), "reverted");
}

#[test]
fn a_hand_made_owner_or_editor_binding_is_reported_as_drift() {
    let server = ContractServer::start(example_cloud());
    let dir = example_copy("gcp");
    let run = || gcp(dir.path(), &server);
    run().args(["apply", "--auto-approve"]).run().expect_code(0);
    server.cloud(|cloud| {
        cloud.change(PROJECT, |bindings| {
            bindings.push(Binding::new("roles/editor", &["user:mallory@example.com"]));
            bindings.push(Binding::new(
                "roles/owner",
                &["serviceAccount:ci-deployer@payments-prod.iam.gserviceaccount.com"],
            ));
            bindings.push(Binding::new("roles/cloudsql.viewer", &["user:erin@example.com"]));
        })
    });
    let plan = run().args(["plan", "--detailed-exitcode"]).run().expect_code(4);
    for drift in [
        "gcp_project_iam_member \"projects/payments-prod roles/editor user:mallory@example.com\" grants PRIVILEGED access",
        "gcp_project_iam_member \"projects/payments-prod roles/owner serviceAccount:ci-deployer@payments-prod.iam.gserviceaccount.com\" grants PRIVILEGED access",
    ] {
        assert!(plan.stdout.contains(drift), "{drift}\n{}", plan.stdout);
    }
    assert!(
        !plan.stdout.contains("erin"),
        "a binding of a role that is not privileged is not drift: {}",
        plan.stdout
    );
    assert!(
        !plan.stdout.contains("platform-admins"),
        "the declared owners are not drift: {}",
        plan.stdout
    );
    let before = writes(&server);
    run().args(["apply", "--auto-approve"]).run().expect_code(0);
    assert_eq!(writes(&server), before, "drift = \"report\" reports and changes nothing");
}
