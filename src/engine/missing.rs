//! What an emergency request still lacks — approvals short of the quorum, the requester's TOTP
//! code — said all at once, each with the next step that supplies it, so a responder at 3 a.m.
//! fixes everything in one round instead of meeting one refusal after another.
//!
//! Only what is *missing* is gathered here. A token or code that was given and is wrong
//! (forged, expired, for another request, already used) is refused on its own, at once, by the
//! check that caught it.

use std::fmt;

/// What a request lacks.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Missing {
    /// The request file, as the command line named it (for the next steps).
    pub request: String,
    /// Approvals, when fewer than the quorum count.
    pub approvals: Option<MissingApprovals>,
    /// The requester's TOTP code, when the authentication rule needs one.
    pub totp: Option<MissingTotp>,
}

/// Approvals short of the quorum.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MissingApprovals {
    /// The role or override (`role.prod_admin`).
    pub target: String,
    /// The approvers block (`approvers.leads`).
    pub group: String,
    /// Approvals needed.
    pub quorum: usize,
    /// Who approved, each once.
    pub counted: Vec<String>,
    /// Who approved more than once (counted once).
    pub repeated: Vec<String>,
    /// Who may still approve: members who have not, the requester left out unless the block
    /// allows self-approval.
    pub can_approve: Vec<String>,
}

/// The requester's TOTP code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MissingTotp {
    /// Whose code.
    pub person: String,
    /// Why the code given does not count, when one was given.
    pub problem: Option<String>,
}

impl Missing {
    /// Whether nothing is missing.
    pub fn is_empty(&self) -> bool {
        self.approvals.is_none() && self.totp.is_none()
    }
}

/// "carol", "carol and dave", "carol, dave and erin".
fn and_list(names: &[String]) -> String {
    match names {
        [] => String::new(),
        [one] => one.clone(),
        [rest @ .., last] => format!("{} and {last}", rest.join(", ")),
    }
}

impl fmt::Display for MissingApprovals {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let who = if self.counted.is_empty() { "none".to_owned() } else { self.counted.join(", ") };
        write!(
            f,
            "quorum not met: {} of {} approvals from {} ({who})",
            self.counted.len(),
            self.quorum,
            self.group
        )?;
        if !self.repeated.is_empty() {
            write!(f, "; {} approved more than once, counted once", self.repeated.join(", "))?;
        }
        Ok(())
    }
}

impl fmt::Display for MissingTotp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.problem {
            None => write!(
                f,
                "this request needs a TOTP code from {}'s authenticator app: pass --totp CODE",
                self.person
            ),
            Some(problem) => f.write_str(problem),
        }
    }
}

impl fmt::Display for Missing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut lacks: Vec<String> = Vec::new();
        lacks.extend(self.approvals.as_ref().map(ToString::to_string));
        lacks.extend(self.totp.as_ref().map(ToString::to_string));
        match lacks.as_slice() {
            [one] => f.write_str(one)?,
            many => write!(f, "{} things are missing: {}", many.len(), many.join("; and "))?,
        }
        let mut steps: Vec<String> = Vec::new();
        let request = if self.request.is_empty() { "REQUEST" } else { self.request.as_str() };
        if let Some(approvals) = &self.approvals {
            let needed = approvals.quorum.saturating_sub(approvals.counted.len());
            let ask = if approvals.can_approve.is_empty() {
                format!("{needed} more approver(s) of {}", approvals.target)
            } else if needed >= approvals.can_approve.len() {
                and_list(&approvals.can_approve)
            } else {
                format!("{needed} of {}", and_list(&approvals.can_approve))
            };
            let who = match approvals.can_approve.as_slice() {
                [one] => one.as_str(),
                _ => "<approver>",
            };
            steps.push(format!(
                "ask {ask} to run `breakglass approve {request} --as {who}` and send you the \
                 token it prints"
            ));
        }
        if let Some(totp) = &self.totp {
            steps.push(format!("read the code {}'s authenticator app shows now", totp.person));
        }
        match &self.approvals {
            Some(approvals) => {
                let mut again = format!("breakglass apply --emergency {request}");
                for _ in 0..approvals.quorum.max(1) {
                    again.push_str(" --approval TOKEN");
                }
                if self.totp.is_some() {
                    again.push_str(" --totp CODE");
                }
                steps.push(format!("run `{again}`, with every token"));
            }
            // Approvals are complete (or not needed): the same command, with the code.
            None => steps.push(format!(
                "run `breakglass apply --emergency {request}` again as before, with --totp CODE"
            )),
        }
        write!(f, ". Next: {}", steps.join("; then "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn approvals(counted: &[&str], can_approve: &[&str]) -> MissingApprovals {
        MissingApprovals {
            target: "role.prod_admin".to_owned(),
            group: "approvers.leads".to_owned(),
            quorum: 2,
            counted: counted.iter().map(|s| (*s).to_owned()).collect(),
            repeated: Vec::new(),
            can_approve: can_approve.iter().map(|s| (*s).to_owned()).collect(),
        }
    }

    #[test]
    fn everything_missing_is_said_at_once_with_the_next_steps() {
        let missing = Missing {
            request: "request.json".to_owned(),
            approvals: Some(approvals(&[], &["carol", "dave"])),
            totp: Some(MissingTotp { person: "alice".to_owned(), problem: None }),
        };
        assert_eq!(
            missing.to_string(),
            "2 things are missing: quorum not met: 0 of 2 approvals from approvers.leads (none); \
             and this request needs a TOTP code from alice's authenticator app: pass --totp CODE. \
             Next: ask carol and dave to run `breakglass approve request.json --as <approver>` \
             and send you the token it prints; then read the code alice's authenticator app \
             shows now; then run `breakglass apply --emergency request.json --approval TOKEN \
             --approval TOKEN --totp CODE`, with every token"
        );
    }

    #[test]
    fn one_missing_approval_names_who_can_give_it() {
        let missing = Missing {
            request: "req.json".to_owned(),
            approvals: Some(approvals(&["carol"], &["dave", "erin"])),
            totp: None,
        };
        let text = missing.to_string();
        assert!(
            text.starts_with("quorum not met: 1 of 2 approvals from approvers.leads (carol). "),
            "{text}"
        );
        assert!(
            text.contains("ask 1 of dave and erin to run `breakglass approve req.json"),
            "{text}"
        );
        assert!(text.ends_with("--approval TOKEN --approval TOKEN`, with every token"), "{text}");
    }

    #[test]
    fn a_missing_code_alone_says_to_run_the_same_command_with_it() {
        let missing = Missing {
            request: "req.json".to_owned(),
            approvals: None,
            totp: Some(MissingTotp { person: "alice".to_owned(), problem: None }),
        };
        assert_eq!(
            missing.to_string(),
            "this request needs a TOTP code from alice's authenticator app: pass --totp CODE. \
             Next: read the code alice's authenticator app shows now; then run `breakglass \
             apply --emergency req.json` again as before, with --totp CODE"
        );
    }
}
