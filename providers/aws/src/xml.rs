//! Decoding Query-protocol answers: the `<ActionResult>` element of
//! `<ActionResponse><ActionResult>…</ActionResult><ResponseMetadata>…</ActionResponse>` into a
//! typed struct, with quick-xml's serde support. Lists are `<member>` elements.

use breakglass_provider::ProviderError;
use serde::Deserialize;
use serde::de::DeserializeOwned;

/// A list of `<member>` elements.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
pub struct Members<T> {
    /// The elements.
    #[serde(default = "Vec::new")]
    pub member: Vec<T>,
}

impl<T> Default for Members<T> {
    fn default() -> Self {
        Self { member: Vec::new() }
    }
}

/// STS `GetCallerIdentity`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct CallerIdentity {
    /// The account id.
    pub account: String,
    /// The caller's ARN.
    #[serde(default)]
    pub arn: String,
}

/// Decodes the `<{action}Result>` element of `body`; an answer without one (`DeleteRole`)
/// decodes as an empty element.
pub fn result<T: DeserializeOwned>(body: &str, action: &str) -> Result<T, ProviderError> {
    if !body.contains(&format!("<{action}Response")) {
        let excerpt: String = body.chars().take(200).collect();
        return Err(ProviderError::protocol(format!(
            "the answer to {action} is not the XML AWS documents (no {action}Response element); \
             it starts: {excerpt}"
        )));
    }
    let open = format!("<{action}Result>");
    let close = format!("</{action}Result>");
    let inner = match (body.find(&open), body.rfind(&close)) {
        (Some(start), Some(end)) if start + open.len() <= end => &body[start + open.len()..end],
        _ => "",
    };
    quick_xml::de::from_str(&format!("<r>{inner}</r>")).map_err(|error| {
        let excerpt: String = body.chars().take(200).collect();
        ProviderError::protocol(format!(
            "the answer to {action} is not the XML AWS documents ({error}); it starts: {excerpt}"
        ))
    })
}

/// IAM returns policy documents URL-encoded (RFC 3986); decodes one, leaving a plain JSON
/// document (as some emulators send) as it is.
pub fn policy_document(raw: &str) -> String {
    let trimmed = raw.trim();
    if trimmed.starts_with('{') {
        return trimmed.to_owned();
    }
    percent_encoding::percent_decode_str(trimmed).decode_utf8_lossy().into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Default, Deserialize, PartialEq)]
    #[serde(rename_all = "PascalCase")]
    struct Listed {
        #[serde(default)]
        attached_policies: Members<Attached>,
        #[serde(default)]
        is_truncated: bool,
        #[serde(default)]
        marker: Option<String>,
    }

    #[derive(Debug, Default, Deserialize, PartialEq)]
    #[serde(rename_all = "PascalCase")]
    struct Attached {
        policy_name: String,
        policy_arn: String,
    }

    #[test]
    fn results_decode_with_member_lists_and_empty_answers() {
        let body = r#"<ListAttachedRolePoliciesResponse xmlns="https://iam.amazonaws.com/doc/2010-05-08/">
  <ListAttachedRolePoliciesResult>
    <AttachedPolicies>
      <member><PolicyName>ReadOnlyAccess</PolicyName><PolicyArn>arn:aws:iam::aws:policy/ReadOnlyAccess</PolicyArn></member>
      <member><PolicyName>A&amp;B</PolicyName><PolicyArn>arn:x</PolicyArn></member>
    </AttachedPolicies>
    <IsTruncated>true</IsTruncated>
    <Marker>m1</Marker>
  </ListAttachedRolePoliciesResult>
  <ResponseMetadata><RequestId>1</RequestId></ResponseMetadata>
</ListAttachedRolePoliciesResponse>"#;
        let listed: Listed = result(body, "ListAttachedRolePolicies").unwrap();
        assert_eq!(listed.attached_policies.member.len(), 2);
        assert_eq!(listed.attached_policies.member[1].policy_name, "A&B");
        assert!(listed.is_truncated);
        assert_eq!(listed.marker.as_deref(), Some("m1"));
        let empty: Listed = result(
            "<ListAttachedRolePoliciesResponse><ListAttachedRolePoliciesResult><AttachedPolicies/><IsTruncated>false</IsTruncated></ListAttachedRolePoliciesResult></ListAttachedRolePoliciesResponse>",
            "ListAttachedRolePolicies",
        )
        .unwrap();
        assert!(empty.attached_policies.member.is_empty());
        let none: Listed =
            result("<DeleteRoleResponse><ResponseMetadata/></DeleteRoleResponse>", "DeleteRole")
                .unwrap();
        assert_eq!(none, Listed::default());
        let error = result::<CallerIdentity>("<html>oops", "GetCallerIdentity").unwrap_err();
        assert!(error.message().contains("GetCallerIdentity"), "{error}");
    }

    #[test]
    fn policy_documents_are_url_decoded() {
        assert_eq!(policy_document("%7B%22a%22%3A%201%7D"), "{\"a\": 1}");
        assert_eq!(policy_document(" {\"a\":1}"), "{\"a\":1}");
    }
}
