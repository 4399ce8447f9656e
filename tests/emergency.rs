//! The emergency procedure on the quickstart, with controlled time: alice requests prod_admin,
//! carol and dave approve, the executor applies with alice's TOTP code, and the grant is
//! reverted at its end. Then every refusal: each names the failed condition, writes a refusal
//! event and leaves state unchanged.

use std::path::Path;

use breakglass::engine::emergency::TotpSecrets;

use crate::util::{Outcome, Run, example_copy, read};

pub(crate) const T0: &str = "2026-11-28T12:00:00Z";

pub(crate) fn at(dir: &Path, time: &str) -> Run {
    Run::new(dir).env("BREAKGLASS_TEST_NOW", time)
}

pub(crate) fn plus(time: &str, seconds: i64) -> String {
    let t: jiff::Timestamp = time.parse().unwrap();
    t.checked_add(jiff::SignedDuration::from_secs(seconds)).unwrap().to_string()
}

/// alice's TOTP code at `time`, from the demo secrets file.
pub(crate) fn totp(dir: &Path, person: &str, time: &str) -> String {
    let secrets = TotpSecrets::load(&dir.join("keys/totp-secrets.demo.json")).unwrap();
    secrets.code(person, time.parse().unwrap()).unwrap()
}

/// A quickstart copy with the baseline applied.
pub(crate) fn ready() -> tempfile::TempDir {
    let dir = example_copy("quickstart");
    at(dir.path(), T0).args(["apply", "--auto-approve"]).run().expect_code(0);
    dir
}

pub(crate) fn request(
    dir: &Path,
    time: &str,
    name: &str,
    person: &str,
    duration: &str,
    out: &str,
) -> Outcome {
    at(dir, time)
        .args([
            "request",
            name,
            "--duration",
            duration,
            "--justification",
            "INC-4711: payments API down",
        ])
        .args(["--as", person, "--key", &format!("keys/{person}.key"), "--out", out])
        .run()
}

pub(crate) fn approve(dir: &Path, time: &str, file: &str, person: &str) -> String {
    let outcome = at(dir, time)
        .args(["approve", file, "--as", person, "--key", &format!("keys/{person}.key"), "--yes"])
        .run()
        .expect_code(0);
    outcome.stdout.trim().to_owned()
}

pub(crate) fn apply_emergency(
    dir: &Path,
    time: &str,
    file: &str,
    tokens: &[&str],
    totp_code: Option<&str>,
) -> Outcome {
    let mut run = at(dir, time).args(["apply", "--emergency", file]);
    for token in tokens {
        run = run.args(["--approval", token]);
    }
    if let Some(code) = totp_code {
        run = run.args(["--totp", code]);
    }
    run.run()
}

pub(crate) fn state(dir: &Path) -> serde_json::Value {
    crate::util::state(dir)
}

pub(crate) fn activation_id(state: &serde_json::Value) -> String {
    state["activations"]
        .as_object()
        .unwrap()
        .keys()
        .find(|k| k.starts_with("act_"))
        .unwrap()
        .clone()
}

/// The last audit event, parsed.
pub(crate) fn last_event(dir: &Path) -> serde_json::Value {
    crate::util::last_event(dir)
}

