//! What each of the four RBAC types says about itself (its API kind, path, body), so the
//! reads and writes in [`crate::objects`] are written once for all four.

use breakglass_provider::{ActivationContext, Attributes, ProviderError, Value};
use serde::Serialize;
use serde::de::DeserializeOwned;
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;

use crate::api::{HasMeta, ObjectMeta};

/// The label and annotation that name the activation an object was created for.
pub const ACTIVATION_KEY: &str = "breakglass.dev/activation";
/// The annotation naming who the activation was granted to.
pub const REQUESTER_KEY: &str = "breakglass.dev/requester";
/// The annotation saying when breakglass will take the access back.
pub const ENDS_KEY: &str = "breakglass.dev/ends-at";
/// breakglass's own labels and annotations.
pub const OWN_PREFIX: &str = "breakglass.dev/";
/// The standard label naming the tool that manages an object.
pub const MANAGED_BY_KEY: &str = "app.kubernetes.io/managed-by";
/// Kubernetes' own default RBAC objects carry this label (value `rbac-defaults`).
pub const BOOTSTRAPPING_KEY: &str = "kubernetes.io/bootstrapping";

/// One RBAC resource type.
pub trait Kind: Send + Sync + 'static {
    /// Its API object.
    type Object: Serialize + DeserializeOwned + Clone + PartialEq + Send + Sync + HasMeta;
    /// The breakglass resource type (`kubernetes_cluster_role_binding`).
    const TYPE: &'static str;
    /// The API kind (`ClusterRoleBinding`).
    const KIND: &'static str;
    /// The resource in URLs (`clusterrolebindings`).
    const PLURAL: &'static str;
    /// Whether objects live in a namespace.
    const NAMESPACED: bool;

    /// The object the declared attributes ask for: metadata (name, namespace, labels) and
    /// body; an error names the attribute at fault.
    fn desired(attributes: &Attributes) -> Result<Self::Object, ProviderError>;

    /// Copies the declared body (rules, subjects) onto an object as read, for an update.
    fn set_body(live: &mut Self::Object, desired: &Self::Object);

    /// Why `live` cannot be updated into `desired` in place (a binding's `roleRef` is
    /// immutable), if it cannot.
    fn immutable_change(live: &Self::Object, desired: &Self::Object) -> Option<String> {
        let _ = (live, desired);
        None
    }

    /// Adds the body's live attributes, in canonical form.
    fn body_attributes(object: &Self::Object, into: &mut Attributes);

    /// Whether the object grants one of `privileged` cluster roles.
    fn privileged(object: &Self::Object, privileged: &[String]) -> bool {
        let _ = (object, privileged);
        false
    }
}

/// The declared metadata: name, namespace (namespaced types), labels.
pub fn declared_meta<K: Kind>(attributes: &Attributes) -> Result<ObjectMeta, ProviderError> {
    let name = name_part(attributes, K::TYPE, "name")?;
    let namespace = if K::NAMESPACED {
        Some(name_part(attributes, K::TYPE, "namespace")?.to_owned())
    } else {
        None
    };
    let labels = match attributes.get("labels") {
        None | Some(Value::Null) => BTreeMap::new(),
        Some(Value::Object(map)) => map
            .iter()
            .map(|(key, value)| match value.as_str() {
                Some(text) if !key.starts_with(OWN_PREFIX) => Ok((key.clone(), text.to_owned())),
                _ => Err(ProviderError::invalid(format!(
                    "{}: `labels` must map keys to strings, and keys under {OWN_PREFIX} are \
                     breakglass's own (got {key:?})",
                    K::TYPE
                ))),
            })
            .collect::<Result<_, _>>()?,
        Some(_) => {
            return Err(ProviderError::invalid(format!(
                "{}: `labels` must be a map of strings",
                K::TYPE
            )));
        }
    };
    Ok(ObjectMeta { name: name.to_owned(), namespace, labels, ..ObjectMeta::default() })
}

/// A name or namespace: set, and a valid path segment (no `/`, `%`, not `.` or `..`), as
/// the API server requires of RBAC names.
fn name_part<'a>(
    attributes: &'a Attributes,
    resource_type: &str,
    attribute: &str,
) -> Result<&'a str, ProviderError> {
    match attributes.get(attribute).and_then(Value::as_str) {
        Some(text)
            if !text.is_empty()
                && text != "."
                && text != ".."
                && !text.contains('/')
                && !text.contains('%') =>
        {
            Ok(text)
        }
        Some(text) => Err(ProviderError::invalid(format!(
            "{resource_type}: `{attribute}` {text:?} is not a valid name: it may not be empty, \
             `.` or `..`, nor contain `/` or `%`"
        ))),
        None => Err(ProviderError::invalid(format!(
            "{resource_type}: `{attribute}` must be set to a string"
        ))),
    }
}

