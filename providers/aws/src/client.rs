//! One signed client for the four AWS services the provider calls.
//!
//! IAM and STS speak the Query protocol (a form-encoded `POST` with `Action` and `Version`,
//! answered in XML); sso-admin and identitystore speak JSON 1.1 (an `X-Amz-Target` header and a
//! JSON body). Every request goes through the shared [`HttpClient`] (timeouts, retries with
//! backoff and jitter, concurrency limits) and is signed afresh with SigV4 on every attempt, so
//! a retried request never carries a stale date.
//!
//! Endpoints: the provider block's `endpoint` wins, then `AWS_ENDPOINT_URL_<SERVICE>`, then
//! `AWS_ENDPOINT_URL` (the standard variables, which is how `examples/aws` runs unchanged
//! against an emulator), then AWS's public endpoints. IAM is a global service signed for
//! `us-east-1`.

use breakglass_provider::ProviderError;
use breakglass_provider::http::{HttpClient, HttpResponse};
use serde::de::DeserializeOwned;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::SystemTime;
use tokio::sync::OnceCell;

use crate::credentials::Credentials;
use crate::error::AwsError;
use crate::xml;

/// An AWS service the provider calls.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Service {
    /// IAM (Query protocol, global).
    Iam,
    /// STS (Query protocol).
    Sts,
    /// IAM Identity Center administration (JSON protocol).
    SsoAdmin,
    /// The Identity Center identity store (JSON protocol).
    IdentityStore,
}

impl Service {
    /// The name in the SigV4 credential scope.
    fn signing_name(self) -> &'static str {
        match self {
            Service::Iam => "iam",
            Service::Sts => "sts",
            Service::SsoAdmin => "sso",
            Service::IdentityStore => "identitystore",
        }
    }

    /// The name in messages and in `AWS_ENDPOINT_URL_<NAME>`.
    pub fn name(self) -> &'static str {
        match self {
            Service::Iam => "iam",
            Service::Sts => "sts",
            Service::SsoAdmin => "sso-admin",
            Service::IdentityStore => "identitystore",
        }
    }

    fn env_suffix(self) -> &'static str {
        match self {
            Service::Iam => "IAM",
            Service::Sts => "STS",
            Service::SsoAdmin => "SSO_ADMIN",
            Service::IdentityStore => "IDENTITYSTORE",
        }
    }

    fn public_endpoint(self, region: &str) -> String {
        match self {
            Service::Iam => "https://iam.amazonaws.com".to_owned(),
            Service::Sts => format!("https://sts.{region}.amazonaws.com"),
            Service::SsoAdmin => format!("https://sso.{region}.amazonaws.com"),
            Service::IdentityStore => format!("https://identitystore.{region}.amazonaws.com"),
        }
    }

    fn query_version(self) -> &'static str {
        match self {
            Service::Sts => "2011-06-15",
            _ => "2010-05-08",
        }
    }

    fn json_target_prefix(self) -> &'static str {
        match self {
            Service::IdentityStore => "AWSIdentityStore",
            _ => "SWBExternalService",
        }
    }
}

/// Where each service is reached.
#[derive(Debug, Clone, Default)]
pub struct Endpoints {
    /// The provider block's `endpoint`.
    pub block: Option<String>,
    /// `AWS_ENDPOINT_URL_<SERVICE>` and `AWS_ENDPOINT_URL` from the environment.
    pub env: BTreeMap<String, String>,
}

impl Endpoints {
    fn url(&self, service: Service, region: &str) -> String {
        let from_env = |name: &str| self.env.get(name).filter(|v| !v.trim().is_empty()).cloned();
        let url = self
            .block
            .clone()
            .filter(|v| !v.trim().is_empty())
            .or_else(|| from_env(&format!("AWS_ENDPOINT_URL_{}", service.env_suffix())))
            .or_else(|| from_env("AWS_ENDPOINT_URL"))
            .unwrap_or_else(|| service.public_endpoint(region));
        format!("{}/", url.trim_end_matches('/'))
    }
}

/// The signed client; cheap to clone (clones share limits, counters and the account id).
#[derive(Debug, Clone)]
pub struct AwsClient {
    http: HttpClient,
    credentials: Arc<Credentials>,
    region: String,
    endpoints: Arc<Endpoints>,
    account_id: Arc<OnceCell<String>>,
    /// Calls made through this clone and the clones made from it by `counted`'s caller.
    counter: Arc<AtomicU64>,
}

impl AwsClient {
    /// A client signing with `credentials` for `region`.
    pub fn new(
        http: HttpClient,
        credentials: Credentials,
        region: String,
        endpoints: Endpoints,
    ) -> Self {
        Self {
            http,
            credentials: Arc::new(credentials),
            region,
            endpoints: Arc::new(endpoints),
            account_id: Arc::new(OnceCell::new()),
            counter: Arc::new(AtomicU64::new(0)),
        }
    }

    /// A clone that counts its own API calls (from zero), to report how many calls one
    /// provider operation made.
    pub fn counted(&self) -> Self {
        Self { counter: Arc::new(AtomicU64::new(0)), ..self.clone() }
    }

    /// API calls made through [`AwsClient::counted`]'s clone (a retried call counts once).
    pub fn api_calls(&self) -> u64 {
        self.counter.load(Ordering::Relaxed)
    }

    /// HTTP requests sent so far, retries included.
    pub fn calls(&self) -> u64 {
        self.http.calls()
    }

    /// The region requests are signed for (IAM aside).
    pub fn region(&self) -> &str {
        &self.region
    }

