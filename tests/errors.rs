//! Errors read clearly: each cause printed once. Every provider's authentication failure —
//! anthropic, openai, litellm, azure, gcp and kubernetes against their contract servers, aws
//! against moto with a wrong secret, postgres with a wrong password, vault against OpenBao with
//! a wrong token — and the file errors every command can meet, each
//! checked for an error line that repeats its own text, and the lines a person reads kept in a
//! snapshot.

use breakglass_provider_aws::testing::{Moto, client, iam_call};
use breakglass_provider_postgres::testing::TestCluster;
use std::path::Path;

use crate::util::{Outcome, Run, example_copy};

/// The shortest repetition that counts: shorter ones are words and paths a message may
/// rightly name twice.
const REPEAT: usize = 24;

/// The first stretch of at least [`REPEAT`] characters that appears twice in `line` without
/// overlapping itself, if any.
fn repeated_text(line: &str) -> Option<&str> {
    let starts: Vec<usize> = line.char_indices().map(|(at, _)| at).collect();
    for (i, &start) in starts.iter().enumerate() {
        let Some(&end) = starts.get(i + REPEAT) else { break };
        let piece = &line[start..end];
        if line[end..].contains(piece) {
            return Some(piece);
        }
    }
    None
}

/// Fails when an error line of `outcome` repeats its own text; returns the error lines.
#[track_caller]
fn error_lines(what: &str, outcome: &Outcome) -> Vec<String> {
    assert_ne!(outcome.code, 0, "{what} fails:\n{}\n{}", outcome.stdout, outcome.stderr);
    let lines: Vec<String> = outcome
        .stderr
        .lines()
        .filter(|line| line.starts_with("error"))
        .map(str::to_owned)
        .collect();
    assert!(!lines.is_empty(), "{what}: no error line:\n{}", outcome.stderr);
    for line in &lines {
        if let Some(piece) = repeated_text(line) {
            panic!("{what}: the error repeats its own text ({piece:?}):\n{line}");
        }
    }
    lines
}

#[test]
fn the_repeat_detector_finds_a_cause_printed_twice() {
    let twice = "error: failed to open file `x.key`: No such file or directory (os error 2): \
                 failed to open file `x.key`: No such file or directory (os error 2)";
    assert!(repeated_text(twice).is_some());
    let once = "error: failed to open file `x.key`: No such file or directory (os error 2)";
    assert_eq!(repeated_text(once), None);
}

/// A copy of examples/ai-platform with only `keep` of its platform files.
fn ai_platform_with(keep: &str) -> tempfile::TempDir {
    let dir = example_copy("ai-platform");
    for entry in fs_err::read_dir(dir.path()).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if name.ends_with(".hcl") && name != "main.hcl" && name != keep {
            fs_err::remove_file(&path).unwrap();
        }
    }
    dir
}

fn anthropic_refused() -> Outcome {
    let server = crate::contract_anthropic::AnthropicServer::start();
    server.add_workspace("wrkspc_01MLPlatform", "ml-platform");
    let dir = ai_platform_with("anthropic.hcl");
    // One object, so which read fails first (they run at once) is not left to chance.
    let only_the_workspace = r#"
provider "anthropic" {
  admin_key = env("ANTHROPIC_ADMIN_KEY")
  base_url  = env("ANTHROPIC_BASE_URL")
}

resource "anthropic_workspace" "ml" {
  workspace_id = "wrkspc_01MLPlatform"
  name         = "ML Platform"
}
"#;
    fs_err::write(dir.path().join("anthropic.hcl"), only_the_workspace).unwrap();
    Run::new(dir.path())
        .env("ANTHROPIC_BASE_URL", &server.url)
        .env("ANTHROPIC_ADMIN_KEY", "sk-ant-admin01-not-the-key")
        .args(["plan"])
        .run()
}

fn openai_refused() -> Outcome {
    let server = crate::openai::contract::ContractServer::start(
        crate::openai::contract::Org::new().project("proj_support_bot", "Support bot"),
    );
    let dir = ai_platform_with("openai.hcl");
    Run::new(dir.path())
        .env("OPENAI_BASE_URL", server.base_url())
        .env("OPENAI_ADMIN_KEY", "sk-admin-not-the-key")
        .args(["plan"])
        .run()
}

fn litellm_refused() -> Outcome {
    let server = crate::contract_litellm::LiteLlmServer::start();
    server.add_team("team-chatbot", "chatbot");
    let dir = ai_platform_with("litellm.hcl");
    // One object, so which read fails first (they run at once) is not left to chance.
    let only_the_team = r#"
provider "litellm" {
  base_url   = env("LITELLM_BASE_URL")
  master_key = env("LITELLM_MASTER_KEY")
}

resource "litellm_team" "chatbot" {
  team_id = "team-chatbot"
  blocked = false
}
"#;
    fs_err::write(dir.path().join("litellm.hcl"), only_the_team).unwrap();
    Run::new(dir.path())
        .env("LITELLM_BASE_URL", &server.url)
        .env("LITELLM_MASTER_KEY", "sk-not-the-master-key")
        .args(["plan"])
        .run()
}

