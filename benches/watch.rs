//! Issue 4's watch benchmark: how long after an activation ends `breakglass watch` takes its
//! grant away, over 100 activations ending close together (target p99 < 1 s).
//!
//! On a scratch quickstart copy with 100 generated persons in team oncall: start `watch` (real
//! clock); each person requests the auto-approved `read_logs` role with a duration chosen so
//! that every activation ends in the same second (or spread over `BENCH_SPREAD_S` seconds), and
//! applies it, so each activation has its own access entry. The end of each activation is read
//! from state; app/access.json is polled every 10 ms, and the latency of each is (first poll
//! that no longer sees its entry) − (its end). State's `reverted_at` has second precision, too
//! coarse for this.
//!
//! `cargo bench --bench watch`; `BENCH_ACTIVATIONS=N` (default 100), `BENCH_SPREAD_S=N`
//! (default: one run with all ending in one second, one spread over 10 s).

mod support;

use jiff::{SignedDuration, Timestamp};
use std::collections::BTreeMap;
use std::time::{Duration, Instant};
use support::{Scratch, percentiles_ms};

fn env_usize(name: &str) -> Option<usize> {
    std::env::var(name).ok().and_then(|v| v.parse().ok())
}

fn scenario(count: usize, spread: usize) {
    let persons: Vec<String> = (0..count).map(|n| format!("w{n:03}")).collect();
    let scratch = Scratch::quickstart(&persons);
    let log = fs_err::File::create(scratch.path().join("watch.log")).unwrap().into_parts().0;
    let mut watch =
        scratch.command(&["watch"]).stdout(log.try_clone().unwrap()).stderr(log).spawn().unwrap();

    // Ends: creating one activation takes two processes (~0.1–0.3 s here), so leave room.
    let lead = 10 + count as i64 * 4 / 10;
    let first_end = Timestamp::now().checked_add(SignedDuration::from_secs(lead)).unwrap();
    let first_end = Timestamp::from_second(first_end.as_second()).unwrap();
    let creating = Instant::now();
    for (k, person) in persons.iter().enumerate() {
        let end = first_end + SignedDuration::from_secs((k % spread) as i64);
        let now = Timestamp::from_second(Timestamp::now().as_second()).unwrap();
        let duration = end.duration_since(now).as_secs();
        assert!(duration > 2, "creating activations took too long; raise the lead");
        scratch.run(&[
            "request",
            "read_logs",
            "--duration",
            &format!("{duration}s"),
            "--justification",
            "bench: watch",
            "--as",
            person,
            "--key",
            &format!("keys/{person}.key"),
            "--out",
            "request.json",
        ]);
        scratch.run(&["apply", "--emergency", "request.json"]);
    }
    let created = creating.elapsed().as_secs_f64();
    let mut ends: BTreeMap<String, Timestamp> = BTreeMap::new();
    let state = scratch.state();
    for activation in state["activations"].as_object().unwrap().values() {
        let requester = activation["requester"].as_str().unwrap().to_owned();
        if persons.contains(&requester) {
            ends.insert(requester, activation["end"].as_str().unwrap().parse().unwrap());
        }
    }
    assert_eq!(ends.len(), count, "every activation is recorded");
    let holders = scratch.holders("log-reader").unwrap();
    assert!(persons.iter().all(|p| holders.contains(p)), "every grant is in place before its end");
    let (earliest, latest) = (ends.values().min().unwrap(), ends.values().max().unwrap());
    println!(
        "{count} activations created in {created:.1} s, ending between {earliest} and {latest} \
         ({} distinct end seconds)",
        ends.values().collect::<std::collections::BTreeSet<_>>().len()
    );

    let mut removed: BTreeMap<String, Timestamp> = BTreeMap::new();
    let deadline = *latest + SignedDuration::from_secs(60);
    while removed.len() < count && Timestamp::now() < deadline {
        if let Some(holders) = scratch.holders("log-reader") {
            let now = Timestamp::now();
            for person in &persons {
                if !holders.contains(person) && !removed.contains_key(person) {
                    removed.insert(person.clone(), now);
                }
            }
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let _ = std::process::Command::new("kill").args(["-TERM", &watch.id().to_string()]).status();
    let status = watch.wait().unwrap();
    let log = fs_err::read_to_string(scratch.path().join("watch.log")).unwrap_or_default();
    assert_eq!(removed.len(), count, "watch reverted every activation within 60 s; log:\n{log}");
    let mut early = 0;
    let latencies: Vec<f64> = removed
        .iter()
        .map(|(person, at)| {
            let latency = at.duration_since(ends[person]).as_secs_f64();
            if latency < 0.0 {
                early += 1;
            }
            latency
        })
        .collect();
    println!("  revert latency (entry gone − end): {}", percentiles_ms(&latencies));
    let mut sorted = latencies.clone();
    sorted.sort_by(f64::total_cmp);
    let p99 = support::percentile(&sorted, 99.0);
    println!("  target p99 < 1 s: {}", if p99 < 1.0 { "met" } else { "MISSED" });
    if early > 0 {
        println!("  WARNING: {early} entries disappeared before their end");
    }
    println!("  watch exited with {status} on SIGTERM");
    assert!(status.success(), "watch exits 0 on SIGTERM; log:\n{log}");
}

fn main() {
    let count = env_usize("BENCH_ACTIVATIONS").unwrap_or(100);
    println!("== watch (issue 4): revert latency after expiry, {count} activations ==");
    println!("binary: {}", support::binary().display());
    let spreads = env_usize("BENCH_SPREAD_S").map_or_else(|| vec![1, 10], |s| vec![s.max(1)]);
    for spread in spreads {
        println!("-- all ending within {spread} second{} --", if spread == 1 { "" } else { "s" });
        scenario(count, spread);
    }
}
