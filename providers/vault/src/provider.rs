//! The `vault` provider's implementation of the provider contract: configuration, then a
//! dispatch to the resource type's module.

use async_trait::async_trait;
use breakglass_provider::http::{HttpClient, HttpConfig};
use breakglass_provider::{
    Attributes, ConfigureRequest, CreateRequest, CreateResponse, DeleteRequest, DeleteResponse,
    IdRequest, ListRequest, ListResponse, Provider, ProviderError, ProviderSchema, ReadRequest,
    ReadResponse, UpdateRequest, UpdateResponse, Value,
};
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use crate::client::{VaultClient, failure};
use crate::config::VaultConfig;
use crate::resources::{Context, group, group_member, policy, same_set, same_time, token_role};
use crate::schema::{GROUP, GROUP_MEMBER, POLICY, TOKEN_ROLE, schema};
use crate::server::Server;

/// The `vault` provider. Unconfigured until [`Provider::configure`] is called.
#[derive(Debug, Default)]
pub struct VaultProvider {
    configured: Option<Configured>,
    member_edits: tokio::sync::Mutex<()>,
}

#[derive(Debug)]
struct Configured {
    client: VaultClient,
    config: VaultConfig,
    server: Server,
    /// The accessor of the token the tool acts with.
    own_accessor: Option<String>,
}

fn unknown_type(resource_type: &str) -> ProviderError {
    ProviderError::invalid(format!(
        "the vault provider has no resource type {resource_type}; it offers {POLICY}, {GROUP}, \
         {GROUP_MEMBER} and {TOKEN_ROLE}"
    ))
}

/// An HTTP client trusting the system's CAs and, if given, those of a PEM bundle.
fn http_client(config: &VaultConfig) -> Result<HttpClient, ProviderError> {
    let mut http_config = HttpConfig::default();
    if let Some(attempts) = config.max_attempts {
        http_config = http_config.with_max_attempts(attempts);
    }
    let mut builder =
        reqwest::Client::builder().user_agent(concat!("breakglass/", env!("CARGO_PKG_VERSION")));
    if let Some(path) = &config.ca_cert {
        let pem = fs_err::read(path).map_err(|error| {
            ProviderError::invalid(format!("provider \"vault\": cannot read `ca_cert`: {error}"))
        })?;
        let certificates = reqwest::Certificate::from_pem_bundle(&pem)
            .ok()
            .filter(|certificates| !certificates.is_empty())
            .ok_or_else(|| {
                ProviderError::invalid(format!(
                    "provider \"vault\": `ca_cert` {} holds no PEM certificate (-----BEGIN \
                     CERTIFICATE-----)",
                    path.display()
                ))
            })?;
        for certificate in certificates {
            builder = builder.add_root_certificate(certificate);
        }
    }
    HttpClient::from_builder("vault", http_config, builder)
}

impl VaultProvider {
    /// A fresh, unconfigured provider.
    pub fn new() -> Self {
        Self::default()
    }

    /// Makes a boxed provider, for the provider registry.
    pub fn boxed() -> Box<dyn Provider> {
        Box::new(Self::new())
    }

    /// Configures the provider from block attributes and an explicit environment (tests use
    /// this rather than changing the process's environment). Asks the server what it is and
    /// checks the token, so a wrong address or token fails now, saying what to fix.
    pub async fn configure_with_env(
        &mut self,
        attributes: &Attributes,
        base_dir: &Path,
        env: &BTreeMap<String, String>,
    ) -> Result<(), ProviderError> {
        let config = VaultConfig::from_attributes(attributes, base_dir, env)?;
        let client = VaultClient::new(
            http_client(&config)?,
            &config.address,
            config.token.clone(),
            config.token_source.clone(),
            config.namespace.clone(),
        );
        let server = Server::probe(&client).await?;
        let response =
            client.send(reqwest::Method::GET, "auth/token/lookup-self", &[], None).await?;
        if !response.is_success() {
            return Err(failure("GET", "auth/token/lookup-self", &response, &config.token_source));
        }
        let own_accessor = response
            .json::<Value>()
            .ok()
            .and_then(|answer| answer["data"]["accessor"].as_str().map(str::to_owned));
        self.configured = Some(Configured { client, config, server, own_accessor });
        Ok(())
    }

    fn configured(&self) -> Result<&Configured, ProviderError> {
        self.configured.as_ref().ok_or_else(|| {
            ProviderError::unsupported("the vault provider was used before it was configured")
        })
    }

    /// HTTP requests sent so far, retries included.
    pub fn http_calls(&self) -> u64 {
        self.configured.as_ref().map_or(0, |c| c.client.http_calls())
    }

