# Break-glass access to an Azure subscription: the on-call engineers may read it always; in an
# incident one of them may become its Owner, or a Contributor of the production resource group,
# for a bounded time that Azure itself enforces (a Privileged Identity Management schedule).
#
# Credentials and endpoints come from the environment, as for Azure's own tools: AZURE_TENANT_ID,
# AZURE_CLIENT_ID and AZURE_CLIENT_SECRET (the service principal breakglass acts as), and
# AZURE_AUTHORITY_HOST and AZURE_RESOURCE_MANAGER_ENDPOINT to run the same files against a local
# test server. Nothing secret is written here.

breakglass {
  max_duration  = "8h"
  plan_signers  = [person.ci]
  plan_lifetime = "1h"
}

provider "azure" {
  # Owner, Contributor, User Access Administrator and Role Based Access Control Administrator
  # assignments at a scope this policy manages that nothing here grants are drift that widens
  # access (the provider's default `privileged_roles`): reported by plan, removed by apply and
  # reconcile because drift = "revert".
  drift = "revert"
}
