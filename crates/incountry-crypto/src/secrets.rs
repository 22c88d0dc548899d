//! Secrets: versioned passwords and keys, in the shape the official SDKs accept.
//!
//! A [`SecretsData`] holds one or more [`Secret`]s and names the current version, used for all
//! new encryption; records remember the version they were encrypted with, so older secrets stay
//! available for decryption until every record has been migrated.
//!
//! Secret bytes live in zeroizing buffers (wiped on drop) and are redacted from `Debug`.

use std::fmt;

use base64::Engine as _;
use serde_json::{Map, Value};
use zeroize::Zeroizing;

use crate::error::SecretsError;
use crate::kdf::KEY_LENGTH;

/// The version given to a secret that is a single password string (the official SDKs' default).
pub const DEFAULT_VERSION: u32 = 0;

/// What a secret is used as.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum SecretKind {
    /// A password: the AES key is derived from it with PBKDF2 and the ciphertext's salt.
    Password,
    /// A raw AES-256 key of exactly 32 bytes (`isKey: true`), used as is.
    Key,
    /// Key material handed to a custom cipher (`isForCustomEncryption: true`).
    CustomKey,
}

/// One versioned secret.
///
/// `Debug` shows the version and kind only; the bytes are wiped from memory when dropped.
#[derive(Clone)]
pub struct Secret {
    version: u32,
    kind: SecretKind,
    bytes: Zeroizing<Vec<u8>>,
}

impl Secret {
    /// A password secret; its UTF-8 (or raw) bytes are the PBKDF2 password.
    pub fn password(version: u32, password: impl AsRef<[u8]>) -> Self {
        Self {
            version,
            kind: SecretKind::Password,
            bytes: Zeroizing::new(password.as_ref().to_vec()),
        }
    }

    /// A raw AES-256 key (`isKey: true`), used without key derivation.
    pub fn key(version: u32, key: [u8; KEY_LENGTH]) -> Self {
        let key = Zeroizing::new(key);
        Self {
            version,
            kind: SecretKind::Key,
            bytes: Zeroizing::new(key.to_vec()),
        }
    }

    /// Key material for a custom cipher (`isForCustomEncryption: true`), passed to it as is.
    pub fn custom_key(version: u32, key: impl AsRef<[u8]>) -> Self {
        Self {
            version,
            kind: SecretKind::CustomKey,
            bytes: Zeroizing::new(key.as_ref().to_vec()),
        }
    }

    /// The secret's version.
    pub fn version(&self) -> u32 {
        self.version
    }

    /// What the secret is used as.
    pub fn kind(&self) -> SecretKind {
        self.kind
    }

    /// The secret's bytes: the password, the raw key or the custom key material.
    pub fn expose_bytes(&self) -> &[u8] {
        &self.bytes
    }

    fn validate(&self) -> Result<(), SecretsError> {
        if self.bytes.is_empty() {
            return Err(SecretsError::EmptySecret {
                version: self.version,
            });
        }
        if self.kind == SecretKind::Key && self.bytes.len() != KEY_LENGTH {
            return Err(SecretsError::KeyLength {
                version: self.version,
                len: self.bytes.len(),
            });
        }
        Ok(())
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Secret")
            .field("version", &self.version)
            .field("kind", &self.kind)
            .field("bytes", &"[redacted]")
            .finish()
    }
}

/// A validated set of versioned secrets with a current version.
///
/// Build one in Rust with [`SecretsData::new`] or [`SecretsData::from_password`], or parse the
/// official JSON shape with [`SecretsData::from_json`]:
///
/// ```
/// use incountry_crypto::{SecretKind, SecretsData};
///
/// let secrets = SecretsData::from_json(r#"{
///     "currentVersion": 2,
///     "secrets": [
///         {"secret": "an old password", "version": 1},
///         {"secret": "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=", "version": 2, "isKey": true}
///     ]
/// }"#)?;
/// assert_eq!(secrets.current_version(), 2);
/// assert_eq!(secrets.current().kind(), SecretKind::Key);
/// // Debug output never shows secret material.
/// assert!(!format!("{secrets:?}").contains("old password"));
/// # Ok::<(), incountry_crypto::SecretsError>(())
/// ```
#[derive(Clone)]
pub struct SecretsData {
    current_version: u32,
    secrets: Vec<Secret>,
}

