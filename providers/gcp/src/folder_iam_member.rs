//! `gcp_folder_iam_member`: a member's binding to a role in a folder's IAM policy
//! (`folders/{id}`; Terraform's `google_folder_iam_member`). `folder` is `folders/123` or
//! just `123`; reads report `folders/123`, and both forms compare equal.

use crate::iam_member::Target;
use crate::schema::FOLDER_IAM_MEMBER;

/// Where this type's bindings live.
pub const TARGET: Target = Target {
    resource_type: FOLDER_IAM_MEMBER,
    attribute: "folder",
    resource_name,
    attribute_value,
};

fn resource_name(folder: &str) -> Result<String, String> {
    let id = folder.strip_prefix("folders/").unwrap_or(folder);
    if id.is_empty() || !id.chars().all(|c| c.is_ascii_digit()) {
        return Err("is not a folder; expected `folders/NUMBER` or the folder's number".to_owned());
    }
    Ok(format!("folders/{id}"))
}

fn attribute_value(resource: &str) -> String {
    resource.to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folders_are_named_by_number_with_or_without_their_collection() {
        assert_eq!(resource_name("123").unwrap(), "folders/123");
        assert_eq!(resource_name("folders/123").unwrap(), "folders/123");
        for bad in ["", "folders/", "prod", "folders/1/2"] {
            assert!(resource_name(bad).is_err(), "{bad}");
        }
        assert!(TARGET.same_resource(&"123".into(), &"folders/123".into()));
        assert!(!TARGET.same_resource(&"123".into(), &"folders/124".into()));
    }
}
