//! plan → apply → revert through the CLI against the contract server: a role grant and its
//! revert, an override of rate limits (the example's) and of model permissions whose revert
//! writes back exactly what was read before, the example's lift requested, approved and applied
//! in an emergency and reverted at its end, a value changed by hand during an override kept as
//! a conflict, and a wrong key that changes nothing.
//!
//! Planned grants are `grant` blocks applied with the test clock inside their window; their
//! revert is the grant file removed and `apply` run after the window (an ended grant block is
//! invalid policy, and its activation is reverted from state).

use std::path::Path;

use super::contract::{ADMIN_KEY, ContractServer, Org};
use crate::util::{Outcome, Run, policy_dir, read, root};

/// The people of the examples: alice and bob on call, carol and dave approve, ci signs.
const CAST: &str = r#"
breakglass {
  max_duration  = "12h"
  plan_signers  = [person.ci]
  plan_lifetime = "1h"
}

person "alice" {
  email      = "alice@example.com"
  public_key = file("keys/alice.pub")
  identities = {
    openai = "user-alice"
  }
}

person "bob" {
  email      = "bob@example.com"
  public_key = file("keys/bob.pub")
  identities = {
    openai = "user-bob"
  }
}

person "carol" {
  public_key = file("keys/carol.pub")
}

person "dave" {
  public_key = file("keys/dave.pub")
}

person "ci" {
  public_key = file("keys/ci.pub")
}

team "oncall" {
  members = [person.alice, person.bob]
}

approvers "leads" {
  members = [person.carol, person.dave]
  quorum  = 1
}
"#;

/// Access to the chatbot project: bob is a member; a role makes the requester an owner; an
/// override makes bob an owner; another denies a model.
const ACCESS: &str = r#"
provider "openai" {}

resource "openai_project_user" "bob" {
  project_id = "proj_chat"
  user_id    = "user-bob"
  role       = "member"
}

resource "openai_project_model_permissions" "chat" {
  project_id = "proj_chat"
  mode       = "deny_list"
  model_ids  = []
}

role "chat_owner" {
  description  = "Own the chatbot project: manage its keys and members."
  risk         = "high"
  requesters   = [team.oncall]
  approvers    = approvers.leads
  max_duration = "2h"

  resource "openai_project_user" "owner" {
    project_id = "proj_chat"
    user_id    = requester.identities.openai
    role       = "owner"
  }
}

override "bob_owner" {
  description  = "Make bob an owner of the chatbot project."
  risk         = "high"
  requesters   = [team.oncall]
  approvers    = approvers.leads
  max_duration = "2h"

  change {
    resource = openai_project_user.bob
    set = {
      role = "owner"
    }
  }
}

override "deny_o3" {
  description  = "Stop the chatbot using o3 while it misbehaves."
  risk         = "medium"
  requesters   = [team.oncall]
  approvers    = approvers.leads
  max_duration = "4h"

  change {
    resource = openai_project_model_permissions.chat
    set = {
      model_ids = ["o3"]
    }
  }
}
"#;

const BEFORE: &str = "2026-12-01T09:00:00Z";
const DURING: &str = "2026-12-01T10:30:00Z";
const AFTER: &str = "2026-12-01T12:00:01Z";

/// A grant of `target` (`role.x` or `override.x`) to alice, 10:00 to 12:00 on 1 December.
fn grant(name: &str, target: &str) -> String {
    let kind = target.split('.').next().unwrap_or_default();
    format!(
        "grant \"{name}\" {{\n  {kind:<13} = {target}\n  to            = person.alice\n  start         = \
         \"2026-12-01T10:00:00Z\"\n  end           = \"2026-12-01T12:00:00Z\"\n  justification = \
         \"INC-42: {name}\"\n}}\n"
    )
}

fn run(dir: &Path, server: &ContractServer, at: &str, args: &[&str]) -> Outcome {
    Run::new(dir)
        .env("BREAKGLASS_TEST_NOW", at)
        .env("OPENAI_BASE_URL", server.base_url())
        .env("OPENAI_ADMIN_KEY", ADMIN_KEY)
        .args(args)
        .run()
}

fn chat_org() -> Org {
    Org::new()
        .user("user-alice", "Alice Martin")
        .user("user-bob", "Bob Chen")
        .user("user-erin", "Erin Lee")
        .project("proj_chat", "Chatbot")
        .member("proj_chat", "user-bob", "member")
        .member("proj_chat", "user-erin", "member")
        .rate_limit("proj_chat", "gpt-4o", 500, 30_000)
}