#[test]
fn request_two_approvals_apply_status_and_revert_at_the_end() {
    let dir = ready();
    let path = dir.path();
    request(path, T0, "prod_admin", "alice", "30m", "req.json").expect_code(0);
    let t1 = plus(T0, 60);
    let carol = approve(path, &t1, "req.json", "carol");
    let dave = approve(path, &t1, "req.json", "dave");
    let t2 = plus(T0, 120);
    let applied =
        apply_emergency(path, &t2, "req.json", &[&carol, &dave], Some(&totp(path, "alice", &t2)));
    let applied = applied.expect_code(0);
    assert!(applied.stdout.contains("approved by carol, dave"), "{}", applied.stdout);
    let access = read(path.join("app/access.json"));
    assert!(access.contains("\"principal\": \"alice\""), "{access}");
    assert!(access.contains("\"expires_at\": \"2026-11-28T12:30:00Z\""), "native expiry: {access}");

    let state_now = state(path);
    let id = activation_id(&state_now);
    let record = &state_now["activations"][&id];
    assert_eq!(record["status"], "active");
    assert_eq!(record["authentication"], serde_json::json!(["signed request", "totp"]));
    assert_eq!(record["approvals"].as_array().unwrap().len(), 2);

    let status = at(path, &plus(T0, 600)).args(["status"]).run().expect_code(0);
    assert!(status.stdout.contains(&id), "{}", status.stdout);
    assert!(status.stdout.contains("[active, 20m left]"), "{}", status.stdout);
    assert!(status.stdout.contains("approved: carol, dave"), "{}", status.stdout);
    let json = at(path, &plus(T0, 600)).args(["status", "--json"]).run().expect_code(0).json();
    assert_eq!(json["activations"][0]["time_left_seconds"], 1200);

    let end_plus_one = "2026-11-28T12:30:01Z";
    let preview =
        at(path, &plus(T0, 700)).args(["plan", "--at", end_plus_one]).run().expect_code(0);
    assert!(
        preview.stdout.contains("role prod_admin for alice expired at 2026-11-28T12:30:00Z"),
        "{}",
        preview.stdout
    );
    assert!(preview.stdout.contains("will be destroyed"), "{}", preview.stdout);

    let reconciled =
        at(path, &plus(T0, 700)).args(["reconcile", "--at", end_plus_one]).run().expect_code(0);
    assert!(
        reconciled.stdout.contains(&format!("Activation {id} is reverted")),
        "{}",
        reconciled.stdout
    );
    assert!(!read(path.join("app/access.json")).contains("\"principal\": \"alice\""));
    at(path, &plus(T0, 700))
        .args(["plan", "--at", end_plus_one, "--detailed-exitcode"])
        .run()
        .expect_code(0);
    assert_eq!(state(path)["activations"][&id]["status"], "reverted");

    let log = crate::util::audit_text(path);
    for action in [
        "\"request\"",
        "\"approval\"",
        "\"approval.accepted\"",
        "\"apply.emergency\"",
        "\"activation.active\"",
        "\"activation.revoked\"",
        "\"activation.reverted\"",
    ] {
        assert!(log.contains(&format!("\"action\":{action}")), "audit has {action}:\n{log}");
    }
    // `reconcile --at` took the access back at the executor's time, before its end: the log says
    // so rather than that it expired.
    assert!(!log.contains("\"action\":\"activation.expired\""), "{log}");
    let ended = log
        .lines()
        .find(|line| line.contains("\"action\":\"activation.revoked\""))
        .expect("a revocation event");
    assert!(ended.contains(&format!("\"time\":\"{}\"", plus(T0, 700))), "{ended}");
    assert!(ended.contains("ended early by reconcile --at 2026-11-28T12:30:01Z"), "{ended}");
    assert!(at(path, T0).args(["audit", "verify"]).run().code == 0);
}

#[test]
fn a_low_risk_role_is_auto_approved_and_audited_as_such() {
    let dir = ready();
    let path = dir.path();
    request(path, T0, "read_logs", "bob", "2h", "req.json").expect_code(0);
    let applied = apply_emergency(path, &plus(T0, 30), "req.json", &[], None).expect_code(0);
    assert!(applied.stdout.contains("auto-approved"), "{}", applied.stdout);
    let state_now = state(path);
    let id = activation_id(&state_now);
    assert_eq!(state_now["activations"][&id]["auto_approved"], true);
    assert!(crate::util::audit_text(path).contains("\"auto_approved\":true"));
}

#[test]
fn an_override_turns_the_kill_switch_off_and_its_revert_restores_the_value() {
    let dir = ready();
    let path = dir.path();
    request(path, T0, "chatbot_kill_switch", "bob", "2h", "req.json").expect_code(0);
    let carol = approve(path, T0, "req.json", "carol");
    apply_emergency(path, &plus(T0, 10), "req.json", &[&carol], None).expect_code(0);
    assert!(
        read(path.join("app/access.json")).contains("\"chatbot.model_endpoint.enabled\": \"off\"")
    );
    let id = activation_id(&state(path));
    assert_eq!(
        state(path)["activations"][&id]["priors"]["local_setting.chatbot_endpoint"]["value"],
        "on"
    );
    at(path, &plus(T0, 60))
        .args(["revoke", &id, "--reason", "chatbot fixed", "--as", "carol"])
        .run()
        .expect_code(0);
    assert!(
        read(path.join("app/access.json")).contains("\"chatbot.model_endpoint.enabled\": \"on\"")
    );
    let record = &state(path)["activations"][&id];
    assert_eq!(record["status"], "reverted");
    assert_eq!(record["revoked"]["by"], "carol");
}

