//! The web console in a real browser: Debian's Chromium, headless, with a virtual WebAuthn
//! authenticator. carol and dave enrol passkeys, sign in, approve alice's request on its page;
//! `apply --emergency --request` accepts those approvals, and refuses a tampered assertion, one
//! for another request, the requester's own and a replayed one (exit 5, nothing changed). The
//! dashboard shows the activation within 1 s of the apply and drops it within 1 s of the revoke,
//! measured from when the audit event's line appears in the log to the SSE update applied in the page.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use breakglass::engine::emergency::TotpSecrets;
use breakglass::sign::passkey::software::Authenticator;
use breakglass::sign::{Approval, Decision, PASSKEY_APPROVAL_TYPE, PasskeyToken, RelyingParty};
use serde_json::Value;
use std::path::Path;
use std::process::Child;
use std::time::{Duration, Instant};

use crate::browser::Browser;
use crate::util::{Outcome, Run, example_copy, read, state, state_db, state_text};

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

fn run(dir: &Path) -> Run {
    Run::new(dir).real_clock()
}

fn wait_listening(port: u16) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "nothing listens on {port}");
        std::thread::sleep(Duration::from_millis(25));
    }
}

fn wait_exit(child: &mut Child) -> String {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            let mut out = String::new();
            std::io::Read::read_to_string(child.stdout.as_mut().unwrap(), &mut out).unwrap();
            assert!(status.success(), "enrolment failed: {out}");
            return out;
        }
        assert!(Instant::now() < deadline, "enrolment did not finish");
        std::thread::sleep(Duration::from_millis(50));
    }
}

struct Stop(Child);

