//! Issue 17's console benchmark: `breakglass serve` with 10,000 live activations in state —
//! the dashboard page's latency, the delay from an audit event to every one of 200 connected
//! viewers (SSE), and the memory of the serve process.
//!
//! Set-up (untimed): a scratch copy of examples/quickstart with a console block and a software
//! passkey for carol (a viewer); `BENCH_TRIGGERS` generated persons (keys, TOTP) in team oncall
//! who make the changes measured; 1,000 generated persons and 10 generated roles; a state with
//! `BENCH_ACTIVATIONS` live activations of those roles (each person holds each role at most
//! once, so every grant is its own entry) with their resources, the matching entries in
//! app/access.json, and three audit events per activation, written into the state database
//! (`.breakglass/state.db`) as the CLI would have left them. Then a fresh `serve` process (the
//! release binary, files on disk).
//!
//! Measured:
//! - start: spawn → the first answer (policy load, every activation and the resources of the
//!   live ones read, the whole audit log scanned for the recent refusals, the inbox read, the
//!   first dashboard built);
//! - `GET /` (the dashboard page, every activation in it) and `GET /api/dashboard`, sequential,
//!   time to the whole body, `BENCH_PAGES` each;
//! - fan-out: `BENCH_VIEWERS` viewers signed in (one session each) and connected to `/events`
//!   at the page's version. Two kinds of change, `BENCH_TRIGGERS` each, made by other
//!   processes: an emergency grant (`request` then `apply --emergency` of the auto-approved
//!   `read_logs`: the console reads that activation again; measured from the
//!   `activation.active` event, and from `apply.emergency`, committed with the write-ahead
//!   record, which the dashboard may show first) and a request submitted to the console
//!   (`POST /api/requests`: no state read). An event's time is when it is committed to the
//!   audit log (the database polled every millisecond; the log's own timestamps have second
//!   precision); a viewer's time is when the SSE frame naming the activation arrives. Delay =
//!   viewer − event, for every (change, viewer) pair; and per change, the delay until the last
//!   viewer had it;
//! - memory: VmRSS / VmHWM of the serve process after start, with the viewers connected, and
//!   at the end.
//!
//! `cargo bench --bench console`; `BENCH_ACTIVATIONS` (10000), `BENCH_VIEWERS` (200),
//! `BENCH_TRIGGERS` (20), `BENCH_PAGES` (200), `BREAKGLASS_BIN`; `BENCH_VERBOSE=1` prints each
//! change and, at the end, what serve printed.

mod support;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use breakglass::audit::{Event, EventResult};
use breakglass::sign::RelyingParty;
use breakglass::sign::passkey::software::Authenticator;
use breakglass::state::{Change, LocalStore, StateStore};
use jiff::{SignedDuration, Timestamp};
use rusqlite::OptionalExtension as _;
use serde_json::{Value, json};
use std::fmt::Write as _;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};
use support::{Scratch, percentiles_ms};

const PERSONS: usize = 1000;
const ROLES: usize = 10;

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

fn seconds(at: SystemTime) -> f64 {
    at.duration_since(SystemTime::UNIX_EPOCH).unwrap().as_secs_f64()
}

/// Persons, a team, roles and a console block; carol's software passkey.
fn write_policy(dir: &Path, port: u16, carol: &Authenticator) {
    let mut hcl = String::new();
    for n in 0..PERSONS {
        writeln!(
            hcl,
            "person \"p{n:04}\" {{\n  public_key = file(\"keys/alice.pub\")\n  identities = {{\n    local = \"p{n:04}\"\n  }}\n}}\n"
        )
        .unwrap();
    }
    let members: Vec<String> = (0..PERSONS).map(|n| format!("person.p{n:04}")).collect();
    writeln!(hcl, "team \"bench\" {{\n  members = [{}]\n}}\n", members.join(", ")).unwrap();
    for r in 0..ROLES {
        writeln!(
            hcl,
            "role \"bench_r{r:02}\" {{\n  risk         = \"low\"\n  requesters   = [team.bench]\n  approvers    = approvers.leads\n  max_duration = \"12h\"\n\n  resource \"local_access\" \"grant\" {{\n    principal = requester.identities.local\n    role      = \"bench-r{r:02}\"\n  }}\n}}\n"
        )
        .unwrap();
    }
    fs_err::write(dir.join("bench_roles.hcl"), hcl).unwrap();
    let main = fs_err::read_to_string(dir.join("main.hcl")).unwrap().replacen(
        "breakglass {",
        &format!(
            "breakglass {{\n  console {{\n    url     = \"http://localhost:{port}\"\n    viewers = [person.carol, person.dave]\n  }}\n"
        ),
        1,
    );
    fs_err::write(dir.join("main.hcl"), main).unwrap();
    let people = fs_err::read_to_string(dir.join("people.hcl")).unwrap().replacen(
        "person \"carol\" {",
        &format!("person \"carol\" {{\n  {}", carol.hcl("bench")),
        1,
    );
    fs_err::write(dir.join("people.hcl"), people).unwrap();
}