#[test]
fn an_extension_moves_the_end_without_a_gap_within_max_duration() {
    let dir = ready();
    let path = dir.path();
    request(path, T0, "prod_admin", "alice", "30m", "req.json").expect_code(0);
    let (carol, dave) =
        (approve(path, T0, "req.json", "carol"), approve(path, T0, "req.json", "dave"));
    apply_emergency(path, T0, "req.json", &[&carol, &dave], Some(&totp(path, "alice", T0)))
        .expect_code(0);
    let id = activation_id(&state(path));
    let t = plus(T0, 20 * 60);
    let too_long = at(path, &t)
        .args([
            "extend",
            &id,
            "--duration",
            "45m",
            "--justification",
            "still broken",
            "--as",
            "alice",
        ])
        .args(["--key", "keys/alice.key", "--out", "ext.json"])
        .run()
        .expect_code(5);
    assert!(too_long.stderr.contains("longer than role.prod_admin allows"), "{}", too_long.stderr);
    at(path, &t)
        .args([
            "extend",
            &id,
            "--duration",
            "20m",
            "--justification",
            "migration still running",
            "--as",
            "alice",
        ])
        .args(["--key", "keys/alice.key", "--out", "ext.json"])
        .run()
        .expect_code(0);
    let (carol, dave) =
        (approve(path, &t, "ext.json", "carol"), approve(path, &t, "ext.json", "dave"));
    let t2 = plus(T0, 21 * 60);
    apply_emergency(path, &t2, "ext.json", &[&carol, &dave], Some(&totp(path, "alice", &t2)))
        .expect_code(0);
    let record = &state(path)["activations"][&id];
    assert_eq!(record["end"], "2026-11-28T12:50:00Z");
    assert_eq!(record["status"], "active");
    assert_eq!(record["extensions"][0]["previous_end"], "2026-11-28T12:30:00Z");
    assert!(
        read(path.join("app/access.json")).contains("\"expires_at\": \"2026-11-28T12:50:00Z\"")
    );
    // At the old end nothing is reverted; at the new end it is.
    at(path, "2026-11-28T12:30:30Z").args(["reconcile"]).run().expect_code(0);
    assert!(read(path.join("app/access.json")).contains("\"principal\": \"alice\""));
    at(path, "2026-11-28T12:50:01Z").args(["reconcile"]).run().expect_code(0);
    assert!(!read(path.join("app/access.json")).contains("\"principal\": \"alice\""));
}

#[test]
fn an_apply_that_died_after_its_write_ahead_record_is_reverted_by_reconcile() {
    let dir = ready();
    let path = dir.path();
    request(path, T0, "read_logs", "bob", "2h", "req.json").expect_code(0);
    apply_emergency(path, T0, "req.json", &[], None).expect_code(0);
    // Simulate a crash between the grant and its confirmation: the record says applying.
    let mut recorded = state(path);
    let id = activation_id(&recorded);
    recorded["activations"][&id]["status"] = "applying".into();
    crate::util::write_activations(path, &[recorded["activations"][&id].clone()]);
    let outcome = at(path, &plus(T0, 60)).args(["reconcile"]).run().expect_code(0);
    assert!(outcome.stdout.contains(&format!("Activation {id} is reverted")), "{}", outcome.stdout);
    assert!(!read(path.join("app/access.json")).contains("log-reader"));
    assert_eq!(
        state(path)["activations"][&id]["revoked"]["reason"],
        "its apply did not finish; reverted for safety"
    );
}

/// A refusal: exit 5, the reason on stderr, a refusal event, and nothing else changed.
pub(crate) fn assert_refused(dir: &Path, outcome: Outcome, reason: &str) {
    let outcome = outcome.expect_code(5);
    assert!(outcome.stderr.contains(reason), "expected {reason:?} in:\n{}", outcome.stderr);
    let event = last_event(dir);
    assert_eq!(event["action"], "refusal", "{event}");
    assert!(event["reason"].as_str().unwrap().contains(reason), "{event}");
}

/// Runs `apply --emergency`, checks it is refused for `reason`, and that state and the
/// application file did not change.
pub(crate) fn refused_apply(
    dir: &Path,
    time: &str,
    file: &str,
    tokens: &[&str],
    totp_code: Option<&str>,
    reason: &str,
) {
    let before = (crate::util::state_text(dir), read(dir.join("app/access.json")));
    assert_refused(dir, apply_emergency(dir, time, file, tokens, totp_code), reason);
    let after = (crate::util::state_text(dir), read(dir.join("app/access.json")));
    assert_eq!(before, after, "a refusal changes nothing");
}

/// A request for prod_admin by alice with carol's and dave's tokens, at T0.
fn approved_request(dir: &Path) -> (String, String) {
    request(dir, T0, "prod_admin", "alice", "30m", "req.json").expect_code(0);
    (approve(dir, T0, "req.json", "carol"), approve(dir, T0, "req.json", "dave"))
}

#[test]
fn refused_forged_token() {
    let dir = ready();
    let (carol, _) = approved_request(dir.path());
    // Signed by mallory's key, claiming to be dave's: not an approver's signature.
    let forged = {
        let path = dir.path().join("mallory.key");
        breakglass::sign::generate_key_pair(&path).unwrap();
        let key = breakglass::sign::PrivateKey::load(&path).unwrap();
        let signed = breakglass::sign::read_plan_file(&dir.path().join("req.json")).unwrap();
        breakglass::sign::Approval {
            approver: "dave".into(),
            decision: breakglass::sign::Decision::Approve,
            plan_digest: signed.digest,
            activation: "x".into(),
            issued_at: T0.parse().unwrap(),
            expires_at: "2026-11-28T13:00:00Z".parse().unwrap(),
            nonce: "forged".into(),
            comment: None,
        }
        .sign(&key)
    };
    let code = totp(dir.path(), "alice", T0);
    refused_apply(
        dir.path(),
        T0,
        "req.json",
        &[&carol, &forged],
        Some(&code),
        "approval token #2 is not signed by an approver of role.prod_admin",
    );
}

