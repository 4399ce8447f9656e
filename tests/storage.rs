//! The state's storage as a user meets it: an existing JSON state of an earlier version is
//! recognised and refused with what to run; `state migrate --from json --to local` moves it and
//! its audit log into the database, after which everything works and the log verifies with the
//! head it had.

use crate::util::{Run, audit_lines, example_copy, read, state, state_db};

const T0: &str = "2026-11-28T12:00:00Z";

fn at(dir: &std::path::Path, time: &str) -> Run {
    Run::new(dir).env("BREAKGLASS_TEST_NOW", time)
}

#[test]
fn a_json_state_of_an_earlier_version_is_refused_then_migrated_with_its_log() {
    let dir = example_copy("quickstart");
    let path = dir.path();
    at(path, T0).args(["apply", "--auto-approve"]).run().expect_code(0);
    at(path, T0)
        .args(["request", "read_logs", "--duration", "2h", "--justification", "INC-7"])
        .args(["--as", "bob", "--key", "keys/bob.key", "--out", "req.json"])
        .run()
        .expect_code(0);
    at(path, T0).args(["apply", "--emergency", "req.json"]).run().expect_code(0);
    // What an earlier version left: the state document and the JSONL log, no database.
    let document = at(path, T0).args(["state", "pull"]).run().expect_code(0).stdout;
    let lines = audit_lines(path);
    fs_err::write(path.join(".breakglass/state.json"), &document).unwrap();
    fs_err::write(path.join(".breakglass/audit.jsonl"), lines.join("\n") + "\n").unwrap();
    for name in ["state.db", "state.db-wal", "state.db-shm"] {
        let _ = fs_err::remove_file(path.join(".breakglass").join(name));
    }
    let head = at(path, T0)
        .args(["audit", "head", "--log", ".breakglass/audit.jsonl"])
        .run()
        .expect_code(0)
        .stdout;

    for command in [&["status"][..], &["plan"], &["reconcile"], &["audit", "verify"]] {
        let refused = at(path, T0).args(command).run().expect_code(1);
        assert!(
            refused.stderr.contains("holds the state in the JSON form of an earlier breakglass")
                && refused.stderr.contains("breakglass state migrate --from json --to local"),
            "{command:?}: {}",
            refused.stderr
        );
    }
    assert!(!state_db(path).exists(), "nothing was created while refusing");

    let migrated = at(path, T0)
        .args(["state", "migrate", "--from", "json", "--to", "local"])
        .run()
        .expect_code(0);
    assert!(
        migrated.stdout.contains(&format!(
            "the audit log ({} event(s), head {}",
            lines.len(),
            head.trim()
        )),
        "{}",
        migrated.stdout
    );
    assert_eq!(
        at(path, T0).args(["state", "pull"]).run().expect_code(0).stdout,
        document,
        "the same document, lineage and serial included"
    );
    let verified = at(path, T0).args(["audit", "verify", "--json"]).run().expect_code(0).json();
    assert_eq!(verified["head"], head.trim(), "the chain carried over, verbatim");
    assert_eq!(verified["lines"], lines.len());
    let again = at(path, T0)
        .args(["state", "migrate", "--from", "json", "--to", "local"])
        .run()
        .expect_code(1);
    assert!(again.stderr.contains("already holds"), "{}", again.stderr);

    // The migrated state works: the grant is reverted at its end, on the same chain.
    at(path, "2026-11-28T14:00:01Z").args(["reconcile"]).run().expect_code(0);
    assert!(!read(path.join("app/access.json")).contains("log-reader"));
    let id = state(path)["activations"]
        .as_object()
        .unwrap()
        .iter()
        .find(|(id, _)| id.starts_with("act_"))
        .map(|(_, a)| a["status"].clone())
        .unwrap();
    assert_eq!(id, "reverted");
    let after = at(path, T0).args(["audit", "verify", "--json", "--anchor", head.trim()]);
    assert_eq!(after.run().expect_code(0).json()["anchor"]["line"], lines.len());
}

#[test]
fn a_policy_naming_the_old_state_json_path_keeps_working_on_the_database_beside_it() {
    let dir = example_copy("quickstart");
    let path = dir.path();
    let main = path.join("main.hcl");
    let text = read(&main);
    assert!(text.contains("breakglass {"), "{text}");
    fs_err::write(
        &main,
        text.replacen(
            "breakglass {",
            "breakglass {\n  state {\n    path = \".breakglass/state.json\"\n  }\n",
            1,
        ),
    )
    .unwrap();
    at(path, T0).args(["apply", "--auto-approve"]).run().expect_code(0);
    assert!(state_db(path).exists());
    assert!(!path.join(".breakglass/state.json").exists());
    at(path, T0).args(["plan", "--detailed-exitcode"]).run().expect_code(0);
}
