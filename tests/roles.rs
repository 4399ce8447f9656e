//! `breakglass roles`: what can be requested, by whom, for how long, approved by whom, read
//! from the policy alone.

use crate::util::{Run, example_copy};

#[test]
fn roles_lists_every_rule_a_requester_needs() {
    let dir = example_copy("quickstart");
    let all = Run::new(dir.path()).args(["roles"]).run().expect_code(0);
    snapshot!("roles_all", all.stdout);
    let alice = Run::new(dir.path()).args(["roles", "--as", "alice"]).run().expect_code(0);
    snapshot!("roles_as_alice", alice.stdout);
    let from_env = Run::new(dir.path()).args(["roles"]).env("BREAKGLASS_AS", "alice").run();
    assert_eq!(from_env.stdout, alice.stdout, "BREAKGLASS_AS stands for --as");
    let carol = Run::new(dir.path()).args(["roles", "--as", "carol"]).run().expect_code(0);
    assert!(carol.stdout.starts_with("carol may not request any role or override."));
    assert!(carol.stdout.contains("Not carol's to request: prod_admin (alice, bob)"));
}

#[test]
fn roles_json_carries_the_rules() {
    let dir = example_copy("quickstart");
    let json = Run::new(dir.path()).args(["roles", "--as", "alice", "--json"]).run().expect_code(0);
    let document = json.json();
    assert_eq!(document["person"], "alice");
    let roles = document["roles"].as_array().unwrap();
    let prod_admin = roles.iter().find(|r| r["name"] == "prod_admin").expect("prod_admin");
    assert_eq!(prod_admin["kind"], "role");
    assert_eq!(prod_admin["max_duration"], "1h");
    assert_eq!(prod_admin["approval"]["quorum"], 2);
    assert_eq!(prod_admin["approval"]["members"], serde_json::json!(["carol", "dave"]));
    assert_eq!(prod_admin["authentication"]["totp"], true);
    let read_logs = roles.iter().find(|r| r["name"] == "read_logs").expect("read_logs");
    assert_eq!(read_logs["approval"]["auto_approved_by"], serde_json::json!(["leads"]));
    let carol =
        Run::new(dir.path()).args(["roles", "--as", "carol", "--json"]).run().expect_code(0);
    assert_eq!(carol.json()["roles"], serde_json::json!([]));
    assert_eq!(carol.json()["not_requestable"].as_array().unwrap().len(), 3);
}

#[test]
fn roles_for_an_unknown_person_says_who_there_is() {
    let dir = example_copy("quickstart");
    let outcome = Run::new(dir.path()).args(["roles", "--as", "mallory"]).run().expect_code(1);
    assert!(
        outcome.stderr.contains("mallory is not a person in the policy; the persons are: alice"),
        "{}",
        outcome.stderr
    );
}
