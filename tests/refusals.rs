//! A refusal says what to do next, and when several things are missing — approvals short of
//! the quorum and the requester's TOTP code — names them all at once, so a responder fixes
//! everything in one round. Each is still a refusal: exit 5, a refusal event, nothing changed.

use crate::emergency::{T0, approve, ready, refused_apply, request, totp};
use crate::util::read;

/// The error line of a refused run, for snapshots.
fn error_line(dir: &std::path::Path) -> String {
    let event = crate::emergency::last_event(dir);
    event["reason"].as_str().unwrap_or_default().to_owned()
}

#[test]
fn no_approvals_and_no_code_are_named_together_with_the_next_steps() {
    let dir = ready();
    let path = dir.path();
    request(path, T0, "prod_admin", "alice", "30m", "req.json").expect_code(0);
    refused_apply(
        path,
        T0,
        "req.json",
        &[],
        None,
        "2 things are missing: quorum not met: 0 of 2 approvals from approvers.leads (none); and \
         this request needs a TOTP code from alice's authenticator app",
    );
    let reason = error_line(path);
    assert!(
        reason.contains("ask carol and dave to run `breakglass approve req.json --as <approver>`"),
        "{reason}"
    );
    assert!(
        reason.contains(
            "run `breakglass apply --emergency req.json --approval TOKEN --approval TOKEN --totp CODE`"
        ),
        "{reason}"
    );
    snapshot!("refusal_everything_missing", reason);
}

#[test]
fn one_approval_short_names_who_can_still_approve() {
    let dir = ready();
    let path = dir.path();
    request(path, T0, "prod_admin", "alice", "30m", "req.json").expect_code(0);
    let carol = approve(path, T0, "req.json", "carol");
    let code = totp(path, "alice", T0);
    refused_apply(
        path,
        T0,
        "req.json",
        &[&carol],
        Some(&code),
        "quorum not met: 1 of 2 approvals from approvers.leads (carol). Next: ask dave to run \
         `breakglass approve req.json --as dave`",
    );
    snapshot!("refusal_one_approval_short", error_line(path));
    // With both approvals and no code, only the code is missing.
    let dave = approve(path, T0, "req.json", "dave");
    refused_apply(
        path,
        T0,
        "req.json",
        &[&carol, &dave],
        None,
        "this request needs a TOTP code from alice's authenticator app: pass --totp CODE. Next: \
         read the code alice's authenticator app shows now; then run `breakglass apply \
         --emergency req.json` again as before, with --totp CODE",
    );
    // A wrong code beside a missing approval: both said.
    refused_apply(
        path,
        T0,
        "req.json",
        &[&carol],
        Some("000000"),
        "2 things are missing: quorum not met: 1 of 2 approvals from approvers.leads (carol); and \
         the TOTP code for alice is wrong",
    );
    // Everything there: granted.
    crate::emergency::apply_emergency(path, T0, "req.json", &[&carol, &dave], Some(&code))
        .expect_code(0);
    assert!(read(path.join("app/access.json")).contains("prod-admin"));
}

#[test]
fn a_misspelt_role_or_person_is_met_with_the_nearest_name_and_where_to_look() {
    let dir = ready();
    let path = dir.path();
    let role = request(path, T0, "read_log", "bob", "1h", "req.json").expect_code(5);
    assert!(role.stderr.contains("Did you mean \"read_logs\"?"), "{}", role.stderr);
    assert!(
        role.stderr.contains("`breakglass roles` lists what you may request"),
        "{}",
        role.stderr
    );
    let person = crate::emergency::at(path, T0)
        .args(["request", "read_logs", "--duration", "1h", "--justification", "INC-9: logs"])
        .args(["--as", "bobb", "--key", "keys/bob.key", "--out", "req.json"])
        .run()
        .expect_code(5);
    assert!(
        person.stderr.contains("bobb is not a person in the policy. Did you mean \"bob\"?"),
        "{}",
        person.stderr
    );
    let drill = crate::emergency::at(path, T0).args(["drill", "read_logs", "--as", "bobb"]).run();
    assert_eq!(drill.code, 5, "{}", drill.stderr);
    assert!(drill.stderr.contains("Did you mean \"bob\"?"), "{}", drill.stderr);
}
