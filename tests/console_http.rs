//! The web console over HTTP, without a browser: a real `serve` process on a quickstart copy,
//! signed into with software passkeys (the same assertions a browser's authenticator makes).
//! Who may look, CSRF, headers and cookies, no secret on any page, the paste-a-request form,
//! rejecting and proving presence with a passkey, single-use passkey approvals, an
//! activation's story, and TLS.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use breakglass::engine::emergency::TotpSecrets;
use breakglass::sign::passkey::software::Authenticator;
use breakglass::sign::{Approval, Decision, PASSKEY_APPROVAL_TYPE, PasskeyToken, RelyingParty};
use reqwest::StatusCode;
use reqwest::header::{HeaderMap, LOCATION};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::path::Path;
use std::process::Child;
use std::time::{Duration, Instant};

use crate::util::{Run, TEST_NOW, audit_text, example_copy, read, state, state_db, state_text};

/// Everyone of the quickstart, each with a software passkey in the policy.
const PEOPLE: [(&str, u8); 5] =
    [("alice", 11), ("bob", 12), ("carol", 13), ("dave", 14), ("ci", 15)];

/// The Content-Security-Policy every answer carries.
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; \
                   connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

fn wait_listening(port: u16, serve: &mut Child) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        if let Some(status) = serve.try_wait().unwrap() {
            let mut err = String::new();
            std::io::Read::read_to_string(serve.stderr.as_mut().unwrap(), &mut err).unwrap();
            panic!("serve exited with {status}: {err}");
        }
        assert!(Instant::now() < deadline, "nothing listens on {port}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A signed-in person.
#[derive(Debug, Clone)]
struct Session {
    person: String,
    cookie: String,
    csrf: String,
}

/// What the server answered.
#[derive(Debug)]
struct Answer {
    status: StatusCode,
    headers: HeaderMap,
    body: String,
}

impl Answer {
    fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.body))
    }
}

/// A console served over a quickstart copy.
struct Console {
    dir: tempfile::TempDir,
    serve: Child,
    base: String,
    rp: RelyingParty,
    keys: BTreeMap<String, Authenticator>,
    client: reqwest::Client,
    /// Environment every command gets (the PostgreSQL state's connection).
    env: Vec<(String, String)>,
}

impl Drop for Console {
    fn drop(&mut self) {
        let _ = self.serve.kill();
        let _ = self.serve.wait();
    }
}

/// The quickstart with a console block (carol views; team oncall may request; leads approve)
/// and a software passkey for everyone; `edit` changes the files before anything runs.
fn policy(
    url: &str,
    keys: &BTreeMap<String, Authenticator>,
    edit: impl FnOnce(&Path),
) -> tempfile::TempDir {
    let dir = example_copy("quickstart");
    let main = read(dir.path().join("main.hcl")).replacen(
        "breakglass {",
        &format!(
            "breakglass {{\n  console {{\n    url        = \"{url}\"\n    viewers    = [person.carol]\n    requesters = [team.oncall]\n  }}\n"
        ),
        1,
    );
    fs_err::write(dir.path().join("main.hcl"), main).unwrap();
    let mut people = read(dir.path().join("people.hcl"));
    for (person, key) in keys {
        people = people.replacen(
            &format!("person \"{person}\" {{"),
            &format!("person \"{person}\" {{\n  {}", key.hcl("laptop")),
            1,
        );
    }
    fs_err::write(dir.path().join("people.hcl"), people).unwrap();
    edit(dir.path());
    dir
}

fn authenticators() -> BTreeMap<String, Authenticator> {
    PEOPLE.iter().map(|(person, seed)| ((*person).to_owned(), Authenticator::new(*seed))).collect()
}

impl Console {
    fn start(edit: impl FnOnce(&Path)) -> Self {
        Self::start_with(edit, Vec::new())
    }

