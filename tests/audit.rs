//! The audit log end to end: every tampering case caught at the right line through the CLI;
//! the post-event report of activations that expired, were revoked early and were refused; the
//! walkthrough of the README told whole in markdown; overuse flagged; real-time delivery to a
//! webhook that fails, without delaying a revert; the OCSF export; and no secret anywhere.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use breakglass::audit::line_hash;
use breakglass::engine::emergency::TotpSecrets;

use crate::util::{Outcome, Run, example_copy, read};

const T0: &str = "2026-11-28T12:00:00Z";
/// The local state database, where the log lives.
const LOG: &str = ".breakglass/state.db";

/// A run at `time`, as executor `ci` (the executor's name is in events).
fn at(dir: &Path, time: &str) -> Run {
    Run::new(dir).env("BREAKGLASS_TEST_NOW", time).env("USER", "ci")
}

fn plus(time: &str, seconds: i64) -> String {
    let t: jiff::Timestamp = time.parse().unwrap();
    t.checked_add(jiff::SignedDuration::from_secs(seconds)).unwrap().to_string()
}

fn totp(dir: &Path, person: &str, time: &str) -> String {
    TotpSecrets::load(&dir.join("keys/totp-secrets.demo.json"))
        .unwrap()
        .code(person, time.parse().unwrap())
        .unwrap()
}

fn request(dir: &Path, time: &str, name: &str, person: &str, duration: &str, why: &str) -> Outcome {
    at(dir, time)
        .args(["request", name, "--duration", duration, "--justification", why])
        .args(["--as", person, "--key", &format!("keys/{person}.key"), "--out", "req.json"])
        .run()
}

fn approve(dir: &Path, time: &str, person: &str, extra: &[&str]) -> String {
    at(dir, time)
        .args(["approve", "req.json", "--as", person, "--key", &format!("keys/{person}.key")])
        .args(extra)
        .args(["--yes"])
        .run()
        .expect_code(0)
        .stdout
        .trim()
        .to_owned()
}

fn apply_emergency(dir: &Path, time: &str, tokens: &[&str], totp_code: Option<&str>) -> Outcome {
    let mut run = at(dir, time).args(["apply", "--emergency", "req.json"]);
    for token in tokens {
        run = run.args(["--approval", token]);
    }
    if let Some(code) = totp_code {
        run = run.args(["--totp", code]);
    }
    run.run()
}

fn state(dir: &Path) -> serde_json::Value {
    crate::util::state(dir)
}

/// The ids of activations in state, in the order they were created.
fn activation_ids(dir: &Path) -> Vec<String> {
    let state = state(dir);
    let mut ids: Vec<(String, String)> = state["activations"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(id, a)| (a["created_at"].as_str().unwrap().to_owned(), id.clone()))
        .collect();
    ids.sort();
    ids.into_iter().map(|(_, id)| id).collect()
}

