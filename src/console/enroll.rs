//! `breakglass passkey enroll PERSON`: serves one enrolment page at the console's address; the
//! browser's authenticator makes a credential, and its id, COSE public key and algorithm come
//! back as a `passkey` block to put in the person's block — reviewed in git like any change of
//! who may approve.
//!
//! The registration response is checked as a relying party checks it (W3C WebAuthn Level 3,
//! §7.1): client data type, challenge and origin; the relying-party id hash; the user-present,
//! user-verified and attested-credential-data flags. Attestation is not asked for (`none`): the
//! trust in the key comes from the review of the policy change, not from a vendor certificate.

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use coset::{AsCborValue, CborSerializable, CoseKey, iana};
use serde::Deserialize;
use sha2::{Digest, Sha256};
use std::sync::{Arc, Mutex};
use tokio::sync::mpsc;

use super::pages;
use super::session::random_id;
use crate::policy::blocks::{PasskeyAlgorithm, PasskeyKey};
use crate::sign::RelyingParty;

/// A credential made at enrolment, as the policy holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Enrolled {
    /// The credential id, base64url.
    pub credential_id: String,
    /// The COSE_Key, base64url.
    pub public_key: String,
    /// The algorithm.
    pub algorithm: PasskeyAlgorithm,
}

impl Enrolled {
    /// The `passkey "NAME" { … }` block to put in the person's block.
    pub fn hcl(&self, name: &str) -> String {
        format!(
            "passkey \"{name}\" {{\n  credential_id = \"{}\"\n  public_key    = \"{}\"\n  algorithm     = \"{}\"\n}}\n",
            self.credential_id,
            self.public_key,
            self.algorithm.as_str()
        )
    }
}

/// Why a registration was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("the new passkey is refused: {0}")]
pub struct EnrollError(pub String);

fn refuse(message: impl Into<String>) -> EnrollError {
    EnrollError(message.into())
}

/// Checks a registration response and returns the credential.
pub fn verify_registration(
    client_data_json: &[u8],
    attestation_object: &[u8],
    expected_challenge: &[u8],
    rp: &RelyingParty,
) -> Result<Enrolled, EnrollError> {
    #[derive(Deserialize)]
    struct ClientData {
        #[serde(rename = "type")]
        kind: String,
        challenge: String,
        origin: String,
    }
    let data: ClientData = serde_json::from_slice(client_data_json)
        .map_err(|e| refuse(format!("the client data is not valid: {e}")))?;
    if data.kind != "webauthn.create" {
        return Err(refuse(format!(
            "the client data is of type {:?}, not webauthn.create",
            data.kind
        )));
    }
    if URL_SAFE_NO_PAD.decode(&data.challenge).unwrap_or_default() != expected_challenge {
        return Err(refuse("it answers another challenge"));
    }
    if data.origin != rp.origin {
        return Err(refuse(format!(
            "it was made on {}, not the console's {}",
            data.origin, rp.origin
        )));
    }
    let object: coset::cbor::Value = coset::cbor::de::from_reader(attestation_object)
        .map_err(|e| refuse(format!("the attestation object is not CBOR: {e}")))?;
    let auth_data = object
        .as_map()
        .and_then(|map| {
            map.iter()
                .find(|(k, _)| k.as_text() == Some("authData"))
                .and_then(|(_, v)| v.as_bytes())
        })
        .ok_or_else(|| refuse("the attestation object has no authData"))?;
    if auth_data.len() < 55 {
        return Err(refuse("the authenticator data is too short to hold a credential"));
    }
    let rp_hash: [u8; 32] = Sha256::digest(rp.rp_id.as_bytes()).into();
    if auth_data[..32] != rp_hash {
        return Err(refuse(format!("it is for another relying party than {}", rp.rp_id)));
    }
    let flags = auth_data[32];
    if flags & 0x01 == 0 || flags & 0x04 == 0 {
        return Err(refuse(
            "the authenticator did not verify the user (UP and UV flags are required)",
        ));
    }
    if flags & 0x40 == 0 {
        return Err(refuse("the authenticator data carries no credential (AT flag)"));
    }
    let length = usize::from(u16::from_be_bytes([auth_data[53], auth_data[54]]));
    let id_end = 55 + length;
    let credential_id =
        auth_data.get(55..id_end).ok_or_else(|| refuse("the credential id is cut short"))?;
    let mut rest = &auth_data[id_end..];
    let key_value: coset::cbor::Value = coset::cbor::de::from_reader(&mut rest)
        .map_err(|e| refuse(format!("the credential's public key is not CBOR: {e}")))?;
    let key = CoseKey::from_cbor_value(key_value)
        .map_err(|e| refuse(format!("the credential's public key is not a COSE_Key: {e}")))?;
    let algorithm = match &key.alg {
        Some(coset::Algorithm::Assigned(iana::Algorithm::ES256)) => PasskeyAlgorithm::Es256,
        Some(coset::Algorithm::Assigned(iana::Algorithm::EdDSA)) => PasskeyAlgorithm::EdDsa,
        other => {
            return Err(refuse(format!("the key's algorithm {other:?} is not ES256 or EdDSA")));
        }
    };
    let bytes = key.to_vec().map_err(|e| refuse(format!("the key cannot be encoded: {e}")))?;
    PasskeyKey::from_cose(&bytes, algorithm).map_err(refuse)?;
    Ok(Enrolled {
        credential_id: URL_SAFE_NO_PAD.encode(credential_id),
        public_key: URL_SAFE_NO_PAD.encode(&bytes),
        algorithm,
    })
}

