# Vault / OpenBao: break-glass access to secrets and database credentials for the on-call team.
#
# The provider reaches the server with the variables Vault's and OpenBao's own tools read
# (VAULT_ADDR and VAULT_TOKEN, or BAO_ADDR and BAO_TOKEN; VAULT_NAMESPACE, VAULT_CACERT), so
# this policy runs unchanged against any server. Keys under keys/ are DEMO ONLY (see
# keys/README.md).

breakglass {
  max_duration = "12h"
  plan_signers = [person.ci]
}

provider "vault" {
  # Everything else comes from the environment; a token written here would be
  # token = env("NAME"), never the value.
  max_retries = 5

  # Members of the responders' group that nothing here grants are drift that widens access:
  # reported by plan; removed by apply, because drift = "revert".
  privileged_groups = ["breakglass-responders"]
  drift             = "revert"
}
