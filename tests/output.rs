//! What commands print and where it goes: a reader that goes away (`| head`, `| true`) ends the
//! output quietly, never with a panic; the JSON shapes of `state list`, `drill` and `audit head`
//! (documented in docs/cli.md); `watch`'s lines start with the time; the policy folder found
//! from below it or from `BREAKGLASS_DIR`, and `--as` from `BREAKGLASS_AS`.

use serde_json::Value;
use std::path::Path;
use std::process::Stdio;

use crate::util::{
    Outcome, Run, audit_lines, audit_text, example_copy, read, set_audit_lines, state_db,
    state_text,
};

/// A quickstart copy with the baseline applied and bob's read_logs live.
fn quickstart_with_a_grant() -> tempfile::TempDir {
    let dir = example_copy("quickstart");
    let path = dir.path();
    Run::new(path).args(["apply", "--auto-approve"]).run().expect_code(0);
    Run::new(path)
        .args(["request", "read_logs", "--duration", "1h", "--justification", "INC-1: logs"])
        .args(["--as", "bob", "--key", "keys/bob.key", "--out", "req.json"])
        .run()
        .expect_code(0);
    Run::new(path).args(["apply", "--emergency", "req.json"]).run().expect_code(0);
    dir
}

/// Runs `breakglass ARGS` in `dir` with stdout a pipe whose reader is already gone.
fn into_closed_pipe(dir: &Path, args: &[&str]) -> (Option<i32>, String) {
    let (reader, writer) = std::io::pipe().expect("a pipe");
    drop(reader);
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_breakglass"));
    command
        .current_dir(dir)
        .args(args)
        .env("BREAKGLASS_TEST_NOW", crate::util::TEST_NOW)
        .env("NO_COLOR", "1")
        .env_remove("BREAKGLASS_SIGN_KEY")
        .env_remove("BREAKGLASS_TOTP_SECRETS")
        .env_remove("BREAKGLASS_DIR")
        .env_remove("BREAKGLASS_AS")
        .stdin(Stdio::null())
        .stdout(writer)
        .stderr(Stdio::piped());
    let output = command.output().expect("the breakglass binary runs");
    (output.status.code(), String::from_utf8_lossy(&output.stderr).into_owned())
}

#[test]
fn every_command_into_a_closed_pipe_exits_as_it_would_have_without_a_panic() {
    let dir = quickstart_with_a_grant();
    let path = dir.path();
    let commands: &[&[&str]] = &[
        &["plan", "--json"],
        &["plan"],
        &["plan", "--format", "markdown"],
        &["plan", "--detailed-exitcode"],
        &["validate"],
        &["validate", "--json"],
        &["status"],
        &["status", "--all"],
        &["status", "--all", "--json"],
        &["roles"],
        &["roles", "--json"],
        &["requests", "--all"],
        &["requests", "--all", "--json"],
        &["state", "list"],
        &["state", "list", "--json"],
        &["state", "pull"],
        &["audit", "head"],
        &["audit", "head", "--json"],
        &["audit", "verify", "--json"],
        &["audit", "report"],
        &["audit", "export", "--format", "json"],
        &["audit", "export", "--format", "ocsf"],
        &["drill", "prod_admin"],
        &["drill", "prod_admin", "--json"],
        &["reconcile", "--dry-run"],
        &["totp", "code", "alice"],
        &["completions", "bash"],
        &["man"],
        &["--help"],
        &["plan", "--help"],
        &["fmt", "--check", "--diff"],
    ];
    for args in commands {
        let expected = Run::new(path).args(*args).run();
        let (code, stderr) = into_closed_pipe(path, args);
        assert!(!stderr.contains("panicked"), "breakglass {args:?} panicked:\n{stderr}");
        assert!(!stderr.contains("Broken pipe"), "breakglass {args:?}:\n{stderr}");
        assert_eq!(
            code,
            Some(expected.code),
            "breakglass {args:?} into a closed pipe exits as it does otherwise:\n{stderr}"
        );
    }
    // The shell's view: `breakglass plan --json | true` exits 0.
    let shell = std::process::Command::new("bash")
        .arg("-c")
        .arg(format!("set -o pipefail; {} plan --json | true", env!("CARGO_BIN_EXE_breakglass")))
        .current_dir(path)
        .env("BREAKGLASS_TEST_NOW", crate::util::TEST_NOW)
        .output()
        .expect("sh runs");
    let stderr = String::from_utf8_lossy(&shell.stderr);
    assert!(shell.status.success() && !stderr.contains("panicked"), "{stderr}");
}

