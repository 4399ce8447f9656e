//! plan → apply → plan on the quickstart, and every refusal `apply` makes: each prints why and
//! changes nothing.

use std::path::Path;

use crate::util::{Run, example_copy, read};

fn plan_out(dir: &Path, file: &str) {
    Run::new(dir).args(["plan", "--out", file, "--sign-key", "keys/ci.key"]).run().expect_code(0);
}

/// The state and the application's access file, to check a refusal changed neither.
fn snapshot_of_disk(dir: &Path) -> (String, String) {
    (crate::util::state_text(dir), read(dir.join("app/access.json")))
}

#[test]
fn quickstart_plan_reads_like_terraform_in_text_json_and_markdown() {
    let dir = example_copy("quickstart");
    let text = Run::new(dir.path()).args(["plan"]).run().expect_code(0);
    snapshot!("quickstart_plan_text", text.stdout);
    let json = Run::new(dir.path()).args(["plan", "--json"]).run().expect_code(0);
    snapshot!("quickstart_plan_json", json.stdout);
    assert!(json.stderr.is_empty(), "--json keeps stderr quiet: {}", json.stderr);
    let markdown = Run::new(dir.path()).args(["plan", "--format", "markdown"]).run().expect_code(0);
    snapshot!("quickstart_plan_markdown", markdown.stdout);
    let later =
        Run::new(dir.path()).args(["plan", "--at", "2031-01-15T10:00:00Z"]).run().expect_code(0);
    snapshot!("quickstart_plan_at_grant_window", later.stdout);
}

#[test]
fn apply_then_plan_shows_no_changes_and_a_second_apply_is_a_no_op() {
    let dir = example_copy("quickstart");
    Run::new(dir.path()).args(["plan", "--detailed-exitcode"]).run().expect_code(2);
    plan_out(dir.path(), "plan.json");
    let applied = Run::new(dir.path()).args(["apply", "plan.json"]).run().expect_code(0);
    assert!(
        applied.stdout.contains("Apply complete! Resources: 2 added, 0 changed, 0 destroyed."),
        "{}",
        applied.stdout
    );
    let access: serde_json::Value =
        serde_json::from_str(&read(dir.path().join("app/access.json"))).unwrap();
    assert_eq!(access["access"][0]["principal"], "team:oncall");
    assert_eq!(access["settings"]["chatbot.model_endpoint.enabled"], "on");
    Run::new(dir.path()).args(["plan", "--detailed-exitcode"]).run().expect_code(0);

    let before = snapshot_of_disk(dir.path());
    let again = Run::new(dir.path()).args(["apply", "--auto-approve"]).run().expect_code(0);
    assert!(again.stdout.contains("0 added, 0 changed, 0 destroyed"), "{}", again.stdout);
    assert_eq!(snapshot_of_disk(dir.path()), before, "a second apply writes nothing");
}

#[test]
fn a_plan_with_one_flipped_byte_is_refused() {
    let dir = example_copy("quickstart");
    plan_out(dir.path(), "plan.json");
    let mut envelope: serde_json::Value =
        serde_json::from_str(&read(dir.path().join("plan.json"))).unwrap();
    let payload = envelope["payload"].as_str().unwrap().to_owned();
    let mut bytes = base64_decode(&payload);
    let text = String::from_utf8(bytes.clone()).unwrap();
    let position = text.find("\"viewer\"").unwrap() + 1;
    bytes[position] = b'w'; // "viewer" becomes "wiewer"
    envelope["payload"] = base64_encode(&bytes).into();
    fs_err::write(dir.path().join("plan.json"), envelope.to_string()).unwrap();
    let before = snapshot_of_disk(dir.path());
    let outcome = Run::new(dir.path()).args(["apply", "plan.json"]).run().expect_code(5);
    assert!(
        outcome.stderr.contains("refused: no valid signature by a trusted key"),
        "{}",
        outcome.stderr
    );
    assert!(outcome.stderr.contains("altered after signing"), "{}", outcome.stderr);
    assert_eq!(snapshot_of_disk(dir.path()), before);
}

#[test]
fn a_plan_that_is_not_an_envelope_is_refused_clearly() {
    let dir = example_copy("quickstart");
    fs_err::write(dir.path().join("plan.json"), "{\"resource_changes\": []}").unwrap();
    let outcome = Run::new(dir.path()).args(["apply", "plan.json"]).run().expect_code(1);
    assert!(
        outcome.stderr.contains("plan.json: not a signed breakglass document"),
        "{}",
        outcome.stderr
    );
}

