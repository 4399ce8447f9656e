//! `desired(t) = baseline ⊕ every activation live at t`.
//!
//! Compiling needs no provider: it turns the policy and the state's activation records into the
//! set of objects that should exist at time `t`, each with the reason it is there. An activation
//! that has ended is simply absent from the result, so reverting it is the ordinary diff; an
//! override that has ended asks for the values it replaced to be written back.

use breakglass_provider::{ActivationContext, Attributes, ChangeContext, Value};
use jiff::Timestamp;
use std::collections::btree_map::Entry;
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::sync::Arc;

use super::error::EngineError;
use super::parallel::in_chunks;
use super::providers::Providers;
use crate::activation::{
    Activation, ActivationKind, ActivationSource, ActivationStatus, Revocation,
};
use crate::address::{Address, ResourceAddress};
use crate::plan::Reason;
use crate::policy::blocks::{DriftMode, GrantTarget, ResourceTemplate};
use crate::policy::context::{self, ActivationVars};
use crate::policy::resolve::evaluate_template;
use crate::policy::{Policy, ReferenceKind};
use crate::state::State;

/// One object that should exist.
#[derive(Debug, Clone, PartialEq)]
pub struct DesiredResource {
    /// The provider that manages it.
    pub provider: String,
    /// Its resource type.
    pub resource_type: String,
    /// The attributes it should have (real values, secrets included: never stored or printed).
    pub attributes: Attributes,
    /// What it must come after.
    pub depends_on: Vec<Address>,
    /// Why it has these attributes: the baseline, or the activation that grants or reverts it.
    pub cause: Cause,
    /// What to do about drift.
    pub drift: DriftMode,
    /// For a baseline object an ended override changed: what it set and what was there
    /// before, so a value someone else changed meanwhile is reported, not clobbered.
    pub restore: Option<Box<Restore>>,
    /// The provider's natural id of the object, when compiling already had to ask for it.
    pub natural_id: Option<String>,
}

/// Why a desired object has its attributes. The activation is shared with the desired state's
/// map, not copied: 100,000 objects at scale, each of which would otherwise carry its reason
/// and provider context as strings of their own.
#[derive(Debug, Clone, PartialEq)]
pub enum Cause {
    /// The baseline declares it so.
    Baseline,
    /// A live activation adds it (role) or sets it (override).
    Grant(Arc<Activation>),
    /// An ended override's activation is putting back what it replaced.
    Revert(Arc<Activation>),
}

impl DesiredResource {
    /// Why it has these attributes, as a plan says it.
    pub fn reason(&self) -> Reason {
        match &self.cause {
            Cause::Baseline => Reason::Baseline,
            Cause::Grant(activation) => start_reason(activation),
            Cause::Revert(activation) => revert_reason(activation),
        }
    }

    /// The activation that adds it (role) or changes it (override), if any.
    pub fn activation(&self) -> Option<&str> {
        match &self.cause {
            Cause::Baseline => None,
            Cause::Grant(activation) | Cause::Revert(activation) => Some(&activation.id),
        }
    }

    /// What provider writes should know (activation end for native expiry; revert).
    pub fn context(&self) -> ChangeContext {
        match &self.cause {
            Cause::Baseline => ChangeContext::baseline(),
            Cause::Grant(activation) => ChangeContext::grant(activation_context(activation)),
            Cause::Revert(activation) => {
                ChangeContext::revert(Some(activation_context(activation)))
            }
        }
    }

    /// Whether only the baseline asks for it.
    pub fn is_baseline(&self) -> bool {
        self.cause == Cause::Baseline
    }
}

/// What an ended override is putting back on one object.
#[derive(Debug, Clone, PartialEq)]
pub struct Restore {
    /// The override's activation.
    pub activation: String,
    /// The values the override set.
    pub overridden: Attributes,
    /// The values read before it set them.
    pub prior: Attributes,
}

/// An object someone changed outside breakglass while an activation held it. breakglass does
/// not fight a person over it: the object is left as it is, and the conflict is reported (by
/// plan, by reconcile's exit code, in the activation's flags).
#[derive(Debug, Clone, PartialEq)]
pub struct Conflict {
    /// The activation that held it.
    pub activation: String,
    /// Whether that is a role's grant or an override.
    pub kind: ActivationKind,
    /// The object.
    pub address: Address,
    /// What was changed.
    pub change: HandChange,
}

/// What a person changed on an object an activation held.
#[derive(Debug, Clone, PartialEq)]
pub enum HandChange {
    /// An ended override's value was changed while it was live: its revert would overwrite it.
    Overridden(Box<OverriddenValue>),
    /// Attributes of an object a live grant created were changed (a role lowered, say):
    /// granting them again would undo the person's decision.
    Changed {
        /// Each attribute: what the grant set, what is there now.
        attributes: Vec<(String, Value, Value)>,
    },
    /// An object a live grant created was removed: creating it again would undo the removal.
    Removed,
}

