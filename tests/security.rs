//! Attacks by insiders who hold a real key: a responder who signs their own request, approvers
//! who sign their own tokens, anyone who can write beside the executor's files. Every document
//! here is hand-crafted and correctly signed by the person it names; the executor must still
//! recompute every rule from the policy and its own clock, refuse (exit 5, a refusal event,
//! state and live objects byte-identical), and keep its files private and its own.

use std::path::Path;

use breakglass::sign::{Approval, Decision, PrivateKey, read_plan_file, sign_plan};

use crate::emergency::{
    T0, activation_id, apply_emergency, approve, assert_refused, at, last_event, plus, ready,
    refused_apply, request, state, totp,
};
use crate::util::{Run, example_copy, read};

/// The plan a request file carries, as JSON.
fn payload(dir: &Path, file: &str) -> serde_json::Value {
    let signed = read_plan_file(&dir.join(file)).unwrap();
    serde_json::from_slice(&signed.envelope.payload_bytes().unwrap()).unwrap()
}

/// Signs `plan` with `person`'s own key, as whoever holds that key can, and saves it as `out`.
fn sign_as(dir: &Path, person: &str, plan: &serde_json::Value, out: &str) {
    let plan: breakglass::plan::Plan = serde_json::from_value(plan.clone()).unwrap();
    let key = PrivateKey::load(&dir.join(format!("keys/{person}.key"))).unwrap();
    fs_err::write(dir.join(out), sign_plan(&plan, &key).to_json() + "\n").unwrap();
}

/// The request in `file`, edited as JSON text, signed again by `person`.
fn forge_text(
    dir: &Path,
    file: &str,
    person: &str,
    out: &str,
    edit: impl FnOnce(String) -> String,
) {
    let text = edit(payload(dir, file).to_string());
    sign_as(dir, person, &serde_json::from_str(&text).unwrap(), out);
}

/// The request in `file`, edited as JSON, signed again by `person`.
fn forge(
    dir: &Path,
    file: &str,
    person: &str,
    out: &str,
    edit: impl FnOnce(&mut serde_json::Value),
) {
    let mut plan = payload(dir, file);
    edit(&mut plan);
    sign_as(dir, person, &plan, out);
}

/// A token for the request in `file`, signed by `approver`'s own key with the times given.
fn token(dir: &Path, file: &str, approver: &str, issued: &str, expires: &str) -> String {
    let signed = read_plan_file(&dir.join(file)).unwrap();
    let activation = signed.plan().unwrap().request.unwrap().activation.id;
    let key = PrivateKey::load(&dir.join(format!("keys/{approver}.key"))).unwrap();
    Approval {
        approver: approver.to_owned(),
        decision: Decision::Approve,
        plan_digest: signed.digest,
        activation,
        issued_at: issued.parse().unwrap(),
        expires_at: expires.parse().unwrap(),
        nonce: Approval::new_nonce(),
        comment: None,
    }
    .sign(&key)
}

#[test]
fn an_activation_that_ends_in_2036_is_refused_though_its_requester_signed_it() {
    let dir = ready();
    let path = dir.path();
    // read_logs: auto-approved, at most 8h. alice asks for 1h, then moves the end — in the
    // activation, the planned platform expiry and the reason alike — to 2036, and signs again.
    request(path, T0, "read_logs", "alice", "1h", "req.json").expect_code(0);
    forge_text(path, "req.json", "alice", "forged.json", |text| {
        text.replace("2026-11-28T13:00:00Z", "2036-11-28T13:00:00Z")
    });
    assert_eq!(
        payload(path, "forged.json")["request"]["activation"]["end"],
        "2036-11-28T13:00:00Z"
    );
    refused_apply(
        path,
        T0,
        "forged.json",
        &[],
        None,
        "longer than role.read_logs allows (max_duration 8h)",
    );
    assert!(!read(path.join("app/access.json")).contains("2036"));
    // The honest request still goes through.
    apply_emergency(path, T0, "req.json", &[], None).expect_code(0);
}