/// Activation ids replaced by `act_A`, `act_B`… in order of appearance, and hashes by
/// `[HASH]`, so snapshots are stable.
fn normalize(text: &str) -> String {
    let ids = regex_like_find_all(text, "act_", 26);
    let mut out = text.to_owned();
    for (index, id) in ids.iter().enumerate() {
        out = out.replace(id.as_str(), &format!("act_{}", (b'A' + index as u8) as char));
    }
    let mut hashes = BTreeSet::new();
    let bytes = out.as_bytes();
    let mut start = 0;
    while start < bytes.len() {
        let run = bytes[start..]
            .iter()
            .take_while(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
            .count();
        if run == 64 {
            hashes.insert(out[start..start + 64].to_owned());
        }
        start += run.max(1);
    }
    for hash in hashes {
        out = out.replace(&hash, "[HASH]");
    }
    out
}

/// Every `PREFIX` followed by `length` alphanumerics, in order of first appearance.
fn regex_like_find_all(text: &str, prefix: &str, length: usize) -> Vec<String> {
    let mut found: Vec<String> = Vec::new();
    let mut rest = text;
    while let Some(at) = rest.find(prefix) {
        let candidate = &rest[at..];
        let body: String =
            candidate[prefix.len()..].chars().take_while(char::is_ascii_alphanumeric).collect();
        if body.len() == length {
            let id = format!("{prefix}{body}");
            if !found.contains(&id) {
                found.push(id);
            }
        }
        rest = &candidate[prefix.len()..];
    }
    found
}

/// A quickstart copy with the baseline applied.
fn ready() -> tempfile::TempDir {
    let dir = example_copy("quickstart");
    at(dir.path(), T0).args(["apply", "--auto-approve"]).run().expect_code(0);
    dir
}

/// The README's emergency walkthrough: alice asks for prod_admin, carol and dave approve, the
/// executor applies it with alice's TOTP code, and it is reverted at its end.
fn walkthrough() -> tempfile::TempDir {
    let dir = ready();
    let path = dir.path();
    request(path, T0, "prod_admin", "alice", "30m", "INC-4711: payments API down").expect_code(0);
    let t1 = plus(T0, 60);
    let carol = approve(path, &t1, "carol", &["--comment", "ok, INC-4711 is real"]);
    let dave = approve(path, &t1, "dave", &[]);
    let t2 = plus(T0, 120);
    apply_emergency(path, &t2, &[&carol, &dave], Some(&totp(path, "alice", &t2))).expect_code(0);
    at(path, &plus(T0, 600)).args(["status"]).run().expect_code(0);
    at(path, "2026-11-28T12:30:01Z").args(["reconcile"]).run().expect_code(0);
    dir
}

#[test]
fn after_the_walkthrough_the_log_verifies_and_the_markdown_report_tells_the_whole_story() {
    let dir = walkthrough();
    let path = dir.path();
    let verified = at(path, "2026-11-28T12:31:00Z").args(["audit", "verify"]).run().expect_code(0);
    let log = crate::util::audit_text(path);
    let last = log.lines().last().unwrap();
    assert_eq!(
        verified.stdout,
        format!(
            "The audit log {LOG} verifies: {} event(s), head {}.\n",
            log.lines().count(),
            line_hash(last)
        )
    );
    let head = at(path, "2026-11-28T12:31:00Z").args(["audit", "head"]).run().expect_code(0);
    assert_eq!(head.stdout.trim(), line_hash(last));

    let report = at(path, "2026-11-28T12:31:00Z")
        .args(["audit", "report", "--format", "markdown"])
        .run()
        .expect_code(0);
    snapshot!("audit_report_walkthrough_markdown", normalize(&report.stdout));
}

#[test]
fn each_tampering_is_caught_at_its_line_with_exit_1() {
    let dir = walkthrough();
    let path = dir.path();
    let original = crate::util::audit_text(path);
    let lines: Vec<String> = original.lines().map(str::to_owned).collect();
    assert!(lines.len() >= 15, "a realistic log: {} lines", lines.len());
    let head = line_hash(lines.last().unwrap());
    let broken = |name: &str, edited: Vec<String>, anchor: Option<&str>| -> (usize, String) {
        let file = path.join(format!("{name}.jsonl"));
        let mut body = edited.join("\n");
        body.push('\n');
        fs_err::write(&file, body).unwrap();
        let mut run = at(path, T0).args(["audit", "verify", "--log"]).args([&file]);
        if let Some(anchor) = anchor {
            run = run.args(["--anchor", anchor]);
        }
        let outcome = run.run().expect_code(1);
        let line: usize = outcome
            .stderr
            .split("line ")
            .nth(1)
            .and_then(|rest| rest.split(':').next())
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("{name}: no line number in {:?}", outcome.stderr));
        (line, outcome.stderr)
    };

    // One field of line 4 edited: line 5's prev no longer matches.
    let mut edited = lines.clone();
    assert!(edited[3].contains("\"actor\":\""), "{}", edited[3]);
    edited[3] = edited[3].replacen("\"result\":\"ok\"", "\"result\":\"failed\"", 1);
    assert_ne!(edited[3], lines[3]);
    let (line, message) = broken("edited", edited, None);
    assert_eq!(line, 5, "{message}");
    assert!(message.contains("a line was edited, deleted, inserted or moved here"), "{message}");

    let mut deleted = lines.clone();
    deleted.remove(6);
    assert_eq!(broken("deleted", deleted, None).0, 7);

    // A forged line that does not chain is caught where it is…
    let mut forged: serde_json::Value = serde_json::from_str(&lines[7]).unwrap();
    forged["actor"] = "mallory".into();
    forged["reason"] = "nothing to see".into();
    let mut inserted = lines.clone();
    inserted.insert(8, forged.to_string());
    assert_eq!(broken("inserted", inserted, None).0, 9);
    // …and one forged to chain to the line before it, at the next line.
    forged["prev"] = line_hash(&lines[7]).into();
    let mut well_forged = lines.clone();
    well_forged.insert(8, forged.to_string());
    assert_eq!(broken("well_forged", well_forged, None).0, 10);

    let mut swapped = lines.clone();
    swapped.swap(9, 10);
    assert_eq!(broken("swapped", swapped, None).0, 10);

    let mut garbage = lines.clone();
    garbage[11] = "{\"time\": \"2026-11-28T12:00:00Z\", this is not JSON".to_owned();
    let (line, message) = broken("garbage", garbage, None);
    assert_eq!(line, 12);
    assert!(message.contains("not a JSON audit event"), "{message}");

    // Truncation: the chain alone cannot see it; the anchor recorded earlier can.
    let truncated = lines[..lines.len() - 3].to_vec();
    let file = path.join("truncated.jsonl");
    fs_err::write(&file, truncated.join("\n") + "\n").unwrap();
    at(path, T0).args(["audit", "verify", "--log"]).args([&file]).run().expect_code(0);
    let (line, message) = broken("truncated", truncated, Some(&head));
    assert_eq!(line, lines.len() - 2);
    assert!(message.contains("is not the hash of any line"), "{message}");

    // The untouched log still verifies with the anchor, and says where the anchor is; --json.
    let json = at(path, T0)
        .args(["audit", "verify", "--json", "--anchor", &line_hash(&lines[4])])
        .run()
        .expect_code(0)
        .json();
    assert_eq!(json["verified"], true);
    assert_eq!(json["anchor"]["line"], 5);
    assert_eq!(json["lines"], lines.len());
    let tampered: Vec<String> =
        original.replace("\"carol\"", "\"mallory\"").lines().map(str::to_owned).collect();
    crate::util::set_audit_lines(path, &tampered);
    let json = at(path, T0).args(["audit", "verify", "--json"]).run().expect_code(1).json();
    assert_eq!(json["verified"], false);
    let broken_line = json["line"].as_u64().unwrap();
    assert!(broken_line > 1);
    // A report reads the log its own way (grouped by activation), and still finds the break
    // at the same line, whether on the whole log or on one activation.
    let report_all = at(path, T0).args(["audit", "report", "--format", "json"]).run();
    let report_one = at(path, T0)
        .args(["audit", "report", "--format", "json", "--activation"])
        .args([&activation_ids(path)[0]])
        .run();
    for report in [report_all, report_one] {
        assert!(report.stderr.contains("the audit log does NOT verify"), "{}", report.stderr);
        let log = report.expect_code(1).json()["log"].clone();
        assert_eq!(log["verified"], false, "{log}");
        assert_eq!(log["broken_at"], broken_line, "{log}");
        assert!(log.get("head").is_none(), "{log}");
    }
    // A broken chain has no head to record.
    let head = at(path, T0).args(["audit", "head"]).run().expect_code(1);
    assert!(head.stdout.is_empty(), "{}", head.stdout);
    let bad = at(path, T0).args(["audit", "verify", "--anchor", "abc"]).run().expect_code(1);
    assert!(bad.stderr.contains("is not a head hash"), "{}", bad.stderr);
}

