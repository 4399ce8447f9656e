# LiteLLM: the gateway in front of every model. Block the chatbot's team, or hand a responder a
# key that the gateway itself stops accepting when the activation ends.

provider "litellm" {
  base_url   = env("LITELLM_BASE_URL")
  master_key = env("LITELLM_MASTER_KEY")
}

# The chatbot's team on the gateway: blocking it refuses every key of the team at once.
resource "litellm_team" "chatbot" {
  team_id = "team-chatbot"
  blocked = false
}

# The chatbot's own gateway key, made by its owners; managed here only to be blocked.
resource "litellm_key" "chatbot" {
  key_alias = "chatbot-prod"
  blocked   = false
}

override "chatbot_gateway_block" {
  description  = "Block the customer chatbot's team on the LiteLLM gateway."
  risk         = "high"
  requesters   = [team.oncall]
  approvers    = approvers.leads
  quorum       = 1
  max_duration = "4h"

  change {
    resource = litellm_team.chatbot
    set = {
      blocked = true
    }
  }
}

# A responder's own key, limited in models, budget and rate. Its `expires_at` is set to the
# activation's end: LiteLLM refuses the key from then on, even if no reconciler runs again.
role "incident_model_access" {
  description  = "A gateway key to reproduce a model incident."
  risk         = "medium"
  requesters   = [team.oncall]
  approvers    = approvers.leads
  max_duration = "4h"

  resource "litellm_key" "responder" {
    key_alias  = "breakglass-${requester.name}"
    models     = ["claude-sonnet-4-5", "gpt-4o"]
    max_budget = 25
    rpm_limit  = 60
    tpm_limit  = 100000
  }
}