/// The status of activation `id` in state, null when there is none (or no state).
fn activation_status(dir: &Path, id: &str) -> serde_json::Value {
    let text = crate::util::state_text(dir);
    if text.is_empty() {
        return serde_json::Value::Null;
    }
    let state: serde_json::Value = serde_json::from_str(&text).expect("state");
    state["activations"][id]["status"].clone()
}

#[test]
fn a_role_grant_adds_an_owner_and_its_revert_removes_them() {
    let server = ContractServer::start(chat_org());
    let dir = policy_dir(&[("main.hcl", CAST), ("access.hcl", ACCESS)]);
    run(dir.path(), &server, BEFORE, &["apply", "--auto-approve"]).expect_code(0);
    assert!(server.org(|org| org.member_of("proj_chat", "user-alice").is_none()));

    fs_err::write(dir.path().join("grants.hcl"), grant("inc_42", "role.chat_owner")).unwrap();
    let plan = run(dir.path(), &server, DURING, &["plan"]).expect_code(0);
    assert!(plan.stdout.contains("openai_project_user"), "{}", plan.stdout);
    run(dir.path(), &server, DURING, &["apply", "--auto-approve"]).expect_code(0);
    assert_eq!(
        server.org(|org| org.member_of("proj_chat", "user-alice").map(|m| m.role.clone())),
        Some("owner".to_owned())
    );
    assert_eq!(activation_status(dir.path(), "grant_inc_42"), "active");
    // Erin, a member nobody declared, holds nothing privileged: not drift; nothing to apply.
    let plan = run(dir.path(), &server, DURING, &["plan", "--detailed-exitcode"]).expect_code(0);
    assert!(!plan.stdout.contains("user-erin"), "{}", plan.stdout);
    assert!(plan.stdout.contains("No changes."), "{}", plan.stdout);

    fs_err::remove_file(dir.path().join("grants.hcl")).unwrap();
    run(dir.path(), &server, AFTER, &["apply", "--auto-approve"]).expect_code(0);
    assert!(server.org(|org| org.member_of("proj_chat", "user-alice").is_none()));
    assert_eq!(activation_status(dir.path(), "grant_inc_42"), "reverted");
    // The revert took back only what the grant gave.
    assert_eq!(server.org(|org| org.projects[0].members.len()), 2);

    // Converged: a second apply changes nothing and sends no write.
    let writes = |server: &ContractServer| {
        server.org(|org| org.received.iter().filter(|r| r.method != "GET").count())
    };
    let before = writes(&server);
    run(dir.path(), &server, AFTER, &["plan", "--detailed-exitcode"]).expect_code(0);
    run(dir.path(), &server, AFTER, &["apply", "--auto-approve"]).expect_code(0);
    assert_eq!(writes(&server), before);
}

#[test]
fn an_override_raises_a_role_and_its_revert_puts_the_role_back() {
    let server = ContractServer::start(chat_org());
    let dir = policy_dir(&[("main.hcl", CAST), ("access.hcl", ACCESS)]);
    run(dir.path(), &server, BEFORE, &["apply", "--auto-approve"]).expect_code(0);
    fs_err::write(dir.path().join("grants.hcl"), grant("inc_43", "override.bob_owner")).unwrap();
    run(dir.path(), &server, DURING, &["apply", "--auto-approve"]).expect_code(0);
    assert_eq!(
        server.org(|org| org.member_of("proj_chat", "user-bob").unwrap().role.clone()),
        "owner"
    );

    fs_err::remove_file(dir.path().join("grants.hcl")).unwrap();
    run(dir.path(), &server, AFTER, &["apply", "--auto-approve"]).expect_code(0);
    assert_eq!(
        server.org(|org| org.member_of("proj_chat", "user-bob").unwrap().role.clone()),
        "member"
    );
    assert_eq!(activation_status(dir.path(), "grant_inc_43"), "reverted");
    let bodies: Vec<_> = server.org(|org| {
        org.received_matching("POST", "/proj_chat/users/user-bob")
            .iter()
            .map(|r| r.body.clone())
            .collect()
    });
    assert_eq!(
        bodies,
        [Some(serde_json::json!({"role": "owner"})), Some(serde_json::json!({"role": "member"}))]
    );
}

