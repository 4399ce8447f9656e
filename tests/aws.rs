//! `examples/aws` end to end against moto, a real AWS API emulator: plan, apply, a planned grant
//! taken at a time inside its window and reverted at its end (checked in IAM: the attachment,
//! the expiry guard, the session revocation), drift that widens access, SigV4 checking,
//! throttling, and an apply that fails half way and converges on the next run.
//!
//! Each test starts its own moto (scripts/install/moto installs it) on a free port.

use breakglass_provider_aws::client::AwsClient;
use breakglass_provider_aws::iam;
use breakglass_provider_aws::testing::{Fault, FaultProxy, Moto, client, iam_call};
use serde_json::Value;
use std::path::Path;

use crate::util::{Run, example_copy};

const ADMIN: &str = "arn:aws:iam::aws:policy/AdministratorAccess";
const ROLE: &str = "breakglass-admin";
const GUARDRAILS: &str = "arn:aws:iam::123456789012:policy/breakglass/breakglass-guardrails";
const GROUP: &str = "breakglass-responders";
/// Inside the example's grant `chg_2031` (2031-03-01 22:00 to 2031-03-02 01:00 UTC).
const IN_WINDOW: &str = "2031-03-01T23:00:00Z";
const AFTER_WINDOW: &str = "2031-03-02T01:00:01Z";

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Runtime::new().expect("a runtime")
}

/// `breakglass` in `dir` against `endpoint`, with credentials from the environment only.
fn aws(dir: &Path, endpoint: &str) -> Run {
    Run::new(dir)
        .env("AWS_ENDPOINT_URL", endpoint)
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("AWS_REGION", "us-east-1")
        .env("AWS_PROFILE", "")
        .env("AWS_SHARED_CREDENTIALS_FILE", dir.join("no-credentials"))
        .env("AWS_CONFIG_FILE", dir.join("no-config"))
}

/// What the example expects the identity team to have made: users and the responders' group.
fn identities(client: &AwsClient) {
    runtime().block_on(async {
        for user in ["alice", "bob"] {
            iam_call(client, "CreateUser", &[("UserName", user)]).await;
        }
        iam_call(client, "CreateGroup", &[("GroupName", GROUP)]).await;
    });
}

fn role_policy(client: &AwsClient, name: &str) -> Option<Value> {
    runtime()
        .block_on(iam::get_role_policy(client, ROLE, name))
        .expect("GetRolePolicy")
        .map(|text| serde_json::from_str(&text).expect("a JSON policy"))
}

fn attached(client: &AwsClient, role: &str) -> Vec<String> {
    runtime()
        .block_on(iam::attached_role_policies(client, role))
        .expect("ListAttachedRolePolicies")
        .unwrap_or_default()
        .into_iter()
        .map(|a| a.policy_arn)
        .collect()
}

fn groups_of(client: &AwsClient, user: &str) -> Vec<String> {
    runtime()
        .block_on(iam::groups_for_user(client, user))
        .expect("ListGroupsForUser")
        .unwrap_or_default()
}

fn guard_name() -> String {
    breakglass_provider_aws::resources::attachment::guard_name(ADMIN)
}

fn activation_status(dir: &Path, id: &str) -> String {
    let state: Value = crate::util::state(dir);
    state["activations"][id]["status"].as_str().unwrap_or_default().to_owned()
}

