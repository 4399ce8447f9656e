//! `validate` on bad policies: every fixture in tests/fixtures/invalid marks each line it
//! expects an error on with `# ERROR: <words of the summary>`; the errors reported must be
//! exactly those lines, each naming file:line:column. Text and JSON output are snapshotted.

use std::collections::BTreeSet;

use crate::util::{Run, policy_dir, root};

/// (line, expected words) for every `# ERROR:` marker.
fn markers(text: &str) -> Vec<(usize, String)> {
    text.lines()
        .enumerate()
        .filter_map(|(index, line)| {
            line.split_once("# ERROR: ").map(|(_, words)| (index + 1, words.trim().to_owned()))
        })
        .collect()
}

#[test]
fn every_invalid_fixture_fails_exactly_where_it_says() {
    let fixtures = root().join("tests/fixtures/invalid");
    let mut names: Vec<_> = fs_err::read_dir(&fixtures)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|e| e == "hcl"))
        .collect();
    names.sort();
    assert!(names.len() >= 25, "at least 25 bad policies, found {}", names.len());
    for path in names {
        let name = path.file_stem().unwrap().to_string_lossy().into_owned();
        let text = fs_err::read_to_string(&path).unwrap();
        let expected = markers(&text);
        assert!(!expected.is_empty(), "{name}: mark the offending line with # ERROR: …");
        let dir = policy_dir(&[("main.hcl", &text)]);

        let json = Run::new(dir.path()).args(["validate", "--json"]).run().expect_code(1);
        let report = json.json();
        assert_eq!(report["valid"], false, "{name}");
        let errors: Vec<&serde_json::Value> = report["diagnostics"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|d| d["severity"] == "error")
            .collect();
        let error_lines: BTreeSet<usize> = errors
            .iter()
            .map(|d| d["range"]["start"]["line"].as_u64().expect("every error has a line") as usize)
            .collect();
        let marked_lines: BTreeSet<usize> = expected.iter().map(|(line, _)| *line).collect();
        assert_eq!(
            error_lines, marked_lines,
            "{name}: errors at other lines than marked:\n{}",
            json.stdout
        );
        for (line, words) in &expected {
            let found = errors.iter().any(|d| {
                d["range"]["start"]["line"] == *line
                    && format!(
                        "{} {}",
                        d["summary"].as_str().unwrap(),
                        d["detail"].as_str().unwrap()
                    )
                    .contains(words.as_str())
            });
            assert!(found, "{name}:{line}: no error mentions {words:?}:\n{}", json.stdout);
        }

        let text_run = Run::new(dir.path()).args(["validate"]).run().expect_code(1);
        for (line, _) in &expected {
            let place = format!("main.hcl:{line}:");
            assert!(
                text_run.stdout.contains(&place),
                "{name}: text names {place}:\n{}",
                text_run.stdout
            );
        }
        snapshot!(
            format!("validate_{name}"),
            format!("{}\n--- json\n{}", text_run.stdout, json.stdout)
        );
    }
}

#[test]
fn a_directory_without_policy_files_says_where_to_look() {
    let dir = tempfile::tempdir().unwrap();
    let outcome = Run::new(dir.path()).args(["validate"]).run().expect_code(1);
    assert!(outcome.stdout.contains("no policy files"), "{}", outcome.stdout);
    assert!(outcome.stdout.contains("-C DIR"), "{}", outcome.stdout);
}

#[test]
fn errors_in_several_files_are_all_reported() {
    let first = "person \"alice\" {\n  public_key = file(\"keys/alice.pub\")\n  emial = \"a@example.com\"\n}\n";
    let second = "team \"oncall\" {\n  members = [person.alice, person.nobody]\n}\n";
    let dir = policy_dir(&[("a.hcl", first), ("b.hcl", second)]);
    let outcome = Run::new(dir.path()).args(["validate"]).run().expect_code(1);
    assert!(outcome.stdout.contains("a.hcl:3:3"), "{}", outcome.stdout);
    assert!(outcome.stdout.contains("b.hcl:2:28"), "{}", outcome.stdout);
}

#[test]
fn warnings_alone_leave_the_policy_valid() {
    let text = "person \"alice\" {\n  public_key = file(\"keys/alice.pub\")\n}\n";
    let dir = policy_dir(&[("main.hcl", text)]);
    let outcome = Run::new(dir.path()).args(["validate", "--json"]).run().expect_code(0);
    let report = outcome.json();
    assert_eq!(report["valid"], true);
    assert_eq!(report["warning_count"], 1, "no trusted plan signers: {}", outcome.stdout);
}

#[test]
fn a_grant_becomes_invalid_once_it_has_ended() {
    let quickstart = root().join("examples/quickstart");
    let before = Run::new(&quickstart).args(["validate"]).run().expect_code(0);
    assert!(before.stdout.contains("Success"), "{}", before.stdout);
    let after = Run::new(&quickstart)
        .env("BREAKGLASS_TEST_NOW", "2031-01-15T17:00:01Z")
        .args(["validate"])
        .run()
        .expect_code(1);
    assert!(after.stdout.contains("grant \"chg_1234\" ended in the past"), "{}", after.stdout);
    assert!(after.stdout.contains("access.hcl:"), "{}", after.stdout);
}

#[test]
fn a_file_that_is_not_utf8_is_reported_at_its_first_bad_byte() {
    let dir = policy_dir(&[]);
    // "café" in Latin-1 on line 3: é is the single byte 0xE9.
    let mut bytes = b"# Latin-1, not UTF-8\nperson \"alice\" {\n  display_name = \"Caf".to_vec();
    bytes.extend([0xE9, b'"', b'\n', b'}', b'\n']);
    fs_err::write(dir.path().join("people.hcl"), &bytes).unwrap();

    let json = Run::new(dir.path()).args(["validate", "--json"]).run().expect_code(1);
    let report = json.json();
    let errors = report["diagnostics"].as_array().unwrap();
    assert_eq!(errors.len(), 1, "{}", json.stdout);
    assert_eq!(errors[0]["summary"], "policy file is not UTF-8");
    assert_eq!(errors[0]["range"]["filename"], "people.hcl");
    assert_eq!(errors[0]["range"]["start"]["line"], 3);
    assert_eq!(errors[0]["range"]["start"]["column"], 22);
    assert!(errors[0]["detail"].as_str().unwrap().contains("byte 0xE9"), "{}", json.stdout);

    let text = Run::new(dir.path()).args(["validate"]).run().expect_code(1);
    snapshot!("validate_not_utf8", text.stdout);

    let fmt = Run::new(dir.path()).args(["fmt", "--check"]).run().expect_code(1);
    assert!(
        fmt.stderr.contains("people.hcl:3:22: the file is not UTF-8 text: byte 0xE9"),
        "{}",
        fmt.stderr
    );
    assert_eq!(fs_err::read(dir.path().join("people.hcl")).unwrap(), bytes, "fmt left it alone");
}
