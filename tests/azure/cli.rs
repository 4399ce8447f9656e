//! `examples/azure` end to end through the CLI against the contract server: validate, plan,
//! apply the baseline, an Owner grant requested, approved and applied in an emergency with the
//! end set on Azure's side, reverted at its end (confirmed by reading) or ended by Azure itself,
//! and planned clean again; drift that widens access removed; a wrong secret that changes
//! nothing.
//!
//! The server's clock stands for Azure's: it is set beside the test clock (`BREAKGLASS_TEST_NOW`)
//! so that Azure's own expiry happens when the test says. Reads lag one read behind writes and
//! schedule requests finish one call later, as Azure's do, so every step that waits is exercised.

use std::path::Path;

use super::contract::{
    CLIENT_ID, CLIENT_SECRET, ContractServer, SUBSCRIPTION, TENANT_ID, Tenant, roles,
    subscription_scope,
};
use crate::util::{Outcome, Run, example_copy, root};

const ALICE: &str = "3f2b8c1e-5d4a-4e6b-9c7d-0a1b2c3d4e5f";
const BOB: &str = "7d1e9a2b-4c6f-4b8a-9e0d-2f3a4b5c6d7e";
const ONCALL: &str = "c4a8e2f6-1b3d-4e5f-8a9b-0c1d2e3f4a5b";
const SECURITY: &str = "e9d8c7b6-a5f4-4e3d-8c2b-1a0f9e8d7c6b";

const BEFORE: &str = "2026-12-01T09:00:00Z";
const INCIDENT: &str = "2026-12-01T10:00:00Z";
const DURING: &str = "2026-12-01T10:30:00Z";
/// The grant's end: one hour after the incident began.
const END: &str = "2026-12-01T11:00:00Z";
const AFTER: &str = "2026-12-01T11:05:00Z";

/// The directory the example expects, Azure's clock at `BEFORE`.
fn tenant() -> Tenant {
    let mut tenant = Tenant::new(BEFORE.parse().unwrap())
        .principal(ALICE, "User")
        .principal(BOB, "User")
        .principal(ONCALL, "Group")
        .principal(SECURITY, "Group");
    tenant.consistency_lag = 1;
    tenant.provisioning_ticks = 1;
    tenant
}

/// A copy of the example with the demo people's private keys beside their public ones.
fn example() -> tempfile::TempDir {
    let dir = example_copy("azure");
    crate::util::copy_dir(&root().join("examples/quickstart/keys"), &dir.path().join("keys"));
    dir
}

/// `breakglass` in `dir` at `at`, signed in to the server as the example's service principal.
fn azure(dir: &Path, server: &ContractServer, at: &str) -> Run {
    Run::new(dir)
        .env("BREAKGLASS_TEST_NOW", at)
        .env("AZURE_TENANT_ID", TENANT_ID)
        .env("AZURE_CLIENT_ID", CLIENT_ID)
        .env("AZURE_CLIENT_SECRET", CLIENT_SECRET)
        .env("AZURE_AUTHORITY_HOST", server.url())
        .env("AZURE_RESOURCE_MANAGER_ENDPOINT", server.url())
}

fn set_clock(server: &ContractServer, at: &str) {
    server.tenant(|t| t.now = at.parse().unwrap());
}

/// Validates, plans and applies the baseline; plans clean.
fn baseline(dir: &Path, server: &ContractServer) {
    azure(dir, server, BEFORE).args(["validate"]).run().expect_code(0);
    let plan =
        azure(dir, server, BEFORE).args(["plan", "--detailed-exitcode"]).run().expect_code(2);
    assert!(plan.stdout.contains("Plan: 2 to add, 0 to change, 0 to destroy."), "{}", plan.stdout);
    let applied = azure(dir, server, BEFORE).args(["apply", "--auto-approve"]).run().expect_code(0);
    assert!(applied.stdout.contains("Apply complete! Resources: 2 added"), "{}", applied.stdout);
    azure(dir, server, BEFORE).args(["plan", "--detailed-exitcode"]).run().expect_code(0);
    let readers = server.tenant(|t| {
        [
            t.assignment(&subscription_scope(), roles::READER, ONCALL).is_some(),
            t.assignment(
                &format!("{}/resourceGroups/rg-prod", subscription_scope()),
                roles::READER,
                SECURITY,
            )
            .is_some(),
        ]
    });
    assert_eq!(readers, [true, true]);
}

