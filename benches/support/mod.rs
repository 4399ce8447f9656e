//! What the benchmarks share: a generator for large policies (HCL text written into a temp dir),
//! the state such a policy would have after running a while, and the live objects a provider
//! would report, built in memory.
//!
//! The shape follows issue 3: persons in teams, approvers groups, N roles each with one
//! `local_access` template, and enough baseline `local_access`/`local_setting` resources plus
//! live activations that about 10 × N objects are desired and live. Some live objects differ
//! from what is desired so the diff has work of every kind: drift to put back, grants to create,
//! ended activations to revert, and privileged entries nobody granted.

#![allow(dead_code)] // each bench binary uses part of it

use breakglass::activation::{Activation, ActivationKind, ActivationSource, ActivationStatus};
use breakglass::engine::Providers;
use breakglass::engine::compile::compile;
use breakglass::engine::refresh::{Live, LiveObjects, identify};

/// `(provider, resource type, id)`: how the generator names a live object.
pub type ObjectKey = (String, String, String);
use breakglass::policy::{Loaded, Policy, Strictness};
use breakglass::state::{ResourceState, State};
use breakglass_provider::{Attributes, IdRequest, Value};
use jiff::{SignedDuration, Timestamp};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// A demo public key every generated person uses (the quickstart's alice: keys are not what
/// is measured).
pub fn demo_public_key() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("examples/quickstart/keys/alice.pub")
}

/// How big a policy to generate.
#[derive(Debug, Clone)]
pub struct Spec {
    /// `role` blocks, each with one `local_access` template using `requester`.
    pub roles: usize,
    /// `person` blocks.
    pub persons: usize,
    /// Persons per `team`; each role is requested by one team.
    pub team_size: usize,
    /// Baseline `resource "local_access"` blocks.
    pub baseline_access: usize,
    /// Baseline `resource "local_setting"` blocks.
    pub baseline_settings: usize,
    /// Live activations recorded in state (each adds one object).
    pub activations: usize,
    /// Extra `provider "local"` attributes (latency, page size).
    pub provider_extra: String,
}

impl Spec {
    /// Issue 3's scale: 10,000 roles and 100,000 desired objects (30,000 baseline access
    /// entries, 10,000 settings, 60,000 live activations), 1,000 persons in teams of 10.
    pub fn issue3() -> Self {
        Self::scaled(10_000)
    }

    /// The same proportions for `roles` roles: 10 objects desired per role.
    pub fn scaled(roles: usize) -> Self {
        Self {
            roles,
            persons: (roles / 10).max(20),
            team_size: 10,
            baseline_access: roles * 3,
            baseline_settings: roles,
            activations: roles * 6,
            provider_extra: String::new(),
        }
    }

    /// Desired objects: baseline plus one per live activation.
    pub fn desired_objects(&self) -> usize {
        self.baseline_access + self.baseline_settings + self.activations
    }
}

pub fn person_name(n: usize) -> String {
    format!("p{n:05}")
}

pub fn role_name(n: usize) -> String {
    format!("r{n:05}")
}

fn team_of_role(spec: &Spec, role: usize) -> usize {
    role % (spec.persons / spec.team_size)
}

/// The persons who may request role `role`: the members of its team.
pub fn requesters_of(spec: &Spec, role: usize) -> Vec<usize> {
    let team = team_of_role(spec, role);
    (0..spec.team_size).map(|k| team * spec.team_size + k).collect()
}