#[test]
fn the_examples_rate_limit_lift_is_reverted_to_the_exact_values_read_before() {
    let server = ContractServer::start(
        Org::new()
            .project("proj_support_bot", "Support bot")
            .rate_limit("proj_support_bot", "gpt-4o-mini", 3_500, 987_654)
            .rate_limit("proj_support_bot", "o3", 10, 1_000)
            .rate_limit("proj_support_bot", "gpt-4o", 1_234, 456_789),
    );
    let example = read(root().join("examples/ai-platform/openai.hcl"));
    assert!(!example.is_empty(), "examples/ai-platform/openai.hcl exists");
    let dir = policy_dir(&[("main.hcl", CAST), ("openai.hcl", &example)]);
    run(dir.path(), &server, BEFORE, &["validate"]).expect_code(0);
    let baseline = run(dir.path(), &server, BEFORE, &["apply", "--auto-approve"]).expect_code(0);
    assert!(baseline.stdout.contains("0 added, 0 changed, 0 destroyed"), "{}", baseline.stdout);

    fs_err::write(
        dir.path().join("grants.hcl"),
        grant("inc_44", "override.openai_rate_limit_lift"),
    )
    .unwrap();
    let plan = run(dir.path(), &server, DURING, &["plan"]).expect_code(0);
    assert!(plan.stdout.contains("max_requests_per_1_minute"), "{}", plan.stdout);
    run(dir.path(), &server, DURING, &["apply", "--auto-approve"]).expect_code(0);
    let raised = server.org(|org| {
        (
            org.limit_of("proj_support_bot", "gpt-4o").values.clone(),
            org.limit_of("proj_support_bot", "gpt-4o-mini").values.clone(),
        )
    });
    assert_eq!(raised.0["max_requests_per_1_minute"], 10_000);
    assert_eq!(raised.0["max_tokens_per_1_minute"], 2_000_000);
    assert_eq!(raised.1["max_requests_per_1_minute"], 30_000);
    assert_eq!(raised.1["max_tokens_per_1_minute"], 5_000_000);

    fs_err::remove_file(dir.path().join("grants.hcl")).unwrap();
    run(dir.path(), &server, AFTER, &["apply", "--auto-approve"]).expect_code(0);
    assert_eq!(activation_status(dir.path(), "grant_inc_44"), "reverted");
    // The revert sent exactly the values read before the override, and nothing else.
    let reverts: Vec<_> = server.org(|org| {
        ["rl-gpt-4o", "rl-gpt-4o-mini"]
            .iter()
            .map(|id| {
                org.received_matching("POST", &format!("/rate_limits/{id}"))
                    .last()
                    .unwrap()
                    .body
                    .clone()
            })
            .collect()
    });
    assert_eq!(
        reverts,
        [
            Some(
                serde_json::json!({"max_requests_per_1_minute": 1_234, "max_tokens_per_1_minute": 456_789})
            ),
            Some(
                serde_json::json!({"max_requests_per_1_minute": 3_500, "max_tokens_per_1_minute": 987_654})
            ),
        ]
    );
    let restored = server.org(|org| org.limit_of("proj_support_bot", "gpt-4o").values.clone());
    assert_eq!(restored["max_requests_per_1_minute"], 1_234);
    assert_eq!(restored["max_tokens_per_1_minute"], 456_789);
    assert!(server.org(|org| org.received_matching("POST", "/rate_limits/rl-o3").is_empty()));
    let plan = run(dir.path(), &server, AFTER, &["plan", "--json", "--detailed-exitcode"]);
    let plan = plan.expect_code(0);
    assert!(!plan.stdout.contains(ADMIN_KEY), "the key is not in the plan");
    for file in files_under(dir.path()) {
        // Bytes, not text: the state database is binary, its strings are stored as UTF-8.
        let bytes = fs_err::read(&file).expect("a readable file");
        assert!(
            !String::from_utf8_lossy(&bytes).contains(ADMIN_KEY),
            "the key is written to {}",
            file.display()
        );
    }
}

/// Every file under `dir`: state, audit log, locks.
fn files_under(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut files = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(next) = stack.pop() {
        for entry in fs_err::read_dir(&next).expect("a directory") {
            let path = entry.expect("an entry").path();
            if path.is_dir() { stack.push(path) } else { files.push(path) }
        }
    }
    assert!(files.iter().any(|f| f.ends_with(".breakglass/state.db")), "{files:?}");
    files
}