#[test]
fn a_plan_signed_by_an_untrusted_key_is_refused() {
    let dir = example_copy("quickstart");
    Run::new(dir.path())
        .args(["plan", "--out", "plan.json", "--sign-key", "keys/alice.key"])
        .run()
        .expect_code(0);
    let before = snapshot_of_disk(dir.path());
    let outcome = Run::new(dir.path()).args(["apply", "plan.json"]).run().expect_code(5);
    assert!(outcome.stderr.contains("no valid signature by a trusted key"), "{}", outcome.stderr);
    assert_eq!(snapshot_of_disk(dir.path()), before);
}

#[test]
fn a_plan_is_refused_once_it_has_expired() {
    let dir = example_copy("quickstart");
    plan_out(dir.path(), "plan.json");
    let outcome = Run::new(dir.path())
        .env("BREAKGLASS_TEST_NOW", "2026-11-28T13:00:01Z")
        .args(["apply", "plan.json"])
        .run()
        .expect_code(5);
    assert!(
        outcome.stderr.contains("the plan expired at 2026-11-28T13:00:00Z"),
        "{}",
        outcome.stderr
    );
    assert_eq!(read(dir.path().join("app/access.json")), "");
}

#[test]
fn a_plan_is_refused_when_the_state_changed_after_it() {
    let dir = example_copy("quickstart");
    plan_out(dir.path(), "plan.json");
    Run::new(dir.path()).args(["apply", "--auto-approve"]).run().expect_code(0);
    let before = snapshot_of_disk(dir.path());
    let outcome = Run::new(dir.path()).args(["apply", "plan.json"]).run().expect_code(5);
    assert!(
        outcome.stderr.contains(
            "the plan is stale: the state changed since the plan was made (serial 0 then"
        ),
        "{}",
        outcome.stderr
    );
    assert_eq!(snapshot_of_disk(dir.path()), before);
}

#[test]
fn a_plan_is_refused_when_a_live_object_it_touches_changed_after_it() {
    let dir = example_copy("quickstart");
    Run::new(dir.path()).args(["apply", "--auto-approve"]).run().expect_code(0);
    let access = dir.path().join("app/access.json");
    let edit =
        |from: &str, to: &str| fs_err::write(&access, read(&access).replace(from, to)).unwrap();
    edit("\"on\"", "\"off\"");
    let drifted = Run::new(dir.path()).args(["plan", "--detailed-exitcode"]).run().expect_code(2);
    assert!(
        drifted.stdout.contains("Objects have changed outside of breakglass"),
        "{}",
        drifted.stdout
    );
    assert!(drifted.stdout.contains("(changed outside breakglass)"), "{}", drifted.stdout);
    plan_out(dir.path(), "plan.json");
    edit("\"off\"", "\"paused\"");
    let before = snapshot_of_disk(dir.path());
    let outcome = Run::new(dir.path()).args(["apply", "plan.json"]).run().expect_code(5);
    assert!(
        outcome
            .stderr
            .contains("the plan is stale: live objects or time-bound activations changed"),
        "{}",
        outcome.stderr
    );
    assert!(outcome.stderr.contains("local_setting.chatbot_endpoint"), "{}", outcome.stderr);
    assert_eq!(snapshot_of_disk(dir.path()), before);
}

#[test]
fn a_plan_is_refused_when_the_policy_changed_after_it() {
    let dir = example_copy("quickstart");
    plan_out(dir.path(), "plan.json");
    let baseline = dir.path().join("baseline.hcl");
    fs_err::write(&baseline, read(&baseline).replace("\"viewer\"", "\"reader\"")).unwrap();
    let outcome = Run::new(dir.path()).args(["apply", "plan.json"]).run().expect_code(5);
    assert!(
        outcome.stderr.contains("the policy files changed since the plan was made"),
        "{}",
        outcome.stderr
    );
}

#[test]
fn apply_without_a_plan_file_off_a_terminal_needs_auto_approve() {
    let dir = example_copy("quickstart");
    let outcome = Run::new(dir.path()).args(["apply"]).run().expect_code(1);
    assert!(
        outcome.stderr.contains("pass a saved plan file (plan --out) or --auto-approve"),
        "{}",
        outcome.stderr
    );
    assert_eq!(read(dir.path().join("app/access.json")), "");
}

#[test]
fn saving_a_plan_needs_a_signing_key() {
    let dir = example_copy("quickstart");
    let outcome = Run::new(dir.path()).args(["plan", "--out", "plan.json"]).run().expect_code(1);
    assert!(
        outcome.stderr.contains("pass --sign-key FILE or set BREAKGLASS_SIGN_KEY"),
        "{}",
        outcome.stderr
    );
    let with_env = Run::new(dir.path())
        .env("BREAKGLASS_SIGN_KEY", "keys/ci.key")
        .args(["plan", "--out", "plan.json"])
        .run();
    assert_eq!(with_env.code, 0, "{}", with_env.stderr);
}

