//! `examples/vault` end to end against a real OpenBao server (`bao server -dev`, installed by
//! scripts/install/openbao) with the database secrets engine on a throwaway PostgreSQL: plan,
//! apply, an emergency grant requested, approved and applied, a dynamic database credential
//! obtained during it, the revert at its end (membership and token role gone, every token of
//! the grant revoked, and the credential with them), and a clean plan after. Then drift: a
//! member added by hand to the privileged group is reported and removed.

use breakglass_provider_postgres::testing::TestCluster;
use breakglass_provider_vault::testing::Bao;
use serde_json::{Value, json};
use std::path::Path;
use std::time::{Duration, Instant};

use crate::util::{Run, example_copy, read, root};

const GROUP: &str = "breakglass-responders";

/// `breakglass` in `dir` against `bao`, with the server and token from the environment only.
fn vault(dir: &Path, bao: &Bao, token: &str) -> Run {
    Run::new(dir)
        .env("VAULT_ADDR", &bao.url)
        .env("VAULT_TOKEN", token)
        .env("BAO_ADDR", "")
        .env("BAO_TOKEN", "")
        .env("VAULT_NAMESPACE", "")
        .env("VAULT_CACERT", "")
}

/// What the example expects the platform team to have made: people's entities (with userpass
/// logins) and the database secrets engine with the `emergency-admin` role on `cluster`.
fn platform(bao: &Bao, cluster: &TestCluster) {
    for person in ["alice", "bob", "erin"] {
        bao.person(person, &format!("{person}-pw"));
    }
    bao.ok("POST", "sys/mounts/database", Some(json!({"type": "database"})));
    bao.ok(
        "POST",
        "database/config/app",
        Some(json!({
            "plugin_name": "postgresql-database-plugin",
            "connection_url": format!(
                "postgresql://{{{{username}}}}:{{{{password}}}}@127.0.0.1:{}/postgres?sslmode=disable",
                cluster.port()
            ),
            "username": "postgres",
            "password": TestCluster::PASSWORD,
            "allowed_roles": ["emergency-admin"],
        })),
    );
    bao.ok(
        "POST",
        "database/roles/emergency-admin",
        Some(json!({
            "db_name": "app",
            "creation_statements": [
                "CREATE ROLE \"{{name}}\" WITH LOGIN PASSWORD '{{password}}' VALID UNTIL '{{expiration}}';",
                "GRANT pg_read_all_data TO \"{{name}}\";"
            ],
            "default_ttl": "1h",
            "max_ttl": "24h",
        })),
    );
}

/// A token with exactly the minimal policy docs/providers/vault.md gives for the tool's own
/// token, so that page stays complete.
fn tool_token(bao: &Bao) -> String {
    let doc = read(root().join("docs/providers/vault.md"));
    let after = doc.split("<!-- minimal-policy -->").nth(1).expect("the marked policy");
    let policy = after.split("```hcl").nth(1).and_then(|b| b.split("```").next()).unwrap();
    bao.ok("POST", "sys/policies/acl/breakglass-tool", Some(json!({"policy": policy})));
    let token = bao.ok(
        "POST",
        "auth/token/create",
        Some(json!({"policies": ["breakglass-tool"], "no_default_policy": true})),
    );
    token["auth"]["client_token"].as_str().unwrap().to_owned()
}

fn block_on<T>(future: impl std::future::Future<Output = T>) -> T {
    tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(future)
}

/// Whether `user` can log in to PostgreSQL with `password` and run a query.
fn can_log_in(cluster: &TestCluster, user: &str, password: &str) -> bool {
    block_on(async {
        match cluster.connect_as(user, password, "postgres").await {
            Ok(client) => client.query_one("SELECT 1", &[]).await.is_ok(),
            Err(_) => false,
        }
    })
}

fn role_exists(cluster: &TestCluster, user: &str) -> bool {
    block_on(async {
        let client = cluster.connect("postgres").await;
        client
            .query_opt("SELECT 1 FROM pg_roles WHERE rolname = $1", &[&user])
            .await
            .unwrap()
            .is_some()
    })
}

fn members(bao: &Bao, group: &str) -> usize {
    let data = bao.ok("GET", &format!("identity/group/name/{group}"), None);
    data["data"]["member_entity_ids"].as_array().map_or(0, Vec::len)
}

fn plus(time: &str, seconds: i64) -> String {
    let t: jiff::Timestamp = time.parse().unwrap();
    (t + jiff::SignedDuration::from_secs(seconds)).to_string()
}

