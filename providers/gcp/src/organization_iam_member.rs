//! `gcp_organization_iam_member`: a member's binding to a role in an organization's IAM policy
//! (`organizations/{id}`; Terraform's `google_organization_iam_member`). `org_id` is the
//! organization's number (`organizations/123` is accepted too); reads report the number.

use crate::iam_member::Target;
use crate::schema::ORGANIZATION_IAM_MEMBER;

/// Where this type's bindings live.
pub const TARGET: Target = Target {
    resource_type: ORGANIZATION_IAM_MEMBER,
    attribute: "org_id",
    resource_name,
    attribute_value,
};

fn resource_name(organization: &str) -> Result<String, String> {
    let id = organization.strip_prefix("organizations/").unwrap_or(organization);
    if id.is_empty() || !id.chars().all(|c| c.is_ascii_digit()) {
        return Err("is not an organization id; expected its number (`123456789`)".to_owned());
    }
    Ok(format!("organizations/{id}"))
}

fn attribute_value(resource: &str) -> String {
    resource.strip_prefix("organizations/").unwrap_or(resource).to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn organizations_are_named_by_number() {
        assert_eq!(resource_name("123").unwrap(), "organizations/123");
        assert_eq!(resource_name("organizations/123").unwrap(), "organizations/123");
        for bad in ["", "example.com", "organizations/x"] {
            assert!(resource_name(bad).is_err(), "{bad}");
        }
        assert_eq!(attribute_value("organizations/123"), "123");
        assert!(TARGET.same_resource(&"123".into(), &"organizations/123".into()));
    }
}
