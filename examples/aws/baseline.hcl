# What is always true: the break-glass role exists, trusts the account only with MFA, and has
# nothing but guardrails attached; the incident responder permission set exists and is
# assigned to nobody.

resource "aws_iam_role" "breakglass_admin" {
  name                 = "breakglass-admin"
  path                 = "/breakglass/"
  description          = "Break-glass administrator: permissions only while a grant is live."
  max_session_duration = 3600
  assume_role_policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Effect    = "Allow"
      Principal = { AWS = "arn:aws:iam::123456789012:root" }
      Action    = "sts:AssumeRole"
    }]
  })

  # Compiled into the trust policy as aws:MultiFactorAuthPresent and aws:MultiFactorAuthAge.
  require_mfa = authentication.strong.mfa
  max_mfa_age = authentication.strong.max_mfa_age

  tags = {
    managed-by = "breakglass"
  }
}

# Guardrails that hold even in an emergency: nobody acting through the break-glass role may
# switch off the audit trail or take the account out of the organization.
resource "aws_iam_policy" "guardrails" {
  name        = "breakglass-guardrails"
  path        = "/breakglass/"
  description = "What the break-glass role may never do, even in an emergency."
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Effect = "Deny"
      Action = [
        "cloudtrail:StopLogging",
        "cloudtrail:DeleteTrail",
        "organizations:LeaveOrganization",
      ]
      Resource = "*"
    }]
  })
}

resource "aws_iam_role_policy_attachment" "guardrails" {
  role       = aws_iam_role.breakglass_admin.name
  policy_arn = "arn:aws:iam::123456789012:policy/breakglass/breakglass-guardrails"
  depends_on = [aws_iam_policy.guardrails]
}

# Members of breakglass-responders may assume the role; the group is empty outside grants.
resource "aws_iam_policy" "assume_breakglass" {
  name        = "breakglass-assume-admin"
  path        = "/breakglass/"
  description = "Lets break-glass responders assume the break-glass administrator role."
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Effect   = "Allow"
      Action   = "sts:AssumeRole"
      Resource = "arn:aws:iam::123456789012:role/breakglass/breakglass-admin"
    }]
  })
}

resource "aws_ssoadmin_permission_set" "incident_responder" {
  name             = "IncidentResponder"
  description      = "Read-only investigation access for incident responders."
  session_duration = "PT1H"
}
