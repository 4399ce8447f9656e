//! Records the git commit the binary is built from, for `breakglass --version`, when the source
//! is a git checkout (a `cargo install --path .` of a clone); a source without git history
//! (a crate tarball) prints the version alone.

use std::path::PathBuf;
use std::process::Command;

fn git(args: &[&str]) -> Option<String> {
    let output = Command::new("git").args(args).output().ok()?;
    output
        .status
        .success()
        .then(|| String::from_utf8_lossy(&output.stdout).trim().to_owned())
        .filter(|text| !text.is_empty())
}

fn main() {
    let version = env!("CARGO_PKG_VERSION");
    let commit = git(&["rev-parse", "--short=12", "HEAD"]);
    // Rebuild when HEAD moves: HEAD itself, the branch it names, and packed refs.
    if let Some(git_dir) = git(&["rev-parse", "--absolute-git-dir"]).map(PathBuf::from) {
        println!("cargo:rerun-if-changed={}", git_dir.join("HEAD").display());
        if let Some(branch) = git(&["symbolic-ref", "-q", "HEAD"]) {
            let common = git(&["rev-parse", "--path-format=absolute", "--git-common-dir"])
                .map_or_else(|| git_dir.clone(), PathBuf::from);
            println!("cargo:rerun-if-changed={}", common.join(branch).display());
            println!("cargo:rerun-if-changed={}", common.join("packed-refs").display());
        }
    }
    let long = match commit {
        Some(commit) => format!("{version} (commit {commit})"),
        None => version.to_owned(),
    };
    println!("cargo:rustc-env=BREAKGLASS_VERSION={long}");
}
