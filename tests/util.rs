//! A small harness: run the `breakglass` binary in a directory, with a fixed test clock, and
//! look at what it printed and how it exited.

use std::path::{Path, PathBuf};
use std::process::Command;

/// The test clock every run uses unless a test sets another.
pub const TEST_NOW: &str = "2026-11-28T12:00:00Z";

/// The repository root.
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A command line to run.
#[derive(Debug)]
pub struct Run {
    command: Command,
}

/// What a run printed and how it ended.
#[derive(Debug)]
pub struct Outcome {
    /// The exit code.
    pub code: i32,
    /// Standard output.
    pub stdout: String,
    /// Standard error.
    pub stderr: String,
}

impl Run {
    /// `breakglass ARGS…` in `dir`.
    pub fn new(dir: impl AsRef<Path>) -> Self {
        let mut command = Command::new(env!("CARGO_BIN_EXE_breakglass"));
        command
            .current_dir(dir.as_ref())
            .env("BREAKGLASS_TEST_NOW", TEST_NOW)
            .env("NO_COLOR", "1")
            .env_remove("BREAKGLASS_SIGN_KEY")
            .env_remove("BREAKGLASS_KEY")
            .env_remove("BREAKGLASS_AS")
            .env_remove("BREAKGLASS_DIR")
            .env_remove("BREAKGLASS_TOTP_SECRETS");
        Self { command }
    }

    /// `sh -c SCRIPT` in `dir`, with the same environment and `$BREAKGLASS` the binary (for
    /// what only a shell sets, such as the umask).
    pub fn shell(dir: impl AsRef<Path>, script: &str) -> Self {
        let mut run = Self::new(dir);
        let mut command = Command::new("sh");
        command
            .arg("-c")
            .arg(script)
            .current_dir(run.command.get_current_dir().unwrap_or(Path::new(".")));
        for (key, value) in run.command.get_envs() {
            match value {
                Some(value) => command.env(key, value),
                None => command.env_remove(key),
            };
        }
        command.env("BREAKGLASS", env!("CARGO_BIN_EXE_breakglass"));
        run.command = command;
        run
    }

    /// Adds arguments.
    pub fn args<I, S>(mut self, args: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<std::ffi::OsStr>,
    {
        self.command.args(args);
        self
    }

    /// Uses the real clock (for long-running commands such as `watch`).
    pub fn real_clock(mut self) -> Self {
        self.command.env_remove("BREAKGLASS_TEST_NOW");
        self
    }

    /// Runs in the background; the caller stops it.
    pub fn spawn(mut self) -> std::process::Child {
        self.command
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("the breakglass binary starts")
    }

    /// Sets an environment variable.
    pub fn env(mut self, key: &str, value: impl AsRef<std::ffi::OsStr>) -> Self {
        self.command.env(key, value);
        self
    }

    /// Runs to completion.
    pub fn run(mut self) -> Outcome {
        let output = self.command.output().expect("the breakglass binary runs");
        Outcome {
            code: output.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    }
}

impl Outcome {
    /// Asserts the exit code, showing the output when it differs.
    #[track_caller]
    pub fn expect_code(self, code: i32) -> Self {
        assert_eq!(
            self.code, code,
            "exit code {} (wanted {code})\n--- stdout\n{}\n--- stderr\n{}",
            self.code, self.stdout, self.stderr
        );
        self
    }

    /// stdout parsed as JSON.
    #[track_caller]
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("stdout is not JSON ({e}):\n{}", self.stdout))
    }
}

/// Copies `files` (name, text) and the shared test keys into a fresh temporary directory.
pub fn policy_dir(files: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("a temporary directory");
    copy_dir(&root().join("tests/fixtures/keys"), &dir.path().join("keys"));
    for (name, text) in files {
        fs_err::write(dir.path().join(name), text).expect("write a policy file");
    }
    dir
}

/// A fresh copy of `examples/NAME` (without state or app files from earlier runs).
pub fn example_copy(name: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("a temporary directory");
    copy_dir(&root().join("examples").join(name), dir.path());
    for leftover in [".breakglass", "app"] {
        let _ = fs_err::remove_dir_all(dir.path().join(leftover));
    }
    dir
}

/// Reads a file, or "" when it does not exist.
pub fn read(path: impl AsRef<Path>) -> String {
    fs_err::read_to_string(path.as_ref()).unwrap_or_default()
}

/// Copies a directory tree.
pub fn copy_dir(from: &Path, to: &Path) {
    fs_err::create_dir_all(to).expect("create directory");
    for entry in fs_err::read_dir(from).expect("read directory") {
        let entry = entry.expect("directory entry");
        let target = to.join(entry.file_name());
        if entry.path().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            fs_err::copy(entry.path(), target).expect("copy a file");
        }
    }
}

