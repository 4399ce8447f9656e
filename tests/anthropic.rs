//! The `anthropic` provider against the Admin API contract server (tests/contract/anthropic.rs):
//! paging, retries, refusals and strict decoding at the provider boundary, then grants,
//! overrides and their reverts end to end through the CLI on examples/ai-platform.

use breakglass_provider::http::{HttpClient, HttpConfig};
use breakglass_provider::{
    Attributes, ChangeContext, ConfigureRequest, CreateRequest, DeleteRequest, ErrorKind,
    ListRequest, Provider, ReadRequest,
};
use breakglass_provider_anthropic::AnthropicProvider;
use serde_json::{Value, json};
use std::time::{Duration, Instant};

use crate::contract_anthropic::{ADMIN_KEY, AnthropicServer, Fault};
use crate::util::{Run, read};

const WORKSPACE: &str = "wrkspc_01MLPlatform";

async fn provider(server: &AnthropicServer, page_size: u64) -> AnthropicProvider {
    let mut provider = AnthropicProvider::new();
    let config = Attributes::from([
        ("base_url".to_owned(), json!(server.url)),
        ("admin_key".to_owned(), json!(ADMIN_KEY)),
        ("page_size".to_owned(), json!(page_size)),
    ]);
    provider.configure(ConfigureRequest::new(config, ".")).await.expect("configured");
    provider
}

fn member(user: &str, role: &str) -> Attributes {
    Attributes::from([
        ("workspace_id".to_owned(), json!(WORKSPACE)),
        ("user_id".to_owned(), json!(user)),
        ("workspace_role".to_owned(), json!(role)),
    ])
}

fn members_scope() -> ListRequest {
    ListRequest::new("anthropic_workspace_member", vec![member("user_any", "workspace_user")])
}

/// A workspace of `count` members, every tenth an admin.
fn workspace_of(count: usize) -> AnthropicServer {
    let server = AnthropicServer::start();
    server.add_workspace(WORKSPACE, "ML Platform");
    for n in 0..count {
        let role = if n % 10 == 0 { "workspace_admin" } else { "workspace_developer" };
        server.set_member(WORKSPACE, &format!("user_{n:03}"), role);
    }
    server
}

#[tokio::test]
async fn a_workspace_with_more_members_than_one_page_is_listed_in_full() {
    let server = workspace_of(45);
    let provider = provider(&server, 10).await;
    let listed = provider.list(members_scope()).await.expect("listed");
    assert_eq!(listed.objects.len(), 45);
    assert_eq!(listed.api_calls, 5, "45 members at 10 a page");
    assert_eq!(
        listed.objects[&format!("{WORKSPACE}/user_044")]["workspace_role"],
        "workspace_developer"
    );
    let admins: Vec<&str> = listed.privileged.iter().map(String::as_str).collect();
    assert_eq!(
        admins,
        ["user_000", "user_010", "user_020", "user_030", "user_040"]
            .map(|u| format!("{WORKSPACE}/{u}"))
    );
    let seen = server.seen();
    assert_eq!(seen.len(), 5);
    assert_eq!(seen[0], format!("GET /v1/organizations/workspaces/{WORKSPACE}/members?limit=10"));
    assert_eq!(
        seen[1],
        format!("GET /v1/organizations/workspaces/{WORKSPACE}/members?limit=10&after_id=user_009")
    );
}

#[tokio::test]
async fn a_workspace_of_2500_members_is_read_in_25_calls_at_the_default_page_size() {
    let server = workspace_of(2500);
    let mut provider = AnthropicProvider::new();
    let config = Attributes::from([
        ("base_url".to_owned(), json!(server.url)),
        ("admin_key".to_owned(), json!(ADMIN_KEY)),
    ]);
    provider.configure(ConfigureRequest::new(config, ".")).await.expect("configured");
    let began = Instant::now();
    let listed = provider.list(members_scope()).await.expect("listed");
    let took = began.elapsed();
    assert_eq!((listed.objects.len(), listed.api_calls), (2500, 25));
    assert_eq!(listed.privileged.len(), 250);
    assert!(took < Duration::from_secs(10), "listing 2,500 members took {took:?}");
}