/// `value` with every `milliseconds` set to 0 and every time set to `[TIME]`, for snapshots.
fn steady(mut value: Value) -> Value {
    fn walk(value: &mut Value) {
        match value {
            Value::Object(object) => {
                for (key, item) in object.iter_mut() {
                    if key == "milliseconds" {
                        *item = Value::from(0);
                    } else if key.ends_with("_at") && item.is_string() {
                        *item = Value::from("[TIME]");
                    } else {
                        walk(item);
                    }
                }
            }
            Value::Array(items) => items.iter_mut().for_each(walk),
            _ => {}
        }
    }
    walk(&mut value);
    value
}

/// `value` pretty-printed, with activation ids (`act_` and a ULID) written `act_[ULID]`.
fn pretty(value: &Value) -> String {
    let text = serde_json::to_string_pretty(value).unwrap();
    let mut out = String::new();
    let mut rest = text.as_str();
    while let Some(at) = rest.find("act_") {
        out.push_str(&rest[..at + 4]);
        rest = &rest[at + 4..];
        if rest.len() >= 26 && rest[..26].chars().all(|c| c.is_ascii_alphanumeric()) {
            out.push_str("[ULID]");
            rest = &rest[26..];
        }
    }
    out.push_str(rest);
    out
}

#[test]
fn state_list_drill_and_audit_head_print_documented_json() {
    let dir = quickstart_with_a_grant();
    let path = dir.path();

    let list = Run::new(path).args(["state", "list", "--json"]).run().expect_code(0).json();
    let text = Run::new(path).args(["state", "list"]).run().expect_code(0).stdout;
    assert_eq!(list["resources"].as_array().unwrap().len(), text.lines().count(), "{text}");
    let pulled = Run::new(path).args(["state", "pull"]).run().expect_code(0).json();
    assert_eq!(list["serial"], pulled["serial"], "the serial of the state read");
    assert!(list["serial"].as_u64().is_some_and(|serial| serial > 0), "{list}");
    let mut shown = steady(list);
    shown["lineage"] = Value::from("[LINEAGE]");
    shown["serial"] = Value::from("[SERIAL]");
    snapshot!("state_list_json", pretty(&shown));

    let drill = Run::new(path).args(["drill", "prod_admin", "--json"]).run().expect_code(0).json();
    assert_eq!(drill["passed"], true);
    assert_eq!(drill["steps"].as_array().unwrap().len(), 8, "{drill}");
    snapshot!("drill_json", pretty(&steady(drill)));

    // A drill that cannot pass still prints its JSON, saying where it stopped.
    let refused = Run::new(path).args(["drill", "prod_admin", "--as", "carol", "--json"]).run();
    assert_eq!(refused.code, 5, "{}", refused.stderr);
    let refused = steady(refused.json());
    assert_eq!(refused["passed"], false);
    snapshot!("drill_json_refused", pretty(&refused));

    let head = Run::new(path).args(["audit", "head", "--json"]).run().expect_code(0).json();
    let plain = Run::new(path).args(["audit", "head"]).run().expect_code(0).stdout;
    assert_eq!(head["head"].as_str().unwrap(), plain.trim());
    assert_eq!(head["verified"], true);
    let mut shown = head.clone();
    shown["head"] = Value::from("[HASH]");
    snapshot!("audit_head_json", pretty(&shown));

    // A broken chain: the same shape as `audit verify --json`, and exit 1.
    let mut lines = audit_lines(path);
    let edited = lines.iter().position(|l| l.contains("\"bob\"")).expect("an event of bob's");
    lines[edited] = lines[edited].replacen("\"bob\"", "\"mallory\"", 1);
    set_audit_lines(path, &lines);
    let broken = Run::new(path).args(["audit", "head", "--json"]).run().expect_code(1);
    let broken = broken.json();
    assert_eq!(broken["verified"], false);
    assert!(broken["line"].as_u64().is_some(), "{broken}");
}

