# Emergency access: what can be granted, to whom, approved by whom, for how long.

role "prod_admin" {
  description    = "Full administrative access to production."
  risk           = "high"
  requesters     = [team.oncall]
  approvers      = approvers.leads
  authentication = authentication.strong
  max_duration   = "1h"

  resource "local_access" "admin" {
    principal = requester.identities.local
    role      = "prod-admin"
  }
}

role "read_logs" {
  description  = "Read production logs during an investigation."
  risk         = "low"
  requesters   = [team.oncall]
  approvers    = approvers.leads
  max_duration = "8h"

  resource "local_access" "logs" {
    principal = requester.identities.local
    role      = "log-reader"
  }
}

override "chatbot_kill_switch" {
  description  = "Turn the customer chatbot's model endpoint off when it misbehaves."
  risk         = "high"
  requesters   = [team.oncall]
  approvers    = approvers.leads
  quorum       = 1
  max_duration = "4h"

  change {
    resource = local_setting.chatbot_endpoint
    set = {
      value = "off"
    }
  }
}

# A planned grant, reviewed in a pull request: Bob reads logs during the yearly
# disaster-recovery rehearsal.
grant "chg_1234" {
  role          = role.read_logs
  to            = person.bob
  start         = "2031-01-15T09:00:00Z"
  end           = "2031-01-15T17:00:00Z"
  justification = "CHG-1234: yearly disaster-recovery rehearsal, log review"
}

limit "high_risk_monthly" {
  description     = "At most 3 high-risk activations per person in 30 days."
  risk            = "high"
  per             = "person"
  max_activations = 3
  window          = "30d"
  action          = "refuse"
}