/// An overridden value a person changed while the override held it.
#[derive(Debug, Clone, PartialEq)]
pub struct OverriddenValue {
    /// The attribute.
    pub attribute: String,
    /// What the override set.
    pub overridden: Value,
    /// What is there now.
    pub live: Value,
    /// What the revert would have written back.
    pub prior: Value,
}

impl Conflict {
    /// One line for an activation's flags and reconcile's report.
    pub fn describe(&self) -> String {
        let show = |value: &Value| match value {
            Value::String(text) => format!("{text:?}"),
            other => other.to_string(),
        };
        match &self.change {
            HandChange::Overridden(value) => format!(
                "conflict: {}.{attribute} was changed to {} outside breakglass while the override \
                 held {}; left as is instead of restoring {}",
                self.address,
                show(&value.live),
                show(&value.overridden),
                show(&value.prior),
                attribute = value.attribute,
            ),
            HandChange::Changed { attributes } => format!(
                "conflict: {} was changed outside breakglass while activation {} held it ({}); \
                 left as is, not granted again",
                self.address,
                self.activation,
                attributes
                    .iter()
                    .map(|(name, held, live)| format!("{name} {} -> {}", show(held), show(live)))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            HandChange::Removed => format!(
                "conflict: {} was removed outside breakglass while activation {} held it; left \
                 removed, not granted again",
                self.address, self.activation
            ),
        }
    }
}

/// The desired state at one time.
#[derive(Debug, Clone, Default)]
pub struct Desired {
    /// The time it was computed for.
    pub at: Timestamp,
    /// Every object that should exist, by address.
    pub resources: BTreeMap<Address, DesiredResource>,
    /// Every activation as it stands at `at`: state's records, grant windows taken from the
    /// policy, and new activations from grants now due.
    pub activations: BTreeMap<String, Arc<Activation>>,
    /// Activations that start with this plan (grants now due, not yet in state).
    pub starting: Vec<String>,
    /// Providers whose block says `drift = "revert"`: privileged objects nothing grants are
    /// removed there.
    pub revert_unmanaged: BTreeSet<String>,
    /// `(provider, type)` of every type a role can grant. A full refresh lists these even when
    /// no object of the type is declared or recorded, so a privileged object made by hand (a
    /// `cluster-admin` binding nobody declared) is still seen and reported as drift.
    pub watched: BTreeSet<(String, String)>,
    /// Reverts left undone because someone changed the value meanwhile (filled by
    /// [`resolve_conflicts`] once live values are known).
    pub conflicts: Vec<Conflict>,
}

impl Desired {
    /// The activations whose grant must be taken back at `at`.
    pub fn ending(&self) -> impl Iterator<Item = &Activation> {
        self.activations.values().map(|a| &**a).filter(|a| a.needs_revert_at(self.at))
    }
}

/// The activation id of a grant block.
pub fn grant_activation_id(grant: &str) -> String {
    format!("grant_{grant}")
}

/// The reason a change takes back what `activation` gave.
pub fn revert_reason(activation: &Activation) -> Reason {
    match &activation.revoked {
        Some(revocation) => Reason::ActivationRevoked {
            activation: activation.id.clone(),
            activation_kind: activation.kind.as_str().to_owned(),
            name: activation.name.clone(),
            requester: activation.requester.clone(),
            by: revocation.by.clone(),
        },
        None => Reason::ActivationExpired {
            activation: activation.id.clone(),
            activation_kind: activation.kind.as_str().to_owned(),
            name: activation.name.clone(),
            requester: activation.requester.clone(),
            end: activation.end,
        },
    }
}

fn start_reason(activation: &Activation) -> Reason {
    Reason::ActivationStarts {
        activation: activation.id.clone(),
        activation_kind: activation.kind.as_str().to_owned(),
        name: activation.name.clone(),
        requester: activation.requester.clone(),
        end: activation.end,
    }
}

fn activation_context(activation: &Activation) -> ActivationContext {
    ActivationContext::new(
        activation.id.clone(),
        activation.requester.clone(),
        activation.start,
        activation.end,
    )
}

fn revoked_by_policy(activation: &mut Arc<Activation>, at: Timestamp, why: &str) {
    if activation.revoked.is_none() {
        Arc::make_mut(activation).revoked =
            Some(Revocation { at, by: "policy".to_owned(), reason: why.to_owned() });
    }
}

/// Every activation as it stands at `at`.
fn effective_activations(
    policy: &Policy,
    state: &State,
    at: Timestamp,
) -> (BTreeMap<String, Arc<Activation>>, Vec<String>) {
    // Shared with state; only those the policy changes are copied.
    let mut activations = state.activations.clone();
    for shared in activations.values_mut() {
        if shared.status == ActivationStatus::Reverted {
            continue;
        }
        // A grant's window is what the policy says now: a reviewed edit moves it.
        if let ActivationSource::Grant { name } = &shared.source {
            match policy.grants.get(name) {
                Some(grant) => {
                    let (start, end) = (grant.start.value, grant.end.value);
                    if (shared.start, shared.end) != (start, end) {
                        let activation = Arc::make_mut(shared);
                        activation.start = start;
                        activation.end = end;
                    }
                }
                None => revoked_by_policy(shared, at, "its grant block was removed"),
            }
        }
        let still_declared = match shared.kind {
            ActivationKind::Role => policy.roles.contains_key(&shared.name),
            ActivationKind::Override => policy.overrides.contains_key(&shared.name),
        };
        if !still_declared {
            revoked_by_policy(shared, at, "its role or override was removed from the policy");
        }
    }
    let mut starting = Vec::new();
    for grant in policy.grants.values() {
        let id = grant_activation_id(&grant.name);
        let due = grant.start.value <= at && at < grant.end.value;
        if activations.contains_key(&id) || !due {
            continue;
        }
        let (kind, name) = match &grant.target {
            GrantTarget::Role(reference) => (ActivationKind::Role, reference.name.clone()),
            GrantTarget::Override(reference) => (ActivationKind::Override, reference.name.clone()),
        };
        activations.insert(
            id.clone(),
            Arc::new(Activation {
                id: id.clone(),
                kind,
                name,
                requester: grant
                    .to
                    .as_ref()
                    .map_or_else(|| "policy".to_owned(), |to| to.name.clone()),
                justification: grant.justification.clone(),
                start: grant.start.value,
                end: grant.end.value,
                status: ActivationStatus::Applying,
                source: crate::activation::ActivationSource::Grant { name: grant.name.clone() },
                approvals: Vec::new(),
                auto_approved: false,
                authentication: vec!["reviewed in git".to_owned()],
                priors: BTreeMap::new(),
                created_at: at,
                activated_at: None,
                revoked: None,
                reverted_at: None,
                revert_attempts: 0,
                last_error: None,
                extensions: Vec::new(),
                flags: Vec::new(),
            }),
        );
        starting.push(id);
    }
    (activations, starting)
}

/// How to compile.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CompileOptions {
    /// Treat activations still recorded as `applying` as interrupted (reconcile, watch).
    pub revert_interrupted: bool,
    /// Compile only what the activations in `state` (a scoped read) and `extra` touch: their
    /// grants, and the baseline objects they override or state records; no planned grant
    /// starts. One activation's work (an emergency apply, a revoke, one revert) then costs the
    /// same whatever the size of the whole state.
    pub scoped: bool,
}