/// Snapshot assertion with the suite's filters (temporary paths, timestamps, digests).
macro_rules! snapshot {
    ($name:expr, $value:expr) => {
        insta::with_settings!({
            snapshot_path => "snapshots",
            prepend_module_to_snapshot => false,
            filters => vec![
                (r"/tmp/\.tmp[A-Za-z0-9]+", "[TMP]"),
                (r"sha256:[0-9a-f]{64}", "sha256:[DIGEST]"),
                (r"SHA256:[0-9a-f]{32}", "SHA256:[KEYID]"),
                (r"sha256:[0-9a-f]{12}\b", "sha256:[SHORT]"),
                (r"\b[0-9a-z]{26}\b", "[ULID]"),
                (r#""breakglass_version": "[0-9.]+""#, r#""breakglass_version": "[VERSION]""#),
            ],
        }, {
            insta::assert_snapshot!($name, $value);
        })
    };
}

/// The local state database of the policy in `dir`.
pub fn state_db(dir: &Path) -> PathBuf {
    dir.join(".breakglass/state.db")
}

/// Runs `future` to completion on a runtime of its own, on a thread of its own (so async tests
/// may call the helpers below too).
fn block_on<F>(future: F) -> F::Output
where
    F: std::future::Future + Send,
    F::Output: Send,
{
    std::thread::scope(|scope| {
        scope
            .spawn(|| {
                tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .unwrap()
                    .block_on(future)
            })
            .join()
            .unwrap()
    })
}

/// The state of the policy in `dir`, as the JSON document `state pull` prints ("{}"-like empty
/// state when there is none).
pub fn state(dir: &Path) -> serde_json::Value {
    use breakglass::state::StateStore;
    let state = block_on(breakglass::state::LocalStore::new(state_db(dir)).read()).unwrap();
    serde_json::to_value(state).unwrap()
}

/// The state of the policy in `dir` as text, to compare before and after.
pub fn state_text(dir: &Path) -> String {
    serde_json::to_string_pretty(&state(dir)).unwrap()
}

/// Writes activation records into the state of `dir` as they are (tests simulating a crash
/// or an edit made outside breakglass).
pub fn write_activations(dir: &Path, activations: &[serde_json::Value]) {
    use breakglass::state::{Change, StateStore};
    let store = breakglass::state::LocalStore::new(state_db(dir));
    block_on(async {
        let mut guard = store.lock("test", std::time::Duration::from_secs(5)).await.unwrap();
        let activations = activations
            .iter()
            .map(|a| std::sync::Arc::new(serde_json::from_value(a.clone()).unwrap()))
            .collect();
        guard.commit(Change { activations, ..Change::default() }).await.unwrap();
    });
}

/// Every line of the audit log of `dir`, in order.
pub fn audit_lines(dir: &Path) -> Vec<String> {
    use breakglass::state::{EventFilter, StateStore};
    let store = breakglass::state::LocalStore::new(state_db(dir));
    let mut lines = Vec::new();
    block_on(store.scan_events(&EventFilter::default(), &mut |event| {
        lines.push(event.line);
        true
    }))
    .unwrap();
    lines
}

/// The audit log of `dir` as text, one event a line.
pub fn audit_text(dir: &Path) -> String {
    audit_lines(dir).iter().map(|line| format!("{line}\n")).collect()
}

/// Replaces the audit log of `dir` with `lines`, each stored with the hash of its line, as
/// someone editing the database would (so the break shows where the chain no longer links).
pub fn set_audit_lines(dir: &Path, lines: &[String]) {
    let connection = rusqlite::Connection::open(state_db(dir)).unwrap();
    connection.execute("DELETE FROM audit_events", []).unwrap();
    for (index, line) in lines.iter().enumerate() {
        let event: serde_json::Value = serde_json::from_str(line).unwrap_or_default();
        let text =
            |pointer: &str| event.pointer(pointer).and_then(|v| v.as_str()).map(str::to_owned);
        connection
            .execute(
                "INSERT INTO audit_events (seq, time_ns, action, activation, plan_digest, hash, line) \
                 VALUES (?1, 0, ?2, ?3, ?4, ?5, ?6)",
                rusqlite::params![
                    i64::try_from(index + 1).unwrap(),
                    text("/action").unwrap_or_default(),
                    text("/subject/activation"),
                    text("/subject/plan_digest"),
                    breakglass::audit::line_hash(line),
                    line
                ],
            )
            .unwrap();
    }
}

/// The last audit event of `dir`, parsed.
pub fn last_event(dir: &Path) -> serde_json::Value {
    serde_json::from_str(audit_lines(dir).last().expect("an audit event")).unwrap()
}