#[test]
fn refused_token_for_another_plan() {
    let dir = ready();
    let (carol, _) = approved_request(dir.path());
    request(dir.path(), T0, "prod_admin", "bob", "30m", "other.json").expect_code(0);
    let other = approve(dir.path(), T0, "other.json", "dave");
    let code = totp(dir.path(), "alice", T0);
    refused_apply(
        dir.path(),
        T0,
        "req.json",
        &[&carol, &other],
        Some(&code),
        "approval token #2 (by dave) is for another plan",
    );
}

#[test]
fn refused_replayed_token() {
    let dir = ready();
    let (carol, dave) = approved_request(dir.path());
    apply_emergency(
        dir.path(),
        T0,
        "req.json",
        &[&carol, &dave],
        Some(&totp(dir.path(), "alice", T0)),
    )
    .expect_code(0);
    // The same tokens on a new request by alice.
    request(dir.path(), &plus(T0, 60), "prod_admin", "alice", "10m", "again.json").expect_code(0);
    let code = totp(dir.path(), "alice", &plus(T0, 90));
    refused_apply(
        dir.path(),
        &plus(T0, 90),
        "again.json",
        &[&carol, &dave],
        Some(&code),
        "approval token #1 (by carol) is for another plan",
    );
    // Replayed on the same request: already applied.
    refused_apply(
        dir.path(),
        &plus(T0, 90),
        "req.json",
        &[&carol, &dave],
        Some(&code),
        "this request was already applied",
    );
}

#[test]
fn refused_token_used_twice_within_one_apply_counts_once_and_nonce_replay_is_caught() {
    let dir = ready();
    let (carol, _) = approved_request(dir.path());
    let code = totp(dir.path(), "alice", T0);
    refused_apply(
        dir.path(),
        T0,
        "req.json",
        &[&carol, &carol],
        Some(&code),
        "quorum not met: 1 of 2 approvals from approvers.leads (carol); carol approved more than once, counted once",
    );
}

#[test]
fn refused_one_approver_twice() {
    let dir = ready();
    let (carol, _) = approved_request(dir.path());
    let carol_again = approve(dir.path(), &plus(T0, 5), "req.json", "carol");
    let code = totp(dir.path(), "alice", T0);
    refused_apply(
        dir.path(),
        &plus(T0, 10),
        "req.json",
        &[&carol, &carol_again],
        Some(&code),
        "carol approved more than once, counted once",
    );
}

#[test]
fn refused_quorum_not_met() {
    let dir = ready();
    let (carol, _) = approved_request(dir.path());
    let code = totp(dir.path(), "alice", T0);
    refused_apply(
        dir.path(),
        T0,
        "req.json",
        &[&carol],
        Some(&code),
        "quorum not met: 1 of 2 approvals from approvers.leads (carol)",
    );
}

#[test]
fn refused_expired_token() {
    let dir = ready();
    request(dir.path(), T0, "chatbot_kill_switch", "bob", "1h", "req.json").expect_code(0);
    let carol = approve(dir.path(), T0, "req.json", "carol");
    refused_apply(
        dir.path(),
        &plus(T0, 31 * 60),
        "req.json",
        &[&carol],
        None,
        "approval token #1 (by carol) expired at 2026-11-28T12:30:00Z",
    );
}

#[test]
fn refused_token_older_than_max_token_age() {
    let dir = ready();
    let (carol, dave) = approved_request(dir.path());
    let later = plus(T0, 16 * 60);
    let code = totp(dir.path(), "alice", &later);
    refused_apply(
        dir.path(),
        &later,
        "req.json",
        &[&carol, &dave],
        Some(&code),
        "more than 15m ago (max_token_age)",
    );
}

#[test]
fn refused_self_approval() {
    let dir = example_copy("quickstart");
    // carol joins on-call, so she may request; approvers.leads does not allow self-approval.
    let people = dir.path().join("people.hcl");
    let text = read(&people)
        .replace("[person.alice, person.bob]", "[person.alice, person.bob, person.carol]")
        .replace(
            "  public_key   = file(\"keys/carol.pub\")\n",
            "  public_key   = file(\"keys/carol.pub\")\n  identities   = { local = \"carol\" }\n",
        );
    fs_err::write(&people, text).unwrap();
    at(dir.path(), T0).args(["apply", "--auto-approve"]).run().expect_code(0);
    request(dir.path(), T0, "chatbot_kill_switch", "carol", "1h", "req.json").expect_code(0);
    let own = at(dir.path(), T0)
        .args(["approve", "req.json", "--as", "carol", "--key", "keys/carol.key", "--yes"])
        .run();
    assert_refused(dir.path(), own, "carol cannot approve their own request");
    // A token made anyway (signed by hand) is refused at apply.
    let token = {
        let key = breakglass::sign::PrivateKey::load(&dir.path().join("keys/carol.key")).unwrap();
        let signed = breakglass::sign::read_plan_file(&dir.path().join("req.json")).unwrap();
        breakglass::sign::Approval {
            approver: "carol".into(),
            decision: breakglass::sign::Decision::Approve,
            activation: signed.plan().unwrap().request.unwrap().activation.id,
            plan_digest: signed.digest,
            issued_at: T0.parse().unwrap(),
            expires_at: "2026-11-28T12:30:00Z".parse().unwrap(),
            nonce: "n1".into(),
            comment: None,
        }
        .sign(&key)
    };
    refused_apply(
        dir.path(),
        T0,
        "req.json",
        &[&token],
        None,
        "carol cannot approve their own request: approvers.leads does not allow self-approval",
    );
}

