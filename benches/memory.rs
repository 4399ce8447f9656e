//! Where the memory of a large plan goes: the heap each structure a `plan` holds takes, at
//! 10,000 roles / 100,000 objects (issue 3's scale), counted by a wrapper around the allocator
//! the binary uses. Peak RSS is in `scale`; this says which structure to make smaller.
//!
//! `cargo bench --bench memory`; `BENCH_ROLES=N` for another size.

mod support;

/// mimalloc (what the binary uses), counting the bytes live.
#[global_allocator]
static ALLOCATOR: cap::Cap<mimalloc::MiMalloc> = cap::Cap::new(mimalloc::MiMalloc, usize::MAX);

use breakglass::engine::compile::{compile, resolve_conflicts, respect_preexisting};
use breakglass::engine::diff::diff;
use support::Spec;

/// Prints what building `what` added to the heap, in all and per `items` of it.
fn report(what: &str, before: usize, items: usize) {
    let added = ALLOCATOR.allocated() as isize - before as isize;
    println!(
        "  {what:<44} {:>8.1} MiB  {:>6} B per item",
        added as f64 / 1_048_576.0,
        added / items.max(1) as isize,
    );
}

fn main() {
    let roles = std::env::var("BENCH_ROLES").ok().and_then(|v| v.parse().ok()).unwrap_or(10_000);
    let spec = Spec::scaled(roles);
    let dir = tempfile::tempdir().unwrap();
    support::write_policy(dir.path(), &spec);
    let now = jiff::Timestamp::now();
    println!("== memory (issue 3): {roles} roles, {} desired objects ==", spec.desired_objects());
    println!(
        "  heap held by each structure a plan holds (requested bytes, allocator overhead not counted)"
    );

    let before = ALLOCATOR.allocated();
    let policy = support::load(dir.path(), now).policy.unwrap();
    let declared = policy.resources.len() + policy.roles.len();
    report("policy (per resource block and role)", before, declared);

    let world = support::world(&spec, policy, now);
    // State as a run reads it: from its JSON document.
    let document = serde_json::to_vec(&world.state).unwrap();
    let before = ALLOCATOR.allocated();
    let state: breakglass::state::State = serde_json::from_slice(&document).unwrap();
    report("state, read (per recorded resource)", before, state.resources.len());
    drop(document);
    let before = ALLOCATOR.allocated();
    let activations: Vec<_> = state.activations.values().map(|a| (**a).clone()).collect();
    report("  of which activations (per activation)", before, activations.len());
    drop(activations);
    let before = ALLOCATOR.allocated();
    let objects = world.live_objects();
    let count = objects.len();
    report("live objects as read (per object)", before, count);
    drop(objects);

    let before = ALLOCATOR.allocated();
    let mut desired =
        compile(&world.policy, &state, &world.providers, world.at, None, false).unwrap();
    report("desired (per desired object)", before, desired.resources.len());
    let before = ALLOCATOR.allocated();
    let live = support::live(&world, &desired, world.live_objects());
    report("live: ids and objects (per object)", before, live.objects.len());
    let before = ALLOCATOR.allocated();
    resolve_conflicts(&mut desired, &live, &state, &world.providers);
    respect_preexisting(&mut desired, &live, &state, &world.providers);
    let diffed = diff(&desired, &live, &state, &world.providers);
    report("diff (per change)", before, diffed.changes.len());
    drop((state, desired, live, diffed));
}