#[test]
fn the_example_plans_applies_takes_its_grant_and_reverts_it_against_moto() {
    let moto = Moto::start();
    let iam = client(&moto.url);
    identities(&iam);
    let dir = example_copy("aws");
    let run = || aws(dir.path(), &moto.url);

    let plan = run().args(["plan", "--detailed-exitcode"]).run().expect_code(2);
    assert!(plan.stdout.contains("Plan: 5 to add, 0 to change, 0 to destroy."), "{}", plan.stdout);
    assert!(plan.stdout.contains("require_mfa          = true"), "{}", plan.stdout);
    let applied = run().args(["apply", "--auto-approve"]).run().expect_code(0);
    assert!(applied.stdout.contains("Apply complete! Resources: 5 added"), "{}", applied.stdout);
    run().args(["plan", "--detailed-exitcode"]).run().expect_code(0);
    let again = run().args(["apply", "--auto-approve"]).run().expect_code(0);
    assert!(again.stdout.contains("0 added, 0 changed, 0 destroyed"), "{}", again.stdout);

    // The authentication rule reached the trust policy.
    let role = runtime().block_on(iam::get_role(&iam, ROLE)).unwrap().expect("the role");
    let trust: Value = serde_json::from_str(&breakglass_provider_aws::xml::policy_document(
        &role.assume_role_policy_document,
    ))
    .unwrap();
    let condition = &trust["Statement"][0]["Condition"];
    assert_eq!(condition["Bool"]["aws:MultiFactorAuthPresent"], "true", "{trust}");
    assert_eq!(condition["NumericLessThan"]["aws:MultiFactorAuthAge"], "3600", "{trust}");
    assert_eq!(attached(&iam, ROLE), [GUARDRAILS], "only guardrails outside a grant");

    // The maintenance window: bob may assume the role, and the role is administrator until
    // the window's end, which IAM itself enforces.
    let plan = run().env("BREAKGLASS_TEST_NOW", IN_WINDOW).args(["plan"]).run().expect_code(0);
    assert!(plan.stdout.contains("Plan: 2 to add, 0 to change, 0 to destroy."), "{}", plan.stdout);
    assert!(
        plan.stdout.contains("the platform itself ends this access at 2031-03-02T01:00:00Z"),
        "{}",
        plan.stdout
    );
    let granted = run()
        .env("BREAKGLASS_TEST_NOW", IN_WINDOW)
        .args(["apply", "--auto-approve"])
        .run()
        .expect_code(0);
    assert!(granted.stdout.contains("2 added, 0 changed, 0 destroyed"), "{}", granted.stdout);
    assert_eq!(activation_status(dir.path(), "grant_chg_2031"), "active");
    let mut now_attached = attached(&iam, ROLE);
    now_attached.sort();
    assert_eq!(now_attached, [GUARDRAILS, ADMIN]);
    assert_eq!(groups_of(&iam, "bob"), [GROUP]);
    let guard = role_policy(&iam, &guard_name()).expect("the expiry guard");
    assert_eq!(guard["Statement"][0]["Effect"], "Deny");
    assert_eq!(
        guard["Statement"][0]["Condition"]["DateGreaterThanEquals"]["aws:CurrentTime"],
        "2031-03-02T01:00:00Z"
    );
    run()
        .env("BREAKGLASS_TEST_NOW", IN_WINDOW)
        .args(["plan", "--detailed-exitcode"])
        .run()
        .expect_code(0);

    // The window ends: everything the grant gave is taken back, and sessions opened during it
    // are revoked.
    let reverted = run()
        .env("BREAKGLASS_TEST_NOW", AFTER_WINDOW)
        .args(["apply", "--auto-approve"])
        .run()
        .expect_code(0);
    assert!(reverted.stdout.contains("0 added, 0 changed, 2 destroyed"), "{}", reverted.stdout);
    assert!(
        reverted.stdout.contains("revoked every session of role breakglass-admin"),
        "{}",
        reverted.stdout
    );
    assert_eq!(activation_status(dir.path(), "grant_chg_2031"), "reverted");
    assert_eq!(attached(&iam, ROLE), [GUARDRAILS]);
    assert!(groups_of(&iam, "bob").is_empty());
    assert!(role_policy(&iam, &guard_name()).is_none(), "the guard goes with the attachment");
    let revocation =
        role_policy(&iam, "breakglass-revoke-sessions").expect("the revocation policy");
    assert_eq!(revocation["Statement"][0]["Effect"], "Deny");
    assert!(
        revocation["Statement"][0]["Condition"]["DateLessThan"]["aws:TokenIssueTime"].is_string(),
        "{revocation}"
    );
    let user_revocation = runtime()
        .block_on(iam::get_user_policy(&iam, "bob", "breakglass-revoke-sessions"))
        .unwrap();
    assert!(user_revocation.is_some(), "bob's own temporary sessions are revoked too");

    let later = run()
        .env("BREAKGLASS_TEST_NOW", AFTER_WINDOW)
        .args(["apply", "--auto-approve"])
        .run()
        .expect_code(0);
    assert!(
        later.stdout.contains("0 added, 0 changed, 0 destroyed"),
        "reverting twice is a no-op: {}",
        later.stdout
    );
}

