//! Issue 20's benchmark: the `breakglass` binary as a user runs it (a fresh process per run,
//! state and audit log in `.breakglass/state.db` on disk), at 100, 5,000 and 60,900 live
//! activations:
//!
//! - whole `plan` (load the 10,000-role policy, read state, refresh the local provider's
//!   document, compile, diff, render), against the floor of reading the same state as JSON with
//!   `python3 -c 'import json; json.load(…)'`;
//! - `apply --emergency` of an auto-approved role for a person who holds nothing yet, on a
//!   policy of constant size (persons and the role applied; the state's other activations are
//!   of roles it does not load: an emergency apply plans only its own activation) — once with
//!   the provider's document holding only what the bench grants (the cost of breakglass's own
//!   state), once holding every live object of the world (the local provider rewrites its
//!   whole JSON document per write: that file's own cost);
//! - `status` (every live activation listed), `audit verify` and `audit report --format json` on
//!   a log of 1,000,000 events at 60,900 activations (proportionally fewer below), on the same
//!   constant-size policy as `apply --emergency` (loading the 10,000-role policy alone takes
//!   1.4–2.2 s and ~400 MB, which says nothing about the state or the log).
//!
//! Each figure is wall time from spawn to exit and the process's peak RSS, from
//! `/usr/bin/time -f %M` where it exists (exact, from wait4), else sampled from
//! /proc/PID/status every 2 ms (VmHWM, a lower bound).
//!
//! `cargo bench --bench binary`; `BENCH_SCALES=100,5000,60900` (live activations, rounded to
//! the generator's steps), `BENCH_RUNS` (3; 20 for apply --emergency), `BENCH_EVENTS` (events
//! at the largest scale, 1,000,000), `BENCH_KEEP=DIR` keeps the generated worlds.

mod support;

use breakglass::activation::{Activation, ActivationStatus};
use breakglass::event::{Event, EventResult, GENESIS, stamp};
use breakglass::state::{LocalStore, State, StateError, StateStore};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use support::{Spec, percentile};

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// One measured run: wall seconds and peak RSS in MB.
#[derive(Debug, Clone, Copy)]
struct Sample {
    wall: f64,
    peak_mb: f64,
}

/// Runs `breakglass ARGS` in `dir` (stdout discarded), to success, measuring it.
fn measure(dir: &Path, args: &[&str], extra_env: &[(&str, &str)]) -> Sample {
    let binary = support::binary();
    let timed = Path::new("/usr/bin/time").exists();
    let report = dir.join(".bench-time");
    let mut command = if timed {
        let mut command = Command::new("/usr/bin/time");
        command.arg("-f").arg("%M").arg("-o").arg(&report).arg(&binary);
        command
    } else {
        Command::new(&binary)
    };
    command
        .args(args)
        .current_dir(dir)
        .env("NO_COLOR", "1")
        .env_remove("BREAKGLASS_TEST_NOW")
        .env_remove("BREAKGLASS_SIGN_KEY")
        .env_remove("BREAKGLASS_KEY")
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    for (key, value) in extra_env {
        command.env(key, value);
    }
    let started = Instant::now();
    let mut child = command.spawn().unwrap();
    let mut sampled: f64 = 0.0;
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if !timed {
            let text =
                fs_err::read_to_string(format!("/proc/{}/status", child.id())).unwrap_or_default();
            if let Some(kb) = text
                .lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<f64>().ok())
            {
                sampled = sampled.max(kb);
            }
        }
        std::thread::sleep(Duration::from_millis(if timed { 1 } else { 2 }));
    };
    let wall = started.elapsed().as_secs_f64();
    let mut stderr = String::new();
    std::io::Read::read_to_string(child.stderr.as_mut().unwrap(), &mut stderr).ok();
    assert!(status.success(), "breakglass {} failed ({status}): {stderr}", args.join(" "));
    let peak_kb = if timed {
        fs_err::read_to_string(&report)
            .ok()
            .and_then(|t| t.lines().last().and_then(|l| l.trim().parse().ok()))
            .unwrap_or(f64::NAN)
    } else {
        sampled
    };
    Sample { wall, peak_mb: peak_kb * 1024.0 / 1e6 }
}

