//! The `litellm` provider against the proxy contract server (tests/contract/litellm.rs):
//! retries, refusals and strict decoding at the provider boundary, then emergency keys with a
//! native expiry and team blocking end to end through the CLI on examples/ai-platform.

use breakglass_provider::http::{HttpClient, HttpConfig};
use breakglass_provider::{
    ActivationContext, Attributes, ChangeContext, ConfigureRequest, CreateRequest, ErrorKind,
    IdRequest, Provider, ReadRequest, UpdateRequest,
};
use breakglass_provider_litellm::LiteLlmProvider;
use jiff::Timestamp;
use serde_json::json;

use crate::anthropic::Platforms;
use crate::contract_litellm::{Fault, LiteLlmServer, MASTER_KEY};

async fn provider(server: &LiteLlmServer, master_key: &str) -> LiteLlmProvider {
    let mut provider = LiteLlmProvider::new();
    let config = Attributes::from([
        ("base_url".to_owned(), json!(server.url)),
        ("master_key".to_owned(), json!(master_key)),
    ]);
    provider.configure(ConfigureRequest::new(config, ".")).await.expect("configured");
    provider
}

fn read_key(alias: &str) -> ReadRequest {
    ReadRequest::new("litellm_key", vec![alias.to_owned()])
}

#[tokio::test]
async fn throttling_and_server_errors_are_retried() {
    let server = LiteLlmServer::start();
    server.add_key("chatbot-prod", &["gpt-4o"]);
    let provider = provider(&server, MASTER_KEY).await;
    server.fail_next([Fault::RateLimited(1), Fault::ServerError]);
    let read = provider.read(read_key("chatbot-prod")).await.expect("retried to success");
    assert_eq!(read.objects["chatbot-prod"]["models"], json!(["gpt-4o"]));
    assert_eq!(server.seen().len(), 3);
}

#[tokio::test]
async fn a_refused_master_key_is_a_clear_error_naming_the_variable() {
    let server = LiteLlmServer::start();
    let provider = provider(&server, "sk-not-the-master-key").await;
    let error = provider.read(read_key("chatbot-prod")).await.expect_err("refused");
    assert_eq!(error.kind(), ErrorKind::Denied, "{error}");
    assert!(error.message().starts_with("litellm: GET /key/list answered 401"), "{error}");
    assert!(error.message().contains("LITELLM_MASTER_KEY"), "{error}");
    assert!(!error.message().contains("-key"), "no part of the key is quoted: {error}");
}