/// bob turns the chatbot off and carol revokes it early; bob does it again beyond a limit that
/// only warns and it expires; alice's prod_admin request is denied by dave, so its apply is
/// refused; carol asks for prod_admin and is refused outright.
fn scenario() -> tempfile::TempDir {
    let dir = example_copy("quickstart");
    let path = dir.path();
    let access = path.join("access.hcl");
    let text = read(&access)
        .replace("max_activations = 3", "max_activations = 1")
        .replace("action          = \"refuse\"", "action          = \"warn\"");
    fs_err::write(&access, text).unwrap();
    let main = path.join("main.hcl");
    let text = read(&main).replace(
        "  totp_secrets_file = \"keys/totp-secrets.demo.json\"\n",
        "  totp_secrets_file = \"keys/totp-secrets.demo.json\"\n\n  audit {\n    working_hours {\n      \
         days      = [\"mon\", \"tue\", \"wed\", \"thu\", \"fri\", \"sat\"]\n      start     = \"08:00\"\n      \
         end       = \"18:00\"\n      time_zone = \"Europe/Paris\"\n    }\n  }\n",
    );
    fs_err::write(&main, text).unwrap();
    at(path, T0).args(["apply", "--auto-approve"]).run().expect_code(0);

    request(path, T0, "chatbot_kill_switch", "bob", "1h", "INC-12: chatbot leaks order data")
        .expect_code(0);
    let carol = approve(path, T0, "carol", &["--comment", "kill it"]);
    apply_emergency(path, &plus(T0, 60), &[&carol], None).expect_code(0);
    let revoked = activation_ids(path)[0].clone();
    at(path, &plus(T0, 600))
        .args(["revoke", &revoked, "--reason", "chatbot fixed", "--as", "carol"])
        .run()
        .expect_code(0);

    let t = plus(T0, 20 * 60);
    let warned = request(path, &t, "chatbot_kill_switch", "bob", "30m", "INC-13: leaking again")
        .expect_code(0);
    assert!(warned.stdout.contains("warning: limit \"high_risk_monthly\""), "{}", warned.stdout);
    let carol = approve(path, &t, "carol", &[]);
    apply_emergency(path, &plus(&t, 60), &[&carol], None).expect_code(0);
    at(path, &plus(T0, 51 * 60)).args(["reconcile"]).run().expect_code(0);

    let t = plus(T0, 55 * 60);
    request(path, &t, "prod_admin", "alice", "30m", "INC-14: disk full").expect_code(0);
    let carol = approve(path, &t, "carol", &["--comment", "ok"]);
    let dave = approve(path, &t, "dave", &["--deny", "--comment", "use read_logs"]);
    apply_emergency(path, &plus(&t, 30), &[&carol, &dave], Some(&totp(path, "alice", &t)))
        .expect_code(5);
    request(path, &plus(&t, 60), "prod_admin", "carol", "30m", "curious").expect_code(5);
    dir
}

#[test]
fn reports_of_an_activation_revoked_early_one_expired_past_a_warning_limit_and_one_refused() {
    let dir = scenario();
    let path = dir.path();
    let now = "2026-11-28T13:00:00Z";
    let report = |args: &[&str]| {
        at(path, now).args(["audit", "report"]).args(args).run().expect_code(0).stdout
    };
    let text = report(&[]);
    snapshot!("audit_report_scenario_text", normalize(&text));

    let json: serde_json::Value = serde_json::from_str(&report(&["--format", "json"])).unwrap();
    let activations = json["activations"].as_array().unwrap();
    let statuses: Vec<&str> =
        activations.iter().map(|a| a["outcome"]["status"].as_str().unwrap()).collect();
    assert_eq!(statuses, ["revoked", "expired", "refused"]);
    let ids: Vec<&str> = activations.iter().map(|a| a["id"].as_str().unwrap()).collect();
    for (id, name) in ids.iter().zip(["revoked", "expired", "refused"]) {
        let markdown = report(&["--activation", id, "--format", "markdown"]);
        snapshot!(format!("audit_report_{name}_markdown"), normalize(&markdown));
    }
    // Overuse: the second kill switch went ahead flagged, and the report shows it.
    assert!(
        activations[1]["anomalies"].as_array().unwrap().iter().any(|a| a
            .as_str()
            .unwrap()
            .starts_with("flagged at request time: limit \"high_risk_monthly\"")),
        "{}",
        activations[1]["anomalies"]
    );
    let limits = json["limits"].as_array().unwrap();
    assert_eq!(limits[0]["whom"], "bob");
    assert_eq!(limits[0]["used"], 2);
    let bob = json["usage"].as_array().unwrap().iter().find(|u| u["person"] == "bob").unwrap();
    assert_eq!(bob["activations"], 2);
    assert_eq!(bob["granted_seconds"], 9 * 60 + 29 * 60, "12:01–12:10 and 12:21–12:50");
    // --since leaves out what ended before it.
    let since = report(&["--since", "2026-11-28T12:52:00Z", "--format", "json"]);
    let since: serde_json::Value = serde_json::from_str(&since).unwrap();
    assert_eq!(since["activations"].as_array().unwrap().len(), 1);
    let missing = at(path, now).args(["audit", "report", "--activation", "act_nope"]).run();
    assert!(missing.expect_code(1).stderr.contains("there is no activation act_nope"));
}