/// Computes the desired state at `at`. `extra` is an activation being applied right now (an
/// emergency request), treated as live.
pub fn compile(
    policy: &Policy,
    state: &State,
    providers: &Providers,
    at: Timestamp,
    extra: Option<&Activation>,
    revert_interrupted: bool,
) -> Result<Desired, EngineError> {
    compile_with(
        policy,
        state,
        providers,
        at,
        extra,
        CompileOptions { revert_interrupted, scoped: false },
    )
}

/// The baseline addresses a scoped compile keeps: what state recorded, and what the overrides
/// among `activations` change.
fn scoped_baseline(
    policy: &Policy,
    state: &State,
    activations: &BTreeMap<String, Arc<Activation>>,
) -> BTreeSet<ResourceAddress> {
    let mut wanted: BTreeSet<ResourceAddress> = state
        .resources
        .keys()
        .filter(|address| address.is_baseline())
        .map(|address| address.resource.clone())
        .collect();
    for activation in activations.values().filter(|a| a.kind == ActivationKind::Override) {
        wanted.extend(activation.priors.keys().map(|address| address.resource.clone()));
        for change in policy.overrides.get(&activation.name).into_iter().flat_map(|o| &o.changes) {
            if let ReferenceKind::Resource(resource_type) = &change.resource.kind {
                wanted.insert(ResourceAddress::new(
                    resource_type.clone(),
                    change.resource.name.clone(),
                ));
            }
        }
    }
    wanted
}