#[test]
fn a_hand_attached_administrator_policy_is_drift_and_is_removed() {
    let moto = Moto::start();
    let iam = client(&moto.url);
    let dir = example_copy("aws");
    let run = || aws(dir.path(), &moto.url);
    run().args(["apply", "--auto-approve"]).run().expect_code(0);
    let trust = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::123456789012:root"},"Action":"sts:AssumeRole"}]}"#;
    runtime().block_on(async {
        iam_call(&iam, "AttachRolePolicy", &[("RoleName", ROLE), ("PolicyArn", ADMIN)]).await;
        iam_call(
            &iam,
            "CreateRole",
            &[("RoleName", "intruder"), ("AssumeRolePolicyDocument", trust)],
        )
        .await;
        iam_call(&iam, "AttachRolePolicy", &[("RoleName", "intruder"), ("PolicyArn", ADMIN)]).await;
    });

    let plan = run().args(["plan"]).run().expect_code(0);
    let drift =
        format!("aws_iam_role_policy_attachment \"{ROLE}/{ADMIN}\" grants PRIVILEGED access");
    assert!(plan.stdout.contains(&drift), "{}", plan.stdout);
    assert!(
        plan.stdout.contains(&format!(
            "aws_iam_role_policy_attachment \"intruder/{ADMIN}\" grants PRIVILEGED"
        )),
        "{}",
        plan.stdout
    );
    assert!(
        plan.stdout.contains("privileged access that nothing in the policy grants"),
        "{}",
        plan.stdout
    );
    let applied = run().args(["apply", "--auto-approve"]).run().expect_code(0);
    assert!(applied.stdout.contains("2 destroyed"), "{}", applied.stdout);
    run().args(["plan", "--detailed-exitcode"]).run().expect_code(0);
    assert_eq!(attached(&iam, ROLE), [GUARDRAILS], "drift = \"revert\" removed it");
    assert!(attached(&iam, "intruder").is_empty(), "on an undeclared role too");
}

#[test]
fn an_apply_that_fails_half_way_converges_on_the_next_run() {
    let moto = Moto::start();
    let proxy = FaultProxy::start(
        moto.port,
        vec![Fault::error(
            "PolicyName=breakglass-guardrails",
            1,
            "LimitExceeded",
            "Cannot exceed quota for PoliciesPerAccount",
        )],
    );
    let dir = example_copy("aws");
    let run = || aws(dir.path(), &proxy.url);
    let failed = run().args(["apply", "--auto-approve"]).run();
    assert_ne!(failed.code, 0, "{}\n{}", failed.stdout, failed.stderr);
    let output = format!("{}{}", failed.stdout, failed.stderr);
    assert!(
        output.contains("LimitExceeded: Cannot exceed quota for PoliciesPerAccount"),
        "{output}"
    );
    assert_eq!(proxy.injected(), 1);
    let iam = client(&moto.url);
    assert!(
        runtime().block_on(iam::get_role(&iam, ROLE)).unwrap().is_some(),
        "what did not fail was applied"
    );

    // The attachment of the policy that failed was not attempted.
    assert!(output.contains("aws_iam_role_policy_attachment.guardrails"), "{output}");
    assert!(attached(&iam, ROLE).is_empty(), "{output}\n{:?}", proxy.injected_into());

    let plan = run().args(["plan"]).run().expect_code(0);
    assert!(plan.stdout.contains("Plan: 2 to add, 0 to change, 0 to destroy."), "{}", plan.stdout);
    let converged = run().args(["apply", "--auto-approve"]).run().expect_code(0);
    assert!(converged.stdout.contains("2 added, 0 changed, 0 destroyed"), "{}", converged.stdout);
    assert_eq!(attached(&iam, ROLE), [GUARDRAILS]);
    run().args(["plan", "--detailed-exitcode"]).run().expect_code(0);
}