fn summary(samples: &[Sample]) -> String {
    let mut walls: Vec<f64> = samples.iter().map(|s| s.wall).collect();
    walls.sort_by(f64::total_cmp);
    let peak = samples.iter().map(|s| s.peak_mb).fold(0.0, f64::max);
    format!(
        "median {:.0} ms (min {:.0}, max {:.0}, n={}), peak RSS {:.0} MB",
        percentile(&walls, 50.0) * 1e3,
        walls[0] * 1e3,
        walls[walls.len() - 1] * 1e3,
        walls.len(),
        peak
    )
}

fn median(samples: &[Sample]) -> f64 {
    let mut walls: Vec<f64> = samples.iter().map(|s| s.wall).collect();
    walls.sort_by(f64::total_cmp);
    percentile(&walls, 50.0)
}

fn block_on<F: std::future::Future>(future: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(future)
}

/// The local provider's document holding `objects` (`(type, id, attributes)`).
fn write_app_document(path: &Path, objects: &breakglass::engine::refresh::LiveObjects) {
    let mut access = Vec::new();
    let mut settings = serde_json::Map::new();
    for (resource_type, _, attributes) in objects.iter() {
        match resource_type {
            "local_access" => {
                let mut entry = serde_json::json!({
                    "principal": attributes.get("principal").cloned().unwrap_or_default(),
                    "role": attributes.get("role").cloned().unwrap_or_default(),
                });
                if let Some(at) = attributes.get("expires_at").filter(|v| !v.is_null()) {
                    entry["expires_at"] = at.clone();
                }
                access.push(entry);
            }
            _ => {
                let key = attributes.get("key").and_then(|v| v.as_str()).unwrap_or_default();
                settings
                    .insert(key.to_owned(), attributes.get("value").cloned().unwrap_or_default());
            }
        }
    }
    fs_err::create_dir_all(path.parent().unwrap()).unwrap();
    let document = serde_json::json!({ "access": access, "settings": settings });
    fs_err::write(path, serde_json::to_string_pretty(&document).unwrap() + "\n").unwrap();
}

/// A hash-chained log of `count` events about the state's activations, as a run of requests,
/// approvals, grants, changes and ends would leave.
fn audit_lines(state: &State, count: usize) -> Vec<String> {
    let ids: Vec<&Activation> = state.activations.values().map(|a| &**a).collect();
    let story = [
        "request",
        "approval",
        "approval",
        "approval.accepted",
        "approval.accepted",
        "apply.emergency",
        "apply.change",
        "activation.active",
        "apply.finish",
        "activation.expired",
        "apply.change",
        "activation.reverted",
    ];
    let mut prev = GENESIS.to_owned();
    let mut lines = Vec::with_capacity(count);
    for n in 0..count {
        let activation = ids[(n / story.len()) % ids.len()];
        let action = story[n % story.len()];
        let mut event = Event::new(&activation.requester, action, EventResult::Ok)
            .activation(&activation.id)
            .plan(format!("sha256:{:064}", n / story.len()));
        event.time = activation.start;
        if action == "request" {
            event = event.reason(activation.justification.clone()).details(serde_json::json!({
                "kind": "role", "name": activation.name, "start": activation.start,
                "end": activation.end, "warnings": [],
            }));
        }
        if action == "apply.change" {
            event = event
                .addresses([format!("role.{}[\"x\"].local_access.grant", activation.name)])
                .details(serde_json::json!({
                    "action": "create", "provider": "local", "type": "local_access",
                    "id": format!("{}/{}", activation.requester, activation.name),
                    "why": "activation starts",
                    "after": {"principal": activation.requester, "role": activation.name},
                }));
        }
        let (line, hash) = stamp(&mut event, &prev);
        prev = hash;
        lines.push(line);
    }
    lines
}

/// The person allowed to request the bench role: any.
const BENCH_ROLE: &str = "
approvers \"bench_auto\" {
  members      = [person.p00000, person.p00001]
  auto_approve = [role.emergency_bench]
}

role \"emergency_bench\" {
  description  = \"The role the emergency bench applies.\"
  risk         = \"low\"
  approvers    = approvers.bench_auto
  max_duration = \"8h\"

  resource \"local_access\" \"grant\" {
    principal = requester.identities.local
    role      = \"emergency-bench\"
  }
}
";

struct Scale {
    activations: usize,
    resources: usize,
    events: usize,
    plan: Vec<Sample>,
    floor: Vec<f64>,
    emergency: Vec<Sample>,
    emergency_full_platform: Vec<Sample>,
    status: Vec<Sample>,
    verify: Vec<Sample>,
    report: Vec<Sample>,
    state_json_mb: f64,
}

