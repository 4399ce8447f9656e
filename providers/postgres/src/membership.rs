//! `postgres_grant_role`: membership of `member` in `role`, read in bulk from
//! `pg_auth_members`. This is how an emergency grant gives access: the person's login role
//! becomes a member of a privileged role, and loses it (with its sessions) on revert.

use breakglass_provider::{Attributes, ProviderError, Value};
use std::collections::BTreeMap;
use tokio_postgres::Client;

use crate::attributes::{optional_bool, required_string};
use crate::client::{execute_atomically, query_error};
use crate::id;
use crate::schema::GRANT_ROLE;
use crate::sql::Ident;

/// A membership as declared.
#[derive(Debug, Clone)]
pub struct Membership {
    /// The role granted.
    pub role: Ident,
    /// The role that receives it.
    pub member: Ident,
    /// Whether the member may grant it on.
    pub admin_option: Option<bool>,
}

impl Membership {
    /// Reads and checks the declared attributes.
    pub fn parse(attributes: &Attributes) -> Result<Self, ProviderError> {
        Ok(Self {
            role: Ident::new(required_string(attributes, GRANT_ROLE, "role")?, "role")?,
            member: Ident::new(required_string(attributes, GRANT_ROLE, "member")?, "member role")?,
            admin_option: optional_bool(attributes, GRANT_ROLE, "admin_option")?,
        })
    }

    /// The membership an id names.
    pub fn from_id(object_id: &str) -> Result<Self, ProviderError> {
        let parts = id::split(object_id, 2, GRANT_ROLE)?;
        Ok(Self {
            member: Ident::new(&parts[0], "member role")?,
            role: Ident::new(&parts[1], "role")?,
            admin_option: None,
        })
    }

    /// `member/role`.
    pub fn id(&self) -> String {
        membership_id(self.member.name(), self.role.name())
    }

    /// Grants it (a no-op if it is already there) with the declared admin option.
    pub async fn grant(&self, client: &Client) -> Result<(), ProviderError> {
        let mut statements = vec![format!(
            "GRANT {} TO {}{}",
            self.role,
            self.member,
            if self.admin_option == Some(true) { " WITH ADMIN OPTION" } else { "" }
        )];
        if self.admin_option == Some(false) {
            statements.push(format!("REVOKE ADMIN OPTION FOR {} FROM {}", self.role, self.member));
        }
        execute_atomically(client, &statements, &format!("granting {}", self.describe())).await
    }

    /// Revokes it, whoever granted it (a no-op if it is gone, or either role is).
    pub async fn revoke(&self, client: &Client) -> Result<(), ProviderError> {
        let doing = format!("revoking {}", self.describe());
        let grantors = client
            .query(
                "SELECT g.rolname::text FROM pg_auth_members am \
                 JOIN pg_roles r ON r.oid = am.roleid JOIN pg_roles m ON m.oid = am.member \
                 JOIN pg_roles g ON g.oid = am.grantor \
                 WHERE r.rolname = $1 AND m.rolname = $2",
                &[&self.role.name(), &self.member.name()],
            )
            .await
            .map_err(|error| query_error(&error, &doing))?;
        if grantors.is_empty() {
            return Ok(());
        }
        execute_atomically(client, &[format!("REVOKE {} FROM {}", self.role, self.member)], &doing)
            .await?;
        // PostgreSQL 16 keeps one membership per grantor and REVOKE removes only ours: remove
        // the others by name.
        let left = client
            .query(
                "SELECT g.rolname::text FROM pg_auth_members am \
                 JOIN pg_roles r ON r.oid = am.roleid JOIN pg_roles m ON m.oid = am.member \
                 JOIN pg_roles g ON g.oid = am.grantor \
                 WHERE r.rolname = $1 AND m.rolname = $2",
                &[&self.role.name(), &self.member.name()],
            )
            .await
            .map_err(|error| query_error(&error, &doing))?;
        let mut statements = Vec::new();
        for row in left {
            let grantor = Ident::new(&row.get::<_, String>(0), "grantor role")?;
            statements
                .push(format!("REVOKE {} FROM {} GRANTED BY {grantor}", self.role, self.member));
        }
        execute_atomically(client, &statements, &doing).await
    }

    fn describe(&self) -> String {
        format!("role {:?} to {:?}", self.role.name(), self.member.name())
    }
}

/// The id of `member`'s membership in `role`.
pub fn membership_id(member: &str, role: &str) -> String {
    id::join(&[member, role])
}

/// A live membership.
#[derive(Debug, Clone)]
pub struct LiveMembership {
    /// Its attributes.
    pub attributes: Attributes,
    /// Whether the granted role is a superuser (membership lets the member `SET ROLE` to it).
    pub role_is_superuser: bool,
}

/// Live memberships by id. `pairs` (member, role) limits the read; `None` lists every
/// membership of a non-built-in role other than the provider's own login role.
pub async fn read_memberships(
    client: &Client,
    pairs: Option<&[(String, String)]>,
) -> Result<BTreeMap<String, LiveMembership>, ProviderError> {
    const QUERY: &str = "SELECT m.rolname::text, r.rolname::text, bool_or(am.admin_option), \
        bool_or(r.rolsuper) \
        FROM pg_auth_members am JOIN pg_roles r ON r.oid = am.roleid \
        JOIN pg_roles m ON m.oid = am.member";
    let rows = match pairs {
        Some(pairs) => {
            let members: Vec<&str> = pairs.iter().map(|(member, _)| member.as_str()).collect();
            let roles: Vec<&str> = pairs.iter().map(|(_, role)| role.as_str()).collect();
            let query = format!(
                "{QUERY} WHERE (m.rolname, r.rolname) IN \
                 (SELECT * FROM unnest($1::text[], $2::text[])) GROUP BY 1, 2"
            );
            client.query(&query, &[&members, &roles]).await
        }
        None => {
            let query =
                format!("{QUERY} WHERE m.oid >= 16384 AND m.rolname <> current_user GROUP BY 1, 2");
            client.query(&query, &[]).await
        }
    }
    .map_err(|error| query_error(&error, "reading role memberships from pg_auth_members"))?;
    let mut memberships = BTreeMap::new();
    for row in rows {
        let member: String = row.get(0);
        let role: String = row.get(1);
        let mut attributes = Attributes::new();
        attributes.insert("member".into(), Value::String(member.clone()));
        attributes.insert("role".into(), Value::String(role.clone()));
        attributes.insert("admin_option".into(), Value::Bool(row.get(2)));
        memberships.insert(
            membership_id(&member, &role),
            LiveMembership { attributes, role_is_superuser: row.get(3) },
        );
    }
    Ok(memberships)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn ids_name_member_then_role_and_parse_back() {
        let attributes: Attributes =
            serde_json::from_value(json!({"role": "dba", "member": "alice/ops"})).unwrap();
        let membership = Membership::parse(&attributes).unwrap();
        assert_eq!(membership.id(), "alice%2Fops/dba");
        let back = Membership::from_id(&membership.id()).unwrap();
        assert_eq!((back.member.name(), back.role.name()), ("alice/ops", "dba"));
    }
}