#[test]
fn a_drill_right_after_a_real_apply_does_not_meet_the_persons_used_totp_code() {
    let dir = example_copy("quickstart");
    let path = dir.path();
    Run::new(path).args(["apply", "--auto-approve"]).run().expect_code(0);
    Run::new(path)
        .args(["request", "prod_admin", "--duration", "30m", "--justification", "INC-2: down"])
        .args(["--as", "alice", "--key", "keys/alice.key", "--out", "req.json"])
        .run()
        .expect_code(0);
    let approve = |person: &str| {
        Run::new(path)
            .args(["approve", "req.json", "--as", person, "--key", &format!("keys/{person}.key")])
            .args(["--yes"])
            .run()
            .expect_code(0)
            .stdout
            .trim()
            .to_owned()
    };
    let (carol, dave) = (approve("carol"), approve("dave"));
    let code = Run::new(path).args(["totp", "code", "alice"]).run().expect_code(0).stdout;
    Run::new(path)
        .args(["apply", "--emergency", "req.json", "--approval", &carol, "--approval", &dave])
        .args(["--totp", code.trim()])
        .run()
        .expect_code(0);
    let used = state_text(path);
    // The same 30-second step (the test clock stands still): the drill is not refused.
    let drill = Run::new(path).args(["drill", "prod_admin", "--as", "alice"]).run();
    assert_eq!(drill.code, 0, "{}\n{}", drill.stdout, drill.stderr);
    assert!(drill.stdout.contains("check 12: TOTP code verified"), "{}", drill.stdout);
    assert_eq!(state_text(path), used, "the drill consumed nothing");
}

#[test]
fn watch_lines_start_with_the_time() {
    let dir = example_copy("quickstart");
    let path = dir.path();
    Run::new(path).real_clock().args(["apply", "--auto-approve"]).run().expect_code(0);
    Run::new(path)
        .real_clock()
        .args(["request", "read_logs", "--duration", "2s", "--justification", "INC-3: a look"])
        .args(["--as", "bob", "--key", "keys/bob.key", "--out", "req.json"])
        .run()
        .expect_code(0);
    Run::new(path).real_clock().args(["apply", "--emergency", "req.json"]).run().expect_code(0);
    let watch = Run::new(path).real_clock().args(["watch", "--interval", "1h"]).spawn();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
    while !state_text(path).contains("\"reverted\"") {
        assert!(std::time::Instant::now() < deadline, "watch did not revert in time");
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    std::process::Command::new("kill").args(["-TERM", &watch.id().to_string()]).status().unwrap();
    let output = watch.wait_with_output().unwrap();
    assert_eq!(output.status.code(), Some(0));
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stdout.contains("is reverted (confirmed"), "{stdout}");
    assert!(stderr.contains("Watching") && stderr.contains("Stopped."), "{stderr}");
    for line in stdout.lines().chain(stderr.lines()).filter(|l| !l.is_empty()) {
        let (time, _) = line.split_once(' ').unwrap_or_default();
        let time: jiff::Timestamp =
            time.parse().unwrap_or_else(|_| panic!("a line without its time: {line:?}"));
        let age = jiff::Timestamp::now().duration_since(time).as_secs();
        assert!((0..60).contains(&age), "the time is now's: {line}");
    }
}

