//! `gcp_project_iam_member`: a member's binding to a role in a project's IAM policy
//! (`projects/{project}`; Terraform's `google_project_iam_member`). `project` is the project's
//! id or number, used as written in the resource name.

use crate::iam_member::Target;
use crate::schema::PROJECT_IAM_MEMBER;

/// Where this type's bindings live.
pub const TARGET: Target = Target {
    resource_type: PROJECT_IAM_MEMBER,
    attribute: "project",
    resource_name,
    attribute_value,
};

/// `prod` → `projects/prod`. Project ids are 6 to 30 lower-case letters, digits and hyphens
/// (older ones may hold a domain and a colon, `example.com:prod`); numbers are digits.
fn resource_name(project: &str) -> Result<String, String> {
    let project = project.strip_prefix("projects/").unwrap_or(project);
    let allowed =
        |c: char| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '-' | '.' | ':');
    if project.is_empty() || !project.chars().all(allowed) {
        return Err("is not a project id (`my-project`) or number; expected lower-case letters, \
                    digits and hyphens"
            .to_owned());
    }
    Ok(format!("projects/{project}"))
}

fn attribute_value(resource: &str) -> String {
    resource.strip_prefix("projects/").unwrap_or(resource).to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn projects_are_named_by_id_or_number() {
        assert_eq!(resource_name("prod-123").unwrap(), "projects/prod-123");
        assert_eq!(resource_name("projects/42").unwrap(), "projects/42");
        assert_eq!(resource_name("example.com:prod").unwrap(), "projects/example.com:prod");
        for bad in ["", "Prod", "a/b", "my project"] {
            assert!(resource_name(bad).is_err(), "{bad}");
        }
        assert_eq!(attribute_value("projects/prod"), "prod");
    }
}