    fn start_with(edit: impl FnOnce(&Path), env: Vec<(String, String)>) -> Self {
        let port = free_port();
        let url = format!("http://localhost:{port}");
        let keys = authenticators();
        let dir = policy(&url, &keys, edit);
        let with_env = |mut run: Run| {
            for (key, value) in &env {
                run = run.env(key, value);
            }
            run
        };
        with_env(Run::new(dir.path())).args(["apply", "--auto-approve"]).run().expect_code(0);
        let mut serve = with_env(Run::new(dir.path()))
            .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
            .spawn();
        wait_listening(port, &mut serve);
        let client =
            reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
        Self {
            dir,
            serve,
            base: format!("http://127.0.0.1:{port}"),
            rp: RelyingParty { origin: url, rp_id: "localhost".to_owned() },
            keys,
            client,
            env,
        }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    /// `breakglass` here, with the console's environment.
    fn run(&self) -> Run {
        let mut run = Run::new(self.path());
        for (key, value) in &self.env {
            run = run.env(key, value);
        }
        run
    }

    async fn send(&self, request: reqwest::RequestBuilder) -> Answer {
        let response = request.send().await.unwrap();
        let status = response.status();
        let headers = response.headers().clone();
        let body = response.text().await.unwrap();
        Answer { status, headers, body }
    }

    async fn get(&self, session: Option<&Session>, path: &str) -> Answer {
        let mut request = self.client.get(format!("{}{path}", self.base));
        if let Some(session) = session {
            request = request.header("cookie", &session.cookie);
        }
        self.send(request).await
    }

    /// A POST from the console's pages: our Origin, the session's cookie and CSRF header.
    async fn post_json(&self, session: &Session, path: &str, body: Value) -> Answer {
        self.send(
            self.client
                .post(format!("{}{path}", self.base))
                .header("origin", &self.rp.origin)
                .header("cookie", &session.cookie)
                .header("x-csrf-token", &session.csrf)
                .json(&body),
        )
        .await
    }

    /// A form POST with `fields` (the CSRF token is whatever the caller puts in).
    async fn post_form(&self, session: &Session, path: &str, fields: &[(&str, &str)]) -> Answer {
        self.send(
            self.client
                .post(format!("{}{path}", self.base))
                .header("origin", &self.rp.origin)
                .header("cookie", &session.cookie)
                .form(fields),
        )
        .await
    }

    /// Begins a sign-in as `person`.
    async fn signin_begin(&self, person: &str) -> Answer {
        self.send(
            self.client
                .post(format!("{}/signin/begin", self.base))
                .header("origin", &self.rp.origin)
                .json(&json!({ "person": person })),
        )
        .await
    }

    /// Signs in as `person` with their passkey; returns the session and the sign-in answer.
    async fn sign_in_answer(&mut self, person: &str) -> (Session, Answer) {
        let begin = self.signin_begin(person).await;
        assert_eq!(begin.status, StatusCode::OK, "sign-in of {person}: {}", begin.body);
        let begin = begin.json();
        let challenge = URL_SAFE_NO_PAD.decode(begin["challenge"].as_str().unwrap()).unwrap();
        let assertion = self.keys.get_mut(person).unwrap().answer(&challenge, &self.rp);
        let finish = self
            .send(
                self.client
                    .post(format!("{}/signin/finish", self.base))
                    .header("origin", &self.rp.origin)
                    .json(&json!({ "ceremony": begin["ceremony"], "assertion": assertion })),
            )
            .await;
        assert_eq!(finish.status, StatusCode::OK, "sign-in of {person}: {}", finish.body);
        let cookie = finish.headers["set-cookie"].to_str().unwrap().split(';').next().unwrap();
        let mut session =
            Session { person: person.to_owned(), cookie: cookie.to_owned(), csrf: String::new() };
        let page = self.get(Some(&session), "/requests").await;
        session.csrf = page
            .body
            .split("name=\"csrf\" value=\"")
            .nth(1)
            .and_then(|rest| rest.split('"').next())
            .expect("every page has the CSRF token in its forms")
            .to_owned();
        (session, finish)
    }

    async fn sign_in(&mut self, person: &str) -> Session {
        self.sign_in_answer(person).await.0
    }

    /// Approves, rejects (`deny`) or proves presence on request `id` with the person's passkey.
    async fn decide(&mut self, session: &Session, id: &str, action: &str) -> Answer {
        let begin = self
            .post_json(session, &format!("/requests/{id}/begin"), json!({ "action": action }))
            .await;
        if begin.status != StatusCode::OK {
            return begin;
        }
        let options = begin.json();
        let challenge = URL_SAFE_NO_PAD.decode(options["challenge"].as_str().unwrap()).unwrap();
        let assertion = self.keys.get_mut(&session.person).unwrap().answer(&challenge, &self.rp);
        self.post_json(
            session,
            &format!("/requests/{id}/finish"),
            json!({ "ceremony": options["ceremony"], "assertion": assertion }),
        )
        .await
    }

    /// `request NAME` by `person`, written to `out` and submitted to the console; its id.
    fn request(&self, name: &str, person: &str, out: &str) -> String {
        let outcome = self
            .run()
            .args([
                "request",
                name,
                "--duration",
                "30m",
                "--justification",
                "INC-4711: payments down",
            ])
            .args(["--as", person, "--key", &format!("keys/{person}.key"), "--out", out])
            .args(["--submit", &self.rp.origin])
            .run()
            .expect_code(0);
        let line = outcome.stdout.lines().find(|l| l.starts_with("Request act_")).unwrap();
        line.split_whitespace().nth(1).unwrap().to_owned()
    }

    fn totp(&self, person: &str) -> String {
        let secrets = TotpSecrets::load(&self.path().join("keys/totp-secrets.demo.json")).unwrap();
        secrets.code(person, TEST_NOW.parse().unwrap()).unwrap()
    }

    /// The tokens the inbox holds for `id`, by approver.
    fn inbox(&self, id: &str) -> Value {
        serde_json::from_str(&read(self.path().join(format!(".breakglass/requests/{id}.json"))))
            .unwrap()
    }

    fn token(&self, id: &str, approver: &str) -> String {
        let stored = self.inbox(id);
        stored["approvals"].as_array().unwrap().iter().find(|a| a["approver"] == approver).unwrap()
            ["token"]
            .as_str()
            .unwrap()
            .to_owned()
    }

    /// Runs `apply --emergency ARGS…`, expecting a refusal (exit 5) that mentions `reason`
    /// and changes neither state nor the application.
    fn refused(&self, args: &[&str], reason: &str) {
        let state = state_text(self.path());
        let access = read(self.path().join("app/access.json"));
        let outcome = self.run().args(["apply", "--emergency"]).args(args).run().expect_code(5);
        assert!(outcome.stderr.contains(reason), "wanted {reason:?}, got: {}", outcome.stderr);
        assert_eq!(state_text(self.path()), state, "state changed");
        assert_eq!(read(self.path().join("app/access.json")), access, "access changed");
    }

    /// Waits until the console's dashboard (as carol sees it) satisfies `check`.
    async fn dashboard_until(&self, carol: &Session, check: impl Fn(&Value) -> bool) -> Value {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let dashboard = self.get(Some(carol), "/api/dashboard").await.json();
            if check(&dashboard) {
                return dashboard;
            }
            assert!(Instant::now() < deadline, "the dashboard never got there: {dashboard}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

#[tokio::test]
async fn viewers_see_everything_requesters_their_own_and_everyone_else_is_refused() {
    let mut console = Console::start(|_| {});
    let alices = console.request("prod_admin", "alice", "alice.json");
    let bobs = console.request("read_logs", "bob", "bob.json");
    let carol = console.sign_in("carol").await;
    let bob = console.sign_in("bob").await;
    let dave = console.sign_in("dave").await;

    // carol (a viewer): the dashboard, its API, every request, the live events.
    let home = console.get(Some(&carol), "/").await;
    assert_eq!(home.status, StatusCode::OK);
    assert!(home.body.contains("Emergency access now"), "{}", home.body);
    let dashboard = console.get(Some(&carol), "/api/dashboard").await.json();
    let pending: Vec<&str> = dashboard["pending"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["id"].as_str().unwrap())
        .collect();
    assert!(pending.contains(&alices.as_str()) && pending.contains(&bobs.as_str()), "{dashboard}");
    let requests = console.get(Some(&carol), "/api/requests").await.json();
    assert_eq!(requests["waiting"].as_array().unwrap().len(), 2, "{requests}");

    // bob (a requester only): his own request, nothing else.
    let home = console.get(Some(&bob), "/").await;
    assert_eq!(home.status, StatusCode::SEE_OTHER);
    assert_eq!(home.headers[LOCATION], "/requests");
    assert_eq!(console.get(Some(&bob), "/api/dashboard").await.status, StatusCode::FORBIDDEN);
    assert_eq!(console.get(Some(&bob), "/events").await.status, StatusCode::FORBIDDEN);
    let own = console.get(Some(&bob), "/api/requests").await.json();
    let ids: Vec<&str> =
        own["waiting"].as_array().unwrap().iter().map(|r| r["id"].as_str().unwrap()).collect();
    assert_eq!(ids, [bobs.as_str()]);
    let page = console.get(Some(&bob), "/requests").await;
    assert!(page.body.contains(&bobs) && !page.body.contains(&alices), "{}", page.body);
    assert_eq!(
        console.get(Some(&bob), &format!("/requests/{alices}")).await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        console.get(Some(&bob), &format!("/api/requests/{alices}")).await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(console.get(Some(&bob), &format!("/requests/{bobs}")).await.status, StatusCode::OK);
    assert_eq!(
        console.get(Some(&bob), &format!("/activations/{bobs}")).await.status,
        StatusCode::FORBIDDEN
    );
    // …and he cannot approve his own, nor anyone's.
    let begin = console.decide(&bob, &bobs, "approve").await;
    assert_eq!(begin.status, StatusCode::FORBIDDEN, "{}", begin.body);

    // dave (an approver, not a viewer): the requests he may approve, no dashboard.
    assert_eq!(console.get(Some(&dave), "/").await.status, StatusCode::SEE_OTHER);
    assert_eq!(console.get(Some(&dave), "/api/dashboard").await.status, StatusCode::FORBIDDEN);
    assert_eq!(
        console.get(Some(&dave), &format!("/requests/{alices}")).await.status,
        StatusCode::OK
    );

    // ci (a person in the policy, neither viewer, requester nor approver) and strangers are
    // refused at the door; no session, no page.
    for person in ["ci", "mallory"] {
        let refused = console.signin_begin(person).await;
        assert_eq!(refused.status, StatusCode::FORBIDDEN, "{person}: {}", refused.body);
    }
    assert!(console.signin_begin("ci").await.body.contains("may not use the console"));
    for path in ["/", "/requests", &format!("/requests/{alices}")] {
        let anonymous = console.get(None, path).await;
        assert_eq!(anonymous.status, StatusCode::SEE_OTHER, "{path}");
        assert_eq!(anonymous.headers[LOCATION], "/signin");
    }
    for path in ["/api/dashboard", "/api/requests", "/events"] {
        assert_eq!(console.get(None, path).await.status, StatusCode::FORBIDDEN, "{path}");
    }
}

#[tokio::test]
async fn security_headers_cookie_flags_and_csrf_on_every_form() {
    let mut console = Console::start(|_| {});
    let (alice, signed_in) = console.sign_in_answer("alice").await;
    let cookie = signed_in.headers["set-cookie"].to_str().unwrap();
    for flag in ["Secure", "HttpOnly", "SameSite=Strict", "Path=/"] {
        assert!(cookie.contains(flag), "the session cookie is {flag}: {cookie}");
    }
    for path in ["/signin", "/requests", "/static/console.js", "/api/requests", "/nothing"] {
        let answer = console.get(Some(&alice), path).await;
        assert_eq!(answer.headers["content-security-policy"], CSP, "{path}");
        assert_eq!(answer.headers["x-frame-options"], "DENY", "{path}");
        assert_eq!(answer.headers["x-content-type-options"], "nosniff", "{path}");
        assert_eq!(answer.headers["referrer-policy"], "same-origin", "{path}");
    }
    let page = console.get(Some(&alice), "/requests").await.body;
    assert!(!page.contains("<script>") && !page.contains("style="), "no inline script or style");

    let id = console.request("read_logs", "alice", "req.json");
    let envelope = read(console.path().join("req.json"));
    // The paste form without a token, with a wrong one, from another origin: refused.
    let missing = console.post_form(&alice, "/requests", &[("request", &envelope)]).await;
    assert_eq!(missing.status, StatusCode::FORBIDDEN, "{}", missing.body);
    assert!(missing.body.contains("CSRF"), "{}", missing.body);
    let wrong =
        console.post_form(&alice, "/requests", &[("csrf", "0000"), ("request", &envelope)]).await;
    assert_eq!(wrong.status, StatusCode::FORBIDDEN);
    let elsewhere = console
        .send(
            console
                .client
                .post(format!("{}/requests", console.base))
                .header("origin", "https://evil.example")
                .header("cookie", &alice.cookie)
                .form(&[("csrf", alice.csrf.as_str()), ("request", &envelope)]),
        )
        .await;
    assert_eq!(elsewhere.status, StatusCode::FORBIDDEN);
    // Another session's token is not this one's.
    let bob = console.sign_in("bob").await;
    let crossed = console
        .post_form(&alice, "/requests", &[("csrf", &bob.csrf), ("request", &envelope)])
        .await;
    assert_eq!(crossed.status, StatusCode::FORBIDDEN);
    // The passkey ceremonies: without the header, refused.
    let carol = console.sign_in("carol").await;
    let bare = console
        .send(
            console
                .client
                .post(format!("{}/requests/{id}/begin", console.base))
                .header("origin", &console.rp.origin)
                .header("cookie", &carol.cookie)
                .json(&json!({ "action": "approve" })),
        )
        .await;
    assert_eq!(bare.status, StatusCode::FORBIDDEN, "{}", bare.body);
    let spoofed = Session { csrf: "f".repeat(64), ..carol.clone() };
    assert_eq!(console.decide(&spoofed, &id, "approve").await.status, StatusCode::FORBIDDEN);
    // Sign-out without the token does not sign out.
    let out = console.post_form(&alice, "/signout", &[]).await;
    assert_eq!(out.status, StatusCode::FORBIDDEN);
    assert_eq!(console.get(Some(&alice), "/requests").await.status, StatusCode::OK);
    // Nothing of the above reached the inbox: no decision was recorded.
    assert!(console.inbox(&id)["approvals"].as_array().unwrap().is_empty());
    // With the token it does, and the cookie is cleared.
    let out = console.post_form(&alice, "/signout", &[("csrf", &alice.csrf)]).await;
    assert_eq!(out.status, StatusCode::SEE_OTHER);
    assert!(out.headers["set-cookie"].to_str().unwrap().contains("Max-Age=0"));
    assert_eq!(console.get(Some(&alice), "/requests").await.status, StatusCode::SEE_OTHER);
}

#[tokio::test]
async fn a_signed_in_requester_pastes_a_request_into_the_form() {
    let mut console = Console::start(|_| {});
    let alice = console.sign_in("alice").await;
    // A request made without --submit, pasted into the Requests page's form.
    let outcome = Run::new(console.path())
        .args(["request", "read_logs", "--duration", "1h", "--justification", "INC-7: logs"])
        .args(["--as", "alice", "--key", "keys/alice.key", "--out", "req.json"])
        .run()
        .expect_code(0);
    let id = outcome.stdout.lines().find_map(|l| l.strip_prefix("Request ")).unwrap();
    let id = id.split_whitespace().next().unwrap().to_owned();
    let envelope = read(console.path().join("req.json"));
    let form = console.get(Some(&alice), "/requests").await.body;
    assert!(form.contains("action=\"/requests\"") && form.contains("name=\"request\""), "{form}");
    let pasted = console
        .post_form(&alice, "/requests", &[("csrf", &alice.csrf), ("request", &envelope)])
        .await;
    assert_eq!(pasted.status, StatusCode::SEE_OTHER, "{}", pasted.body);
    assert_eq!(pasted.headers[LOCATION], format!("/requests/{id}"));
    assert_eq!(console.inbox(&id)["requester"], "alice");
    let page = console.get(Some(&alice), &format!("/requests/{id}")).await;
    assert!(page.body.contains("INC-7: logs") && page.body.contains("log-reader"), "{}", page.body);
    let audit = audit_text(console.path());
    assert!(audit.contains("\"request.submitted\""), "the submission is in the audit log");

    // Junk, a tampered request, and nothing at all: a page that says what is wrong; nothing
    // stored.
    let junk = console
        .post_form(&alice, "/requests", &[("csrf", &alice.csrf), ("request", "hello")])
        .await;
    assert_eq!(junk.status, StatusCode::BAD_REQUEST);
    assert!(junk.body.contains("Request refused"), "{}", junk.body);
    let tampered = envelope.replacen("\"payload\": \"", "\"payload\": \"AAAA", 1);
    assert_ne!(tampered, envelope);
    let forged = console
        .post_form(&alice, "/requests", &[("csrf", &alice.csrf), ("request", &tampered)])
        .await;
    assert_eq!(forged.status, StatusCode::BAD_REQUEST, "{}", forged.body);
    let empty = console.post_form(&alice, "/requests", &[("csrf", &alice.csrf)]).await;
    assert_eq!(empty.status, StatusCode::BAD_REQUEST, "{}", empty.body);
    let stored = fs_err::read_dir(console.path().join(".breakglass/requests"))
        .unwrap()
        .filter(|e| e.as_ref().unwrap().file_name().to_string_lossy().starts_with("act_"))
        .count();
    assert_eq!(stored, 1);
}

#[tokio::test]
async fn rejecting_with_a_passkey_is_recorded_and_stops_the_apply() {
    let mut console = Console::start(|_| {});
    let id = console.request("prod_admin", "alice", "req.json");
    let carol = console.sign_in("carol").await;
    let dave = console.sign_in("dave").await;
    let approved = console.decide(&carol, &id, "approve").await;
    assert_eq!(approved.json()["recorded"], "approve", "{}", approved.body);
    // `requests` reads the same inbox: dave is the approver still awaited, with the page's link.
    let awaiting = console.run().args(["requests", "--as", "dave"]).run().expect_code(0).stdout;
    assert!(awaiting.starts_with("Awaiting dave's approval (1):"), "{awaiting}");
    assert!(awaiting.contains("1 of 2 (by carol); may still approve: dave"), "{awaiting}");
    assert!(
        awaiting.contains(&format!("approve at {}/requests/{id}", console.rp.origin)),
        "{awaiting}"
    );
    let rejected = console.decide(&dave, &id, "deny").await;
    assert_eq!(rejected.json()["recorded"], "deny", "{}", rejected.body);
    // The page and the API say so; a second decision by dave is not offered.
    let page = console.get(Some(&dave), &format!("/requests/{id}")).await.body;
    assert!(page.contains("Rejected by dave") && page.contains("dave</strong> rejected"), "{page}");
    assert!(!page.contains("id=\"approve\""), "{page}");
    let dashboard =
        console.dashboard_until(&carol, |d| d["pending"][0]["rejected_by"] == "dave").await;
    assert_eq!(dashboard["pending"][0]["approved_by"], json!(["carol"]));
    let audit = audit_text(console.path());
    assert!(audit.contains("\"action\":\"denial\""), "the rejection is in the audit log");
    let mine = console.run().args(["requests", "--as", "alice", "--json"]).run().expect_code(0);
    let mine = mine.json();
    assert_eq!(mine["mine"][0]["status"], "rejected", "{mine}");
    assert_eq!(mine["mine"][0]["rejected_by"], "dave");
    assert_eq!(mine["mine"][0]["submitted"], true);
    // The executor takes the inbox as it is: the rejection refuses the apply.
    let totp = console.totp("alice");
    console.refused(&["--request", &id, "--totp", &totp], "dave denied the request");
    // carol's approval alone is not enough either.
    let carols = console.token(&id, "carol");
    console.refused(&["req.json", "--approval", &carols, "--totp", &totp], "quorum not met");
}

#[tokio::test]
async fn a_requester_proves_presence_with_a_passkey_instead_of_totp() {
    let mut console = Console::start(|dir| {
        let people = read(dir.join("people.hcl")).replacen(
            "totp          = true",
            "methods       = [\"passkey\"]",
            1,
        );
        fs_err::write(dir.join("people.hcl"), people).unwrap();
        let access = read(dir.join("access.hcl")).replacen(
            "quorum       = 1",
            "quorum       = 1\n  authentication = authentication.strong",
            1,
        );
        fs_err::write(dir.join("access.hcl"), access).unwrap();
    });
    let first = console.request("prod_admin", "alice", "first.json");
    let second = console.request("chatbot_kill_switch", "alice", "second.json");
    let carol = console.sign_in("carol").await;
    let dave = console.sign_in("dave").await;
    let alice = console.sign_in("alice").await;
    for id in [&first, &second] {
        for approver in [&carol, &dave] {
            let answer = console.decide(approver, id, "approve").await;
            assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
        }
    }
    // Without her passkey presence, refused; the page offers it to her and to nobody else.
    console.refused(&["--request", &first], "needs alice to prove presence with their passkey");
    let page = console.get(Some(&alice), &format!("/requests/{first}")).await.body;
    assert!(page.contains("id=\"presence\""), "{page}");
    let page = console.get(Some(&carol), &format!("/requests/{first}")).await.body;
    assert!(!page.contains("id=\"presence\""), "{page}");
    assert_eq!(console.decide(&carol, &first, "presence").await.status, StatusCode::FORBIDDEN);
    let proved = console.decide(&alice, &first, "presence").await;
    assert_eq!(proved.json()["recorded"], "presence", "{}", proved.body);
    let presence = console.inbox(&first)["presence"]["token"].as_str().unwrap().to_owned();

    // Her presence on the first request does not count for the second.
    let tokens = [console.token(&second, "carol"), console.token(&second, "dave")];
    let with = |presence: &str| {
        vec![
            "second.json".to_owned(),
            "--approval".to_owned(),
            tokens[0].clone(),
            "--approval".to_owned(),
            tokens[1].clone(),
            "--passkey".to_owned(),
            presence.to_owned(),
        ]
    };
    let args = with(&presence);
    console.refused(&args.iter().map(String::as_str).collect::<Vec<_>>(), "is for another request");

    // The first applies from the inbox, with no TOTP code.
    let outcome = Run::new(console.path())
        .args(["apply", "--emergency", "--request", &first])
        .run()
        .expect_code(0);
    assert!(outcome.stdout.contains(&first), "{}", outcome.stdout);
    let state = state(console.path());
    assert_eq!(
        state["activations"][&first]["authentication"],
        json!(["signed request", "passkey"])
    );
    // Her presence is used (its nonce recorded) and her passkey's counter kept, in the same
    // write as the grant.
    let token =
        PasskeyToken::from_token(console.inbox(&first)["presence"]["token"].as_str().unwrap())
            .unwrap();
    let presence: Value = serde_json::from_slice(&token.payload_bytes().unwrap()).unwrap();
    let nonce = presence["nonce"].as_str().unwrap();
    assert_eq!(state["used_nonces"][nonce]["activation"], json!(first), "{state}");
    let credential = token.credential_id_b64().unwrap();
    assert!(state["passkey_counters"][&credential].as_u64().is_some(), "{state}");

    // The second, with a presence of its own passed on the command line (--passkey).
    let proved = console.decide(&alice, &second, "presence").await;
    assert_eq!(proved.status, StatusCode::OK, "{}", proved.body);
    let own = console.inbox(&second)["presence"]["token"].as_str().unwrap().to_owned();
    let args = with(&own);
    Run::new(console.path()).args(["apply", "--emergency"]).args(&args).run().expect_code(0);
    // Used once: the same presence again (on the applied request) is refused.
    console.refused(&args.iter().map(String::as_str).collect::<Vec<_>>(), "already applied");
}

#[tokio::test]
async fn a_passkey_approval_works_once_even_signed_again_for_a_new_request() {
    let mut console = Console::start(|_| {});
    let first = console.request("chatbot_kill_switch", "alice", "first.json");
    let carol = console.sign_in("carol").await;
    let stale = console.keys["carol"].clone();
    let approved = console.decide(&carol, &first, "approve").await;
    assert_eq!(approved.status, StatusCode::OK, "{}", approved.body);
    Run::new(console.path())
        .args(["apply", "--emergency", "--request", &first])
        .run()
        .expect_code(0);
    let used = console.token(&first, "carol");
    let used_payload: Approval =
        serde_json::from_slice(&PasskeyToken::from_token(&used).unwrap().payload_bytes().unwrap())
            .unwrap();

    // A new request; carol's authenticator signs, with a fresh assertion, an approval of it
    // that reuses the nonce of the approval already used: refused, as a replay.
    let second = console.request("chatbot_kill_switch", "bob", "second.json");
    let digest = console.inbox(&second)["plan_digest"].as_str().unwrap().to_owned();
    let now: jiff::Timestamp = TEST_NOW.parse().unwrap();
    let approval = |nonce: String| Approval {
        approver: "carol".to_owned(),
        decision: Decision::Approve,
        plan_digest: digest.clone(),
        activation: second.clone(),
        issued_at: now,
        expires_at: now.checked_add(jiff::SignedDuration::from_mins(10)).unwrap(),
        nonce,
        comment: None,
    };
    let sign = |key: &mut Authenticator, approval: &Approval| {
        let payload = serde_json::to_vec(approval).unwrap();
        let assertion = key.assert(PASSKEY_APPROVAL_TYPE, &payload, &console.rp);
        PasskeyToken::new(PASSKEY_APPROVAL_TYPE, &payload, assertion).to_token()
    };
    let mut carol_key = console.keys["carol"].clone();
    let replayed = sign(&mut carol_key, &approval(used_payload.nonce.clone()));
    console.refused(&["second.json", "--approval", &replayed], "was already used");
    // A clone of her authenticator from before (its counter behind the one recorded): refused.
    let mut cloned = stale;
    let behind = sign(&mut cloned, &approval(Approval::new_nonce()));
    console.refused(&["second.json", "--approval", &behind], "did not go up");
    // The used token itself, on the new request: for another plan.
    console.refused(&["second.json", "--approval", &used], "is for another plan");
    // A fresh approval from her authenticator as it is now: accepted.
    let fresh = sign(&mut carol_key, &approval(Approval::new_nonce()));
    Run::new(console.path())
        .args(["apply", "--emergency", "second.json", "--approval", &fresh])
        .run()
        .expect_code(0);
}

#[tokio::test]
async fn an_activations_story_page_tells_it_from_the_audit_log() {
    let mut console = Console::start(|_| {});
    let id = console.request("prod_admin", "alice", "req.json");
    let carol = console.sign_in("carol").await;
    let dave = console.sign_in("dave").await;
    for approver in [&carol, &dave] {
        assert_eq!(console.decide(approver, &id, "approve").await.status, StatusCode::OK);
    }
    let totp = console.totp("alice");
    Run::new(console.path())
        .args(["apply", "--emergency", "--request", &id, "--totp", &totp])
        .run()
        .expect_code(0);
    let dashboard = console
        .dashboard_until(&carol, |d| d["active"].as_array().is_some_and(|a| !a.is_empty()))
        .await;
    assert_eq!(dashboard["active"][0]["id"], json!(id));
    assert_eq!(dashboard["active"][0]["approved_by"], json!(["carol", "dave"]));
    assert_eq!(dashboard["active"][0]["authenticated_by"], json!(["signed request", "totp"]));
    let home = console.get(Some(&carol), "/").await.body;
    assert!(home.contains(&format!("href=\"/activations/{id}\"")), "the dashboard links the story");

    let story = console.get(Some(&carol), &format!("/activations/{id}")).await;
    assert_eq!(story.status, StatusCode::OK);
    let actions = [
        "request",
        "request.submitted",
        "approval",
        "approval.accepted",
        "apply.emergency",
        "activation.active",
    ];
    let mut at = 0;
    for action in actions {
        let needle = format!("<code>{action}</code>");
        let found = story.body[at..].find(&needle).unwrap_or_else(|| {
            panic!("the story tells {action} after what came before:\n{}", story.body)
        });
        at += found;
    }
    let events = console.get(Some(&carol), &format!("/api/activations/{id}")).await.json();
    let listed: Vec<&str> =
        events.as_array().unwrap().iter().map(|e| e["action"].as_str().unwrap()).collect();
    for action in actions {
        assert!(listed.contains(&action), "{action} in {listed:?}");
    }
    assert!(events.as_array().unwrap().iter().all(|e| e["subject"]["activation"] == json!(id)));
    // The revoke goes into the story too.
    Run::new(console.path())
        .args(["revoke", &id, "--reason", "incident closed", "--as", "carol"])
        .run()
        .expect_code(0);
    let story = console.get(Some(&carol), &format!("/activations/{id}")).await.body;
    assert!(story.contains("activation.revoked") && story.contains("incident closed"), "{story}");
    console.dashboard_until(&carol, |d| d["active"].as_array().is_some_and(Vec::is_empty)).await;
    // Nothing about an unknown activation.
    let unknown = console.get(Some(&carol), "/activations/act_00000000000000000000000000").await;
    assert!(unknown.body.contains("nothing about it"), "{}", unknown.body);
}

#[tokio::test]
async fn no_secret_reaches_a_page() {
    let mut console = Console::start(|_| {});
    let id = console.request("prod_admin", "alice", "req.json");
    let carol = console.sign_in("carol").await;
    let dave = console.sign_in("dave").await;
    for approver in [&carol, &dave] {
        assert_eq!(console.decide(approver, &id, "approve").await.status, StatusCode::OK);
    }
    let totp = console.totp("alice");
    Run::new(console.path())
        .args(["apply", "--emergency", "--request", &id, "--totp", &totp])
        .run()
        .expect_code(0);
    let alice = console.sign_in("alice").await;

    // What must never show: TOTP secrets, private keys (their base64 body), anyone's session.
    let secrets: Value =
        serde_json::from_str(&read(console.path().join("keys/totp-secrets.demo.json"))).unwrap();
    let mut forbidden: Vec<String> = Vec::new();
    fn strings(value: &Value, into: &mut Vec<String>) {
        match value {
            Value::String(text) if text.len() >= 16 => into.push(text.clone()),
            Value::Object(map) => map.values().for_each(|v| strings(v, into)),
            Value::Array(items) => items.iter().for_each(|v| strings(v, into)),
            _ => {}
        }
    }
    strings(&secrets, &mut forbidden);
    assert!(!forbidden.is_empty(), "the TOTP secrets were read");
    for entry in fs_err::read_dir(console.path().join("keys")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "key") {
            for line in read(&path).lines().filter(|l| !l.starts_with("-----")) {
                forbidden.push(line.trim().to_owned());
            }
        }
    }
    for session in [&carol, &dave, &alice] {
        forbidden.push(session.cookie.split('=').nth(1).unwrap().to_owned());
    }
    let pages = [
        "/",
        "/requests",
        &format!("/requests/{id}"),
        &format!("/activations/{id}"),
        "/api/dashboard",
        "/api/requests",
        &format!("/api/requests/{id}"),
        &format!("/api/activations/{id}"),
        "/static/console.js",
    ];
    let mut seen = 0;
    for session in [&carol, &alice] {
        for path in pages {
            let answer = console.get(Some(session), path).await;
            if answer.status != StatusCode::OK {
                continue;
            }
            seen += 1;
            for secret in &forbidden {
                assert!(
                    !answer.body.contains(secret.as_str()),
                    "{path} as {} shows a secret",
                    session.person
                );
            }
        }
    }
    assert!(seen >= 12, "the pages were read ({seen})");
    let signin = console.get(None, "/signin").await.body;
    assert!(forbidden.iter().all(|s| !signin.contains(s.as_str())));
}

#[tokio::test]
async fn serve_over_tls_with_a_certificate_and_key() {
    let port = free_port();
    let url = format!("https://localhost:{port}");
    let mut keys = authenticators();
    let dir = policy(&url, &keys, |_| {});
    let certified = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
    fs_err::write(dir.path().join("cert.pem"), certified.cert.pem()).unwrap();
    fs_err::write(dir.path().join("key.pem"), certified.signing_key.serialize_pem()).unwrap();

    // Files that are not what they say: a clear error, no server.
    let wrong = Run::new(dir.path())
        .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
        .args(["--tls-cert", "key.pem", "--tls-key", "key.pem"])
        .run()
        .expect_code(1);
    assert!(wrong.stderr.contains("key.pem"), "{}", wrong.stderr);
    let missing = Run::new(dir.path())
        .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
        .args(["--tls-cert", "cert.pem", "--tls-key", "nothing.pem"])
        .run()
        .expect_code(1);
    assert!(missing.stderr.contains("nothing.pem"), "{}", missing.stderr);

    let mut serve = Run::new(dir.path())
        .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
        .args(["--tls-cert", "cert.pem", "--tls-key", "key.pem"])
        .spawn();
    wait_listening(port, &mut serve);
    let _stop = StopOnDrop(serve);
    let certificate = reqwest::Certificate::from_pem(certified.cert.pem().as_bytes()).unwrap();
    let client = reqwest::Client::builder()
        .add_root_certificate(certificate)
        .resolve("localhost", ([127, 0, 0, 1], port).into())
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let page = client.get(format!("{url}/signin")).send().await.unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    assert_eq!(page.headers()["content-security-policy"], CSP);
    // Signing in over TLS: the passkey's origin is the https url.
    let rp = RelyingParty { origin: url.clone(), rp_id: "localhost".to_owned() };
    let begin: Value = client
        .post(format!("{url}/signin/begin"))
        .header("origin", &url)
        .json(&json!({ "person": "carol" }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let challenge = URL_SAFE_NO_PAD.decode(begin["challenge"].as_str().unwrap()).unwrap();
    let assertion = keys.get_mut("carol").unwrap().answer(&challenge, &rp);
    let finish = client
        .post(format!("{url}/signin/finish"))
        .header("origin", &url)
        .json(&json!({ "ceremony": begin["ceremony"], "assertion": assertion }))
        .send()
        .await
        .unwrap();
    assert_eq!(finish.status(), StatusCode::OK);
    let cookie =
        finish.headers()["set-cookie"].to_str().unwrap().split(';').next().unwrap().to_owned();
    let dashboard =
        client.get(format!("{url}/api/dashboard")).header("cookie", &cookie).send().await.unwrap();
    assert_eq!(dashboard.status(), StatusCode::OK);
    // Plain HTTP on the TLS port gets no page.
    let plain = reqwest::Client::new().get(format!("http://127.0.0.1:{port}/signin")).send().await;
    assert!(plain.is_err() || !plain.unwrap().status().is_success(), "plain HTTP is not served");
    // An untrusting client refuses the self-signed certificate: it is really TLS.
    let untrusting = reqwest::Client::builder()
        .resolve("localhost", ([127, 0, 0, 1], port).into())
        .build()
        .unwrap();
    assert!(untrusting.get(format!("{url}/signin")).send().await.is_err());
}

#[tokio::test]
async fn the_dashboard_reads_a_postgresql_state() {
    let cluster = breakglass_provider_postgres::testing::TestCluster::start();
    cluster.create_database("state").await;
    let connection = cluster.connection_string(
        "postgres",
        breakglass_provider_postgres::testing::TestCluster::PASSWORD,
        "state",
    );
    let env = vec![("BREAKGLASS_STATE_CONNECTION".to_owned(), connection.clone())];
    let mut console = Console::start_with(
        |dir| {
            let main = read(dir.join("main.hcl")).replacen(
                "  plan_signers     = [person.ci]\n",
                "  plan_signers     = [person.ci]\n\n  state {\n    backend = \"postgres\"\n  }\n",
                1,
            );
            fs_err::write(dir.join("main.hcl"), main).unwrap();
        },
        env,
    );
    assert!(!state_db(console.path()).exists(), "the state is in PostgreSQL");
    let carol = console.sign_in("carol").await;
    let id = console.request("read_logs", "alice", "req.json");
    // The inbox of a PostgreSQL state is beside the policy.
    assert_eq!(console.inbox(&id)["requester"], "alice");
    let pending = console.dashboard_until(&carol, |d| d["pending"][0]["id"] == json!(id)).await;
    assert_eq!(pending["active"], json!([]));
    console.run().args(["apply", "--emergency", "req.json"]).run().expect_code(0);
    let shown = console
        .dashboard_until(&carol, |d| d["active"].as_array().is_some_and(|a| a.len() == 1))
        .await;
    assert_eq!(shown["active"][0]["id"], json!(id));
    assert_eq!(shown["active"][0]["source"], "auto-approved");
    assert_eq!(shown["pending"], json!([]));
    console.run().args(["revoke", &id, "--reason", "done", "--as", "carol"]).run().expect_code(0);
    console.dashboard_until(&carol, |d| d["active"].as_array().is_some_and(Vec::is_empty)).await;
    let page = console.get(Some(&carol), &format!("/requests/{id}")).await.body;
    assert!(page.contains("Applied"), "{page}");
    // Its story, from the audit log kept in PostgreSQL.
    let story = console.get(Some(&carol), &format!("/api/activations/{id}")).await.json();
    let actions: Vec<&str> =
        story.as_array().unwrap().iter().map(|e| e["action"].as_str().unwrap()).collect();
    for action in ["request.submitted", "apply.emergency", "activation.revoked"] {
        assert!(actions.contains(&action), "{action} missing from {actions:?}");
    }
    assert!(
        !page.contains(&connection)
            && !page.contains(breakglass_provider_postgres::testing::TestCluster::PASSWORD)
    );
}

/// A webhook receiver on 127.0.0.1 that answers 200 and keeps every body.
fn webhook() -> (String, std::sync::Arc<std::sync::Mutex<Vec<Value>>>) {
    use std::io::{BufRead, Read as _, Write as _};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    let bodies = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let keep = bodies.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut reader = std::io::BufReader::new(stream.try_clone().unwrap());
            let mut length = 0;
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                    break;
                }
                if let Some(value) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                    length = value.trim().parse().unwrap_or(0);
                }
            }
            let mut body = vec![0; length];
            if reader.read_exact(&mut body).is_ok()
                && let Ok(event) = serde_json::from_slice(&body)
            {
                keep.lock().unwrap().push(event);
            }
            let _ =
                write!(stream, "HTTP/1.1 200 OK\r\ncontent-length: 0\r\nconnection: close\r\n\r\n");
        }
    });
    (url, bodies)
}

