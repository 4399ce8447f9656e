//! Where the AWS credentials come from, in the order the AWS SDKs and Terraform look:
//! the provider block's `access_key`/`secret_key`, then a profile named in the provider block,
//! then the standard environment variables, then the shared credentials and config files
//! (`AWS_PROFILE`, else `default`).
//!
//! Each set of credentials remembers its [`CredentialSource`], so an error from AWS that says
//! the signature or the key is wrong names where the key came from and what to fix, never the
//! secret itself ([`Secret`] redacts it).

use breakglass_provider::{ProviderError, Secret};
use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

/// Where a set of credentials was found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CredentialSource {
    /// The provider block's `access_key` and `secret_key`.
    ProviderBlock,
    /// `AWS_ACCESS_KEY_ID` and `AWS_SECRET_ACCESS_KEY`.
    Environment,
    /// A profile in a shared credentials or config file.
    Profile {
        /// The profile's name.
        name: String,
        /// The file it was read from.
        file: PathBuf,
    },
}

impl fmt::Display for CredentialSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CredentialSource::ProviderBlock => {
                f.write_str("the provider block's access_key and secret_key")
            }
            CredentialSource::Environment => {
                f.write_str("the environment variables AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY")
            }
            CredentialSource::Profile { name, file } => {
                write!(f, "profile \"{name}\" in {}", file.display())
            }
        }
    }
}

/// A set of AWS credentials and where they came from.
#[derive(Debug, Clone)]
pub struct Credentials {
    /// The access key id (not secret; it appears in AWS's own logs).
    pub access_key_id: String,
    /// The secret access key.
    pub secret_access_key: Secret,
    /// A session token, for temporary credentials.
    pub session_token: Option<Secret>,
    /// Where they came from.
    pub source: CredentialSource,
}

/// What the chain may look at: explicit settings from the provider block and the process
/// environment (passed in, so tests need not change the real one).
#[derive(Debug, Clone, Default)]
pub struct CredentialInputs {
    /// `access_key` from the provider block.
    pub access_key: Option<String>,
    /// `secret_key` from the provider block.
    pub secret_key: Option<Secret>,
    /// `token` from the provider block.
    pub token: Option<Secret>,
    /// `profile` from the provider block.
    pub profile: Option<String>,
    /// `shared_credentials_files` from the provider block.
    pub credentials_files: Vec<PathBuf>,
    /// `shared_config_files` from the provider block.
    pub config_files: Vec<PathBuf>,
    /// Environment variables.
    pub env: BTreeMap<String, String>,
}

impl CredentialInputs {
    fn env(&self, name: &str) -> Option<&str> {
        self.env.get(name).map(String::as_str).filter(|value| !value.trim().is_empty())
    }

    /// The profile to read from the shared files.
    pub fn profile_name(&self) -> String {
        self.profile
            .clone()
            .or_else(|| self.env("AWS_PROFILE").map(str::to_owned))
            .unwrap_or_else(|| "default".to_owned())
    }

    fn home(&self) -> Option<PathBuf> {
        self.env("HOME").map(PathBuf::from)
    }

    /// The shared credentials files to read, in order.
    pub fn credentials_files(&self) -> Vec<PathBuf> {
        if !self.credentials_files.is_empty() {
            return self.credentials_files.clone();
        }
        match self.env("AWS_SHARED_CREDENTIALS_FILE") {
            Some(path) => vec![PathBuf::from(path)],
            None => self.home().map(|h| vec![h.join(".aws/credentials")]).unwrap_or_default(),
        }
    }

    /// The shared config files to read, in order.
    pub fn config_files(&self) -> Vec<PathBuf> {
        if !self.config_files.is_empty() {
            return self.config_files.clone();
        }
        match self.env("AWS_CONFIG_FILE") {
            Some(path) => vec![PathBuf::from(path)],
            None => self.home().map(|h| vec![h.join(".aws/config")]).unwrap_or_default(),
        }
    }

