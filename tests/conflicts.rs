//! Conflicts: something an activation held that a person changed by hand. An ended override's
//! value changed meanwhile is left as is by the revert; a live grant lowered or removed by hand
//! is not granted again, by apply or reconcile. Each is reported once — never also as ordinary
//! drift, never beside "No changes" — and `reconcile` exits 8 (README, `--help`), so a cron
//! job notices.

use serde_json::Value;
use std::path::Path;

use crate::anthropic::Platforms;
use crate::util::{Outcome, Run, example_copy, read};

const T0: &str = "2026-11-28T12:00:00Z";

fn at(dir: &Path, time: &str) -> Run {
    Run::new(dir).env("BREAKGLASS_TEST_NOW", time)
}

/// The lines of a plan's text without its times and activation ids, for snapshots.
fn steady(text: &str) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(found) = rest.find("act_") {
        out.push_str(&rest[..found + 4]);
        rest = &rest[found + 4..];
        if rest.len() >= 26 && rest[..26].chars().all(|c| c.is_ascii_alphanumeric()) {
            out.push_str("[ULID]");
            rest = &rest[26..];
        }
    }
    out.push_str(rest);
    out
}

fn activation(dir: &Path) -> (String, Value) {
    let state: Value = crate::util::state(dir);
    let (id, record) = state["activations"]
        .as_object()
        .expect("activations")
        .iter()
        .find(|(id, _)| id.starts_with("act_"))
        .expect("an emergency activation");
    (id.clone(), record.clone())
}

/// The quickstart with bob's kill switch applied at T0, then set to "maintenance" by hand.
fn kill_switch_changed_by_hand() -> tempfile::TempDir {
    let dir = example_copy("quickstart");
    let path = dir.path();
    at(path, T0).args(["apply", "--auto-approve"]).run().expect_code(0);
    at(path, T0)
        .args(["request", "chatbot_kill_switch", "--duration", "2h"])
        .args(["--justification", "INC-7: the chatbot misbehaves"])
        .args(["--as", "bob", "--key", "keys/bob.key", "--out", "req.json"])
        .run()
        .expect_code(0);
    let token = at(path, T0)
        .args(["approve", "req.json", "--as", "carol", "--key", "keys/carol.key", "--yes"])
        .run()
        .expect_code(0)
        .stdout;
    at(path, T0)
        .args(["apply", "--emergency", "req.json", "--approval", token.trim()])
        .run()
        .expect_code(0);
    let file = path.join("app/access.json");
    fs_err::write(&file, read(&file).replace("\"off\"", "\"maintenance\"")).unwrap();
    dir
}

#[test]
fn an_override_conflict_is_reported_once_and_reconcile_exits_8() {
    let dir = kill_switch_changed_by_hand();
    let path = dir.path();
    let end = "2026-11-28T14:00:01Z";

    let plan = at(path, end).args(["plan", "--detailed-exitcode"]).run().expect_code(4);
    assert!(!plan.stdout.contains("Live objects match the policy"), "{}", plan.stdout);
    assert_eq!(plan.stdout.matches("chatbot_endpoint").count(), 1, "once: {}", plan.stdout);
    snapshot!("conflict_override_plan", steady(&plan.stdout));
    let json = at(path, end).args(["plan", "--json"]).run().expect_code(0).json();
    assert_eq!(json["summary"]["drift"], 0, "not also counted as drift");
    assert_eq!(json["summary"]["conflicts"], 1);
    let drift = json["drift"].as_array().unwrap();
    assert_eq!(drift.len(), 1, "{drift:?}");
    assert_eq!(drift[0]["kind"], "conflict");
    assert_eq!(drift[0]["held_by"]["kind"], "override");

    let reconcile = at(path, end).args(["reconcile"]).run().expect_code(8);
    snapshot!("conflict_override_reconcile", steady(&reconcile.stdout));
    assert!(read(path.join("app/access.json")).contains("\"maintenance\""), "left as is");
    let (_, record) = activation(path);
    assert_eq!(record["status"], "reverted");
    // Settled: the next pass has nothing to say.
    at(path, "2026-11-28T14:00:05Z").args(["reconcile"]).run().expect_code(0);
}