/// [`compile`], with options.
pub fn compile_with(
    policy: &Policy,
    state: &State,
    providers: &Providers,
    at: Timestamp,
    extra: Option<&Activation>,
    options: CompileOptions,
) -> Result<Desired, EngineError> {
    let revert_interrupted = options.revert_interrupted;
    let (mut activations, mut starting) = effective_activations(policy, state, at);
    if options.scoped {
        // No planned grant starts in one activation's work.
        for id in starting.drain(..) {
            activations.remove(&id);
        }
    }
    if revert_interrupted {
        for shared in activations.values_mut() {
            let interrupted =
                shared.status == ActivationStatus::Applying && !starting.contains(&shared.id);
            if interrupted && shared.revoked.is_none() {
                Arc::make_mut(shared).revoked = Some(Revocation {
                    at,
                    by: "executor".to_owned(),
                    reason: "its apply did not finish; reverted for safety".to_owned(),
                });
            }
        }
    }
    if let Some(extra) = extra {
        activations.insert(extra.id.clone(), Arc::new(extra.clone()));
    }
    let baseline = options.scoped.then(|| scoped_baseline(policy, state, &activations));
    let mut resources = BTreeMap::new();
    for (address, declaration) in &policy.resources {
        if baseline.as_ref().is_some_and(|wanted| !wanted.contains(address)) {
            continue;
        }
        let depends_on = declaration
            .depends_on
            .iter()
            .chain(&declaration.implicit_dependencies)
            .filter_map(|reference| match &reference.kind {
                ReferenceKind::Resource(resource_type) => Some(Address::baseline(
                    ResourceAddress::new(resource_type.clone(), reference.name.clone()),
                )),
                _ => None,
            })
            .collect();
        resources.insert(
            Address::baseline(address.clone()),
            DesiredResource {
                provider: address.provider().to_owned(),
                resource_type: address.resource_type.to_string(),
                attributes: declaration.attributes.clone(),
                depends_on,
                cause: Cause::Baseline,
                drift: declaration.drift,
                restore: None,
                natural_id: None,
            },
        );
    }

    let roots = context::template_roots(policy);
    let template_base = context::template_base(policy, &roots);
    // Building the `activation` value per activation is a tenth of compiling 60,000 of them;
    // skipped when no template uses it.
    let declares_activation = roots.contains("activation");
    let mut live: Vec<&Arc<Activation>> =
        activations.values().filter(|a| a.is_live_at(at)).collect();
    live.sort_by(|a, b| (a.start, &a.id).cmp(&(b.start, &b.id)));

    // Overrides that ended put back what they replaced, unless a live override sets it again
    // (applied below, later ones winning).
    for activation in activations.values().filter(|a| a.needs_revert_at(at)) {
        if activation.kind != ActivationKind::Override {
            continue;
        }
        for (address, prior) in &activation.priors {
            let Some(resource) = resources.get_mut(address) else { continue };
            let declared =
                policy.resources.get(&address.resource).map(|declaration| &declaration.attributes);
            for (name, value) in prior {
                if declared.is_none_or(|attributes| !attributes.contains_key(name)) {
                    resource.attributes.insert(name.clone(), value.clone());
                }
            }
            let overridden: Attributes = policy
                .overrides
                .get(&activation.name)
                .into_iter()
                .flat_map(|o| &o.changes)
                .filter(|change| {
                    change.resource.kind.keyword() == address.resource.resource_type
                        && change.resource.name == address.resource.name
                })
                .flat_map(|change| change.set.value.clone())
                .collect();
            resource.restore = Some(Box::new(Restore {
                activation: activation.id.clone(),
                overridden,
                prior: resource
                    .attributes
                    .iter()
                    .filter(|(name, _)| prior.contains_key(*name))
                    .map(|(name, value)| (name.clone(), value.clone()))
                    .collect(),
            }));
            resource.cause = Cause::Revert(Arc::clone(activation));
        }
    }

    // Live overrides, in order (later ones winning), on the declared objects.
    for activation in live.iter().filter(|a| a.kind == ActivationKind::Override) {
        let Some(override_) = policy.overrides.get(&activation.name) else { continue };
        for change in &override_.changes {
            let ReferenceKind::Resource(resource_type) = &change.resource.kind else {
                continue;
            };
            let address = Address::baseline(ResourceAddress::new(
                resource_type.clone(),
                change.resource.name.clone(),
            ));
            let Some(resource) = resources.get_mut(&address) else { continue };
            for (name, value) in change.set.iter() {
                resource.attributes.insert(name.as_str().into(), value.clone());
            }
            // A live override supersedes an ended one's restore of the same object.
            resource.restore = None;
            resource.cause = Cause::Grant(Arc::clone(activation));
        }
    }

    // Granted resources are gathered, each activation's on its own (runs of them go to the
    // cores), then sorted into the map at once: cheaper than 60,000 ordered inserts at scale.
    // Their addresses never collide with baseline ones.
    let roles: Vec<&Arc<Activation>> =
        live.into_iter().filter(|a| a.kind == ActivationKind::Role).collect();
    let runs = in_chunks(&roles, GRANTS_PER_THREAD, |run| {
        grants(policy, providers, &template_base, declares_activation, run)
    });
    let mut granted = Vec::with_capacity(runs.iter().flatten().map(Vec::len).sum());
    for run in runs {
        granted.extend(run?);
    }
    // Sorted by index: the entries are large, and a sort that moves them costs more than it
    // compares.
    let mut order: Vec<usize> = (0..granted.len()).collect();
    order.sort_unstable_by(|&a, &b| granted[a].0.cmp(&granted[b].0));
    let mut slots: Vec<Option<(Address, DesiredResource)>> =
        granted.into_iter().map(Some).collect();
    resources.append(&mut order.into_iter().filter_map(|i| slots[i].take()).collect());
    let revert_unmanaged = policy
        .providers
        .iter()
        .filter(|(_, block)| block.drift == DriftMode::Revert)
        .map(|(name, _)| name.clone())
        .collect();
    let watched = policy
        .roles
        .values()
        .flat_map(|role| &role.resources)
        .map(|template| {
            (template.address.provider().to_owned(), template.address.resource_type.to_string())
        })
        .collect();
    share_overlapping_grants(&mut resources, &activations, providers);
    Ok(Desired {
        at,
        resources,
        activations,
        starting,
        revert_unmanaged,
        watched,
        conflicts: Vec::new(),
    })
}