#[test]
fn a_start_in_the_future_cannot_dodge_a_limit() {
    let dir = ready();
    let path = dir.path();
    let access = path.join("access.hcl");
    let limit = "\nlimit \"logs_daily\" {\n  roles           = [role.read_logs]\n  per             = \"person\"\n  max_activations = 1\n  window          = \"1d\"\n  action          = \"refuse\"\n}\n";
    fs_err::write(&access, read(&access) + limit).unwrap();
    request(path, T0, "read_logs", "alice", "1h", "first.json").expect_code(0);
    apply_emergency(path, T0, "first.json", &[], None).expect_code(0);
    let first = activation_id(&state(path));
    let now = plus(T0, 2 * 3600);
    assert_refused(
        path,
        request(path, &now, "read_logs", "alice", "1h", "second.json"),
        "limit \"logs_daily\": alice already had 1 matching activation(s) in the last 1d",
    );
    // alice makes the second request by hand: made now, but starting tomorrow, outside the
    // window the limit counts.
    let fresh_id = format!("act_{}", ulid::Ulid::generate());
    let make = |out: &str, start: &str, end: &str| {
        let (first, id) = (first.clone(), fresh_id.clone());
        let (now, start, end) = (now.clone(), start.to_owned(), end.to_owned());
        forge(path, "first.json", "alice", out, move |plan| {
            let text = plan.to_string().replace(&first, &id);
            *plan = serde_json::from_str(&text).unwrap();
            plan["created_at"] = now.clone().into();
            plan["expires_at"] = plus(&now, 3600).into();
            let activation = &mut plan["request"]["activation"];
            activation["start"] = start.into();
            activation["end"] = end.into();
            activation["created_at"] = now.into();
        });
    };
    make("tomorrow.json", "2026-11-29T12:00:00Z", "2026-11-29T13:00:00Z");
    refused_apply(
        path,
        &now,
        "tomorrow.json",
        &[],
        None,
        "the activation starts at 2026-11-29T12:00:00Z, later than the request was made",
    );
    // Starting now, it is counted: the executor applies the limit itself.
    make("today.json", &now, &plus(&now, 3600));
    refused_apply(
        path,
        &now,
        "today.json",
        &[],
        None,
        "limit \"logs_daily\": alice already had 1 matching activation(s) in the last 1d",
    );
}

#[test]
fn a_request_that_claims_to_be_valid_until_2099_expires_by_when_it_was_made() {
    let dir = ready();
    let path = dir.path();
    request(path, T0, "read_logs", "alice", "1h", "req.json").expect_code(0);
    forge(path, "req.json", "alice", "until-2099.json", |plan| {
        plan["expires_at"] = "2099-01-01T00:00:00Z".into();
    });
    // request_lifetime is 1h: made at T0, it expired at 13:00 whatever it says.
    refused_apply(
        path,
        &plus(T0, 2 * 3600),
        "until-2099.json",
        &[],
        None,
        "the request expired at 2026-11-28T13:00:00Z",
    );
    // Made "in the future" to stretch its life: alice's clock is ahead, and the refusal says by
    // how much.
    forge(path, "req.json", "alice", "ahead.json", |plan| {
        plan["created_at"] = "2026-11-28T12:03:12Z".into();
        plan["expires_at"] = "2099-01-01T00:00:00Z".into();
    });
    refused_apply(
        path,
        T0,
        "ahead.json",
        &[],
        None,
        "alice's clock is 3m12s ahead: the request says it was made at 2026-11-28T12:03:12Z",
    );
    forge(path, "req.json", "alice", "made-2099.json", |plan| {
        plan["created_at"] = "2099-01-01T00:00:00Z".into();
        plan["expires_at"] = "2099-01-01T01:00:00Z".into();
    });
    refused_apply(path, T0, "made-2099.json", &[], None, "alice's clock is ");
}

