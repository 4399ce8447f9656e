# What is always true: the platform team owns the payments project, the breakglass executor (and
# no one else) administers its IAM, on-call engineers can look but not touch, and the security
# team reviews IAM across the production folder. Nobody holds database administration outside a
# grant.

resource "gcp_project_iam_member" "platform_owners" {
  project = "payments-prod"
  role    = "roles/owner"
  member  = "group:platform-admins@example.com"
}

# The executor's own service account: the permission it needs to grant and revert.
resource "gcp_project_iam_member" "executor" {
  project = "payments-prod"
  role    = "roles/resourcemanager.projectIamAdmin"
  member  = "serviceAccount:breakglass@ops-admin.iam.gserviceaccount.com"
}

resource "gcp_project_iam_member" "oncall_viewers" {
  project = "payments-prod"
  role    = "roles/viewer"
  member  = "group:oncall@example.com"
}

resource "gcp_folder_iam_member" "security_reviewers" {
  folder = "folders/1234567890"
  role   = "roles/iam.securityReviewer"
  member = "group:security@example.com"
}