#[test]
fn refused_wrong_totp() {
    let dir = ready();
    let (carol, dave) = approved_request(dir.path());
    let right = totp(dir.path(), "alice", T0);
    let wrong = if right == "000000" { "111111" } else { "000000" };
    refused_apply(
        dir.path(),
        T0,
        "req.json",
        &[&carol, &dave],
        Some(wrong),
        "the TOTP code for alice is wrong",
    );
    refused_apply(
        dir.path(),
        T0,
        "req.json",
        &[&carol, &dave],
        None,
        "needs a TOTP code from alice's authenticator app: pass --totp CODE",
    );
    // A code from 90 seconds earlier is outside ±1 step.
    let stale = totp(dir.path(), "alice", &plus(T0, -90));
    refused_apply(
        dir.path(),
        T0,
        "req.json",
        &[&carol, &dave],
        Some(&stale),
        "the TOTP code for alice is wrong",
    );
}

#[test]
fn refused_reused_totp() {
    let dir = ready();
    let (carol, dave) = approved_request(dir.path());
    let code = totp(dir.path(), "alice", T0);
    apply_emergency(dir.path(), T0, "req.json", &[&carol, &dave], Some(&code)).expect_code(0);
    request(dir.path(), &plus(T0, 1), "prod_admin", "alice", "10m", "again.json").expect_code(0);
    let (carol, dave) = (
        approve(dir.path(), &plus(T0, 1), "again.json", "carol"),
        approve(dir.path(), &plus(T0, 1), "again.json", "dave"),
    );
    refused_apply(
        dir.path(),
        &plus(T0, 2),
        "again.json",
        &[&carol, &dave],
        Some(&code),
        "this TOTP code for alice was already used",
    );
}

#[test]
fn refused_requester_not_allowed_and_duration_too_long_and_no_justification() {
    let dir = ready();
    let path = dir.path();
    assert_refused(
        path,
        request(path, T0, "prod_admin", "carol", "30m", "r.json"),
        "carol may not request role.prod_admin: its requesters are team.oncall (alice, bob)",
    );
    assert_refused(
        path,
        request(path, T0, "prod_admin", "alice", "2h", "r.json"),
        "2h is longer than role.prod_admin allows (max_duration 1h)",
    );
    let empty = at(path, T0)
        .args([
            "request",
            "prod_admin",
            "--duration",
            "30m",
            "--justification",
            " ",
            "--as",
            "alice",
            "--key",
            "keys/alice.key",
            "--out",
            "r.json",
        ])
        .run();
    assert_refused(path, empty, "a justification is required");
    let wrong_key = at(path, T0)
        .args([
            "request",
            "prod_admin",
            "--duration",
            "30m",
            "--justification",
            "x",
            "--as",
            "alice",
            "--key",
            "keys/bob.key",
            "--out",
            "r.json",
        ])
        .run();
    assert_refused(path, wrong_key, "keys/bob.key is not alice's key");
    assert!(!path.join("r.json").exists(), "nothing was written");
}

#[test]
fn refused_when_the_requester_is_no_longer_allowed_at_apply_time() {
    let dir = ready();
    let (carol, dave) = approved_request(dir.path());
    // alice leaves on-call after requesting: who may request is checked first, before the
    // request is found stale (the policy changed) or anything is compiled.
    let people = dir.path().join("people.hcl");
    fs_err::write(&people, read(&people).replace("[person.alice, person.bob]", "[person.bob]"))
        .unwrap();
    let code = totp(dir.path(), "alice", T0);
    refused_apply(
        dir.path(),
        T0,
        "req.json",
        &[&carol, &dave],
        Some(&code),
        "alice may not request role.prod_admin: its requesters are team.oncall (bob)",
    );
}

#[test]
fn refused_stale_request_when_live_objects_changed() {
    let dir = ready();
    let (carol, dave) = approved_request(dir.path());
    // Someone grants alice prod-admin by hand meanwhile: the request would now change nothing.
    let access = dir.path().join("app/access.json");
    let mut document: serde_json::Value = serde_json::from_str(&read(&access)).unwrap();
    document["access"]
        .as_array_mut()
        .unwrap()
        .push(serde_json::json!({"principal": "alice", "role": "prod-admin"}));
    fs_err::write(&access, document.to_string()).unwrap();
    let code = totp(dir.path(), "alice", T0);
    refused_apply(
        dir.path(),
        T0,
        "req.json",
        &[&carol, &dave],
        Some(&code),
        "the live objects the request touches changed since it was made",
    );
}