    /// What the server is, once configured.
    pub fn server(&self) -> Option<&Server> {
        self.configured.as_ref().map(|c| &c.server)
    }

    fn context<'a>(&'a self, configured: &'a Configured, client: &'a VaultClient) -> Context<'a> {
        Context {
            client,
            config: &configured.config,
            server: &configured.server,
            own_accessor: configured.own_accessor.as_deref(),
            member_edits: &self.member_edits,
        }
    }
}

fn natural_id(resource_type: &str, attributes: &Attributes) -> Result<String, ProviderError> {
    match resource_type {
        POLICY => policy::id(attributes),
        GROUP => group::id(attributes),
        GROUP_MEMBER => group_member::id(attributes),
        TOKEN_ROLE => token_role::id(attributes),
        other => Err(unknown_type(other)),
    }
}

/// The declared attributes must name the object being written.
fn check_id(resource_type: &str, id: &str, attributes: &Attributes) -> Result<(), ProviderError> {
    let natural = natural_id(resource_type, attributes)?;
    if natural != id {
        return Err(ProviderError::invalid(format!(
            "{resource_type} {id}: the attributes name {natural} instead; an object's identity \
             cannot change in place, it is replaced"
        )));
    }
    Ok(())
}

async fn write(
    ctx: &Context<'_>,
    resource_type: &str,
    id: &str,
    attributes: &Attributes,
) -> Result<Attributes, ProviderError> {
    check_id(resource_type, id, attributes)?;
    match resource_type {
        POLICY => policy::write(ctx, id, attributes).await,
        GROUP => group::write(ctx, id, attributes).await,
        GROUP_MEMBER => group_member::create(ctx, id).await,
        TOKEN_ROLE => token_role::write(ctx, id, attributes).await,
        other => Err(unknown_type(other)),
    }
}

#[async_trait]
impl Provider for VaultProvider {
    fn schema(&self) -> ProviderSchema {
        schema()
    }

    async fn configure(&mut self, request: ConfigureRequest) -> Result<(), ProviderError> {
        let env: BTreeMap<String, String> = std::env::vars().collect();
        self.configure_with_env(&request.config, &request.base_dir, &env).await
    }

    fn resource_id(&self, request: IdRequest<'_>) -> Result<String, ProviderError> {
        natural_id(request.resource_type, request.attributes)
    }

    /// One `GET` per object (per group and entity for memberships); policies in one listing on
    /// OpenBao.
    async fn read(&self, request: ReadRequest) -> Result<ReadResponse, ProviderError> {
        let configured = self.configured()?;
        let client = configured.client.counted();
        let ctx = self.context(configured, &client);
        let mut objects = BTreeMap::new();
        if request.resource_type == GROUP_MEMBER {
            objects = group_member::read(&ctx, &request.ids).await?;
            return Ok(ReadResponse::new(objects, client.api_calls()));
        }
        if request.resource_type == POLICY {
            objects = policy::read_many(&ctx, &request.ids).await?;
            return Ok(ReadResponse::new(objects, client.api_calls()));
        }
        for id in &request.ids {
            let found = match request.resource_type.as_str() {
                GROUP => group::read(&ctx, id).await?,
                TOKEN_ROLE => token_role::read(&ctx, id).await?,
                other => return Err(unknown_type(other)),
            };
            if let Some(attributes) = found {
                objects.insert(id.clone(), attributes);
            }
        }
        Ok(ReadResponse::new(objects, client.api_calls()))
    }

