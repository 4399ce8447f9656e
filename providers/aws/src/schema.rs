//! The `aws` provider's configuration and resource types. Attribute names follow Terraform's
//! AWS provider, so the HCL looks familiar; the few additions (`require_mfa`, `max_mfa_age`,
//! `expires_at`, `permission_set_name`, `principal_name`) are marked in their descriptions.

use breakglass_provider::{AttributeSchema, AttributeType, ProviderSchema, ResourceSchema};

/// An IAM role.
pub const ROLE: &str = "aws_iam_role";
/// A customer managed IAM policy.
pub const POLICY: &str = "aws_iam_policy";
/// A managed policy attached to a role.
pub const ATTACHMENT: &str = "aws_iam_role_policy_attachment";
/// An inline policy of a role.
pub const ROLE_POLICY: &str = "aws_iam_role_policy";
/// A user's membership in groups.
pub const MEMBERSHIP: &str = "aws_iam_user_group_membership";
/// An IAM Identity Center permission set.
pub const PERMISSION_SET: &str = "aws_ssoadmin_permission_set";
/// An IAM Identity Center account assignment.
pub const ASSIGNMENT: &str = "aws_ssoadmin_account_assignment";

fn string() -> AttributeSchema {
    AttributeSchema::new(AttributeType::String)
}

fn strings() -> AttributeSchema {
    AttributeSchema::new(AttributeType::List(Box::new(AttributeType::String)))
}

fn tags() -> AttributeSchema {
    AttributeSchema::new(AttributeType::Map(Box::new(AttributeType::String)))
        .describe("Tags on the object.")
}

fn arn() -> AttributeSchema {
    string().computed().describe("The ARN AWS gave the object.")
}

fn expires_at(what: &str) -> AttributeSchema {
    string().describe(format!(
        "breakglass: RFC 3339 time at which AWS itself ends the access ({what}). Set \
         automatically to the activation's end when a role grant creates the object."
    ))
}