#[test]
fn refused_tampered_request() {
    let dir = ready();
    let (carol, dave) = approved_request(dir.path());
    let file = dir.path().join("req.json");
    let mut envelope: serde_json::Value = serde_json::from_str(&read(&file)).unwrap();
    use base64::Engine;
    let engine = base64::engine::general_purpose::STANDARD;
    let payload =
        String::from_utf8(engine.decode(envelope["payload"].as_str().unwrap()).unwrap()).unwrap();
    envelope["payload"] = engine.encode(payload.replace("12:30:00Z", "23:30:00Z")).into();
    fs_err::write(&file, envelope.to_string()).unwrap();
    let code = totp(dir.path(), "alice", T0);
    refused_apply(
        dir.path(),
        T0,
        "req.json",
        &[&carol, &dave],
        Some(&code),
        "the request's signature does not verify",
    );
}

#[test]
fn refused_expired_request() {
    let dir = ready();
    let (carol, dave) = approved_request(dir.path());
    let late = plus(T0, 61 * 60);
    let code = totp(dir.path(), "alice", &late);
    refused_apply(
        dir.path(),
        &late,
        "req.json",
        &[&carol, &dave],
        Some(&code),
        "the request expired at 2026-11-28T13:00:00Z",
    );
}

#[test]
fn refused_denied_request() {
    let dir = ready();
    let (carol, _) = approved_request(dir.path());
    let denial = at(dir.path(), T0)
        .args([
            "approve",
            "req.json",
            "--as",
            "dave",
            "--key",
            "keys/dave.key",
            "--yes",
            "--deny",
            "--comment",
            "use read_logs",
        ])
        .run()
        .expect_code(0)
        .stdout;
    let code = totp(dir.path(), "alice", T0);
    refused_apply(
        dir.path(),
        T0,
        "req.json",
        &[&carol, denial.trim()],
        Some(&code),
        "dave denied the request: use read_logs",
    );
}

#[test]
fn refused_beyond_a_limit() {
    let dir = ready();
    let path = dir.path();
    // limit high_risk_monthly: at most 3 high-risk activations per person in 30 days.
    for round in 0..3 {
        let time = plus(T0, round * 3600);
        request(path, &time, "chatbot_kill_switch", "bob", "10m", "kill.json").expect_code(0);
        let carol = approve(path, &time, "kill.json", "carol");
        apply_emergency(path, &time, "kill.json", &[&carol], None).expect_code(0);
    }
    assert_refused(
        path,
        request(path, &plus(T0, 4 * 3600), "chatbot_kill_switch", "bob", "10m", "kill.json"),
        "limit \"high_risk_monthly\": bob already had 3 matching activation(s) in the last 30d (at most 3)",
    );
}

#[test]
fn watch_reverts_within_a_second_of_expiry_and_stops_cleanly_on_sigterm() {
    let dir = example_copy("quickstart");
    let path = dir.path();
    Run::new(path).real_clock().args(["apply", "--auto-approve"]).run().expect_code(0);
    let mut watch = Run::new(path).real_clock().args(["watch", "--interval", "1h"]).spawn();
    Run::new(path)
        .real_clock()
        .args(["request", "read_logs", "--duration", "3s", "--justification", "INC-1: quick look"])
        .args(["--as", "bob", "--key", "keys/bob.key", "--out", "req.json"])
        .run()
        .expect_code(0);
    Run::new(path).real_clock().args(["apply", "--emergency", "req.json"]).run().expect_code(0);
    let id = activation_id(&state(path));
    let end: jiff::Timestamp =
        state(path)["activations"][&id]["end"].as_str().unwrap().parse().unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let reverted_at = loop {
        let current = state(path);
        if current["activations"][&id]["status"] == "reverted" {
            break current["activations"][&id]["reverted_at"]
                .as_str()
                .unwrap()
                .parse::<jiff::Timestamp>()
                .unwrap();
        }
        assert!(std::time::Instant::now() < deadline, "watch did not revert in time:\n{current}");
        std::thread::sleep(std::time::Duration::from_millis(100));
    };
    let latency = reverted_at.duration_since(end).as_secs_f64();
    assert!(latency <= 1.0, "reverted {latency}s after the end");
    assert!(!read(path.join("app/access.json")).contains("log-reader"));
    // SIGTERM: finishes and exits 0.
    std::process::Command::new("kill").args(["-TERM", &watch.id().to_string()]).status().unwrap();
    let status = watch.wait().unwrap();
    assert_eq!(status.code(), Some(0));
}