    fn list_scope(&self, resource_type: &str) -> Option<&'static [&'static str]> {
        (resource_type == GROUP_MEMBER).then_some(&["group"])
    }

    /// Group members: every member of each group in scope and of each `privileged_groups`
    /// group, those of the second marked privileged.
    async fn list(&self, request: ListRequest) -> Result<ListResponse, ProviderError> {
        let configured = self.configured()?;
        if request.resource_type != GROUP_MEMBER {
            return Err(ProviderError::unsupported(format!(
                "listing {} is not offered by the vault provider",
                request.resource_type
            )));
        }
        let client = configured.client.counted();
        let ctx = self.context(configured, &client);
        let mut groups: BTreeSet<String> = configured.config.privileged_groups.clone();
        groups.extend(
            request
                .scope
                .iter()
                .filter_map(|a| a.get("group").and_then(Value::as_str).map(str::to_owned)),
        );
        let (objects, privileged) = group_member::list(&ctx, &groups).await?;
        Ok(ListResponse::new(objects, client.api_calls()).with_privileged(privileged))
    }

    async fn create(&self, request: CreateRequest) -> Result<CreateResponse, ProviderError> {
        let configured = self.configured()?;
        let client = configured.client.counted();
        let ctx = self.context(configured, &client);
        let CreateRequest { resource_type, id, attributes, .. } = request;
        let live = write(&ctx, &resource_type, &id, &attributes).await?;
        Ok(CreateResponse::new(id, live))
    }

    async fn update(&self, request: UpdateRequest) -> Result<UpdateResponse, ProviderError> {
        let configured = self.configured()?;
        let client = configured.client.counted();
        let ctx = self.context(configured, &client);
        let UpdateRequest { resource_type, id, after, .. } = request;
        Ok(UpdateResponse::new(write(&ctx, &resource_type, &id, &after).await?))
    }

    async fn delete(&self, request: DeleteRequest) -> Result<DeleteResponse, ProviderError> {
        let configured = self.configured()?;
        let client = configured.client.counted();
        let ctx = self.context(configured, &client);
        let DeleteRequest { resource_type, id, context, .. } = request;
        let notes = match resource_type.as_str() {
            POLICY => policy::delete(&ctx, &id).await.map(|()| Vec::new())?,
            GROUP => group::delete(&ctx, &id).await.map(|()| Vec::new())?,
            GROUP_MEMBER => group_member::delete(&ctx, &id, &context).await?,
            TOKEN_ROLE => token_role::delete(&ctx, &id, &context).await?,
            other => return Err(unknown_type(other)),
        };
        Ok(DeleteResponse::new(notes))
    }

    fn attribute_equal(
        &self,
        resource_type: &str,
        attribute: &str,
        desired: &Value,
        live: &Value,
    ) -> bool {
        match (resource_type, attribute) {
            (POLICY, "policy") => match (desired.as_str(), live.as_str()) {
                (Some(desired), Some(live)) => crate::policy_document::equivalent(desired, live),
                _ => desired == live,
            },
            (POLICY, "expiration") | (TOKEN_ROLE, "expires_at") => same_time(desired, live),
            (GROUP, "policies") | (TOKEN_ROLE, "allowed_policies" | "disallowed_policies") => {
                same_set(desired, live)
            }
            _ => desired == live,
        }
    }

    fn revert_note(&self, resource_type: &str) -> Option<String> {
        match resource_type {
            GROUP_MEMBER => Some(
                "also revokes every token of the member's entity (found by token accessor \
                 look-ups), and with them every lease they hold: credentials issued during the \
                 grant die with it"
                    .to_owned(),
            ),
            TOKEN_ROLE => Some(
                "also revokes every token made with the role (sys/leases/revoke-prefix \
                 auth/token/create/ROLE), with their child tokens and leases"
                    .to_owned(),
            ),
            _ => None,
        }
    }

    /// Names the entity whose tokens, or the role whose tokens, the revert revokes.
    fn revert_note_for(&self, resource_type: &str, id: &str) -> Option<String> {
        match resource_type {
            GROUP_MEMBER => {
                let (_, entity) = group_member::split(id).ok()?;
                Some(format!(
                    "also revokes every token of entity {entity} (found by token accessor \
                     look-ups), and with them every lease they hold: credentials issued during \
                     the grant die with it"
                ))
            }
            TOKEN_ROLE => Some(format!(
                "also revokes every token made with token role {id} \
                 (sys/leases/revoke-prefix/{}), with their child tokens and leases",
                crate::revocation::role_token_prefix(id)
            )),
            _ => self.revert_note(resource_type),
        }
    }
}

