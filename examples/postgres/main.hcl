# PostgreSQL: break-glass DBA access for the on-call team, read-only access for auditors, and a
# planned grant for a migration window.
#
# The provider connects with the libpq variables (PGHOST, PGPORT, PGUSER, PGPASSWORD,
# PGDATABASE), so this policy runs unchanged against any server where the database "app"
# exists (createdb app). Keys under keys/ are DEMO ONLY (see keys/README.md).

breakglass {
  max_duration = "12h"
  plan_signers = [person.ci]
}

provider "postgres" {
  # Everything else comes from PGHOST, PGPORT, PGUSER, PGPASSWORD and PGDATABASE; a password
  # written here would be password = env("NAME"), never the value.
  statement_timeout = 30

  # Membership in dba (and superusers) that nothing here grants is drift that widens access:
  # reported by plan; removed by apply, because drift = "revert".
  privileged_roles = ["dba"]
  drift            = "revert"
}
