# Emergency access: what can be granted, to whom, approved by whom, for how long. Each grant is
# an active PIM assignment whose end Azure enforces itself (expires_at is set to the activation's
# end); breakglass's revert takes it back earlier with an AdminRemove request if the activation
# ends first, and confirms by reading that Azure no longer lists it.

role "subscription_owner" {
  description    = "Owner of the production subscription."
  risk           = "high"
  requesters     = [team.oncall]
  approvers      = approvers.leads
  authentication = authentication.fresh_approval
  max_duration   = "2h"

  resource "azure_role_assignment" "owner" {
    scope              = "/subscriptions/5f0c1e2d-8b7a-4c3e-9d2f-1a2b3c4d5e6f"
    role_definition_id = "/subscriptions/5f0c1e2d-8b7a-4c3e-9d2f-1a2b3c4d5e6f/providers/Microsoft.Authorization/roleDefinitions/8e3af657-a8ff-443c-a75c-2fe8c4bcb635"
    principal_id       = requester.identities.azure
  }
}

role "prod_contributor" {
  description  = "Contributor of the production resource group."
  risk         = "medium"
  requesters   = [team.oncall]
  approvers    = approvers.leads
  max_duration = "8h"

  resource "azure_role_assignment" "contributor" {
    scope              = "/subscriptions/5f0c1e2d-8b7a-4c3e-9d2f-1a2b3c4d5e6f/resourceGroups/rg-prod"
    role_definition_id = "/subscriptions/5f0c1e2d-8b7a-4c3e-9d2f-1a2b3c4d5e6f/providers/Microsoft.Authorization/roleDefinitions/b24988ac-6180-42a0-ab88-20f7382dd24c"
    principal_id       = requester.identities.azure
    principal_type     = "User"
  }
}
