# Quickstart: a small, realistic break-glass policy that runs with no cloud account.
# The "platform" is the built-in local provider: an application's access list and settings,
# kept in app/access.json. Everything under keys/ is DEMO ONLY — see keys/README.md.

breakglass {
  max_duration     = "12h"
  plan_signers     = [person.ci]
  plan_lifetime    = "1h"
  request_lifetime = "1h"

  # Demo only: a real executor keeps TOTP secrets outside git and points
  # BREAKGLASS_TOTP_SECRETS at them.
  totp_secrets_file = "keys/totp-secrets.demo.json"
}

provider "local" {
  path = "app/access.json"

  # Entries holding these roles that nothing here grants are drift that widens access:
  # reported by plan; removed by apply and reconcile, because drift = "revert".
  privileged_roles = ["prod-admin"]
  drift            = "revert"
}
