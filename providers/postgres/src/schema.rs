//! The `postgres` provider's configuration and resource types.

use breakglass_provider::{AttributeSchema, AttributeType, ProviderSchema, ResourceSchema};

/// A role (a user when it can log in).
pub const ROLE: &str = "postgres_role";
/// Membership of one role in another.
pub const GRANT_ROLE: &str = "postgres_grant_role";
/// Privileges on a database, a schema, tables or sequences.
pub const GRANT: &str = "postgres_grant";
/// Privileges on objects a role will create.
pub const DEFAULT_PRIVILEGES: &str = "postgres_default_privileges";

fn string() -> AttributeSchema {
    AttributeSchema::new(AttributeType::String)
}

fn boolean() -> AttributeSchema {
    AttributeSchema::new(AttributeType::Bool)
}

fn strings() -> AttributeSchema {
    AttributeSchema::new(AttributeType::List(Box::new(AttributeType::String)))
}

/// The schema of the `postgres` provider.
pub fn schema() -> ProviderSchema {
    ProviderSchema::new(
        "postgres",
        "PostgreSQL roles, role memberships, privileges and default privileges.",
    )
    .config_attribute("host", string().describe("Server host, IP address, or Unix socket directory (default: PGHOST, else localhost)."))
    .config_attribute("port", AttributeSchema::new(AttributeType::Number).describe("Server port (default: PGPORT, else 5432)."))
    .config_attribute("user", string().describe("Role to log in as (default: PGUSER)."))
    .config_attribute("password", string().sensitive().describe("Password of `user` (default: PGPASSWORD). Write env(\"NAME\"), never the value."))
    .config_attribute("database", string().describe("Database to connect to (default: PGDATABASE, else the user's name)."))
    .config_attribute("connect_timeout", AttributeSchema::new(AttributeType::Number).describe("Seconds to wait for a connection (default 10)."))
    .config_attribute("statement_timeout", AttributeSchema::new(AttributeType::Number).describe("Seconds one statement may run before the server cancels it (default 30)."))
    .config_attribute("privileged_roles", strings().describe(
        "Roles whose membership is privileged access: memberships in them that nothing in the \
         policy declares or grants are drift that widens access (pg_read_all_data, \
         pg_write_all_data and the server-file roles always are, and so is membership in a \
         superuser role).",
    ))
    .resource_type(
        ROLE,
        ResourceSchema::new("A role; with `login`, a user. Superusers nothing declares are drift that widens access.")
            .attribute("name", string().required().forces_replacement().describe("The role's name (at most 63 bytes)."))
            .attribute("login", boolean().describe("May log in (default false)."))
            .attribute("superuser", boolean().describe("Bypasses every permission check (default false)."))
            .attribute("createdb", boolean().describe("May create databases (default false)."))
            .attribute("createrole", boolean().describe("May create and alter roles (default false)."))
            .attribute("inherit", boolean().describe("Uses the privileges of the roles it is a member of without SET ROLE (default true)."))
            .attribute("connection_limit", AttributeSchema::new(AttributeType::Number).describe("Concurrent connections allowed, -1 for no limit (default -1)."))
            .attribute("valid_until", string().describe(
                "RFC 3339 time after which the password no longer works, or \"infinity\". Set \
                 to the activation's end automatically when a role grant creates the role.",
            ))
            .attribute("password", string().sensitive().describe(
                "Password; sent to the server only as a SCRAM-SHA-256 verifier computed here, \
                 never read back (compared by digest).",
            ))
            .with_expiry_attribute("valid_until")
            .with_list(),
    )
    .resource_type(
        GRANT_ROLE,
        ResourceSchema::new("Membership of `member` in `role`. Memberships in privileged roles nothing declares are drift that widens access; revoking one also ends the member's sessions.")
            .attribute("role", string().required().forces_replacement().describe("The role granted (`dba`)."))
            .attribute("member", string().required().forces_replacement().describe("The role that receives it (a person's login role)."))
            .attribute("admin_option", boolean().describe("The member may grant the role to others (default false)."))
            .with_list(),
    )
    .resource_type(
        GRANT,
        ResourceSchema::new(
            "Privileges of `role` on a database, a schema, or tables or sequences of a schema. \
             The resource owns the role's direct privileges on those objects: creating it \
             revokes any others, deleting it revokes them all.",
        )
        .attribute("role", string().required().forces_replacement().describe("The role that receives the privileges (\"public\" for PUBLIC)."))
        .attribute("database", string().required().forces_replacement().describe("The database (for object_type \"database\", the object itself)."))
        .attribute("object_type", string().required().forces_replacement().describe("\"database\", \"schema\", \"table\" or \"sequence\"."))
        .attribute("schema", string().forces_replacement().describe("The schema (object types schema, table, sequence)."))
        .attribute("objects", strings().forces_replacement().describe("Table or sequence names in the schema; empty or unset means all of them."))
        .attribute("privileges", strings().required().forces_replacement().describe("Privileges (SELECT, INSERT, UPDATE, DELETE, TRUNCATE, REFERENCES, TRIGGER for tables; USAGE, SELECT, UPDATE for sequences; USAGE, CREATE for schemas; CONNECT, CREATE, TEMPORARY for databases), or [\"ALL\"]."))
        .attribute("with_grant_option", boolean().forces_replacement().describe("The role may grant them on (default false).")),
    )
    .resource_type(
        DEFAULT_PRIVILEGES,
        ResourceSchema::new("Privileges `role` receives on objects `owner` creates from now on (ALTER DEFAULT PRIVILEGES).")
            .attribute("role", string().required().forces_replacement().describe("The role that receives the privileges (\"public\" for PUBLIC)."))
            .attribute("database", string().required().forces_replacement().describe("The database."))
            .attribute("owner", string().required().forces_replacement().describe("The role whose future objects are meant."))
            .attribute("schema", string().forces_replacement().describe("Only objects created in this schema; unset means in any schema."))
            .attribute("object_type", string().required().forces_replacement().describe("\"table\", \"sequence\", \"function\", \"type\" or \"schema\"."))
            .attribute("privileges", strings().required().describe("Privileges, as for postgres_grant (EXECUTE for functions, USAGE for types), or [\"ALL\"].")),
    )
}