    /// The profile's settings from the shared files (credentials file first, then config),
    /// with the file each came from.
    pub fn profile_settings(&self) -> Result<BTreeMap<String, (String, PathBuf)>, ProviderError> {
        let name = self.profile_name();
        let mut settings = BTreeMap::new();
        for file in self.credentials_files() {
            if let Some(section) = read_section(&file, &name, false)? {
                for (key, value) in section {
                    settings.entry(key).or_insert((value, file.clone()));
                }
            }
        }
        for file in self.config_files() {
            if let Some(section) = read_section(&file, &name, true)? {
                for (key, value) in section {
                    settings.entry(key).or_insert((value, file.clone()));
                }
            }
        }
        Ok(settings)
    }
}

/// Finds credentials, or says where it looked.
pub fn resolve(inputs: &CredentialInputs) -> Result<Credentials, ProviderError> {
    match (&inputs.access_key, &inputs.secret_key) {
        (Some(access_key), Some(secret)) if !access_key.is_empty() && !secret.is_empty() => {
            return Ok(Credentials {
                access_key_id: access_key.clone(),
                secret_access_key: secret.clone(),
                session_token: inputs.token.clone().filter(|t| !t.is_empty()),
                source: CredentialSource::ProviderBlock,
            });
        }
        (Some(_), None) | (None, Some(_)) => {
            return Err(ProviderError::invalid(
                "provider \"aws\": set both access_key and secret_key, or neither (then the \
                 environment and the shared credentials files are used)",
            ));
        }
        _ => {}
    }
    if inputs.profile.is_none()
        && let (Some(id), Some(secret)) =
            (inputs.env("AWS_ACCESS_KEY_ID"), inputs.env("AWS_SECRET_ACCESS_KEY"))
    {
        return Ok(Credentials {
            access_key_id: id.to_owned(),
            secret_access_key: Secret::new(secret),
            session_token: inputs.env("AWS_SESSION_TOKEN").map(Secret::new),
            source: CredentialSource::Environment,
        });
    }
    let name = inputs.profile_name();
    let settings = inputs.profile_settings()?;
    if let (Some((id, file)), Some((secret, _))) =
        (settings.get("aws_access_key_id"), settings.get("aws_secret_access_key"))
    {
        return Ok(Credentials {
            access_key_id: id.clone(),
            secret_access_key: Secret::new(secret.clone()),
            session_token: settings.get("aws_session_token").map(|(t, _)| Secret::new(t.clone())),
            source: CredentialSource::Profile { name, file: file.clone() },
        });
    }
    let unsupported: Vec<&str> = [
        "role_arn",
        "sso_session",
        "sso_start_url",
        "credential_process",
        "web_identity_token_file",
    ]
    .into_iter()
    .filter(|key| settings.contains_key(*key))
    .collect();
    if !unsupported.is_empty() {
        return Err(ProviderError::unsupported(format!(
            "provider \"aws\": profile \"{name}\" gets credentials through {}, which this \
             provider does not support; export static or temporary keys \
             (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN) instead",
            unsupported.join(", ")
        )));
    }
    let files: Vec<String> = inputs
        .credentials_files()
        .into_iter()
        .chain(inputs.config_files())
        .map(|f| f.display().to_string())
        .collect();
    Err(ProviderError::denied(format!(
        "provider \"aws\": no credentials found: set access_key and secret_key in the provider \
         block (with env()), or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or profile \
         \"{name}\" in {}",
        if files.is_empty() { "a shared credentials file".to_owned() } else { files.join(" or ") }
    )))
}

/// The `key = value` pairs of one profile in an INI file, or `None` when the file or the
/// section is absent. In config files a profile other than `default` is `[profile NAME]`.
fn read_section(
    file: &Path,
    profile: &str,
    config_style: bool,
) -> Result<Option<BTreeMap<String, String>>, ProviderError> {
    let text = match fs_err::read_to_string(file) {
        Ok(text) => text,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(error) => {
            return Err(ProviderError::invalid(format!("provider \"aws\": {error}")));
        }
    };
    Ok(parse_ini(&text).remove(&section_name(profile, config_style)))
}

fn section_name(profile: &str, config_style: bool) -> String {
    if config_style && profile != "default" {
        format!("profile {profile}")
    } else {
        profile.to_owned()
    }
}