#[test]
fn a_provider_failing_midway_keeps_what_succeeded_and_the_next_apply_converges() {
    let dir = example_copy("quickstart");
    let main = dir.path().join("main.hcl");
    let healthy = read(&main);
    let failing = healthy.replace(
        "path = \"app/access.json\"",
        "path           = \"app/access.json\"\n  fail_writes_to = [\"team:oncall/viewer\"]",
    );
    fs_err::write(&main, &failing).unwrap();
    let failed = Run::new(dir.path()).args(["apply", "--auto-approve"]).run().expect_code(1);
    assert!(
        failed.stderr.contains("local_access.oncall_viewer: invalid: simulated failure"),
        "{}",
        failed.stderr
    );
    let state: serde_json::Value = crate::util::state(dir.path());
    let recorded: Vec<&String> = state["resources"].as_object().unwrap().keys().collect();
    assert_eq!(recorded, ["local_setting.chatbot_endpoint"], "what succeeded is recorded");

    fs_err::write(&main, &healthy).unwrap();
    let converged = Run::new(dir.path()).args(["apply", "--auto-approve"]).run().expect_code(0);
    assert!(converged.stdout.contains("1 added, 0 changed, 0 destroyed"), "{}", converged.stdout);
    Run::new(dir.path()).args(["plan", "--detailed-exitcode"]).run().expect_code(0);
}

#[test]
fn two_concurrent_applies_never_corrupt_state() {
    let dir = example_copy("quickstart");
    let main = dir.path().join("main.hcl");
    fs_err::write(
        &main,
        read(&main).replace(
            "path = \"app/access.json\"",
            "path       = \"app/access.json\"\n  latency_ms = 400",
        ),
    )
    .unwrap();
    let spawn = || {
        std::process::Command::new(env!("CARGO_BIN_EXE_breakglass"))
            .current_dir(dir.path())
            .env("BREAKGLASS_TEST_NOW", crate::util::TEST_NOW)
            .args(["apply", "--auto-approve"])
            .output()
            .unwrap()
    };
    let (first, second) = std::thread::scope(|scope| {
        let a = scope.spawn(spawn);
        let b = scope.spawn(spawn);
        (a.join().unwrap(), b.join().unwrap())
    });
    let codes = [first.status.code().unwrap(), second.status.code().unwrap()];
    assert!(codes.contains(&0), "one apply succeeds: {codes:?}");
    let loser = if codes[0] == 0 { &second } else { &first };
    let loser_code = loser.status.code().unwrap();
    if loser_code == 6 {
        let stderr = String::from_utf8_lossy(&loser.stderr);
        assert!(stderr.contains("the state is locked by apply"), "{stderr}");
        assert!(stderr.contains("breakglass state unlock"), "{stderr}");
    } else {
        assert_eq!(loser_code, 0, "the other either waited or was refused by the lock");
    }
    let state: serde_json::Value = crate::util::state(dir.path());
    assert_eq!(state["resources"].as_object().unwrap().len(), 2);
    Run::new(dir.path()).args(["plan", "--detailed-exitcode"]).run().expect_code(0);
}

#[test]
fn a_planned_grant_starts_in_its_window_and_is_reverted_after_it() {
    let dir = example_copy("quickstart");
    let at = |time: &str| Run::new(dir.path()).env("BREAKGLASS_TEST_NOW", time);
    at("2031-01-15T09:30:00Z").args(["apply", "--auto-approve"]).run().expect_code(0);
    let access = read(dir.path().join("app/access.json"));
    assert!(access.contains("\"principal\": \"bob\""), "{access}");
    assert!(
        access.contains("\"expires_at\": \"2031-01-15T17:00:00Z\""),
        "native expiry is written: {access}"
    );
    let state: serde_json::Value = crate::util::state(dir.path());
    assert_eq!(state["activations"]["grant_chg_1234"]["status"], "active");

    let after =
        at("2031-01-15T17:00:01Z").args(["plan", "--detailed-exitcode"]).run().expect_code(2);
    assert!(
        after.stdout.contains("role read_logs for bob expired at 2031-01-15T17:00:00Z"),
        "{}",
        after.stdout
    );
    // Once ended, the grant block is invalid policy: the revert still happens from state.
    let baseline = dir.path().join("access.hcl");
    let text = read(&baseline);
    let start = text.find("grant \"chg_1234\"").unwrap();
    let end = start + text[start..].find("\n}\n").unwrap() + 3;
    fs_err::write(&baseline, format!("{}{}", &text[..start], &text[end..])).unwrap();
    at("2031-01-15T17:00:01Z").args(["apply", "--auto-approve"]).run().expect_code(0);
    let access = read(dir.path().join("app/access.json"));
    assert!(!access.contains("\"principal\": \"bob\""), "{access}");
    let state: serde_json::Value = crate::util::state(dir.path());
    assert_eq!(state["activations"]["grant_chg_1234"]["status"], "reverted");
    at("2031-01-15T17:00:02Z").args(["plan", "--detailed-exitcode"]).run().expect_code(0);
}

