//! `fmt`: canonical formatting that keeps comments; `--check` exits 3 on unformatted files.

use crate::util::{Run, root};

fn unformatted() -> String {
    fs_err::read_to_string(root().join("tests/fixtures/fmt/unformatted.hcl")).unwrap()
}

#[test]
fn check_lists_unformatted_files_shows_the_diff_and_exits_3() {
    let dir = tempfile::tempdir().unwrap();
    fs_err::write(dir.path().join("main.hcl"), unformatted()).unwrap();
    let outcome = Run::new(dir.path()).args(["fmt", "--check", "--diff"]).run().expect_code(3);
    snapshot!("fmt_check_diff", outcome.stdout);
    assert_eq!(
        fs_err::read_to_string(dir.path().join("main.hcl")).unwrap(),
        unformatted(),
        "--check writes nothing"
    );
}

#[test]
fn fmt_rewrites_in_place_keeps_comments_and_is_idempotent() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("main.hcl");
    fs_err::write(&path, unformatted()).unwrap();
    let outcome = Run::new(dir.path()).args(["fmt"]).run().expect_code(0);
    assert_eq!(outcome.stdout.trim(), "./main.hcl");
    let formatted = fs_err::read_to_string(&path).unwrap();
    snapshot!("fmt_formatted", formatted.clone());
    for comment in ["# Team leads approve.", "# two leads", "// the app's role"] {
        assert!(formatted.contains(comment), "comment {comment:?} kept:\n{formatted}");
    }
    Run::new(dir.path()).args(["fmt", "--check"]).run().expect_code(0);
    Run::new(dir.path()).args(["fmt"]).run().expect_code(0);
    assert_eq!(fs_err::read_to_string(&path).unwrap(), formatted, "a second fmt changes nothing");
}

#[test]
fn stdin_is_formatted_to_stdout() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in.hcl");
    fs_err::write(&input, "team \"a\" {\nmembers=[person.x]\n}\n").unwrap();
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_breakglass"))
        .args(["fmt", "-"])
        .stdin(fs_err::File::open(&input).unwrap().into_parts().0)
        .output()
        .unwrap();
    assert!(output.status.success());
    assert_eq!(
        String::from_utf8_lossy(&output.stdout),
        "team \"a\" {\n  members = [person.x]\n}\n"
    );
}

#[test]
fn a_syntax_error_names_file_line_and_column_and_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let broken = "team \"a\" {\n  members = [person.x\n";
    fs_err::write(dir.path().join("broken.hcl"), broken).unwrap();
    let outcome = Run::new(dir.path()).args(["fmt"]).run().expect_code(1);
    assert!(outcome.stderr.contains("broken.hcl:"), "{}", outcome.stderr);
    assert_eq!(fs_err::read_to_string(dir.path().join("broken.hcl")).unwrap(), broken);
}

#[test]
fn every_example_is_formatted() {
    Run::new(root()).args(["fmt", "--check", "--recursive", "examples"]).run().expect_code(0);
}

#[cfg(unix)]
#[test]
fn fmt_keeps_the_file_mode_and_never_writes_through_a_planted_link() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("main.hcl");
    fs_err::write(&path, unformatted()).unwrap();
    fs_err::set_permissions(&path, std::fs::Permissions::from_mode(0o640)).unwrap();
    // A link where a fixed temporary name would be.
    let precious = dir.path().join("precious");
    fs_err::write(&precious, "untouched").unwrap();
    std::os::unix::fs::symlink(&precious, dir.path().join("main.hcl.fmt-tmp")).unwrap();

    Run::new(dir.path()).args(["fmt"]).run().expect_code(0);
    assert_ne!(fs_err::read_to_string(&path).unwrap(), unformatted(), "formatted");
    assert_eq!(fs_err::metadata(&path).unwrap().permissions().mode() & 0o777, 0o640);
    assert_eq!(fs_err::read_to_string(&precious).unwrap(), "untouched");
    let mut names: Vec<String> = fs_err::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(names, ["main.hcl", "main.hcl.fmt-tmp", "precious"], "no temporary file left");
}
