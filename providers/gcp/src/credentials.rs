//! A service account key file, and the signed JWT it makes for Google's token endpoint.
//!
//! Google's "OAuth 2.0 for Server to Server Applications" flow (RFC 7523's JWT bearer grant):
//! the key file (`gcloud iam service-accounts keys create`) holds the account's email, an RSA
//! private key in PEM form and its id, and the token endpoint. The JWT is signed RS256 with
//! `jsonwebtoken` (its `aws-lc-rs` backend, the same cryptography the TLS stack already uses),
//! with the claims Google documents: `iss` (the account), `scope`, `aud` (the token endpoint),
//! `iat` and `exp` (an hour later, the longest Google accepts), and the key id as `kid`.

use breakglass_provider::{ProviderError, Secret};
use jiff::Timestamp;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::sync::Arc;

/// Google's token endpoint, where a key file names none.
pub const DEFAULT_TOKEN_URI: &str = "https://oauth2.googleapis.com/token";
/// The scope asked for: the one every Cloud Resource Manager IAM method accepts.
pub const SCOPE: &str = "https://www.googleapis.com/auth/cloud-platform";
/// How long an assertion is valid: Google refuses longer ones.
pub const ASSERTION_LIFETIME_SECONDS: i64 = 3600;

/// A service account key, ready to sign. `Debug` shows who it is, never the key.
#[derive(Clone)]
pub struct ServiceAccountKey {
    /// The account (`name@project.iam.gserviceaccount.com`): the JWT's `iss`.
    pub client_email: String,
    /// The key's id, sent as the JWT header's `kid` so Google picks the right public key.
    pub private_key_id: Option<String>,
    /// The token endpoint the key file names.
    pub token_uri: String,
    /// Where the key came from, for messages (a path, or the provider block).
    pub origin: String,
    key: Arc<EncodingKey>,
}

/// The fields of a key file that matter here; the rest are ignored. No `Debug`: it holds the
/// private key.
#[derive(Deserialize)]
struct KeyFile {
    #[serde(rename = "type")]
    kind: Option<String>,
    client_email: Option<String>,
    private_key: Option<String>,
    private_key_id: Option<String>,
    token_uri: Option<String>,
}

/// The claims Google documents for the JWT bearer grant.
#[derive(Debug, Serialize)]
struct Claims<'a> {
    iss: &'a str,
    scope: &'a str,
    aud: &'a str,
    iat: i64,
    exp: i64,
}

impl ServiceAccountKey {
    /// Reads a key file's text; `origin` says where it came from. Errors never quote the file.
    pub fn parse(text: &str, origin: &str) -> Result<Self, ProviderError> {
        let wrong = |why: String| {
            ProviderError::invalid(format!(
                "provider \"gcp\": the credentials from {origin} {why}; expected a service \
                 account key file, as `gcloud iam service-accounts keys create` writes it"
            ))
        };
        let file: KeyFile = serde_json::from_str(text)
            .map_err(|error| wrong(format!("are not a JSON key file (line {})", error.line())))?;
        match file.kind.as_deref() {
            Some("service_account") => {}
            Some(other) => {
                return Err(ProviderError::unsupported(format!(
                    "provider \"gcp\": the credentials from {origin} are of type {other:?}; \
                     breakglass signs in with a service account key (type \"service_account\") \
                     or an access token (GOOGLE_OAUTH_ACCESS_TOKEN, from `gcloud auth \
                     print-access-token`)"
                )));
            }
            None => return Err(wrong("have no `type`".to_owned())),
        }
        let client_email = file
            .client_email
            .filter(|email| email.contains('@'))
            .ok_or_else(|| wrong("have no `client_email`".to_owned()))?;
        let private_key =
            file.private_key.ok_or_else(|| wrong("have no `private_key`".to_owned()))?;
        let key = EncodingKey::from_rsa_pem(private_key.as_bytes()).map_err(|_| {
            wrong("hold a `private_key` that is not an RSA private key in PEM form".to_owned())
        })?;
        Ok(Self {
            client_email,
            private_key_id: file.private_key_id.filter(|id| !id.is_empty()),
            token_uri: file.token_uri.unwrap_or_else(|| DEFAULT_TOKEN_URI.to_owned()),
            origin: origin.to_owned(),
            key: Arc::new(key),
        })
    }

    /// A JWT asserting this account, for `audience` (the token endpoint), issued at `now`.
    pub fn assertion(&self, audience: &str, now: Timestamp) -> Result<Secret, ProviderError> {
        let mut header = Header::new(Algorithm::RS256);
        header.kid = self.private_key_id.clone();
        let iat = now.as_second();
        let claims = Claims {
            iss: &self.client_email,
            scope: SCOPE,
            aud: audience,
            iat,
            exp: iat + ASSERTION_LIFETIME_SECONDS,
        };
        jsonwebtoken::encode(&header, &claims, &self.key).map(Secret::new).map_err(|error| {
            ProviderError::invalid(format!(
                "provider \"gcp\": cannot sign a JWT with the key of {} from {}: {error}",
                self.client_email, self.origin
            ))
        })
    }
}