fn build_scale(
    root: &Path,
    roles: usize,
    events: usize,
    runs: usize,
    emergency_runs: usize,
) -> Scale {
    let spec = Spec::scaled(roles);
    let now = jiff::Timestamp::now();
    let world_dir = root.join(format!("plan-{roles}"));
    support::write_policy(&world_dir, &spec);
    let world = support::world(&spec, support::load(&world_dir, now).policy.unwrap(), now);
    let state = world.state.clone();
    // The state and its log, imported into the database as `state migrate` would.
    let lines = audit_lines(&state, events);
    let import = |dir: &Path, lines: &[String]| {
        let store = LocalStore::new(dir.join(".breakglass/state.db"));
        block_on(store.import(&state, &mut lines.iter().cloned().map(Ok::<_, StateError>)))
            .unwrap();
    };
    import(&world_dir, &lines);
    write_app_document(&world_dir.join("app/access.json"), &world.live_objects());
    // Privileged entries nobody granted are part of the live objects already.
    let pulled = world_dir.join("state.json.bench");
    fs_err::write(&pulled, serde_json::to_vec_pretty(&state).unwrap()).unwrap();
    let state_json_mb = fs_err::metadata(&pulled).unwrap().len() as f64 / 1e6;
    eprintln!(
        "world of {} roles: {} activations ({} live), {} resources, {} events, state as JSON {:.1} MB",
        roles,
        state.activations.len(),
        state.activations.values().filter(|a| a.status != ActivationStatus::Reverted).count(),
        state.resources.len(),
        events,
        state_json_mb
    );

    let mut scale = Scale {
        activations: state.activations.len(),
        resources: state.resources.len(),
        events,
        plan: Vec::new(),
        floor: Vec::new(),
        emergency: Vec::new(),
        emergency_full_platform: Vec::new(),
        status: Vec::new(),
        verify: Vec::new(),
        report: Vec::new(),
        state_json_mb,
    };
    for _ in 0..runs {
        scale.plan.push(measure(&world_dir, &["plan"], &[]));
        let started = Instant::now();
        let status = Command::new("python3")
            .arg("-c")
            .arg("import json,sys; json.load(open(sys.argv[1]))")
            .arg(&pulled)
            .status()
            .unwrap();
        assert!(status.success());
        scale.floor.push(started.elapsed().as_secs_f64());
    }

    // apply --emergency: a policy of constant size (the persons, the bench role), the state of
    // this scale.
    for (label, full_platform) in [("own", false), ("full", true)] {
        let dir = root.join(format!("emergency-{roles}-{label}"));
        let big = Spec::scaled(200);
        support::write_policy(&dir, &big);
        for entry in fs_err::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            if name.starts_with("roles_") || name.starts_with("baseline_") {
                fs_err::remove_file(path).unwrap();
            }
        }
        // The approvers groups of the generated people auto-approve roles left out here; the
        // persons who request get keys of their own (a request names its signer).
        let count = emergency_runs.min(big.persons);
        let requesters: Vec<String> = (0..count).map(support::person_name).collect();
        for person in &requesters {
            breakglass::sign::generate_key_pair(&dir.join(format!("keys/{person}.key"))).unwrap();
        }
        let people = fs_err::read_to_string(dir.join("people.hcl")).unwrap();
        let mut current = String::new();
        let people: String = people
            .lines()
            .map(|line| {
                if let Some(rest) = line.strip_prefix("person \"") {
                    current = rest.split('"').next().unwrap_or_default().to_owned();
                }
                if line.trim_start().starts_with("auto_approve") {
                    "  auto_approve   = []".to_owned()
                } else if line.contains("public_key") && requesters.contains(&current) {
                    format!("  public_key   = file(\"keys/{current}.pub\")")
                } else {
                    line.to_owned()
                }
            })
            .collect::<Vec<_>>()
            .join("\n");
        fs_err::write(dir.join("people.hcl"), people + "\n").unwrap();
        fs_err::write(dir.join("bench.hcl"), BENCH_ROLE).unwrap();
        // The log goes with the state the commands below read.
        import(&dir, if full_platform { &[] } else { &lines });
        if !full_platform {
            for _ in 0..runs {
                scale.status.push(measure(&dir, &["status"], &[]));
                scale.verify.push(measure(&dir, &["audit", "verify"], &[]));
                scale.report.push(measure(&dir, &["audit", "report", "--format", "json"], &[]));
            }
        }
        if full_platform {
            write_app_document(&dir.join("app/access.json"), &world.live_objects());
        }
        for person in &requesters {
            let request = Command::new(support::binary())
                .current_dir(&dir)
                .env_remove("BREAKGLASS_TEST_NOW")
                .args(["request", "emergency_bench", "--duration", "1h"])
                .args(["--justification", "bench: INC-20", "--as", person])
                .args(["--key", &format!("keys/{person}.key"), "--out", "req.json"])
                .output()
                .unwrap();
            assert!(
                request.status.success(),
                "request failed: {}",
                String::from_utf8_lossy(&request.stderr)
            );
            let sample = measure(&dir, &["apply", "--emergency", "req.json"], &[]);
            if full_platform {
                scale.emergency_full_platform.push(sample);
            } else {
                scale.emergency.push(sample);
            }
        }
    }
    drop(world);
    scale
}

