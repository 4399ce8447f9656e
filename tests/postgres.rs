//! PostgreSQL end to end, against real servers (one throwaway cluster per test, so one test's
//! roles are never another's drift): `examples/postgres` planned, applied, granted and reverted
//! with a connected client's session ended; drift that widens access; and the PostgreSQL state
//! backend under concurrent applies, a SIGKILLed lock holder, and `state migrate`.

use breakglass_provider_postgres::testing::TestCluster;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::util::{Run, example_copy, read};

/// Runs a future to completion (the harness is synchronous; the checks talk to the server).
fn block_on<T>(future: impl std::future::Future<Output = T>) -> T {
    tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(future)
}

/// `breakglass ARGS` in `dir`, reaching `cluster` through the libpq variables.
fn run_pg(cluster: &TestCluster, dir: &Path, database: &str) -> Run {
    let mut run = Run::new(dir);
    for (key, value) in cluster.env(database) {
        run = run.env(key, value);
    }
    run
}

/// The rows of a one-column text query, as the superuser.
fn strings(cluster: &TestCluster, database: &str, query: &str) -> Vec<String> {
    block_on(async {
        let client = cluster.connect(database).await;
        client.query(query, &[]).await.unwrap().iter().map(|row| row.get(0)).collect()
    })
}

fn members_of(cluster: &TestCluster, role: &str) -> Vec<String> {
    strings(
        cluster,
        "postgres",
        &format!(
            "SELECT m.rolname::text FROM pg_auth_members am JOIN pg_roles r ON r.oid = am.roleid \
             JOIN pg_roles m ON m.oid = am.member WHERE r.rolname = '{role}' ORDER BY 1"
        ),
    )
}

fn remove_grant_block(dir: &Path, file: &str, name: &str) {
    let path = dir.join(file);
    let text = read(&path);
    let start = text.find(&format!("grant \"{name}\"")).unwrap();
    let end = start + text[start..].find("\n}\n").unwrap() + 3;
    fs_err::write(&path, format!("{}{}", &text[..start], &text[end..])).unwrap();
}