/// These tests talk to a real OpenBao server (`bao server -dev`, one per test; see
/// `testing.rs`).
#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::Bao;
    use breakglass_provider::{ActivationContext, ChangeContext, ErrorKind};
    use serde_json::json;

    fn env(bao: &Bao, token: &str) -> BTreeMap<String, String> {
        [("VAULT_ADDR".to_owned(), bao.url.clone()), ("VAULT_TOKEN".to_owned(), token.to_owned())]
            .into()
    }

    async fn provider_with(bao: &Bao, block: Value) -> VaultProvider {
        let mut provider = VaultProvider::new();
        let attributes: Attributes = serde_json::from_value(block).unwrap();
        provider
            .configure_with_env(&attributes, Path::new("."), &env(bao, Bao::ROOT_TOKEN))
            .await
            .expect("configured");
        provider
    }

    async fn provider(bao: &Bao) -> VaultProvider {
        provider_with(bao, json!({"privileged_groups": ["responders"]})).await
    }

    /// A provider whose token may only read ACL policies (`sys/policies/acl/*`).
    async fn policy_reader(bao: &Bao) -> VaultProvider {
        bao.ok(
            "POST",
            "sys/policies/acl/reader",
            Some(json!({"policy": "path \"sys/policies/acl/*\" { capabilities = [\"read\"] }"})),
        );
        let token = bao.ok("POST", "auth/token/create", Some(json!({"policies": ["reader"]})))
            ["auth"]["client_token"]
            .as_str()
            .unwrap()
            .to_owned();
        let mut provider = VaultProvider::new();
        provider
            .configure_with_env(&Attributes::new(), Path::new("."), &env(bao, &token))
            .await
            .expect("configured");
        provider
    }

    fn attrs(value: Value) -> Attributes {
        serde_json::from_value(value).unwrap()
    }

    async fn create(
        p: &VaultProvider,
        ty: &str,
        attributes: &Attributes,
        context: ChangeContext,
    ) -> (String, Attributes) {
        let id = p.resource_id(IdRequest::new(ty, attributes)).expect("id");
        let created = p
            .create(CreateRequest::new(ty, &id, attributes.clone(), context))
            .await
            .unwrap_or_else(|e| panic!("{ty}: {e}"));
        (id, created.attributes)
    }

    async fn read(p: &VaultProvider, ty: &str, id: &str) -> Option<Attributes> {
        p.read(ReadRequest::new(ty, vec![id.to_owned()])).await.expect("read").objects.remove(id)
    }

    async fn delete(p: &VaultProvider, ty: &str, id: &str, context: ChangeContext) -> Vec<String> {
        p.delete(DeleteRequest::new(ty, id, Attributes::new(), context))
            .await
            .unwrap_or_else(|e| panic!("{ty}: {e}"))
            .notes
    }

    fn activation(minutes: i64) -> ActivationContext {
        let now = jiff::Timestamp::now();
        ActivationContext::new(
            "act_test",
            "alice",
            now,
            now + jiff::SignedDuration::from_secs(minutes * 60),
        )
    }

    const ADMIN: &str = r#"
        path "secret/*" { capabilities = ["read", "list"] }
        path "auth/token/create/bg-{{identity.entity.name}}" { capabilities = ["update"] }
    "#;

    #[tokio::test]
    async fn policies_are_written_read_back_compared_by_meaning_and_deleted() {
        let bao = Bao::start();
        let p = provider(&bao).await;
        assert!(p.server().unwrap().openbao);
        let declared = attrs(json!({"name": "breakglass-admin", "policy": ADMIN}));
        let (id, live) = create(&p, POLICY, &declared, ChangeContext::baseline()).await;
        assert_eq!(id, "breakglass-admin");
        assert!(p.attribute_equal(POLICY, "policy", &declared["policy"], &live["policy"]));
        // The same grant written differently is no change; a wider one is.
        let reordered = json!(
            "path \"auth/token/create/bg-{{identity.entity.name}}\" {\n  capabilities = [\"update\"]\n}\n\
             # comment\npath \"secret/*\" { policy = \"read\" }"
        );
        assert!(p.attribute_equal(POLICY, "policy", &reordered, &live["policy"]));
        let wider = json!("path \"secret/*\" { capabilities = [\"read\", \"list\", \"update\"] }");
        assert!(!p.attribute_equal(POLICY, "policy", &wider, &live["policy"]));
        // Writing twice is a no-op; an update replaces the text.
        create(&p, POLICY, &declared, ChangeContext::baseline()).await;
        let mut changed = declared.clone();
        changed.insert("policy".into(), wider.clone());
        let updated = p
            .update(UpdateRequest::new(POLICY, &id, live, changed, ChangeContext::baseline()))
            .await
            .unwrap();
        assert!(p.attribute_equal(POLICY, "policy", &wider, &updated.attributes["policy"]));

        // A policy Vault cannot parse: refused, with Vault's reason, and nothing written.
        let broken = attrs(json!({"name": "broken", "policy": "path \"x\" { capabilities = "}));
        let error = p
            .create(CreateRequest::new(POLICY, "broken", broken, ChangeContext::baseline()))
            .await
            .unwrap_err();
        assert_eq!(error.kind(), ErrorKind::Invalid, "{error}");
        assert!(error.message().contains("vault_policy broken"), "{error}");
        assert!(error.message().contains("400"), "{error}");
        assert!(read(&p, POLICY, "broken").await.is_none());

        // OpenBao deletes a policy with an expiration by itself; the end reads back.
        let end = (jiff::Timestamp::now() + jiff::SignedDuration::from_secs(3600))
            .round(jiff::Unit::Second)
            .unwrap();
        let expiring =
            attrs(json!({"name": "bg-alice", "policy": ADMIN, "expiration": end.to_string()}));
        let (_, live) = create(&p, POLICY, &expiring, ChangeContext::grant(activation(60))).await;
        assert!(p.attribute_equal(
            POLICY,
            "expiration",
            &json!(end.to_string()),
            &live["expiration"]
        ));
        let past =
            attrs(json!({"name": "late", "policy": ADMIN, "expiration": "2001-01-01T00:00:00Z"}));
        let error = p
            .create(CreateRequest::new(POLICY, "late", past, ChangeContext::baseline()))
            .await
            .unwrap_err();
        assert!(error.message().contains("has already passed"), "{error}");

        delete(&p, POLICY, &id, ChangeContext::baseline()).await;
        assert!(read(&p, POLICY, &id).await.is_none());
        delete(&p, POLICY, &id, ChangeContext::baseline()).await;
    }

    #[tokio::test]
    async fn membership_grant_and_revert_revokes_the_members_tokens_and_only_theirs() {
        let bao = Bao::start();
        let p = provider(&bao).await;
        bao.person("alice", "alice-pw");
        bao.person("bob", "bob-pw");
        create(
            &p,
            POLICY,
            &attrs(json!({"name": "breakglass-admin", "policy": ADMIN})),
            ChangeContext::baseline(),
        )
        .await;
        let group = attrs(
            json!({"name": "responders", "policies": ["breakglass-admin"], "metadata": {"owner": "sre"}}),
        );
        let (group_id, live_group) = create(&p, GROUP, &group, ChangeContext::baseline()).await;
        assert_eq!(live_group["policies"], json!(["breakglass-admin"]));

        // bob is a standing member; alice is added by a grant.
        let bob = attrs(json!({"group": "responders", "entity": "bob"}));
        create(&p, GROUP_MEMBER, &bob, ChangeContext::baseline()).await;
        let alice = attrs(json!({"group": "responders", "entity": "alice"}));
        let alice_token = bao.login("alice", "alice-pw");
        let bob_token = bao.login("bob", "bob-pw");
        let (alice_id, live) =
            create(&p, GROUP_MEMBER, &alice, ChangeContext::grant(activation(30))).await;
        assert_eq!(alice_id, "responders/alice");
        assert!(live["entity_id"].as_str().unwrap().len() > 10, "{live:?}");
        create(&p, GROUP_MEMBER, &alice, ChangeContext::grant(activation(30))).await;
        let members =
            bao.ok("GET", "identity/group/name/responders", None)["data"]["member_entity_ids"]
                .clone();
        assert_eq!(members.as_array().unwrap().len(), 2, "added once: {members}");
        // Her token now carries the group's policy.
        let (status, _) = bao.call_as(&alice_token, "LIST", "secret/metadata", None).unwrap();
        assert_ne!(status, 403, "the group's policy applies to her existing token");

        // Updating the group's policies keeps its members.
        let mut more = group.clone();
        more.insert("policies".into(), json!(["breakglass-admin", "default"]));
        p.update(UpdateRequest::new(GROUP, &group_id, live_group, more, ChangeContext::baseline()))
            .await
            .unwrap();
        let listed = p.list(ListRequest::new(GROUP_MEMBER, vec![alice.clone()])).await.unwrap();
        assert_eq!(
            listed.objects.keys().collect::<Vec<_>>(),
            ["responders/alice", "responders/bob"]
        );
        assert_eq!(listed.privileged.len(), 2, "responders is a privileged group");
        assert_eq!(listed.api_calls, 2, "one entity listing, one group");

        // The revert: alice leaves the group and every token of hers is revoked; bob's stay.
        let notes =
            delete(&p, GROUP_MEMBER, &alice_id, ChangeContext::revert(Some(activation(30)))).await;
        assert!(notes[0].contains("revoked 1 token(s) of entity alice"), "{notes:?}");
        assert!(read(&p, GROUP_MEMBER, &alice_id).await.is_none());
        assert!(read(&p, GROUP_MEMBER, "responders/bob").await.is_some());
        assert!(!bao.token_is_valid(&alice_token), "alice's token died with the grant");
        assert!(bao.token_is_valid(&bob_token), "bob's token is not hers");
        let again =
            delete(&p, GROUP_MEMBER, &alice_id, ChangeContext::revert(Some(activation(30)))).await;
        assert!(again[0].contains("no token of entity alice"), "{again:?}");

        // Unknown entity or group: a clear error, nothing changed.
        let ghost = attrs(json!({"group": "responders", "entity": "ghost"}));
        let error = p
            .create(CreateRequest::new(
                GROUP_MEMBER,
                "responders/ghost",
                ghost,
                ChangeContext::baseline(),
            ))
            .await
            .unwrap_err();
        assert!(error.message().contains("no identity entity named \"ghost\""), "{error}");
        let nowhere = attrs(json!({"group": "nowhere", "entity": "alice"}));
        let error = p
            .create(CreateRequest::new(
                GROUP_MEMBER,
                "nowhere/alice",
                nowhere,
                ChangeContext::baseline(),
            ))
            .await
            .unwrap_err();
        assert!(error.message().contains("there is no identity group \"nowhere\""), "{error}");
        delete(&p, GROUP, &group_id, ChangeContext::baseline()).await;
        assert!(read(&p, GROUP, &group_id).await.is_none());
    }

    #[tokio::test]
    async fn a_grants_token_role_bounds_its_tokens_and_its_revert_revokes_them() {
        let bao = Bao::start();
        let p = provider(&bao).await;
        bao.person("alice", "alice-pw");
        create(
            &p,
            POLICY,
            &attrs(json!({"name": "breakglass-admin", "policy": ADMIN})),
            ChangeContext::baseline(),
        )
        .await;
        let grant = activation(30);
        // Rounded to the second (up to half a second later): the time left is at most 1801 s.
        let end = grant.end.round(jiff::Unit::Second).unwrap();
        let role = attrs(
            json!({"name": "bg-alice", "allowed_policies": ["breakglass-admin"], "expires_at": end.to_string()}),
        );
        let (id, live) = create(&p, TOKEN_ROLE, &role, ChangeContext::grant(grant.clone())).await;
        assert!(p.attribute_equal(
            TOKEN_ROLE,
            "expires_at",
            &json!(end.to_string()),
            &live["expires_at"]
        ));
        let max = live["token_explicit_max_ttl"].as_u64().unwrap();
        assert!((1790..=1801).contains(&max), "{max}");
        assert!(live["path_suffix"].as_str().unwrap().starts_with("breakglass-until-"));
        create(&p, TOKEN_ROLE, &role, ChangeContext::grant(grant.clone())).await;

        // A token made with the role ends by the grant's end, whatever it asks for.
        let made = bao.ok("POST", "auth/token/create/bg-alice", Some(json!({"ttl": "768h"})));
        let token = made["auth"]["client_token"].as_str().unwrap().to_owned();
        let (_, me) = bao.call_as(&token, "GET", "auth/token/lookup-self", None).unwrap();
        let expires: jiff::Timestamp = me["data"]["expire_time"].as_str().unwrap().parse().unwrap();
        assert!(expires <= end + jiff::SignedDuration::from_secs(2), "{expires} after {end}");

        // Extending the grant moves the end.
        let later = (end + jiff::SignedDuration::from_secs(3600)).to_string();
        let mut longer = role.clone();
        longer.insert("expires_at".into(), json!(later));
        let updated = p
            .update(UpdateRequest::new(
                TOKEN_ROLE,
                &id,
                live,
                longer,
                ChangeContext::grant(grant.clone()),
            ))
            .await
            .unwrap();
        assert!(p.attribute_equal(
            TOKEN_ROLE,
            "expires_at",
            &json!(later),
            &updated.attributes["expires_at"]
        ));
        let second =
            bao.ok("POST", "auth/token/create/bg-alice", Some(json!({})))["auth"]["client_token"]
                .as_str()
                .unwrap()
                .to_owned();

        // The revert takes the role and every token made with it, under either end.
        let notes = delete(&p, TOKEN_ROLE, &id, ChangeContext::revert(Some(grant.clone()))).await;
        assert!(
            notes[0].contains("revoked every token made with token role bg-alice"),
            "{notes:?}"
        );
        assert!(!bao.token_is_valid(&token) && !bao.token_is_valid(&second));
        assert!(bao.token_is_valid(Bao::ROOT_TOKEN));
        assert!(read(&p, TOKEN_ROLE, &id).await.is_none());
        delete(&p, TOKEN_ROLE, &id, ChangeContext::revert(Some(grant))).await;
    }

    #[tokio::test]
    async fn a_wrong_token_or_address_fails_at_configure_saying_what_to_fix() {
        let bao = Bao::start();
        let mut p = VaultProvider::new();
        let error = p
            .configure_with_env(&Attributes::new(), Path::new("."), &env(&bao, "s.not-a-token"))
            .await
            .unwrap_err();
        assert_eq!(error.kind(), ErrorKind::Denied, "{error}");
        assert!(error.message().contains("the environment variable VAULT_TOKEN"), "{error}");
        assert!(!error.message().contains("s.not-a-token"), "{error}");

        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let closed = format!("http://{}", listener.local_addr().unwrap());
        drop(listener);
        let attributes = attrs(json!({"address": closed, "max_retries": 1}));
        let error = p
            .configure_with_env(&attributes, Path::new("."), &env(&bao, Bao::ROOT_TOKEN))
            .await
            .unwrap_err();
        assert_eq!(error.kind(), ErrorKind::Transient, "{error}");
        assert!(error.message().contains("could not connect"), "{error}");

        // A token whose policy does not allow a path is denied, and not retried.
        let p = provider(&bao).await;
        let weak = policy_reader(&bao).await;
        let error = weak
            .create(CreateRequest::new(
                POLICY,
                "x",
                attrs(json!({"name": "x", "policy": ADMIN})),
                ChangeContext::baseline(),
            ))
            .await
            .unwrap_err();
        assert_eq!(error.kind(), ErrorKind::Denied, "{error}");
        assert!(error.message().contains("permission denied"), "{error}");
        assert!(read(&p, POLICY, "x").await.is_none());
    }

    #[tokio::test]
    async fn a_tls_server_is_trusted_through_ca_cert_and_refused_without_it() {
        let bao = Bao::start_tls();
        assert!(bao.url.starts_with("https://"));
        let mut p = VaultProvider::new();
        let error = p
            .configure_with_env(
                &attrs(json!({"max_retries": 1})),
                Path::new("."),
                &env(&bao, Bao::ROOT_TOKEN),
            )
            .await
            .unwrap_err();
        assert_eq!(error.kind(), ErrorKind::Transient, "{error}");
        assert!(error.message().contains("certificate"), "{error}");
        let ca = bao.ca_cert().display().to_string();
        p.configure_with_env(
            &attrs(json!({"ca_cert": ca})),
            Path::new("."),
            &env(&bao, Bao::ROOT_TOKEN),
        )
        .await
        .expect("trusted through ca_cert");
        let policy = attrs(json!({"name": "over-tls", "policy": ADMIN}));
        create(&p, POLICY, &policy, ChangeContext::baseline()).await;
        assert!(read(&p, POLICY, "over-tls").await.is_some());

        let bogus = bao.ca_cert().with_file_name("not-a-ca.pem");
        fs_err::write(&bogus, "hello").unwrap();
        let error = VaultProvider::new()
            .configure_with_env(
                &attrs(json!({"ca_cert": bogus.display().to_string()})),
                Path::new("."),
                &env(&bao, Bao::ROOT_TOKEN),
            )
            .await
            .unwrap_err();
        assert!(error.message().contains("holds no PEM certificate"), "{error}");
    }

    #[tokio::test]
    async fn a_revert_never_revokes_the_tools_own_token() {
        let bao = Bao::start();
        bao.person("alice", "alice-pw");
        bao.ok("POST", "identity/group/name/responders", Some(json!({"policies": ["default"]})));
        // The executor (wrongly) runs as alice, with a root-policy token of her entity.
        bao.ok("POST", "sys/policies/acl/tool", Some(json!({"policy": "path \"*\" { capabilities = [\"create\", \"read\", \"update\", \"delete\", \"list\", \"sudo\"] }"})));
        let alice_id = bao.ok("GET", "identity/entity/name/alice", None)["data"]["id"].clone();
        bao.ok(
            "POST",
            "auth/userpass/users/alice",
            Some(json!({"password": "alice-pw", "token_policies": ["tool"]})),
        );
        let own = bao.login("alice", "alice-pw");
        let other = bao.login("alice", "alice-pw");
        let mut p = VaultProvider::new();
        p.configure_with_env(&Attributes::new(), Path::new("."), &env(&bao, &own)).await.unwrap();
        let member = attrs(json!({"group": "responders", "entity": "alice"}));
        let (id, live) =
            create(&p, GROUP_MEMBER, &member, ChangeContext::grant(activation(30))).await;
        assert_eq!(live["entity_id"], alice_id);
        let notes =
            delete(&p, GROUP_MEMBER, &id, ChangeContext::revert(Some(activation(30)))).await;
        assert!(notes[0].contains("revoked 1 token(s) of entity alice"), "{notes:?}");
        assert!(
            notes[0].contains("the tool's own token belongs to this entity and was kept"),
            "{notes:?}"
        );
        assert!(bao.token_is_valid(&own) && !bao.token_is_valid(&other));
    }

    #[tokio::test]
    async fn every_call_is_made_in_the_configured_namespace() {
        let bao = Bao::start();
        bao.ok("POST", "sys/namespaces/team-a", Some(json!({})));
        let mut p = VaultProvider::new();
        let mut vars = env(&bao, Bao::ROOT_TOKEN);
        vars.insert("VAULT_NAMESPACE".into(), "team-a/".into());
        p.configure_with_env(&Attributes::new(), Path::new("."), &vars).await.unwrap();
        let policy = attrs(json!({"name": "in-team-a", "policy": ADMIN}));
        create(&p, POLICY, &policy, ChangeContext::baseline()).await;
        let (inside, _) = bao.call("GET", "team-a/sys/policies/acl/in-team-a", None).unwrap();
        let (root, _) = bao.call("GET", "sys/policies/acl/in-team-a", None).unwrap();
        assert_eq!((inside, root), (200, 404), "written in team-a, not in the root namespace");
    }

    /// The refresh target for policies: a thousand read in one listing on OpenBao, with their
    /// text and expiration as a `GET` gives them (the figure is printed;
    /// `cargo test -p breakglass-provider-vault thousand -- --nocapture`).
    #[tokio::test]
    async fn a_thousand_policies_are_read_in_one_listing() {
        let bao = Bao::start();
        let p = provider(&bao).await;
        let text =
            |n: usize| format!("path \"secret/data/team-{n}/*\" {{ capabilities = [\"read\"] }}");
        for n in 0..1000 {
            let mut body = json!({ "policy": text(n) });
            if n == 7 {
                body["ttl"] = json!("1h");
            }
            bao.ok("POST", &format!("sys/policies/acl/bg-{n:04}"), Some(body));
        }
        let mut ids: Vec<String> = (0..1000).map(|n| format!("bg-{n:04}")).collect();
        ids.push("never-written".to_owned());
        let before = p.http_calls();
        let listed = p.read(ReadRequest::new(POLICY, ids)).await.unwrap();
        let calls = p.http_calls() - before;
        eprintln!("read {} policies in {calls} API calls", listed.objects.len());
        assert_eq!(listed.objects.len(), 1000, "every written policy, and not the missing one");
        assert_eq!(listed.api_calls, calls);
        assert!(calls <= 10, "{calls} calls");
        for n in [0, 7, 999] {
            let id = format!("bg-{n:04}");
            let alone = read(&p, POLICY, &id).await.unwrap();
            assert_eq!(listed.objects[&id], alone, "{id}: the listing reads as its own GET does");
            assert_eq!(alone["policy"], json!(text(n)));
        }
        assert!(
            listed.objects["bg-0007"]["expiration"].is_string(),
            "{:?}",
            listed.objects["bg-0007"]
        );
        assert!(listed.objects["bg-0000"]["expiration"].is_null());
    }

    /// A token that may read policies but not list them with their text still refreshes them,
    /// one `GET` each.
    #[tokio::test]
    async fn policies_are_read_one_by_one_when_the_token_may_not_list_them() {
        let bao = Bao::start();
        for name in ["one", "two", "three"] {
            bao.ok("POST", &format!("sys/policies/acl/{name}"), Some(json!({"policy": ADMIN})));
        }
        let p = policy_reader(&bao).await;
        let ids = ["one", "two", "three", "absent"].map(str::to_owned).to_vec();
        let before = p.http_calls();
        let read = p.read(ReadRequest::new(POLICY, ids)).await.unwrap();
        let calls = p.http_calls() - before;
        assert_eq!(read.objects.keys().collect::<Vec<_>>(), ["one", "three", "two"]);
        assert!(p.attribute_equal(POLICY, "policy", &json!(ADMIN), &read.objects["two"]["policy"]));
        assert_eq!(calls, 5, "a refused listing, then one GET per policy");
    }

    /// The refresh target: a thousand group members in at most ten calls, against the real
    /// server (the figure is printed; `cargo test -p breakglass-provider-vault thousand -- --nocapture`).
    #[tokio::test]
    async fn a_thousand_members_are_listed_in_a_handful_of_calls() {
        let bao = Bao::start();
        let p = provider(&bao).await;
        let groups = ["oncall-a", "oncall-b", "oncall-c", "oncall-d"];
        let mut ids: Vec<Vec<String>> = vec![Vec::new(); groups.len()];
        for n in 0..1000 {
            let answer =
                bao.ok("POST", "identity/entity", Some(json!({"name": format!("person-{n:04}")})));
            ids[n % groups.len()].push(answer["data"]["id"].as_str().unwrap().to_owned());
        }
        for (group, members) in groups.iter().zip(&ids) {
            bao.ok(
                "POST",
                &format!("identity/group/name/{group}"),
                Some(json!({"member_entity_ids": members})),
            );
        }
        let scope: Vec<Attributes> =
            groups.iter().map(|g| attrs(json!({"group": g, "entity": "person-0000"}))).collect();
        let before = p.http_calls();
        let listed = p.list(ListRequest::new(GROUP_MEMBER, scope)).await.unwrap();
        let calls = p.http_calls() - before;
        eprintln!("listed {} group members in {calls} API calls", listed.objects.len());
        assert_eq!(listed.objects.len(), 1000);
        assert_eq!(listed.api_calls, calls);
        assert!(calls <= 10, "{calls} calls");
        assert!(listed.objects["oncall-b/person-0001"]["entity_id"].is_string());
    }
}
