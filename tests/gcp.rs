//! The `gcp` provider against a contract server that follows Google's discovery document for
//! Cloud Resource Manager v3 and Google's OAuth token endpoint, every exchange checked against
//! that document: the provider's calls directly (`provider`: conflicts, throttling, tokens,
//! eventual consistency), and `examples/gcp` end to end through the CLI (`cli`).

mod cli;
pub(crate) mod contract;
mod discovery;
mod provider;

use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::signature::KeyPair as _;
use base64::Engine;
use serde_json::json;
use std::sync::OnceLock;

use contract::{Binding, Cloud, EXECUTOR};

/// The project, folder and organization of the example.
pub const PROJECT: &str = "projects/payments-prod";
pub const FOLDER: &str = "folders/1234567890";
pub const ORGANIZATION: &str = "organizations/123456789012";
/// The id of the executor's key.
pub const KEY_ID: &str = "3f2a9c0e5b7d41a8b6c2e9f0a1b2c3d4e5f60718";

/// An RSA key made once per test binary: the executor's service account key.
pub fn key_pair() -> &'static aws_lc_rs::rsa::KeyPair {
    static KEY: OnceLock<aws_lc_rs::rsa::KeyPair> = OnceLock::new();
    KEY.get_or_init(new_key)
}

/// A fresh RSA key (for a test that needs a key Google does not know).
pub fn new_key() -> aws_lc_rs::rsa::KeyPair {
    aws_lc_rs::rsa::KeyPair::generate(aws_lc_rs::rsa::KeySize::Rsa2048).expect("an RSA key")
}

/// The public half of `key`, as the token endpoint verifies with it (PKCS#1 DER).
pub fn public_key(key: &aws_lc_rs::rsa::KeyPair) -> Vec<u8> {
    key.public_key().as_ref().to_vec()
}

/// A service account key file for `key`, as `gcloud iam service-accounts keys create` writes
/// one, whose `token_uri` is `token_uri`.
pub fn key_file(key: &aws_lc_rs::rsa::KeyPair, token_uri: &str) -> String {
    let der = key.as_der().expect("PKCS#8");
    let body = base64::engine::general_purpose::STANDARD.encode(der.as_ref());
    let lines: Vec<String> =
        body.as_bytes().chunks(64).map(|c| String::from_utf8_lossy(c).into_owned()).collect();
    let pem =
        format!("-----BEGIN PRIVATE KEY-----\n{}\n-----END PRIVATE KEY-----\n", lines.join("\n"));
    serde_json::to_string_pretty(&json!({
        "type": "service_account",
        "project_id": "ops-admin",
        "private_key_id": KEY_ID,
        "private_key": pem,
        "client_email": EXECUTOR,
        "client_id": "104729402018572291032",
        "auth_uri": "https://accounts.google.com/o/oauth2/auth",
        "token_uri": token_uri,
        "auth_provider_x509_cert_url": "https://www.googleapis.com/oauth2/v1/certs",
        "universe_domain": "googleapis.com",
    }))
    .expect("JSON")
}

/// The example's cloud: the project (with its owners, the executor as IAM admin, and a member
/// nobody declared), the folder and the organization, each letting the executor manage IAM;
/// the executor's key registered.
pub fn example_cloud() -> Cloud {
    let executor = format!("serviceAccount:{EXECUTOR}");
    Cloud::new()
        .resource(
            PROJECT,
            vec![
                Binding::new("roles/owner", &["group:platform-admins@example.com"]),
                Binding::new("roles/resourcemanager.projectIamAdmin", &[&executor]),
                Binding::new("roles/cloudsql.client", &["serviceAccount:payments-api@payments-prod.iam.gserviceaccount.com"]),
            ],
        )
        .audit_configs(
            PROJECT,
            json!([{"service": "allServices", "auditLogConfigs": [{"logType": "ADMIN_READ"}, {"logType": "DATA_WRITE"}]}]),
        )
        .resource(FOLDER, vec![Binding::new("roles/resourcemanager.folderIamAdmin", &[&executor])])
        .resource(ORGANIZATION, vec![Binding::new("roles/resourcemanager.organizationAdmin", &[&executor])])
        .account(EXECUTOR, KEY_ID, &public_key(key_pair()))
}
