# AI platform: break-glass access to the platforms an AI product runs on. Shared by every
# platform file in this folder (anthropic.hcl, litellm.hcl, openai.hcl): settings, people,
# approvers. Everything under keys/ is DEMO ONLY — see keys/README.md.
#
# Credentials come from the environment of the executor, the variables the vendors' own SDKs
# read, so this folder runs unchanged against the real APIs or local contract servers:
#   ANTHROPIC_ADMIN_KEY, ANTHROPIC_BASE_URL, LITELLM_MASTER_KEY, LITELLM_BASE_URL, …

breakglass {
  max_duration     = "12h"
  plan_signers     = [person.ci]
  plan_lifetime    = "1h"
  request_lifetime = "1h"
}

person "alice" {
  display_name = "Alice Martin"
  email        = "alice@example.com"
  public_key   = file("keys/alice.pub")
  identities = {
    anthropic = "user_01AliceMartin"
  }
}

person "bob" {
  display_name = "Bob Chen"
  email        = "bob@example.com"
  public_key   = file("keys/bob.pub")
  identities = {
    anthropic = "user_01BobChen"
  }
}

person "carol" {
  display_name = "Carol Diaz"
  email        = "carol@example.com"
  public_key   = file("keys/carol.pub")
}

person "dave" {
  display_name = "Dave Okafor"
  email        = "dave@example.com"
  public_key   = file("keys/dave.pub")
}

# The CI job that signs reviewed plans.
person "ci" {
  display_name = "CI pipeline"
  public_key   = file("keys/ci.pub")
}

team "oncall" {
  description = "On-call engineers of the AI platform: they may ask for emergency access."
  members     = [person.alice, person.bob]
}

approvers "leads" {
  description         = "Engineering leads approve emergency access."
  members             = [person.carol, person.dave]
  quorum              = 2
  allow_self_approval = false
  token_lifetime      = "30m"
}