/// Below this many live role activations per core, granting stays on one thread.
const GRANTS_PER_THREAD: usize = 2_000;

/// The objects `activations` (live, of roles) grant, with their addresses, in order.
fn grants(
    policy: &Policy,
    providers: &Providers,
    template_base: &hcl::eval::Context<'static>,
    declares_activation: bool,
    activations: &[&Arc<Activation>],
) -> Result<Vec<(Address, DesiredResource)>, EngineError> {
    let mut granted = Vec::with_capacity(
        activations
            .iter()
            .filter_map(|a| policy.roles.get(&a.name))
            .map(|role| role.resources.len())
            .sum(),
    );
    let mut contexts: BTreeMap<&str, hcl::eval::Context<'static>> = BTreeMap::new();
    for activation in activations {
        let Some(role) = policy.roles.get(&activation.name) else { continue };
        let Some(requester) = policy.persons.get(&activation.requester) else {
            return Err(EngineError::Refused(format!(
                "activation {} is for {}, who is no longer a person in the policy",
                activation.id, activation.requester
            )));
        };
        let vars = ActivationVars {
            id: &activation.id,
            role: &activation.name,
            start: activation.start,
            end: activation.end,
            justification: &activation.justification,
        };
        // One context per requester; only `activation` changes between activations.
        let template_context = match contexts.entry(requester.name.as_str()) {
            Entry::Occupied(entry) => {
                let template_context = entry.into_mut();
                if declares_activation {
                    context::declare_activation(template_context, requester, &vars);
                }
                template_context
            }
            Entry::Vacant(entry) => {
                entry.insert(context::template_context(template_base, requester, &vars))
            }
        };
        for template in &role.resources {
            let address =
                Address::in_activation(&role.name, activation.key(), template.address.clone());
            let mut attributes = evaluate_template(template, template_context)
                .map_err(|message| EngineError::Template { address: address.clone(), message })?;
            let provider = template.address.provider();
            let resource_type = &template.address.resource_type;
            if let Some(attribute) = providers
                .resource_schema(provider, resource_type)
                .and_then(|schema| schema.expiry_attribute.clone())
                && providers
                    .get(provider)
                    .is_ok_and(|p| p.expires_natively(resource_type, &attributes))
            {
                attributes
                    .entry(attribute.into())
                    .or_insert_with(|| Value::String(activation.end.to_string()));
            }
            granted.push((
                address,
                DesiredResource {
                    provider: template.address.provider().to_owned(),
                    resource_type: template.address.resource_type.to_string(),
                    attributes,
                    depends_on: template_dependencies(role, template, activation),
                    cause: Cause::Grant(Arc::clone(activation)),
                    drift: DriftMode::Report,
                    restore: None,
                    natural_id: None,
                },
            ));
        }
    }
    Ok(granted)
}