#[test]
fn the_ocsf_export_maps_every_event_and_keeps_its_hash() {
    let dir = walkthrough();
    let path = dir.path();
    let export =
        at(path, T0).args(["audit", "export", "--format", "ocsf"]).run().expect_code(0).stdout;
    let log = crate::util::audit_text(path);
    let events: Vec<serde_json::Value> =
        export.lines().map(|line| serde_json::from_str(line).unwrap()).collect();
    assert_eq!(events.len(), log.lines().count());
    for (event, line) in events.iter().zip(log.lines()) {
        assert_eq!(event["metadata"]["uid"], line_hash(line));
        assert_eq!(event["metadata"]["version"], "1.3.0");
        let (class, activity) =
            (event["class_uid"].as_u64().unwrap(), event["activity_id"].as_u64().unwrap());
        assert_eq!(event["type_uid"].as_u64().unwrap(), class * 100 + activity);
        assert!(
            event["time"].is_i64() && event["severity_id"].is_u64() && event["message"].is_string()
        );
    }
    let by_code = |code: &str| {
        events.iter().filter(|e| e["metadata"]["event_code"] == code).collect::<Vec<_>>()
    };
    let active = by_code("activation.active");
    assert_eq!(
        (active[0]["class_uid"].as_u64(), active[0]["activity_id"].as_u64()),
        (Some(3005), Some(1))
    );
    assert_eq!(active[0]["user"]["name"], "alice");
    assert_eq!(active[0]["privileges"][0], "role:prod_admin");
    let expired = by_code("activation.expired");
    assert_eq!(
        (expired[0]["class_uid"].as_u64(), expired[0]["activity_id"].as_u64()),
        (Some(3005), Some(2))
    );
    assert_eq!(expired[0]["user"]["name"], "alice", "the privileges revoked are alice's");
    assert_eq!(expired[0]["actor"]["user"]["name"], "executor:ci");
    let approvals = by_code("approval");
    assert_eq!(approvals.len(), 2);
    assert!(approvals.iter().all(|a| a["class_uid"] == 3003 && a["user"]["name"] == "alice"));
    let changes = by_code("apply.change");
    assert!(changes.iter().all(|c| c["class_uid"] == 3004));
    let mut emergency = by_code("apply.emergency")[0].clone();
    emergency["metadata"]["product"]["version"] = "[VERSION]".into();
    snapshot!(
        "audit_export_ocsf_apply_emergency",
        normalize(&serde_json::to_string_pretty(&emergency).unwrap())
    );
    let json = at(path, "2026-11-28T12:40:00Z")
        .args(["audit", "export", "--format", "json", "--since", "-10m"])
        .run()
        .expect_code(0)
        .stdout;
    let recent: Vec<serde_json::Value> =
        json.lines().map(|line| serde_json::from_str(line).unwrap()).collect();
    assert!(!recent.is_empty() && recent.len() < events.len());
    assert!(recent.iter().all(|e| e["time"].as_str().unwrap() >= "2026-11-28T12:30:00Z"));
    let last = log.lines().last().unwrap();
    assert_eq!(recent.last().unwrap()["hash"], line_hash(last));
}

#[test]
fn plan_signed_drift_found_and_lock_unlocked_are_recorded() {
    let dir = ready();
    let path = dir.path();
    at(path, T0)
        .args(["plan", "--out", "plan.json", "--sign-key", "keys/ci.key"])
        .run()
        .expect_code(0);
    let signed = breakglass::sign::read_plan_file(&path.join("plan.json")).unwrap();
    let event = last_event(path);
    assert_eq!(event["action"], "plan.signed");
    assert_eq!(event["actor"], "ci", "the signer, by the person whose key it is");
    assert_eq!(event["subject"]["plan_digest"], signed.digest);

    // Someone grants alice prod-admin by hand: drift that widens access.
    let access = path.join("app/access.json");
    let mut document: serde_json::Value = serde_json::from_str(&read(&access)).unwrap();
    document["access"]
        .as_array_mut()
        .unwrap()
        .push(serde_json::json!({"principal": "alice", "role": "prod-admin"}));
    fs_err::write(&access, document.to_string()).unwrap();
    at(path, T0).args(["plan"]).run().expect_code(0);
    let event = last_event(path);
    assert_eq!(event["action"], "drift.found");
    assert_eq!(event["details"]["drift"][0]["privileged"], true);
    assert_eq!(event["details"]["drift"][0]["kind"], "unmanaged");
    at(path, T0).args(["reconcile"]).run().expect_code(0);
    let log = crate::util::audit_text(path);
    let tail: Vec<serde_json::Value> =
        log.lines().rev().take(3).map(|l| serde_json::from_str(l).unwrap()).collect();
    assert!(tail.iter().any(|e| e["action"] == "drift.found"), "{log}");
    assert!(
        tail.iter().any(|e| e["action"] == "apply.change" && e["details"]["action"] == "delete"),
        "the reconcile removed it: {log}"
    );

    // A lock left by a process that is gone.
    let stale = serde_json::json!({
        "id": "01stalestalestalestalestal",
        "operation": "apply",
        "host": "elsewhere",
        "pid": 999_999,
        "created_at": T0,
    });
    fs_err::write(path.join(".breakglass/state.db.lock"), stale.to_string()).unwrap();
    at(path, T0).args(["state", "unlock", "01stalestalestalestalestal"]).run().expect_code(0);
    let event = last_event(path);
    assert_eq!(event["action"], "lock.unlocked");
    assert_eq!(event["actor"], "executor:ci");
    assert_eq!(event["details"]["pid"], 999_999);
    at(path, T0).args(["audit", "verify"]).run().expect_code(0);
}