#[test]
fn postgres_example_plans_applies_grants_and_reverts_ending_the_grantees_session() {
    let cluster = TestCluster::start();
    block_on(cluster.create_database("app"));
    let dir = example_copy("postgres");
    let at = |time: &str| run_pg(&cluster, dir.path(), "app").env("BREAKGLASS_TEST_NOW", time);

    let plan = run_pg(&cluster, dir.path(), "app").args(["plan", "--detailed-exitcode"]).run();
    let plan = plan.expect_code(2);
    snapshot!("postgres_example_plan", plan.stdout);
    let applied = run_pg(&cluster, dir.path(), "app").args(["apply", "--auto-approve"]).run();
    let applied = applied.expect_code(0);
    // 12, not 13: SELECT on every table of a schema with no table yet already holds.
    assert!(applied.stdout.contains("Apply complete! Resources: 12 added"), "{}", applied.stdout);
    run_pg(&cluster, dir.path(), "app").args(["plan", "--detailed-exitcode"]).run().expect_code(0);
    let again = run_pg(&cluster, dir.path(), "app").args(["apply", "--auto-approve"]).run();
    assert!(again.expect_code(0).stdout.contains("0 added, 0 changed, 0 destroyed"));
    assert!(members_of(&cluster, "dba").is_empty(), "nobody is in dba by default");
    assert_eq!(members_of(&cluster, "auditors"), ["erin"]);

    // The application creates a table; auditors read it through the default privileges, and
    // the "all tables" grant still holds.
    block_on(async {
        let admin = cluster.connect("app").await;
        admin
            .batch_execute(
                "GRANT CREATE ON SCHEMA public TO app_owner; SET ROLE app_owner; \
                 CREATE TABLE public.orders (id int); INSERT INTO public.orders VALUES (1); \
                 RESET ROLE; ALTER ROLE erin PASSWORD 'erin-pw'; ALTER ROLE bob PASSWORD 'bob-pw'",
            )
            .await
            .unwrap();
        let erin = cluster.connect_as("erin", "erin-pw", "app").await.unwrap();
        let rows = erin.query("SELECT id FROM public.orders", &[]).await.unwrap();
        assert_eq!(rows.len(), 1);
        assert!(erin.batch_execute("DELETE FROM public.orders").await.is_err(), "read-only");
    });
    run_pg(&cluster, dir.path(), "app").args(["plan", "--detailed-exitcode"]).run().expect_code(0);

    // The migration window: bob gets a temporary login role in dba, ending by itself.
    let window = at("2031-03-01T22:30:00Z").args(["plan"]).run().expect_code(0);
    snapshot!("postgres_example_plan_migration_window", window.stdout);
    at("2031-03-01T22:30:00Z").args(["apply", "--auto-approve"]).run().expect_code(0);
    assert_eq!(members_of(&cluster, "dba"), ["bg_bob"]);
    let valid_until = strings(
        &cluster,
        "postgres",
        "SELECT to_char(rolvaliduntil AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS') \
         FROM pg_roles WHERE rolname = 'bg_bob'",
    );
    assert_eq!(valid_until, ["2031-03-02T01:00:00"], "native expiry: VALID UNTIL the end");

    // Bob logs in with it and takes dba on; the session would outlive a bare REVOKE.
    let (session, _runtime) = {
        let runtime = tokio::runtime::Runtime::new().unwrap();
        let client = runtime.block_on(async {
            cluster
                .connect("postgres")
                .await
                .batch_execute("ALTER ROLE bg_bob PASSWORD 'm-pw'")
                .await
                .unwrap();
            let client = cluster.connect_as("bg_bob", "m-pw", "app").await.unwrap();
            client.batch_execute("SET ROLE dba").await.unwrap();
            client
        });
        (client, runtime)
    };

    // After the window: the grant block must go (an ended grant is invalid policy); the
    // activation in state is reverted, and bob's session ended.
    remove_grant_block(dir.path(), "access.hcl", "chg_2048");
    let after = at("2031-03-02T01:00:01Z").args(["plan", "--detailed-exitcode"]).run();
    let after = after.expect_code(2);
    snapshot!("postgres_example_plan_after_window", after.stdout);
    let reverted =
        at("2031-03-02T01:00:01Z").args(["apply", "--auto-approve"]).run().expect_code(0);
    assert!(
        reverted.stdout.contains("ended 1 session(s) holding bg_bob: bg_bob (pid"),
        "{}",
        reverted.stdout
    );
    assert!(_runtime.block_on(session.query_one("SELECT 1", &[])).is_err(), "session ended");
    assert!(members_of(&cluster, "dba").is_empty());
    assert!(
        strings(
            &cluster,
            "postgres",
            "SELECT rolname::text FROM pg_roles WHERE rolname = 'bg_bob'"
        )
        .is_empty()
    );
    let state = crate::util::state(dir.path());
    assert_eq!(state["activations"]["grant_chg_2048"]["status"], "reverted");
    at("2031-03-02T01:00:02Z").args(["plan", "--detailed-exitcode"]).run().expect_code(0);
    let twice = at("2031-03-02T01:00:02Z").args(["apply", "--auto-approve"]).run().expect_code(0);
    assert!(twice.stdout.contains("0 added, 0 changed, 0 destroyed"), "{}", twice.stdout);
}

#[test]
fn privileged_access_nobody_granted_is_reported_and_removed_with_its_sessions() {
    let cluster = TestCluster::start();
    block_on(cluster.create_database("app"));
    let dir = example_copy("postgres");
    run_pg(&cluster, dir.path(), "app").args(["apply", "--auto-approve"]).run().expect_code(0);
    // A runtime that outlives the setup, so mallory's connection stays open.
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let mallory = runtime.block_on(async {
        let admin = cluster.connect("postgres").await;
        admin
            .batch_execute(
                "CREATE ROLE mallory LOGIN PASSWORD 'm-pw'; GRANT dba TO mallory; \
                 CREATE ROLE eve SUPERUSER; CREATE ROLE viewer; GRANT viewer TO mallory",
            )
            .await
            .unwrap();
        cluster.connect_as("mallory", "m-pw", "postgres").await.unwrap()
    });
    let plan = run_pg(&cluster, dir.path(), "app").args(["plan", "--detailed-exitcode"]).run();
    let plan = plan.expect_code(2);
    snapshot!("postgres_plan_privileged_drift", plan.stdout);

    let applied = run_pg(&cluster, dir.path(), "app").args(["apply", "--auto-approve"]).run();
    let applied = applied.expect_code(0);
    assert!(applied.stdout.contains("ended 1 session(s) holding mallory"), "{}", applied.stdout);
    assert!(members_of(&cluster, "dba").is_empty(), "the membership nobody granted is gone");
    assert!(
        strings(&cluster, "postgres", "SELECT rolname::text FROM pg_roles WHERE rolname = 'eve'")
            .is_empty()
    );
    assert_eq!(
        members_of(&cluster, "viewer"),
        ["mallory"],
        "unprivileged access nobody declared is left alone"
    );
    assert!(runtime.block_on(mallory.query_one("SELECT 1", &[])).is_err(), "session ended");
    // What remains grants nothing privileged: not drift worth a plan's attention.
    run_pg(&cluster, dir.path(), "app").args(["plan", "--detailed-exitcode"]).run().expect_code(0);
}

