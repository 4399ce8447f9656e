//! Issue 3's scale benchmark, with the figures its targets are stated in: wall time of each
//! stage and peak resident memory (VmHWM), which a statistics harness does not report.
//!
//! 1. Policy load + validate of a generated policy of 10,000 roles (HCL text in a temp dir).
//! 2. compile + diff + graph for 10,000 roles / 100,000 desired and live objects, against live
//!    objects built in memory (no provider call); some differ so the diff has work.
//!    Target: < 1 s and < 500 MB peak.
//!
//! `cargo bench --bench scale`; `BENCH_ROLES=N` for another size, `BENCH_RUNS=N` for more runs.

mod support;

/// The allocator the `breakglass` binary uses (src/main.rs), so the figures are the tool's.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use breakglass::engine::compile::{compile, resolve_conflicts, respect_preexisting};
use breakglass::engine::diff::diff;
use breakglass::graph::ChangeGraph;
use breakglass::plan::ResourceChange;
use std::collections::BTreeMap;
use std::time::Instant;
use support::{Mark, Spec, memory_mib, reset_peak_memory, summary_ms};

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn main() {
    let roles = env_usize("BENCH_ROLES", 10_000);
    let runs = env_usize("BENCH_RUNS", 5).max(1);
    let spec = Spec::scaled(roles);
    let can_reset = reset_peak_memory();
    println!("== scale (issue 3): {roles} roles, {} desired objects ==", spec.desired_objects());
    println!(
        "   persons {}, teams of {}, baseline local_access {}, local_setting {}, live activations {}",
        spec.persons,
        spec.team_size,
        spec.baseline_access,
        spec.baseline_settings,
        spec.activations
    );

    let dir = tempfile::tempdir().unwrap();
    let started = Instant::now();
    let bytes = support::write_policy(dir.path(), &spec);
    let files = fs_err::read_dir(dir.path()).unwrap().count();
    println!(
        "generated {files} entries, {:.1} MB of HCL in {:.2} s",
        bytes as f64 / 1e6,
        started.elapsed().as_secs_f64()
    );
    let now = jiff::Timestamp::now();

    // 1. load + validate
    let (mut load_wall, mut load_cpu) = (Vec::new(), Vec::new());
    let mut load_peak = 0.0_f64;
    let mut policy = None;
    for _ in 0..runs.min(3) {
        drop(policy.take());
        reset_peak_memory();
        let started = Mark::now();
        let loaded = support::load(dir.path(), now);
        let (wall, cpu) = started.to(Mark::now());
        load_wall.push(wall);
        load_cpu.push(cpu);
        load_peak = load_peak.max(memory_mib().0);
        policy = loaded.policy;
    }
    let policy = policy.unwrap();
    println!("load + validate:            wall {}", summary_ms(&load_wall));
    println!("                            CPU  {}", summary_ms(&load_cpu));
    println!("  peak RSS during load:     {load_peak:.0} MiB");

    // 2. compile + diff + graph
    let started = Instant::now();
    let world = support::world(&spec, policy, now);
    println!(
        "built state ({} activations, {} resources) and {} live objects in {:.2} s; perturbed: {:?}",
        world.state.activations.len(),
        world.state.resources.len(),
        world.live_objects().len(),
        started.elapsed().as_secs_f64(),
        world.perturbed
    );
    let (_, inputs_rss) = memory_mib();
    let mut totals = Vec::new();
    let mut totals_cpu = Vec::new();
    let mut stages: BTreeMap<&str, (Vec<f64>, Vec<f64>)> = BTreeMap::new();
    let mut pipeline_peak = 0.0_f64;
    let mut counts = BTreeMap::new();
    let mut drift = 0;
    for _ in 0..runs {
        // Read afresh for each run, as a `plan` reads them (not timed).
        let objects = world.live_objects();
        reset_peak_memory();
        let m0 = Mark::now();
        let mut desired =
            compile(&world.policy, &world.state, &world.providers, world.at, None, false).unwrap();
        let m1 = Mark::now();
        let live = support::live(&world, &desired, objects);
        let m2 = Mark::now();
        resolve_conflicts(&mut desired, &live);
        respect_preexisting(&mut desired, &live, &world.state, &world.providers);
        let diffed = diff(&desired, &live, &world.state, &world.providers);
        let m3 = Mark::now();
        let graph = ChangeGraph::build(&diffed.changes).unwrap();
        // As make_plan does: the changes moved into graph order.
        let mut slots: Vec<Option<ResourceChange>> = diffed.changes.into_iter().map(Some).collect();
        let ordered: Vec<ResourceChange> =
            graph.order().into_iter().filter_map(|i| slots[i].take()).collect();
        let m4 = Mark::now();
        pipeline_peak = pipeline_peak.max(memory_mib().0);
        let (wall, cpu) = m0.to(m4);
        totals.push(wall);
        totals_cpu.push(cpu);
        for (stage, (from, to)) in [
            ("1 compile", (m0, m1)),
            ("2 identify (refresh ids, no calls)", (m1, m2)),
            ("3 conflicts, pre-existing grants, diff", (m2, m3)),
            ("4 graph build + order", (m3, m4)),
        ] {
            let (wall, cpu) = from.to(to);
            let entry = stages.entry(stage).or_default();
            entry.0.push(wall);
            entry.1.push(cpu);
        }
        counts.clear();
        for change in &ordered {
            *counts.entry(format!("{:?}", change.action)).or_insert(0) += 1;
        }
        drift = diffed.drift.len();
        let m5 = Mark::now();
        drop((desired, live, diffed.drift, graph, ordered, slots));
        let (wall, cpu) = m5.to(Mark::now());
        let entry = stages.entry("5 drop (not counted)").or_default();
        entry.0.push(wall);
        entry.1.push(cpu);
    }
    println!("changes by action: {counts:?}; drift entries: {drift}");
    for (stage, (wall, cpu)) in &stages {
        println!("  {stage:<36} wall {}", summary_ms(wall));
        println!("  {:<36} CPU  {}", "", summary_ms(cpu));
    }
    let median = |values: &[f64]| {
        let mut sorted = values.to_vec();
        sorted.sort_by(f64::total_cmp);
        support::percentile(&sorted, 50.0)
    };
    println!("compile + diff + graph:     wall {}", summary_ms(&totals));
    println!("                            CPU  {}", summary_ms(&totals_cpu));
    println!(
        "  peak RSS during it:       {pipeline_peak:.0} MiB (inputs resident before: {inputs_rss:.0} MiB){}",
        if can_reset { "" } else { " [VmHWM reset unsupported: whole-process peak]" }
    );
    let verdict = |ok: bool| if ok { "met" } else { "MISSED" };
    println!(
        "  target < 1 s: {} by wall median ({:.0} ms), {} by CPU median ({:.0} ms)",
        verdict(median(&totals) < 1.0),
        median(&totals) * 1e3,
        verdict(median(&totals_cpu) < 1.0),
        median(&totals_cpu) * 1e3
    );
    // One `plan` is one run in a fresh process: its memory is not yet faulted in or reused,
    // which the median of later runs hides.
    println!(
        "  target < 1 s for the first run in the process (what one `plan` is): {} ({:.0} ms)",
        verdict(totals[0] < 1.0),
        totals[0] * 1e3
    );
    let peak = pipeline_peak.max(load_peak);
    println!(
        "  target < 500 MB peak: {} (process peak {:.0} MB: load {:.0} MB, compile+diff+graph {:.0} MB)",
        verdict(peak * 1.048_576 < 500.0),
        peak * 1.048_576,
        load_peak * 1.048_576,
        pipeline_peak * 1.048_576
    );
}
