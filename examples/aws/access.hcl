# Emergency access: what can be granted, to whom, approved by whom, for how long.

role "prod_admin" {
  description    = "Administrator access to production through the break-glass role."
  risk           = "high"
  requesters     = [team.oncall]
  approvers      = approvers.leads
  authentication = authentication.strong
  max_duration   = "4h"

  # The requester may assume the role...
  resource "aws_iam_user_group_membership" "responder" {
    user   = requester.identities.aws
    groups = ["breakglass-responders"]
  }

  # ...and the role gets its teeth. AWS itself ends this at the activation's end (an inline
  # guard policy on the role), and taking it back revokes the role's older sessions.
  resource "aws_iam_role_policy_attachment" "admin" {
    role       = aws_iam_role.breakglass_admin.name
    policy_arn = "arn:aws:iam::aws:policy/AdministratorAccess"
  }
}

role "incident_responder" {
  description  = "The IncidentResponder permission set in production, through IAM Identity Center."
  risk         = "medium"
  requesters   = [team.oncall]
  approvers    = approvers.leads
  max_duration = "8h"

  resource "aws_ssoadmin_account_assignment" "responder" {
    permission_set_name = aws_ssoadmin_permission_set.incident_responder.name
    principal_type      = "USER"
    principal_name      = requester.identities.aws_sso
    target_id           = "123456789012"
  }
}

# A planned grant, reviewed in a pull request: Bob administers production during the
# database maintenance window.
grant "chg_2031" {
  role          = role.prod_admin
  to            = person.bob
  start         = "2031-03-01T22:00:00Z"
  end           = "2031-03-02T01:00:00Z"
  justification = "CHG-2031: database engine upgrade in the maintenance window"
}