#[test]
fn approval_tokens_valid_until_2099_are_refused() {
    let dir = ready();
    let path = dir.path();
    // chatbot_kill_switch: one approval from approvers.leads, whose token_lifetime is 30m.
    request(path, T0, "chatbot_kill_switch", "bob", "1h", "req.json").expect_code(0);
    let forever = token(path, "req.json", "carol", T0, "2099-01-01T00:00:00Z");
    refused_apply(
        path,
        &plus(T0, 45 * 60),
        "req.json",
        &[&forever],
        None,
        "approval token #1 (by carol) claims to be valid for",
    );
    let outcome = apply_emergency(path, &plus(T0, 45 * 60), "req.json", &[&forever], None);
    assert!(
        outcome.stderr.contains("longer than approvers.leads allows (token_lifetime 30m)"),
        "{}",
        outcome.stderr
    );
}

#[test]
fn tokens_re_signed_with_later_times_are_refused() {
    let dir = ready();
    let path = dir.path();
    // prod_admin: two approvals, and authentication.strong's max_token_age of 15m.
    request(path, T0, "prod_admin", "alice", "30m", "req.json").expect_code(0);
    let now = plus(T0, 20 * 60);
    let code = totp(path, "alice", &now);
    // Signed at T0 but dated 20 minutes on, so they look young when used: carol's clock (as
    // her token tells it) is ahead.
    let (issued, expires) = (plus(T0, 40 * 60), plus(T0, 70 * 60));
    let carol = token(path, "req.json", "carol", &issued, &expires);
    let dave = token(path, "req.json", "dave", &issued, &expires);
    refused_apply(
        path,
        &now,
        "req.json",
        &[&carol, &dave],
        Some(&code),
        "carol's clock is 20m ahead: approval token #1 (by carol) says it was issued at 2026-11-28T12:40:00Z",
    );
    // Re-signed to be issued and valid in 2099.
    let carol = token(path, "req.json", "carol", "2099-01-01T00:00:00Z", "2099-01-01T00:30:00Z");
    let dave = token(path, "req.json", "dave", "2099-01-01T00:00:00Z", "2099-01-01T00:30:00Z");
    refused_apply(path, &now, "req.json", &[&carol, &dave], Some(&code), "carol's clock is ");
}

#[test]
fn approvals_of_an_over_long_window_are_refused_by_approve_and_by_the_executor() {
    let dir = ready();
    let path = dir.path();
    // prod_admin allows 1h; alice's request says 10h.
    request(path, T0, "prod_admin", "alice", "30m", "req.json").expect_code(0);
    forge_text(path, "req.json", "alice", "long.json", |text| {
        text.replace("2026-11-28T12:30:00Z", "2026-11-28T22:00:00Z")
    });
    let reason = "would last 10h (2026-11-28T12:00:00Z to 2026-11-28T22:00:00Z), longer than \
                  role.prod_admin allows (max_duration 1h)";
    let outcome = at(path, T0)
        .args(["approve", "long.json", "--as", "carol", "--key", "keys/carol.key", "--yes"])
        .run();
    assert!(outcome.stdout.trim().is_empty(), "no token is printed: {}", outcome.stdout);
    assert!(
        outcome.stderr.contains("apply --emergency would refuse this request"),
        "{}",
        outcome.stderr
    );
    assert_refused(path, outcome, reason);
    // Tokens signed anyway, by the approvers' own keys.
    let carol = token(path, "long.json", "carol", T0, &plus(T0, 1800));
    let dave = token(path, "long.json", "dave", T0, &plus(T0, 1800));
    let code = totp(path, "alice", T0);
    refused_apply(path, T0, "long.json", &[&carol, &dave], Some(&code), reason);
}