/// Two live activations may grant the same object (two requests for one role by one person):
/// both addresses then ask for it to last until the later end, so the earlier one ending never
/// cuts the other short, on the platform (native expiry) or by the diff.
fn share_overlapping_grants(
    resources: &mut BTreeMap<Address, DesiredResource>,
    activations: &BTreeMap<String, Arc<Activation>>,
    providers: &Providers,
) {
    // Each granted object's natural id, worked out once (identify reuses it).
    let natural_ids: Vec<(&Address, Option<String>)> = resources
        .iter()
        .filter(|(address, _)| address.is_in_activation())
        .map(|(address, resource)| {
            let id = providers.get(&resource.provider).ok().and_then(|provider| {
                let request = breakglass_provider::IdRequest::new(
                    &resource.resource_type,
                    &resource.attributes,
                );
                provider.resource_id(request).ok()
            });
            (address, id)
        })
        .collect();
    // Borrowed keys: 60,000 grants at scale, nearly all alone in their group.
    let mut groups: HashMap<(&str, &str), Vec<&Address>, foldhash::fast::RandomState> =
        HashMap::default();
    for (address, id) in &natural_ids {
        if let Some(id) = id {
            groups.entry((address.resource_type(), id.as_str())).or_default().push(address);
        }
    }
    let mut extended: Vec<(Address, String, Timestamp)> = Vec::new();
    for ((resource_type, _), addresses) in groups {
        if addresses.len() < 2 {
            continue;
        }
        let provider = &resources[addresses[0]].provider;
        let Some(attribute) = providers
            .resource_schema(provider, resource_type)
            .and_then(|schema| schema.expiry_attribute.clone())
        else {
            continue;
        };
        let latest = addresses
            .iter()
            .filter_map(|a| resources[*a].activation())
            .filter_map(|id| activations.get(id))
            .map(|a| a.end)
            .max();
        if let Some(latest) = latest {
            // Only where an end was set: objects that cannot carry one keep none.
            let ending =
                addresses.iter().filter(|a| resources[**a].attributes.contains_key(&attribute));
            extended.extend(ending.map(|a| ((*a).clone(), attribute.clone(), latest)));
        }
    }
    // Same order as collected: the granted resources in address order.
    let natural_ids: Vec<Option<String>> = natural_ids.into_iter().map(|(_, id)| id).collect();
    let granted = resources.iter_mut().filter(|(address, _)| address.is_in_activation());
    for ((_, resource), id) in granted.zip(natural_ids) {
        resource.natural_id = id;
    }
    for (address, attribute, latest) in extended {
        if let Some(resource) = resources.get_mut(&address) {
            resource.attributes.insert(attribute.into(), Value::String(latest.to_string()));
        }
    }
}

/// Once live values are known: an object an activation would grant that is already there and
/// that breakglass does not hold predates the activation. Its platform expiry is left alone —
/// setting it would cut access that outlives the activation — and its revert will put it back
/// as it was rather than delete it (see `ResourceState::restore`).
pub fn respect_preexisting(
    desired: &mut Desired,
    live: &super::refresh::Live,
    state: &State,
    providers: &Providers,
) {
    // What state holds, by type and id, built only if some grant finds its object already
    // there (resource types are unique across providers).
    let mut held: Option<HashSet<(&str, &str), foldhash::fast::RandomState>> = None;
    for (address, resource) in desired.resources.iter_mut() {
        if !address.is_in_activation() || state.resources.contains_key(address) {
            continue;
        }
        let Some(id) = live.natural_id(address) else { continue };
        let Some(current) = live.objects.get(&resource.resource_type, id) else { continue };
        let held = held.get_or_insert_with(|| {
            state.resources.values().map(|r| (r.resource_type.as_str(), r.id.as_str())).collect()
        });
        if held.contains(&(resource.resource_type.as_str(), id)) {
            continue;
        }
        if let Some(attribute) = providers
            .resource_schema(&resource.provider, &resource.resource_type)
            .and_then(|schema| schema.expiry_attribute.clone())
        {
            match current.get(&attribute) {
                Some(value) => resource.attributes.insert(attribute.into(), value.clone()),
                None => resource.attributes.remove(&attribute),
            };
        }
    }
}