#[test]
fn a_model_denied_by_an_override_is_allowed_again_by_its_revert() {
    let server = ContractServer::start(chat_org());
    let dir = policy_dir(&[("main.hcl", CAST), ("access.hcl", ACCESS)]);
    run(dir.path(), &server, BEFORE, &["apply", "--auto-approve"]).expect_code(0);
    fs_err::write(dir.path().join("grants.hcl"), grant("inc_45", "override.deny_o3")).unwrap();
    run(dir.path(), &server, DURING, &["apply", "--auto-approve"]).expect_code(0);
    assert_eq!(
        server.org(|org| org.projects[0].model_permissions.clone()),
        Some(("deny_list".to_owned(), vec!["o3".to_owned()]))
    );
    fs_err::remove_file(dir.path().join("grants.hcl")).unwrap();
    run(dir.path(), &server, AFTER, &["apply", "--auto-approve"]).expect_code(0);
    assert_eq!(
        server.org(|org| org.projects[0].model_permissions.clone()),
        Some(("deny_list".to_owned(), vec![]))
    );
    assert_eq!(activation_status(dir.path(), "grant_inc_45"), "reverted");
}

#[test]
fn a_wrong_admin_key_fails_clearly_and_changes_nothing() {
    let server = ContractServer::start(chat_org());
    let dir = policy_dir(&[("main.hcl", CAST), ("access.hcl", ACCESS)]);
    fs_err::write(dir.path().join("grants.hcl"), grant("inc_46", "role.chat_owner")).unwrap();
    let key = "sk-admin-not-the-right-one-5678";
    for command in [&["plan"][..], &["apply", "--auto-approve"][..]] {
        let outcome = Run::new(dir.path())
            .env("BREAKGLASS_TEST_NOW", DURING)
            .env("OPENAI_BASE_URL", server.base_url())
            .env("OPENAI_ADMIN_KEY", key)
            .args(command)
            .run();
        assert_ne!(outcome.code, 0, "{command:?} fails:\n{}", outcome.stdout);
        let all = format!("{}{}", outcome.stdout, outcome.stderr);
        assert!(all.contains("openai: GET /v1/organization/projects/"), "{all}");
        assert!(all.contains("answered 401 Unauthorized"), "{all}");
        assert!(all.contains("OPENAI_ADMIN_KEY"), "{all}");
        assert!(
            !all.contains("5678") && !all.contains("not-the-right"),
            "the key is not shown: {all}"
        );
    }
    assert!(server.org(|org| org.received.iter().all(|r| r.method == "GET")), "nothing written");
    assert!(server.org(|org| org.member_of("proj_chat", "user-alice").is_none()));
    assert_eq!(activation_status(dir.path(), "grant_inc_46"), serde_json::Value::Null);

    // No key at all: the same advice, before any call.
    let outcome = Run::new(dir.path())
        .env("BREAKGLASS_TEST_NOW", DURING)
        .env("OPENAI_BASE_URL", server.base_url())
        .env("OPENAI_ADMIN_KEY", "")
        .args(["plan"])
        .run();
    assert_ne!(outcome.code, 0);
    assert!(outcome.stderr.contains("OPENAI_ADMIN_KEY"), "{}", outcome.stderr);
}

/// A policy directory with the cast (and their private demo keys) and the ai-platform example.
fn example_dir() -> tempfile::TempDir {
    let example = read(root().join("examples/ai-platform/openai.hcl"));
    assert!(!example.is_empty(), "examples/ai-platform/openai.hcl exists");
    let dir = policy_dir(&[("main.hcl", CAST), ("openai.hcl", &example)]);
    crate::util::copy_dir(&root().join("examples/quickstart/keys"), &dir.path().join("keys"));
    dir
}

fn support_bot_org() -> Org {
    Org::new()
        .project("proj_support_bot", "Support bot")
        .rate_limit("proj_support_bot", "gpt-4o-mini", 3_500, 987_654)
        .rate_limit("proj_support_bot", "gpt-4o", 1_234, 456_789)
}

fn with_server(dir: &Path, server: &ContractServer, at: &str) -> Run {
    Run::new(dir)
        .env("BREAKGLASS_TEST_NOW", at)
        .env("OPENAI_BASE_URL", server.base_url())
        .env("OPENAI_ADMIN_KEY", ADMIN_KEY)
}