/// Alice asks for Owner for an hour at `INCIDENT`, carol approves, the executor applies.
fn emergency(dir: &Path, server: &ContractServer) -> Outcome {
    set_clock(server, INCIDENT);
    azure(dir, server, INCIDENT)
        .args(["request", "subscription_owner", "--duration", "1h"])
        .args(["--justification", "INC-4711: the storage account is locked"])
        .args(["--as", "alice", "--key", "keys/alice.key", "--out", "req.json"])
        .run()
        .expect_code(0);
    let token = azure(dir, server, INCIDENT)
        .args(["approve", "req.json", "--as", "carol", "--key", "keys/carol.key", "--yes"])
        .run()
        .expect_code(0)
        .stdout
        .trim()
        .to_owned();
    azure(dir, server, INCIDENT)
        .args(["apply", "--emergency", "req.json", "--approval", &token])
        .run()
        .expect_code(0)
}

fn activation_statuses(dir: &Path) -> Vec<String> {
    let state: serde_json::Value = crate::util::state(dir);
    state["activations"]
        .as_object()
        .expect("activations")
        .values()
        .map(|a| a["status"].as_str().unwrap_or_default().to_owned())
        .collect()
}

fn writes(server: &ContractServer) -> usize {
    server.tenant(|t| {
        t.received.iter().filter(|r| r.method != "GET" && !r.path.ends_with("/token")).count()
    })
}

#[test]
fn the_example_grants_owner_in_an_emergency_with_azures_own_end_and_reverts_it_at_the_end() {
    let server = ContractServer::start(tenant());
    let dir = example();
    let path = dir.path();
    baseline(path, &server);

    let applied = emergency(path, &server);
    assert!(applied.stdout.contains("is active"), "{}", applied.stdout);
    // Azure holds the end: a PIM schedule made by an AdminAssign request with that expiration.
    let (schedules, request) = server.tenant(|t| {
        let schedules: Vec<_> = t
            .schedules_of(&subscription_scope(), roles::OWNER, ALICE)
            .iter()
            .map(|s| (s.end.map(|e| e.to_string()), s.assignment.is_some()))
            .collect();
        (schedules, t.requests[0].body["properties"].clone())
    });
    assert_eq!(schedules, [(Some(END.to_owned()), true)]);
    assert_eq!(request["requestType"], "AdminAssign");
    assert_eq!(request["scheduleInfo"]["expiration"]["type"], "AfterDateTime");
    assert_eq!(request["scheduleInfo"]["expiration"]["endDateTime"], END);
    assert_eq!(request["scheduleInfo"]["startDateTime"], INCIDENT);
    assert!(
        request["justification"]
            .as_str()
            .unwrap()
            .contains("for alice, until 2026-12-01T11:00:00Z"),
        "{request}"
    );
    assert_eq!(activation_statuses(path), ["active"]);

    // During the grant there is nothing to do: the grant is what Azure has.
    set_clock(&server, DURING);
    let plan =
        azure(path, &server, DURING).args(["plan", "--detailed-exitcode"]).run().expect_code(0);
    assert!(plan.stdout.contains("No changes."), "{}", plan.stdout);

    // The end: breakglass's reconcile gets there first (Azure's clock a second behind), takes
    // the grant back with an AdminRemove request and confirms it by reading.
    set_clock(&server, "2026-12-01T10:59:59Z");
    let reverted = azure(path, &server, END).args(["reconcile"]).run().expect_code(0);
    let output = format!("{}{}", reverted.stdout, reverted.stderr);
    assert!(output.contains("reverted"), "{output}");
    assert_eq!(activation_statuses(path), ["reverted"]);
    let requests = server.tenant(|t| {
        t.requests.iter().map(|r| (r.request_type.clone(), r.status.clone())).collect::<Vec<_>>()
    });
    assert_eq!(
        requests,
        [
            ("AdminAssign".to_owned(), "Provisioned".to_owned()),
            ("AdminRemove".to_owned(), "Revoked".to_owned())
        ]
    );
    assert!(server.tenant(|t| t.assignment(&subscription_scope(), roles::OWNER, ALICE).is_none()));

    // Converged: plan is clean, and reconcile again writes nothing.
    set_clock(&server, AFTER);
    azure(path, &server, AFTER).args(["plan", "--detailed-exitcode"]).run().expect_code(0);
    let before = writes(&server);
    azure(path, &server, AFTER).args(["reconcile"]).run().expect_code(0);
    assert_eq!(writes(&server), before, "reverting twice is a no-op");
    let kept = crate::util::state_text(path) + &crate::util::audit_text(path);
    assert!(!crate::util::audit_lines(path).is_empty(), "the log was read");
    assert!(!kept.contains(CLIENT_SECRET), "the client secret is kept nowhere");
}