#[tokio::test]
async fn unexpected_json_is_an_error_not_a_silent_default() {
    let server = LiteLlmServer::start();
    let provider = provider(&server, MASTER_KEY).await;
    let cases = [
        (
            r#"{"keys": ["8f3c"], "total_count": 1, "current_page": 1, "total_pages": 1}"#,
            "full key objects",
        ),
        (r#"{"total_count": 0}"#, "no `keys`"),
        (r#"{"keys": [{"token": "8f3c", "key_alias": "chatbot-prod"}]}"#, "the answer has no `"),
        (
            r#"{"keys": [{"token": "8f3c", "key_alias": "chatbot-prod", "models": [], "blocked": "no", "expires": null, "max_budget": null, "rpm_limit": null, "tpm_limit": null, "team_id": null}]}"#,
            "`blocked`",
        ),
        ("Internal Server Error", "is not JSON"),
    ];
    for (body, says) in cases {
        server.fail_next([Fault::Garbage(body.to_owned())]);
        let error = provider.read(read_key("chatbot-prod")).await.expect_err(body);
        assert_eq!(error.kind(), ErrorKind::Protocol, "{body}: {error}");
        assert!(error.message().contains(says), "{body}: {error}");
    }
}

#[tokio::test]
async fn an_emergency_key_always_expires_and_creating_it_twice_makes_one_key() {
    let server = LiteLlmServer::start();
    let provider = provider(&server, MASTER_KEY).await;
    let wanted = Attributes::from([
        ("key_alias".to_owned(), json!("breakglass-alice")),
        ("models".to_owned(), json!(["gpt-4o"])),
        ("max_budget".to_owned(), json!(25)),
    ]);
    let id = provider.resource_id(IdRequest::new("litellm_key", &wanted)).expect("id");
    let end = Timestamp::now() + jiff::SignedDuration::from_hours(2);
    let activation = ActivationContext::new("act_1", "alice", Timestamp::now(), end);
    for _ in 0..2 {
        let created = provider
            .create(CreateRequest::new(
                "litellm_key",
                &id,
                wanted.clone(),
                ChangeContext::grant(activation.clone()),
            ))
            .await
            .expect("created, then found");
        let expires: Timestamp =
            created.attributes["expires_at"].as_str().unwrap().parse().unwrap();
        assert!(
            (expires.as_second() - end.as_second()).abs() <= 5,
            "{expires} is the activation's end {end}"
        );
        assert!(provider.attribute_equal(
            "litellm_key",
            "max_budget",
            &json!(25),
            &created.attributes["max_budget"]
        ));
    }
    let generated = server.seen().iter().filter(|s| *s == "POST /key/generate").count();
    assert_eq!(generated, 2, "the retry found the alias taken and converged");
    let key = server.key("breakglass-alice").expect("one key");
    assert_eq!(key["metadata"]["breakglass_activation"], "act_1");

    // Blocking goes through /key/block, unblocking through /key/unblock.
    let before =
        provider.read(read_key("breakglass-alice")).await.unwrap().objects["breakglass-alice"]
            .clone();
    let mut blocked = wanted.clone();
    blocked.insert("blocked".into(), json!(true));
    let after = provider
        .update(UpdateRequest::new("litellm_key", &id, before, blocked, ChangeContext::baseline()))
        .await
        .expect("blocked");
    assert_eq!(after.attributes["blocked"], json!(true));
    assert!(server.seen().contains(&"POST /key/block".to_owned()));
}

#[tokio::test]
async fn the_contract_server_holds_requests_and_answers_to_the_vendor_spec() {
    let server = LiteLlmServer::start();
    let http = HttpClient::new("test", HttpConfig::default()).expect("client");
    let send = |method: &'static str, target: &str, body: &'static str| {
        let url = format!("{}{target}", server.url);
        let http = http.clone();
        async move {
            http.send(|client| {
                let request = if method == "GET" { client.get(&url) } else { client.post(&url) };
                request
                    .bearer_auth(MASTER_KEY)
                    .header("content-type", "application/json")
                    .body(body)
                    .build()
                    .map_err(|error| http.build_error(error))
            })
            .await
            .expect("answered")
        }
    };
    let wrong_type = send("POST", "/key/block", r#"{"key": 5}"#).await;
    assert_eq!(wrong_type.status.as_u16(), 422);
    let too_large = send("GET", "/key/list?size=1000", "").await;
    assert_eq!(too_large.status.as_u16(), 422);
    let undeclared = send("GET", "/key/list?alias=x", "").await;
    assert_eq!(undeclared.status.as_u16(), 422);
    let violations = server.take_violations();
    assert_eq!(violations.len(), 3, "{violations:?}");
    assert!(violations[0].starts_with("POST /key/block body: 5 is not of type"), "{violations:?}");
    assert!(
        violations[1].contains("?size: 1000 is greater than the maximum of 100"),
        "{violations:?}"
    );
    assert!(violations[2].contains("`alias` is not in the spec"), "{violations:?}");
    // And answers: a generated key must carry the key itself.
    let answer = crate::contract_litellm::response_violations(
        "POST",
        "/key/generate",
        br#"{"token": "8f3c"}"#,
    );
    assert!(answer.iter().any(|v| v.contains("\"key\" is a required property")), "{answer:?}");
}

// --- End to end through the CLI on examples/ai-platform -----------------------------------

#[test]
fn a_role_grant_makes_a_key_that_expires_by_itself_and_its_revert_deletes_it() {
    let platforms = Platforms::start();
    platforms.write(
        "incident.hcl",
        r#"
grant "inc_4714" {
  role          = role.incident_model_access
  to            = person.bob
  start         = "2031-03-01T09:00:00Z"
  end           = "2031-03-01T13:00:00Z"
  justification = "INC-4714: reproduce the model's bad answers"
}
"#,
    );
    let plan = platforms.at("2031-03-01T09:00:00Z").args(["plan"]).run().expect_code(0);
    assert!(
        plan.stdout.contains("the platform itself ends this access at 2031-03-01T13:00:00Z"),
        "{}",
        plan.stdout
    );
    platforms.at("2031-03-01T09:00:00Z").args(["apply", "--auto-approve"]).run().expect_code(0);
    let key = platforms.litellm.key("breakglass-bob").expect("the emergency key");
    assert!(key["expires"].as_str().unwrap().starts_with("2031-03-01T13:00:0"), "{key}");
    assert_eq!(key["models"], json!(["claude-sonnet-4-5", "gpt-4o"]));
    assert_eq!(key["max_budget"], json!(25.0));
    assert_eq!(key["rpm_limit"], json!(60));
    let state = crate::util::state_text(platforms.dir.path());
    assert!(!state.contains("\"sk-0"), "the secret key never reaches state");
    platforms.at("2031-03-01T09:05:00Z").args(["plan", "--detailed-exitcode"]).run().expect_code(0);

    platforms.remove("incident.hcl");
    platforms.at("2031-03-01T13:00:01Z").args(["apply", "--auto-approve"]).run().expect_code(0);
    assert_eq!(platforms.litellm.key("breakglass-bob"), None);
    assert_eq!(platforms.state()["activations"]["grant_inc_4714"]["status"], "reverted");
}

#[test]
fn blocking_the_chatbot_team_is_undone_by_the_revert() {
    let platforms = Platforms::start();
    platforms.write(
        "incident.hcl",
        r#"
grant "inc_4715" {
  override      = override.chatbot_gateway_block
  to            = person.alice
  start         = "2031-03-01T09:00:00Z"
  end           = "2031-03-01T11:00:00Z"
  justification = "INC-4715: the chatbot leaks internal prompts"
}
"#,
    );
    platforms.at("2031-03-01T09:00:00Z").args(["apply", "--auto-approve"]).run().expect_code(0);
    assert_eq!(platforms.litellm.team_blocked("team-chatbot"), Some(true));
    assert!(platforms.litellm.seen().contains(&"POST /team/block".to_owned()));
    platforms.remove("incident.hcl");
    platforms.at("2031-03-01T11:00:01Z").args(["apply", "--auto-approve"]).run().expect_code(0);
    assert_eq!(platforms.litellm.team_blocked("team-chatbot"), Some(false));
    assert_eq!(platforms.state()["activations"]["grant_inc_4715"]["status"], "reverted");
}

#[test]
fn a_chatbot_key_blocked_behind_our_back_is_drift_that_apply_puts_back() {
    let platforms = Platforms::start();
    platforms.at("2026-11-28T12:00:00Z").args(["apply", "--auto-approve"]).run().expect_code(0);
    platforms.litellm.set_key_blocked("chatbot-prod", true);
    platforms.litellm.set_team_blocked("team-chatbot", true);
    let plan = platforms
        .at("2026-11-28T12:00:00Z")
        .args(["plan", "--detailed-exitcode"])
        .run()
        .expect_code(2);
    assert!(plan.stdout.contains("Objects have changed outside of breakglass"), "{}", plan.stdout);
    platforms.at("2026-11-28T12:00:00Z").args(["apply", "--auto-approve"]).run().expect_code(0);
    assert_eq!(platforms.litellm.key("chatbot-prod").unwrap()["blocked"], json!(false));
    assert_eq!(platforms.litellm.team_blocked("team-chatbot"), Some(false));
}