/// `count` live activations in state (with their resources), their entries in
/// app/access.json, and three chained audit events each, written into the state database in
/// one transaction as the CLI would have left them.
async fn write_activations(dir: &Path, count: usize) {
    let now = Timestamp::from_second(Timestamp::now().as_second()).unwrap();
    let access_path = dir.join("app/access.json");
    let mut access: Value =
        serde_json::from_str(&fs_err::read_to_string(&access_path).unwrap()).unwrap();
    let mut change = Change::default();
    for k in 0..count {
        let id = format!("act_01BENCH{k:019}");
        let person = format!("p{:04}", k % PERSONS);
        let role = k / PERSONS % ROLES;
        let start = now - SignedDuration::from_mins(30);
        let end = now + SignedDuration::from_secs(3600 + (k as i64 * 37) % 36_000);
        let digest = format!("sha256:{:064x}", k);
        let activation = json!({
            "id": id, "kind": "role", "name": format!("bench_r{role:02}"), "requester": person,
            "justification": format!("INC-{k}: generated for the console benchmark"),
            "start": start, "end": end, "status": "active",
            "source": { "type": "emergency", "plan_digest": digest },
            "approvals": [
                { "approver": "carol", "decision": "approve", "nonce": format!("n{k}a"), "issued_at": start },
                { "approver": "dave", "decision": "approve", "nonce": format!("n{k}b"), "issued_at": start }
            ],
            "authentication": ["signed request"], "created_at": start, "activated_at": start,
            "revert_attempts": 0
        });
        change.activations.push(Arc::new(serde_json::from_value(activation).unwrap()));
        let address = format!("role.bench_r{role:02}[\"{person}:{id}\"].local_access.grant");
        let resource = json!({
            "provider": "local", "resource_type": "local_access",
            "id": format!("{person}/bench-r{role:02}"),
            "attributes": { "expires_at": end, "principal": person, "role": format!("bench-r{role:02}") },
            "activation": id, "updated_at": start
        });
        change
            .resources
            .push((address.parse().unwrap(), Some(serde_json::from_value(resource).unwrap())));
        access["access"].as_array_mut().unwrap().push(json!({
            "principal": person, "role": format!("bench-r{role:02}"), "expires_at": end
        }));
        for (actor, action) in [
            (person.as_str(), "request"),
            ("carol", "approval"),
            (person.as_str(), "activation.active"),
        ] {
            let mut event = Event::new(actor, action, EventResult::Ok).activation(&id);
            event.time = start;
            change.events.push(event);
        }
    }
    let store = LocalStore::new(dir.join(".breakglass/state.db"));
    let mut guard = store.lock("bench", Duration::from_secs(30)).await.unwrap();
    guard.commit(change).await.unwrap();
    fs_err::write(&access_path, serde_json::to_string_pretty(&access).unwrap()).unwrap();
}

/// VmRSS and VmHWM of process `pid`, MiB.
fn memory(pid: u32) -> (f64, f64) {
    let status = fs_err::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|kb| kb.parse::<f64>().ok())
            .map_or(f64::NAN, |kb| kb / 1024.0)
    };
    (field("VmRSS:"), field("VmHWM:"))
}