#[test]
fn wrong_database_credentials_fail_clearly_and_change_nothing() {
    let cluster = TestCluster::start();
    block_on(cluster.create_database("app"));
    let dir = example_copy("postgres");
    let outcome = run_pg(&cluster, dir.path(), "app")
        .env("PGPASSWORD", "definitely-wrong-pw")
        .args(["apply", "--auto-approve"])
        .run()
        .expect_code(1);
    assert!(outcome.stderr.contains("postgres"), "{}", outcome.stderr);
    assert!(outcome.stderr.contains("cannot log in as postgres@127.0.0.1"), "{}", outcome.stderr);
    assert!(outcome.stderr.contains("check `user` and `password`"), "{}", outcome.stderr);
    assert!(!outcome.stderr.contains("definitely-wrong-pw"));
    assert!(!outcome.stdout.contains("definitely-wrong-pw"));
    assert!(
        strings(&cluster, "postgres", "SELECT rolname::text FROM pg_roles WHERE rolname = 'dba'")
            .is_empty()
    );
    assert_eq!(crate::util::state(dir.path())["serial"], 0, "no state was written");
}

/// The quickstart (local provider) with its state in PostgreSQL, and `shifts` extra roles each
/// granted by a planned grant starting one minute after the previous one.
fn quickstart_on_postgres_state(shifts: usize, latency_ms: u64) -> tempfile::TempDir {
    let dir = example_copy("quickstart");
    let main = dir.path().join("main.hcl");
    let text = read(&main)
        .replace(
            "  plan_signers     = [person.ci]\n",
            "  plan_signers     = [person.ci]\n\n  state {\n    backend = \"postgres\"\n  }\n",
        )
        .replace(
            "  path = \"app/access.json\"\n",
            &format!("  path       = \"app/access.json\"\n  latency_ms = {latency_ms}\n"),
        );
    fs_err::write(&main, text).unwrap();
    let mut shifts_hcl = String::new();
    for n in 0..shifts {
        shifts_hcl.push_str(&format!(
            "role \"shift_{n}\" {{\n  requesters   = [team.oncall]\n  approvers    = approvers.leads\n  \
             max_duration = \"12h\"\n\n  resource \"local_access\" \"shift\" {{\n    \
             principal = requester.identities.local\n    role      = \"shift-{n}\"\n  }}\n}}\n\n\
             grant \"shift_{n}\" {{\n  role          = role.shift_{n}\n  to            = person.alice\n  \
             start         = \"2031-02-01T00:{n:02}:00Z\"\n  end           = \"2031-02-01T11:00:00Z\"\n  \
             justification = \"SHIFT-{n}: on-call shift\"\n}}\n\n"
        ));
    }
    fs_err::write(dir.path().join("shifts.hcl"), shifts_hcl).unwrap();
    if shifts > 0 {
        // Its window has passed by the shifts' time, and an ended grant is invalid policy.
        remove_grant_block(dir.path(), "access.hcl", "chg_1234");
    }
    dir
}

fn state_env(cluster: &TestCluster, database: &str) -> String {
    cluster.connection_string("postgres", TestCluster::PASSWORD, database)
}

