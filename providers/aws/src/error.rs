//! AWS error answers, read from both protocols and turned into provider errors with a kind.
//!
//! The Query protocol (IAM, STS) answers `<ErrorResponse><Error><Code>…</Code><Message>…`; the
//! JSON protocol (sso-admin, identitystore) answers `{"__type": "…#Code", "message": …}` and
//! an `x-amzn-ErrorType` header. Both become an [`AwsError`] (the code and message), then a
//! [`ProviderError`] whose kind the engine acts on. AWS throttles with a 400, not a 429, so
//! [`AwsRetryClassifier`] tells the shared HTTP client which 400s to retry.

use breakglass_provider::http::{HttpResponse, RetryClassifier};
use breakglass_provider::{ErrorKind, ProviderError};
use quick_xml::Reader;
use quick_xml::events::Event;

use crate::credentials::CredentialSource;

/// An error code and message from AWS.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AwsError {
    /// `NoSuchEntity`, `ThrottlingException`…
    pub code: String,
    /// AWS's message.
    pub message: String,
}

/// Codes AWS uses to ask for a slower pace.
const THROTTLING: &[&str] = &[
    "Throttling",
    "ThrottlingException",
    "ThrottledException",
    "RequestThrottled",
    "RequestThrottledException",
    "TooManyRequestsException",
    "RequestLimitExceeded",
    "SlowDown",
    "PriorRequestNotComplete",
];

/// Codes that mean the credentials are wrong, expired or not allowed.
const DENIED: &[&str] = &[
    "AccessDenied",
    "AccessDeniedException",
    "UnauthorizedOperation",
    "UnrecognizedClientException",
    "InvalidClientTokenId",
    "SignatureDoesNotMatch",
    "IncompleteSignature",
    "MissingAuthenticationToken",
    "ExpiredToken",
    "ExpiredTokenException",
    "AuthFailure",
    "InvalidAccessKeyId",
];

/// Codes that mean the object is not there.
const NOT_FOUND: &[&str] = &["NoSuchEntity", "NoSuchEntityException", "ResourceNotFoundException"];

/// Codes of a passing failure on AWS's side.
const TRANSIENT: &[&str] = &[
    "ServiceUnavailable",
    "ServiceUnavailableException",
    "InternalFailure",
    "InternalError",
    "InternalServerException",
    "ServiceFailure",
];

impl AwsError {
    /// Reads the code and message of an error answer in either protocol, or `None` when the
    /// body holds neither (an HTML page from a proxy, say).
    pub fn parse(response: &HttpResponse) -> Option<Self> {
        let text = response.text();
        let trimmed = text.trim_start();
        if trimmed.starts_with('<') {
            return parse_xml(trimmed);
        }
        let header = response
            .headers
            .get("x-amzn-errortype")
            .and_then(|v| v.to_str().ok())
            .map(|v| v.split(':').next().unwrap_or(v).to_owned());
        let json: Option<serde_json::Value> = serde_json::from_str(trimmed).ok();
        let code = header.filter(|h| !h.is_empty()).or_else(|| {
            let json = json.as_ref()?;
            let raw = json.get("__type").or_else(|| json.get("code"))?.as_str()?;
            Some(raw.rsplit('#').next().unwrap_or(raw).split(':').next().unwrap_or(raw).to_owned())
        })?;
        let message = json
            .as_ref()
            .and_then(|j| j.get("message").or_else(|| j.get("Message")))
            .and_then(|m| m.as_str())
            .unwrap_or_default()
            .to_owned();
        Some(Self { code, message })
    }

    /// The kind of failure this code stands for.
    pub fn kind(&self) -> ErrorKind {
        let code = self.code.as_str();
        if THROTTLING.contains(&code) {
            ErrorKind::Throttled
        } else if DENIED.contains(&code) {
            ErrorKind::Denied
        } else if NOT_FOUND.contains(&code) {
            ErrorKind::NotFound
        } else if TRANSIENT.contains(&code) {
            ErrorKind::Transient
        } else {
            ErrorKind::Invalid
        }
    }

    /// Whether the code says the object already exists.
    pub fn already_exists(&self) -> bool {
        matches!(self.code.as_str(), "EntityAlreadyExists" | "ConflictException")
    }

