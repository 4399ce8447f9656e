//! Every folder in examples/ is a valid policy.

use crate::util::{Run, root};

#[test]
fn every_example_validates() {
    let examples = root().join("examples");
    let mut checked = 0;
    for entry in fs_err::read_dir(&examples).unwrap() {
        let path = entry.unwrap().path();
        let has_policy = path.is_dir()
            && fs_err::read_dir(&path)
                .unwrap()
                .any(|f| f.unwrap().path().extension().is_some_and(|e| e == "hcl"));
        if !has_policy {
            continue;
        }
        let outcome =
            Run::new(root()).args(["-C"]).args([&path]).args(["validate", "--json"]).run();
        assert_eq!(outcome.code, 0, "{} is invalid:\n{}", path.display(), outcome.stdout);
        assert_eq!(outcome.json()["error_count"], 0);
        checked += 1;
    }
    assert!(checked >= 1, "no example was checked");
}

#[test]
fn quickstart_validate_prints_success() {
    let outcome =
        Run::new(root()).args(["-C", "examples/quickstart", "validate"]).run().expect_code(0);
    snapshot!("quickstart_validate", outcome.stdout);
}

#[test]
fn the_quickstart_script_runs_the_whole_procedure() {
    let output = std::process::Command::new(root().join("scripts/quickstart"))
        .env("BREAKGLASS", env!("CARGO_BIN_EXE_breakglass"))
        .env_remove("BREAKGLASS_TEST_NOW")
        .output()
        .expect("scripts/quickstart runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "scripts/quickstart failed:\n{stdout}\n{stderr}");
    assert!(stdout.contains("Activation act_") && stdout.contains("is active."), "{stdout}");
    assert!(stdout.contains("is reverted (confirmed by reading the live objects)"), "{stdout}");
    assert!(stdout.contains("Done: alice had prod-admin"), "{stdout}");
}
