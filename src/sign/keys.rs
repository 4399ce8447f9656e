//! Ed25519 key files.

use ed25519_dalek::pkcs8::spki::der::pem::LineEnding;
use ed25519_dalek::pkcs8::{DecodePrivateKey, EncodePrivateKey, EncodePublicKey};
use ed25519_dalek::{SigningKey, VerifyingKey};
use rand::TryRng;
use sha2::{Digest, Sha256};
use std::io::Write;
use std::path::{Path, PathBuf};

/// Problems with key files.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// The file could not be read or written.
    #[error(transparent)]
    Io(#[from] std::io::Error),
    /// The file is not an Ed25519 private key in PEM.
    #[error(
        "{path} is not an Ed25519 private key in PEM (-----BEGIN PRIVATE KEY-----): {reason}; \
         make one with `breakglass keygen --out FILE`"
    )]
    NotAPrivateKey {
        /// The file.
        path: PathBuf,
        /// What the parser said.
        reason: String,
    },
    /// Refusing to overwrite an existing key.
    #[error(
        "{0} already exists; refusing to overwrite a key (remove it first, or choose another path)"
    )]
    Exists(PathBuf),
    /// Encoding failed.
    #[error("cannot encode key: {0}")]
    Encode(String),
    /// The operating system's random source failed.
    #[error("cannot get randomness from the operating system: {0}")]
    Random(String),
}

/// A loaded private key. Its `Debug` does not show the key.
pub struct PrivateKey {
    key: SigningKey,
}

impl std::fmt::Debug for PrivateKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "PrivateKey({})", key_id(&self.key.verifying_key()))
    }
}

impl PrivateKey {
    /// Reads a PEM private key file.
    pub fn load(path: &Path) -> Result<Self, KeyError> {
        let text = fs_err::read_to_string(path)?;
        let key = SigningKey::from_pkcs8_pem(text.trim()).map_err(|error| {
            KeyError::NotAPrivateKey { path: path.to_path_buf(), reason: error.to_string() }
        })?;
        Ok(Self { key })
    }

    /// A fresh random key that exists only in memory (drills, tests).
    pub fn generate() -> Result<Self, KeyError> {
        let mut secret = [0u8; 32];
        rand::rngs::SysRng
            .try_fill_bytes(&mut secret)
            .map_err(|e| KeyError::Random(e.to_string()))?;
        Ok(Self { key: SigningKey::from_bytes(&secret) })
    }

    /// The public key as PEM.
    pub fn public_key_pem(&self) -> Result<String, KeyError> {
        self.key
            .verifying_key()
            .to_public_key_pem(LineEnding::LF)
            .map_err(|e| KeyError::Encode(e.to_string()))
    }

    /// The signing key.
    pub fn signing_key(&self) -> &SigningKey {
        &self.key
    }

    /// The matching public key.
    pub fn public_key(&self) -> VerifyingKey {
        self.key.verifying_key()
    }
}

/// A short, stable identifier of a public key: `SHA256:` and the first 16 bytes of the
/// sha256 of its raw bytes, hex. Used as the DSSE `keyid`.
pub fn key_id(key: &VerifyingKey) -> String {
    let digest = Sha256::digest(key.as_bytes());
    format!("SHA256:{}", hex::encode(&digest[..16]))
}

/// Where the public key of the private key at `path` goes: `NAME.key` → `NAME.pub`, any other
/// `FILE` → `FILE.pub`.
pub fn public_key_path(path: &Path) -> PathBuf {
    if path.extension().is_some_and(|extension| extension == "key") {
        path.with_extension("pub")
    } else {
        let mut name = path.as_os_str().to_owned();
        name.push(".pub");
        PathBuf::from(name)
    }
}

/// Generates a key pair, writing the private key to `path` (mode 0600) and the public key to
/// [`public_key_path`]. Refuses to overwrite either. Returns the public key path.
pub fn generate_key_pair(path: &Path) -> Result<(PathBuf, VerifyingKey), KeyError> {
    let public_path = public_key_path(path);
    for existing in [path, public_path.as_path()] {
        if existing.exists() {
            return Err(KeyError::Exists(existing.to_path_buf()));
        }
    }
    let mut secret = [0u8; 32];
    rand::rngs::SysRng.try_fill_bytes(&mut secret).map_err(|e| KeyError::Random(e.to_string()))?;
    let key = SigningKey::from_bytes(&secret);
    let private_pem =
        key.to_pkcs8_pem(LineEnding::LF).map_err(|e| KeyError::Encode(e.to_string()))?;
    let public_pem = key
        .verifying_key()
        .to_public_key_pem(LineEnding::LF)
        .map_err(|e| KeyError::Encode(e.to_string()))?;
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        fs_err::create_dir_all(parent)?;
    }
    let mut options = fs_err::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use fs_err::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path)?;
    file.write_all(private_pem.as_bytes())?;
    file.sync_all()?;
    fs_err::write(&public_path, public_pem.as_bytes())?;
    Ok((public_path, key.verifying_key()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::blocks::PublicKey;

    #[test]
    fn generated_keys_load_back_and_match() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("keys/alice.key");
        let (public_path, public) = generate_key_pair(&path).unwrap();
        let loaded = PrivateKey::load(&path).unwrap();
        assert_eq!(loaded.public_key(), public);
        let pem = fs_err::read_to_string(&public_path).unwrap();
        assert_eq!(PublicKey::from_pem(&pem).unwrap().key, public);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        assert!(matches!(generate_key_pair(&path), Err(KeyError::Exists(_))));
        assert!(!format!("{loaded:?}").contains("PRIVATE"));
    }

    #[test]
    fn public_key_paths_follow_the_private_key() {
        assert_eq!(public_key_path(Path::new("k/alice.key")), Path::new("k/alice.pub"));
        assert_eq!(public_key_path(Path::new("k/alice")), Path::new("k/alice.pub"));
        assert_eq!(public_key_path(Path::new("k/a.pem")), Path::new("k/a.pem.pub"));
    }

    #[test]
    fn a_public_key_is_not_a_private_key() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("k");
        let (public_path, _) = generate_key_pair(&path).unwrap();
        let error = PrivateKey::load(&public_path).unwrap_err().to_string();
        assert!(error.contains("not an Ed25519 private key"), "{error}");
        assert!(error.contains("breakglass keygen"), "{error}");
    }
}
