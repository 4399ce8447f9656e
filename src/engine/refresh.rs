//! Reading live objects: every object desired or in state, concurrently, with `list` where the
//! provider offers it so a whole account is read in a few paged calls.

use breakglass_provider::{Attributes, IdRequest, ListRequest, ReadRequest};
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::sync::Arc;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

use super::compile::Desired;
use super::error::EngineError;
use super::progress::Progress;
use super::providers::Providers;
use super::sorted::merge_sorted;
use crate::address::Address;
use crate::state::State;

/// A map keyed by address, hashed with a fast non-cryptographic hasher: addresses come from
/// the policy and state, not from an adversary, and there are 100,000 of them at scale.
pub type AddressMap<V> = HashMap<Address, V, foldhash::fast::RandomState>;

/// Live objects by resource type, then id. Resource types are unique across providers (each
/// starts with its provider's name), so they need no provider beside them, and lookups borrow
/// instead of building a key.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LiveObjects {
    by_type: BTreeMap<String, BTreeMap<String, Attributes>>,
    count: usize,
}

impl LiveObjects {
    /// The object `id` of `resource_type`, if it exists.
    pub fn get(&self, resource_type: &str, id: &str) -> Option<&Attributes> {
        self.by_type.get(resource_type)?.get(id)
    }

    /// Whether object `id` of `resource_type` exists.
    pub fn contains(&self, resource_type: &str, id: &str) -> bool {
        self.get(resource_type, id).is_some()
    }

    /// Records an object.
    pub fn insert(
        &mut self,
        resource_type: impl Into<String>,
        id: impl Into<String>,
        attributes: Attributes,
    ) {
        if self
            .by_type
            .entry(resource_type.into())
            .or_default()
            .insert(id.into(), attributes)
            .is_none()
        {
            self.count += 1;
        }
    }

    /// Rebuilds each type's map in one go, once every object is in: inserted one at a time,
    /// nodes are left part empty (5 MiB at 100,000 objects read in order).
    pub fn pack(&mut self) {
        for objects in self.by_type.values_mut() {
            *objects = std::mem::take(objects).into_iter().collect();
        }
    }

    /// How many objects.
    pub fn len(&self) -> usize {
        self.count
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// Every object: `(resource type, id, attributes)`, sorted.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str, &Attributes)> {
        self.by_type.iter().flat_map(|(resource_type, objects)| {
            objects
                .iter()
                .map(move |(id, attributes)| (resource_type.as_str(), id.as_str(), attributes))
        })
    }
}

/// How many ids one `read` call is given.
const READ_BATCH: usize = 25;

/// What an address is known by.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    /// The id the object is known by: from state if breakglass made it, else the natural id.
    pub id: String,
    natural: Natural,
}

/// The natural id, kept only where it differs from the id (a replacement): at 100,000
/// addresses, a second copy of nearly every id.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Natural {
    /// Only in state: no desired attributes to derive one from.
    Unknown,
    /// The same as the id.
    Same,
    /// Another id.
    Other(String),
}

impl Identity {
    /// An address only in state, known by the id breakglass recorded.
    pub fn recorded(id: String) -> Self {
        Self { id, natural: Natural::Unknown }
    }

    /// A desired address: known by `id`, its attributes naming `natural`.
    pub fn desired(id: String, natural: String) -> Self {
        let natural = if natural == id { Natural::Same } else { Natural::Other(natural) };
        Self { id, natural }
    }

    /// The natural id of the desired attributes; `None` for an address only in state.
    pub fn natural(&self) -> Option<&str> {
        match &self.natural {
            Natural::Unknown => None,
            Natural::Same => Some(&self.id),
            Natural::Other(natural) => Some(natural),
        }
    }
}