/// Writes the policy's HCL files (and the key they read) into `dir`; returns the bytes written.
pub fn write_policy(dir: &Path, spec: &Spec) -> usize {
    fs_err::create_dir_all(dir.join("keys")).unwrap();
    fs_err::copy(demo_public_key(), dir.join("keys/person.pub")).unwrap();
    let mut files: Vec<(String, String)> = Vec::new();
    files.push((
        "main.hcl".into(),
        format!(
            "breakglass {{\n  max_duration  = \"12h\"\n  plan_signers  = [person.{}]\n  \
             plan_lifetime = \"1h\"\n}}\n\nprovider \"local\" {{\n  path             = \
             \"app/access.json\"\n  privileged_roles = [\"root\"]\n  drift            = \
             \"revert\"\n{}}}\n\nauthentication \"strong\" {{\n  totp          = true\n  \
             max_token_age = \"15m\"\n}}\n",
            person_name(0),
            spec.provider_extra
        ),
    ));

    let mut people = String::new();
    for n in 0..spec.persons {
        let name = person_name(n);
        writeln!(
            people,
            "person \"{name}\" {{\n  display_name = \"Person {n}\"\n  email        = \
             \"{name}@example.com\"\n  public_key   = file(\"keys/person.pub\")\n  identities = {{\n    \
             local = \"{name}\"\n  }}\n}}\n"
        )
        .unwrap();
    }
    let teams = spec.persons / spec.team_size;
    for t in 0..teams {
        let members: Vec<String> = (0..spec.team_size)
            .map(|k| format!("person.{}", person_name(t * spec.team_size + k)))
            .collect();
        writeln!(people, "team \"t{t:04}\" {{\n  members = [{}]\n}}\n", members.join(", "))
            .unwrap();
    }
    // Ten approvers groups of three, drawn from the persons; every tenth role is auto-approved.
    for g in 0..10 {
        let members: Vec<String> = (0..3)
            .map(|k| format!("person.{}", person_name((g * 37 + k * 11) % spec.persons)))
            .collect();
        let auto: Vec<String> = (0..spec.roles)
            .filter(|r| r % 100 == g * 10)
            .map(|r| format!("role.{}", role_name(r)))
            .collect();
        writeln!(
            people,
            "approvers \"a{g:02}\" {{\n  members        = [{}]\n  quorum         = 2\n  \
             token_lifetime = \"30m\"\n  auto_approve   = [{}]\n}}\n",
            members.join(", "),
            auto.join(", ")
        )
        .unwrap();
    }
    files.push(("people.hcl".into(), people));

    // Baseline, in files of 10,000 blocks; every tenth access entry depends on a setting so the
    // graph has edges.
    let mut baseline = String::new();
    for n in 0..spec.baseline_settings {
        writeln!(
            baseline,
            "resource \"local_setting\" \"s{n:06}\" {{\n  key   = \"setting.{n:06}\"\n  value = \"on\"\n}}\n"
        )
        .unwrap();
    }
    files.push(("baseline_settings.hcl".into(), baseline));
    for (chunk, start) in (0..spec.baseline_access).step_by(10_000).enumerate() {
        let mut text = String::new();
        for n in start..(start + 10_000).min(spec.baseline_access) {
            let depends = if n % 10 == 0 && spec.baseline_settings > 0 {
                format!("  depends_on = [local_setting.s{:06}]\n", n % spec.baseline_settings)
            } else {
                String::new()
            };
            writeln!(
                text,
                "resource \"local_access\" \"b{n:06}\" {{\n  principal = \"svc-{n:06}\"\n  role      = \
                 \"viewer\"\n{depends}}}\n"
            )
            .unwrap();
        }
        files.push((format!("baseline_access_{chunk:02}.hcl"), text));
    }

    // Roles, in files of 1,000.
    for (chunk, start) in (0..spec.roles).step_by(1_000).enumerate() {
        let mut text = String::new();
        for r in start..(start + 1_000).min(spec.roles) {
            let team = team_of_role(spec, r);
            // One role in ten is high risk; those ending in 0 are auto-approved (low risk).
            let high = r % 10 == 5;
            let risk = if high {
                "  risk           = \"high\"\n  authentication = authentication.strong\n"
            } else {
                "  risk           = \"low\"\n"
            };
            writeln!(
                text,
                "role \"{name}\" {{\n  description    = \"Generated role {r}.\"\n{risk}  \
                 requesters     = [team.t{team:04}]\n  approvers      = approvers.a{g:02}\n  \
                 max_duration   = \"8h\"\n\n  resource \"local_access\" \"grant\" {{\n    \
                 principal = requester.identities.local\n    role      = \"role-{r:05}\"\n  }}\n}}\n",
                name = role_name(r),
                g = r % 10,
            )
            .unwrap();
        }
        files.push((format!("roles_{chunk:02}.hcl"), text));
    }
    let mut bytes = 0;
    for (name, text) in files {
        bytes += text.len();
        fs_err::write(dir.join(name), text).unwrap();
    }
    bytes
}

