# What is always true on the server: the roles exist, auditors can read, and nobody is a
# member of dba unless an activation says so.

# The privileged role that break-glass access grants membership of.
resource "postgres_role" "dba" {
  name       = "dba"
  createdb   = true
  createrole = true
}

resource "postgres_grant_role" "dba_reads_everything" {
  role   = "pg_read_all_data"
  member = postgres_role.dba.name
}

resource "postgres_grant_role" "dba_writes_everything" {
  role   = "pg_write_all_data"
  member = postgres_role.dba.name
}

# The on-call engineers' own login roles. How they authenticate (certificate, SSO, password)
# is the server's business; breakglass only decides what they are members of.
resource "postgres_role" "alice" {
  name  = "alice"
  login = true
}

resource "postgres_role" "bob" {
  name  = "bob"
  login = true
}

# The application's schema owner: tables it creates are readable by auditors at once.
resource "postgres_role" "app_owner" {
  name = "app_owner"
}

# Read-only access for auditors: a group role with CONNECT, USAGE and SELECT on every table
# of app's public schema, now and in the future. Auditors' login roles become its members.
resource "postgres_role" "auditors" {
  name = "auditors"
}

resource "postgres_role" "erin" {
  name  = "erin"
  login = true
}

resource "postgres_grant_role" "erin_audits" {
  role   = postgres_role.auditors.name
  member = postgres_role.erin.name
}

resource "postgres_grant" "auditors_connect" {
  role        = postgres_role.auditors.name
  database    = "app"
  object_type = "database"
  privileges  = ["CONNECT"]
}

resource "postgres_grant" "auditors_schema" {
  role        = postgres_role.auditors.name
  database    = "app"
  object_type = "schema"
  schema      = "public"
  privileges  = ["USAGE"]
}

resource "postgres_grant" "auditors_tables" {
  role        = postgres_role.auditors.name
  database    = "app"
  object_type = "table"
  schema      = "public"
  privileges  = ["SELECT"]
}

resource "postgres_default_privileges" "auditors_future_tables" {
  role        = postgres_role.auditors.name
  database    = "app"
  owner       = postgres_role.app_owner.name
  schema      = "public"
  object_type = "table"
  privileges  = ["SELECT"]
}