/// The demo private keys, which examples/vault/keys does not carry.
fn with_demo_keys(dir: &Path) {
    for person in ["alice", "carol", "dave"] {
        let key = format!("keys/{person}.key");
        fs_err::copy(root().join("examples/quickstart").join(&key), dir.join(&key)).unwrap();
    }
}

#[test]
fn the_example_grants_in_an_emergency_and_its_revert_kills_the_database_credential() {
    let bao = Bao::start();
    let cluster = TestCluster::start();
    platform(&bao, &cluster);
    let dir = example_copy("vault");
    with_demo_keys(dir.path());
    let token = tool_token(&bao);
    let run = || vault(dir.path(), &bao, &token);

    let plan = run().args(["plan", "--detailed-exitcode"]).run().expect_code(2);
    snapshot!("vault_example_plan", plan.stdout);
    let applied = run().args(["apply", "--auto-approve"]).run().expect_code(0);
    assert!(applied.stdout.contains("Apply complete! Resources: 5 added"), "{}", applied.stdout);
    run().args(["plan", "--detailed-exitcode"]).run().expect_code(0);
    let again = run().args(["apply", "--auto-approve"]).run().expect_code(0);
    assert!(again.stdout.contains("0 added, 0 changed, 0 destroyed"), "{}", again.stdout);
    assert_eq!(members(&bao, GROUP), 0, "nobody is a responder by default");
    assert_eq!(members(&bao, "auditors"), 1);

    // Before the grant alice cannot get database credentials.
    let alice = bao.login("alice", "alice-pw");
    let (status, _) = bao.call_as(&alice, "GET", "database/creds/emergency-admin", None).unwrap();
    assert_eq!(status, 403);

    // The emergency, on the real clock: the server's own TTLs run on it.
    let t0 = jiff::Timestamp::now().round(jiff::Unit::Second).unwrap().to_string();
    let at = |time: &str| run().env("BREAKGLASS_TEST_NOW", time);
    at(&t0)
        .args(["request", "secrets_responder", "--duration", "30m"])
        .args(["--justification", "INC-4711: payments API down"])
        .args(["--as", "alice", "--key", "keys/alice.key", "--out", "req.json"])
        .run()
        .expect_code(0);
    let approve = |person: &str| {
        let key = format!("keys/{person}.key");
        let outcome = at(&t0)
            .args(["approve", "req.json", "--as", person, "--key", &key, "--yes"])
            .run()
            .expect_code(0);
        outcome.stdout.trim().to_owned()
    };
    let (carol, dave) = (approve("carol"), approve("dave"));
    let granted = at(&plus(&t0, 5))
        .args(["apply", "--emergency", "req.json", "--approval", &carol, "--approval", &dave])
        .run()
        .expect_code(0);
    assert!(granted.stdout.contains("approved by carol, dave"), "{}", granted.stdout);
    let state: Value = crate::util::state(dir.path());
    let (id, record) = state["activations"].as_object().unwrap().iter().next().unwrap();
    assert_eq!(record["status"], "active");
    let end = record["end"].as_str().unwrap().to_owned();
    assert_eq!(members(&bao, GROUP), 1);

    // The token role's tokens end with the grant, whatever they ask for: the time left until
    // its end (the test clock ran up to 5 s ahead of the real one).
    let role = bao.ok("GET", "auth/token/roles/bg-alice", None);
    let max = role["data"]["token_explicit_max_ttl"].as_u64().unwrap();
    assert!((1700..=1806).contains(&max), "the time left in the grant: {max}");

    // During the grant: alice's existing token has the group's policy; she gets a database
    // credential and a token for a tool, and both work.
    let creds = bao.ok_as(&alice, "GET", "database/creds/emergency-admin");
    let user = creds["data"]["username"].as_str().unwrap().to_owned();
    let password = creds["data"]["password"].as_str().unwrap().to_owned();
    assert!(can_log_in(&cluster, &user, &password), "the dynamic credential works");
    let tool = bao.ok_as(&alice, "POST", "auth/token/create/bg-alice")["auth"]["client_token"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(bao.token_is_valid(&tool));

    // The plan at the end says what the revert revokes.
    let after = plus(&end, 1);
    let preview = at(&after).args(["plan"]).run().expect_code(0);
    assert!(
        preview.stdout.contains("Plan: 0 to add, 0 to change, 2 to destroy."),
        "{}",
        preview.stdout
    );
    assert!(
        preview
            .stdout
            .contains("also revokes every token of entity alice (found by token accessor"),
        "{}",
        preview.stdout
    );
    assert!(
        preview.stdout.contains(
            "also revokes every token made with token role bg-alice \
             (sys/leases/revoke-prefix/auth/token/create/bg-alice)"
        ),
        "{}",
        preview.stdout
    );

    // The end: reconcile reverts, and everything issued under the grant is revoked.
    let reverted = at(&after).args(["reconcile"]).run().expect_code(0);
    assert!(
        reverted.stdout.contains(&format!("Activation {id} is reverted")),
        "{}",
        reverted.stdout
    );
    let log = crate::util::audit_text(dir.path());
    // Her login token, and the tool's token (its child) unless the role's revert got it first.
    assert!(log.contains("token(s) of entity alice, with every lease"), "{log}");
    assert!(log.contains("revoked every token made with token role bg-alice"), "{log}");
    assert_eq!(members(&bao, GROUP), 0);
    assert!(!bao.token_is_valid(&alice), "alice's login token is revoked");
    assert!(!bao.token_is_valid(&tool), "the tool's token is revoked");
    let (status, _) = bao.call("GET", "auth/token/roles/bg-alice", None).unwrap();
    assert_eq!(status, 404);
    // Vault revokes the token's lease, and the database plugin drops the role.
    let deadline = Instant::now() + Duration::from_secs(15);
    while role_exists(&cluster, &user) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(!role_exists(&cluster, &user), "the dynamic PostgreSQL role is dropped");
    assert!(!can_log_in(&cluster, &user, &password), "the credential died with the grant");

    at(&plus(&end, 2)).args(["plan", "--detailed-exitcode"]).run().expect_code(0);
    let twice = at(&plus(&end, 2)).args(["reconcile"]).run().expect_code(0);
    assert!(!twice.stdout.contains("revoked"), "reverting twice is a no-op: {}", twice.stdout);
    // alice logs in again and has what the baseline gives: no database credentials.
    let again = bao.login("alice", "alice-pw");
    let (status, _) = bao.call_as(&again, "GET", "database/creds/emergency-admin", None).unwrap();
    assert_eq!(status, 403);
}

#[test]
fn a_responder_added_by_hand_is_privileged_drift_and_is_removed() {
    let bao = Bao::start();
    for person in ["alice", "erin", "mallory"] {
        bao.person(person, "pw");
    }
    let dir = example_copy("vault");
    let token = tool_token(&bao);
    let run = || vault(dir.path(), &bao, &token);
    run().args(["apply", "--auto-approve"]).run().expect_code(0);
    let mallory = bao.ok("GET", "identity/entity/name/mallory", None)["data"]["id"].clone();
    bao.ok(
        "POST",
        &format!("identity/group/name/{GROUP}"),
        Some(json!({"member_entity_ids": [mallory]})),
    );
    let token = bao.login("mallory", "pw");

    let plan = run().args(["plan"]).run().expect_code(0);
    assert!(
        plan.stdout.contains(&format!(
            "vault_identity_group_member \"{GROUP}/mallory\" grants PRIVILEGED"
        )),
        "{}",
        plan.stdout
    );
    let applied = run().args(["apply", "--auto-approve"]).run().expect_code(0);
    assert!(applied.stdout.contains("1 destroyed"), "{}", applied.stdout);
    assert!(applied.stdout.contains("revoked 1 token(s) of entity mallory"), "{}", applied.stdout);
    assert_eq!(members(&bao, GROUP), 0, "drift = \"revert\" removed mallory");
    assert!(!bao.token_is_valid(&token), "and what she obtained with it goes with her tokens");
    run().args(["plan", "--detailed-exitcode"]).run().expect_code(0);
}

#[test]
fn a_wrong_token_is_refused_naming_where_it_came_from_and_nothing_changes() {
    let bao = Bao::start();
    let dir = example_copy("vault");
    let outcome = vault(dir.path(), &bao, "")
        .env("VAULT_TOKEN", "")
        .env("BAO_TOKEN", "s.wrong-token-0123456789")
        .args(["apply", "--auto-approve"])
        .run()
        .expect_code(1);
    assert!(outcome.stderr.contains("403"), "{}", outcome.stderr);
    assert!(outcome.stderr.contains("the environment variable BAO_TOKEN"), "{}", outcome.stderr);
    assert!(!outcome.stderr.contains("wrong-token") && !outcome.stdout.contains("wrong-token"));
    let (status, _) = bao.call("GET", "sys/policies/acl/breakglass-responder", None).unwrap();
    assert_eq!(status, 404, "nothing was written");
}