#[test]
fn when_nothing_runs_azure_ends_the_grant_itself_and_reconcile_confirms_it() {
    let server = ContractServer::start(tenant());
    let dir = example();
    let path = dir.path();
    baseline(path, &server);
    emergency(path, &server);
    let before = writes(&server);

    // Breakglass is down past the end; Azure's own schedule ends the access.
    set_clock(&server, AFTER);
    assert!(server.tenant(|t| {
        let ended = t.now;
        t.schedules_of(&subscription_scope(), roles::OWNER, ALICE)
            .iter()
            .all(|s| s.end.is_some_and(|e| e < ended))
    }));
    azure(path, &server, AFTER).args(["reconcile"]).run().expect_code(0);
    assert_eq!(activation_statuses(path), ["reverted"]);
    assert_eq!(writes(&server), before, "nothing left to take back: no AdminRemove");
    assert!(server.tenant(|t| t.assignment(&subscription_scope(), roles::OWNER, ALICE).is_none()));
    azure(path, &server, AFTER).args(["plan", "--detailed-exitcode"]).run().expect_code(0);
}

#[test]
fn a_hand_made_owner_assignment_is_drift_that_widens_access_and_is_removed() {
    let server = ContractServer::start(tenant());
    let dir = example();
    let path = dir.path();
    baseline(path, &server);
    server.tenant(|t| t.assign(&subscription_scope(), roles::OWNER, BOB));

    let plan = azure(path, &server, BEFORE).args(["plan"]).run().expect_code(0);
    let id = format!("/subscriptions/{SUBSCRIPTION}|{}|{BOB}", roles::OWNER);
    assert!(
        plan.stdout.contains(&format!("azure_role_assignment \"{id}\" grants PRIVILEGED access")),
        "{}",
        plan.stdout
    );
    let applied =
        azure(path, &server, BEFORE).args(["apply", "--auto-approve"]).run().expect_code(0);
    assert!(applied.stdout.contains("1 destroyed"), "{}", applied.stdout);
    assert!(server.tenant(|t| t.assignment(&subscription_scope(), roles::OWNER, BOB).is_none()));
    let deletes = server.tenant(|t| t.received_matching("DELETE", "").len());
    assert_eq!(deletes, 1, "a plain assignment is deleted, not revoked through PIM");
    azure(path, &server, BEFORE).args(["plan", "--detailed-exitcode"]).run().expect_code(0);
}

#[test]
fn a_wrong_secret_fails_clearly_and_changes_nothing() {
    let server = ContractServer::start(tenant());
    let dir = example();
    for command in [&["plan"][..], &["apply", "--auto-approve"][..]] {
        let outcome = azure(dir.path(), &server, BEFORE)
            .env("AZURE_CLIENT_SECRET", "not~the~right~one~5678")
            .args(command)
            .run();
        assert_ne!(outcome.code, 0, "{command:?}:\n{}", outcome.stdout);
        let all = format!("{}{}", outcome.stdout, outcome.stderr);
        assert!(all.contains("AADSTS7000215"), "{all}");
        assert!(all.contains("AZURE_CLIENT_SECRET"), "{all}");
        assert!(!all.contains("5678") && !all.contains("not~the~right"), "{all}");
    }
    assert!(
        server.tenant(|t| t.received.iter().all(|r| r.path.ends_with("/token"))),
        "no ARM call"
    );
    assert!(server.tenant(|t| t.assignments.is_empty()));

    // No secret at all: the variable to set, before any call.
    let outcome =
        azure(dir.path(), &server, BEFORE).env("AZURE_CLIENT_SECRET", "").args(["plan"]).run();
    assert_ne!(outcome.code, 0);
    assert!(outcome.stderr.contains("AZURE_CLIENT_SECRET"), "{}", outcome.stderr);
}
