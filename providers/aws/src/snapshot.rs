//! A whole account's IAM, read in a few calls and shared by the listings of one refresh.
//!
//! `GetAccountAuthorizationDetails` returns every role (with its trust policy, inline
//! policies, attachments and tags), user (with its groups), group (with its attachments) and
//! customer managed policy (with its versions), a thousand items a page. `ListRoles` adds the
//! two role fields it leaves out (description and longest session). The engine lists each
//! resource type separately and concurrently; they all share one snapshot, fetched once. Any
//! write through the provider makes the snapshot stale, and it never outlives 30 seconds, so a
//! listing never shows what the provider itself has just changed.

use breakglass_provider::ProviderError;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};
use tokio::sync::Mutex;

use crate::client::AwsClient;
use crate::iam::{self, Filter, GroupDetail, PolicyDetail, Role, RoleDetail, UserDetail};

/// How long a snapshot may be reused.
const FRESH_FOR: Duration = Duration::from_secs(30);

/// The account's IAM at one moment.
#[derive(Debug, Default)]
pub struct Snapshot {
    /// Roles by name.
    pub roles: BTreeMap<String, RoleDetail>,
    /// `ListRoles` entries by name (description, longest session).
    pub role_summaries: BTreeMap<String, Role>,
    /// Users by name.
    pub users: BTreeMap<String, UserDetail>,
    /// Groups by name.
    pub groups: BTreeMap<String, GroupDetail>,
    /// Customer managed policies by ARN.
    pub policies: BTreeMap<String, PolicyDetail>,
}

impl Snapshot {
    /// Reads the account: `GetAccountAuthorizationDetails` and `ListRoles`, every page.
    pub async fn fetch(client: &AwsClient) -> Result<Self, ProviderError> {
        let filters = [Filter::Role, Filter::User, Filter::Group, Filter::LocalManagedPolicy];
        let details = iam::authorization_details(client, &filters).await?;
        let summaries = iam::list_roles(client).await?;
        Ok(Self {
            roles: details
                .role_detail_list
                .member
                .into_iter()
                .map(|r| (r.role_name.clone(), r))
                .collect(),
            role_summaries: summaries.into_iter().map(|r| (r.role_name.clone(), r)).collect(),
            users: details
                .user_detail_list
                .member
                .into_iter()
                .map(|u| (u.user_name.clone(), u))
                .collect(),
            groups: details
                .group_detail_list
                .member
                .into_iter()
                .map(|g| (g.group_name.clone(), g))
                .collect(),
            policies: details.policies.member.into_iter().map(|p| (p.arn.clone(), p)).collect(),
        })
    }
}

/// The shared snapshot and what makes it stale.
#[derive(Debug, Default)]
pub struct SnapshotCache {
    generation: AtomicU64,
    current: Mutex<Option<(u64, Instant, Arc<Snapshot>)>>,
}

impl SnapshotCache {
    /// The snapshot, fetched through `client` unless a fresh one is at hand. Concurrent
    /// callers wait for one fetch.
    pub async fn get(&self, client: &AwsClient) -> Result<Arc<Snapshot>, ProviderError> {
        let mut current = self.current.lock().await;
        let generation = self.generation.load(Ordering::SeqCst);
        if let Some((taken_at, when, snapshot)) = current.as_ref()
            && *taken_at == generation
            && when.elapsed() < FRESH_FOR
        {
            return Ok(snapshot.clone());
        }
        let snapshot = Arc::new(Snapshot::fetch(client).await?);
        *current = Some((generation, Instant::now(), snapshot.clone()));
        Ok(snapshot)
    }

    /// Marks the snapshot stale (after a write).
    pub fn invalidate(&self) {
        self.generation.fetch_add(1, Ordering::SeqCst);
    }
}