/// A forgiving INI reader for AWS's shared files: sections, `key = value`, `#` and `;`
/// comments. Nested (indented) sub-settings are skipped.
fn parse_ini(text: &str) -> BTreeMap<String, BTreeMap<String, String>> {
    let mut sections: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
    let mut current: Option<String> = None;
    for raw in text.lines() {
        if raw.starts_with([' ', '\t']) {
            continue;
        }
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
            continue;
        }
        if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            let name = name.split_whitespace().collect::<Vec<_>>().join(" ");
            sections.entry(name.clone()).or_default();
            current = Some(name);
            continue;
        }
        if let (Some(section), Some((key, value))) = (&current, line.split_once('=')) {
            sections
                .entry(section.clone())
                .or_default()
                .insert(key.trim().to_lowercase(), value.trim().to_owned());
        }
    }
    sections
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
    }

    #[test]
    fn the_provider_block_wins_then_the_environment() {
        let mut inputs = CredentialInputs {
            access_key: Some("AKIABLOCK".into()),
            secret_key: Some(Secret::new("block-secret")),
            env: env(&[("AWS_ACCESS_KEY_ID", "AKIAENV"), ("AWS_SECRET_ACCESS_KEY", "env")]),
            ..Default::default()
        };
        let found = resolve(&inputs).unwrap();
        assert_eq!(
            (found.access_key_id.as_str(), found.source),
            ("AKIABLOCK", CredentialSource::ProviderBlock)
        );
        inputs.access_key = None;
        inputs.secret_key = None;
        let found = resolve(&inputs).unwrap();
        assert_eq!(found.source, CredentialSource::Environment);
        assert_eq!(found.secret_access_key.expose(), "env");
        assert!(!format!("{found:?}").contains("env\""), "{found:?}");
    }

    #[test]
    fn profiles_come_from_the_credentials_file_then_the_config_file() {
        let dir = tempfile::tempdir().unwrap();
        let credentials = dir.path().join("credentials");
        let config = dir.path().join("config");
        fs_err::write(
            &credentials,
            "[default]\naws_access_key_id = AKIADEFAULT\naws_secret_access_key = d\n\n\
             # a comment\n[ops]\naws_access_key_id=AKIAOPS\naws_secret_access_key=o\n",
        )
        .unwrap();
        fs_err::write(
            &config,
            "[profile cfg]\naws_access_key_id = AKIACFG\naws_secret_access_key = c\nregion = eu-west-1\n\
             [profile assumed]\nrole_arn = arn:aws:iam::1:role/x\nsource_profile = ops\n",
        )
        .unwrap();
        let base = CredentialInputs {
            env: env(&[
                ("AWS_SHARED_CREDENTIALS_FILE", credentials.to_str().unwrap()),
                ("AWS_CONFIG_FILE", config.to_str().unwrap()),
            ]),
            ..Default::default()
        };
        let found = resolve(&base).unwrap();
        assert_eq!(found.access_key_id, "AKIADEFAULT");
        let mut ops = base.clone();
        ops.env.insert("AWS_PROFILE".into(), "ops".into());
        let found = resolve(&ops).unwrap();
        assert_eq!(found.access_key_id, "AKIAOPS");
        assert_eq!(
            found.source.to_string(),
            format!("profile \"ops\" in {}", credentials.display())
        );
        let mut cfg = base.clone();
        cfg.profile = Some("cfg".into());
        assert_eq!(resolve(&cfg).unwrap().access_key_id, "AKIACFG");
        assert_eq!(cfg.profile_settings().unwrap()["region"].0, "eu-west-1");
        let mut assumed = base.clone();
        assumed.profile = Some("assumed".into());
        let error = resolve(&assumed).unwrap_err();
        assert!(error.message().contains("role_arn"), "{error}");
        let mut missing = base;
        missing.profile = Some("nope".into());
        let error = resolve(&missing).unwrap_err();
        assert!(error.message().contains("no credentials found"), "{error}");
        assert!(error.message().contains("profile \"nope\""), "{error}");
    }

    #[test]
    fn half_a_key_pair_in_the_block_is_refused() {
        let inputs = CredentialInputs { access_key: Some("AKIA".into()), ..Default::default() };
        assert!(resolve(&inputs).unwrap_err().message().contains("both access_key and secret_key"));
    }
}