#[tokio::test]
async fn throttling_server_errors_and_overload_are_retried() {
    let server = workspace_of(3);
    let provider = provider(&server, 100).await;
    server.fail_next([Fault::RateLimited(1), Fault::ServerError, Fault::Overloaded]);
    let began = Instant::now();
    let listed = provider.list(members_scope()).await.expect("retried to success");
    assert_eq!(listed.objects.len(), 3);
    assert_eq!(server.seen().len(), 4, "three failures, then the page");
    assert!(began.elapsed() >= Duration::from_millis(950), "retry-after: 1 was honoured");
}

#[tokio::test]
async fn an_api_that_stays_overloaded_is_named_overloaded_not_an_unknown_status() {
    let server = workspace_of(3);
    let provider = provider(&server, 100).await;
    server.fail_next(std::iter::repeat_n(Fault::Overloaded, 5));
    let error = provider.list(members_scope()).await.expect_err("overloaded five times");
    assert_eq!(error.kind(), ErrorKind::Transient, "{error}");
    let message = error.message();
    assert!(message.contains("answered 529 Overloaded after 5 attempts"), "{message}");
    assert!(message.contains("overloaded_error"), "{message}");
    assert!(!message.contains("unknown status"), "{message}");
    assert_eq!(server.seen().len(), 5);
}

#[tokio::test]
async fn a_refused_admin_key_is_a_clear_error_naming_the_variable() {
    let server = workspace_of(3);
    let mut provider = AnthropicProvider::new();
    let config = Attributes::from([
        ("base_url".to_owned(), json!(server.url)),
        ("admin_key".to_owned(), json!("sk-ant-admin01-wrong-secret")),
    ]);
    provider.configure(ConfigureRequest::new(config, ".")).await.expect("configured");
    let error = provider.list(members_scope()).await.expect_err("refused");
    assert_eq!(error.kind(), ErrorKind::Denied, "{error}");
    let message = error.message();
    assert!(message.starts_with("anthropic: GET /v1/organizations/workspaces/"), "{message}");
    assert!(message.contains("401") && message.contains("authentication_error"), "{message}");
    assert!(message.contains("ANTHROPIC_ADMIN_KEY"), "{message}");
    assert!(!message.contains("wrong-secret"), "the key never appears: {message}");
    assert_eq!(server.seen().len(), 1, "a 401 is not retried");
}