#[test]
fn a_live_grant_removed_by_hand_is_a_conflict_and_is_not_granted_again() {
    let dir = example_copy("quickstart");
    let path = dir.path();
    at(path, T0).args(["apply", "--auto-approve"]).run().expect_code(0);
    at(path, T0)
        .args(["request", "read_logs", "--duration", "2h", "--justification", "INC-8: logs"])
        .args(["--as", "bob", "--key", "keys/bob.key", "--out", "req.json"])
        .run()
        .expect_code(0);
    at(path, T0).args(["apply", "--emergency", "req.json"]).run().expect_code(0);
    let file = path.join("app/access.json");
    let mut access: Value = serde_json::from_str(&read(&file)).unwrap();
    access["access"].as_array_mut().unwrap().retain(|entry| entry["principal"] != "bob");
    fs_err::write(&file, access.to_string()).unwrap();
    let has_bob = || read(path.join("app/access.json")).contains("\"bob\"");

    let during = "2026-11-28T12:30:00Z";
    let plan = at(path, during).args(["plan", "--detailed-exitcode"]).run().expect_code(4);
    assert!(!plan.stdout.contains("will be created"), "{}", plan.stdout);
    snapshot!("conflict_grant_removed_plan", steady(&plan.stdout));
    let reconcile = at(path, during).args(["reconcile"]).run().expect_code(8);
    assert!(reconcile.stdout.contains("left removed, not granted again"), "{}", reconcile.stdout);
    // Neither the automated path nor a reviewed apply puts it back, run after run.
    for _ in 0..2 {
        at(path, during).args(["apply", "--auto-approve"]).run().expect_code(0);
        assert!(!has_bob(), "not granted again");
        at(path, during).args(["reconcile"]).run().expect_code(8);
    }
    let (_, record) = activation(path);
    let flags: Vec<&str> =
        record["flags"].as_array().unwrap().iter().filter_map(Value::as_str).collect();
    assert_eq!(flags.len(), 1, "flagged once: {flags:?}");
    assert!(flags[0].contains("was removed outside breakglass"), "{flags:?}");

    // When the grant ends there is nothing left to take back, and nothing left to say.
    let end = "2026-11-28T14:00:01Z";
    at(path, end).args(["reconcile"]).run().expect_code(0);
    assert_eq!(activation(path).1["status"], "reverted");
    let plan: Outcome = at(path, end).args(["plan", "--detailed-exitcode"]).run();
    assert_eq!(plan.code, 0, "{}", plan.stdout);
    assert!(!has_bob());
}

#[test]
fn a_live_grant_lowered_by_hand_is_a_conflict_and_is_not_raised_again() {
    let t0 = "2026-11-28T12:00:00Z";
    let platforms = Platforms::ready(t0);
    platforms.request(t0, "ml_workspace_investigator", "bob", "2h", "req.json");
    let carol = platforms.approve(t0, "req.json", "carol");
    let dave = platforms.approve(t0, "req.json", "dave");
    platforms
        .at(t0)
        .args(["apply", "--emergency", "req.json", "--approval", &carol, "--approval", &dave])
        .run()
        .expect_code(0);
    let workspace = "wrkspc_01MLPlatform";
    let bob = |p: &Platforms| p.anthropic.member_role(workspace, "user_01BobChen");
    assert_eq!(bob(&platforms).as_deref(), Some("workspace_developer"));

    // An admin lowers bob by hand in the Console while the grant is live.
    platforms.anthropic.set_member(workspace, "user_01BobChen", "workspace_user");
    let during = "2026-11-28T12:30:00Z";
    let plan = platforms.at(during).args(["plan", "--detailed-exitcode"]).run().expect_code(4);
    assert!(!plan.stdout.contains("will be updated"), "{}", plan.stdout);
    snapshot!("conflict_grant_lowered_plan", steady(&plan.stdout));
    platforms.at(during).args(["apply", "--auto-approve"]).run().expect_code(0);
    assert_eq!(bob(&platforms).as_deref(), Some("workspace_user"), "not raised again");
    platforms.at(during).args(["reconcile"]).run().expect_code(8);
    assert_eq!(bob(&platforms).as_deref(), Some("workspace_user"));

    // At its end the grant's membership is taken back as usual.
    platforms.at("2026-11-28T14:00:01Z").args(["reconcile"]).run().expect_code(0);
    assert_eq!(bob(&platforms), None);
}