#[test]
fn concurrent_applies_on_one_postgres_state_lose_no_update() {
    const PROCESSES: usize = 20;
    let cluster = TestCluster::start();
    block_on(cluster.create_database("state"));
    let dir = quickstart_on_postgres_state(PROCESSES, 100);
    let connection = state_env(&cluster, "state");
    let started = Instant::now();
    let children: Vec<_> = (0..PROCESSES)
        .map(|n| {
            Command::new(env!("CARGO_BIN_EXE_breakglass"))
                .current_dir(dir.path())
                .env("BREAKGLASS_TEST_NOW", format!("2031-02-01T00:{n:02}:30Z"))
                .env("BREAKGLASS_STATE_CONNECTION", &connection)
                .env("NO_COLOR", "1")
                .args(["apply", "--auto-approve", "--lock-timeout", "5m"])
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    for child in children {
        let output = child.wait_with_output().unwrap();
        assert!(
            output.status.success(),
            "every apply waits for the lock and succeeds:\n{}\n{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    }
    let elapsed = started.elapsed();
    let (serials, activations, final_serial) = block_on(async {
        let client = cluster.connect("state").await;
        let serials: Vec<i64> = client
            .query("SELECT serial FROM breakglass.state_writes ORDER BY serial", &[])
            .await
            .unwrap()
            .iter()
            .map(|row| row.get(0))
            .collect();
        let activations: Vec<String> = client
            .query("SELECT id FROM breakglass.activations ORDER BY id", &[])
            .await
            .unwrap()
            .iter()
            .map(|row| row.get(0))
            .collect();
        let serial: i64 =
            client.query_one("SELECT serial FROM breakglass.state", &[]).await.unwrap().get(0);
        (serials, activations, serial)
    });
    eprintln!(
        "{PROCESSES} concurrent applies on one postgres state: {} writes in {:.1}s",
        serials.len(),
        elapsed.as_secs_f64()
    );
    assert_eq!(serials, (1..=final_serial).collect::<Vec<_>>(), "serials strictly increase");
    let mut expected: Vec<String> = (0..PROCESSES).map(|n| format!("grant_shift_{n}")).collect();
    expected.sort();
    assert_eq!(activations, expected, "every activation is recorded");
    let last = format!("2031-02-01T00:{:02}:30Z", PROCESSES - 1);
    Run::new(dir.path())
        .env("BREAKGLASS_TEST_NOW", &last)
        .env("BREAKGLASS_STATE_CONNECTION", &connection)
        .args(["plan", "--detailed-exitcode"])
        .run()
        .expect_code(0);
}

/// The pid of the process holding the state lock, as the database sees it.
fn lock_holder_pid(cluster: &TestCluster) -> Option<u32> {
    block_on(async {
        let client = cluster.connect("state").await;
        let row = client
            .query_opt(
                "SELECT h.pid FROM breakglass.lock_holder h JOIN pg_locks l \
                 ON l.pid = h.backend_pid AND l.locktype = 'advisory' AND l.granted",
                &[],
            )
            .await
            .ok()??;
        u32::try_from(row.get::<_, i64>(0)).ok()
    })
}

#[test]
fn a_lock_holder_killed_with_sigkill_releases_the_postgres_lock() {
    let cluster = TestCluster::start();
    block_on(cluster.create_database("state"));
    let dir = quickstart_on_postgres_state(0, 4000);
    let connection = state_env(&cluster, "state");
    let run = || Run::new(dir.path()).env("BREAKGLASS_STATE_CONNECTION", &connection);
    let mut holder = Command::new(env!("CARGO_BIN_EXE_breakglass"))
        .current_dir(dir.path())
        .env("BREAKGLASS_TEST_NOW", crate::util::TEST_NOW)
        .env("BREAKGLASS_STATE_CONNECTION", &connection)
        .args(["apply", "--auto-approve"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // Wait until the holder has the lock, watching the database itself.
    let deadline = Instant::now() + Duration::from_secs(30);
    while lock_holder_pid(&cluster) != Some(holder.id()) {
        assert!(Instant::now() < deadline, "the first apply never took the lock");
        std::thread::sleep(Duration::from_millis(50));
    }
    let refused =
        run().args(["apply", "--auto-approve", "--lock-timeout", "0s"]).run().expect_code(6);
    assert!(
        refused.stderr.contains(&format!("the state is locked by apply (pid {}", holder.id())),
        "{}",
        refused.stderr
    );
    holder.kill().unwrap(); // SIGKILL
    holder.wait().unwrap();
    let killed = Instant::now();
    while lock_holder_pid(&cluster).is_some() {
        assert!(killed.elapsed() < Duration::from_secs(10), "the lock outlived its holder");
        std::thread::sleep(Duration::from_millis(10));
    }
    eprintln!(
        "after SIGKILL of the holder, PostgreSQL released the lock in {} ms",
        killed.elapsed().as_millis()
    );
    run().args(["apply", "--auto-approve", "--lock-timeout", "30s"]).run().expect_code(0);
    run().args(["plan", "--detailed-exitcode"]).run().expect_code(0);
}

#[test]
fn state_migrate_moves_a_local_state_to_postgres_without_loss() {
    let cluster = TestCluster::start();
    block_on(cluster.create_database("state"));
    let dir = example_copy("quickstart");
    let connection = state_env(&cluster, "state");
    let at = |time: &str| {
        Run::new(dir.path())
            .env("BREAKGLASS_TEST_NOW", time)
            .env("BREAKGLASS_STATE_CONNECTION", &connection)
    };
    // A local state with managed objects and a live activation.
    at("2031-01-15T09:30:00Z").args(["apply", "--auto-approve"]).run().expect_code(0);
    let local = at("2031-01-15T09:30:00Z").args(["state", "pull"]).run().expect_code(0).json();
    assert_eq!(local["activations"]["grant_chg_1234"]["status"], "active");

    let migrated = at("2031-01-15T09:30:00Z")
        .args(["state", "migrate", "--from", "local", "--to", "postgres"])
        .run()
        .expect_code(0);
    assert!(
        migrated.stdout.contains("3 managed object(s), 1 activation(s), 0 used approval nonce(s)"),
        "{}",
        migrated.stdout
    );
    assert!(!migrated.stdout.contains(TestCluster::PASSWORD));

    let main = dir.path().join("main.hcl");
    fs_err::write(
        &main,
        read(&main).replace(
            "  plan_signers     = [person.ci]\n",
            "  plan_signers     = [person.ci]\n\n  state {\n    backend = \"postgres\"\n  }\n",
        ),
    )
    .unwrap();
    let remote = at("2031-01-15T09:30:00Z").args(["state", "pull"]).run().expect_code(0).json();
    assert_eq!(remote, local, "every record, lineage and serial survive the move");
    let local_head = crate::util::audit_lines(dir.path()).len();
    assert!(local_head > 0);
    assert!(
        migrated.stdout.contains(&format!("the audit log ({local_head} event(s), head ")),
        "{}",
        migrated.stdout
    );
    let verified =
        at("2031-01-15T09:30:00Z").args(["audit", "verify", "--json"]).run().expect_code(0).json();
    assert_eq!(verified["lines"], local_head, "the log came along and verifies");
    at("2031-01-15T09:30:00Z").args(["plan", "--detailed-exitcode"]).run().expect_code(0);

    let again = at("2031-01-15T09:30:00Z")
        .args(["state", "migrate", "--from", "local", "--to", "postgres"])
        .run()
        .expect_code(1);
    assert!(again.stderr.contains("already holds a state"), "{}", again.stderr);
    let occupied = at("2031-01-15T09:30:00Z")
        .args(["state", "migrate", "--from", "postgres", "--to", "local"])
        .run()
        .expect_code(1);
    assert!(occupied.stderr.contains("already holds a state"), "{}", occupied.stderr);

    // And the revert still happens from the migrated state, in PostgreSQL.
    remove_grant_block(dir.path(), "access.hcl", "chg_1234");
    at("2031-01-15T17:00:01Z").args(["apply", "--auto-approve"]).run().expect_code(0);
    let after = at("2031-01-15T17:00:01Z").args(["state", "pull"]).run().expect_code(0).json();
    assert_eq!(after["activations"]["grant_chg_1234"]["status"], "reverted");
    assert_eq!(after["lineage"], local["lineage"]);

    // And back: into a policy with no local state (the old database kept aside as a backup).
    let head = at("2031-01-15T17:00:01Z").args(["audit", "head"]).run().expect_code(0);
    let state_file = crate::util::state_db(dir.path());
    fs_err::rename(&state_file, dir.path().join("state.backup.db")).unwrap();
    at("2031-01-15T17:00:02Z")
        .args(["state", "migrate", "--from", "postgres", "--to", "local"])
        .run()
        .expect_code(0);
    let returned = crate::util::state(dir.path());
    assert_eq!(returned, after, "the way back loses nothing either");
    let lines = crate::util::audit_lines(dir.path());
    assert_eq!(
        breakglass::audit::line_hash(lines.last().unwrap()),
        head.stdout.trim(),
        "the log came back whole"
    );
}

/// Adds `count` on-call responders (`responder_N`, with keys made here) to a quickstart copy.
fn add_responders(dir: &Path, count: usize) -> Vec<String> {
    let people = dir.join("people.hcl");
    let mut text = read(&people);
    let mut names = Vec::new();
    for n in 0..count {
        let name = format!("responder_{n}");
        breakglass::sign::generate_key_pair(&dir.join(format!("keys/{name}.key"))).unwrap();
        text.push_str(&format!(
            "\nperson \"{name}\" {{\n  public_key = file(\"keys/{name}.pub\")\n  identities = {{\n    local = \"{name}\"\n  }}\n}}\n"
        ));
        names.push(name);
    }
    let members: Vec<String> = names.iter().map(|n| format!("person.{n}")).collect();
    text = text.replace(
        "members     = [person.alice, person.bob]",
        &format!("members     = [person.alice, person.bob, {}]", members.join(", ")),
    );
    fs_err::write(&people, text).unwrap();
    names
}

/// Two executors (two machines: two copies of the policy, each with its own platform file)
/// share one PostgreSQL state and interleave 20 emergency applies: every activation is
/// recorded, serials never skip, and every event lands in one hash chain that verifies.
#[test]
fn two_executors_interleaving_twenty_emergency_applies_share_one_state_and_one_audit_chain() {
    const PROCESSES: usize = 20;
    let cluster = TestCluster::start();
    block_on(cluster.create_database("state"));
    let dir = quickstart_on_postgres_state(0, 20);
    let responders = add_responders(dir.path(), PROCESSES);
    let connection = state_env(&cluster, "state");
    let run = || Run::new(dir.path()).env("BREAKGLASS_STATE_CONNECTION", &connection);
    run().args(["apply", "--auto-approve"]).run().expect_code(0);
    for name in &responders {
        run()
            .args([
                "request",
                "read_logs",
                "--duration",
                "2h",
                "--justification",
                "INC-20: all hands",
            ])
            .args([
                "--as",
                name,
                "--key",
                &format!("keys/{name}.key"),
                "--out",
                &format!("{name}.json"),
            ])
            .run()
            .expect_code(0);
    }
    // The second executor: the same policy and requests on another machine.
    let other = tempfile::tempdir().unwrap();
    crate::util::copy_dir(dir.path(), other.path());
    let executors = [dir.path(), other.path()];
    let started = Instant::now();
    let children: Vec<_> = responders
        .iter()
        .enumerate()
        .map(|(n, name)| {
            Command::new(env!("CARGO_BIN_EXE_breakglass"))
                .current_dir(executors[n % 2])
                .env("BREAKGLASS_TEST_NOW", crate::util::TEST_NOW)
                .env("BREAKGLASS_STATE_CONNECTION", &connection)
                .env("NO_COLOR", "1")
                .args(["apply", "--emergency", &format!("{name}.json"), "--lock-timeout", "5m"])
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    for child in children {
        let output = child.wait_with_output().unwrap();
        assert!(
            output.status.success(),
            "every emergency apply waits for the lock and succeeds:\n{}\n{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    }
    let elapsed = started.elapsed();
    let (serials, statuses, final_serial, granted) = block_on(async {
        let client = cluster.connect("state").await;
        let serials: Vec<i64> = client
            .query("SELECT serial FROM breakglass.state_writes ORDER BY serial", &[])
            .await
            .unwrap()
            .iter()
            .map(|row| row.get(0))
            .collect();
        let statuses: Vec<String> = client
            .query("SELECT status FROM breakglass.activations ORDER BY id", &[])
            .await
            .unwrap()
            .iter()
            .map(|row| row.get(0))
            .collect();
        let serial: i64 =
            client.query_one("SELECT serial FROM breakglass.state", &[]).await.unwrap().get(0);
        let granted: i64 = client
            .query_one(
                "SELECT count(*) FROM breakglass.audit_events WHERE action = 'apply.emergency'",
                &[],
            )
            .await
            .unwrap()
            .get(0);
        (serials, statuses, serial, granted)
    });
    eprintln!(
        "{PROCESSES} concurrent apply --emergency from two executors on one postgres state: {} \
         writes in {:.1}s",
        serials.len(),
        elapsed.as_secs_f64()
    );
    assert_eq!(
        serials,
        (1..=final_serial).collect::<Vec<_>>(),
        "serials strictly increase, no gap"
    );
    assert_eq!(
        statuses,
        vec!["active".to_owned(); PROCESSES],
        "every activation recorded and active"
    );
    assert_eq!(granted, 20, "every grant is in the one log");
    // One chain, verified from either executor, holding both executors' events.
    let verify = |folder: &Path| {
        Run::new(folder)
            .env("BREAKGLASS_STATE_CONNECTION", &connection)
            .args(["audit", "verify", "--json"])
            .run()
            .expect_code(0)
            .json()
    };
    let (first, second) = (verify(dir.path()), verify(other.path()));
    assert_eq!(first["verified"], true);
    assert_eq!(first["head"], second["head"], "both executors see one chain");
    let exported = Run::new(other.path())
        .env("BREAKGLASS_STATE_CONNECTION", &connection)
        .args(["audit", "export", "--format", "json"])
        .run()
        .expect_code(0);
    let applied: std::collections::BTreeSet<String> = exported
        .stdout
        .lines()
        .map(|line| serde_json::from_str::<serde_json::Value>(line).unwrap())
        .filter(|event| event["action"] == "apply.emergency")
        .map(|event| event["actor"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(applied.len(), PROCESSES, "{applied:?}");
    for (n, name) in responders.iter().enumerate() {
        let access = read(executors[n % 2].join("app/access.json"));
        assert!(
            access.contains(&format!("\"principal\": \"{name}\"")),
            "{name} was granted by its executor: {access}"
        );
    }
}

#[test]
fn when_the_leading_watch_is_killed_another_takes_over_and_reverts_what_is_due() {
    let cluster = TestCluster::start();
    block_on(cluster.create_database("state"));
    let dir = quickstart_on_postgres_state(0, 0);
    let connection = state_env(&cluster, "state");
    let run = || Run::new(dir.path()).real_clock().env("BREAKGLASS_STATE_CONNECTION", &connection);
    run().args(["apply", "--auto-approve"]).run().expect_code(0);
    let watch = || {
        Command::new(env!("CARGO_BIN_EXE_breakglass"))
            .current_dir(dir.path())
            .env("BREAKGLASS_STATE_CONNECTION", &connection)
            .env("NO_COLOR", "1")
            .args(["watch", "--interval", "1h"])
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    };
    // The log lives with the state, in PostgreSQL.
    let leads = || {
        block_on(async {
            let client = cluster.connect("state").await;
            let count: i64 = client
                .query_one(
                    "SELECT count(*) FROM breakglass.audit_events WHERE action = 'watch.lead'",
                    &[],
                )
                .await
                .map_or(0, |row| row.get(0));
            usize::try_from(count).unwrap()
        })
    };
    let mut first = watch();
    let deadline = Instant::now() + Duration::from_secs(20);
    while leads() < 1 {
        assert!(Instant::now() < deadline, "the first watch never took the lead");
        std::thread::sleep(Duration::from_millis(50));
    }
    let mut second = watch();
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(leads(), 1, "the second watch stands by while the first leads");

    run()
        .args([
            "request",
            "read_logs",
            "--duration",
            "4s",
            "--justification",
            "INC-21: a quick look",
        ])
        .args(["--as", "bob", "--key", "keys/bob.key", "--out", "req.json"])
        .run()
        .expect_code(0);
    run().args(["apply", "--emergency", "req.json"]).run().expect_code(0);
    assert!(read(dir.path().join("app/access.json")).contains("log-reader"));
    // The leader dies before the activation ends.
    first.kill().unwrap(); // SIGKILL
    first.wait().unwrap();
    let state: serde_json::Value =
        serde_json::from_str(&run().args(["state", "pull"]).run().expect_code(0).stdout).unwrap();
    let (id, activation) = state["activations"].as_object().unwrap().iter().next().unwrap();
    let end: jiff::Timestamp = activation["end"].as_str().unwrap().parse().unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while read(dir.path().join("app/access.json")).contains("log-reader") {
        assert!(Instant::now() < deadline, "nobody reverted {id} after the leader died");
        std::thread::sleep(Duration::from_millis(20));
    }
    let latency = jiff::Timestamp::now().duration_since(end).as_secs_f64();
    eprintln!("the standby watch took over and reverted {latency:.2}s after the end");
    assert!(latency < 5.0, "reverted {latency:.2}s after the end");
    assert_eq!(leads(), 2, "the second watch took the lead");
    std::process::Command::new("kill").args(["-TERM", &second.id().to_string()]).status().unwrap();
    assert_eq!(second.wait().unwrap().code(), Some(0));
}