#[test]
fn throttling_is_retried_through_the_cli() {
    let moto = Moto::start();
    let proxy = FaultProxy::start(
        moto.port,
        vec![Fault::throttling("Action=GetAccountAuthorizationDetails", 2)],
    );
    let dir = example_copy("aws");
    let plan = aws(dir.path(), &proxy.url).args(["plan"]).run().expect_code(0);
    assert!(plan.stdout.contains("Plan: 5 to add"), "{}", plan.stdout);
    assert_eq!(proxy.injected(), 2, "both throttled answers were retried");
}

#[test]
fn a_wrong_secret_is_refused_naming_where_it_came_from_and_nothing_changes() {
    // Three unauthenticated calls make a user with a key; moto checks signatures after that.
    let moto = Moto::start_with(&[("INITIAL_NO_AUTH_ACTION_COUNT", "3")]);
    let iam = client(&moto.url);
    #[derive(serde::Deserialize, Default)]
    #[serde(rename_all = "PascalCase")]
    struct Created {
        access_key: Key,
    }
    #[derive(serde::Deserialize, Default)]
    #[serde(rename_all = "PascalCase")]
    struct Key {
        access_key_id: String,
        secret_access_key: String,
    }
    let key: Created = runtime().block_on(async {
        iam_call(&iam, "CreateUser", &[("UserName", "executor")]).await;
        let key = iam
            .query(
                breakglass_provider_aws::client::Service::Iam,
                "CreateAccessKey",
                &[("UserName", "executor".to_owned())],
            )
            .await
            .unwrap();
        iam_call(&iam, "AttachUserPolicy", &[("UserName", "executor"), ("PolicyArn", ADMIN)]).await;
        key
    });
    let dir = example_copy("aws");
    let wrong = "wrong-secret-0123456789";
    let outcome = aws(dir.path(), &moto.url)
        .env("AWS_ACCESS_KEY_ID", &key.access_key.access_key_id)
        .env("AWS_SECRET_ACCESS_KEY", wrong)
        .args(["apply", "--auto-approve"])
        .run()
        .expect_code(1);
    assert!(outcome.stderr.contains("SignatureDoesNotMatch"), "{}", outcome.stderr);
    assert!(
        outcome
            .stderr
            .contains("the environment variables AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY"),
        "{}",
        outcome.stderr
    );
    assert!(!outcome.stderr.contains(wrong) && !outcome.stdout.contains(wrong));
    assert!(!crate::util::state_text(dir.path()).contains("breakglass-admin"));

    // The same key from a profile: the message names the profile and its file.
    let credentials = dir.path().join("credentials");
    fs_err::write(
        &credentials,
        format!(
            "[ops]\naws_access_key_id = {}\naws_secret_access_key = {wrong}\n",
            key.access_key.access_key_id
        ),
    )
    .unwrap();
    let outcome = Run::new(dir.path())
        .env("AWS_ENDPOINT_URL", &moto.url)
        .env("AWS_ACCESS_KEY_ID", "")
        .env("AWS_SECRET_ACCESS_KEY", "")
        .env("AWS_PROFILE", "ops")
        .env("AWS_SHARED_CREDENTIALS_FILE", &credentials)
        .env("AWS_CONFIG_FILE", dir.path().join("no-config"))
        .args(["plan"])
        .run()
        .expect_code(1);
    assert!(
        outcome.stderr.contains(&format!("profile \"ops\" in {}", credentials.display())),
        "{}",
        outcome.stderr
    );

    // The right secret works.
    aws(dir.path(), &moto.url)
        .env("AWS_ACCESS_KEY_ID", &key.access_key.access_key_id)
        .env("AWS_SECRET_ACCESS_KEY", &key.access_key.secret_access_key)
        .args(["plan", "--detailed-exitcode"])
        .run()
        .expect_code(2);
}