/// Once live values are known, what people changed by hand on objects an activation held:
///
/// - an ended override's revert must not overwrite a value someone changed while it was live;
/// - a live grant must not be granted again where someone lowered or removed it meanwhile
///   (taking access away by hand is a decision, not drift to put back).
///
/// Such objects are left as they are — the desired value becomes the live one, a removed
/// object is no longer desired — and recorded as conflicts.
pub fn resolve_conflicts(
    desired: &mut Desired,
    live: &super::refresh::Live,
    state: &State,
    providers: &Providers,
) {
    // Found in one walk over desired and state together (no per-object map searches: 60,000
    // live grants at scale), then applied.
    let mut conflicts = Vec::new();
    let holders = std::cell::OnceCell::new();
    for (address, resource, recorded) in
        super::sorted::merge_sorted(desired.resources.iter(), state.resources.iter())
    {
        let Some(resource) = resource else { continue };
        if let Some(restore) = &resource.restore {
            let Some(current) = live.object(address, &resource.provider, &resource.resource_type)
            else {
                continue;
            };
            for (name, overridden) in &restore.overridden {
                let now = current.get(name).cloned().unwrap_or(Value::Null);
                let prior = restore.prior.get(name).cloned().unwrap_or(Value::Null);
                if now == *overridden || now == prior {
                    continue;
                }
                conflicts.push(Conflict {
                    activation: restore.activation.clone(),
                    kind: ActivationKind::Override,
                    address: address.clone(),
                    change: HandChange::Overridden(Box::new(OverriddenValue {
                        attribute: name.to_string(),
                        overridden: overridden.clone(),
                        live: now,
                        prior,
                    })),
                });
            }
            continue;
        }
        let Some(recorded) = recorded else { continue };
        if let Some((activation, change)) =
            changed_by_hand(address, resource, recorded, live, state, providers, &holders)
        {
            conflicts.push(Conflict {
                activation: activation.to_owned(),
                kind: ActivationKind::Role,
                address: address.clone(),
                change,
            });
        }
    }
    // The object is left as the person set it: the desired value becomes the live one, and
    // an object they removed is no longer desired.
    for conflict in &conflicts {
        match &conflict.change {
            HandChange::Removed => {
                desired.resources.remove(&conflict.address);
            }
            HandChange::Changed { attributes } => {
                if let Some(resource) = desired.resources.get_mut(&conflict.address) {
                    for (name, _, now) in attributes {
                        resource.attributes.insert(name.as_str().into(), now.clone());
                    }
                }
            }
            HandChange::Overridden(value) => {
                if let Some(resource) = desired.resources.get_mut(&conflict.address) {
                    resource.attributes.insert(value.attribute.as_str().into(), value.live.clone());
                }
            }
        }
    }
    desired.conflicts = conflicts;
}

/// The records of granted objects, by type and id (see [`super::diff::holders_of_objects`]).
type Holders<'s> = HashMap<
    (&'s str, &'s str),
    Vec<(&'s Address, &'s crate::state::ResourceState)>,
    foldhash::fast::RandomState,
>;

/// What a person changed on `resource`, an object of a live, applied role grant, since
/// breakglass wrote it (`recorded`, its state record), with the grant's activation; `None`
/// when nothing. A value another grant of the same object wrote (overlapping grants) is
/// breakglass's own, not a person's.
fn changed_by_hand<'s, 'r>(
    address: &Address,
    resource: &'r DesiredResource,
    recorded: &'s crate::state::ResourceState,
    live: &super::refresh::Live,
    state: &'s State,
    providers: &Providers,
    holders: &std::cell::OnceCell<Holders<'s>>,
) -> Option<(&'r str, HandChange)> {
    let Cause::Grant(activation) = &resource.cause else { return None };
    // Only what this grant wrote and confirmed: an apply in flight or interrupted is finished
    // by the next apply, not second-guessed. (The activation is state's record, shared.)
    if !live.refreshed
        || activation.kind != ActivationKind::Role
        || activation.status != ActivationStatus::Active
        || recorded.activation.as_deref() != Some(activation.id.as_str())
        || !address.is_in_activation()
    {
        return None;
    }
    let Some(current) = live.objects.get(&recorded.resource_type, &recorded.id) else {
        return Some((&activation.id, HandChange::Removed));
    };
    let schema = providers.resource_schema(&resource.provider, &resource.resource_type);
    let equal = |name: &str, held: Option<&Value>| {
        let attribute = schema.and_then(|s| s.attributes.get(name));
        super::diff::equal(
            providers,
            &resource.provider,
            &resource.resource_type,
            name,
            attribute,
            held,
            current.get(name),
        )
    };
    let written_by_another_grant = |name: &str| {
        let holders = holders.get_or_init(|| super::diff::holders_of_objects(state));
        holders.get(&(recorded.resource_type.as_str(), recorded.id.as_str())).is_some_and(
            |others| {
                others.iter().any(|(other, record)| {
                    *other != address && equal(name, record.attributes.get(name))
                })
            },
        )
    };
    let attributes: Vec<(String, Value, Value)> = recorded
        .attributes
        .iter()
        .filter(|(name, held)| {
            let attribute = schema.and_then(|s| s.attributes.get(name.as_str()));
            !attribute.is_some_and(|a| a.sensitive || a.computed)
                && !equal(name, Some(held))
                && !written_by_another_grant(name)
        })
        .map(|(name, held)| {
            (name.to_string(), held.clone(), current.get(name).cloned().unwrap_or(Value::Null))
        })
        .collect();
    (!attributes.is_empty()).then_some((&activation.id, HandChange::Changed { attributes }))
}