fn aws_refused() -> Outcome {
    // Three unauthenticated calls make a user with a key; moto checks signatures after that.
    let moto = Moto::start_with(&[("INITIAL_NO_AUTH_ACTION_COUNT", "3")]);
    let iam = client(&moto.url);
    let runtime = tokio::runtime::Runtime::new().unwrap();
    #[derive(serde::Deserialize, Default)]
    #[serde(rename_all = "PascalCase")]
    struct Created {
        access_key: Key,
    }
    #[derive(serde::Deserialize, Default)]
    #[serde(rename_all = "PascalCase")]
    struct Key {
        access_key_id: String,
    }
    let created: Created = runtime.block_on(async {
        iam_call(&iam, "CreateUser", &[("UserName", "executor")]).await;
        iam.query(
            breakglass_provider_aws::client::Service::Iam,
            "CreateAccessKey",
            &[("UserName", "executor".to_owned())],
        )
        .await
        .unwrap()
    });
    let key_id = created.access_key.access_key_id;
    // One object, so which read fails first (they run at once) is not left to chance.
    let dir = tempfile::tempdir().unwrap();
    let policy = r#"
provider "aws" {
  region = "us-east-1"
}

resource "aws_iam_policy" "guardrails" {
  name   = "breakglass-guardrails"
  path   = "/breakglass/"
  policy = jsonencode({ Version = "2012-10-17", Statement = [] })
}
"#;
    fs_err::write(dir.path().join("main.hcl"), policy).unwrap();
    Run::new(dir.path())
        .env("AWS_ENDPOINT_URL", &moto.url)
        .env("AWS_ACCESS_KEY_ID", key_id)
        .env("AWS_SECRET_ACCESS_KEY", "wrong-secret-0123456789")
        .env("AWS_REGION", "us-east-1")
        .env("AWS_PROFILE", "")
        .env("AWS_SHARED_CREDENTIALS_FILE", dir.path().join("no-credentials"))
        .env("AWS_CONFIG_FILE", dir.path().join("no-config"))
        .args(["plan"])
        .run()
}

fn azure_refused() -> Outcome {
    use crate::azure::contract::{CLIENT_ID, ContractServer, TENANT_ID, Tenant};
    let server = ContractServer::start(Tenant::new("2026-12-01T09:00:00Z".parse().unwrap()));
    // One object, so which read fails first (they run at once) is not left to chance.
    let dir = tempfile::tempdir().unwrap();
    let policy = r#"
provider "azure" {}

resource "azure_role_assignment" "oncall_reader" {
  scope              = "/subscriptions/5f0c1e2d-8b7a-4c3e-9d2f-1a2b3c4d5e6f"
  role_definition_id = "/subscriptions/5f0c1e2d-8b7a-4c3e-9d2f-1a2b3c4d5e6f/providers/Microsoft.Authorization/roleDefinitions/acdd72a7-3385-48ef-bd42-f606fba81ae7"
  principal_id       = "c4a8e2f6-1b3d-4e5f-8a9b-0c1d2e3f4a5b"
  principal_type     = "Group"
}
"#;
    fs_err::write(dir.path().join("main.hcl"), policy).unwrap();
    Run::new(dir.path())
        .env("BREAKGLASS_TEST_NOW", "2026-12-01T09:00:00Z")
        .env("AZURE_TENANT_ID", TENANT_ID)
        .env("AZURE_CLIENT_ID", CLIENT_ID)
        .env("AZURE_CLIENT_SECRET", "not~the~right~one~5678")
        .env("AZURE_AUTHORITY_HOST", server.url())
        .env("AZURE_RESOURCE_MANAGER_ENDPOINT", server.url())
        .args(["plan"])
        .run()
}

fn gcp_refused() -> Outcome {
    use crate::gcp::contract::ContractServer;
    let server = ContractServer::start(crate::gcp::example_cloud());
    let dir = tempfile::tempdir().unwrap();
    let policy = r#"
provider "gcp" {}

resource "gcp_project_iam_member" "platform_owners" {
  project = "payments-prod"
  role    = "roles/owner"
  member  = "group:platform-admins@example.com"
}
"#;
    fs_err::write(dir.path().join("main.hcl"), policy).unwrap();
    // A key Google does not know: the token endpoint refuses it.
    let key = dir.path().join("executor-key.json");
    let stranger = crate::gcp::new_key();
    fs_err::write(&key, crate::gcp::key_file(&stranger, &server.token_uri())).unwrap();
    Run::new(dir.path())
        .env("GOOGLE_APPLICATION_CREDENTIALS", &key)
        .env("GOOGLE_OAUTH_ACCESS_TOKEN", "")
        .env("CLOUDSDK_API_ENDPOINT_OVERRIDES_CLOUDRESOURCEMANAGER", server.endpoint())
        .args(["plan"])
        .run()
}