impl SecretsData {
    /// Validates and wraps `secrets` with `current_version` as the version for new encryption.
    ///
    /// Fails when the list is empty, a version repeats, no secret has the current version, a
    /// secret is empty, or a raw key is not 32 bytes long.
    pub fn new(current_version: u32, secrets: Vec<Secret>) -> Result<Self, SecretsError> {
        if secrets.is_empty() {
            return Err(SecretsError::Empty);
        }
        for (i, secret) in secrets.iter().enumerate() {
            secret.validate()?;
            if secrets[..i].iter().any(|s| s.version == secret.version) {
                return Err(SecretsError::DuplicateVersion {
                    version: secret.version,
                });
            }
        }
        if !secrets.iter().any(|s| s.version == current_version) {
            return Err(SecretsError::CurrentVersionMissing {
                current: current_version,
            });
        }
        Ok(Self {
            current_version,
            secrets,
        })
    }

    /// A single password secret with version 0, as when an official SDK's accessor returns a string.
    pub fn from_password(password: impl AsRef<[u8]>) -> Result<Self, SecretsError> {
        Self::new(
            DEFAULT_VERSION,
            vec![Secret::password(DEFAULT_VERSION, password)],
        )
    }

    /// Parses the official JSON shape: either a JSON string (one password, version 0) or
    /// `{"currentVersion": N, "secrets": [{"secret", "version", "isKey"?, "isForCustomEncryption"?}]}`.
    ///
    /// Raw keys and custom keys are base64 strings; passwords are used as their UTF-8 bytes.
    pub fn from_json(json: &str) -> Result<Self, SecretsError> {
        // The parse error's message may quote the input, so it is not passed on.
        let value: Value = serde_json::from_str(json).map_err(|e| {
            SecretsError::Invalid(format!(
                "not valid JSON (line {}, column {})",
                e.line(),
                e.column()
            ))
        })?;
        Self::from_json_value(&value)
    }

    /// Like [`SecretsData::from_json`], from an already parsed JSON value.
    pub fn from_json_value(value: &Value) -> Result<Self, SecretsError> {
        match value {
            Value::String(password) => Self::from_password(password.as_bytes()),
            Value::Object(object) => Self::from_json_object(object),
            _ => Err(SecretsError::Invalid(
                "expected a password string or an object with currentVersion and secrets".into(),
            )),
        }
    }

    fn from_json_object(object: &Map<String, Value>) -> Result<Self, SecretsError> {
        let current_version = json_version(object.get("currentVersion"), "currentVersion")?;
        let list = match object.get("secrets") {
            Some(Value::Array(list)) => list,
            Some(_) => return Err(SecretsError::Invalid("`secrets` must be a list".into())),
            None => return Err(SecretsError::Invalid("`secrets` is required".into())),
        };
        let secrets = list
            .iter()
            .enumerate()
            .map(|(index, item)| secret_from_json(index, item))
            .collect::<Result<Vec<_>, _>>()?;
        Self::new(current_version, secrets)
    }

    /// The version used for new encryption.
    pub fn current_version(&self) -> u32 {
        self.current_version
    }

    /// The secret used for new encryption.
    pub fn current(&self) -> &Secret {
        // `new` guarantees the current version exists; fall back to the first secret rather
        // than panic should that invariant ever be broken.
        self.get(self.current_version)
            .unwrap_or_else(|_| &self.secrets[0])
    }

    /// The secret with `version`, or [`SecretsError::NotFound`].
    pub fn get(&self, version: u32) -> Result<&Secret, SecretsError> {
        self.secrets
            .iter()
            .find(|s| s.version == version)
            .ok_or(SecretsError::NotFound { version })
    }

    /// All secrets, in the order given.
    pub fn secrets(&self) -> &[Secret] {
        &self.secrets
    }

    /// Whether any secret is marked for custom encryption.
    pub fn has_custom_keys(&self) -> bool {
        self.secrets.iter().any(|s| s.kind == SecretKind::CustomKey)
    }
}

impl fmt::Debug for SecretsData {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SecretsData")
            .field("current_version", &self.current_version)
            .field("secrets", &self.secrets)
            .finish()
    }
}

