# Who may ask, who approves, and who signs plans. `aws` is the person's IAM user name and
# `aws_sso` their IAM Identity Center user name.

person "alice" {
  display_name = "Alice Martin"
  email        = "alice@example.com"
  public_key   = file("keys/alice.pub")
  identities = {
    aws     = "alice"
    aws_sso = "alice@example.com"
  }
}

person "bob" {
  display_name = "Bob Chen"
  email        = "bob@example.com"
  public_key   = file("keys/bob.pub")
  identities = {
    aws     = "bob"
    aws_sso = "bob@example.com"
  }
}

person "carol" {
  display_name = "Carol Diaz"
  email        = "carol@example.com"
  public_key   = file("keys/carol.pub")
}

person "dave" {
  display_name = "Dave Okafor"
  email        = "dave@example.com"
  public_key   = file("keys/dave.pub")
}

# The CI job that signs reviewed plans.
person "ci" {
  display_name = "CI pipeline"
  public_key   = file("keys/ci.pub")
}

team "oncall" {
  description = "Production on-call engineers: they may ask for emergency access."
  members     = [person.alice, person.bob]
}

approvers "leads" {
  description         = "Engineering leads approve emergency access."
  members             = [person.carol, person.dave]
  quorum              = 1
  allow_self_approval = false
  token_lifetime      = "30m"
}

# The break-glass role's trust policy demands MFA signed in within the last hour: require_mfa
# and max_mfa_age on aws_iam_role.breakglass_admin read this rule.
authentication "strong" {
  description = "A TOTP code to breakglass, and MFA at AWS no older than an hour."
  totp        = true
  mfa         = true
  max_mfa_age = "1h"
}
