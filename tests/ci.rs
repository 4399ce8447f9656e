//! Fitting into shells and CI: `--version` names the commit, completion scripts and manual
//! pages generated from the command definitions, plans saved once and rendered from the file
//! (`plan --out --no-sign`, `show`), a markdown comment that fits GitHub's limit however large
//! the plan, and the repository's GitHub Action run by bash as a runner would.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

use crate::util::{Run, example_copy, read, root};

fn git_commit() -> Option<String> {
    let output = Command::new("git")
        .args(["rev-parse", "--short=12", "HEAD"])
        .current_dir(root())
        .output()
        .ok()?;
    output.status.success().then(|| String::from_utf8_lossy(&output.stdout).trim().to_owned())
}

#[test]
fn version_names_the_commit_it_was_built_from() {
    let outcome = Run::new(root()).args(["--version"]).run().expect_code(0);
    let version = outcome.stdout.trim();
    let expected = match git_commit() {
        Some(commit) => format!("breakglass {} (commit {commit})", env!("CARGO_PKG_VERSION")),
        None => format!("breakglass {}", env!("CARGO_PKG_VERSION")),
    };
    assert_eq!(version, expected);
}

#[test]
fn every_shell_gets_a_completion_script() {
    let markers = [
        ("bash", "complete -F _breakglass"),
        ("zsh", "#compdef breakglass"),
        ("fish", "complete -c breakglass"),
        ("powershell", "Register-ArgumentCompleter"),
        ("elvish", "edit:completion:arg-completer[breakglass]"),
    ];
    for (shell, marker) in markers {
        let outcome = Run::new(root()).args(["completions", shell]).run().expect_code(0);
        assert!(outcome.stdout.contains(marker), "{shell}: no {marker:?} in\n{}", outcome.stdout);
        for subcommand in ["plan", "apply", "approve", "reconcile", "audit", "completions"] {
            assert!(outcome.stdout.contains(subcommand), "{shell} script lacks {subcommand}");
        }
    }
    let wrong = Run::new(root()).args(["completions", "tcsh"]).run().expect_code(1);
    assert!(wrong.stderr.contains("possible values"), "{}", wrong.stderr);
}