/// The schema of the `aws` provider.
pub fn schema() -> ProviderSchema {
    ProviderSchema::new(
        "aws",
        "AWS IAM and IAM Identity Center: roles, policies, attachments, group memberships, \
         permission sets and account assignments.",
    )
    .config_attribute(
        "region",
        string().describe(
            "Region for STS and IAM Identity Center (IAM is global). Default: AWS_REGION, \
             AWS_DEFAULT_REGION, the profile's region, else us-east-1.",
        ),
    )
    .config_attribute(
        "endpoint",
        string().describe(
            "One endpoint URL for every service (an emulator). Default: AWS_ENDPOINT_URL_<SERVICE>, \
             AWS_ENDPOINT_URL, else AWS's public endpoints.",
        ),
    )
    .config_attribute(
        "profile",
        string().describe("Profile in the shared credentials and config files (default AWS_PROFILE, else default)."),
    )
    .config_attribute("access_key", string().describe("Access key id; use env(). Set with secret_key."))
    .config_attribute("secret_key", string().sensitive().describe("Secret access key; use env()."))
    .config_attribute("token", string().sensitive().describe("Session token of temporary credentials; use env()."))
    .config_attribute(
        "shared_credentials_files",
        strings().describe("Shared credentials files (default AWS_SHARED_CREDENTIALS_FILE, else ~/.aws/credentials)."),
    )
    .config_attribute(
        "shared_config_files",
        strings().describe("Shared config files (default AWS_CONFIG_FILE, else ~/.aws/config)."),
    )
    .config_attribute(
        "privileged_policies",
        strings().describe(
            "Managed policy ARNs whose attachments grant privileged access: attachments of them \
             (to roles, or to groups users belong to) that nothing in the policy grants are drift \
             that widens access.",
        ),
    )
    .config_attribute(
        "max_retries",
        AttributeSchema::new(AttributeType::Number)
            .describe("Attempts per API call, the first included, for throttling and 5xx (default 5)."),
    )
    .resource_type(
        ROLE,
        ResourceSchema::new("An IAM role and its trust policy.")
            .attribute("name", string().required().forces_replacement().describe("The role's name."))
            .attribute("path", string().forces_replacement().describe("The role's path (default /)."))
            .attribute(
                "assume_role_policy",
                AttributeSchema::new(AttributeType::Json)
                    .required()
                    .describe("The trust policy: who may assume the role."),
            )
            .attribute("description", string().describe("What the role is for."))
            .attribute(
                "max_session_duration",
                AttributeSchema::new(AttributeType::Number)
                    .describe("The longest session, in seconds (3600 to 43200; default 3600)."),
            )
            .attribute("tags", tags())
            .attribute(
                "require_mfa",
                AttributeSchema::new(AttributeType::Bool).describe(
                    "breakglass: demand MFA (aws:MultiFactorAuthPresent) of every AWS principal \
                     the trust policy lets in; usually authentication.NAME.mfa.",
                ),
            )
            .attribute(
                "max_mfa_age",
                AttributeSchema::new(AttributeType::Number).describe(
                    "breakglass: with require_mfa, the oldest MFA sign-in accepted, in seconds \
                     (aws:MultiFactorAuthAge); usually authentication.NAME.max_mfa_age.",
                ),
            )
            .attribute("arn", arn())
            .with_list(),
    )
    .resource_type(
        POLICY,
        ResourceSchema::new("A customer managed IAM policy.")
            .attribute("name", string().required().forces_replacement().describe("The policy's name."))
            .attribute("path", string().forces_replacement().describe("The policy's path (default /)."))
            .attribute(
                "description",
                string().forces_replacement().describe("What the policy is for (IAM cannot change it in place)."),
            )
            .attribute(
                "policy",
                AttributeSchema::new(AttributeType::Json).required().describe("The policy document."),
            )
            .attribute("tags", tags())
            .attribute("arn", arn())
            .with_list(),
    )
    .resource_type(
        ATTACHMENT,
        ResourceSchema::new("A managed policy attached to a role.")
            .attribute("role", string().required().forces_replacement().describe("The role's name."))
            .attribute(
                "policy_arn",
                string().required().forces_replacement().describe("The ARN of the managed policy."),
            )
            .attribute(
                "expires_at",
                expires_at("an inline guard policy on the role denies everything from then on"),
            )
            .with_expiry_attribute("expires_at")
            .with_list(),
    )
    .resource_type(
        ROLE_POLICY,
        ResourceSchema::new("An inline policy of a role.")
            .attribute("role", string().required().forces_replacement().describe("The role's name."))
            .attribute("name", string().required().forces_replacement().describe("The policy's name."))
            .attribute(
                "policy",
                AttributeSchema::new(AttributeType::Json).required().describe("The policy document."),
            )
            .attribute(
                "expires_at",
                expires_at("every Allow statement gets DateLessThan aws:CurrentTime"),
            )
            .with_expiry_attribute("expires_at")
            .with_list(),
    )
    .resource_type(
        MEMBERSHIP,
        ResourceSchema::new("A user's membership in IAM groups (other memberships are left alone).")
            .attribute("user", string().required().forces_replacement().describe("The user's name."))
            .attribute("groups", strings().required().describe("The groups the user belongs to."))
            .with_list(),
    )
    .resource_type(
        PERMISSION_SET,
        ResourceSchema::new("An IAM Identity Center permission set.")
            .attribute("name", string().required().forces_replacement().describe("The permission set's name."))
            .attribute(
                "instance_arn",
                string().forces_replacement().describe(
                    "The Identity Center instance (default: the account's only instance).",
                ),
            )
            .attribute("description", string().describe("What it is for."))
            .attribute(
                "session_duration",
                string().describe("ISO 8601 length of sessions, as PT1H (default PT1H)."),
            )
            .attribute("relay_state", string().describe("Where users land after signing in."))
            .attribute("arn", arn()),
    )
    .resource_type(
        ASSIGNMENT,
        ResourceSchema::new(
            "An IAM Identity Center account assignment: a user or group gets a permission set \
             in an account. Created and deleted asynchronously; the provider waits for AWS.",
        )
        .attribute(
            "instance_arn",
            string().forces_replacement().describe("The Identity Center instance (default: the only one)."),
        )
        .attribute(
            "permission_set_arn",
            string().forces_replacement().describe("The permission set's ARN (or permission_set_name)."),
        )
        .attribute(
            "permission_set_name",
            string().forces_replacement().describe(
                "breakglass: the permission set's name, looked up, instead of permission_set_arn.",
            ),
        )
        .attribute(
            "principal_type",
            string().required().forces_replacement().describe("USER or GROUP."),
        )
        .attribute(
            "principal_id",
            string().forces_replacement().describe("The identity store id of the user or group (or principal_name)."),
        )
        .attribute(
            "principal_name",
            string().forces_replacement().describe(
                "breakglass: the user's userName or the group's displayName in the identity store, \
                 looked up, instead of principal_id.",
            ),
        )
        .attribute("target_id", string().required().forces_replacement().describe("The AWS account id."))
        .attribute(
            "target_type",
            string().forces_replacement().describe("AWS_ACCOUNT (the default and only kind)."),
        )
        .attribute(
            "expires_at",
            expires_at(
                "a statement in the permission set's inline policy denies this user everything \
                 in this account from then on; USER assignments only",
            ),
        )
        .with_expiry_attribute("expires_at"),
    )
}
