# What is always true on the server: the responders' policy and group exist, nobody is a
# member of that group unless an activation says so, and auditors can read secrets' metadata.

resource "vault_policy" "responder" {
  name = "breakglass-responder"

  # Compared by meaning: reordering paths or capabilities, or a comment, is no change.
  policy = <<-EOT
    # Read every application secret (KV version 2 at secret/).
    path "secret/data/*" {
      capabilities = ["read", "list"]
    }
    path "secret/metadata/*" {
      capabilities = ["read", "list"]
    }

    # Short-lived PostgreSQL administrator credentials from the database secrets engine.
    path "database/creds/emergency-admin" {
      capabilities = ["read"]
    }

    # Tokens for tools, from the responder's own grant-bounded token role only.
    path "auth/token/create/bg-{{identity.entity.name}}" {
      capabilities = ["update"]
    }
  EOT
}

# The privileged group an emergency grant adds a responder's entity to. Its members are not
# declared here: they are vault_identity_group_member objects, granted by role.secrets_responder.
resource "vault_identity_group" "responders" {
  name     = "breakglass-responders"
  policies = [vault_policy.responder.name]
  metadata = {
    purpose = "break-glass"
  }
}

# Auditors read secrets' metadata (never their values) at all times: a standing membership.
resource "vault_policy" "auditor" {
  name   = "auditor"
  policy = <<-EOT
    path "secret/metadata/*" {
      capabilities = ["read", "list"]
    }
  EOT
}

resource "vault_identity_group" "auditors" {
  name     = "auditors"
  policies = [vault_policy.auditor.name]
}

resource "vault_identity_group_member" "erin_audits" {
  group  = vault_identity_group.auditors.name
  entity = "erin"
}
