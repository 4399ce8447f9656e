//! `breakglass requests`: what awaits my approval, what I asked for, what is pending — from the
//! console's inbox and from the requests and approvals this folder's audit log records.

use crate::emergency::{T0, apply_emergency, approve, at, plus, ready, request, totp};

/// The text with the request's id (random) replaced.
fn redacted(text: &str, id: &str) -> String {
    text.replace(id, "[ID]")
}

#[test]
fn requests_shows_what_awaits_each_approver_and_each_requesters_own() {
    let dir = ready();
    let path = dir.path();
    let made = request(path, T0, "prod_admin", "alice", "30m", "req.json").expect_code(0);
    let line = made.stdout.lines().find(|l| l.starts_with("Request act_")).expect("request line");
    let id = line.split_whitespace().nth(1).unwrap().to_owned();

    let t1 = plus(T0, 30);
    let carol = at(path, &t1).args(["requests", "--as", "carol"]).run().expect_code(0);
    let awaiting = carol.stdout.split("Requested by carol").next().unwrap();
    assert!(awaiting.starts_with("Awaiting carol's approval (1):"), "{}", carol.stdout);
    assert!(awaiting.contains("0 of 2; may still approve: carol, dave"), "{}", carol.stdout);

    let carols = approve(path, &plus(T0, 60), "req.json", "carol");
    let dave = at(path, &plus(T0, 90)).args(["requests", "--as", "dave"]).run().expect_code(0);
    snapshot!("requests_as_dave", redacted(&dave.stdout, &id));
    let from_env = at(path, &plus(T0, 90)).args(["requests"]).env("BREAKGLASS_AS", "dave").run();
    assert_eq!(from_env.stdout, dave.stdout, "BREAKGLASS_AS stands for --as");
    // carol has decided: nothing awaits her any more, and alice cannot approve her own.
    let carol = at(path, &plus(T0, 90)).args(["requests", "--as", "carol", "--json"]).run();
    let carol = carol.expect_code(0).json();
    assert_eq!(carol["awaiting_my_approval"], serde_json::json!([]));
    assert_eq!(carol["others"][0]["id"], id.as_str());
    assert_eq!(carol["others"][0]["approved_by"], serde_json::json!(["carol"]));
    assert_eq!(carol["others"][0]["may_approve"], serde_json::json!(["dave"]));
    let alice = at(path, &plus(T0, 90)).args(["requests", "--as", "alice", "--json"]).run();
    let alice = alice.expect_code(0).json();
    assert_eq!(alice["awaiting_my_approval"], serde_json::json!([]));
    assert_eq!(alice["mine"][0]["status"], "pending");
    assert_eq!(alice["mine"][0]["quorum"], 2);

    let daves = approve(path, &plus(T0, 100), "req.json", "dave");
    let t2 = plus(T0, 120);
    apply_emergency(path, &t2, "req.json", &[&carols, &daves], Some(&totp(path, "alice", &t2)))
        .expect_code(0);
    let after = at(path, &plus(T0, 130)).args(["requests", "--as", "alice", "--json"]).run();
    let after = after.expect_code(0).json();
    assert_eq!(after["mine"][0]["status"], "applied", "{after}");
    let pending = at(path, &plus(T0, 130)).args(["requests"]).run().expect_code(0);
    assert_eq!(pending.stdout, "Pending requests (0):\n  none\n\n");
}

#[test]
fn an_old_request_expires_and_only_all_lists_it() {
    let dir = ready();
    let path = dir.path();
    request(path, T0, "prod_admin", "bob", "30m", "req.json").expect_code(0);
    // request_lifetime is 1h: two hours later nobody can approve it any more.
    let later = plus(T0, 7200);
    let pending = at(path, &later).args(["requests", "--as", "carol", "--json"]).run();
    let pending = pending.expect_code(0).json();
    assert_eq!(pending["awaiting_my_approval"], serde_json::json!([]));
    assert_eq!(pending["others"], serde_json::json!([]));
    let all = at(path, &later).args(["requests", "--all", "--json"]).run().expect_code(0).json();
    assert_eq!(all["others"][0]["status"], "expired", "{all}");
    assert_eq!(all["others"][0]["may_approve"], serde_json::json!([]));
}

#[test]
fn requests_for_an_unknown_person_says_who_there_is() {
    let dir = ready();
    let outcome = at(dir.path(), T0).args(["requests", "--as", "mallory"]).run().expect_code(1);
    assert!(
        outcome.stderr.contains("mallory is not a person in the policy; the persons are: alice"),
        "{}",
        outcome.stderr
    );
}