    /// The account the credentials belong to (STS `GetCallerIdentity`, asked once).
    pub async fn account_id(&self) -> Result<String, ProviderError> {
        self.account_id
            .get_or_try_init(|| async {
                let identity: xml::CallerIdentity =
                    self.query(Service::Sts, "GetCallerIdentity", &[]).await?;
                Ok::<_, ProviderError>(identity.account)
            })
            .await
            .cloned()
    }

    /// Calls a Query-protocol `action` with `params` and decodes its `<ActionResult>`.
    pub async fn query<T: DeserializeOwned + Default>(
        &self,
        service: Service,
        action: &str,
        params: &[(&str, String)],
    ) -> Result<T, ProviderError> {
        let body = {
            let mut form = form_urlencoded::Serializer::new(String::new());
            form.append_pair("Action", action);
            form.append_pair("Version", service.query_version());
            for (key, value) in params {
                form.append_pair(key, value);
            }
            form.finish()
        };
        let operation = format!("{} {action}", service.name());
        let response = self
            .send(service, "application/x-www-form-urlencoded; charset=utf-8", None, body)
            .await?;
        if response.is_success() {
            return xml::result(&response.text(), action)
                .map_err(|error| error.context(format!("aws: {operation}")));
        }
        Err(self.failure(&operation, &response))
    }

    /// Calls a JSON-protocol `operation` with `body` and decodes the answer.
    pub async fn json<T: DeserializeOwned>(
        &self,
        service: Service,
        operation: &str,
        body: &serde_json::Value,
    ) -> Result<T, ProviderError> {
        let target = format!("{}.{operation}", service.json_target_prefix());
        let name = format!("{} {operation}", service.name());
        let response = self
            .send(service, "application/x-amz-json-1.1", Some(target), body.to_string())
            .await?;
        if response.is_success() {
            let text = response.text();
            let text = if text.trim().is_empty() { "{}".to_owned() } else { text };
            let decoded = HttpResponse::new(response.status, Default::default(), text);
            return decoded.json().map_err(|error| error.context(format!("aws: {name}")));
        }
        Err(self.failure(&name, &response))
    }

    fn failure(&self, operation: &str, response: &HttpResponse) -> ProviderError {
        match AwsError::parse(response) {
            Some(error) => error.into_provider_error(operation, &self.credentials.source),
            None if response.status.is_server_error() => ProviderError::transient(format!(
                "aws: {operation} answered {}: {}",
                response.status,
                response.excerpt()
            )),
            None => ProviderError::protocol(format!(
                "aws: {operation} answered {} with a body that is not an AWS error (is the \
                 endpoint an AWS API?): {}",
                response.status,
                response.excerpt()
            )),
        }
    }

    async fn send(
        &self,
        service: Service,
        content_type: &'static str,
        target: Option<String>,
        body: String,
    ) -> Result<HttpResponse, ProviderError> {
        self.counter.fetch_add(1, Ordering::Relaxed);
        let url = self.endpoints.url(service, &self.region);
        let region = if service == Service::Iam { "us-east-1" } else { self.region.as_str() };
        let credentials = aws_credential_types::Credentials::new(
            self.credentials.access_key_id.clone(),
            self.credentials.secret_access_key.expose().to_owned(),
            self.credentials.session_token.as_ref().map(|t| t.expose().to_owned()),
            None,
            "breakglass",
        );
        let identity = credentials.into();
        self.http
            .send(|client| {
                let mut headers: Vec<(&str, &str)> = vec![("content-type", content_type)];
                if let Some(target) = &target {
                    headers.push(("x-amz-target", target));
                }
                let signable = aws_sigv4::http_request::SignableRequest::new(
                    "POST",
                    &url,
                    headers.iter().copied(),
                    aws_sigv4::http_request::SignableBody::Bytes(body.as_bytes()),
                )
                .map_err(|error| {
                    ProviderError::invalid(format!("aws: cannot sign a request to {url}: {error}"))
                })?;
                let params = aws_sigv4::sign::v4::SigningParams::builder()
                    .identity(&identity)
                    .region(region)
                    .name(service.signing_name())
                    .time(SystemTime::now())
                    .settings(aws_sigv4::http_request::SigningSettings::default())
                    .build()
                    .map_err(|error| {
                        ProviderError::invalid(format!("aws: cannot sign a request: {error}"))
                    })?
                    .into();
                let (instructions, _signature) = aws_sigv4::http_request::sign(signable, &params)
                    .map_err(|error| {
                        ProviderError::invalid(format!("aws: cannot sign a request: {error}"))
                    })?
                    .into_parts();
                let mut request = client.post(&url).body(body.clone());
                for (name, value) in &headers {
                    request = request.header(*name, *value);
                }
                for (name, value) in instructions.headers() {
                    request = request.header(name, value);
                }
                request.build().map_err(|error| self.http.build_error(error))
            })
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_prefer_the_block_then_the_service_variable_then_the_general_one() {
        let mut endpoints = Endpoints::default();
        assert_eq!(endpoints.url(Service::Iam, "eu-west-1"), "https://iam.amazonaws.com/");
        assert_eq!(
            endpoints.url(Service::SsoAdmin, "eu-west-1"),
            "https://sso.eu-west-1.amazonaws.com/"
        );
        endpoints.env.insert("AWS_ENDPOINT_URL".into(), "http://127.0.0.1:5000".into());
        endpoints.env.insert("AWS_ENDPOINT_URL_STS".into(), "http://127.0.0.1:6000/".into());
        assert_eq!(endpoints.url(Service::Iam, "x"), "http://127.0.0.1:5000/");
        assert_eq!(endpoints.url(Service::Sts, "x"), "http://127.0.0.1:6000/");
        endpoints.block = Some("http://localhost:7000".into());
        assert_eq!(endpoints.url(Service::Sts, "x"), "http://localhost:7000/");
    }
}