#[test]
fn a_requester_who_may_not_request_is_refused_before_anything_is_compiled() {
    let dir = ready();
    let path = dir.path();
    // carol is a lead, not on-call, and has no local identity: compiling the role for her would
    // fail. She signs, with her own key, bob's request made out to her.
    request(path, T0, "read_logs", "bob", "1h", "req.json").expect_code(0);
    forge(path, "req.json", "carol", "carol.json", |plan| {
        plan["request"]["activation"]["requester"] = "carol".into();
    });
    let reason =
        "carol may not request role.read_logs: its requesters are team.oncall (alice, bob)";
    refused_apply(path, T0, "carol.json", &[], None, reason);
    let outcome = at(path, T0)
        .args(["approve", "carol.json", "--as", "dave", "--key", "keys/dave.key", "--yes"])
        .run();
    assert_refused(path, outcome, reason);
}

#[test]
fn what_the_executor_owns_is_never_taken_from_a_request() {
    let dir = ready();
    let path = dir.path();
    request(path, T0, "chatbot_kill_switch", "bob", "1h", "req.json").expect_code(0);
    // bob writes into his request what only the executor may decide: the value the override's
    // revert will write back, approvals, auto-approval, a status, a revocation-proof record.
    forge(path, "req.json", "bob", "forged.json", |plan| {
        let activation = &mut plan["request"]["activation"];
        activation["priors"] = serde_json::json!({
            "local_setting.chatbot_endpoint": { "key": "chatbot.model_endpoint.enabled", "value": "pwned" }
        });
        activation["auto_approved"] = true.into();
        activation["status"] = "active".into();
        activation["approvals"] = serde_json::json!([{
            "approver": "dave", "decision": "approve", "issued_at": T0, "nonce": "made-up"
        }]);
        activation["authentication"] = serde_json::json!(["totp"]);
    });
    let carol = approve(path, T0, "forged.json", "carol");
    apply_emergency(path, T0, "forged.json", &[&carol], None).expect_code(0);
    let id = activation_id(&state(path));
    let record = &state(path)["activations"][&id];
    assert_eq!(record["priors"]["local_setting.chatbot_endpoint"]["value"], "on", "{record}");
    assert_eq!(record["auto_approved"], false);
    assert_eq!(record["approvals"].as_array().unwrap().len(), 1);
    assert_eq!(record["approvals"][0]["approver"], "carol");
    assert_eq!(record["authentication"], serde_json::json!(["signed request"]));
    // At its end, the value from before comes back, not the one bob wrote.
    at(path, "2026-11-28T13:00:01Z").args(["reconcile"]).run().expect_code(0);
    let access = read(path.join("app/access.json"));
    assert!(access.contains("\"chatbot.model_endpoint.enabled\": \"on\""), "{access}");
}

#[test]
fn an_extension_is_checked_against_the_activation_s_record() {
    let dir = ready();
    let path = dir.path();
    request(path, T0, "read_logs", "alice", "1h", "req.json").expect_code(0);
    apply_emergency(path, T0, "req.json", &[], None).expect_code(0);
    let id = activation_id(&state(path));
    let t = plus(T0, 600);
    at(path, &t)
        .args(["extend", &id, "--duration", "30m", "--justification", "still looking"])
        .args(["--as", "alice", "--key", "keys/alice.key", "--out", "ext.json"])
        .run()
        .expect_code(0);
    // bob signs alice's extension as his own.
    forge(path, "ext.json", "bob", "bob.json", |plan| {
        plan["request"]["activation"]["requester"] = "bob".into();
    });
    refused_apply(path, &t, "bob.json", &[], None, "only its requester may extend it");
    // alice stretches her own extension past max_duration (8h from the start).
    forge_text(path, "ext.json", "alice", "long.json", |text| {
        text.replace("2026-11-28T13:30:00Z", "2026-11-28T21:00:00Z")
    });
    refused_apply(path, &t, "long.json", &[], None, "extended, the activation would last 9h");
    apply_emergency(path, &t, "ext.json", &[], None).expect_code(0);
    assert_eq!(state(path)["activations"][&id]["end"], "2026-11-28T13:30:00Z");
}