#[test]
fn the_examples_lift_requested_in_an_emergency_is_reverted_at_its_end() {
    let server = ContractServer::start(support_bot_org());
    let dir = example_dir();
    let path = dir.path();
    run(path, &server, BEFORE, &["apply", "--auto-approve"]).expect_code(0);
    with_server(path, &server, BEFORE)
        .args(["request", "openai_rate_limit_lift", "--duration", "2h"])
        .args(["--justification", "INC-4712: support traffic doubled after a failover"])
        .args(["--as", "alice", "--key", "keys/alice.key", "--out", "req.json"])
        .run()
        .expect_code(0);
    let token = with_server(path, &server, BEFORE)
        .args(["approve", "req.json", "--as", "carol", "--key", "keys/carol.key", "--yes"])
        .run()
        .expect_code(0)
        .stdout
        .trim()
        .to_owned();
    with_server(path, &server, BEFORE)
        .args(["apply", "--emergency", "req.json", "--approval", &token])
        .run()
        .expect_code(0);
    let limits = |server: &ContractServer, model: &str| {
        server.org(|org| org.limit_of("proj_support_bot", model).values.clone())
    };
    assert_eq!(limits(&server, "gpt-4o")["max_requests_per_1_minute"], 10_000);
    assert_eq!(limits(&server, "gpt-4o-mini")["max_tokens_per_1_minute"], 5_000_000);

    // Two hours later the lift has ended: reconcile puts back exactly what was there.
    let end = "2026-12-01T11:00:01Z";
    with_server(path, &server, end).args(["reconcile"]).run().expect_code(0);
    assert_eq!(limits(&server, "gpt-4o")["max_requests_per_1_minute"], 1_234);
    assert_eq!(limits(&server, "gpt-4o")["max_tokens_per_1_minute"], 456_789);
    assert_eq!(limits(&server, "gpt-4o-mini")["max_requests_per_1_minute"], 3_500);
    assert_eq!(limits(&server, "gpt-4o-mini")["max_tokens_per_1_minute"], 987_654);
    let state: serde_json::Value = crate::util::state(path);
    let statuses: Vec<&serde_json::Value> = state["activations"]
        .as_object()
        .expect("activations")
        .values()
        .map(|activation| &activation["status"])
        .collect();
    assert_eq!(statuses, [&serde_json::json!("reverted")]);
    with_server(path, &server, end).args(["plan", "--detailed-exitcode"]).run().expect_code(0);
}

#[test]
fn a_limit_changed_by_hand_during_the_lift_is_left_as_is_and_reported() {
    let server = ContractServer::start(support_bot_org());
    let dir = example_dir();
    let path = dir.path();
    run(path, &server, BEFORE, &["apply", "--auto-approve"]).expect_code(0);
    fs_err::write(path.join("grants.hcl"), grant("inc_47", "override.openai_rate_limit_lift"))
        .unwrap();
    run(path, &server, DURING, &["apply", "--auto-approve"]).expect_code(0);

    // Someone lowers gpt-4o's requests by hand in the dashboard while the lift holds.
    server.org(|org| {
        org.limit_of("proj_support_bot", "gpt-4o")
            .values
            .insert("max_requests_per_1_minute".to_owned(), 7_777);
    });
    let writes_before = server.org(|org| org.received_matching("POST", "/rl-gpt-4o").len());
    fs_err::remove_file(path.join("grants.hcl")).unwrap();
    let plan = run(path, &server, AFTER, &["plan"]).expect_code(0);
    assert!(
        plan.stdout.contains("was changed outside breakglass while an override held it"),
        "{}",
        plan.stdout
    );
    run(path, &server, AFTER, &["apply", "--auto-approve"]).expect_code(0);

    let gpt_4o = server.org(|org| org.limit_of("proj_support_bot", "gpt-4o").values.clone());
    assert_eq!(gpt_4o["max_requests_per_1_minute"], 7_777, "the hand-made change is kept");
    assert_eq!(gpt_4o["max_tokens_per_1_minute"], 456_789, "the rest is restored");
    let writes: Vec<_> = server.org(|org| {
        org.received_matching("POST", "/rl-gpt-4o")[writes_before..]
            .iter()
            .map(|r| r.body.clone())
            .collect()
    });
    assert_eq!(
        writes,
        [Some(serde_json::json!({"max_tokens_per_1_minute": 456_789}))],
        "the revert writes only what it restores"
    );
    let state: serde_json::Value = crate::util::state(path);
    let record = &state["activations"]["grant_inc_47"];
    let flags = record["flags"].to_string();
    assert!(
        flags.contains("openai_project_rate_limit.support_bot_gpt_4o.max_requests_per_1_minute"),
        "{record}"
    );
}
