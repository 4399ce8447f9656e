# Emergency access: what can be granted, to whom, approved by whom, for how long.

role "secrets_responder" {
  description  = "Break-glass access to secrets: the requester's entity joins breakglass-responders, and gets a token role whose tokens end with the grant. When it ends, the membership and the role go, and every token of the requester and every token made with the role is revoked, so the database credentials obtained meanwhile die with them."
  risk         = "high"
  requesters   = [team.oncall]
  approvers    = approvers.leads
  max_duration = "2h"

  resource "vault_identity_group_member" "responder" {
    group  = vault_identity_group.responders.name
    entity = requester.identities.vault
  }

  # breakglass sets expires_at to the activation's end: Vault itself caps every token of the
  # role there (token_explicit_max_ttl), even if no reconciler runs again.
  resource "vault_token_role" "tools" {
    name             = "bg-${requester.identities.vault}"
    allowed_policies = [vault_policy.responder.name]
  }
}