    /// The provider error for this answer to `operation` (`iam GetRole`), naming the
    /// credential source when the credentials are at fault.
    pub fn into_provider_error(self, operation: &str, source: &CredentialSource) -> ProviderError {
        let kind = self.kind();
        let AwsError { code, message } = self;
        let message = message.trim();
        let detail = if message.is_empty() { code.clone() } else { format!("{code}: {message}") };
        let advice = match code.as_str() {
            "SignatureDoesNotMatch" | "IncompleteSignature" => format!(
                " — the secret access key from {source} does not match its access key id; \
                 correct it there"
            ),
            "InvalidClientTokenId" | "UnrecognizedClientException" | "InvalidAccessKeyId" => {
                format!(" — AWS does not know the access key id from {source}; correct it there")
            }
            "ExpiredToken" | "ExpiredTokenException" => {
                format!(" — the session token from {source} has expired; get fresh credentials")
            }
            "AccessDenied" | "AccessDeniedException" | "UnauthorizedOperation" => format!(
                " — the identity behind {source} lacks this permission; see \
                 docs/providers/aws.md for the permissions the provider needs"
            ),
            "DeleteConflict" => " — it is still in use (attached policies, inline policies, \
                                  instance profiles or versions that breakglass does not manage); \
                                  remove those first, or declare them so breakglass removes them"
                .to_owned(),
            _ => String::new(),
        };
        ProviderError::new(kind, format!("aws: {operation} failed: {detail}{advice}"))
    }
}

/// Whether `error` is AWS's answer with `code` (as [`AwsError::into_provider_error`] words it).
pub fn has_code(error: &ProviderError, code: &str) -> bool {
    error.message().contains(&format!(" failed: {code}"))
}

fn parse_xml(text: &str) -> Option<AwsError> {
    let mut reader = Reader::from_str(text);
    let mut path: Vec<String> = Vec::new();
    // The first <Error>'s Code and Message, text and entities (&quot;) put together.
    let (mut code, mut message): (Option<String>, Option<String>) = (None, None);
    let mut errors_seen = 0;
    loop {
        let event = reader.read_event();
        let field = match path.as_slice() {
            [.., parent, field] if parent == "Error" && errors_seen == 1 => Some(field.as_str()),
            _ => None,
        };
        let target = match field {
            Some("Code") => Some(&mut code),
            Some("Message") => Some(&mut message),
            _ => None,
        };
        match event {
            Ok(Event::Start(start)) => {
                let name = String::from_utf8_lossy(start.local_name().as_ref()).into_owned();
                if name == "Error" {
                    errors_seen += 1;
                }
                path.push(name);
            }
            Ok(Event::End(_)) => {
                path.pop();
            }
            Ok(Event::Text(content)) => {
                if let (Some(target), Ok(decoded)) = (target, content.decode()) {
                    target.get_or_insert_with(String::new).push_str(&decoded);
                }
            }
            Ok(Event::GeneralRef(reference)) => {
                if let Some(target) = target {
                    let name = String::from_utf8_lossy(&reference).into_owned();
                    let resolved = quick_xml::escape::unescape(&format!("&{name};"))
                        .map(|u| u.into_owned())
                        .unwrap_or_default();
                    target.get_or_insert_with(String::new).push_str(&resolved);
                }
            }
            Ok(Event::Eof) | Err(_) => break,
            _ => {}
        }
    }
    Some(AwsError {
        code: code?.trim().to_owned(),
        message: message.unwrap_or_default().trim().to_owned(),
    })
}

/// Tells the shared HTTP client that AWS's throttling 400s are to be retried.
#[derive(Debug, Default)]
pub struct AwsRetryClassifier;

impl RetryClassifier for AwsRetryClassifier {
    fn classify(&self, response: &HttpResponse) -> Option<ProviderError> {
        if response.is_success() {
            return None;
        }
        let error = AwsError::parse(response)?;
        (error.kind() == ErrorKind::Throttled).then(|| {
            ProviderError::new(ErrorKind::Throttled, format!("{}: {}", error.code, error.message))
        })
    }
}

