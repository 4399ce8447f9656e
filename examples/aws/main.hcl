# Break-glass access to an AWS account: an administrator role that demands MFA, an IAM Identity
# Center permission set for incident responders, and a planned grant for a maintenance window.
#
# Credentials and endpoint come from the environment, as for any AWS tool: AWS_ACCESS_KEY_ID,
# AWS_SECRET_ACCESS_KEY (or AWS_PROFILE), AWS_REGION, and AWS_ENDPOINT_URL to run the same
# files against an emulator. Nothing secret is written here.

breakglass {
  max_duration  = "12h"
  plan_signers  = [person.ci]
  plan_lifetime = "1h"
}

provider "aws" {
  region = "us-east-1"

  # Attachments of these policies (to roles, or to groups people are in) that nothing here
  # grants are drift that widens access: reported by plan, removed by apply and reconcile
  # because drift = "revert".
  privileged_policies = ["arn:aws:iam::aws:policy/AdministratorAccess"]
  drift               = "revert"
}
