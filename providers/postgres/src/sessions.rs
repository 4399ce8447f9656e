//! Ending sessions, so that revoked access cannot outlive its grant.
//!
//! PostgreSQL checks memberships as statements run, but a session that ran `SET ROLE dba`
//! while it was a member keeps acting as `dba` after the membership is revoked, and a login
//! role's open connections survive `NOLOGIN`, `VALID UNTIL` and even `DROP ROLE`. So a revert
//! ends the sessions of the role that lost access and of every role that is a member of it
//! (they reach the revoked role through it), waiting up to five seconds for each to exit.

use breakglass_provider::ProviderError;
use tokio_postgres::Client;

use crate::client::query_error;

/// Ends every other session whose login role is `role` or a member of it, and says which.
pub async fn terminate_sessions(client: &Client, role: &str) -> Result<Vec<String>, ProviderError> {
    let rows = client
        .query(
            // Membership by the catalog, not pg_has_role: that one counts superusers as
            // members of every role, and would end every administrator's session.
            "WITH RECURSIVE members(oid) AS ( \
                 SELECT oid FROM pg_roles WHERE rolname = $1 \
                 UNION SELECT am.member FROM pg_auth_members am JOIN members m ON am.roleid = m.oid) \
             SELECT a.pid, a.usename::text, pg_terminate_backend(a.pid, 5000) \
             FROM pg_stat_activity a \
             WHERE a.usesysid IN (SELECT oid FROM members) AND a.pid <> pg_backend_pid() \
             ORDER BY a.pid",
            &[&role],
        )
        .await
        .map_err(|error| query_error(&error, &format!("ending the sessions of role {role:?}")))?;
    let mut ended = Vec::new();
    for row in rows {
        let pid: i32 = row.get(0);
        let user: Option<String> = row.get(1);
        let done: bool = row.get(2);
        let user = user.unwrap_or_default();
        if !done {
            return Err(ProviderError::transient(format!(
                "postgres: session {pid} of {user:?} did not end within 5s of \
                 pg_terminate_backend; the revert is retried"
            )));
        }
        ended.push(format!("{user} (pid {pid})"));
    }
    Ok(ended)
}

/// The note a revert leaves about the sessions it ended.
pub fn note(role: &str, ended: &[String]) -> String {
    if ended.is_empty() {
        format!("no open session of {role} or its members to end")
    } else {
        format!("ended {} session(s) holding {role}: {}", ended.len(), ended.join(", "))
    }
}
