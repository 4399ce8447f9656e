//! Test support (feature `test-support`): a real AWS API emulator, moto in server mode, started
//! on a free port for one test, and a small fault-injecting proxy to put in front of it.
//!
//! moto is installed by `scripts/install/moto` into `.venv-moto` at the repository root (or
//! named by `MOTO_SERVER`). A test that cannot find it fails with a message naming the install
//! script: a skipped test would be a test that silently stopped testing.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The repository root.
pub fn repository_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The `moto_server` executable.
pub fn moto_server() -> PathBuf {
    match std::env::var_os("MOTO_SERVER") {
        Some(path) => PathBuf::from(path),
        None => repository_root().join(".venv-moto/bin/moto_server"),
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// A running moto server; stopped (by its own process id) when dropped.
#[derive(Debug)]
pub struct Moto {
    child: Child,
    /// `http://127.0.0.1:PORT`
    pub url: String,
    /// The port.
    pub port: u16,
}

impl Moto {
    /// Starts moto with AWS managed policies loaded and signatures not checked.
    pub fn start() -> Self {
        Self::start_with(&[])
    }

    /// Starts moto with extra environment variables (`INITIAL_NO_AUTH_ACTION_COUNT` turns on
    /// signature and permission checks after that many calls).
    pub fn start_with(env: &[(&str, &str)]) -> Self {
        let server = moto_server();
        assert!(
            server.exists(),
            "moto (the AWS API emulator) is not installed at {}: run scripts/install/moto (or set \
             MOTO_SERVER to a moto_server executable)",
            server.display()
        );
        let port = free_port();
        let mut command = Command::new(&server);
        command
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .env("MOTO_IAM_LOAD_MANAGED_POLICIES", "true")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        for (key, value) in env {
            command.env(key, value);
        }
        let child =
            command.spawn().unwrap_or_else(|e| panic!("cannot start {}: {e}", server.display()));
        let moto = Self { child, url: format!("http://127.0.0.1:{port}"), port };
        moto.wait_until_ready();
        moto
    }

    fn wait_until_ready(&self) {
        let deadline = Instant::now() + Duration::from_secs(60);
        while Instant::now() < deadline {
            if let Ok((status, _)) = http("GET", self.port, "/moto-api/", "")
                && status < 500
            {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!("moto did not answer on port {} within 60 s", self.port);
    }

    /// Forgets everything moto holds.
    pub fn reset(&self) {
        http("POST", self.port, "/moto-api/reset", "").expect("reset moto");
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A signed client for `url` with moto's test credentials, for setting a scene and looking at
/// it from tests (calls the provider itself never makes: `CreateUser`, `CreateAccessKey`…).
pub fn client(url: &str) -> crate::client::AwsClient {
    let http =
        breakglass_provider::http::HttpClient::new("aws", Default::default()).expect("a client");
    let credentials = crate::credentials::Credentials {
        access_key_id: "testing".to_owned(),
        secret_access_key: breakglass_provider::Secret::new("testing"),
        session_token: None,
        source: crate::credentials::CredentialSource::Environment,
    };
    let endpoints = crate::client::Endpoints { block: Some(url.to_owned()), ..Default::default() };
    crate::client::AwsClient::new(http, credentials, "us-east-1".to_owned(), endpoints)
}

/// Calls an IAM action with `params`, answering its raw `<ActionResult>` members as nothing
/// (for set-up calls whose answer does not matter).
pub async fn iam_call(client: &crate::client::AwsClient, action: &str, params: &[(&str, &str)]) {
    let params: Vec<(&str, String)> = params.iter().map(|(k, v)| (*k, (*v).to_owned())).collect();
    let _: crate::xml::Members<String> = client
        .query(crate::client::Service::Iam, action, &params)
        .await
        .unwrap_or_else(|e| panic!("{action}: {e}"));
}

/// A minimal HTTP/1.1 call to 127.0.0.1 (status, body), for harness chores.
pub fn http(method: &str, port: u16, path: &str, body: &str) -> std::io::Result<(u16, String)> {
    let mut stream = TcpStream::connect(("127.0.0.1", port))?;
    stream.set_read_timeout(Some(Duration::from_secs(30)))?;
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )?;
    let mut answer = String::new();
    stream.read_to_string(&mut answer)?;
    let status = answer.split_whitespace().nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
    let body = answer.split_once("\r\n\r\n").map(|(_, b)| b.to_owned()).unwrap_or_default();
    Ok((status, body))
}

/// One fault: requests whose body or `X-Amz-Target` contains `matches` get `status` and
/// `body` instead of reaching moto, `times` times.
#[derive(Debug, Clone)]
pub struct Fault {
    /// What to match (`Action=AttachRolePolicy`, `CreateAccountAssignment`, or `""` for all).
    pub matches: String,
    /// How many matching requests fail.
    pub times: usize,
    /// The status to answer.
    pub status: u16,
    /// The body to answer.
    pub body: String,
}

impl Fault {
    /// AWS's Query-protocol throttling answer.
    pub fn throttling(matches: &str, times: usize) -> Self {
        Self {
            matches: matches.to_owned(),
            times,
            status: 400,
            body: "<ErrorResponse xmlns=\"https://iam.amazonaws.com/doc/2010-05-08/\"><Error>\
                   <Type>Sender</Type><Code>Throttling</Code><Message>Rate exceeded</Message>\
                   </Error><RequestId>fault</RequestId></ErrorResponse>"
                .to_owned(),
        }
    }

    /// A JSON-protocol answer.
    pub fn json(matches: &str, times: usize, status: u16, body: serde_json::Value) -> Self {
        Self { matches: matches.to_owned(), times, status, body: body.to_string() }
    }

    /// A Query-protocol error that is not retried.
    pub fn error(matches: &str, times: usize, code: &str, message: &str) -> Self {
        Self {
            matches: matches.to_owned(),
            times,
            status: 400,
            body: format!(
                "<ErrorResponse><Error><Type>Sender</Type><Code>{code}</Code><Message>{message}</Message>\
                 </Error><RequestId>fault</RequestId></ErrorResponse>"
            ),
        }
    }
}

#[derive(Debug, Default)]
struct ProxyState {
    faults: Mutex<Vec<Fault>>,
    injected: AtomicUsize,
    forwarded: AtomicUsize,
    injected_into: Mutex<Vec<String>>,
}

/// A proxy on 127.0.0.1 that answers requests matching a [`Fault`] itself and forwards the
/// rest to moto byte for byte. Stops when dropped.
#[derive(Debug)]
pub struct FaultProxy {
    /// `http://127.0.0.1:PORT`
    pub url: String,
    state: Arc<ProxyState>,
    stop: Arc<std::sync::atomic::AtomicBool>,
    port: u16,
}

impl FaultProxy {
    /// Starts a proxy to `upstream_port` with `faults`.
    pub fn start(upstream_port: u16, faults: Vec<Fault>) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the proxy");
        let port = listener.local_addr().expect("address").port();
        let state = Arc::new(ProxyState { faults: Mutex::new(faults), ..Default::default() });
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let (thread_state, thread_stop) = (state.clone(), stop.clone());
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                if thread_stop.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(stream) = stream else { continue };
                let state = thread_state.clone();
                std::thread::spawn(move || {
                    let _ = serve(stream, upstream_port, &state);
                });
            }
        });
        Self { url: format!("http://127.0.0.1:{port}"), state, stop, port }
    }

    /// Requests answered with a fault so far.
    pub fn injected(&self) -> usize {
        self.state.injected.load(Ordering::SeqCst)
    }

    /// The requests that were answered with a fault, as text.
    pub fn injected_into(&self) -> Vec<String> {
        self.state.injected_into.lock().expect("not poisoned").clone()
    }

    /// Requests forwarded to moto so far.
    pub fn forwarded(&self) -> usize {
        self.state.forwarded.load(Ordering::SeqCst)
    }

    /// Replaces the faults still to inject.
    pub fn set_faults(&self, faults: Vec<Fault>) {
        *self.state.faults.lock().expect("not poisoned") = faults;
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(("127.0.0.1", self.port));
    }
}

/// Reads one HTTP/1.1 message (head and a `Content-Length` body) from `stream`.
fn read_message(stream: &mut TcpStream) -> std::io::Result<Vec<u8>> {
    let mut data = Vec::new();
    let mut buffer = [0u8; 8192];
    loop {
        if let Some(end) = find(&data, b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&data[..end]).to_lowercase();
            let length = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .and_then(|v| v.trim().parse::<usize>().ok())
                .unwrap_or(0);
            if data.len() >= end + 4 + length {
                data.truncate(end + 4 + length);
                return Ok(data);
            }
        }
        let read = stream.read(&mut buffer)?;
        if read == 0 {
            return Ok(data);
        }
        data.extend_from_slice(&buffer[..read]);
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

fn serve(mut client: TcpStream, upstream_port: u16, state: &ProxyState) -> std::io::Result<()> {
    client.set_read_timeout(Some(Duration::from_secs(30)))?;
    loop {
        let request = read_message(&mut client)?;
        if request.is_empty() {
            return Ok(());
        }
        let text = String::from_utf8_lossy(&request).into_owned();
        let fault = {
            let mut faults = state.faults.lock().expect("not poisoned");
            faults.iter_mut().find(|f| f.times > 0 && text.contains(&f.matches)).map(|f| {
                f.times -= 1;
                f.clone()
            })
        };
        let answer = match fault {
            Some(fault) => {
                state.injected.fetch_add(1, Ordering::SeqCst);
                state.injected_into.lock().expect("not poisoned").push(text.clone());
                let reason = if fault.status == 400 { "Bad Request" } else { "Error" };
                format!(
                    "HTTP/1.1 {} {reason}\r\nContent-Type: text/xml\r\nContent-Length: {}\r\n\r\n{}",
                    fault.status,
                    fault.body.len(),
                    fault.body
                )
                .into_bytes()
            }
            None => {
                state.forwarded.fetch_add(1, Ordering::SeqCst);
                let mut upstream =
                    TcpStream::connect(SocketAddr::from(([127, 0, 0, 1], upstream_port)))?;
                upstream.set_read_timeout(Some(Duration::from_secs(60)))?;
                upstream.write_all(&request)?;
                read_message(&mut upstream)?
            }
        };
        client.write_all(&answer)?;
    }
}
