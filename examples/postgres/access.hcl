# Emergency database access: what can be granted, to whom, approved by whom, for how long.

role "db_admin" {
  description  = "Break-glass DBA access: the requester's own login role joins dba. When it ends, the membership is revoked and the requester's open sessions are ended."
  risk         = "high"
  requesters   = [team.oncall]
  approvers    = approvers.leads
  max_duration = "2h"

  resource "postgres_grant_role" "dba" {
    role   = postgres_role.dba.name
    member = requester.identities.postgres
  }
}

role "migration_admin" {
  description  = "A temporary login role in dba for a schema migration. breakglass sets its VALID UNTIL to the activation's end, so PostgreSQL refuses its logins after that by itself; the revert ends its sessions and drops it."
  risk         = "high"
  requesters   = [team.oncall]
  approvers    = approvers.leads
  max_duration = "4h"

  resource "postgres_role" "login" {
    name  = "bg_${requester.name}"
    login = true
  }

  resource "postgres_grant_role" "dba" {
    role       = postgres_role.dba.name
    member     = "bg_${requester.name}"
    depends_on = [postgres_role.login]
  }
}

# A planned grant, reviewed in a pull request: Bob runs the orders migration in the
# maintenance window.
grant "chg_2048" {
  role          = role.migration_admin
  to            = person.bob
  start         = "2031-03-01T22:00:00Z"
  end           = "2031-03-02T01:00:00Z"
  justification = "CHG-2048: orders table migration in the maintenance window"
}