fn kubernetes_refused() -> Outcome {
    use crate::kubernetes::contract::{Cluster, ContractServer};
    let server = ContractServer::start(Cluster::new());
    let dir = tempfile::tempdir().unwrap();
    let policy = r#"
provider "kubernetes" {}

resource "kubernetes_cluster_role" "debug" {
  name = "breakglass-debug"
  rules = [
    {
      api_groups = [""]
      resources  = ["pods"]
      verbs      = ["get"]
    },
  ]
}
"#;
    fs_err::write(dir.path().join("main.hcl"), policy).unwrap();
    let kubeconfig = server.kubeconfig(dir.path(), "not-the-right-token-5678");
    Run::new(dir.path()).env("KUBECONFIG", kubeconfig).args(["plan"]).run()
}

fn vault_refused() -> Outcome {
    let bao = breakglass_provider_vault::testing::Bao::start();
    let dir = tempfile::tempdir().unwrap();
    let policy = r#"
provider "vault" {}

resource "vault_policy" "responder" {
  name   = "breakglass-responder"
  policy = "path \"secret/data/*\" { capabilities = [\"read\"] }"
}
"#;
    fs_err::write(dir.path().join("main.hcl"), policy).unwrap();
    Run::new(dir.path())
        .env("VAULT_ADDR", &bao.url)
        .env("VAULT_TOKEN", "s.wrong-token-0123456789")
        .env("BAO_ADDR", "")
        .env("BAO_TOKEN", "")
        .env("VAULT_NAMESPACE", "")
        .env("VAULT_CACERT", "")
        .args(["plan"])
        .run()
}

fn postgres_refused() -> Outcome {
    let cluster = TestCluster::start();
    let dir = example_copy("postgres");
    let mut run = Run::new(dir.path());
    for (key, value) in cluster.env("postgres") {
        run = run.env(key, value);
    }
    run.env("PGPASSWORD", "definitely-wrong-pw").args(["plan"]).run()
}

/// Errors from files: a missing key, plan, request or policy folder.
fn file_errors(dir: &Path) -> Vec<(&'static str, Outcome)> {
    let run = |args: &[&str]| Run::new(dir).args(args).run();
    vec![
        ("plan --sign-key missing", run(&["plan", "--out", "p.json", "--sign-key", "no.key"])),
        ("apply missing plan", run(&["apply", "no-plan.json"])),
        ("show missing plan", run(&["show", "no-plan.json"])),
        (
            "approve missing request",
            run(&["approve", "no.json", "--as", "carol", "--key", "keys/carol.key", "--yes"]),
        ),
        (
            "approve missing key",
            run(&["approve", "no.json", "--as", "carol", "--key", "no.key", "--yes"]),
        ),
        (
            "request missing key",
            run(&[
                "request",
                "read_logs",
                "--duration",
                "1h",
                "--justification",
                "x",
                "--as",
                "alice",
                "--key",
                "no.key",
                "--out",
                "r.json",
            ]),
        ),
        ("fmt missing file", run(&["fmt", "no.hcl"])),
        ("-C missing folder", run(&["-C", "no-such-folder", "plan"])),
    ]
}

#[test]
fn every_providers_authentication_failure_prints_each_cause_once() {
    let mut shown = String::new();
    type Refused = fn() -> Outcome;
    let cases: [(&str, Refused); 9] = [
        ("anthropic", anthropic_refused),
        ("openai", openai_refused),
        ("litellm", litellm_refused),
        ("aws", aws_refused),
        ("postgres", postgres_refused),
        ("azure", azure_refused),
        ("gcp", gcp_refused),
        ("kubernetes", kubernetes_refused),
        ("vault", vault_refused),
    ];
    for (provider, refused) in cases {
        let outcome = refused();
        for line in error_lines(provider, &outcome) {
            shown.push_str(&format!("{provider}: {line}\n"));
        }
    }
    let ports = regex_free_ports(&shown);
    snapshot!("errors_provider_authentication", ports);
}

#[test]
fn file_errors_print_each_cause_once() {
    let dir = example_copy("quickstart");
    let mut shown = String::new();
    for (what, outcome) in file_errors(dir.path()) {
        for line in error_lines(what, &outcome) {
            shown.push_str(&format!("{what}: {line}\n"));
        }
    }
    snapshot!("errors_files", shown);
}

/// `text` with every `127.0.0.1:PORT` written `127.0.0.1:[PORT]`.
fn regex_free_ports(text: &str) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(at) = rest.find("127.0.0.1:") {
        out.push_str(&rest[..at + "127.0.0.1:".len()]);
        rest = &rest[at + "127.0.0.1:".len()..];
        let digits = rest.chars().take_while(char::is_ascii_digit).count();
        if digits > 0 {
            out.push_str("[PORT]");
        }
        rest = &rest[digits..];
    }
    out.push_str(rest);
    out
}