fn template_dependencies(
    role: &crate::policy::blocks::Role,
    template: &ResourceTemplate,
    activation: &Activation,
) -> Vec<Address> {
    template
        .depends_on
        .iter()
        .map(|reference| {
            let target = ResourceAddress::new(reference.kind.keyword(), reference.name.clone());
            if role.resources.iter().any(|sibling| sibling.address == target) {
                Address::in_activation(&role.name, activation.key(), target)
            } else {
                Address::baseline(target)
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::activation::{ActivationSource, ActivationStatus};
    use crate::policy::Strictness;

    const POLICY: &str = r#"
breakglass {
  plan_signers = [person.carol]
}

provider "local" {
  path = "app.json"
}

person "alice" {
  public_key = file("keys/alice.pub")
  identities = { local = "alice" }
}

person "carol" {
  public_key = file("keys/carol.pub")
}

approvers "leads" {
  members = [person.carol]
}

role "admin" {
  requesters   = [person.alice]
  approvers    = approvers.leads
  max_duration = "1h"

  resource "local_access" "admin" {
    principal = requester.identities.local
    role      = "admin-${activation.id}"
  }
}
"#;

    fn activation(id: &str, at: Timestamp) -> Arc<Activation> {
        Arc::new(Activation {
            id: id.to_owned(),
            kind: ActivationKind::Role,
            name: "admin".to_owned(),
            requester: "alice".to_owned(),
            justification: "INC-1".to_owned(),
            start: at - jiff::SignedDuration::from_mins(5),
            end: at + jiff::SignedDuration::from_mins(30),
            status: ActivationStatus::Active,
            source: ActivationSource::Emergency { plan_digest: "sha256:00".to_owned() },
            approvals: Vec::new(),
            auto_approved: true,
            authentication: Vec::new(),
            priors: BTreeMap::new(),
            created_at: at,
            activated_at: Some(at),
            revoked: None,
            reverted_at: None,
            revert_attempts: 0,
            last_error: None,
            extensions: Vec::new(),
            flags: Vec::new(),
        })
    }

    /// The policy above in a directory of its own, with the people's keys.
    fn policy_dir() -> (tempfile::TempDir, Policy, Timestamp) {
        let dir = tempfile::tempdir().unwrap();
        let keys =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/quickstart/keys");
        fs_err::create_dir(dir.path().join("keys")).unwrap();
        for person in ["alice", "carol"] {
            let name = format!("{person}.pub");
            fs_err::copy(keys.join(&name), dir.path().join("keys").join(&name)).unwrap();
        }
        fs_err::write(dir.path().join("main.hcl"), POLICY).unwrap();
        let at: Timestamp = "2026-11-28T12:00:00Z".parse().unwrap();
        let loaded =
            crate::policy::load(dir.path(), &crate::providers::schemas(), at, Strictness::Operate);
        assert!(!loaded.diagnostics.has_errors(), "{:?}", loaded.diagnostics);
        (dir, loaded.policy.unwrap(), at)
    }

    /// One template context serves all of a requester's activations: the `activation` it sees
    /// must be each one's own.
    #[test]
    fn each_activation_of_one_requester_sees_its_own_activation_values() {
        let (_dir, policy, at) = policy_dir();
        let mut state = State::new();
        for id in ["act_1", "act_2"] {
            state.activations.insert(id.to_owned(), activation(id, at));
        }
        let providers = Providers::unconfigured(&policy).unwrap();
        let desired = compile(&policy, &state, &providers, at, None, false).unwrap();
        let roles: Vec<(&str, &Value)> = desired
            .resources
            .values()
            .map(|resource| (resource.activation().unwrap(), &resource.attributes["role"]))
            .collect();
        assert_eq!(
            roles,
            [("act_1", &Value::from("admin-act_1")), ("act_2", &Value::from("admin-act_2"))]
        );
    }

    /// Granting is spread over the cores in runs of activations: every activation's objects
    /// are there, each with its own values, as one run over them all makes them.
    #[test]
    fn grants_spread_over_cores_equal_one_run() {
        let (_dir, policy, at) = policy_dir();
        let mut state = State::new();
        for i in 0..5_001 {
            let id = format!("act_{i:05}");
            state.activations.insert(id.clone(), activation(&id, at));
        }
        let providers = Providers::unconfigured(&policy).unwrap();
        let desired = compile(&policy, &state, &providers, at, None, false).unwrap();
        assert_eq!(desired.resources.len(), 5_001);
        for resource in desired.resources.values() {
            let id = resource.activation().unwrap();
            assert_eq!(resource.attributes["role"], Value::from(format!("admin-{id}")));
        }

        let mut live: Vec<&Arc<Activation>> = state.activations.values().collect();
        live.sort_by(|a, b| (a.start, &a.id).cmp(&(b.start, &b.id)));
        let roots = context::template_roots(&policy);
        let base = context::template_base(&policy, &roots);
        let one: BTreeMap<Address, DesiredResource> =
            grants(&policy, &providers, &base, true, &live).unwrap().into_iter().collect();
        // The natural ids are filled in after granting.
        let mut compiled = desired.resources.clone();
        compiled.values_mut().for_each(|resource| resource.natural_id = None);
        assert_eq!(compiled, one);
    }
}