/// Loads and validates the policy in `dir`, panicking on any error.
pub fn load(dir: &Path, now: Timestamp) -> Loaded {
    let loaded =
        breakglass::policy::load(dir, &breakglass::providers::schemas(), now, Strictness::Operate);
    assert!(
        loaded.valid_policy().is_some(),
        "the generated policy has errors: {}",
        breakglass::diagnostics::render_text(&loaded.diagnostics, &loaded.sources, false)
            .lines()
            .take(20)
            .collect::<Vec<_>>()
            .join("\n")
    );
    loaded
}

fn activation(
    id: String,
    role: usize,
    person: usize,
    start: Timestamp,
    end: Timestamp,
) -> Activation {
    Activation {
        id,
        kind: ActivationKind::Role,
        name: role_name(role),
        requester: person_name(person),
        justification: format!("INC-{role}: generated"),
        start,
        end,
        status: ActivationStatus::Active,
        source: ActivationSource::Emergency { plan_digest: format!("sha256:{role:064}") },
        approvals: Vec::new(),
        auto_approved: true,
        authentication: vec!["signature".to_owned()],
        priors: BTreeMap::new(),
        created_at: start,
        activated_at: Some(start),
        revoked: None,
        reverted_at: None,
        revert_attempts: 0,
        last_error: None,
        extensions: Vec::new(),
        flags: Vec::new(),
    }
}

/// A world to plan against: the policy, the state it would have, and the live objects.
pub struct World {
    pub policy: Policy,
    pub state: State,
    pub providers: Providers,
    pub at: Timestamp,
    /// Settings changed by hand (their value is "off" on the platform).
    pub drifted: BTreeSet<ObjectKey>,
    /// Granted objects deleted by hand.
    pub missing: BTreeSet<ObjectKey>,
    /// Listed objects that grant privileged access and nothing granted.
    pub privileged: Vec<(ObjectKey, Attributes)>,
    /// What was perturbed, for the report.
    pub perturbed: Perturbed,
}

/// How the live objects differ from what state recorded.
#[derive(Debug, Default, Clone)]
pub struct Perturbed {
    /// Settings changed outside breakglass (drift to put back).
    pub drifted_settings: usize,
    /// Activation objects deleted outside breakglass (to re-create).
    pub missing_grants: usize,
    /// Activations that ended and are not yet reverted (to delete).
    pub ended: usize,
    /// Activations being applied now, not yet granted (to create).
    pub starting: usize,
    /// Privileged entries nobody granted (unmanaged drift, deleted: drift = "revert").
    pub unmanaged: usize,
}

/// The ids and attributes the local provider reports for a desired object.
fn live_attributes(resource_type: &str, attributes: &Attributes) -> Attributes {
    let mut live = attributes.clone();
    if resource_type == "local_access" {
        live.entry("expires_at".into()).or_insert(Value::Null);
    }
    live
}