impl fmt::Debug for ServiceAccountKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServiceAccountKey")
            .field("client_email", &self.client_email)
            .field("private_key_id", &self.private_key_id)
            .field("token_uri", &self.token_uri)
            .field("origin", &self.origin)
            .field("private_key", &"(sensitive)")
            .finish()
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use aws_lc_rs::encoding::AsDer;
    use aws_lc_rs::signature::KeyPair as _;
    use base64::Engine;
    use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
    use breakglass_provider::ErrorKind;
    use serde_json::{Value, json};
    use std::sync::OnceLock;

    /// A word of the PEM header, to check nothing prints the key.
    pub const PRIVATE_KEY_MARKER: &str = "PRIVATE KEY";

    /// A freshly generated key pair (made once per test binary).
    pub fn key_pair() -> &'static aws_lc_rs::rsa::KeyPair {
        static KEY: OnceLock<aws_lc_rs::rsa::KeyPair> = OnceLock::new();
        KEY.get_or_init(|| {
            aws_lc_rs::rsa::KeyPair::generate(aws_lc_rs::rsa::KeySize::Rsa2048).expect("an RSA key")
        })
    }

    /// A key file for the generated key.
    pub fn key_file() -> &'static str {
        static FILE: OnceLock<String> = OnceLock::new();
        FILE.get_or_init(|| {
            let der = key_pair().as_der().expect("PKCS#8");
            let body = STANDARD.encode(der.as_ref());
            let lines: Vec<&str> = body
                .as_bytes()
                .chunks(64)
                .map(|chunk| std::str::from_utf8(chunk).expect("base64 is ASCII"))
                .collect();
            let pem = format!(
                "-----BEGIN {PRIVATE_KEY_MARKER}-----\n{}\n-----END {PRIVATE_KEY_MARKER}-----\n",
                lines.join("\n")
            );
            json!({
                "type": "service_account",
                "project_id": "example-project",
                "private_key_id": "0123456789abcdef",
                "private_key": pem,
                "client_email": "breakglass@example-project.iam.gserviceaccount.com",
                "client_id": "100000000000000000001",
                "token_uri": DEFAULT_TOKEN_URI,
            })
            .to_string()
        })
    }

    fn decode(part: &str) -> Value {
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(part).expect("base64url")).expect("JSON")
    }

    #[test]
    fn the_assertion_is_an_rs256_jwt_with_googles_claims_and_a_valid_signature() {
        let key = ServiceAccountKey::parse(key_file(), "test").unwrap();
        let now: Timestamp = "2026-12-01T10:00:00Z".parse().unwrap();
        let jwt = key.assertion(DEFAULT_TOKEN_URI, now).unwrap();
        let parts: Vec<&str> = jwt.expose().split('.').collect();
        assert_eq!(parts.len(), 3);
        let header = decode(parts[0]);
        assert_eq!(header["alg"], "RS256");
        assert_eq!(header["typ"], "JWT");
        assert_eq!(header["kid"], "0123456789abcdef");
        let claims = decode(parts[1]);
        assert_eq!(claims["iss"], "breakglass@example-project.iam.gserviceaccount.com");
        assert_eq!(claims["scope"], SCOPE);
        assert_eq!(claims["aud"], DEFAULT_TOKEN_URI);
        assert_eq!(claims["iat"], now.as_second());
        assert_eq!(claims["exp"], now.as_second() + 3600);

        let public = aws_lc_rs::signature::UnparsedPublicKey::new(
            &aws_lc_rs::signature::RSA_PKCS1_2048_8192_SHA256,
            key_pair().public_key().as_ref(),
        );
        let signature = URL_SAFE_NO_PAD.decode(parts[2]).unwrap();
        let signed = format!("{}.{}", parts[0], parts[1]);
        public.verify(signed.as_bytes(), &signature).expect("the signature verifies");
        // A changed claim does not.
        let forged = format!("{}.{}x", parts[0], parts[1]);
        assert!(public.verify(forged.as_bytes(), &signature).is_err());
    }

    #[test]
    fn bad_key_files_are_refused_without_quoting_them() {
        let mut file: Value = serde_json::from_str(key_file()).unwrap();
        let cases = [
            ("type", json!("authorized_user"), ErrorKind::Unsupported, "\"authorized_user\""),
            ("client_email", Value::Null, ErrorKind::Invalid, "no `client_email`"),
            ("private_key", json!("not a key"), ErrorKind::Invalid, "not an RSA private key"),
        ];
        for (field, value, kind, expected) in cases {
            let mut changed = file.clone();
            changed[field] = value;
            let error = ServiceAccountKey::parse(&changed.to_string(), "key.json").unwrap_err();
            assert_eq!(error.kind(), kind, "{field}");
            assert!(error.message().contains(expected), "{field}: {error}");
            assert!(error.message().contains("key.json"), "{error}");
            assert!(!error.message().contains(PRIVATE_KEY_MARKER), "{error}");
        }
        let error = ServiceAccountKey::parse("{\"private_key\": ", "key.json").unwrap_err();
        assert!(error.message().contains("not a JSON key file"), "{error}");
        file["token_uri"] = Value::Null;
        let key = ServiceAccountKey::parse(&file.to_string(), "key.json").unwrap();
        assert_eq!(key.token_uri, DEFAULT_TOKEN_URI);
        assert!(!format!("{key:?}").contains(PRIVATE_KEY_MARKER));
    }
}