#[test]
fn overlapping_grants_of_one_role_hand_over_instead_of_cutting_access_short() {
    let dir = ready();
    let path = dir.path();
    request(path, T0, "read_logs", "bob", "1h", "first.json").expect_code(0);
    apply_emergency(path, T0, "first.json", &[], None).expect_code(0);
    let t1 = plus(T0, 30 * 60);
    request(path, &t1, "read_logs", "bob", "2h", "second.json").expect_code(0);
    apply_emergency(path, &t1, "second.json", &[], None).expect_code(0);
    let access = read(path.join("app/access.json"));
    assert_eq!(access.matches("log-reader").count(), 1, "one entry, shared: {access}");
    assert!(
        access.contains("\"expires_at\": \"2026-11-28T14:30:00Z\""),
        "the later end wins: {access}"
    );

    // The first ends: nothing is deleted, the entry now belongs to the second.
    let after_first = "2026-11-28T13:00:01Z";
    let plan = at(path, after_first).args(["plan", "--detailed-exitcode"]).run().expect_code(0);
    assert!(!plan.stdout.contains("will be destroyed"), "{}", plan.stdout);
    at(path, after_first).args(["reconcile"]).run().expect_code(0);
    let access = read(path.join("app/access.json"));
    assert!(access.contains("log-reader"), "still there: {access}");
    let records = state(path);
    let statuses: Vec<&str> = records["activations"]
        .as_object()
        .unwrap()
        .values()
        .map(|a| a["status"].as_str().unwrap())
        .collect();
    assert_eq!(statuses.iter().filter(|s| **s == "reverted").count(), 1, "{statuses:?}");
    assert_eq!(statuses.iter().filter(|s| **s == "active").count(), 1, "{statuses:?}");

    at(path, "2026-11-28T14:30:01Z").args(["reconcile"]).run().expect_code(0);
    assert!(!read(path.join("app/access.json")).contains("log-reader"));
    at(path, "2026-11-28T14:30:02Z").args(["plan", "--detailed-exitcode"]).run().expect_code(0);
}

#[test]
fn two_live_overrides_of_one_value_restore_the_original_when_the_last_ends() {
    let dir = ready();
    let path = dir.path();
    let setting = || read(path.join("app/access.json"));
    request(path, T0, "chatbot_kill_switch", "bob", "2h", "bob.json").expect_code(0);
    let carol = approve(path, T0, "bob.json", "carol");
    apply_emergency(path, T0, "bob.json", &[&carol], None).expect_code(0);
    let t1 = plus(T0, 10 * 60);
    request(path, &t1, "chatbot_kill_switch", "alice", "1h", "alice.json").expect_code(0);
    let dave = approve(path, &t1, "alice.json", "dave");
    apply_emergency(path, &t1, "alice.json", &[&dave], None).expect_code(0);
    assert!(setting().contains("\"off\""));
    // alice's ends first: bob's still holds the switch off.
    at(path, "2026-11-28T13:10:01Z").args(["reconcile"]).run().expect_code(0);
    assert!(setting().contains("\"chatbot.model_endpoint.enabled\": \"off\""), "{}", setting());
    // bob's ends: the value from before either began comes back.
    at(path, "2026-11-28T14:00:01Z").args(["reconcile"]).run().expect_code(0);
    assert!(setting().contains("\"chatbot.model_endpoint.enabled\": \"on\""), "{}", setting());
}

#[test]
fn a_revert_reports_a_conflict_instead_of_clobbering_a_value_changed_meanwhile() {
    let dir = ready();
    let path = dir.path();
    request(path, T0, "chatbot_kill_switch", "bob", "2h", "req.json").expect_code(0);
    let carol = approve(path, T0, "req.json", "carol");
    apply_emergency(path, T0, "req.json", &[&carol], None).expect_code(0);
    let id = activation_id(&state(path));
    // Someone sets the switch by hand while the override is live.
    let file = path.join("app/access.json");
    fs_err::write(&file, read(&file).replace("\"off\"", "\"maintenance\"")).unwrap();
    let end = "2026-11-28T14:00:01Z";
    let plan = at(path, end).args(["plan"]).run().expect_code(0);
    assert!(
        plan.stdout.contains("was changed outside breakglass while an override held it"),
        "{}",
        plan.stdout
    );
    assert!(plan.stdout.contains("value = \"off\" -> \"maintenance\""), "{}", plan.stdout);
    assert!(
        !plan.stdout.contains("will be updated"),
        "no clobbering change is planned: {}",
        plan.stdout
    );
    at(path, end).args(["reconcile"]).run().expect_code(8);
    assert!(read(&file).contains("\"maintenance\""), "left as is");
    let record = &state(path)["activations"][&id];
    assert_eq!(record["status"], "reverted");
    let flag = record["flags"][0].as_str().unwrap();
    assert!(
        flag.contains(
            "conflict: local_setting.chatbot_endpoint.value was changed to \"maintenance\""
        ),
        "{flag}"
    );
}

