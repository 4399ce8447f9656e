//! Issue 4's emergency benchmark: time from the start of `breakglass apply --emergency` to the
//! grant written on the local provider (target < 200 ms), driving the real binary on a scratch
//! copy of examples/quickstart.
//!
//! Per run, untimed: `request` (and for prod_admin two `approve`s and a TOTP code); then timed:
//! the `apply --emergency` process from spawn, with app/access.json polled every millisecond,
//! so two figures come out: until the entry appears (the grant written) and until the process
//! exits (state marked active, audit written).
//!
//! Each run uses its own generated person, so every grant creates a fresh entry (a second
//! activation of one role for one person would share the entry and only extend it), each TOTP
//! code is the first of its person's time step, and the `high_risk_monthly` limit (3 per person
//! per 30 days) is never reached.
//!
//! `cargo bench --bench emergency`; `BENCH_RUNS=N` (read_logs, default 40),
//! `BENCH_HIGH_RUNS=N` (prod_admin, default 10).

mod support;

use std::time::{Duration, Instant};
use support::{Scratch, percentiles_ms};

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// Spawns `apply --emergency ARGS…` and returns (seconds until `principal` holds `role` in
/// app/access.json, seconds until the process exited).
fn timed_apply(scratch: &Scratch, args: &[&str], principal: &str, role: &str) -> (f64, f64) {
    let mut command = scratch.command(args);
    command.stdout(std::process::Stdio::null()).stderr(std::process::Stdio::piped());
    let started = Instant::now();
    let mut child = command.spawn().unwrap();
    let mut written = None;
    let exited = loop {
        if written.is_none() && scratch.holders(role).is_some_and(|h| h.contains(principal)) {
            written = Some(started.elapsed());
        }
        if let Some(status) = child.try_wait().unwrap() {
            let at = started.elapsed();
            if !status.success() {
                let mut stderr = String::new();
                std::io::Read::read_to_string(child.stderr.as_mut().unwrap(), &mut stderr).ok();
                panic!("apply --emergency failed ({status}): {stderr}");
            }
            break at;
        }
        assert!(started.elapsed() < Duration::from_secs(60), "apply --emergency hangs");
        std::thread::sleep(Duration::from_millis(1));
    };
    let written = written
        .or_else(|| scratch.holders(role).is_some_and(|h| h.contains(principal)).then_some(exited))
        .expect("the grant is in app/access.json after apply --emergency");
    (written.as_secs_f64(), exited.as_secs_f64())
}

fn report(what: &str, written: &[f64], exited: &[f64]) {
    println!("{what}");
    println!("  start → grant written in app/access.json: {}", percentiles_ms(written));
    println!("  start → process exit (state, audit):      {}", percentiles_ms(exited));
    let mut sorted = written.to_vec();
    sorted.sort_by(f64::total_cmp);
    let p99 = support::percentile(&sorted, 99.0);
    let p50 = support::percentile(&sorted, 50.0);
    println!(
        "  target < 200 ms to grant written: p50 {}, p99 {}",
        if p50 < 0.2 { "met" } else { "MISSED" },
        if p99 < 0.2 { "met" } else { "MISSED" }
    );
}

fn main() {
    let low_runs = env_usize("BENCH_RUNS", 40);
    let high_runs = env_usize("BENCH_HIGH_RUNS", 10);
    let low: Vec<String> = (0..low_runs).map(|n| format!("e{n:03}")).collect();
    let high: Vec<String> = (0..high_runs).map(|n| format!("h{n:03}")).collect();
    let persons: Vec<String> = low.iter().chain(&high).cloned().collect();
    println!("== emergency (issue 4): apply --emergency on a scratch quickstart ==");
    println!("binary: {}", support::binary().display());
    let setup = Instant::now();
    let scratch = Scratch::quickstart(&persons);
    println!(
        "scratch copy with {} generated persons, baseline applied, in {:.1} s: {}",
        persons.len(),
        setup.elapsed().as_secs_f64(),
        scratch.path().display()
    );

    // read_logs: low risk, auto-approved (no tokens, no TOTP).
    let (mut written, mut exited) = (Vec::new(), Vec::new());
    for person in &low {
        scratch.run(&[
            "request",
            "read_logs",
            "--duration",
            "1h",
            "--justification",
            "bench: read logs",
            "--as",
            person,
            "--key",
            &format!("keys/{person}.key"),
            "--out",
            "request.json",
        ]);
        let (w, e) =
            timed_apply(&scratch, &["apply", "--emergency", "request.json"], person, "log-reader");
        written.push(w);
        exited.push(e);
    }
    report("read_logs (auto-approved; signature checks only):", &written, &exited);

    // prod_admin: two approval tokens and a TOTP code to check.
    let (mut written, mut exited) = (Vec::new(), Vec::new());
    for person in &high {
        scratch.run(&[
            "request",
            "prod_admin",
            "--duration",
            "30m",
            "--justification",
            "bench: INC-4711",
            "--as",
            person,
            "--key",
            &format!("keys/{person}.key"),
            "--out",
            "request.json",
        ]);
        let carol = scratch.run(&[
            "approve",
            "request.json",
            "--as",
            "carol",
            "--key",
            "keys/carol.key",
            "--yes",
        ]);
        let dave = scratch.run(&[
            "approve",
            "request.json",
            "--as",
            "dave",
            "--key",
            "keys/dave.key",
            "--yes",
        ]);
        let code = scratch.run(&["totp", "code", person]);
        let (w, e) = timed_apply(
            &scratch,
            &[
                "apply",
                "--emergency",
                "request.json",
                "--approval",
                &carol,
                "--approval",
                &dave,
                "--totp",
                &code,
            ],
            person,
            "prod-admin",
        );
        written.push(w);
        exited.push(e);
    }
    if !high.is_empty() {
        report("prod_admin (2 approval tokens + TOTP):", &written, &exited);
    }
}