impl Drop for Stop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The quickstart with a console on `port`, alice also in approvers.leads (so that her own
/// approval is refused by the self-approval rule, not by membership) and a software passkey
/// for alice beside the one she enrols (to hand-craft her own approval).
fn policy(port: u16, alice_software: &Authenticator) -> tempfile::TempDir {
    let dir = example_copy("quickstart");
    let main = read(dir.path().join("main.hcl")).replacen(
        "breakglass {",
        &format!(
            "breakglass {{\n  console {{\n    url        = \"http://localhost:{port}\"\n    viewers    = [person.carol, person.dave]\n    requesters = [team.oncall]\n  }}\n"
        ),
        1,
    );
    fs_err::write(dir.path().join("main.hcl"), main).unwrap();
    let people = read(dir.path().join("people.hcl"))
        .replacen(
            "members             = [person.carol, person.dave]",
            "members             = [person.carol, person.dave, person.alice]",
            1,
        )
        .replacen(
            "person \"alice\" {",
            &format!("person \"alice\" {{\n  {}", alice_software.hcl("script")),
            1,
        );
    fs_err::write(dir.path().join("people.hcl"), people).unwrap();
    dir
}

async fn enroll(browser: &mut Browser, dir: &Path, port: u16, person: &str) {
    let mut child = run(dir)
        .args([
            "passkey",
            "enroll",
            person,
            "--name",
            "laptop",
            "--listen",
            &format!("127.0.0.1:{port}"),
        ])
        .spawn();
    wait_listening(port);
    browser.goto(&format!("http://localhost:{port}/")).await;
    browser.eval("document.querySelector('#enroll button').click()").await;
    let snippet = tokio::task::spawn_blocking(move || wait_exit(&mut child)).await.unwrap();
    assert!(
        snippet.contains("credential_id") && snippet.contains("algorithm     = \"ES256\""),
        "{snippet}"
    );
    let people = read(dir.join("people.hcl"));
    let indented = snippet.trim_end().replace('\n', "\n  ");
    let people = people.replacen(
        &format!("person \"{person}\" {{"),
        &format!("person \"{person}\" {{\n  {indented}"),
        1,
    );
    fs_err::write(dir.join("people.hcl"), people).unwrap();
}

async fn sign_in(browser: &mut Browser, port: u16, person: &str) {
    browser.goto(&format!("http://localhost:{port}/signin")).await;
    browser
        .eval(&format!(
            "document.querySelector('#person').value = '{person}'; document.querySelector('#signin button').click()"
        ))
        .await;
    browser.wait_for(&format!("location.pathname !== '/signin' && document.querySelector('.who') && document.querySelector('.who').textContent === '{person}'")).await;
}

async fn sign_out(browser: &mut Browser) {
    browser.eval("document.querySelector('header nav form').submit()").await;
    browser.wait_for("location.pathname === '/signin'").await;
}

async fn approve(browser: &mut Browser, port: u16, id: &str, person: &str) {
    browser.goto(&format!("http://localhost:{port}/requests/{id}")).await;
    browser.wait_for("document.querySelector('#approve')").await;
    browser.eval("document.querySelector('#approve').click()").await;
    browser
        .wait_for(&format!("document.querySelector('#decisions') && document.querySelector('#decisions').textContent.includes('{person} approved')"))
        .await;
}

fn request(dir: &Path, name: &str, person: &str, out: &str, port: u16) -> String {
    let outcome = run(dir)
        .args([
            "request",
            name,
            "--duration",
            "30m",
            "--justification",
            "INC-4711: payments API down",
        ])
        .args(["--as", person, "--key", &format!("keys/{person}.key"), "--out", out])
        .args(["--submit", &format!("http://localhost:{port}")])
        .run()
        .expect_code(0);
    let line = outcome.stdout.lines().find(|l| l.starts_with("Request act_")).unwrap();
    line.split_whitespace().nth(1).unwrap().to_owned()
}

fn inbox_token(dir: &Path, id: &str, approver: &str) -> String {
    let stored: Value =
        serde_json::from_str(&read(dir.join(format!(".breakglass/requests/{id}.json")))).unwrap();
    stored["approvals"].as_array().unwrap().iter().find(|a| a["approver"] == approver).unwrap()["token"]
        .as_str()
        .unwrap()
        .to_owned()
}

fn totp(dir: &Path) -> String {
    let secrets = TotpSecrets::load(&dir.join("keys/totp-secrets.demo.json")).unwrap();
    secrets.code("alice", jiff::Timestamp::now()).unwrap()
}

fn refused(dir: &Path, tokens: &[&str], reason: &str) {
    let before = state_text(dir);
    let access = read(dir.join("app/access.json"));
    let mut apply = run(dir).args(["apply", "--emergency", "req.json", "--totp", &totp(dir)]);
    for token in tokens {
        apply = apply.args(["--approval", token]);
    }
    let outcome: Outcome = apply.run().expect_code(5);
    assert!(outcome.stderr.contains(reason), "wanted {reason:?}, got: {}", outcome.stderr);
    assert_eq!(state_text(dir), before, "state changed");
    assert_eq!(read(dir.join("app/access.json")), access, "access changed");
}

/// Watches the audit log for the event `action` about `id` and tells when it was committed, in
/// ms since the epoch (the state database polled every millisecond from the log's end now,
/// through one connection kept open). The log's own times have second precision: too coarse
/// for a latency.
fn watch_event(dir: &Path, action: &str, id: &str) -> std::thread::JoinHandle<i64> {
    let connection = rusqlite::Connection::open(state_db(dir)).unwrap();
    let from: i64 = connection
        .query_row("SELECT coalesce(max(seq), 0) FROM audit_events", [], |row| row.get(0))
        .unwrap();
    let (action, id) = (action.to_owned(), id.to_owned());
    std::thread::spawn(move || {
        let deadline = Instant::now() + Duration::from_secs(60);
        let mut found = connection
            .prepare(
                "SELECT count(*) FROM audit_events WHERE seq > ?1 AND action = ?2 AND activation = ?3",
            )
            .unwrap();
        loop {
            let count: i64 =
                found.query_row(rusqlite::params![from, action, id], |row| row.get(0)).unwrap();
            let at = std::time::SystemTime::now();
            if count > 0 {
                let since = at.duration_since(std::time::UNIX_EPOCH).unwrap();
                return i64::try_from(since.as_millis()).unwrap();
            }
            assert!(Instant::now() < deadline, "no {action} event for {id} within 60 s");
            std::thread::sleep(Duration::from_millis(1));
        }
    })
}

async fn update_ms(browser: &mut Browser, id: &str, present: bool) -> i64 {
    let condition =
        if present { "u.activations.includes(ID)" } else { "!u.activations.includes(ID)" }
            .replace("ID", &format!("'{id}'"));
    browser
        .wait_for(&format!("window.breakglassUpdates.some(u => u.at > window.mark && {condition})"))
        .await;
    browser
        .eval(&format!("window.breakglassUpdates.find(u => u.at > window.mark && {condition}).at"))
        .await
        .as_i64()
        .unwrap()
}

fn shot(name: &str, png: &[u8]) {
    if let Some(dir) = std::env::var_os("BREAKGLASS_SCREENSHOTS") {
        fs_err::create_dir_all(&dir).unwrap();
        fs_err::write(Path::new(&dir).join(name), png).unwrap();
    }
    assert!(png.starts_with(b"\x89PNG"), "{name} is not a PNG");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn passkey_approvals_in_a_real_browser_and_a_live_dashboard() {
    let port = free_port();
    let alice_software = Authenticator::new(42);
    let dir = policy(port, &alice_software);
    let path = dir.path();
    run(path).args(["apply", "--auto-approve"]).run().expect_code(0);

    let mut browser = Browser::start(1280, 900, false).await;
    for person in ["carol", "dave", "alice"] {
        enroll(&mut browser, path, port, person).await;
    }
    run(path).args(["validate"]).run().expect_code(0);

    let _serve = Stop(run(path).args(["serve", "--listen", &format!("127.0.0.1:{port}")]).spawn());
    wait_listening(port);
    let id = request(path, "prod_admin", "alice", "req.json", port);
    let other = request(path, "chatbot_kill_switch", "bob", "other.json", port);

    // carol and dave approve alice's request on its page; dave also approves bob's.
    for person in ["carol", "dave"] {
        sign_in(&mut browser, port, person).await;
        approve(&mut browser, port, &id, person).await;
        sign_out(&mut browser).await;
    }
    sign_in(&mut browser, port, "dave").await;
    approve(&mut browser, port, &other, "dave").await;
    // alice may sign in and see her request, but the console offers her no approval of it
    // and refuses to start one.
    sign_out(&mut browser).await;
    sign_in(&mut browser, port, "alice").await;
    browser.goto(&format!("http://localhost:{port}/requests/{id}")).await;
    assert_eq!(
        browser.eval("document.querySelector('#approve') === null").await,
        Value::Bool(true)
    );
    let status = browser
        .eval(&format!("fetch('/requests/{id}/begin', {{method: 'POST', headers: {{'content-type': 'application/json', 'x-csrf-token': document.querySelector('header input[name=csrf]').value}}, body: JSON.stringify({{action: 'approve'}})}}).then(r => r.status)"))
        .await;
    assert_eq!(status, Value::from(403));
    // …nor the dashboard.
    assert_eq!(browser.eval("fetch('/api/dashboard').then(r => r.status)").await, Value::from(403));
    sign_out(&mut browser).await;

    let carol = inbox_token(path, &id, "carol");
    let dave = inbox_token(path, &id, "dave");
    let dave_other = inbox_token(path, &other, "dave");

    // A tampered assertion: carol's payload with a longer expiry, her signature kept.
    let mut tampered = PasskeyToken::from_token(&carol).unwrap();
    let payload = tampered.payload_bytes().unwrap();
    let mut approval: Approval = serde_json::from_slice(&payload).unwrap();
    approval.expires_at =
        approval.expires_at.checked_add(jiff::SignedDuration::from_hours(8)).unwrap();
    tampered.payload =
        base64::engine::general_purpose::STANDARD.encode(serde_json::to_vec(&approval).unwrap());
    refused(path, &[&tampered.to_token(), &dave], "approval token #1 is not signed by an approver");
    // One for another request.
    refused(path, &[&carol, &dave_other], "approval token #2 (by dave) is for another plan");
    // The requester's own, signed with her passkey.
    let digest = approval.plan_digest.clone();
    let own = Approval {
        approver: "alice".to_owned(),
        decision: Decision::Approve,
        plan_digest: digest,
        activation: id.clone(),
        issued_at: jiff::Timestamp::now(),
        expires_at: jiff::Timestamp::now()
            .checked_add(jiff::SignedDuration::from_mins(10))
            .unwrap(),
        nonce: Approval::new_nonce(),
        comment: None,
    };
    let own_payload = serde_json::to_vec(&own).unwrap();
    let rp =
        RelyingParty { origin: format!("http://localhost:{port}"), rp_id: "localhost".to_owned() };
    let mut alice_key = alice_software.clone();
    let assertion = alice_key.assert(PASSKEY_APPROVAL_TYPE, &own_payload, &rp);
    let own_token = PasskeyToken::new(PASSKEY_APPROVAL_TYPE, &own_payload, assertion).to_token();
    refused(path, &[&own_token, &carol, &dave], "alice cannot approve their own request");

    // carol watches the dashboard while the executor applies what the console collected.
    sign_in(&mut browser, port, "carol").await;
    browser.goto(&format!("http://localhost:{port}/")).await;
    browser.wait_for("document.querySelector('#connection').textContent === 'live'").await;
    browser.eval("window.mark = Date.now()").await;
    let authorized = watch_event(path, "apply.emergency", &id);
    let applied = watch_event(path, "activation.active", &id);
    run(path)
        .args(["apply", "--emergency", "--request", &id, "--totp", &totp(path)])
        .run()
        .expect_code(0);
    let shown = update_ms(&mut browser, &id, true).await;
    let applied = applied.join().unwrap();
    let authorized = authorized.join().unwrap();
    // The dashboard shows an activation from its write-ahead record (status applying), which
    // the apply writes right after authorizing it and before the grant is confirmed: measured
    // from the authorization (the upper bound) and from the confirmation (may be negative).
    let delay_in = shown - authorized;
    let delay_confirmed = shown - applied;
    assert!(delay_in < 1000, "the dashboard showed the activation {delay_in} ms after the apply");
    let state: Value = state(path);
    let approvers: Vec<&str> = state["activations"][&id]["approvals"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["approver"].as_str().unwrap())
        .collect();
    assert_eq!(approvers, ["carol", "dave"]);
    let carol_credential = URL_SAFE_NO_PAD.encode(
        URL_SAFE_NO_PAD
            .decode(PasskeyToken::from_token(&carol).unwrap().webauthn.credential_id)
            .unwrap(),
    );
    assert!(
        state["passkey_counters"][&carol_credential].as_u64().is_some(),
        "carol's counter is recorded"
    );

    // Replayed: the used tokens again, on the applied request and on bob's.
    refused(path, &[&carol, &dave], "this request was already applied");

    // Screenshots: the dashboard and the request page, desktop and phone.
    browser.eval("document.querySelectorAll('.countdown').forEach(c => c.textContent)").await;
    shot("dashboard-desktop.png", &browser.screenshot().await);
    browser.goto(&format!("http://localhost:{port}/requests/{other}")).await;
    shot("request-desktop.png", &browser.screenshot().await);
    browser.call("Emulation.setDeviceMetricsOverride", serde_json::json!({ "width": 390, "height": 844, "deviceScaleFactor": 2, "mobile": true })).await;
    browser.goto(&format!("http://localhost:{port}/requests/{other}")).await;
    shot("request-phone.png", &browser.screenshot().await);
    browser.goto(&format!("http://localhost:{port}/")).await;
    browser.wait_for("document.querySelector('#connection').textContent === 'live'").await;
    shot("dashboard-phone.png", &browser.screenshot().await);

    // The revoke, from another process: gone from the dashboard within a second.
    browser.eval("window.mark = Date.now()").await;
    let revoked = watch_event(path, "activation.revoked", &id);
    run(path)
        .args(["revoke", &id, "--reason", "incident closed", "--as", "carol"])
        .run()
        .expect_code(0);
    let gone = update_ms(&mut browser, &id, false).await;
    let revoked = revoked.join().unwrap();
    let delay_out = gone - revoked;
    assert!(
        delay_out < 1000,
        "the dashboard dropped the activation {delay_out} ms after the revoke"
    );
    eprintln!(
        "console: activation shown {delay_in} ms after the apply authorized it ({delay_confirmed} ms \
         after it was confirmed active), dropped {delay_out} ms after the revoke"
    );
}