fn last_event(dir: &Path) -> serde_json::Value {
    crate::util::last_event(dir)
}

#[test]
fn events_json_prints_each_event_as_recorded_with_its_hash() {
    let dir = example_copy("quickstart");
    let path = dir.path();
    // Before anything happened: an empty log verifies, and its head is the genesis value.
    let head = at(path, T0).args(["audit", "head"]).run().expect_code(0);
    assert_eq!(head.stdout.trim(), breakglass::audit::GENESIS);
    let verified = at(path, T0).args(["audit", "verify"]).run().expect_code(0);
    assert!(verified.stdout.contains("verifies: 0 event(s)"), "{}", verified.stdout);
    let outcome =
        at(path, T0).args(["apply", "--auto-approve", "--events", "json"]).run().expect_code(0);
    let printed: Vec<serde_json::Value> = outcome
        .stdout
        .lines()
        .filter(|l| l.starts_with('{'))
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let log = crate::util::audit_text(path);
    assert_eq!(printed.len(), log.lines().count(), "{}", outcome.stdout);
    for (event, line) in printed.iter().zip(log.lines()) {
        assert_eq!(event["hash"], line_hash(line));
        let mut recorded: serde_json::Value = serde_json::from_str(line).unwrap();
        recorded["hash"] = event["hash"].clone();
        assert_eq!(*event, recorded);
    }
    assert!(outcome.stdout.contains("Apply complete!"), "human output stays");
}

/// A webhook receiver on 127.0.0.1: answers each request with the next of `statuses` (then
/// 200), after `delay`; keeps the bodies it answered 200 to, and counts every request.
struct Receiver {
    url: String,
    accepted: Arc<Mutex<Vec<String>>>,
    requests: Arc<Mutex<usize>>,
}

fn receiver(path_secret: &str, statuses: Vec<u16>, delay: Duration) -> Receiver {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/services/{path_secret}", listener.local_addr().unwrap());
    let accepted = Arc::new(Mutex::new(Vec::new()));
    let requests = Arc::new(Mutex::new(0));
    let (keep, count) = (accepted.clone(), requests.clone());
    std::thread::spawn(move || {
        let mut statuses = statuses.into_iter();
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut length = 0;
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                    break;
                }
                if let Some(value) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                    length = value.trim().parse().unwrap_or(0);
                }
            }
            let mut body = vec![0; length];
            if reader.read_exact(&mut body).is_err() {
                continue;
            }
            *count.lock().unwrap() += 1;
            std::thread::sleep(delay);
            let status = statuses.next().unwrap_or(200);
            if status == 200 {
                keep.lock().unwrap().push(String::from_utf8(body).unwrap());
            }
            let _ = write!(
                stream,
                "HTTP/1.1 {status} X\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
            );
        }
    });
    Receiver { url, accepted, requests }
}

/// The quickstart with a webhook sink reading its URL from BG_HOOK.
fn with_sink(extra: &str) -> tempfile::TempDir {
    let dir = example_copy("quickstart");
    let main = dir.path().join("main.hcl");
    let text = read(&main).replace(
        "  totp_secrets_file = \"keys/totp-secrets.demo.json\"\n",
        &format!(
            "  totp_secrets_file = \"keys/totp-secrets.demo.json\"\n\n  audit {{\n    sink \"hook\" {{\n      \
             type    = \"webhook\"\n      url_env = \"BG_HOOK\"\n{extra}    }}\n  }}\n"
        ),
    );
    fs_err::write(&main, text).unwrap();
    dir
}

#[test]
fn a_webhook_that_answers_500_then_200_gets_each_event_exactly_once() {
    let hook = receiver("T000/B000/XOXB-SECRET", vec![500], Duration::ZERO);
    let dir = with_sink("");
    let path = dir.path();
    let run = |time: &str| at(path, time).env("BG_HOOK", &hook.url);
    run(T0).args(["apply", "--auto-approve"]).run().expect_code(0);
    request(path, T0, "read_logs", "bob", "10m", "INC-1: a quick look").expect_code(0);
    run(&plus(T0, 30)).args(["apply", "--emergency", "req.json"]).run().expect_code(0);
    let reconcile = run(&plus(T0, 11 * 60)).args(["reconcile"]).run().expect_code(0);
    assert!(!reconcile.stderr.contains("warning"), "{}", reconcile.stderr);

    let log = crate::util::audit_text(path);
    let hashes_in_log: BTreeMap<String, String> = log
        .lines()
        .map(|l| {
            let event: serde_json::Value = serde_json::from_str(l).unwrap();
            (line_hash(l), event["action"].as_str().unwrap().to_owned())
        })
        .collect();
    let delivered: Vec<serde_json::Value> =
        hook.accepted.lock().unwrap().iter().map(|b| serde_json::from_str(b).unwrap()).collect();
    let delivered_hashes: Vec<String> =
        delivered.iter().map(|e| e["hash"].as_str().unwrap().to_owned()).collect();
    let unique: BTreeSet<&String> = delivered_hashes.iter().collect();
    assert_eq!(unique.len(), delivered_hashes.len(), "no event twice: {delivered_hashes:?}");
    assert!(delivered_hashes.iter().all(|h| hashes_in_log.contains_key(h)), "only logged events");
    // Every event the executor's commands wrote was delivered: all but `request`'s.
    let expected: BTreeSet<&String> =
        hashes_in_log.iter().filter(|(_, action)| *action != "request").map(|(h, _)| h).collect();
    assert_eq!(unique, expected);
    assert_eq!(*hook.requests.lock().unwrap(), delivered_hashes.len() + 1, "one 500, retried once");
    let actions: Vec<&str> = delivered.iter().map(|e| e["action"].as_str().unwrap()).collect();
    for action in
        ["apply.emergency", "activation.active", "activation.expired", "activation.reverted"]
    {
        assert!(actions.contains(&action), "{action} delivered: {actions:?}");
    }
}