#[test]
fn an_identity_center_grant_assigns_the_permission_set_and_its_end_removes_it() {
    let moto = Moto::start();
    let iam = client(&moto.url);
    let dir = example_copy("aws");
    // Alice's grant of the example's role (a USER assignment), and one of a role that assigns
    // a group, which AWS cannot end by itself.
    fs_err::write(
        dir.path().join("incident.hcl"),
        r#"grant "inc_42" {
  role          = role.incident_responder
  to            = person.alice
  start         = "2031-06-01T08:00:00Z"
  end           = "2031-06-01T12:00:00Z"
  justification = "INC-42: investigate elevated error rates"
}

role "sre_group" {
  description  = "The SRE group gets IncidentResponder in production."
  risk         = "low"
  requesters   = [team.oncall]
  approvers    = approvers.leads
  max_duration = "8h"

  resource "aws_ssoadmin_account_assignment" "sre" {
    permission_set_name = aws_ssoadmin_permission_set.incident_responder.name
    principal_type      = "GROUP"
    principal_name      = "sre"
    target_id           = "123456789012"
  }
}

grant "inc_43" {
  role          = role.sre_group
  to            = person.alice
  start         = "2031-06-01T08:00:00Z"
  end           = "2031-06-01T12:00:00Z"
  justification = "INC-43: the whole SRE group on the incident"
}
"#,
    )
    .unwrap();
    // The identity team's Identity Center user for alice, and the SRE group.
    let (instance, store) = runtime().block_on(async {
        let instances = breakglass_provider_aws::sso::instances(&iam).await.expect("ListInstances");
        let instance = instances.into_iter().next().expect("moto's instance");
        let body = serde_json::json!({"IdentityStoreId": instance.identity_store_id,
            "UserName": "alice@example.com", "DisplayName": "Alice Martin",
            "Name": {"GivenName": "Alice", "FamilyName": "Martin"}});
        let _: Value = iam
            .json(breakglass_provider_aws::client::Service::IdentityStore, "CreateUser", &body)
            .await
            .expect("CreateUser");
        let body = serde_json::json!({"IdentityStoreId": instance.identity_store_id,
            "DisplayName": "sre"});
        let _: Value = iam
            .json(breakglass_provider_aws::client::Service::IdentityStore, "CreateGroup", &body)
            .await
            .expect("CreateGroup");
        (instance.instance_arn, instance.identity_store_id)
    });
    assert!(!store.is_empty());
    let run = || aws(dir.path(), &moto.url);
    run().args(["apply", "--auto-approve"]).run().expect_code(0);
    let set = || {
        runtime()
            .block_on(breakglass_provider_aws::sso::permission_set_arns(&iam, &instance))
            .unwrap()
            .remove(0)
    };
    let assignments = || {
        let set = set();
        runtime()
            .block_on(breakglass_provider_aws::sso::account_assignments(
                &iam,
                &instance,
                "123456789012",
                &set,
            ))
            .unwrap()
    };
    let inline_policy = || {
        let set = set();
        runtime()
            .block_on(breakglass_provider_aws::sso::inline_policy(&iam, &instance, &set))
            .unwrap()
    };
    assert!(assignments().is_empty());

    let granted = run()
        .env("BREAKGLASS_TEST_NOW", "2031-06-01T09:00:00Z")
        .args(["apply", "--auto-approve"])
        .run()
        .expect_code(0);
    assert!(granted.stdout.contains("2 added, 0 changed, 0 destroyed"), "{}", granted.stdout);
    let mut kinds: Vec<String> = assignments().into_iter().map(|a| a.principal_type).collect();
    kinds.sort();
    assert_eq!(kinds, ["GROUP", "USER"]);
    // Alice's access ends on AWS's side at the grant's end; the group's cannot, and gets no
    // statement (nor a perpetual diff).
    let document = inline_policy().expect("the permission set's inline policy");
    let statements = document["Statement"].as_array().unwrap();
    assert_eq!(statements.len(), 1, "{document}");
    assert_eq!(statements[0]["Effect"], "Deny");
    assert_eq!(
        statements[0]["Condition"]["DateGreaterThanEquals"]["aws:CurrentTime"],
        "2031-06-01T12:00:00Z"
    );
    assert_eq!(statements[0]["Condition"]["StringLike"]["aws:userid"], "*:alice@example.com");
    run()
        .env("BREAKGLASS_TEST_NOW", "2031-06-01T09:00:00Z")
        .args(["plan", "--detailed-exitcode"])
        .run()
        .expect_code(0);

    let reverted = run()
        .env("BREAKGLASS_TEST_NOW", "2031-06-01T12:00:00Z")
        .args(["apply", "--auto-approve"])
        .run()
        .expect_code(0);
    assert!(reverted.stdout.contains("0 added, 0 changed, 2 destroyed"), "{}", reverted.stdout);
    assert!(
        reverted.stdout.contains("stay valid until they expire"),
        "the audit notes say what AWS cannot do: {}",
        reverted.stdout
    );
    assert!(assignments().is_empty());
    assert_eq!(inline_policy(), None, "the statement goes with the assignment");
    assert_eq!(activation_status(dir.path(), "grant_inc_42"), "reverted");
    assert_eq!(activation_status(dir.path(), "grant_inc_43"), "reverted");
}