fn base64_decode(text: &str) -> Vec<u8> {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.decode(text).unwrap()
}

fn base64_encode(bytes: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

#[test]
fn privileged_access_nobody_granted_is_drift_that_apply_removes() {
    let dir = example_copy("quickstart");
    Run::new(dir.path()).args(["apply", "--auto-approve"]).run().expect_code(0);
    let access = dir.path().join("app/access.json");
    let mut document: serde_json::Value = serde_json::from_str(&read(&access)).unwrap();
    let entries = document["access"].as_array_mut().unwrap();
    entries.push(serde_json::json!({"principal": "mallory", "role": "prod-admin"}));
    entries.push(serde_json::json!({"principal": "eve", "role": "viewer"}));
    fs_err::write(&access, document.to_string()).unwrap();

    let plan = Run::new(dir.path()).args(["plan", "--detailed-exitcode"]).run().expect_code(2);
    snapshot!("quickstart_plan_privileged_drift", plan.stdout);

    Run::new(dir.path()).args(["apply", "--auto-approve"]).run().expect_code(0);
    let after = read(&access);
    assert!(!after.contains("mallory"), "privileged drift removed: {after}");
    assert!(
        after.contains("eve"),
        "entries nobody declared that grant nothing privileged are left alone: {after}"
    );
    Run::new(dir.path()).args(["plan", "--detailed-exitcode"]).run().expect_code(0);
}

#[test]
fn privileged_drift_that_is_only_reported_exits_4() {
    let dir = example_copy("quickstart");
    let main = dir.path().join("main.hcl");
    fs_err::write(
        &main,
        read(&main).replace("drift            = \"revert\"", "drift            = \"report\""),
    )
    .unwrap();
    Run::new(dir.path()).args(["apply", "--auto-approve"]).run().expect_code(0);
    let access = dir.path().join("app/access.json");
    let mut document: serde_json::Value = serde_json::from_str(&read(&access)).unwrap();
    document["access"]
        .as_array_mut()
        .unwrap()
        .push(serde_json::json!({"principal": "mallory", "role": "prod-admin"}));
    fs_err::write(&access, document.to_string()).unwrap();
    let plan = Run::new(dir.path()).args(["plan", "--detailed-exitcode"]).run().expect_code(4);
    assert!(plan.stdout.contains("grants PRIVILEGED access"), "{}", plan.stdout);
    Run::new(dir.path()).args(["apply", "--auto-approve"]).run().expect_code(0);
    assert!(read(&access).contains("mallory"), "reported, not removed");
}

#[test]
fn privileged_drift_is_seen_when_only_a_role_can_grant_its_type() {
    // The baseline declares no local_access at all: only prod_admin's template grants that
    // type. A privileged entry made by hand must still be seen, so the type is listed anyway.
    let dir = example_copy("quickstart");
    let baseline = dir.path().join("baseline.hcl");
    let text = read(&baseline);
    let start = text.find("resource \"local_access\" \"oncall_viewer\"").unwrap();
    let end = start + text[start..].find("\n}\n").unwrap() + 3;
    fs_err::write(&baseline, format!("{}{}", &text[..start], &text[end..])).unwrap();
    Run::new(dir.path()).args(["apply", "--auto-approve"]).run().expect_code(0);
    let access = dir.path().join("app/access.json");
    let mut document: serde_json::Value = serde_json::from_str(&read(&access)).unwrap();
    document["access"] = serde_json::json!([{"principal": "mallory", "role": "prod-admin"}]);
    fs_err::write(&access, document.to_string()).unwrap();

    let plan = Run::new(dir.path()).args(["plan", "--detailed-exitcode"]).run().expect_code(2);
    assert!(plan.stdout.contains("grants PRIVILEGED access"), "{}", plan.stdout);
    assert!(plan.stdout.contains("mallory"), "{}", plan.stdout);
    Run::new(dir.path()).args(["apply", "--auto-approve"]).run().expect_code(0);
    assert!(!read(&access).contains("mallory"), "removed: drift = \"revert\"");
    Run::new(dir.path()).args(["plan", "--detailed-exitcode"]).run().expect_code(0);
}

#[test]
fn target_plans_only_the_address_and_what_it_depends_on() {
    let dir = example_copy("quickstart");
    let json = Run::new(dir.path())
        .args(["plan", "--json", "--target", "local_setting.chatbot_endpoint"])
        .run()
        .expect_code(0)
        .json();
    let addresses: Vec<&str> = json["resource_changes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["address"].as_str().unwrap())
        .collect();
    assert_eq!(addresses, ["local_setting.chatbot_endpoint"]);
    let bad =
        Run::new(dir.path()).args(["plan", "--target", "not an address"]).run().expect_code(1);
    assert!(bad.stderr.contains("is not a resource address; expected TYPE.NAME"), "{}", bad.stderr);
}

#[test]
fn show_renders_a_saved_plan_and_says_who_signed_it() {
    let dir = example_copy("quickstart");
    plan_out(dir.path(), "plan.json");
    let shown = Run::new(dir.path()).args(["show", "plan.json"]).run().expect_code(0);
    assert!(
        shown.stdout.contains("Plan: 2 to add, 0 to change, 0 to destroy."),
        "{}",
        shown.stdout
    );
    assert!(shown.stderr.contains("signed by ci, a trusted plan signer"), "{}", shown.stderr);
    let json =
        Run::new(dir.path()).args(["show", "plan.json", "--json"]).run().expect_code(0).json();
    assert_eq!(json["summary"]["create"], 2);
    Run::new(dir.path())
        .args(["plan", "--out", "mine.json", "--sign-key", "keys/bob.key"])
        .run()
        .expect_code(0);
    let untrusted = Run::new(dir.path()).args(["show", "mine.json"]).run().expect_code(0);
    assert!(untrusted.stderr.contains("NOT trusted"), "{}", untrusted.stderr);
}

#[test]
fn state_list_show_and_unlock() {
    let dir = example_copy("quickstart");
    Run::new(dir.path()).args(["apply", "--auto-approve"]).run().expect_code(0);
    let list = Run::new(dir.path()).args(["state", "list"]).run().expect_code(0);
    assert_eq!(
        list.stdout,
        "local_access.oncall_viewer\tteam:oncall/viewer\nlocal_setting.chatbot_endpoint\tchatbot.model_endpoint.enabled\n"
    );
    let show = Run::new(dir.path())
        .args(["state", "show", "local_access.oncall_viewer"])
        .run()
        .expect_code(0)
        .json();
    assert_eq!(show["id"], "team:oncall/viewer");
    let missing =
        Run::new(dir.path()).args(["state", "show", "local_access.nope"]).run().expect_code(1);
    assert!(
        missing.stderr.contains("is not in the state; `breakglass state list` shows what is"),
        "{}",
        missing.stderr
    );
    let unlock = Run::new(dir.path()).args(["state", "unlock", "01abc"]).run().expect_code(1);
    assert!(unlock.stderr.contains("the state is not locked"), "{}", unlock.stderr);
}

#[test]
fn a_lock_held_by_a_killed_process_is_released_and_the_next_apply_converges() {
    let dir = example_copy("quickstart");
    let main = dir.path().join("main.hcl");
    fs_err::write(
        &main,
        read(&main).replace(
            "path = \"app/access.json\"",
            "path       = \"app/access.json\"\n  latency_ms = 1500",
        ),
    )
    .unwrap();
    let mut slow = Run::new(dir.path()).args(["apply", "--auto-approve"]).spawn();
    // Wait until it holds the lock (its record is in the lock file), then kill it hard.
    let lock = dir.path().join(".breakglass/state.db.lock");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while !read(&lock).contains("\"operation\":\"apply\"") {
        assert!(std::time::Instant::now() < deadline, "apply never took the lock");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    std::process::Command::new("kill").args(["-KILL", &slow.id().to_string()]).status().unwrap();
    slow.wait().unwrap();
    fs_err::write(&main, read(&main).replace("\n  latency_ms = 1500", "")).unwrap();
    let next = Run::new(dir.path())
        .args(["apply", "--auto-approve", "--lock-timeout", "0s"])
        .run()
        .expect_code(0);
    assert!(next.stdout.contains("Apply complete!"), "{}", next.stdout);
    Run::new(dir.path()).args(["plan", "--detailed-exitcode"]).run().expect_code(0);
}
