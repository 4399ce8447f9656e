//! `--help` of every command teaches, with an example: snapshots keep it reviewed.

use clap::CommandFactory;

use crate::util::{Run, root};

fn command_paths(command: &clap::Command, prefix: Vec<String>, out: &mut Vec<Vec<String>>) {
    out.push(prefix.clone());
    for sub in command.get_subcommands() {
        if sub.get_name() == "help" {
            continue;
        }
        let mut path = prefix.clone();
        path.push(sub.get_name().to_owned());
        command_paths(sub, path, out);
    }
}

#[test]
fn every_command_has_help_with_an_example() {
    let mut paths = Vec::new();
    command_paths(&breakglass::cli::Cli::command(), Vec::new(), &mut paths);
    assert!(paths.len() > 2, "commands found: {paths:?}");
    for path in paths {
        let mut args = path.clone();
        args.push("--help".to_owned());
        let outcome = Run::new(root()).args(&args).run().expect_code(0);
        let name =
            if path.is_empty() { "help".to_owned() } else { format!("help_{}", path.join("_")) };
        if !path.is_empty() && !outcome.stdout.contains("Example") {
            panic!("`breakglass {} --help` has no example:\n{}", path.join(" "), outcome.stdout);
        }
        snapshot!(name, outcome.stdout);
    }
}

#[test]
fn a_wrong_flag_is_a_usage_error() {
    let outcome = Run::new(root()).args(["validate", "--jsn"]).run();
    assert_eq!(outcome.code, 1, "usage errors exit 1 (2 means changes): {}", outcome.stderr);
    assert!(outcome.stderr.contains("--json"), "suggests the right flag: {}", outcome.stderr);
}