/// Turns a not-found error into `None`.
pub fn found<T>(result: Result<T, ProviderError>) -> Result<Option<T>, ProviderError> {
    match result {
        Ok(value) => Ok(Some(value)),
        Err(error) if error.kind() == ErrorKind::NotFound => Ok(None),
        Err(error) => Err(error),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::StatusCode;
    use reqwest::header::HeaderMap;

    fn response(status: u16, headers: &[(&'static str, &str)], body: &str) -> HttpResponse {
        let mut map = HeaderMap::new();
        for (name, value) in headers {
            map.insert(*name, value.parse().unwrap());
        }
        HttpResponse::new(StatusCode::from_u16(status).unwrap(), map, body.to_owned())
    }

    #[test]
    fn codes_are_read_from_both_protocols_and_mapped_to_kinds() {
        let query = |code: &str| {
            format!(
                "<ErrorResponse xmlns=\"https://iam.amazonaws.com/doc/2010-05-08/\"><Error>\
                 <Type>Sender</Type><Code>{code}</Code><Message>it &quot;failed&quot;</Message>\
                 </Error><RequestId>r</RequestId></ErrorResponse>"
            )
        };
        let cases = [
            ("Throttling", ErrorKind::Throttled),
            ("NoSuchEntity", ErrorKind::NotFound),
            ("AccessDenied", ErrorKind::Denied),
            ("SignatureDoesNotMatch", ErrorKind::Denied),
            ("DeleteConflict", ErrorKind::Invalid),
            ("ServiceFailure", ErrorKind::Transient),
            ("MalformedPolicyDocument", ErrorKind::Invalid),
        ];
        for (code, kind) in cases {
            let error = AwsError::parse(&response(400, &[], &query(code))).expect(code);
            assert_eq!(error.code, code);
            assert_eq!(error.message, "it \"failed\"");
            assert_eq!(error.kind(), kind, "{code}");
        }
        let json = response(
            400,
            &[],
            r#"{"__type":"com.amazonaws.swbexternalservice#ThrottlingException","message":"slow"}"#,
        );
        let error = AwsError::parse(&json).unwrap();
        assert_eq!(
            (error.code.as_str(), error.kind()),
            ("ThrottlingException", ErrorKind::Throttled)
        );
        let header = response(
            404,
            &[("x-amzn-errortype", "ResourceNotFoundException:http://internal.amazon.com/")],
            r#"{"Message":"no such permission set"}"#,
        );
        let error = AwsError::parse(&header).unwrap();
        assert_eq!(error.kind(), ErrorKind::NotFound);
        assert_eq!(error.message, "no such permission set");
        assert_eq!(AwsError::parse(&response(502, &[], "<html>bad gateway</html>")), None);
        assert_eq!(AwsError::parse(&response(400, &[], "not json")), None);
    }

    #[test]
    fn denied_errors_name_the_credential_source_and_never_a_secret() {
        let error = AwsError { code: "SignatureDoesNotMatch".into(), message: "calc".into() }
            .into_provider_error("iam GetRole", &CredentialSource::Environment);
        assert_eq!(error.kind(), ErrorKind::Denied);
        assert!(error.message().starts_with("aws: iam GetRole failed: SignatureDoesNotMatch"));
        assert!(error.message().contains("AWS_SECRET_ACCESS_KEY"), "{error}");
        let conflict = AwsError { code: "DeleteConflict".into(), message: "attached".into() }
            .into_provider_error("iam DeleteRole", &CredentialSource::Environment);
        assert!(conflict.message().contains("still in use"), "{conflict}");
    }

    #[test]
    fn the_classifier_retries_only_throttling() {
        let throttled = response(
            400,
            &[],
            "<ErrorResponse><Error><Code>Throttling</Code><Message>Rate exceeded</Message></Error></ErrorResponse>",
        );
        let classified = AwsRetryClassifier.classify(&throttled).unwrap();
        assert_eq!(classified.kind(), ErrorKind::Throttled);
        let other = response(
            400,
            &[],
            "<ErrorResponse><Error><Code>ValidationError</Code></Error></ErrorResponse>",
        );
        assert!(AwsRetryClassifier.classify(&other).is_none());
        assert!(AwsRetryClassifier.classify(&response(200, &[], "<ok/>")).is_none());
    }
}