#[test]
fn a_hanging_webhook_delays_neither_the_revert_nor_the_exit_beyond_its_timeout() {
    // Answers nothing for a minute.
    let hook = receiver("T000/B000/XOXB-SECRET", Vec::new(), Duration::from_secs(60));
    let dir = with_sink("      timeout = \"1s\"\n");
    let path = dir.path();
    at(path, T0).args(["apply", "--auto-approve"]).run().expect_code(0);
    request(path, T0, "read_logs", "bob", "10m", "INC-1: a quick look").expect_code(0);
    at(path, T0).args(["apply", "--emergency", "req.json"]).run().expect_code(0);
    let started = Instant::now();
    let reconcile =
        at(path, &plus(T0, 11 * 60)).env("BG_HOOK", &hook.url).args(["reconcile"]).run();
    let elapsed = started.elapsed();
    let reconcile = reconcile.expect_code(0);
    let id = activation_ids(path)[0].clone();
    assert_eq!(state(path)["activations"][&id]["status"], "reverted");
    // 5 events, 5 attempts each, 1s each would be 25s if anyone waited for the webhook.
    assert!(elapsed < Duration::from_secs(4), "reconcile took {elapsed:?}");
    assert!(reconcile.stderr.contains("warning: sink \"hook\""), "{}", reconcile.stderr);
    assert!(reconcile.stderr.contains("they are in the audit log"), "{}", reconcile.stderr);
    assert!(!reconcile.stderr.contains("XOXB-SECRET"), "{}", reconcile.stderr);
    assert!(*hook.requests.lock().unwrap() >= 1, "the sink did try");

    // watch, with the same hanging sink, still reverts within a second of the end.
    let dir = with_sink("      timeout = \"1s\"\n");
    let path = dir.path();
    Run::new(path).real_clock().args(["apply", "--auto-approve"]).run().expect_code(0);
    let mut watch = Run::new(path)
        .real_clock()
        .env("BG_HOOK", &hook.url)
        .args(["watch", "--interval", "1h"])
        .spawn();
    Run::new(path)
        .real_clock()
        .args(["request", "read_logs", "--duration", "3s", "--justification", "INC-2: peek"])
        .args(["--as", "bob", "--key", "keys/bob.key", "--out", "req.json"])
        .run()
        .expect_code(0);
    Run::new(path).real_clock().args(["apply", "--emergency", "req.json"]).run().expect_code(0);
    let id = activation_ids(path)[0].clone();
    let end: jiff::Timestamp =
        state(path)["activations"][&id]["end"].as_str().unwrap().parse().unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    let reverted_at = loop {
        let current = state(path);
        if current["activations"][&id]["status"] == "reverted" {
            break current["activations"][&id]["reverted_at"]
                .as_str()
                .unwrap()
                .parse::<jiff::Timestamp>()
                .unwrap();
        }
        assert!(Instant::now() < deadline, "watch did not revert in time:\n{current}");
        std::thread::sleep(Duration::from_millis(100));
    };
    let latency = reverted_at.duration_since(end).as_secs_f64();
    assert!(latency <= 1.0, "reverted {latency}s after the end, with a hanging sink");
    std::process::Command::new("kill").args(["-TERM", &watch.id().to_string()]).status().unwrap();
    let status = watch.wait().unwrap();
    assert_eq!(status.code(), Some(0));
}

