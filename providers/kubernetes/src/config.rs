//! The evaluated `provider "kubernetes"` block: which kubeconfig, which context, and the
//! provider's own settings. Credentials are never written in the block: they come from the
//! kubeconfig, as they do for kubectl.

use breakglass_provider::{Attributes, ProviderError, Value};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Where kubeconfig files are listed when the block names none.
pub const KUBECONFIG_VARIABLE: &str = "KUBECONFIG";

/// How the provider was configured.
#[derive(Debug, Clone)]
pub struct KubernetesConfig {
    /// The kubeconfig files to merge, in order.
    pub kubeconfig: Vec<PathBuf>,
    /// The context to use; `None` for the kubeconfig's current-context.
    pub context: Option<String>,
    /// ClusterRoles whose bindings are privileged.
    pub privileged_cluster_roles: Vec<String>,
    /// Objects asked for per page.
    pub page_size: u32,
    /// Attempts per call.
    pub max_attempts: u32,
    /// Time allowed per call.
    pub timeout: Duration,
}

impl KubernetesConfig {
    /// Reads the block's attributes; `environment` looks up KUBECONFIG and HOME (a lookup, so
    /// tests need not touch the process environment). A relative `kubeconfig` in the block
    /// resolves against `base_dir`, the policy directory.
    pub fn from_attributes(
        attributes: &Attributes,
        base_dir: &Path,
        environment: impl Fn(&str) -> Option<String>,
    ) -> Result<Self, ProviderError> {
        let kubeconfig = match string(attributes, "kubeconfig")? {
            Some(path) => vec![base_dir.join(path)],
            None => match environment(KUBECONFIG_VARIABLE).filter(|v| !v.trim().is_empty()) {
                // As kubectl reads it: relative entries are relative to the working directory.
                Some(list) => {
                    std::env::split_paths(&list).filter(|p| !p.as_os_str().is_empty()).collect()
                }
                None => match environment("HOME").filter(|h| !h.is_empty()) {
                    Some(home) => vec![Path::new(&home).join(".kube").join("config")],
                    None => {
                        return Err(ProviderError::invalid(
                            "provider \"kubernetes\": no kubeconfig: set KUBECONFIG, or \
                             `kubeconfig = \"PATH\"` in the provider block",
                        ));
                    }
                },
            },
        };
        let privileged_cluster_roles = match attributes.get("privileged_cluster_roles") {
            None | Some(Value::Null) => vec!["cluster-admin".to_owned()],
            Some(Value::Array(items)) => items
                .iter()
                .map(|item| {
                    item.as_str().filter(|s| !s.is_empty()).map(str::to_owned).ok_or_else(|| {
                        ProviderError::invalid(
                            "provider \"kubernetes\": `privileged_cluster_roles` must be a list \
                             of ClusterRole names",
                        )
                    })
                })
                .collect::<Result<_, _>>()?,
            Some(_) => {
                return Err(ProviderError::invalid(
                    "provider \"kubernetes\": `privileged_cluster_roles` must be a list of \
                     ClusterRole names",
                ));
            }
        };
        Ok(Self {
            kubeconfig,
            context: string(attributes, "context")?,
            privileged_cluster_roles,
            page_size: whole_number(attributes, "page_size", 1, 5000)?.unwrap_or(500),
            max_attempts: whole_number(attributes, "max_attempts", 1, 20)?.unwrap_or(5),
            timeout: Duration::from_secs(
                whole_number(attributes, "timeout_seconds", 1, 600)?.unwrap_or(30).into(),
            ),
        })
    }
}

fn string(attributes: &Attributes, name: &str) -> Result<Option<String>, ProviderError> {
    match attributes.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(text)) if !text.trim().is_empty() => Ok(Some(text.trim().to_owned())),
        Some(_) => Err(ProviderError::invalid(format!(
            "provider \"kubernetes\": `{name}` must be a non-empty string"
        ))),
    }
}

fn whole_number(
    attributes: &Attributes,
    name: &str,
    low: u32,
    high: u32,
) -> Result<Option<u32>, ProviderError> {
    match attributes.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(value) => value
            .as_u64()
            .and_then(|n| u32::try_from(n).ok())
            .filter(|n| (low..=high).contains(n))
            .map(Some)
            .ok_or_else(|| {
                ProviderError::invalid(format!(
                    "provider \"kubernetes\": `{name}` must be a whole number from {low} to \
                     {high}, got {value}"
                ))
            }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use breakglass_provider::ErrorKind;
    use serde_json::json;

    fn config(
        pairs: serde_json::Value,
        environment: &[(&str, &str)],
    ) -> Result<KubernetesConfig, ProviderError> {
        let attributes: Attributes = serde_json::from_value(pairs).unwrap();
        KubernetesConfig::from_attributes(&attributes, Path::new("/policy"), |name| {
            environment.iter().find(|(k, _)| *k == name).map(|(_, v)| (*v).to_owned())
        })
    }

    #[test]
    fn the_block_wins_over_kubeconfig_which_wins_over_home() {
        let home = config(json!({}), &[("HOME", "/home/ops")]).unwrap();
        assert_eq!(home.kubeconfig, [PathBuf::from("/home/ops/.kube/config")]);
        assert_eq!(home.privileged_cluster_roles, ["cluster-admin"]);
        assert_eq!((home.page_size, home.max_attempts), (500, 5));

        let listed =
            config(json!({}), &[("KUBECONFIG", "/a/one:two"), ("HOME", "/home/ops")]).unwrap();
        assert_eq!(listed.kubeconfig, [PathBuf::from("/a/one"), PathBuf::from("two")]);

        let block = config(
            json!({"kubeconfig": "kube/config", "context": "prod", "page_size": 2,
                   "privileged_cluster_roles": ["cluster-admin", "admin"]}),
            &[("KUBECONFIG", "/a/one")],
        )
        .unwrap();
        assert_eq!(block.kubeconfig, [PathBuf::from("/policy/kube/config")]);
        assert_eq!(block.context.as_deref(), Some("prod"));
        assert_eq!(block.page_size, 2);
        assert_eq!(block.privileged_cluster_roles, ["cluster-admin", "admin"]);
    }

    #[test]
    fn unusable_settings_are_refused_and_named() {
        let cases = [
            (json!({"page_size": 0}), "from 1 to 5000"),
            (json!({"page_size": 9000}), "from 1 to 5000"),
            (json!({"max_attempts": 1.5}), "whole number"),
            (json!({"context": ""}), "`context` must be a non-empty string"),
            (json!({"privileged_cluster_roles": "cluster-admin"}), "list of ClusterRole names"),
            (json!({"privileged_cluster_roles": [""]}), "list of ClusterRole names"),
        ];
        for (pairs, expected) in cases {
            let error = config(pairs.clone(), &[("HOME", "/h")]).unwrap_err();
            assert_eq!(error.kind(), ErrorKind::Invalid, "{pairs}");
            assert!(error.message().contains(expected), "{pairs}: {error}");
        }
        let error = config(json!({}), &[]).unwrap_err();
        assert!(error.message().contains("set KUBECONFIG"), "{error}");
    }
}
