# Who may ask, who approves, and who signs plans. `identities.kubernetes` is the user name the
# cluster's authenticator gives each person (an OIDC email, an IAM role mapping…).

person "alice" {
  display_name = "Alice Martin"
  email        = "alice@example.com"
  public_key   = file("keys/alice.pub")
  identities = {
    kubernetes = "alice@example.com"
  }
}

person "bob" {
  display_name = "Bob Chen"
  email        = "bob@example.com"
  public_key   = file("keys/bob.pub")
  identities = {
    kubernetes = "bob@example.com"
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
  description = "Production on-call engineers: they may ask for emergency cluster access."
  members     = [person.alice, person.bob]
}

approvers "leads" {
  description         = "Engineering leads approve emergency cluster access."
  members             = [person.carol, person.dave]
  quorum              = 1
  allow_self_approval = false
  token_lifetime      = "30m"
}