#[tokio::test]
async fn unexpected_json_is_an_error_not_a_silent_default() {
    let server = workspace_of(3);
    let provider = provider(&server, 100).await;
    let cases = [
        (
            r#"{"data": [{"type": "workspace_member", "user_id": "u", "workspace_id": "w"}], "has_more": false}"#,
            "workspace_role",
        ),
        (r#"{"data": [], "first_id": null, "last_id": null}"#, "has_more"),
        (r#"{"data": "none", "has_more": false}"#, "does not have that shape"),
        ("<html><body>Bad gateway</body></html>", "is not JSON"),
        (
            r#"{"data": [{"type": "api_key", "user_id": "u", "workspace_id": "w", "workspace_role": "workspace_user"}], "has_more": false}"#,
            "\"api_key\"",
        ),
    ];
    for (body, says) in cases {
        server.fail_next([Fault::Garbage(body.to_owned())]);
        let error = provider.list(members_scope()).await.expect_err(body);
        assert_eq!(error.kind(), ErrorKind::Protocol, "{body}: {error}");
        assert!(error.message().contains(says), "{body}: {error}");
        assert!(error.message().starts_with("anthropic: GET /v1/organizations/"), "{error}");
    }
    // The same for one object read by id.
    server.fail_next([Fault::Garbage(r#"{"type": "workspace_member", "user_id": 7}"#.to_owned())]);
    let error = provider
        .read(ReadRequest::new("anthropic_workspace_member", vec![format!("{WORKSPACE}/user_001")]))
        .await
        .expect_err("garbage");
    assert_eq!(error.kind(), ErrorKind::Protocol, "{error}");
}

#[tokio::test]
async fn a_cursor_that_does_not_advance_is_an_error_not_an_endless_loop() {
    let server = workspace_of(25);
    server.stick_cursor();
    let provider = provider(&server, 10).await;
    let error = provider.list(members_scope()).await.expect_err("stuck");
    assert_eq!(error.kind(), ErrorKind::Protocol, "{error}");
    assert!(error.message().contains("pagination does not advance"), "{error}");
    assert_eq!(server.seen().len(), 2, "stopped at the first repeated cursor");
}

#[tokio::test]
async fn member_writes_are_idempotent_and_archived_keys_are_refused() {
    let server = workspace_of(0);
    server.add_user("user_bob");
    let provider = provider(&server, 100).await;
    let wanted = member("user_bob", "workspace_developer");
    let id = provider
        .resource_id(breakglass_provider::IdRequest::new("anthropic_workspace_member", &wanted))
        .expect("id");
    for _ in 0..2 {
        let created = provider
            .create(CreateRequest::new(
                "anthropic_workspace_member",
                &id,
                wanted.clone(),
                ChangeContext::baseline(),
            ))
            .await
            .expect("created, then found");
        assert_eq!(created.attributes, wanted);
    }
    // A retried create that finds another role converges on the declared one.
    server.set_member(WORKSPACE, "user_bob", "workspace_user");
    provider
        .create(CreateRequest::new(
            "anthropic_workspace_member",
            &id,
            wanted.clone(),
            ChangeContext::baseline(),
        ))
        .await
        .expect("converged");
    assert_eq!(server.member_role(WORKSPACE, "user_bob").as_deref(), Some("workspace_developer"));
    for _ in 0..2 {
        provider
            .delete(DeleteRequest::new(
                "anthropic_workspace_member",
                &id,
                wanted.clone(),
                ChangeContext::baseline(),
            ))
            .await
            .expect("deleted, then already gone");
    }
    assert_eq!(server.member_role(WORKSPACE, "user_bob"), None);

    let archived = Attributes::from([
        ("api_key_id".to_owned(), json!("apikey_01ChatbotProd")),
        ("status".to_owned(), json!("archived")),
    ]);
    let error = provider
        .resource_id(breakglass_provider::IdRequest::new("anthropic_api_key_status", &archived))
        .expect_err("refused");
    assert!(error.message().contains("no API call can undo"), "{error}");
}

#[tokio::test]
async fn the_contract_server_holds_requests_and_answers_to_the_vendor_types() {
    let server = workspace_of(1);
    let http = HttpClient::new("test", HttpConfig::default()).expect("client");
    let send = |target: &str, body: &'static str| {
        let url = format!("{}{target}", server.url);
        let http = http.clone();
        async move {
            http.send(|client| {
                let request = if body.is_empty() { client.get(&url) } else { client.post(&url) };
                request
                    .header("x-api-key", ADMIN_KEY)
                    .header("anthropic-version", "2023-06-01")
                    .header("content-type", "application/json")
                    .body(body)
                    .build()
                    .map_err(|error| http.build_error(error))
            })
            .await
            .expect("answered")
        }
    };
    let members = format!("/v1/organizations/workspaces/{WORKSPACE}/members");
    let billing =
        send(&members, r#"{"user_id": "user_x", "workspace_role": "workspace_billing"}"#).await;
    assert_eq!(billing.status.as_u16(), 400);
    let limit = send(&format!("{members}?limit=ten"), "").await;
    assert_eq!(limit.status.as_u16(), 400);
    let undeclared = send(&format!("{members}?cursor=x"), "").await;
    assert_eq!(undeclared.status.as_u16(), 400);
    let violations = server.take_violations();
    assert_eq!(violations.len(), 3, "{violations:?}");
    assert!(violations[0].contains("body: \"workspace_billing\" is not one of"), "{violations:?}");
    assert!(violations[1].contains("?limit: \"ten\" is not of type \"integer\""), "{violations:?}");
    assert!(violations[2].contains("`cursor` is not documented"), "{violations:?}");
    // And answers: an API key must say where it belongs (`scope`).
    let answer = crate::contract_anthropic::response_violations(
        "GET",
        "/v1/organizations/api_keys/apikey_1",
        br#"{"id": "apikey_1", "type": "api_key", "name": "k", "status": "active", "created_at": "2026-01-05T10:00:00Z"}"#,
    );
    assert!(answer.iter().any(|v| v.contains("\"scope\" is a required property")), "{answer:?}");
}

// --- End to end through the CLI on examples/ai-platform -----------------------------------

/// Both platforms of the example, seeded with what its baseline adopts, and a copy of the
/// example that holds only the files of these two platforms.
pub struct Platforms {
    pub anthropic: AnthropicServer,
    pub litellm: crate::contract_litellm::LiteLlmServer,
    pub dir: tempfile::TempDir,
}

impl Platforms {
    pub fn start() -> Self {
        let anthropic = AnthropicServer::start();
        anthropic.add_workspace(WORKSPACE, "ml-platform");
        anthropic.set_member(WORKSPACE, "user_01CarolDiaz", "workspace_admin");
        anthropic.set_member(WORKSPACE, "user_01AliceMartin", "workspace_developer");
        anthropic.add_user("user_01BobChen");
        anthropic.add_api_key("apikey_01ChatbotProd", "chatbot-prod", WORKSPACE, "active");
        let litellm = crate::contract_litellm::LiteLlmServer::start();
        litellm.add_team("team-chatbot", "chatbot");
        litellm.add_key("chatbot-prod", &["claude-sonnet-4-5"]);
        let dir = crate::util::example_copy("ai-platform");
        // Other platforms' files need their own servers; these tests are about these two.
        for entry in fs_err::read_dir(dir.path()).expect("example") {
            let path = entry.expect("entry").path();
            let name = path.file_name().and_then(|n| n.to_str()).unwrap_or_default().to_owned();
            if name.ends_with(".hcl")
                && !["main.hcl", "anthropic.hcl", "litellm.hcl"].contains(&name.as_str())
            {
                fs_err::remove_file(&path).expect("remove");
            }
        }
        Self { anthropic, litellm, dir }
    }

    /// `breakglass` in the example, pointed at both servers, at `time`.
    pub fn at(&self, time: &str) -> Run {
        Run::new(self.dir.path())
            .env("BREAKGLASS_TEST_NOW", time)
            .env("ANTHROPIC_BASE_URL", &self.anthropic.url)
            .env("ANTHROPIC_ADMIN_KEY", ADMIN_KEY)
            .env("LITELLM_BASE_URL", &self.litellm.url)
            .env("LITELLM_MASTER_KEY", crate::contract_litellm::MASTER_KEY)
    }

    pub fn write(&self, name: &str, text: &str) {
        fs_err::write(self.dir.path().join(name), text).expect("write a policy file");
    }

    pub fn remove(&self, name: &str) {
        fs_err::remove_file(self.dir.path().join(name)).expect("remove a policy file");
    }

    pub fn state(&self) -> Value {
        crate::util::state(self.dir.path())
    }
}

#[test]
fn the_example_applies_removes_unmanaged_admins_and_a_second_apply_is_a_no_op() {
    let platforms = Platforms::start();
    platforms.anthropic.set_member(WORKSPACE, "user_01Mallory", "workspace_admin");
    platforms.anthropic.set_member(WORKSPACE, "user_01Eve", "workspace_user");
    let now = "2026-11-28T12:00:00Z";
    let plan = platforms.at(now).args(["plan", "--detailed-exitcode"]).run().expect_code(2);
    assert!(plan.stdout.contains("user_01Mallory"), "{}", plan.stdout);
    let applied = platforms.at(now).args(["apply", "--auto-approve"]).run().expect_code(0);
    assert!(applied.stdout.contains("Apply complete!"), "{}", applied.stdout);
    assert_eq!(
        platforms.anthropic.member_role(WORKSPACE, "user_01Mallory"),
        None,
        "privileged drift removed"
    );
    assert_eq!(
        platforms.anthropic.member_role(WORKSPACE, "user_01Eve").as_deref(),
        Some("workspace_user")
    );
    assert!(
        platforms
            .anthropic
            .seen()
            .iter()
            .any(|s| s == &format!("POST /v1/organizations/workspaces/{WORKSPACE}")),
        "the workspace was renamed to its declared name"
    );
    let calls = platforms.anthropic.seen().len();
    let again = platforms.at(now).args(["apply", "--auto-approve"]).run().expect_code(0);
    assert!(again.stdout.contains("0 added, 0 changed, 0 destroyed"), "{}", again.stdout);
    let writes: Vec<String> = platforms.anthropic.seen()[calls..]
        .iter()
        .filter(|s| !s.starts_with("GET "))
        .cloned()
        .collect();
    assert!(writes.is_empty(), "a second apply writes nothing: {writes:?}");
    // Eve is a member nobody declared, but not an admin: not drift worth a plan's attention.
    platforms.at(now).args(["plan", "--detailed-exitcode"]).run().expect_code(0);

    // Someone switches the chatbot's key off in the Console: drift, put back by apply.
    platforms.anthropic.set_api_key_status("apikey_01ChatbotProd", "inactive");
    let drifted = platforms.at(now).args(["plan"]).run().expect_code(0);
    assert!(drifted.stdout.contains("anthropic_api_key_status.chatbot"), "{}", drifted.stdout);
    assert!(drifted.stdout.contains("(changed outside breakglass)"), "{}", drifted.stdout);
    platforms.at(now).args(["apply", "--auto-approve"]).run().expect_code(0);
    assert_eq!(
        platforms.anthropic.api_key_status("apikey_01ChatbotProd").as_deref(),
        Some("active")
    );
}

const KILL_SWITCH_GRANT: &str = r#"
grant "inc_4711" {
  override      = override.chatbot_kill_switch
  to            = person.alice
  start         = "2031-03-01T09:00:00Z"
  end           = "2031-03-01T12:00:00Z"
  justification = "INC-4711: the chatbot gives harmful answers"
}
"#;

#[test]
fn the_kill_switch_override_sets_the_key_inactive_and_its_revert_makes_it_active_again() {
    let platforms = Platforms::start();
    platforms.write("incident.hcl", KILL_SWITCH_GRANT);
    platforms.at("2031-03-01T09:30:00Z").args(["apply", "--auto-approve"]).run().expect_code(0);
    assert_eq!(
        platforms.anthropic.api_key_status("apikey_01ChatbotProd").as_deref(),
        Some("inactive")
    );
    let state = platforms.state();
    let activation = &state["activations"]["grant_inc_4711"];
    assert_eq!(activation["status"], "active");
    assert_eq!(
        activation["priors"]["anthropic_api_key_status.chatbot"]["status"], "active",
        "the value read before the change is on record: {activation}"
    );
    platforms.at("2031-03-01T10:00:00Z").args(["plan", "--detailed-exitcode"]).run().expect_code(0);

    let later = platforms
        .at("2031-03-01T12:00:01Z")
        .args(["plan", "--detailed-exitcode"])
        .run()
        .expect_code(2);
    assert!(later.stdout.contains("expired at 2031-03-01T12:00:00Z"), "{}", later.stdout);
    // An ended grant is invalid policy; the revert still happens, from state.
    platforms.remove("incident.hcl");
    platforms.at("2031-03-01T12:00:01Z").args(["apply", "--auto-approve"]).run().expect_code(0);
    assert_eq!(
        platforms.anthropic.api_key_status("apikey_01ChatbotProd").as_deref(),
        Some("active")
    );
    assert_eq!(platforms.state()["activations"]["grant_inc_4711"]["status"], "reverted");
    let calls = platforms.anthropic.seen().len();
    platforms.at("2031-03-01T12:00:02Z").args(["apply", "--auto-approve"]).run().expect_code(0);
    assert!(
        platforms.anthropic.seen()[calls..].iter().all(|s| s.starts_with("GET ")),
        "a second revert writes nothing"
    );
}

#[test]
fn the_on_call_elevation_raises_the_role_and_its_revert_restores_the_previous_one() {
    let platforms = Platforms::start();
    platforms.write(
        "incident.hcl",
        r#"
grant "inc_4712" {
  override      = override.ml_oncall_elevation
  to            = person.alice
  start         = "2031-03-01T09:00:00Z"
  end           = "2031-03-01T10:00:00Z"
  justification = "INC-4712: rotate the ML workspace's leaked key"
}
"#,
    );
    platforms.at("2031-03-01T09:15:00Z").args(["apply", "--auto-approve"]).run().expect_code(0);
    let alice = |p: &Platforms| p.anthropic.member_role(WORKSPACE, "user_01AliceMartin");
    assert_eq!(alice(&platforms).as_deref(), Some("workspace_admin"));
    platforms.remove("incident.hcl");
    platforms.at("2031-03-01T10:00:01Z").args(["apply", "--auto-approve"]).run().expect_code(0);
    assert_eq!(
        alice(&platforms).as_deref(),
        Some("workspace_developer"),
        "the previous role, not removal"
    );
    assert_eq!(platforms.state()["activations"]["grant_inc_4712"]["status"], "reverted");
}

#[test]
fn a_role_grant_adds_the_requester_to_the_workspace_and_its_revert_removes_them() {
    let platforms = Platforms::start();
    platforms.write(
        "incident.hcl",
        r#"
grant "inc_4713" {
  role          = role.ml_workspace_investigator
  to            = person.bob
  start         = "2031-03-01T09:00:00Z"
  end           = "2031-03-01T17:00:00Z"
  justification = "INC-4713: investigate the ML workspace's spend spike"
}
"#,
    );
    let bob = |p: &Platforms| p.anthropic.member_role(WORKSPACE, "user_01BobChen");
    platforms.at("2031-03-01T09:00:00Z").args(["apply", "--auto-approve"]).run().expect_code(0);
    assert_eq!(bob(&platforms).as_deref(), Some("workspace_developer"));
    platforms.at("2031-03-01T09:01:00Z").args(["plan", "--detailed-exitcode"]).run().expect_code(0);
    platforms.remove("incident.hcl");
    platforms.at("2031-03-01T17:00:01Z").args(["apply", "--auto-approve"]).run().expect_code(0);
    assert_eq!(bob(&platforms), None);
    assert_eq!(platforms.state()["activations"]["grant_inc_4713"]["status"], "reverted");
    platforms.at("2031-03-01T17:00:02Z").args(["plan", "--detailed-exitcode"]).run().expect_code(0);
}

#[test]
fn a_wrong_admin_key_fails_the_plan_clearly_and_changes_nothing() {
    let platforms = Platforms::start();
    let outcome = platforms
        .at("2026-11-28T12:00:00Z")
        .env("ANTHROPIC_ADMIN_KEY", "sk-ant-admin01-not-the-right-one")
        .args(["apply", "--auto-approve"])
        .run();
    assert_ne!(outcome.code, 0, "{}", outcome.stdout);
    assert!(!outcome.stderr.contains("panicked"), "{}", outcome.stderr);
    assert!(outcome.stderr.contains("anthropic"), "{}", outcome.stderr);
    assert!(outcome.stderr.contains("ANTHROPIC_ADMIN_KEY"), "{}", outcome.stderr);
    assert!(!outcome.stderr.contains("not-the-right-one"), "{}", outcome.stderr);
    assert!(
        platforms.anthropic.seen().iter().all(|s| s.starts_with("GET ")),
        "nothing was written to Anthropic"
    );
    assert!(platforms.litellm.seen().iter().all(|s| s.starts_with("GET ")), "nor to LiteLLM");
    assert_eq!(
        platforms.anthropic.api_key_status("apikey_01ChatbotProd").as_deref(),
        Some("active")
    );

    let unset = Run::new(platforms.dir.path())
        .env("ANTHROPIC_BASE_URL", &platforms.anthropic.url)
        .env("ANTHROPIC_ADMIN_KEY", "")
        .env("LITELLM_BASE_URL", &platforms.litellm.url)
        .env("LITELLM_MASTER_KEY", crate::contract_litellm::MASTER_KEY)
        .args(["plan"])
        .run();
    assert_ne!(unset.code, 0);
    assert!(unset.stderr.contains("no Admin API key: set ANTHROPIC_ADMIN_KEY"), "{}", unset.stderr);
}

// --- The emergency procedure: request, approve, apply --emergency, revert at expiry --------

impl Platforms {
    /// The example's baseline applied at `time`, and the demo private keys of the quickstart
    /// (whose public halves the example's keys/ holds) next to it, so people can sign.
    /// Started, with the baseline applied at `time`. The requests and approvals use the
    /// example's own demo keys (`examples/ai-platform/keys`).
    pub fn ready(time: &str) -> Self {
        let platforms = Self::start();
        platforms.at(time).args(["apply", "--auto-approve"]).run().expect_code(0);
        platforms
    }

    /// `person` asks for `name` for `duration`; the request is written to `out`.
    pub fn request(&self, time: &str, name: &str, person: &str, duration: &str, out: &str) {
        self.at(time)
            .args(["request", name, "--duration", duration])
            .args(["--justification", "INC-4720: the chatbot gives harmful answers"])
            .args(["--as", person, "--key", &format!("keys/{person}.key"), "--out", out])
            .run()
            .expect_code(0);
    }

    /// `person` approves the request in `file`; the approval token.
    pub fn approve(&self, time: &str, file: &str, person: &str) -> String {
        let outcome = self
            .at(time)
            .args([
                "approve",
                file,
                "--as",
                person,
                "--key",
                &format!("keys/{person}.key"),
                "--yes",
            ])
            .run()
            .expect_code(0);
        outcome.stdout.trim().to_owned()
    }

    /// The id of the one emergency activation in state.
    pub fn emergency_activation(&self) -> String {
        let state = self.state();
        state["activations"]
            .as_object()
            .expect("activations")
            .keys()
            .find(|id| id.starts_with("act_"))
            .expect("an emergency activation")
            .clone()
    }
}

#[test]
fn the_examples_readme_incident_runs_as_written_with_the_examples_own_keys() {
    let platforms = Platforms::ready("2026-11-28T12:00:00Z");
    let readme = read(crate::util::root().join("examples/ai-platform/README.md"));
    let incident = readme.split("An incident, from this folder").nth(1).expect("an incident");
    let script = incident.split("```sh\n").nth(1).and_then(|s| s.split("```").next()).unwrap();
    let binary = std::path::Path::new(env!("CARGO_BIN_EXE_breakglass"));
    let output = std::process::Command::new("bash")
        .args(["-euo", "pipefail", "-c", script])
        .current_dir(platforms.dir.path())
        .env(
            "PATH",
            format!("{}:{}", binary.parent().unwrap().display(), std::env::var("PATH").unwrap()),
        )
        .env("BREAKGLASS_TEST_NOW", "2026-11-28T12:00:00Z")
        .env("ANTHROPIC_BASE_URL", &platforms.anthropic.url)
        .env("ANTHROPIC_ADMIN_KEY", ADMIN_KEY)
        .env("LITELLM_BASE_URL", &platforms.litellm.url)
        .env("LITELLM_MASTER_KEY", crate::contract_litellm::MASTER_KEY)
        .env_remove("BREAKGLASS_AS")
        .env_remove("BREAKGLASS_KEY")
        .output()
        .expect("bash runs");
    assert!(
        output.status.success(),
        "{script}\n{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(
        platforms.anthropic.api_key_status("apikey_01ChatbotProd").as_deref(),
        Some("inactive")
    );
}

#[test]
fn the_kill_switch_is_requested_approved_applied_and_reverted_at_expiry_to_the_exact_state() {
    let t0 = "2026-11-28T12:00:00Z";
    let platforms = Platforms::ready(t0);
    let key = |p: &Platforms| p.anthropic.api_key_status("apikey_01ChatbotProd");
    assert_eq!(key(&platforms).as_deref(), Some("active"));

    platforms.request(t0, "chatbot_kill_switch", "bob", "2h", "req.json");
    // One approval is enough for the kill switch (quorum = 1), even though leads need two.
    let carol = platforms.approve("2026-11-28T12:01:00Z", "req.json", "carol");
    platforms
        .at("2026-11-28T12:02:00Z")
        .args(["apply", "--emergency", "req.json", "--approval", &carol])
        .run()
        .expect_code(0);
    assert_eq!(key(&platforms).as_deref(), Some("inactive"));
    let id = platforms.emergency_activation();
    let record = &platforms.state()["activations"][&id];
    assert_eq!(record["status"], "active");
    assert_eq!(record["priors"]["anthropic_api_key_status.chatbot"]["status"], "active");

    // Still live an hour later: reconcile changes nothing.
    platforms.at("2026-11-28T13:00:00Z").args(["reconcile"]).run().expect_code(0);
    assert_eq!(key(&platforms).as_deref(), Some("inactive"));

    // At expiry, reconcile (what `watch` runs) puts back exactly what was there.
    platforms.at("2026-11-28T14:02:01Z").args(["reconcile"]).run().expect_code(0);
    assert_eq!(key(&platforms).as_deref(), Some("active"));
    let record = &platforms.state()["activations"][&id];
    assert_eq!(record["status"], "reverted", "{record}");
    platforms.at("2026-11-28T14:03:00Z").args(["plan", "--detailed-exitcode"]).run().expect_code(0);
}

#[test]
fn a_revert_reports_a_conflict_instead_of_clobbering_a_role_changed_meanwhile() {
    let t0 = "2026-11-28T12:00:00Z";
    let platforms = Platforms::ready(t0);
    platforms.request(t0, "ml_oncall_elevation", "alice", "1h", "req.json");
    let dave = platforms.approve(t0, "req.json", "dave");
    platforms
        .at(t0)
        .args(["apply", "--emergency", "req.json", "--approval", &dave])
        .run()
        .expect_code(0);
    let alice = |p: &Platforms| p.anthropic.member_role(WORKSPACE, "user_01AliceMartin");
    assert_eq!(alice(&platforms).as_deref(), Some("workspace_admin"));
    let id = platforms.emergency_activation();

    // An admin demotes alice by hand in the Console while the elevation is live.
    platforms.anthropic.set_member(WORKSPACE, "user_01AliceMartin", "workspace_user");
    let end = "2026-11-28T13:00:01Z";
    let plan = platforms.at(end).args(["plan"]).run().expect_code(0);
    assert!(
        plan.stdout.contains("was changed outside breakglass while an override held it"),
        "{}",
        plan.stdout
    );
    platforms.at(end).args(["reconcile"]).run().expect_code(8);
    assert_eq!(alice(&platforms).as_deref(), Some("workspace_user"), "left as the admin set it");
    let record = &platforms.state()["activations"][&id];
    assert_eq!(record["status"], "reverted");
    let flag = record["flags"][0].as_str().expect("a flag");
    assert!(
        flag.contains("conflict: anthropic_workspace_member.ml_oncall.workspace_role was changed to \"workspace_user\""),
        "{flag}"
    );
}
