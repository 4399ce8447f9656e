# What is always true: the on-call engineers' group reads the whole subscription, and the
# security team's group reads production. Nobody holds Owner or Contributor outside a grant.

resource "azure_role_assignment" "oncall_reader" {
  scope              = "/subscriptions/5f0c1e2d-8b7a-4c3e-9d2f-1a2b3c4d5e6f"
  role_definition_id = "/subscriptions/5f0c1e2d-8b7a-4c3e-9d2f-1a2b3c4d5e6f/providers/Microsoft.Authorization/roleDefinitions/acdd72a7-3385-48ef-bd42-f606fba81ae7"
  principal_id       = "c4a8e2f6-1b3d-4e5f-8a9b-0c1d2e3f4a5b"
  principal_type     = "Group"
}

resource "azure_role_assignment" "security_reader" {
  scope              = "/subscriptions/5f0c1e2d-8b7a-4c3e-9d2f-1a2b3c4d5e6f/resourceGroups/rg-prod"
  role_definition_id = "/subscriptions/5f0c1e2d-8b7a-4c3e-9d2f-1a2b3c4d5e6f/providers/Microsoft.Authorization/roleDefinitions/acdd72a7-3385-48ef-bd42-f606fba81ae7"
  principal_id       = "e9d8c7b6-a5f4-4e3d-8c2b-1a0f9e8d7c6b"
  principal_type     = "Group"
}