/// What refresh found.
#[derive(Debug, Clone, Default)]
pub struct Live {
    /// What each address desired or in state is known by (one map, one copy of each address:
    /// 100,000 of them at scale).
    pub ids: AddressMap<Identity>,
    /// Every object read; absent means not found.
    pub objects: LiveObjects,
    /// Types read in full with `list`, where undeclared objects can be seen.
    pub listed: BTreeSet<String>,
    /// Listed objects the provider says grant privileged access, by type.
    pub privileged: BTreeMap<String, BTreeSet<String>>,
    /// Whether providers were asked at all (`--refresh=false` uses state instead).
    pub refreshed: bool,
    /// API calls made.
    pub api_calls: u64,
}

impl Live {
    /// The id `address` is known by: from state if breakglass made it, else the natural id of
    /// its desired attributes.
    pub fn id(&self, address: &Address) -> Option<&str> {
        self.ids.get(address).map(|identity| identity.id.as_str())
    }

    /// The natural id of a desired object's attributes (differs from [`Live::id`] when an
    /// attribute that identifies the object changed: a replacement); `None` for an address
    /// that is only in state.
    pub fn natural_id(&self, address: &Address) -> Option<&str> {
        self.ids.get(address)?.natural()
    }

    /// Every desired address with its natural id.
    pub fn natural_ids(&self) -> impl Iterator<Item = (&Address, &str)> {
        self.ids.iter().filter_map(|(address, identity)| Some((address, identity.natural()?)))
    }

    /// The live object at `address`, if it exists.
    pub fn object(
        &self,
        address: &Address,
        provider: &str,
        resource_type: &str,
    ) -> Option<&Attributes> {
        let _ = provider;
        self.objects.get(resource_type, self.id(address)?)
    }

    /// The objects desired addresses stand for, by type and natural id: an object recorded
    /// under an address no longer desired, but wanted under another, is handed over, not deleted.
    pub fn claimed(&self) -> HashSet<(&str, &str), foldhash::fast::RandomState> {
        self.natural_ids().map(|(address, id)| (address.resource_type(), id)).collect()
    }

    /// Whether a listed object grants privileged access.
    pub fn is_privileged(&self, resource_type: &str, id: &str) -> bool {
        self.privileged.get(resource_type).is_some_and(|ids| ids.contains(id))
    }
}

/// What to read of each provider and type: ids, and the scope of a listing. Borrowed from the
/// desired resources, state and identities: at 100,000 objects, copying each one's key and id
/// into ordered sets took a tenth of a second of a whole `plan`.
type Groups<'a> = BTreeMap<(&'a str, &'a str), (IdSet<'a>, Scope)>;

/// The distinct ids of one group.
type IdSet<'a> = HashSet<&'a str, foldhash::fast::RandomState>;

/// The group of `provider`'s `resource_type`, made on first use with what its listing reads.
fn group<'g, 'a>(
    groups: &'g mut Groups<'a>,
    providers: &Providers,
    provider: &'a str,
    resource_type: &'a str,
) -> &'g mut (IdSet<'a>, Scope) {
    groups.entry((provider, resource_type)).or_insert_with(|| {
        let wanted =
            providers.get(provider).ok().and_then(|provider| provider.list_scope(resource_type));
        (IdSet::default(), Scope::new(wanted))
    })
}

/// The scope of one type's listing: each object's attributes, or only those the provider's
/// `list` reads, once per distinct value.
struct Scope {
    /// What `list` reads; `None`: everything.
    wanted: Option<&'static [&'static str]>,
    /// The projections seen, rendered, so each goes in once.
    seen: HashSet<String, foldhash::fast::RandomState>,
    /// What `list` is given.
    entries: Vec<Attributes>,
}

impl Scope {
    fn new(wanted: Option<&'static [&'static str]>) -> Self {
        Self { wanted, seen: HashSet::default(), entries: Vec::new() }
    }

    fn add(&mut self, attributes: &Attributes) {
        let Some(wanted) = self.wanted else {
            self.entries.push(attributes.clone());
            return;
        };
        if wanted.is_empty() {
            return;
        }
        let projected: Attributes = wanted
            .iter()
            .filter_map(|name| Some((*name, attributes.get(*name)?.clone())))
            .collect();
        if !projected.is_empty()
            && self.seen.insert(serde_json::to_string(&projected).unwrap_or_default())
        {
            self.entries.push(projected);
        }
    }
}

