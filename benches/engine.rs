//! divan micro-benchmarks of each engine stage on generated policies (issue 3's shape at 1,000
//! and 10,000 roles: 10 desired objects per role), to see where time goes and how it scales.
//! The headline figures with peak memory come from `cargo bench --bench scale`.
//!
//! `cargo bench --bench engine` (divan flags after `--`, e.g. `-- compile`). Times include the
//! allocation counting that gives the "max alloc" rows (the peak heap a stage adds).

mod support;

use breakglass::engine::compile::{Desired, compile, resolve_conflicts, respect_preexisting};
use breakglass::engine::diff::diff;
use breakglass::engine::refresh::Live;
use breakglass::graph::ChangeGraph;
use breakglass::plan::ResourceChange;
use std::cell::RefCell;
use std::collections::BTreeMap;
use std::path::PathBuf;
use support::{Spec, World};

const SIZES: [usize; 2] = [1_000, 10_000];

// Counts allocations, so divan also reports each stage's allocations and peak heap ("max alloc").
#[global_allocator]
static ALLOC: divan::AllocProfiler = divan::AllocProfiler::system();

/// Everything a stage needs, built once per size.
struct Fixture {
    dir: PathBuf,
    world: World,
    desired: Desired,
    live: Live,
    changes: Vec<ResourceChange>,
}

thread_local! {
    static FIXTURES: RefCell<BTreeMap<usize, &'static Fixture>> = const { RefCell::new(BTreeMap::new()) };
}

fn fixture(roles: usize) -> &'static Fixture {
    if let Some(fixture) = FIXTURES.with(|f| f.borrow().get(&roles).copied()) {
        return fixture;
    }
    let spec = Spec::scaled(roles);
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("bench-policy-{roles}"));
    let _ = fs_err::remove_dir_all(&dir);
    support::write_policy(&dir, &spec);
    let now = jiff::Timestamp::now();
    let policy = support::load(&dir, now).policy.unwrap();
    let world = support::world(&spec, policy, now);
    let mut desired =
        compile(&world.policy, &world.state, &world.providers, world.at, None, false).unwrap();
    let live = support::live(&world, &desired, world.live_objects());
    resolve_conflicts(&mut desired, &live, &world.state, &world.providers);
    respect_preexisting(&mut desired, &live, &world.state, &world.providers);
    let changes = diff(&desired, &live, &world.state, &world.providers).changes;
    let fixture: &'static Fixture =
        Box::leak(Box::new(Fixture { dir, world, desired, live, changes }));
    FIXTURES.with(|f| f.borrow_mut().insert(roles, fixture));
    fixture
}

fn main() {
    divan::main();
}

/// Policy load + validate: read, parse, decode, resolve, validate every file.
#[divan::bench(args = SIZES, sample_count = 5, sample_size = 1)]
fn load_validate(bencher: divan::Bencher, roles: usize) {
    let fixture = fixture(roles);
    bencher.bench_local(|| support::load(&fixture.dir, fixture.world.at));
}

/// Compile: baseline ⊕ live activations at t → desired resources.
#[divan::bench(args = SIZES, sample_count = 10, sample_size = 1)]
fn compile_desired(bencher: divan::Bencher, roles: usize) {
    let f = fixture(roles);
    bencher.bench_local(|| {
        compile(&f.world.policy, &f.world.state, &f.world.providers, f.world.at, None, false)
            .unwrap()
    });
}

/// Refresh's id step (no provider call).
#[divan::bench(args = SIZES, sample_count = 10, sample_size = 1)]
fn identify(bencher: divan::Bencher, roles: usize) {
    let f = fixture(roles);
    bencher.bench_local(|| {
        breakglass::engine::refresh::identify(&f.desired, &f.world.state, &f.world.providers)
            .unwrap()
    });
}

/// Diff: desired × live × state → changes and drift.
#[divan::bench(args = SIZES, sample_count = 10, sample_size = 1)]
fn diff_live(bencher: divan::Bencher, roles: usize) {
    let f = fixture(roles);
    bencher.bench_local(|| diff(&f.desired, &f.live, &f.world.state, &f.world.providers));
}

/// Graph: build the dependency graph of every change (no-ops included), check for cycles, order.
#[divan::bench(args = SIZES, sample_count = 10, sample_size = 1)]
fn graph_order(bencher: divan::Bencher, roles: usize) {
    let f = fixture(roles);
    bencher.bench_local(|| ChangeGraph::build(&f.changes).unwrap().order());
}

/// The whole of it: compile + ids + diff + graph, against the live objects in memory.
#[divan::bench(args = SIZES, sample_count = 5, sample_size = 1)]
fn compile_diff_graph(bencher: divan::Bencher, roles: usize) {
    let f = fixture(roles);
    bencher.with_inputs(|| f.world.live_objects()).bench_local_values(|objects| {
        let mut desired =
            compile(&f.world.policy, &f.world.state, &f.world.providers, f.world.at, None, false)
                .unwrap();
        let live = support::live(&f.world, &desired, objects);
        resolve_conflicts(&mut desired, &live, &f.world.state, &f.world.providers);
        respect_preexisting(&mut desired, &live, &f.world.state, &f.world.providers);
        let diffed = diff(&desired, &live, &f.world.state, &f.world.providers);
        let order = ChangeGraph::build(&diffed.changes).unwrap().order();
        (desired, live, diffed, order)
    });
}
