# Break-glass access to Google Cloud: database administration in the payments project, a
# security review of the whole organization, and a planned grant for a maintenance window.
#
# Credentials come from the environment, as for any Google tool: GOOGLE_APPLICATION_CREDENTIALS
# (a service account key file) or GOOGLE_OAUTH_ACCESS_TOKEN, and
# CLOUDSDK_API_ENDPOINT_OVERRIDES_CLOUDRESOURCEMANAGER to run the same files against a local
# server. Nothing secret is written here.

breakglass {
  max_duration  = "12h"
  plan_signers  = [person.ci]
  plan_lifetime = "1h"
}

provider "gcp" {
  # Bindings of these roles that nothing here declares or grants are drift that widens access:
  # plan reports them (drift = "revert" would also remove them).
  privileged_roles = ["roles/owner", "roles/editor", "roles/resourcemanager.projectIamAdmin"]
  drift            = "report"
}