fn json_version(value: Option<&Value>, field: &str) -> Result<u32, SecretsError> {
    let value = value.ok_or_else(|| SecretsError::Invalid(format!("`{field}` is required")))?;
    let number = value
        .as_i64()
        .filter(|_| value.is_i64() || value.is_u64())
        .ok_or_else(|| SecretsError::Invalid(format!("`{field}` must be an integer")))?;
    if number < 0 {
        return Err(SecretsError::Invalid(format!(
            "`{field}` must be greater than or equal to 0"
        )));
    }
    u32::try_from(number)
        .map_err(|_| SecretsError::Invalid(format!("`{field}` must be at most {}", u32::MAX)))
}

fn json_flag(object: &Map<String, Value>, field: &str, index: usize) -> Result<bool, SecretsError> {
    match object.get(field) {
        None | Some(Value::Null) => Ok(false),
        Some(Value::Bool(flag)) => Ok(*flag),
        Some(_) => Err(SecretsError::Invalid(format!(
            "secrets[{index}].{field} must be true or false"
        ))),
    }
}

fn secret_from_json(index: usize, item: &Value) -> Result<Secret, SecretsError> {
    let object = item
        .as_object()
        .ok_or_else(|| SecretsError::Invalid(format!("secrets[{index}] must be an object")))?;
    let version = json_version(object.get("version"), &format!("secrets[{index}].version"))?;
    let is_key = json_flag(object, "isKey", index)?;
    let is_custom = json_flag(object, "isForCustomEncryption", index)?;
    if is_key && is_custom {
        return Err(SecretsError::KeyAndCustom { version });
    }
    let text = match object.get("secret") {
        Some(Value::String(text)) => text,
        Some(_) => {
            return Err(SecretsError::Invalid(format!(
                "secrets[{index}].secret must be a string"
            )));
        }
        None => {
            return Err(SecretsError::Invalid(format!(
                "secrets[{index}].secret is required"
            )));
        }
    };
    if !is_key && !is_custom {
        return Ok(Secret::password(version, text.as_bytes()));
    }
    let bytes = Zeroizing::new(
        base64::engine::general_purpose::STANDARD
            .decode(text)
            .map_err(|_| SecretsError::KeyEncoding { version })?,
    );
    if is_custom {
        return Ok(Secret::custom_key(version, &*bytes));
    }
    let key: [u8; KEY_LENGTH] =
        bytes
            .as_slice()
            .try_into()
            .map_err(|_| SecretsError::KeyLength {
                version,
                len: bytes.len(),
            })?;
    Ok(Secret::key(version, key))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_json_string_is_a_version_zero_password() {
        let secrets = SecretsData::from_json(r#""hunter2""#).unwrap();
        assert_eq!(secrets.current_version(), 0);
        assert_eq!(secrets.current().kind(), SecretKind::Password);
        assert_eq!(secrets.current().expose_bytes(), b"hunter2");
    }

    #[test]
    fn debug_redacts_secret_bytes() {
        let secrets = SecretsData::from_password("very-secret-password").unwrap();
        let shown = format!("{secrets:?}");
        assert!(!shown.contains("very-secret-password"), "{shown}");
        assert!(shown.contains("redacted"));
    }

    #[test]
    fn versions_must_be_non_negative_integers() {
        for bad in [
            r#"{"currentVersion": -1, "secrets": [{"secret": "a", "version": -1}]}"#,
            r#"{"currentVersion": "1", "secrets": [{"secret": "a", "version": 1}]}"#,
            r#"{"currentVersion": 1.5, "secrets": [{"secret": "a", "version": 1}]}"#,
            r#"{"currentVersion": 1, "secrets": [{"secret": "a", "version": true}]}"#,
        ] {
            let err = SecretsData::from_json(bad).unwrap_err();
            assert!(matches!(err, SecretsError::Invalid(_)), "{bad}: {err}");
            assert!(err.to_string().contains("ersion"), "{err}");
        }
    }

    #[test]
    fn errors_never_echo_the_secret() {
        let err = SecretsData::from_json(
            r#"{"currentVersion": 1, "secrets": [{"secret": "c2hvcnQtc2VjcmV0", "version": 1, "isKey": true}]}"#,
        )
        .unwrap_err();
        assert_eq!(
            err,
            SecretsError::KeyLength {
                version: 1,
                len: 12
            }
        );
        assert!(!err.to_string().contains("c2hvcnQtc2VjcmV0"));
        let err = SecretsData::from_json(r#"{"currentVersion": 1, "secrets": [{"secret": "p4ss"#)
            .unwrap_err();
        assert!(!err.to_string().contains("p4ss"), "{err}");
    }
}
