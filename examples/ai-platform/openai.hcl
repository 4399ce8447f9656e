# OpenAI: lift the support bot's rate limits during an incident, for at most 2 hours.
#
# The baseline adopts the project's per-model rate limits without pinning their values; the
# override raises them while it is live, and its revert writes back exactly the values that
# were there before (breakglass records them when the override starts).

provider "openai" {
  # The Admin API key and base URL come from OPENAI_ADMIN_KEY and OPENAI_BASE_URL, as with
  # OpenAI's own SDKs, so this runs unchanged against the real API or a local test server.
}

resource "openai_project_rate_limit" "support_bot_gpt_4o" {
  project_id = "proj_support_bot"
  model      = "gpt-4o"
}

resource "openai_project_rate_limit" "support_bot_gpt_4o_mini" {
  project_id = "proj_support_bot"
  model      = "gpt-4o-mini"
}

override "openai_rate_limit_lift" {
  description  = "Raise the support bot's OpenAI rate limits in an incident (a traffic spike, a failover from another model provider)."
  risk         = "medium"
  requesters   = [team.oncall]
  approvers    = approvers.leads
  quorum       = 1
  max_duration = "2h"

  change {
    resource = openai_project_rate_limit.support_bot_gpt_4o
    set = {
      max_requests_per_1_minute = 10000
      max_tokens_per_1_minute   = 2000000
    }
  }

  change {
    resource = openai_project_rate_limit.support_bot_gpt_4o_mini
    set = {
      max_requests_per_1_minute = 30000
      max_tokens_per_1_minute   = 5000000
    }
  }
}