#[test]
fn an_emergency_grant_is_requested_approved_applied_and_reverted_in_iam() {
    const T: &str = "2031-05-01T10:00:00Z";
    const END_PLUS_ONE: &str = "2031-05-01T11:00:01Z";
    let moto = Moto::start();
    let iam = client(&moto.url);
    identities(&iam);
    let dir = example_copy("aws");
    // The demo private keys and TOTP secrets of the quickstart's cast (the same people).
    let quickstart_keys = crate::util::root().join("examples/quickstart/keys");
    for person in ["alice", "carol", "dave"] {
        fs_err::copy(
            quickstart_keys.join(format!("{person}.key")),
            dir.path().join(format!("keys/{person}.key")),
        )
        .unwrap();
    }
    let secrets = quickstart_keys.join("totp-secrets.demo.json");
    let at = |time: &str| {
        aws(dir.path(), &moto.url)
            .env("BREAKGLASS_TEST_NOW", time)
            .env("BREAKGLASS_TOTP_SECRETS", &secrets)
    };
    at(T).args(["apply", "--auto-approve"]).run().expect_code(0);
    at(T)
        .args([
            "request",
            "prod_admin",
            "--duration",
            "1h",
            "--justification",
            "INC-9: root cause in prod",
        ])
        .args(["--as", "alice", "--key", "keys/alice.key", "--out", "req.json"])
        .run()
        .expect_code(0);
    let token = |person: &str| {
        at(T)
            .args([
                "approve",
                "req.json",
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
        .code("alice", T.parse().unwrap())
        .unwrap();
    let applied = at(T)
        .args([
            "apply",
            "--emergency",
            "req.json",
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
    assert_eq!(groups_of(&iam, "alice"), [GROUP]);
    let mut now_attached = attached(&iam, ROLE);
    now_attached.sort();
    assert_eq!(now_attached, [GUARDRAILS, ADMIN]);
    let guard = role_policy(&iam, &guard_name()).expect("the expiry guard");
    assert_eq!(
        guard["Statement"][0]["Condition"]["DateGreaterThanEquals"]["aws:CurrentTime"],
        "2031-05-01T11:00:00Z",
        "IAM itself ends the grant at the activation's end"
    );

    let reverted = at(END_PLUS_ONE).args(["reconcile"]).run().expect_code(0);
    assert!(
        reverted.stdout.contains("is reverted (confirmed by reading the live objects)"),
        "{}",
        reverted.stdout
    );
    assert!(groups_of(&iam, "alice").is_empty());
    assert_eq!(attached(&iam, ROLE), [GUARDRAILS]);
    assert!(
        role_policy(&iam, "breakglass-revoke-sessions").is_some(),
        "older role sessions revoked"
    );
    at(END_PLUS_ONE).args(["plan", "--detailed-exitcode"]).run().expect_code(0);
}