struct Enrolment {
    person: String,
    display: String,
    rp: RelyingParty,
    challenge: Vec<u8>,
    ceremony: String,
    done: Mutex<Option<mpsc::Sender<Enrolled>>>,
}

/// The enrolment server for `person`: returns the router and a receiver for the credential.
pub fn enrolment(
    person: &str,
    display: &str,
    rp: RelyingParty,
) -> (Router, mpsc::Receiver<Enrolled>) {
    let (sender, receiver) = mpsc::channel(1);
    let mut challenge = vec![0u8; 32];
    challenge.copy_from_slice(&hex::decode(random_id()).unwrap_or_else(|_| vec![0; 32])[..32]);
    let state = Arc::new(Enrolment {
        person: person.to_owned(),
        display: display.to_owned(),
        rp,
        challenge,
        ceremony: random_id(),
        done: Mutex::new(Some(sender)),
    });
    let router = Router::new()
        .route("/", get(page))
        .route("/enroll/finish", post(finish))
        .route(
            "/static/console.js",
            get(|| async {
                (
                    [(axum::http::header::CONTENT_TYPE, "text/javascript; charset=utf-8")],
                    include_str!("static/console.js"),
                )
            }),
        )
        .route(
            "/static/console.css",
            get(|| async {
                (
                    [(axum::http::header::CONTENT_TYPE, "text/css; charset=utf-8")],
                    include_str!("static/console.css"),
                )
            }),
        )
        .layer(axum::middleware::map_response(|mut response: Response| async move {
            response.headers_mut().insert(
                axum::http::header::CONTENT_SECURITY_POLICY,
                axum::http::HeaderValue::from_static(super::server::CSP),
            );
            response
        }))
        .with_state(state);
    (router, receiver)
}

async fn page(State(state): State<Arc<Enrolment>>) -> Html<String> {
    let user_id: [u8; 32] = Sha256::digest(state.person.as_bytes()).into();
    let options = serde_json::json!({
        "ceremony": state.ceremony,
        "challenge": URL_SAFE_NO_PAD.encode(&state.challenge),
        "rp": { "id": state.rp.rp_id, "name": "breakglass" },
        "user": { "id": URL_SAFE_NO_PAD.encode(&user_id[..16]), "name": state.person, "displayName": state.display },
    });
    Html(pages::enroll(&state.person, &state.display, &options.to_string()).into_string())
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Registration {
    ceremony: String,
    #[serde(rename = "clientDataJSON")]
    client_data_json: String,
    attestation_object: String,
}

async fn finish(
    State(state): State<Arc<Enrolment>>,
    headers: HeaderMap,
    axum::Json(body): axum::Json<Registration>,
) -> Response {
    let origin = headers.get(axum::http::header::ORIGIN).and_then(|v| v.to_str().ok());
    if origin != Some(state.rp.origin.as_str()) || body.ceremony != state.ceremony {
        return (
            StatusCode::FORBIDDEN,
            axum::Json(serde_json::json!({ "error": "not from this enrolment page" })),
        )
            .into_response();
    }
    let decoded = (
        URL_SAFE_NO_PAD.decode(&body.client_data_json),
        URL_SAFE_NO_PAD.decode(&body.attestation_object),
    );
    let (Ok(client_data), Ok(attestation)) = decoded else {
        return (
            StatusCode::BAD_REQUEST,
            axum::Json(serde_json::json!({ "error": "fields must be base64url" })),
        )
            .into_response();
    };
    match verify_registration(&client_data, &attestation, &state.challenge, &state.rp) {
        Ok(enrolled) => {
            let sender =
                state.done.lock().unwrap_or_else(std::sync::PoisonError::into_inner).take();
            if let Some(sender) = sender {
                let _ = sender.send(enrolled).await;
            }
            axum::Json(serde_json::json!({ "enrolled": state.person })).into_response()
        }
        Err(error) => {
            (StatusCode::BAD_REQUEST, axum::Json(serde_json::json!({ "error": error.to_string() })))
                .into_response()
        }
    }
}