/// Works out each address's id: from state where breakglass made the object, else the natural
/// id of its desired attributes. The first step of [`refresh`]; no provider is called.
pub fn identify(
    desired: &Desired,
    state: &State,
    providers: &Providers,
) -> Result<Live, EngineError> {
    let mut live = Live::default();
    live.ids.reserve(desired.resources.len().max(state.resources.len()));
    for (address, wanted, recorded) in
        merge_sorted(desired.resources.iter(), state.resources.iter())
    {
        let Some(resource) = wanted else {
            if let Some(recorded) = recorded {
                live.ids.insert(address.clone(), Identity::recorded(recorded.id.clone()));
            }
            continue;
        };
        let natural = match &resource.natural_id {
            Some(id) => id.clone(),
            None => providers
                .get(&resource.provider)?
                .resource_id(IdRequest::new(&resource.resource_type, &resource.attributes))
                .map_err(|error| EngineError::Provider { context: address.to_string(), error })?,
        };
        let id = recorded.map_or_else(|| natural.clone(), |s| s.id.clone());
        live.ids.insert(address.clone(), Identity::desired(id, natural));
    }
    Ok(live)
}

/// Reads every object desired or in state. With `refresh` false, takes state's records as live
/// instead and calls no provider.
pub async fn refresh(
    desired: &Desired,
    state: &State,
    providers: &Providers,
    parallelism: usize,
    refresh: bool,
    progress: Arc<dyn Progress>,
) -> Result<Live, EngineError> {
    read_live(desired, state, providers, parallelism, refresh, true, progress).await
}

/// Like [`refresh`], reading each object by id, never listing a whole type: for one
/// activation's few objects, a listing would read the whole account to find them.
pub async fn refresh_by_id(
    desired: &Desired,
    state: &State,
    providers: &Providers,
    parallelism: usize,
    progress: Arc<dyn Progress>,
) -> Result<Live, EngineError> {
    read_live(desired, state, providers, parallelism, true, false, progress).await
}