#[tokio::test]
async fn the_sinks_carry_the_link_to_a_submitted_request_and_each_decision() {
    let (url, delivered) = webhook();
    let mut console = Console::start_with(
        |dir| {
            let main = read(dir.join("main.hcl")).replacen(
                "  totp_secrets_file = \"keys/totp-secrets.demo.json\"\n",
                "  totp_secrets_file = \"keys/totp-secrets.demo.json\"\n\n  audit {\n    sink \"hook\" {\n      type    = \"webhook\"\n      url_env = \"BG_HOOK\"\n    }\n  }\n",
                1,
            );
            fs_err::write(dir.join("main.hcl"), main).unwrap();
        },
        vec![("BG_HOOK".to_owned(), url)],
    );
    let id = console.request("prod_admin", "alice", "req.json");
    let carol = console.sign_in("carol").await;
    assert_eq!(console.decide(&carol, &id, "approve").await.status, StatusCode::OK);
    let link = format!("{}/requests/{id}", console.rp.origin);
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let events = delivered.lock().unwrap().clone();
        let about: Vec<&Value> =
            events.iter().filter(|e| e["subject"]["activation"] == json!(id)).collect();
        let submitted = about.iter().find(|e| e["action"] == "request.submitted");
        let approved = about.iter().find(|e| e["action"] == "approval" && e["actor"] == "carol");
        if let (Some(submitted), Some(approved)) = (submitted, approved) {
            assert_eq!(submitted["details"]["link"], json!(link), "{submitted}");
            assert_eq!(approved["details"]["link"], json!(link), "{approved}");
            assert_eq!(approved["details"]["via"], "passkey (console)");
            assert!(submitted["hash"].is_string(), "delivered as recorded, with its hash");
            break;
        }
        assert!(Instant::now() < deadline, "the webhook got {events:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

struct StopOnDrop(Child);

impl Drop for StopOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}
