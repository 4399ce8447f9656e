# Emergency access: what can be granted, to whom, approved by whom, for how long.
#
# Every binding a grant adds carries the IAM Condition
# request.time < timestamp("END"), titled with the activation id: Google itself stops honouring
# it at the grant's end, even if breakglass never runs again. The revert then removes exactly
# that binding.

role "prod_db_admin" {
  description    = "Administer the payments databases (Cloud SQL) and read their logs."
  risk           = "high"
  requesters     = [team.oncall]
  approvers      = approvers.leads
  authentication = authentication.strong
  max_duration   = "4h"

  resource "gcp_project_iam_member" "cloudsql_admin" {
    project = "payments-prod"
    role    = "roles/cloudsql.admin"
    member  = requester.identities.gcp
  }

  resource "gcp_project_iam_member" "log_viewer" {
    project = "payments-prod"
    role    = "roles/logging.viewer"
    member  = requester.identities.gcp
  }
}

role "org_security_review" {
  description  = "Read IAM policies across the whole organization during a security incident."
  risk         = "medium"
  requesters   = [team.oncall]
  approvers    = approvers.leads
  max_duration = "8h"

  resource "gcp_organization_iam_member" "reviewer" {
    org_id = "123456789012"
    role   = "roles/iam.securityReviewer"
    member = requester.identities.gcp
  }
}

# A planned grant, reviewed in a pull request: Bob administers the databases during the
# maintenance window.
grant "chg_2031" {
  role          = role.prod_db_admin
  to            = person.bob
  start         = "2031-03-01T22:00:00Z"
  end           = "2031-03-02T01:00:00Z"
  justification = "CHG-2031: Cloud SQL major version upgrade in the maintenance window"
}
