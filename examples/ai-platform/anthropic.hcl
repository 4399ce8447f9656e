# Anthropic: the chatbot's kill switch, and elevated access to the ML workspace.

provider "anthropic" {
  admin_key = env("ANTHROPIC_ADMIN_KEY")
  base_url  = env("ANTHROPIC_BASE_URL")

  # Workspace admins that nothing here declares or grants are drift that widens access:
  # reported by plan, and removed by apply, because drift = "revert".
  privileged_roles = ["workspace_admin"]
  drift            = "revert"
}

# The baseline: what is true when nobody has broken the glass.

resource "anthropic_workspace" "ml" {
  workspace_id = "wrkspc_01MLPlatform"
  name         = "ML Platform"
}

resource "anthropic_workspace_member" "ml_lead" {
  workspace_id   = anthropic_workspace.ml.workspace_id
  user_id        = "user_01CarolDiaz"
  workspace_role = "workspace_admin"
}

resource "anthropic_workspace_member" "ml_oncall" {
  workspace_id   = anthropic_workspace.ml.workspace_id
  user_id        = "user_01AliceMartin"
  workspace_role = "workspace_developer"
}

# The customer chatbot's production key: made in the Console, switched here.
resource "anthropic_api_key_status" "chatbot" {
  api_key_id = "apikey_01ChatbotProd"
  status     = "active"
}

# Kill switch: the chatbot's key stops working at once, and works again when the override ends.
# `inactive` can be undone; `archived` cannot, and is refused.
override "chatbot_kill_switch" {
  description  = "Switch the customer chatbot's Anthropic API key off when the model misbehaves."
  risk         = "high"
  requesters   = [team.oncall]
  approvers    = approvers.leads
  quorum       = 1
  max_duration = "4h"

  change {
    resource = anthropic_api_key_status.chatbot
    set = {
      status = "inactive"
    }
  }
}

# The ML on-call engineer becomes a workspace admin for an hour (to rotate keys, change limits).
# An override rather than a role: the membership exists in the baseline, and the revert must
# put back exactly the role it had, not remove the member.
override "ml_oncall_elevation" {
  description  = "Raise the ML on-call engineer from workspace_developer to workspace_admin."
  risk         = "high"
  requesters   = [team.oncall]
  approvers    = approvers.leads
  quorum       = 1
  max_duration = "1h"

  change {
    resource = anthropic_workspace_member.ml_oncall
    set = {
      workspace_role = "workspace_admin"
    }
  }
}

# Someone outside the ML workspace joins it to investigate; the revert removes the membership.
role "ml_workspace_investigator" {
  description  = "Developer access to the ML workspace during an incident."
  risk         = "medium"
  requesters   = [team.oncall]
  approvers    = approvers.leads
  max_duration = "8h"

  resource "anthropic_workspace_member" "investigator" {
    workspace_id   = "wrkspc_01MLPlatform"
    user_id        = requester.identities.anthropic
    workspace_role = "workspace_developer"
  }
}