/// What bash's completion offers for the words typed so far (the last one being completed).
fn bash_completes(words: &[&str]) -> Vec<String> {
    let script = Run::new(root()).args(["completions", "bash"]).run().expect_code(0).stdout;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("breakglass.bash");
    fs_err::write(&path, script).unwrap();
    let quoted: Vec<String> = words.iter().map(|w| format!("'{w}'")).collect();
    let program = format!(
        "source '{}'\nCOMP_WORDS=({})\nCOMP_CWORD={}\nCOMP_LINE='{}'\nCOMP_POINT=${{#COMP_LINE}}\n\
         _breakglass breakglass '{}' '{}'\nprintf '%s\\n' \"${{COMPREPLY[@]}}\"\n",
        path.display(),
        quoted.join(" "),
        words.len() - 1,
        words.join(" "),
        words[words.len() - 1],
        words[words.len().saturating_sub(2)],
    );
    let output = Command::new("bash").args(["--norc", "-c", &program]).output().unwrap();
    assert!(output.status.success(), "bash: {}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8_lossy(&output.stdout).lines().map(str::to_owned).collect()
}

#[test]
fn bash_completes_subcommands_and_flags() {
    let offered = bash_completes(&["breakglass", "re"]);
    for expected in ["request", "reconcile", "revoke"] {
        assert!(offered.iter().any(|o| o == expected), "`re` offers {offered:?}");
    }
    assert!(!offered.iter().any(|o| o == "plan"), "only words starting `re`: {offered:?}");
    let offered = bash_completes(&["breakglass", "state", "l"]);
    assert!(offered.iter().any(|o| o == "list"), "`state l` offers {offered:?}");
    let offered = bash_completes(&["breakglass", "plan", "--deta"]);
    assert_eq!(offered, vec!["--detailed-exitcode".to_owned()]);
}

#[test]
fn the_manual_page_is_generated_from_the_commands() {
    let outcome = Run::new(root()).args(["man"]).run().expect_code(0);
    assert!(outcome.stdout.starts_with(".ie"), "roff: {}", &outcome.stdout[..80]);
    let page = outcome.stdout.replace(env!("BREAKGLASS_VERSION"), "[VERSION]");
    snapshot!("man_breakglass", page);
}

#[test]
fn man_out_writes_a_page_for_every_subcommand() {
    use clap::CommandFactory;
    fn names(command: &clap::Command, prefix: &str, out: &mut Vec<String>) {
        out.push(format!("{prefix}.1"));
        for sub in command.get_subcommands().filter(|s| s.get_name() != "help") {
            names(sub, &format!("{prefix}-{}", sub.get_name()), out);
        }
    }
    let mut expected = Vec::new();
    names(&breakglass::cli::Cli::command(), "breakglass", &mut expected);
    expected.sort();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("man1");
    let outcome = Run::new(root()).args(["man", "--out"]).args([&out]).run().expect_code(0);
    assert!(outcome.stderr.contains(&format!("Wrote {} manual pages", expected.len())));
    let mut written: Vec<String> = fs_err::read_dir(&out)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    written.sort();
    assert_eq!(written, expected);
    let plan_page = read(out.join("breakglass-plan.1"));
    assert!(plan_page.contains("detailed\\-exitcode"), "{plan_page}");
    let list_page = read(out.join("breakglass-state-list.1"));
    let title =
        format!(".TH breakglass-state-list 1  \"breakglass {}\"", env!("BREAKGLASS_VERSION"));
    assert!(list_page.contains(&title), "{list_page}");
}

/// A copy of the quickstart whose baseline also declares `count` more access entries: a plan
/// with `count` + 2 changes.
fn large_policy(count: usize) -> tempfile::TempDir {
    let dir = example_copy("quickstart");
    let mut text = String::from("# Generated: a large baseline, for the markdown budget.\n\n");
    for index in 0..count {
        text.push_str(&format!(
            "resource \"local_access\" \"generated_{index:05}\" {{\n  principal = \"user:person{index:05}\"\n  role      = \"viewer\"\n}}\n\n"
        ));
    }
    fs_err::write(dir.path().join("generated.hcl"), text).unwrap();
    dir
}

#[test]
fn a_plan_of_5000_changes_fits_one_pull_request_comment() {
    let dir = large_policy(5_000);
    let plan = Run::new(dir.path())
        .args(["plan", "--out", "plan.json", "--no-sign", "--detailed-exitcode"])
        .run()
        .expect_code(2);
    assert!(
        plan.stdout.contains("Plan: 5002 to add"),
        "{}",
        &plan.stdout[plan.stdout.len() - 200..]
    );
    assert!(plan.stderr.contains("unsigned"), "{}", plan.stderr);

    let comment = Run::new(dir.path())
        .args(["show", "plan.json", "--format", "markdown", "--detailed-exitcode"])
        .args(["--full-plan", "the job summary"])
        .run()
        .expect_code(2);
    let length = comment.stdout.chars().count();
    assert!(length <= 65_536, "the comment has {length} characters");
    assert!(length > 60_000, "the budget is used, not wasted: {length}");
    assert!(comment.stdout.contains("**Plan: 5002 to add, 0 to change, 0 to destroy.**"));
    let shown = comment.stdout.matches("<details>").count();
    assert!(shown > 100, "as many changes as fit are shown: {shown}");
    let note = format!("**{} of 5002 changes not shown**", 5002 - shown);
    assert!(comment.stdout.contains(&note), "no {note:?} in the tail:\n{}", tail(&comment.stdout));
    assert!(comment.stdout.trim_end().ends_with("For the whole plan, see the job summary."));
    // Each shown change is whole: the cut falls between changes.
    assert_eq!(comment.stdout.matches("</details>").count(), shown);

    let whole = Run::new(dir.path())
        .args(["show", "plan.json", "--format", "markdown", "--max-chars", "0"])
        .run()
        .expect_code(0);
    assert_eq!(whole.stdout.matches("<details>").count(), 5002);
    assert!(!whole.stdout.contains("not shown"));
    assert!(
        whole.stdout.starts_with(&comment.stdout[..comment.stdout.find("<details>").unwrap()]),
        "the cut comment is the whole one, shortened"
    );
}

fn tail(text: &str) -> &str {
    &text[text.len().saturating_sub(600)..]
}

#[test]
fn a_small_plan_is_not_cut_and_json_from_the_saved_plan_is_the_plan() {
    let dir = example_copy("quickstart");
    Run::new(dir.path()).args(["plan", "--out", "plan.json", "--no-sign"]).run().expect_code(0);
    let direct = Run::new(dir.path()).args(["plan", "--format", "markdown"]).run().expect_code(0);
    let shown = Run::new(dir.path())
        .args(["show", "plan.json", "--format", "markdown"])
        .run()
        .expect_code(0);
    assert_eq!(shown.stdout, direct.stdout, "same plan, same rendering, nothing cut");
    assert!(shown.stderr.contains("unsigned (saved for review with --no-sign"), "{}", shown.stderr);
    let json = Run::new(dir.path()).args(["show", "plan.json", "--json"]).run().expect_code(0);
    assert_eq!(json.json()["summary"]["create"], 2);
}

#[test]
fn an_unsigned_plan_is_refused_by_apply_and_changes_nothing() {
    let dir = example_copy("quickstart");
    Run::new(dir.path()).args(["plan", "--out", "plan.json", "--no-sign"]).run().expect_code(0);
    let refused = Run::new(dir.path()).args(["apply", "plan.json"]).run().expect_code(5);
    assert!(refused.stderr.contains("no signature"), "{}", refused.stderr);
    assert!(!dir.path().join("app/access.json").exists(), "nothing was applied");
}

#[test]
fn plan_out_without_a_key_fails_before_planning() {
    let dir = example_copy("quickstart");
    let outcome = Run::new(dir.path()).args(["plan", "--out", "plan.json"]).run().expect_code(1);
    assert_eq!(outcome.stdout, "", "nothing was planned or printed");
    assert!(outcome.stderr.contains("--sign-key FILE"), "{}", outcome.stderr);
    assert!(outcome.stderr.contains("--no-sign"), "{}", outcome.stderr);
    assert!(!dir.path().join("plan.json").exists());
    let both = Run::new(dir.path())
        .args(["plan", "--out", "plan.json", "--no-sign", "--sign-key", "keys/ci.key"])
        .run()
        .expect_code(1);
    assert!(both.stderr.contains("cannot be used with"), "{}", both.stderr);
}

/// The steps of the repository's action, by id or name.
fn action_steps() -> (serde_json::Value, BTreeMap<String, serde_json::Value>) {
    let action: serde_json::Value =
        serde_saphyr::from_str(&read(root().join("action.yml"))).expect("action.yml is YAML");
    let steps = action["runs"]["steps"]
        .as_array()
        .expect("a composite action has steps")
        .iter()
        .map(|step| {
            let key = step["id"].as_str().or(step["name"].as_str()).unwrap().to_owned();
            (key, step.clone())
        })
        .collect();
    (action, steps)
}

#[test]
fn the_action_is_composite_with_the_documented_inputs() {
    let (action, steps) = action_steps();
    assert_eq!(action["runs"]["using"], "composite");
    for input in ["policy", "version", "comment", "github-token"] {
        assert!(action["inputs"][input]["description"].is_string(), "input {input}");
    }
    assert_eq!(action["outputs"]["exitcode"]["value"], "${{ steps.plan.outputs.exitcode }}");
    // Every breakglass command line the action runs is one the CLI accepts.
    for (name, step) in &steps {
        let Some(script) = step["run"].as_str() else { continue };
        let joined = script.replace("\\\n", " ");
        for line in joined.lines().map(str::trim).filter(|l| l.starts_with("breakglass ")) {
            let line = line.split(['>', '|']).next().unwrap();
            let words = shell_words(line);
            if let Err(error) = <breakglass::cli::Cli as clap::Parser>::try_parse_from(&words)
                && error.kind() != clap::error::ErrorKind::DisplayVersion
            {
                panic!("step {name:?}: `{line}` is not a valid command line: {error}");
            }
        }
    }
    // Live objects are read once: one plan, every rendering from the saved file.
    let plans: usize = steps
        .values()
        .filter_map(|step| step["run"].as_str())
        .map(|script| script.matches("breakglass -C \"$POLICY\" plan").count())
        .sum();
    assert_eq!(plans, 1);
    let example = read(root().join("examples/ci/github-actions.yml"));
    assert!(example.contains("uses: your-org/breakglass@v1"), "the example uses the action");
    assert_eq!(example.matches("breakglass -C policy plan").count(), 1, "one plan: on merge");
}

/// A command line split as the shell would for what the action writes: words, and
/// double-quoted strings as one word.
fn shell_words(line: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut word: Option<String> = None;
    let mut quoted = false;
    for c in line.chars() {
        match c {
            '"' => {
                quoted = !quoted;
                word.get_or_insert_with(String::new);
            }
            c if c.is_whitespace() && !quoted => words.extend(word.take()),
            c => word.get_or_insert_with(String::new).push(c),
        }
    }
    words.extend(word);
    words
}

#[test]
fn the_action_plan_step_runs_as_a_runner_would() {
    let (_, steps) = action_steps();
    let script = steps["plan"]["run"].as_str().unwrap();
    let workspace = large_policy(3_000);
    let temp = tempfile::tempdir().unwrap();
    let github_output = temp.path().join("output");
    let summary = temp.path().join("summary.md");
    let bin = Path::new(env!("CARGO_BIN_EXE_breakglass")).parent().unwrap();
    let path = format!("{}:{}", bin.display(), std::env::var("PATH").unwrap_or_default());
    let output = Command::new("bash")
        .args(["--noprofile", "--norc", "-eo", "pipefail", "-c", script])
        .current_dir(workspace.path())
        .env("PATH", path)
        .env("POLICY", ".")
        .env("RUN_URL", "https://github.com/acme/policy/actions/runs/1")
        .env("RUNNER_TEMP", temp.path())
        .env("GITHUB_OUTPUT", &github_output)
        .env("GITHUB_STEP_SUMMARY", &summary)
        .env("BREAKGLASS_TEST_NOW", crate::util::TEST_NOW)
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "the step failed:\n{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    let outputs = read(&github_output);
    assert!(outputs.contains("exitcode=2\n"), "{outputs}");
    let out = temp.path().join("breakglass");
    assert!(outputs.contains(&format!("plan-json={}\n", out.join("plan.json").display())));
    let comment = read(out.join("comment.md"));
    assert!(comment.chars().count() <= 65_536);
    assert!(comment.contains("changes not shown"), "3,002 changes do not fit one comment");
    assert!(comment.contains(
        "see the job summary and the plan artifact of https://github.com/acme/policy/actions/runs/1"
    ));
    let summary = read(&summary);
    assert_eq!(summary.matches("<details>").count(), 3_002, "the job summary holds them all");
    let plan: serde_json::Value = serde_json::from_str(&read(out.join("plan.json"))).unwrap();
    assert_eq!(plan["summary"]["create"], 3_002);
}