#[test]
fn no_secret_reaches_the_log_a_sink_or_any_output() {
    const PROVIDER_SECRET: &str = "sk-live-BREAKGLASS-TEST-7f3a9c2e1d";
    const HOOK_SECRET: &str = "T0SECRET/B0SECRET/XOXB-hook-token-5d1e";
    let hook = receiver(HOOK_SECRET, Vec::new(), Duration::ZERO);
    let dir = with_sink("      format  = \"slack\"\n");
    let path = dir.path();
    // A secret-looking provider setting, read with env().
    let main = path.join("main.hcl");
    let text = read(&main).replace(
        "  drift            = \"revert\"\n",
        "  drift            = \"revert\"\n  fail_writes_to   = [env(\"BG_PROVIDER_TOKEN\")]\n",
    );
    fs_err::write(&main, text).unwrap();
    let mut outputs = Vec::new();
    let mut run = |time: &str, args: &[&str], code: i32| -> String {
        let outcome = at(path, time)
            .env("BG_HOOK", &hook.url)
            .env("BG_PROVIDER_TOKEN", PROVIDER_SECRET)
            .args(args)
            .run()
            .expect_code(code);
        let stdout = outcome.stdout.trim().to_owned();
        outputs.push((args.join(" "), outcome.stdout, outcome.stderr));
        stdout
    };
    run(T0, &["apply", "--auto-approve", "--events", "json"], 0);
    run(
        T0,
        &[
            "request",
            "prod_admin",
            "--duration",
            "30m",
            "--justification",
            "INC-9",
            "--as",
            "carol",
            "--key",
            "keys/carol.key",
            "--out",
            "other.json",
        ],
        5,
    );
    run(
        T0,
        &[
            "request",
            "prod_admin",
            "--duration",
            "30m",
            "--justification",
            "INC-9",
            "--as",
            "alice",
            "--key",
            "keys/alice.key",
            "--out",
            "req.json",
        ],
        0,
    );
    let carol =
        run(T0, &["approve", "req.json", "--as", "carol", "--key", "keys/carol.key", "--yes"], 0);
    let dave =
        run(T0, &["approve", "req.json", "--as", "dave", "--key", "keys/dave.key", "--yes"], 0);
    let code = totp(path, "alice", T0);
    let wrong = if code == "000000" { "111111" } else { "000000" };
    let t = plus(T0, 30);
    run(
        &t,
        &[
            "apply",
            "--emergency",
            "req.json",
            "--approval",
            &carol,
            "--approval",
            &dave,
            "--totp",
            wrong,
        ],
        5,
    );
    run(
        &t,
        &[
            "apply",
            "--emergency",
            "req.json",
            "--approval",
            &carol,
            "--approval",
            &dave,
            "--totp",
            &code,
            "--events",
            "json",
        ],
        0,
    );
    run(&plus(T0, 31 * 60), &["reconcile", "--events", "json"], 0);
    run(&plus(T0, 32 * 60), &["audit", "report", "--format", "markdown"], 0);
    run(&plus(T0, 32 * 60), &["audit", "export", "--format", "ocsf"], 0);

    let mut secrets: Vec<(String, String)> = vec![
        ("the provider's env() value".into(), PROVIDER_SECRET.into()),
        ("the webhook URL's token".into(), HOOK_SECRET.into()),
        ("the webhook URL's token".into(), "XOXB-hook-token".into()),
        ("carol's approval token".into(), carol.clone()),
        ("dave's approval token".into(), dave.clone()),
        ("alice's TOTP code".into(), format!("\"{code}\"")),
    ];
    let totp_file: serde_json::Value =
        serde_json::from_str(&read(path.join("keys/totp-secrets.demo.json"))).unwrap();
    for (person, secret) in totp_file.as_object().unwrap() {
        if !person.starts_with('_') {
            secrets.push((format!("{person}'s TOTP secret"), secret.as_str().unwrap().to_owned()));
        }
    }
    for person in ["alice", "bob", "carol", "dave", "ci"] {
        let pem = read(path.join(format!("keys/{person}.key")));
        let body: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
        for line in pem.lines().filter(|l| !l.starts_with("-----")) {
            secrets.push((format!("{person}'s private key"), line.to_owned()));
        }
        use base64::Engine;
        let der = base64::engine::general_purpose::STANDARD.decode(&body).unwrap();
        let seed = &der[16..48];
        secrets.push((format!("{person}'s key seed (hex)"), hex::encode(seed)));
        secrets.push((
            format!("{person}'s key seed (base64)"),
            base64::engine::general_purpose::STANDARD.encode(seed),
        ));
        secrets.push((
            format!("{person}'s key seed (base64url)"),
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(seed),
        ));
    }

    let log = crate::util::audit_text(path);
    assert!(log.lines().count() >= 18, "the whole flow is on record:\n{log}");
    for (number, line) in log.lines().enumerate() {
        for (what, secret) in &secrets {
            assert!(
                !line.contains(secret.as_str()),
                "{what} is in line {} of the log:\n{line}",
                number + 1
            );
        }
    }
    let delivered = hook.accepted.lock().unwrap().clone();
    assert!(delivered.len() > 10, "the sink received events: {}", delivered.len());
    for body in &delivered {
        for (what, secret) in &secrets {
            assert!(!body.contains(secret.as_str()), "{what} was sent to the webhook:\n{body}");
        }
    }
    for (command, stdout, stderr) in &outputs {
        for (what, secret) in &secrets {
            // approve prints its token on stdout by design: that is how it is handed over.
            if command.starts_with("approve") && what.contains("approval token") {
                continue;
            }
            assert!(!stdout.contains(secret.as_str()), "{what} in the stdout of `{command}`");
            assert!(!stderr.contains(secret.as_str()), "{what} in the stderr of `{command}`");
        }
    }
}

#[test]
fn sink_settings_are_validated_with_their_location() {
    let dir = example_copy("quickstart");
    let main = dir.path().join("main.hcl");
    let text = read(&main).replace(
        "  totp_secrets_file = \"keys/totp-secrets.demo.json\"\n",
        "  totp_secrets_file = \"keys/totp-secrets.demo.json\"\n\n  audit {\n    sink \"slack\" {\n      \
         type    = \"webhook\"\n      url_env = \"https://hooks.slack.com/services/X\"\n    }\n    \
         sink \"raw\" {\n      type = \"webhook\"\n      url  = \"https://hooks.slack.com/services/T/B/x\"\n    }\n    \
         working_hours {\n      days      = [\"mon\", \"someday\"]\n      start     = \"18:00\"\n      \
         end       = \"08:00\"\n      time_zone = \"Mars/Olympus\"\n    }\n  }\n",
    );
    fs_err::write(&main, text).unwrap();
    let outcome = at(dir.path(), T0).args(["validate"]).run().expect_code(1);
    let shown = outcome.stdout;
    for expected in [
        "invalid url_env for sink \"slack\"",
        "write the variable's name (SLACK_WEBHOOK_URL), not its value",
        "the url of sink \"raw\" looks like it carries a token",
        "\"someday\" is not a day",
        "working_hours ends before it starts",
        "\"Mars/Olympus\" is not a time zone this machine knows",
    ] {
        assert!(shown.contains(expected), "expected {expected:?} in:\n{shown}");
    }
    assert!(shown.contains("--> main.hcl:"), "{shown}");
}