#[test]
fn the_policy_folder_is_found_from_below_it_and_from_breakglass_dir() {
    let dir = example_copy("quickstart");
    let path = dir.path();
    let from_keys = Run::new(path.join("keys")).args(["validate"]).run().expect_code(0);
    assert!(from_keys.stdout.contains("Success!"), "{}", from_keys.stdout);
    // State lands in the policy folder, not where the command ran.
    Run::new(path.join("keys")).args(["apply", "--auto-approve"]).run().expect_code(0);
    assert!(state_db(path).exists());
    assert!(!path.join("keys/.breakglass").exists());

    let elsewhere = tempfile::tempdir().unwrap();
    let by_env = Run::new(elsewhere.path())
        .env("BREAKGLASS_DIR", path)
        .args(["plan", "--detailed-exitcode"])
        .run()
        .expect_code(0);
    assert!(by_env.stdout.contains("No changes."), "{}", by_env.stdout);
    // -C wins over BREAKGLASS_DIR; nothing to find is said clearly.
    let nowhere = Run::new(elsewhere.path())
        .env("BREAKGLASS_DIR", path)
        .args(["-C", ".", "validate"])
        .run()
        .expect_code(1);
    assert!(nowhere.stdout.contains("no policy files in"), "{}", nowhere.stdout);
    assert!(nowhere.stdout.contains("BREAKGLASS_DIR"), "{}", nowhere.stdout);

    // Paths on the command line stay relative to where the command runs, and --as comes from
    // BREAKGLASS_AS, the key from BREAKGLASS_KEY.
    let outcome = Run::new(path.join("keys"))
        .env("BREAKGLASS_AS", "bob")
        .env("BREAKGLASS_KEY", "bob.key")
        .args(["request", "read_logs", "--duration", "1h", "--justification", "INC-4: logs"])
        .args(["--out", "req.json"])
        .run();
    assert_eq!(outcome.code, 0, "{}", outcome.stderr);
    assert!(path.join("keys/req.json").exists(), "written where the command ran");
    let request = read(path.join("keys/req.json"));
    assert!(!request.is_empty());
}

#[test]
fn approve_off_a_terminal_without_yes_signs_nothing() {
    let dir = example_copy("quickstart");
    let path = dir.path();
    Run::new(path).args(["apply", "--auto-approve"]).run().expect_code(0);
    Run::new(path)
        .args(["request", "prod_admin", "--duration", "30m", "--justification", "INC-5: down"])
        .args(["--as", "alice", "--key", "keys/alice.key", "--out", "req.json"])
        .run()
        .expect_code(0);
    let outcome: Outcome = Run::new(path)
        .args(["approve", "req.json", "--as", "carol", "--key", "keys/carol.key"])
        .run();
    assert_eq!(outcome.code, 1, "{}", outcome.stderr);
    assert_eq!(outcome.stdout, "", "no token");
    let error = outcome.stderr.lines().find(|l| l.starts_with("error:")).unwrap_or_default();
    snapshot!("approve_without_yes_off_a_terminal", error);
    let log = audit_text(path);
    assert!(!log.contains("\"action\":\"approval\""), "no approval recorded");
}

#[test]
fn plan_out_without_a_signing_key_fails_before_planning() {
    let dir = example_copy("quickstart");
    let outcome = Run::new(dir.path()).args(["plan", "--out", "plan.json"]).run().expect_code(1);
    assert_eq!(outcome.stdout, "", "no plan printed before the failure");
    assert!(!outcome.stderr.contains("Read "), "nothing read: {}", outcome.stderr);
    assert!(!dir.path().join("plan.json").exists());
    let db = state_db(dir.path());
    assert!(!db.exists() || audit_lines(dir.path()).is_empty(), "nothing recorded");
}