/// The natural id: `NAME`, or `NAMESPACE/NAME` for namespaced types.
pub fn id_of(meta: &ObjectMeta) -> String {
    match &meta.namespace {
        Some(namespace) => format!("{namespace}/{}", meta.name),
        None => meta.name.clone(),
    }
}

/// The `(namespace, name)` an id names.
pub fn split_id<K: Kind>(id: &str) -> Result<(Option<&str>, &str), ProviderError> {
    let split = if K::NAMESPACED {
        id.split_once('/')
            .filter(|(ns, name)| !ns.is_empty() && !name.is_empty() && !name.contains('/'))
            .map(|(ns, name)| (Some(ns), name))
    } else {
        Some((None, id)).filter(|(_, name)| !name.is_empty() && !name.contains('/'))
    };
    split.ok_or_else(|| {
        ProviderError::invalid(format!(
            "{}: id {id:?} is not of the form {}",
            K::TYPE,
            if K::NAMESPACED { "NAMESPACE/NAME" } else { "NAME" }
        ))
    })
}

/// The label value naming activation `id`: the id itself when it is a valid label value
/// (`act_01J…`, `grant_chg_1234`), else a digest of it.
pub fn activation_label(id: &str) -> String {
    let valid = !id.is_empty()
        && id.len() <= 63
        && id.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        && id.starts_with(|c: char| c.is_ascii_alphanumeric())
        && id.ends_with(|c: char| c.is_ascii_alphanumeric());
    if valid {
        id.to_owned()
    } else {
        format!("sha256-{}", &hex::encode(Sha256::digest(id.as_bytes()))[..40])
    }
}

/// Marks an object as breakglass's, and as created for `activation` if there is one.
pub fn stamp(meta: &mut ObjectMeta, activation: Option<&ActivationContext>) {
    meta.labels.insert(MANAGED_BY_KEY.to_owned(), "breakglass".to_owned());
    if let Some(activation) = activation {
        meta.labels.insert(ACTIVATION_KEY.to_owned(), activation_label(&activation.id));
        meta.annotations.insert(ACTIVATION_KEY.to_owned(), activation.id.clone());
        meta.annotations.insert(REQUESTER_KEY.to_owned(), activation.requester.clone());
        meta.annotations.insert(ENDS_KEY.to_owned(), activation.end.to_string());
    }
}

/// Whether `meta` says the object was created for activation `id`.
pub fn created_for(meta: &ObjectMeta, id: &str) -> bool {
    meta.labels.get(ACTIVATION_KEY).is_some_and(|label| *label == activation_label(id))
}

/// Whether the object is one of Kubernetes' own defaults.
pub fn is_default(meta: &ObjectMeta) -> bool {
    meta.labels.get(BOOTSTRAPPING_KEY).is_some_and(|v| v == "rbac-defaults")
}

/// An object's live attributes: name, namespace, labels (without breakglass's own), uid,
/// activation, and the body.
pub fn attributes<K: Kind>(object: &K::Object) -> Attributes {
    let meta = object.meta();
    let mut attributes = Attributes::new();
    attributes.insert("name".into(), Value::from(meta.name.as_str()));
    if K::NAMESPACED {
        attributes
            .insert("namespace".into(), Value::from(meta.namespace.clone().unwrap_or_default()));
    }
    let labels: serde_json::Map<String, Value> = meta
        .labels
        .iter()
        .filter(|(key, _)| !key.starts_with(OWN_PREFIX))
        .map(|(key, value)| (key.clone(), Value::from(value.as_str())))
        .collect();
    attributes.insert("labels".into(), Value::Object(labels));
    attributes.insert("uid".into(), meta.uid.clone().map_or(Value::Null, Value::from));
    attributes.insert(
        "activation".into(),
        meta.annotations
            .get(ACTIVATION_KEY)
            .or_else(|| meta.labels.get(ACTIVATION_KEY))
            .map_or(Value::Null, |id| Value::from(id.as_str())),
    );
    K::body_attributes(object, &mut attributes);
    attributes
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn activation_ids_become_label_values() {
        assert_eq!(activation_label("act_01JDQ4Z9XK"), "act_01JDQ4Z9XK");
        assert_eq!(activation_label("grant_chg_1234"), "grant_chg_1234");
        let long = "grant_".to_owned() + &"x".repeat(70);
        let label = activation_label(&long);
        assert!(label.starts_with("sha256-") && label.len() == 47, "{label}");
        assert_eq!(activation_label(&long), label, "stable");
        assert_ne!(activation_label("_odd"), "_odd");
    }
}
