//! The evaluated `provider "postgres"` block, with the libpq environment variables as fallback.

use breakglass_provider::{Attributes, ProviderError, Secret, Value};
use std::collections::BTreeSet;
use std::time::Duration;

/// Built-in roles that grant access to every table, to server files or to running programs:
/// always privileged, whatever the provider block lists.
pub const BUILTIN_PRIVILEGED: [&str; 5] = [
    "pg_read_all_data",
    "pg_write_all_data",
    "pg_execute_server_program",
    "pg_read_server_files",
    "pg_write_server_files",
];

/// How to reach the server, and what counts as privileged.
#[derive(Debug, Clone)]
pub struct PostgresConfig {
    /// Host name, IP address, or a Unix socket directory (starting with `/`).
    pub host: String,
    /// TCP port (also the socket file's suffix).
    pub port: u16,
    /// The role the provider logs in as.
    pub user: String,
    /// Its password, if the server asks for one.
    pub password: Option<Secret>,
    /// The database to connect to (objects in other databases use their own connections).
    pub database: String,
    /// How long to wait for a connection.
    pub connect_timeout: Duration,
    /// How long one statement may run before the server cancels it.
    pub statement_timeout: Duration,
    /// Roles whose membership is privileged access (with the built-in ones above).
    pub privileged_roles: BTreeSet<String>,
}

/// Where a setting came from, for error messages (never the value of a secret).
fn setting(
    attributes: &Attributes,
    name: &str,
    env: &str,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Result<Option<String>, ProviderError> {
    match attributes.get(name) {
        None | Some(Value::Null) => Ok(lookup(env).filter(|value| !value.is_empty())),
        Some(Value::String(text)) => Ok(Some(text.clone())),
        Some(Value::Number(number)) => Ok(Some(number.to_string())),
        Some(_) => {
            Err(ProviderError::invalid(format!("provider \"postgres\": `{name}` must be a string")))
        }
    }
}

impl PostgresConfig {
    /// Reads the block's attributes, taking what is unset from `PGHOST`, `PGPORT`, `PGUSER`,
    /// `PGPASSWORD` and `PGDATABASE` as libpq does.
    pub fn from_attributes(attributes: &Attributes) -> Result<Self, ProviderError> {
        Self::from_attributes_with(attributes, &|name| std::env::var(name).ok())
    }

    /// As [`PostgresConfig::from_attributes`], with the environment given (tests).
    pub fn from_attributes_with(
        attributes: &Attributes,
        lookup: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Self, ProviderError> {
        let host =
            setting(attributes, "host", "PGHOST", lookup)?.unwrap_or_else(|| "localhost".into());
        let port = match setting(attributes, "port", "PGPORT", lookup)? {
            None => 5432,
            Some(text) => text.parse::<u16>().ok().filter(|port| *port > 0).ok_or_else(|| {
                ProviderError::invalid(format!(
                    "provider \"postgres\": port {text:?} is not a TCP port (1-65535); set `port` \
                     or PGPORT"
                ))
            })?,
        };
        let user = setting(attributes, "user", "PGUSER", lookup)?
            .or_else(|| lookup("USER"))
            .ok_or_else(|| {
                ProviderError::invalid(
                    "provider \"postgres\": no user to log in as; set `user` in the provider \
                     block or PGUSER",
                )
            })?;
        let password = setting(attributes, "password", "PGPASSWORD", lookup)?.map(Secret::new);
        let database =
            setting(attributes, "database", "PGDATABASE", lookup)?.unwrap_or_else(|| user.clone());
        let seconds = |name: &str, default: u64| -> Result<Duration, ProviderError> {
            match attributes.get(name) {
                None | Some(Value::Null) => Ok(Duration::from_secs(default)),
                Some(value) => value
                    .as_u64()
                    .filter(|seconds| *seconds > 0)
                    .map(Duration::from_secs)
                    .ok_or_else(|| {
                        ProviderError::invalid(format!(
                            "provider \"postgres\": `{name}` must be a whole number of seconds \
                             above 0, got {value}"
                        ))
                    }),
            }
        };
        let privileged_roles = match attributes.get("privileged_roles") {
            None | Some(Value::Null) => BTreeSet::new(),
            Some(Value::Array(items)) => items
                .iter()
                .map(|item| item.as_str().map(str::to_owned))
                .collect::<Option<BTreeSet<_>>>()
                .ok_or_else(|| {
                    ProviderError::invalid(
                        "provider \"postgres\": `privileged_roles` must be a list of role names",
                    )
                })?,
            Some(_) => {
                return Err(ProviderError::invalid(
                    "provider \"postgres\": `privileged_roles` must be a list of role names",
                ));
            }
        };
        Ok(Self {
            host,
            port,
            user,
            password,
            database,
            connect_timeout: seconds("connect_timeout", 10)?,
            statement_timeout: seconds("statement_timeout", 30)?,
            privileged_roles,
        })
    }

    /// Whether membership in `role` is privileged access.
    pub fn is_privileged_role(&self, role: &str) -> bool {
        self.privileged_roles.contains(role) || BUILTIN_PRIVILEGED.contains(&role)
    }

    /// `user@host:port/database`, for messages (never the password).
    pub fn describe(&self, database: &str) -> String {
        format!("{}@{}:{}/{}", self.user, self.host, self.port, database)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let pairs: Vec<(String, String)> =
            pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect();
        move |name| pairs.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone())
    }

    #[test]
    fn the_block_wins_over_libpq_variables_which_fill_the_rest() {
        let mut attributes = Attributes::new();
        attributes.insert("host".into(), json!("db.internal"));
        attributes.insert("privileged_roles".into(), json!(["dba"]));
        let lookup = env(&[
            ("PGHOST", "ignored"),
            ("PGPORT", "6543"),
            ("PGUSER", "admin"),
            ("PGPASSWORD", "s3cret"),
        ]);
        let config = PostgresConfig::from_attributes_with(&attributes, &lookup).unwrap();
        assert_eq!(
            (config.host.as_str(), config.port, config.user.as_str()),
            ("db.internal", 6543, "admin")
        );
        assert_eq!(config.database, "admin", "the database defaults to the user, as in libpq");
        assert_eq!(config.password.as_ref().map(Secret::expose), Some("s3cret"));
        assert!(!format!("{config:?}").contains("s3cret"), "Debug redacts the password");
        assert!(config.is_privileged_role("dba"));
        assert!(config.is_privileged_role("pg_write_all_data"));
        assert!(!config.is_privileged_role("readonly"));
    }

    #[test]
    fn bad_settings_are_refused_with_what_to_set() {
        let cases = [
            (json!({"port": "http"}), "is not a TCP port"),
            (json!({"privileged_roles": "dba"}), "must be a list of role names"),
            (json!({"connect_timeout": 0}), "above 0"),
            (json!({"host": true}), "`host` must be a string"),
        ];
        for (block, expected) in cases {
            let attributes: Attributes = serde_json::from_value(block).unwrap();
            let lookup = env(&[("PGUSER", "admin")]);
            let error = PostgresConfig::from_attributes_with(&attributes, &lookup).unwrap_err();
            assert!(error.message().contains(expected), "{error}");
            assert!(error.message().starts_with("provider \"postgres\""), "{error}");
        }
        let error = PostgresConfig::from_attributes_with(&Attributes::new(), &env(&[]))
            .unwrap_err()
            .to_string();
        assert!(error.contains("set `user` in the provider block or PGUSER"), "{error}");
    }
}