/// A laptop: the policy checked out, and only its owner's private key.
fn laptop(owner: &str) -> tempfile::TempDir {
    let dir = example_copy("quickstart");
    for entry in fs_err::read_dir(dir.path().join("keys")).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if name.ends_with(".key") && name != format!("{owner}.key") {
            fs_err::remove_file(&path).unwrap();
        }
    }
    dir
}

#[test]
fn the_executor_alone_tells_the_whole_story_of_a_request_made_and_approved_on_other_machines() {
    // Four machines, each with its own clock and folder: alice's laptop (her clock 40 s ahead),
    // carol's, dave's, and the executor's. Only files and strings travel between them.
    let alice = laptop("alice");
    let carol = laptop("carol");
    let dave = laptop("dave");
    let executor = ready();
    let alice_clock = plus(T0, 40);
    request(
        alice.path(),
        &alice_clock,
        "prod_admin",
        "alice",
        "30m",
        "INC-4711: payments API down",
    )
    .expect_code(0);
    let request_file = read(alice.path().join("req.json"));
    for machine in [&carol, &dave, &executor] {
        fs_err::write(machine.path().join("req.json"), &request_file).unwrap();
    }
    let carol_token =
        approve(carol.path(), &plus(T0, 60), "carol", &["--comment", "INC-4711 is real"]);
    let dave_token = approve(dave.path(), &plus(T0, 90), "dave", &[]);
    let t2 = plus(T0, 120);
    let code = totp(executor.path(), "alice", &t2);
    apply_emergency(executor.path(), &t2, &[&carol_token, &dave_token], Some(&code)).expect_code(0);
    at(executor.path(), "2026-11-28T12:32:01Z").args(["reconcile"]).run().expect_code(0);

    // Nothing of the request or the approvals was written on the executor's machine by anyone
    // but the executor, yet its log has them, with each signer's claimed time and key.
    let log = crate::util::audit_text(executor.path());
    let received = log.lines().find(|l| l.contains("\"action\":\"request.received\"")).unwrap();
    assert!(received.contains(&format!("\"time\":\"{t2}\"")), "{received}");
    assert!(received.contains(&format!("\"created_at\":\"{alice_clock}\"")), "{received}");
    assert!(received.contains("\"signer_key\":\""), "{received}");
    let counted: Vec<&str> =
        log.lines().filter(|l| l.contains("\"action\":\"approval.accepted\"")).collect();
    assert_eq!(counted.len(), 2, "{log}");
    assert!(counted.iter().any(|l| l.contains(&format!("\"issued_at\":\"{}\"", plus(T0, 60)))));
    assert!(counted.iter().any(|l| l.contains(&format!("\"issued_at\":\"{}\"", plus(T0, 90)))));
    assert!(
        !log.contains("\"action\":\"request\""),
        "the requester's own event stays on her laptop"
    );

    let verified = at(executor.path(), "2026-11-28T12:40:00Z").args(["audit", "verify"]).run();
    verified.expect_code(0);
    let report =
        at(executor.path(), "2026-11-28T12:40:00Z").args(["audit", "report"]).run().expect_code(0);
    let text = normalize(&report.stdout);
    let order = [
        "alice's request for role prod_admin",
        "carol's approval of act_A was counted",
        "dave's approval of act_A was counted",
        "emergency access act_A for alice applied",
        "act_A expired",
        "act_A reverted",
    ];
    let positions: Vec<usize> = order
        .iter()
        .map(|needle| text.find(needle).unwrap_or_else(|| panic!("{needle}:\n{text}")))
        .collect();
    assert!(
        positions.windows(2).all(|w| w[0] < w[1]),
        "requested → approved → applied → ended:\n{text}"
    );
    snapshot!("audit_report_two_machines_text", text);
}

#[test]
fn reconcile_at_a_later_time_ends_access_now_and_the_report_counts_what_was_granted() {
    let dir = ready();
    let path = dir.path();
    request(path, T0, "prod_admin", "alice", "30m", "INC-4711: payments API down").expect_code(0);
    let t1 = plus(T0, 60);
    let carol = approve(path, &t1, "carol", &[]);
    let dave = approve(path, &t1, "dave", &[]);
    let t2 = plus(T0, 120);
    apply_emergency(path, &t2, &[&carol, &dave], Some(&totp(path, "alice", &t2))).expect_code(0);
    // Six seconds later, a rehearsal of the end: reconcile as if it were after the end.
    let t3 = plus(T0, 126);
    at(path, &t3).args(["reconcile", "--at", "2026-11-28T12:31:00Z"]).run().expect_code(0);

    let ended = crate::util::audit_text(path)
        .lines()
        .find(|l| l.contains("\"action\":\"activation.revoked\""))
        .expect("the early end is a revocation")
        .to_owned();
    assert!(ended.contains(&format!("\"time\":\"{t3}\"")), "{ended}");
    assert!(ended.contains("ended early by reconcile --at 2026-11-28T12:31:00Z"), "{ended}");

    let report = at(path, "2026-11-28T12:40:00Z")
        .args(["audit", "report", "--format", "json"])
        .run()
        .expect_code(0)
        .json();
    let activation = &report["activations"][0];
    assert_eq!(activation["outcome"]["at"], t3.as_str(), "{activation:#}");
    let usage = &report["usage"][0];
    assert_eq!(usage["granted_seconds"], 6, "{usage:#}");
    let text = at(path, "2026-11-28T12:40:00Z").args(["audit", "report"]).run().expect_code(0);
    assert!(
        text.stdout.contains("ended early by reconcile --at 2026-11-28T12:31:00Z"),
        "{}",
        text.stdout
    );
    assert!(!text.stdout.contains("expired at 2026-11-28T12:32:00Z"), "{}", text.stdout);
}