/// Builds state and live objects for `policy` as generated from `spec`, at `at`: every
/// activation was applied and recorded; then the perturbations.
pub fn world(spec: &Spec, policy: Policy, at: Timestamp) -> World {
    let providers = Providers::unconfigured(&policy).unwrap();
    let hour = SignedDuration::from_hours(1);
    let mut state = State::new();
    state.lineage = "bench".to_owned();
    state.serial = 1;
    let mut perturbed = Perturbed::default();
    let mut n = 0;
    'outer: for round in 0.. {
        for role in 0..spec.roles {
            if n == spec.activations {
                break 'outer;
            }
            let person = requesters_of(spec, role)[round % spec.team_size];
            let end = at + hour + SignedDuration::from_secs((n % 3600) as i64);
            // As long as a real id (`act_` and a ULID), so keys and ids cost what they do.
            let id = format!("act_01jd{n:022}");
            state
                .activations
                .insert(id.clone(), activation(id, role, person, at - hour, end).into());
            n += 1;
        }
    }
    // 1% of activations ended a minute ago and are still to revert.
    let ended = spec.activations / 100;
    for k in 0..ended {
        let role = k * 97 % spec.roles;
        let person = requesters_of(spec, role)[spec.team_size - 1];
        let id = format!("act_01je{k:022}");
        state.activations.insert(
            id.clone(),
            activation(id, role, person, at - hour, at - SignedDuration::from_mins(1)).into(),
        );
    }
    perturbed.ended = ended;

    // Record every object these activations and the baseline made, as apply would.
    let everything =
        compile(&policy, &state, &providers, at - SignedDuration::from_mins(2), None, false)
            .unwrap();
    for (address, resource) in &everything.resources {
        let provider = providers.get(&resource.provider).unwrap();
        let id = provider
            .resource_id(IdRequest::new(&resource.resource_type, &resource.attributes))
            .unwrap();
        state.resources.insert(
            address.clone(),
            ResourceState {
                provider: resource.provider.clone(),
                resource_type: resource.resource_type.clone(),
                id,
                attributes: live_attributes(&resource.resource_type, &resource.attributes),
                activation: resource.activation().map(str::to_owned),
                depends_on: resource.depends_on.clone(),
                restore: None,
                updated_at: at - hour,
            },
        );
    }
    // 1% of settings changed by hand.
    let drifted: BTreeSet<ObjectKey> = state
        .resources
        .values()
        .map(|r| (r.provider.clone(), r.resource_type.clone(), r.id.clone()))
        .collect::<BTreeSet<_>>()
        .into_iter()
        .filter(|key| key.1 == "local_setting")
        .step_by(100)
        .collect();
    perturbed.drifted_settings = drifted.len();
    // 1% of granted entries deleted by hand.
    let missing: BTreeSet<ObjectKey> = state
        .resources
        .values()
        .filter(|r| r.activation.is_some())
        .step_by(100)
        .map(|r| (r.provider.clone(), r.resource_type.clone(), r.id.clone()))
        .collect();
    perturbed.missing_grants = missing.len();
    // 0.5% new activations being applied now: desired, not yet in state or live.
    let starting = spec.activations / 200;
    for k in 0..starting {
        let role = (k * 31 + 7) % spec.roles;
        let person = requesters_of(spec, role)[(spec.team_size - 2) % spec.team_size];
        let id = format!("act_01js{k:022}");
        let mut new =
            activation(id.clone(), role, person, at - SignedDuration::from_mins(1), at + hour);
        new.status = ActivationStatus::Applying;
        new.activated_at = None;
        state.activations.insert(id, new.into());
    }
    perturbed.starting = starting;
    // Privileged entries nobody granted.
    let unmanaged = spec.activations / 200;
    let mut privileged = Vec::new();
    for k in 0..unmanaged {
        let key = ("local".to_owned(), "local_access".to_owned(), format!("intruder-{k:05}/root"));
        let mut attributes = Attributes::new();
        attributes.insert("principal".into(), Value::String(format!("intruder-{k:05}")));
        attributes.insert("role".into(), Value::String("root".into()));
        attributes.insert("expires_at".into(), Value::Null);
        privileged.push((key, attributes));
    }
    perturbed.unmanaged = unmanaged;
    // As a run has it: read from its JSON document.
    let state = serde_json::from_slice(&serde_json::to_vec(&state).unwrap()).unwrap();
    World { policy, state, providers, at, drifted, missing, privileged, perturbed }
}