/// Waits until the audit log (in the state database) holds an event `action` about `id` after
/// event number `*after`; returns when it was committed (the database polled every millisecond
/// through one connection kept open), and moves `*after` to it.
fn wait_for_event(dir: &Path, after: &mut i64, action: &str, id: &str) -> SystemTime {
    let connection = rusqlite::Connection::open(dir.join(".breakglass/state.db")).unwrap();
    let mut find = connection
        .prepare(
            "SELECT seq FROM audit_events WHERE seq > ?1 AND action = ?2 AND activation = ?3 \
             ORDER BY seq LIMIT 1",
        )
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let found: Option<i64> = find
            .query_row(rusqlite::params![*after, action, id], |row| row.get(0))
            .optional()
            .unwrap();
        let at = SystemTime::now();
        if let Some(seq) = found {
            *after = seq;
            return at;
        }
        assert!(Instant::now() < deadline, "no {action} event for {id} within 120 s");
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// The number of the audit log's last event.
fn last_event(dir: &Path) -> i64 {
    rusqlite::Connection::open(dir.join(".breakglass/state.db"))
        .unwrap()
        .query_row("SELECT coalesce(max(seq), 0) FROM audit_events", [], |row| row.get(0))
        .unwrap()
}

/// Signs in as `person` with their software passkey; returns the session cookie.
async fn sign_in(
    client: &reqwest::Client,
    base: &str,
    person: &str,
    key: &mut Authenticator,
    rp: &RelyingParty,
) -> String {
    let begin: Value = client
        .post(format!("{base}/signin/begin"))
        .header("origin", &rp.origin)
        .json(&json!({ "person": person }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let challenge = URL_SAFE_NO_PAD.decode(begin["challenge"].as_str().unwrap()).unwrap();
    let assertion = key.answer(&challenge, rp);
    let finish = client
        .post(format!("{base}/signin/finish"))
        .header("origin", &rp.origin)
        .json(&json!({ "ceremony": begin["ceremony"], "assertion": assertion }))
        .send()
        .await
        .unwrap();
    assert!(finish.status().is_success(), "sign-in: {}", finish.status());
    let cookie = finish.headers()["set-cookie"].to_str().unwrap();
    cookie.split(';').next().unwrap().to_owned()
}

/// One SSE frame a viewer received: (viewer, when, event type, data).
type Frame = (usize, SystemTime, String, String);

async fn viewer(
    client: reqwest::Client,
    url: String,
    cookie: String,
    index: usize,
    frames: tokio::sync::mpsc::UnboundedSender<Frame>,
    connected: tokio::sync::mpsc::UnboundedSender<usize>,
) {
    let mut response = client.get(&url).header("cookie", cookie).send().await.unwrap();
    assert!(response.status().is_success(), "viewer {index}: {}", response.status());
    let _ = connected.send(index);
    let mut buffer: Vec<u8> = Vec::new();
    while let Ok(Some(chunk)) = response.chunk().await {
        let at = SystemTime::now();
        buffer.extend_from_slice(&chunk);
        while let Some(end) = buffer.windows(2).position(|w| w == b"\n\n") {
            let frame: Vec<u8> = buffer.drain(..end + 2).collect();
            let text = String::from_utf8_lossy(&frame);
            let mut kind = String::new();
            let mut data = String::new();
            for line in text.lines() {
                if let Some(value) = line.strip_prefix("event:") {
                    kind = value.trim().to_owned();
                } else if let Some(value) = line.strip_prefix("data:") {
                    data.push_str(value.strip_prefix(' ').unwrap_or(value));
                    data.push('\n');
                }
            }
            if !kind.is_empty() && frames.send((index, at, kind, data)).is_err() {
                return;
            }
        }
    }
}

struct Serve(std::process::Child);

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn wait_listening(port: u16) {
    let deadline = Instant::now() + Duration::from_secs(120);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "serve did not listen within 120 s");
        std::thread::sleep(Duration::from_millis(2));
    }
}

fn report(label: &str, delays: &[f64], per_change: &[f64]) {
    println!("  {label}, every (change, viewer): {}", percentiles_ms(delays));
    println!("  {label}, until the last viewer had it: {}", percentiles_ms(per_change));
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let activations = env_usize("BENCH_ACTIVATIONS", 10_000);
    let viewers = env_usize("BENCH_VIEWERS", 200);
    let triggers = env_usize("BENCH_TRIGGERS", 20);
    let pages = env_usize("BENCH_PAGES", 200);
    let verbose = std::env::var_os("BENCH_VERBOSE").is_some();
    println!(
        "== console (issue 17): serve with {activations} live activations, {viewers} viewers =="
    );
    let persons: Vec<String> = (0..triggers).map(|n| format!("t{n:02}")).collect();
    let scratch = Scratch::quickstart(&persons);
    let dir = scratch.path().to_path_buf();
    let port = free_port();
    let mut carol = Authenticator::new(7);
    write_policy(&dir, port, &carol);
    write_activations(&dir, activations).await;
    scratch.run(&["validate"]);
    let database = [".breakglass/state.db", ".breakglass/state.db-wal"]
        .iter()
        .map(|f| fs_err::metadata(dir.join(f)).map_or(0, |m| m.len()))
        .sum::<u64>() as f64
        / 1_048_576.0;
    println!(
        "state.db {database:.1} MiB ({} audit events), {PERSONS} generated persons, {ROLES} roles",
        last_event(&dir)
    );

    let log = fs_err::File::create(dir.join("serve.log")).unwrap().into_parts().0;
    let started = Instant::now();
    let child = scratch
        .command(&["serve", "--listen", &format!("127.0.0.1:{port}")])
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .spawn()
        .unwrap();
    let serve = Serve(child);
    let pid = serve.0.id();
    wait_listening(port);
    // Listening comes first; the first answer waits for the first read of everything.
    let first = reqwest::get(format!("http://127.0.0.1:{port}/signin")).await.unwrap();
    assert!(first.status().is_success());
    let start_time = started.elapsed().as_secs_f64();
    let (rss, hwm) = memory(pid);
    println!(
        "start (spawn → first answer): {:.0} ms; RSS {rss:.0} MiB (peak {hwm:.0} MiB)",
        start_time * 1e3
    );

    let base = format!("http://127.0.0.1:{port}");
    let rp = RelyingParty { origin: format!("http://localhost:{port}"), rp_id: "localhost".into() };
    let client = reqwest::Client::builder().pool_max_idle_per_host(viewers + 8).build().unwrap();
    let page_cookie = sign_in(&client, &base, "carol", &mut carol, &rp).await;

    // The dashboard page and the API, one after the other.
    let mut bytes = 0;
    for (path, label) in [("/", "GET / (dashboard page)"), ("/api/dashboard", "GET /api/dashboard")]
    {
        let mut times = Vec::with_capacity(pages);
        for _ in 0..pages {
            let begun = Instant::now();
            let response = client
                .get(format!("{base}{path}"))
                .header("cookie", &page_cookie)
                .send()
                .await
                .unwrap();
            assert!(response.status().is_success(), "{path}: {}", response.status());
            let body = response.bytes().await.unwrap();
            times.push(begun.elapsed().as_secs_f64());
            bytes = body.len();
        }
        println!(
            "{label}: {} ({:.1} MiB each)",
            percentiles_ms(&times),
            bytes as f64 / 1_048_576.0
        );
    }
    let page = client
        .get(format!("{base}/"))
        .header("cookie", &page_cookie)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let shown = page.matches("data-activation=").count();
    assert_eq!(shown, activations, "the dashboard shows every live activation");

    // Viewers: each signs in, reads the page's version and connects at it.
    let mut cookies = Vec::with_capacity(viewers);
    for _ in 0..viewers {
        cookies.push(sign_in(&client, &base, "carol", &mut carol, &rp).await);
    }
    let version = page
        .split("data-version=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .unwrap()
        .to_owned();
    let (frames_tx, mut frames) = tokio::sync::mpsc::unbounded_channel::<Frame>();
    let (connected_tx, mut connected) = tokio::sync::mpsc::unbounded_channel::<usize>();
    for (index, cookie) in cookies.into_iter().enumerate() {
        let url = format!("{base}/events?v={version}");
        tokio::spawn(viewer(
            client.clone(),
            url,
            cookie,
            index,
            frames_tx.clone(),
            connected_tx.clone(),
        ));
    }
    for _ in 0..viewers {
        connected.recv().await.unwrap();
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (rss, hwm) = memory(pid);
    println!("{viewers} viewers connected: RSS {rss:.0} MiB (peak {hwm:.0} MiB)");
    while let Ok((_, _, kind, _)) = frames.try_recv() {
        assert_ne!(kind, "dashboard", "a viewer at the current version gets no whole dashboard");
    }

    let mut offset = last_event(&dir);
    let mut grant_delays = Vec::new();
    let mut grant_last = Vec::new();
    let mut grant_authorized_last = Vec::new();
    let mut grant_write_gap = Vec::new();
    let mut submit_delays = Vec::new();
    let mut submit_last = Vec::new();
    let mut whole = 0;
    for (k, person) in persons.iter().enumerate() {
        for kind in ["grant", "submit"] {
            let (role, out) = if kind == "grant" {
                ("read_logs", "grant.json")
            } else {
                ("prod_admin", "submit.json")
            };
            let key = format!("keys/{person}.key");
            let printed = scratch.run(&[
                "request",
                role,
                "--duration",
                "30m",
                "--justification",
                &format!("bench {kind} {k}"),
                "--as",
                person,
                "--key",
                &key,
                "--out",
                out,
            ]);
            let id = printed
                .lines()
                .find_map(|l| l.strip_prefix("Request "))
                .and_then(|l| l.split_whitespace().next())
                .unwrap()
                .to_owned();
            let (event_at, authorized_at) = if kind == "grant" {
                let mut apply = scratch
                    .command(&["apply", "--emergency", out])
                    .stdout(std::process::Stdio::null())
                    .spawn()
                    .unwrap();
                let (authorized, done) = tokio::task::block_in_place(|| {
                    let authorized = wait_for_event(&dir, &mut offset, "apply.emergency", &id);
                    let done = wait_for_event(&dir, &mut offset, "activation.active", &id);
                    (authorized, done)
                });
                assert!(apply.wait().unwrap().success(), "apply --emergency of {id}");
                (done, Some(authorized))
            } else {
                let envelope = fs_err::read_to_string(dir.join(out)).unwrap();
                let posted = client
                    .post(format!("{base}/api/requests"))
                    .header("content-type", "application/json")
                    .body(envelope)
                    .send();
                let poll = tokio::task::spawn_blocking({
                    let dir = dir.clone();
                    let mut at_offset = offset;
                    let id = id.clone();
                    move || {
                        let at = wait_for_event(&dir, &mut at_offset, "request.submitted", &id);
                        (at, at_offset)
                    }
                });
                let response = posted.await.unwrap();
                assert_eq!(response.status(), 201, "POST /api/requests");
                let (at, moved) = poll.await.unwrap();
                offset = moved;
                (at, None)
            };
            // Every viewer's first frame naming the activation.
            let mut seen = vec![None; viewers];
            let deadline = Instant::now() + Duration::from_secs(30);
            while seen.iter().any(Option::is_none) {
                let left = deadline.saturating_duration_since(Instant::now());
                let Ok(Some((index, at, frame_kind, data))) =
                    tokio::time::timeout(left, frames.recv()).await
                else {
                    panic!(
                        "{} of {viewers} viewers saw {id} within 30 s",
                        seen.iter().flatten().count()
                    );
                };
                if frame_kind == "dashboard" {
                    whole += 1;
                }
                if seen[index].is_none() && data.contains(&id) {
                    seen[index] = Some(seconds(at) - seconds(event_at));
                }
            }
            let delays: Vec<f64> = seen.into_iter().flatten().collect();
            let last = delays.iter().copied().fold(f64::MIN, f64::max);
            let first = delays.iter().copied().fold(f64::MAX, f64::min);
            if verbose {
                println!(
                    "  {kind} {id}: event at {:.3} s, first viewer {:+.0} ms, last {:+.0} ms",
                    seconds(event_at),
                    first * 1e3,
                    last * 1e3
                );
            }
            if let Some(authorized) = authorized_at {
                let since = seconds(event_at) - seconds(authorized);
                grant_authorized_last.push(last + since);
                grant_write_gap.push(since);
            }
            if kind == "grant" {
                grant_delays.extend(delays);
                grant_last.push(last);
            } else {
                submit_delays.extend(delays);
                submit_last.push(last);
            }
        }
    }
    println!(
        "fan-out, event in the audit log → SSE frame at each of {viewers} viewers ({triggers} changes of each kind):"
    );
    report("emergency grant (state read again)", &grant_delays, &grant_last);
    println!(
        "  emergency grant, from its authorization (apply.emergency) to the last viewer: {}",
        percentiles_ms(&grant_authorized_last)
    );
    println!(
        "    (of which the apply's own work from authorization to activation.active: {})",
        percentiles_ms(&grant_write_gap)
    );
    report("request submitted (no state read)", &submit_delays, &submit_last);
    if whole > 0 {
        println!("  ({whole} whole-dashboard frames sent to viewers that fell behind)");
    }
    let (rss, hwm) = memory(pid);
    println!("at the end: RSS {rss:.0} MiB (peak {hwm:.0} MiB)");
    drop(serve);
    if verbose {
        print!(
            "serve's output:\n{}",
            fs_err::read_to_string(dir.join("serve.log")).unwrap_or_default()
        );
    }
}
