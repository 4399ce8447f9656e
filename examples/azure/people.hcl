# Who may ask, who approves, and who signs plans. `azure` is the person's Microsoft Entra object
# id (Entra admin center, Users, the user's Object ID).

person "alice" {
  display_name = "Alice Martin"
  email        = "alice@example.com"
  public_key   = file("keys/alice.pub")
  identities = {
    azure = "3f2b8c1e-5d4a-4e6b-9c7d-0a1b2c3d4e5f"
  }
}

person "bob" {
  display_name = "Bob Chen"
  email        = "bob@example.com"
  public_key   = file("keys/bob.pub")
  identities = {
    azure = "7d1e9a2b-4c6f-4b8a-9e0d-2f3a4b5c6d7e"
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

authentication "fresh_approval" {
  description   = "An approval given in the last quarter of an hour."
  max_token_age = "15m"
}