async fn read_live(
    desired: &Desired,
    state: &State,
    providers: &Providers,
    parallelism: usize,
    refresh: bool,
    listing: bool,
    progress: Arc<dyn Progress>,
) -> Result<Live, EngineError> {
    let mut live = identify(desired, state, providers)?;
    if !refresh {
        for recorded in state.resources.values() {
            live.objects.insert(
                recorded.resource_type.clone(),
                recorded.id.clone(),
                recorded.attributes.clone(),
            );
        }
        return Ok(live);
    }
    live.refreshed = true;

    // What to read, grouped by provider and type, with the desired and recorded attributes as
    // list scope (cut down to what the provider's `list` reads).
    let mut groups: Groups = BTreeMap::new();
    for (address, resource) in &desired.resources {
        let group = group(&mut groups, providers, &resource.provider, &resource.resource_type);
        let identity = &live.ids[address];
        group.0.insert(&identity.id);
        if let Some(natural) = identity.natural() {
            group.0.insert(natural);
        }
        group.1.add(&resource.attributes);
    }
    for recorded in state.resources.values() {
        let group = group(&mut groups, providers, &recorded.provider, &recorded.resource_type);
        group.0.insert(&recorded.id);
        group.1.add(&recorded.attributes);
    }
    if listing {
        // Types a role can grant are listed even with nothing of them declared or recorded: a
        // privileged object made by hand is drift whether or not the baseline names its type.
        for (provider, resource_type) in &desired.watched {
            let listable = providers
                .resource_schema(provider, resource_type)
                .is_some_and(|schema| schema.listable);
            if listable && providers.get(provider).is_ok() {
                group(&mut groups, providers, provider, resource_type);
            }
        }
    }
    let total: usize = groups.values().map(|(ids, _)| ids.len()).sum();
    progress.refresh_started(total);

    let semaphore = Arc::new(Semaphore::new(parallelism.max(1)));
    let mut tasks = JoinSet::new();
    for ((provider_name, resource_type), (ids, scope)) in groups {
        let scope = scope.entries;
        let provider = providers.get(provider_name)?.clone();
        let listable = listing
            && providers
                .resource_schema(provider_name, resource_type)
                .is_some_and(|schema| schema.listable);
        let (provider_name, resource_type) = (provider_name.to_owned(), resource_type.to_owned());
        if listable {
            let semaphore = semaphore.clone();
            let progress = progress.clone();
            let count = ids.len();
            tasks.spawn(async move {
                let _permit = semaphore.acquire_owned().await;
                let response = provider
                    .list(ListRequest::new(resource_type.clone(), scope))
                    .await
                    .map_err(|error| EngineError::Provider {
                        context: format!("listing {resource_type}"),
                        error,
                    })?;
                progress.refresh_advanced(count);
                Ok::<_, EngineError>((
                    provider_name,
                    resource_type,
                    true,
                    response.objects,
                    response.api_calls,
                    response.privileged,
                ))
            });
            continue;
        }
        let mut ids: Vec<&str> = ids.into_iter().collect();
        ids.sort_unstable();
        for batch in ids.chunks(READ_BATCH) {
            let batch: Vec<String> = batch.iter().map(|id| (*id).to_owned()).collect();
            let provider = provider.clone();
            let semaphore = semaphore.clone();
            let progress = progress.clone();
            let (provider_name, resource_type) = (provider_name.clone(), resource_type.clone());
            tasks.spawn(async move {
                let _permit = semaphore.acquire_owned().await;
                let count = batch.len();
                let response = provider
                    .read(ReadRequest::new(resource_type.clone(), batch))
                    .await
                    .map_err(|error| EngineError::Provider {
                        context: format!("reading {resource_type}"),
                        error,
                    })?;
                progress.refresh_advanced(count);
                Ok::<_, EngineError>((
                    provider_name,
                    resource_type,
                    false,
                    response.objects,
                    response.api_calls,
                    BTreeSet::new(),
                ))
            });
        }
    }
    while let Some(joined) = tasks.join_next().await {
        let (provider_name, resource_type, listed, objects, calls, privileged) = joined
            .map_err(|error| EngineError::Refused(format!("a refresh task failed: {error}")))??;
        live.api_calls += calls;
        let _ = provider_name;
        if listed {
            live.listed.insert(resource_type.clone());
        }
        if !privileged.is_empty() {
            live.privileged.entry(resource_type.clone()).or_default().extend(privileged);
        }
        for (id, attributes) in objects {
            live.objects.insert(resource_type.clone(), id, attributes);
        }
    }
    live.objects.pack();
    progress.refresh_finished(total, live.api_calls);
    Ok(live)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn attributes(value: serde_json::Value) -> Attributes {
        serde_json::from_value(value).unwrap()
    }

    #[test]
    fn a_listing_scope_holds_what_the_provider_reads_once_per_value() {
        let objects = [
            attributes(json!({"project_id": "p1", "user_id": "u1", "role": "owner"})),
            attributes(json!({"project_id": "p1", "user_id": "u2", "role": "member"})),
            attributes(json!({"project_id": "p2", "user_id": "u1", "role": "member"})),
            attributes(json!({"user_id": "u3"})),
        ];
        let scope_of = |wanted| {
            let mut scope = Scope::new(wanted);
            for object in &objects {
                scope.add(object);
            }
            scope.entries
        };
        // Cut down to what `list` reads, each distinct value once; nothing for an object
        // without it.
        assert_eq!(
            scope_of(Some(&["project_id"])),
            [attributes(json!({"project_id": "p1"})), attributes(json!({"project_id": "p2"})),]
        );
        // Whole, by default.
        assert_eq!(scope_of(None), objects);
        // None, for a provider that lists everything.
        assert!(scope_of(Some(&[])).is_empty());
    }
}