#[test]
fn reconcile_that_waits_for_the_lock_still_reverts() {
    let dir = example_copy("quickstart");
    let path = dir.path();
    Run::new(path).real_clock().args(["apply", "--auto-approve"]).run().expect_code(0);
    Run::new(path)
        .real_clock()
        .args(["request", "read_logs", "--duration", "1s", "--justification", "INC-2: a peek"])
        .args(["--as", "bob", "--key", "keys/bob.key", "--out", "req.json"])
        .run()
        .expect_code(0);
    Run::new(path).real_clock().args(["apply", "--emergency", "req.json"]).run().expect_code(0);
    let id = activation_id(&state(path));
    std::thread::sleep(std::time::Duration::from_millis(1500));
    // Another process holds the state lock for 2.5 s while reconcile waits for it.
    let lock = fs_err::OpenOptions::new()
        .read(true)
        .write(true)
        .open(path.join(".breakglass/state.db.lock"))
        .unwrap();
    lock.file().lock().unwrap();
    let reconcile = Run::new(path).real_clock().args(["reconcile"]).spawn();
    std::thread::sleep(std::time::Duration::from_millis(2500));
    lock.file().unlock().unwrap();
    let output = reconcile.wait_with_output().unwrap();
    let (stdout, stderr) =
        (String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    assert_eq!(output.status.code(), Some(0), "{stdout}\n{stderr}");
    assert!(stdout.contains(&format!("Activation {id} is reverted")), "{stdout}\n{stderr}");
    assert!(!read(path.join("app/access.json")).contains("log-reader"));
    // An explicit time in the past is still refused.
    assert_refused(
        path,
        Run::new(path).args(["reconcile", "--at", "2020-01-01T00:00:00Z"]).run(),
        "reconcile --at 2020-01-01T00:00:00Z is in the past",
    );
}

#[cfg(unix)]
#[test]
fn the_files_breakglass_keeps_are_private_whatever_the_umask() {
    use std::os::unix::fs::PermissionsExt;
    let dir = example_copy("quickstart");
    let path = dir.path();
    let under_umask = |command: &str| {
        Run::shell(path, &format!("umask 022 && exec \"$BREAKGLASS\" {command}"))
            .run()
            .expect_code(0)
    };
    under_umask("apply --auto-approve");
    under_umask(
        "request read_logs --duration 1h --justification INC-3 --as bob --key keys/bob.key \
         --out req.json",
    );
    under_umask("apply --emergency req.json");
    let mode = |relative: &str| {
        fs_err::symlink_metadata(path.join(relative)).unwrap().permissions().mode() & 0o777
    };
    assert_eq!(mode(".breakglass"), 0o700);
    for file in [".breakglass/state.db", ".breakglass/state.db.lock", "app/access.json"] {
        assert_eq!(mode(file), 0o600, "{file}");
    }
    // SQLite's write-ahead log and shared memory, while they exist, take the database's mode.
    for file in [".breakglass/state.db-wal", ".breakglass/state.db-shm"] {
        if path.join(file).exists() {
            assert_eq!(mode(file), 0o600, "{file}");
        }
    }
    let leftovers: Vec<String> = fs_err::read_dir(path.join(".breakglass"))
        .unwrap()
        .chain(fs_err::read_dir(path.join("app")).unwrap())
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| name.contains(".tmp"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

#[cfg(unix)]
#[test]
fn a_planted_symbolic_link_is_refused_never_followed() {
    use std::os::unix::fs::symlink;
    let dir = ready();
    let path = dir.path();
    let outside = tempfile::tempdir().unwrap();
    let precious = outside.path().join("precious");
    fs_err::write(&precious, "precious\n").unwrap();
    let unchanged = || assert_eq!(read(&precious), "precious\n", "the link's target is untouched");

    // The fixed temporary name an earlier version wrote the application's document through.
    symlink(&precious, path.join("app/access.json.tmp")).unwrap();
    request(path, T0, "read_logs", "bob", "1h", "req.json").expect_code(0);
    apply_emergency(path, T0, "req.json", &[], None).expect_code(0);
    unchanged();

    // A link where each file should be. (The state database holds the audit log too: a
    // `request`, which must record its event, is refused as well.)
    let request_again: &[&str] = &[
        "request",
        "read_logs",
        "--duration",
        "1h",
        "--justification",
        "INC-4",
        "--as",
        "bob",
        "--key",
        "keys/bob.key",
        "--out",
        "again.json",
    ];
    for (name, command) in [
        (".breakglass/state.db", &["reconcile"][..]),
        (".breakglass/state.db", request_again),
        ("app/access.json", &["reconcile"][..]),
    ] {
        let file = path.join(name);
        let saved = read(&file);
        fs_err::rename(&file, path.join("saved")).unwrap();
        symlink(&precious, &file).unwrap();
        let outcome = at(path, T0).args(command).run();
        assert_ne!(outcome.code, 0, "{name}: {}", outcome.stdout);
        assert!(
            outcome.stderr.contains(&format!("{name} is a symbolic link")),
            "{name}: {}",
            outcome.stderr
        );
        unchanged();
        fs_err::remove_file(&file).unwrap();
        fs_err::rename(path.join("saved"), &file).unwrap();
        assert_eq!(read(&file), saved);
    }
}

#[test]
fn overlapping_grants_of_one_object_are_not_drift() {
    let dir = ready();
    let path = dir.path();
    request(path, T0, "read_logs", "bob", "1h", "first.json").expect_code(0);
    apply_emergency(path, T0, "first.json", &[], None).expect_code(0);
    let t1 = plus(T0, 600);
    request(path, &t1, "read_logs", "bob", "1h", "second.json").expect_code(0);
    apply_emergency(path, &t1, "second.json", &[], None).expect_code(0);
    let plan = at(path, &t1).args(["plan", "--detailed-exitcode"]).run().expect_code(0);
    assert!(!plan.stdout.contains("changed outside"), "{}", plan.stdout);
    at(path, &t1).args(["reconcile"]).run().expect_code(0);
    at(path, &plus(T0, 1200)).args(["plan", "--detailed-exitcode"]).run().expect_code(0);
    // Changed by hand, it is drift again.
    let file = path.join("app/access.json");
    fs_err::write(&file, read(&file).replace("2026-11-28T13:10:00Z", "2099-01-01T00:00:00Z"))
        .unwrap();
    let plan = at(path, &plus(T0, 1200)).args(["plan"]).run().expect_code(0);
    assert!(plan.stdout.contains("changed outside of breakglass"), "{}", plan.stdout);
}

#[test]
fn show_checks_a_request_and_its_tokens_against_persons_keys() {
    let dir = ready();
    let path = dir.path();
    request(path, T0, "prod_admin", "alice", "30m", "req.json").expect_code(0);
    let carol = approve(path, T0, "req.json", "carol");
    let forever = token(path, "req.json", "dave", T0, "2099-01-01T00:00:00Z");
    let shown = at(path, &plus(T0, 60))
        .args(["show", "req.json", "--approval", &carol, "--approval", &forever])
        .run()
        .expect_code(0);
    snapshot!("show_request_with_tokens", shown.stderr);
    forge_text(path, "req.json", "alice", "long.json", |text| {
        text.replace("2026-11-28T12:30:00Z", "2026-11-28T22:00:00Z")
    });
    let shown = at(path, T0).args(["show", "long.json"]).run().expect_code(0);
    assert!(
        shown.stderr.contains("signed by alice, the requester it names.\napply --emergency would refuse it: the activation would last 10h"),
        "{}",
        shown.stderr
    );
    // Signed by someone other than the requester it names.
    forge(path, "req.json", "bob", "bob.json", |_| {});
    let shown = at(path, T0).args(["show", "bob.json"]).run().expect_code(0);
    assert!(
        shown
            .stderr
            .contains("NOT trusted: the request names alice as requester but is signed by bob"),
        "{}",
        shown.stderr
    );
    assert_eq!(last_event(path)["action"], "approval", "show writes nothing");
}
