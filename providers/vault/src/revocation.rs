//! Revoking what a grant issued, so access does not outlive it.
//!
//! Vault keeps a token alive after the group membership or role that let it be made is gone,
//! and every lease (a dynamic database credential, say) lives as long as the token that asked
//! for it. So a revert revokes tokens, and Vault then revokes every lease and child token they
//! hold:
//! - **tokens made with a token role** share a path prefix, `auth/token/create/ROLE`, and are
//!   revoked in one call, `sys/leases/revoke-prefix` (synchronous), then the prefix is listed
//!   again to confirm nothing is left ([`revoke_role_tokens`]);
//! - **tokens of an entity** (a person's logins, and the tokens made from them) are found by
//!   token accessor look-ups (`auth/token/accessors`, then `lookup-accessor` for each, which
//!   gives the token's entity), revoked by accessor, and looked up again to confirm they are
//!   gone ([`revoke_entity_tokens`]). Vault has no index of tokens by entity, so this reads
//!   every token's accessor once: a revert's cost grows with the number of live tokens.

use breakglass_provider::{ErrorKind, ProviderError, Value};
use serde_json::json;
use tokio::task::JoinSet;

use crate::client::{VaultClient, segment};

/// The path prefix of the tokens made with token role `role`.
pub fn role_token_prefix(role: &str) -> String {
    format!("auth/token/create/{}", segment(role))
}

/// Revokes every token made with token role `role` (and their child tokens and leases), and
/// confirms none is left. Returns a note for the audit log.
pub async fn revoke_role_tokens(client: &VaultClient, role: &str) -> Result<String, ProviderError> {
    let prefix = role_token_prefix(role);
    client
        .write(&format!("sys/leases/revoke-prefix/{prefix}"), &json!({ "sync": true }))
        .await
        .map_err(|e| e.context(format!("revoking the tokens of token role {role}")))?;
    let left = client.list(&format!("sys/leases/lookup/{prefix}/")).await?;
    if !left.keys.is_empty() {
        return Err(ProviderError::transient(format!(
            "vault: after sys/leases/revoke-prefix/{prefix}, {} lease group(s) are still listed; \
             the revert is retried",
            left.keys.len()
        )));
    }
    Ok(format!(
        "revoked every token made with token role {role} (sys/leases/revoke-prefix/{prefix}), \
         with their child tokens and leases; none is left"
    ))
}

/// `POST auth/token/lookup-accessor`: the token's data, or `None` when the accessor is no
/// longer valid (the token expired or was revoked meanwhile).
async fn lookup_accessor(
    client: &VaultClient,
    accessor: &str,
) -> Result<Option<Value>, ProviderError> {
    match client.write("auth/token/lookup-accessor", &json!({ "accessor": accessor })).await {
        Ok(answer) => Ok(answer.get("data").cloned()),
        Err(error) if gone(&error) => Ok(None),
        Err(error) => Err(error),
    }
}

/// Vault answers 400 "invalid accessor" (older versions 403 "bad token") for a token that is
/// gone.
fn gone(error: &ProviderError) -> bool {
    matches!(error.kind(), ErrorKind::Invalid | ErrorKind::NotFound)
        && (error.message().contains("invalid accessor")
            || error.message().contains("invalid token")
            || error.message().contains("bad token"))
}

/// Every live token accessor, with the entity each token belongs to.
async fn accessors_with_entities(
    client: &VaultClient,
) -> Result<Vec<(String, String)>, ProviderError> {
    let accessors = client
        .list("auth/token/accessors")
        .await
        .map_err(|e| e.context("listing token accessors (needs sudo on auth/token/accessors)"))?
        .keys;
    let mut lookups = JoinSet::new();
    for accessor in accessors {
        let client = client.clone();
        lookups.spawn(async move {
            let data = lookup_accessor(&client, &accessor).await?;
            let entity = data
                .as_ref()
                .and_then(|d| d.get("entity_id"))
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned();
            Ok::<_, ProviderError>(data.map(|_| (accessor, entity)))
        });
    }
    let mut found = Vec::new();
    while let Some(joined) = lookups.join_next().await {
        let looked_up = joined.map_err(|error| {
            ProviderError::protocol(format!("a token look-up failed: {error}"))
        })??;
        found.extend(looked_up);
    }
    found.sort();
    Ok(found)
}

/// Revokes every token of entity `entity_id` (named `entity` in messages) and so every lease
/// and child token they hold, then looks each one up again to confirm it is gone. Returns a
/// note for the audit log.
///
/// The tool's own token (accessor `own`) is never revoked, even if it belongs to the entity:
/// the run would cut the branch it sits on. The note says so.
pub async fn revoke_entity_tokens(
    client: &VaultClient,
    entity_id: &str,
    entity: &str,
    own: Option<&str>,
) -> Result<String, ProviderError> {
    let all = accessors_with_entities(client).await?;
    let scanned = all.len();
    let mut kept_own = false;
    let theirs: Vec<String> = all
        .into_iter()
        .filter(|(_, e)| e == entity_id)
        .map(|(accessor, _)| accessor)
        .filter(|accessor| {
            let is_own = Some(accessor.as_str()) == own;
            kept_own |= is_own;
            !is_own
        })
        .collect();
    for accessor in &theirs {
        match client.write("auth/token/revoke-accessor", &json!({ "accessor": accessor })).await {
            Ok(_) => {}
            Err(error) if gone(&error) => {}
            Err(error) => {
                return Err(error.context(format!("revoking a token of entity {entity}")));
            }
        }
    }
    for accessor in &theirs {
        if lookup_accessor(client, accessor).await?.is_some() {
            return Err(ProviderError::transient(format!(
                "vault: a token of entity {entity} is still valid after revoke-accessor; the \
                 revert is retried"
            )));
        }
    }
    let mut note = if theirs.is_empty() {
        format!("no token of entity {entity} to revoke ({scanned} token accessor(s) looked up)")
    } else {
        format!(
            "revoked {} token(s) of entity {entity}, with every lease and child token they hold \
             ({scanned} token accessor(s) looked up)",
            theirs.len()
        )
    };
    if kept_own {
        note.push_str(
            "; the tool's own token belongs to this entity and was kept: give the executor an \
             identity of its own",
        );
    }
    Ok(note)
}