fn main() {
    let scales: Vec<usize> = std::env::var("BENCH_SCALES")
        .ok()
        .map(|s| s.split(',').filter_map(|n| n.trim().parse().ok()).collect())
        .unwrap_or_else(|| vec![100, 5_000, 60_900]);
    let runs = env_usize("BENCH_RUNS", 3).max(1);
    let emergency_runs = env_usize("BENCH_EMERGENCY_RUNS", 20).max(1);
    let largest_events = env_usize("BENCH_EVENTS", 1_000_000);
    let kept = std::env::var_os("BENCH_KEEP").map(PathBuf::from);
    let temp = tempfile::tempdir().unwrap();
    let root = kept.as_deref().unwrap_or(temp.path()).to_path_buf();
    fs_err::create_dir_all(&root).unwrap();
    println!("== binary (issue 20): the breakglass binary in a fresh process per run ==");
    println!("binary: {}", support::binary().display());
    let largest = scales.iter().copied().max().unwrap_or(1).max(1);
    let mut results = Vec::new();
    for target in &scales {
        // Spec::scaled(r) holds 6r live activations, 0.06r ended and 0.03r starting.
        let roles = ((*target as f64) / 6.09).round().max(1.0) as usize;
        let events = largest_events * target / largest;
        let started = Instant::now();
        let scale = build_scale(&root, roles, events, runs, emergency_runs);
        eprintln!("scale {target} done in {:.0} s", started.elapsed().as_secs_f64());
        results.push(scale);
    }
    println!(
        "\n| live activations | resources | events | whole plan | json.load floor | plan ÷ floor | status | audit verify | audit report |"
    );
    println!("| --- | --- | --- | --- | --- | --- | --- | --- | --- |");
    for s in &results {
        let mut floor = s.floor.clone();
        floor.sort_by(f64::total_cmp);
        let floor = percentile(&floor, 50.0);
        println!(
            "| {} | {} | {} | {} | {:.0} ms ({:.1} MB) | {:.2} | {} | {} | {} |",
            s.activations,
            s.resources,
            s.events,
            summary(&s.plan),
            floor * 1e3,
            s.state_json_mb,
            median(&s.plan) / floor,
            summary(&s.status),
            summary(&s.verify),
            summary(&s.report)
        );
    }
    println!(
        "\n| live activations | apply --emergency (provider document: its own grants) | (provider document: every live object) |"
    );
    println!("| --- | --- | --- |");
    for s in &results {
        println!(
            "| {} | {} | {} |",
            s.activations,
            summary(&s.emergency),
            summary(&s.emergency_full_platform)
        );
    }
    if let (Some(small), Some(big)) = (results.first(), results.last()) {
        let ratio = median(&big.emergency) / median(&small.emergency);
        let peak = big.emergency.iter().map(|s| s.peak_mb).fold(0.0, f64::max);
        println!(
            "\ntargets at {} activations: apply --emergency median {:.0} ms (< 200 ms: {}), {:.2}× \
             its time at {} (< 2×: {}), peak {:.0} MB (< 200 MB: {})",
            big.activations,
            median(&big.emergency) * 1e3,
            median(&big.emergency) < 0.2,
            ratio,
            small.activations,
            ratio < 2.0,
            peak,
            peak < 200.0
        );
    }
}