#[test]
fn a_drill_rehearses_every_step_and_changes_nothing() {
    let dir = ready();
    let path = dir.path();
    let before = (crate::util::state_text(path), read(path.join("app/access.json")));
    let drill = at(path, T0).args(["drill", "prod_admin"]).run().expect_code(0);
    for step in [
        "throwaway keys",
        "checks 1-3: signed by the requester, who may request it",
        "checks 5-11: tokens signed by approvers",
        "quorum 2 met",
        "check 12: TOTP code verified",
        "Drill passed",
    ] {
        assert!(drill.stdout.contains(step), "{step}:\n{}", drill.stdout);
    }
    assert!(drill.stdout.contains("+ role.prod_admin[\"alice:act_"), "{}", drill.stdout);
    assert_eq!(before, (crate::util::state_text(path), read(path.join("app/access.json"))));
    assert_eq!(last_event(path)["action"], "drill");
    // A drill also finds what would stop a real request.
    let refused = at(path, T0).args(["drill", "prod_admin", "--as", "carol"]).run();
    assert_eq!(refused.code, 5, "{}", refused.stderr);
    assert!(refused.stderr.contains("carol may not request role.prod_admin"), "{}", refused.stderr);
}

#[test]
fn access_that_predates_a_grant_survives_its_revert_untouched() {
    let dir = ready();
    let path = dir.path();
    // bob already reads logs, outside breakglass and for good.
    let access = path.join("app/access.json");
    let mut document: serde_json::Value = serde_json::from_str(&read(&access)).unwrap();
    document["access"]
        .as_array_mut()
        .unwrap()
        .push(serde_json::json!({"principal": "bob", "role": "log-reader"}));
    fs_err::write(&access, document.to_string()).unwrap();
    let before = read(&access);
    request(path, T0, "read_logs", "bob", "1h", "req.json").expect_code(0);
    apply_emergency(path, T0, "req.json", &[], None).expect_code(0);
    assert_eq!(read(&access), before, "the grant found the access there and set no expiry on it");
    let id = activation_id(&state(path));
    assert_eq!(state(path)["activations"][&id]["status"], "active");
    let held: Vec<String> = state(path)["resources"].as_object().unwrap().keys().cloned().collect();
    assert!(held.iter().any(|k| k.contains(&id)), "recorded as the activation's: {held:?}");
    let end = "2026-11-28T13:00:01Z";
    let plan = at(path, end).args(["plan", "--detailed-exitcode"]).run().expect_code(0);
    assert!(!plan.stdout.contains("will be destroyed"), "{}", plan.stdout);
    at(path, end).args(["reconcile"]).run().expect_code(0);
    assert_eq!(read(&access), before, "bob keeps the access he had before");
    assert_eq!(state(path)["activations"][&id]["status"], "reverted");
    let held: Vec<String> = state(path)["resources"].as_object().unwrap().keys().cloned().collect();
    assert!(held.iter().all(|k| !k.contains(&id)), "no longer held: {held:?}");
}

/// kill -9 at each write-ahead point of an emergency apply, on the SQLite state: whatever was
/// granted, the state knows (an `applying` record, with the object once recorded); the lock
/// and the database recover; the log verifies; and reconcile reverts it.
#[test]
fn an_emergency_apply_killed_at_each_write_ahead_point_leaves_no_orphan() {
    use std::io::BufRead;
    for point in [
        breakglass::crash::AFTER_WRITE_AHEAD,
        breakglass::crash::AFTER_GRANT,
        breakglass::crash::AFTER_RECORD,
    ] {
        let dir = ready();
        let path = dir.path();
        request(path, T0, "read_logs", "bob", "2h", "req.json").expect_code(0);
        let mut child = at(path, T0)
            .env("BREAKGLASS_TEST_CRASH_AT", point)
            .args(["apply", "--emergency", "req.json"])
            .spawn();
        let mut stderr = std::io::BufReader::new(child.stderr.take().unwrap());
        let mut line = String::new();
        loop {
            line.clear();
            assert!(stderr.read_line(&mut line).unwrap() > 0, "{point}: exited before the point");
            if line.contains(&format!("crash point {point} reached")) {
                break;
            }
        }
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();

        let granted = read(path.join("app/access.json")).contains("log-reader");
        let recorded = state(path);
        let id = activation_id(&recorded);
        let activation = &recorded["activations"][&id];
        assert_eq!(activation["status"], "applying", "{point}: the record was written ahead");
        // The object it grants is on record before the provider is called.
        let held = recorded["resources"]
            .as_object()
            .unwrap()
            .values()
            .any(|r| r["activation"] == id.as_str() && r["id"] == "bob/log-reader");
        assert!(held, "{point}: state knows the object");
        assert_eq!(granted, point != breakglass::crash::AFTER_WRITE_AHEAD, "{point}");
        at(path, T0).args(["audit", "verify"]).run().expect_code(0);

        // Still within the requested two hours: reconcile reverts the interrupted grant.
        let outcome = at(path, &plus(T0, 60)).args(["reconcile"]).run().expect_code(0);
        assert!(outcome.stdout.contains(&format!("Activation {id} is reverted")), "{point}");
        assert!(!read(path.join("app/access.json")).contains("log-reader"), "{point}");
        let after = state(path);
        assert_eq!(after["activations"][&id]["status"], "reverted", "{point}");
        assert_eq!(
            after["activations"][&id]["revoked"]["reason"],
            "its apply did not finish; reverted for safety"
        );
        at(path, T0).args(["audit", "verify"]).run().expect_code(0);
    }
}