impl World {
    /// What the providers would report: what state recorded, perturbed. Built afresh for each
    /// run, as a `plan` reads them afresh, so no second copy stays resident.
    pub fn live_objects(&self) -> LiveObjects {
        let mut objects = LiveObjects::default();
        for r in self.state.resources.values() {
            let key = (r.provider.clone(), r.resource_type.clone(), r.id.clone());
            if self.missing.contains(&key) {
                continue;
            }
            let mut attributes = r.attributes.clone();
            if self.drifted.contains(&key) {
                attributes.insert("value".into(), Value::String("off".to_owned()));
            }
            objects.insert(key.1, key.2, attributes);
        }
        for ((_, resource_type, id), attributes) in &self.privileged {
            objects.insert(resource_type.clone(), id.clone(), attributes.clone());
        }
        objects.pack(); // as refresh does
        objects
    }
}

/// What refresh would return, with `objects` as what the providers reported: the engine's
/// `identify` (refresh's first step) works out the ids, and the objects are put beside them.
pub fn live(world: &World, desired: &breakglass::engine::Desired, objects: LiveObjects) -> Live {
    let mut live = identify(desired, &world.state, &world.providers).unwrap();
    live.objects = objects;
    live.refreshed = true;
    live.listed.insert("local_access".into());
    live.listed.insert("local_setting".into());
    for ((_, resource_type, id), _) in &world.privileged {
        live.privileged.entry(resource_type.clone()).or_default().insert(id.clone());
    }
    live
}

/// Peak and current resident memory of this process, in MiB, from /proc/self/status.
pub fn memory_mib() -> (f64, f64) {
    let status = fs_err::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|kb| kb.parse::<f64>().ok())
            .map_or(f64::NAN, |kb| kb / 1024.0)
    };
    (field("VmHWM:"), field("VmRSS:"))
}

/// Resets the peak (VmHWM) to the current RSS, so the next peak read is that of what follows.
/// Returns false where the kernel does not allow it.
pub fn reset_peak_memory() -> bool {
    fs_err::write("/proc/self/clear_refs", "5").is_ok()
}

/// Percentile `p` (0–100) of sorted `values`, nearest rank.
pub fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// `min / median / max` of durations given in seconds, shown in ms.
pub fn summary_ms(values: &[f64]) -> String {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    format!(
        "min {:.1} ms, median {:.1} ms, max {:.1} ms (n={})",
        sorted[0] * 1e3,
        percentile(&sorted, 50.0) * 1e3,
        sorted[sorted.len() - 1] * 1e3,
        sorted.len()
    )
}

/// The `breakglass` binary the benchmarks drive: `BREAKGLASS_BIN`, else the one cargo built
/// for this benchmark run (release profile).
pub fn binary() -> PathBuf {
    std::env::var_os("BREAKGLASS_BIN")
        .map_or_else(|| PathBuf::from(env!("CARGO_BIN_EXE_breakglass")), PathBuf::from)
}

/// A scratch copy of examples/quickstart, with generated persons added to team oncall (each
/// with a key pair and a TOTP secret), and the baseline applied.
pub struct Scratch {
    /// The directory; removed on drop.
    pub dir: tempfile::TempDir,
    /// The binary.
    pub binary: PathBuf,
}

impl Scratch {
    /// Copies the quickstart and adds `persons` (names) to team oncall.
    pub fn quickstart(persons: &[String]) -> Self {
        let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("examples/quickstart");
        let dir = tempfile::tempdir().unwrap();
        copy_dir(&root, dir.path());
        let _ = fs_err::remove_dir_all(dir.path().join(".breakglass"));
        let _ = fs_err::remove_dir_all(dir.path().join("app"));
        let scratch = Self { dir, binary: binary() };
        let mut hcl = String::new();
        for name in persons {
            scratch.run(&["keygen", "--out", &format!("keys/{name}.key")]);
            writeln!(
                hcl,
                "person \"{name}\" {{\n  email      = \"{name}@example.com\"\n  public_key = \
                 file(\"keys/{name}.pub\")\n  identities = {{\n    local = \"{name}\"\n  }}\n}}\n"
            )
            .unwrap();
        }
        fs_err::write(scratch.path().join("bench_people.hcl"), hcl).unwrap();
        let people = scratch.path().join("people.hcl");
        let text = fs_err::read_to_string(&people).unwrap();
        let extra: String = persons.iter().map(|p| format!(", person.{p}")).collect();
        let text = text.replace(
            "members     = [person.alice, person.bob]",
            &format!("members     = [person.alice, person.bob{extra}]"),
        );
        assert!(text.contains(&extra), "team oncall was found in people.hcl");
        fs_err::write(&people, text).unwrap();
        for name in persons {
            scratch.run(&["totp", "enroll", name]);
        }
        scratch.run(&["apply", "--auto-approve"]);
        scratch
    }

    /// The directory.
    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// `breakglass ARGS…` here, on the real clock.
    pub fn command(&self, args: &[&str]) -> std::process::Command {
        let mut command = std::process::Command::new(&self.binary);
        command
            .args(args)
            .current_dir(self.path())
            .env("NO_COLOR", "1")
            .env_remove("BREAKGLASS_TEST_NOW")
            .env_remove("BREAKGLASS_SIGN_KEY")
            .env_remove("BREAKGLASS_KEY")
            .env_remove("BREAKGLASS_TOTP_SECRETS");
        command
    }

    /// Runs `breakglass ARGS…` to success and returns its standard output, trimmed.
    pub fn run(&self, args: &[&str]) -> String {
        let output = self.command(args).output().unwrap();
        assert!(
            output.status.success(),
            "breakglass {} failed ({}):\n{}{}",
            args.join(" "),
            output.status,
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8_lossy(&output.stdout).trim().to_owned()
    }

    /// The principals holding `role` in app/access.json now; `None` if it cannot be read.
    pub fn holders(&self, role: &str) -> Option<std::collections::BTreeSet<String>> {
        let text = fs_err::read_to_string(self.path().join("app/access.json")).ok()?;
        let document: serde_json::Value = serde_json::from_str(&text).ok()?;
        Some(
            document["access"]
                .as_array()?
                .iter()
                .filter(|entry| entry["role"] == role)
                .filter_map(|entry| entry["principal"].as_str().map(str::to_owned))
                .collect(),
        )
    }

    /// The state, as the JSON document `state pull` prints.
    pub fn state(&self) -> serde_json::Value {
        serde_json::from_str(&self.run(&["state", "pull"])).unwrap()
    }
}

fn copy_dir(from: &Path, to: &Path) {
    fs_err::create_dir_all(to).unwrap();
    for entry in fs_err::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            fs_err::copy(entry.path(), &target).unwrap();
        }
    }
}

/// p50 / p90 / p99 / max of values given in seconds, shown in ms.
pub fn percentiles_ms(values: &[f64]) -> String {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    format!(
        "p50 {:.0} ms, p90 {:.0} ms, p99 {:.0} ms, min {:.0} ms, max {:.0} ms (n={})",
        percentile(&sorted, 50.0) * 1e3,
        percentile(&sorted, 90.0) * 1e3,
        percentile(&sorted, 99.0) * 1e3,
        sorted.first().copied().unwrap_or(f64::NAN) * 1e3,
        sorted.last().copied().unwrap_or(f64::NAN) * 1e3,
        sorted.len()
    )
}

/// A point in time, by the wall clock and by this thread's CPU time (on-CPU nanoseconds from
/// /proc/thread-self/schedstat), so a stage's own cost can be told from waiting for a core on a
/// busy machine.
#[derive(Debug, Clone, Copy)]
pub struct Mark {
    wall: std::time::Instant,
    cpu_ns: u64,
}

impl Mark {
    /// Now.
    pub fn now() -> Self {
        let cpu_ns = fs_err::read_to_string("/proc/thread-self/schedstat")
            .ok()
            .and_then(|text| text.split_whitespace().next()?.parse().ok())
            .unwrap_or(0);
        Self { wall: std::time::Instant::now(), cpu_ns }
    }

    /// (wall seconds, CPU seconds) from `self` to `later`.
    pub fn to(self, later: Mark) -> (f64, f64) {
        (
            (later.wall - self.wall).as_secs_f64(),
            later.cpu_ns.saturating_sub(self.cpu_ns) as f64 / 1e9,
        )
    }
}
