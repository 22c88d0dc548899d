//! The encryption engine: the official SDKs' ciphertext formats over a set of secrets.

use std::fmt;
use std::sync::Arc;

use aes_gcm::aead::{Aead, KeyInit};
use aes_gcm::{Aes256Gcm, Nonce};
use rand_core::{OsRng, RngCore};
use zeroize::Zeroizing;

use crate::ciphertext::{self, Format, IV_LENGTH};
use crate::custom::CustomCipher;
use crate::error::{CryptoError, SecretsError};
use crate::kdf::{KEY_LENGTH, SALT_LENGTH, derive_key};
use crate::secrets::{DEFAULT_VERSION, Secret, SecretKind, SecretsData};

/// The text every custom cipher must round-trip when a [`Crypto`] is built.
const CUSTOM_CIPHER_PROBE: &str = "incountry";

/// The result of [`Crypto::encrypt`]: what a record stores as `body`, `version` and `is_encrypted`.
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Encrypted {
    /// The ciphertext string, e.g. `2:...`.
    pub ciphertext: String,
    /// The version of the secret used (0 when not encrypted).
    pub key_version: u32,
    /// `false` only for the `pt:` format of no-encryption mode.
    pub is_encrypted: bool,
}

impl fmt::Debug for Encrypted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // A `pt:` ciphertext is the plaintext in base64, so it is not shown.
        f.debug_struct("Encrypted")
            .field("ciphertext", &"[redacted]")
            .field("key_version", &self.key_version)
            .field("is_encrypted", &self.is_encrypted)
            .finish()
    }
}

#[derive(Clone)]
struct RegisteredCipher {
    tag: String,
    cipher: Arc<dyn CustomCipher>,
}

/// Encrypts and decrypts strings in the official SDKs' formats.
///
/// Built with secrets ([`Crypto::new`], [`Crypto::builder`]) it encrypts with the current secret
/// (format `2`, or the current custom cipher) and decrypts `2`, `1`, `pt` and registered custom
/// formats with the secret of the record's version. Built with [`Crypto::plaintext`] it writes
/// `pt:` (base64, not encrypted) and reads only `pt:`.
///
/// Each password-based encryption or decryption costs one PBKDF2 derivation (milliseconds);
/// raw keys cost no derivation.
///
/// ```
/// use incountry_crypto::{Crypto, SecretsData};
///
/// let crypto = Crypto::new(SecretsData::from_password("correct horse battery staple")?)?;
/// let sealed = crypto.encrypt("Grüße")?;
/// assert!(sealed.ciphertext.starts_with("2:"));
/// assert_eq!(crypto.decrypt(&sealed.ciphertext, Some(sealed.key_version))?, "Grüße");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone)]
pub struct Crypto {
    secrets: Option<SecretsData>,
    custom: Vec<RegisteredCipher>,
    current_custom: Option<usize>,
}

impl fmt::Debug for Crypto {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let custom: Vec<&str> = self.custom.iter().map(|c| c.cipher.version()).collect();
        f.debug_struct("Crypto")
            .field("secrets", &self.secrets)
            .field("custom_ciphers", &custom)
            .field(
                "current_custom_cipher",
                &self.current_custom.map(|i| custom[i]),
            )
            .finish()
    }
}

impl Crypto {
    /// Encryption with `secrets` and the built-in format only.
    ///
    /// Fails when a secret is marked for custom encryption, since no custom cipher is configured.
    pub fn new(secrets: SecretsData) -> Result<Self, CryptoError> {
        Self::builder(secrets).build()
    }

    /// Starts a configuration with custom ciphers.
    pub fn builder(secrets: SecretsData) -> CryptoBuilder {
        CryptoBuilder {
            secrets,
            ciphers: Vec::new(),
        }
    }

    /// No-encryption mode: writes `pt:` (base64, version 0, not encrypted), reads only `pt:`.
    pub fn plaintext() -> Self {
        Self {
            secrets: None,
            custom: Vec::new(),
            current_custom: None,
        }
    }

    /// The secrets, or `None` in no-encryption mode.
    pub fn secrets(&self) -> Option<&SecretsData> {
        self.secrets.as_ref()
    }

    /// The version new data is encrypted with (0 in no-encryption mode).
    pub fn current_version(&self) -> u32 {
        self.secrets
            .as_ref()
            .map_or(DEFAULT_VERSION, SecretsData::current_version)
    }

    /// Encrypts `plaintext` with the current secret (and the current custom cipher, if any).
    ///
    /// Fresh random salt and IV for every call; a password secret costs one PBKDF2 run.
    pub fn encrypt(&self, plaintext: &str) -> Result<Encrypted, CryptoError> {
        let Some(secrets) = &self.secrets else {
            return Ok(Encrypted {
                ciphertext: format!(
                    "{}:{}",
                    ciphertext::TAG_PLAIN,
                    ciphertext::encode_base64(plaintext.as_bytes())
                ),
                key_version: DEFAULT_VERSION,
                is_encrypted: false,
            });
        };
        let secret = secrets.current();
        let ciphertext = match self.current_custom {
            Some(index) => encrypt_custom(&self.custom[index], secret, plaintext)?,
            None => encrypt_v2(secret, plaintext)?,
        };
        Ok(Encrypted {
            ciphertext,
            key_version: secret.version(),
            is_encrypted: true,
        })
    }

    /// Decrypts a ciphertext of any supported format.
    ///
    /// `key_version` is the record's `version`: the secret to use. `None` means the current
    /// version. `pt:` data needs no secret.
    pub fn decrypt(
        &self,
        ciphertext: &str,
        key_version: Option<u32>,
    ) -> Result<String, CryptoError> {
        let (tag, payload) = ciphertext::split(ciphertext)?;
        match ciphertext::parse_tag(tag)? {
            Format::Plain => utf8(ciphertext::decode_base64(payload)?),
            Format::V2 => decrypt_sealed(
                self.secret_for(tag, key_version)?,
                &ciphertext::decode_base64(payload)?,
            ),
            Format::V1 => decrypt_sealed(
                self.secret_for(tag, key_version)?,
                &ciphertext::decode_hex(payload)?,
            ),
            Format::Custom(version) => {
                let secret = self.secret_for(tag, key_version)?;
                let cipher = self
                    .custom
                    .iter()
                    .find(|c| c.tag == tag)
                    .ok_or(CryptoError::UnknownCustomCipher { version })?;
                decrypt_custom(cipher, secret, payload)
            }
        }
    }

    /// The secret of `key_version` (default: current) for keyed data tagged `tag`.
    fn secret_for(&self, tag: &str, key_version: Option<u32>) -> Result<&Secret, CryptoError> {
        let secrets = self
            .secrets
            .as_ref()
            .ok_or_else(|| CryptoError::NoSecrets {
                format: tag.chars().take(32).collect(),
            })?;
        Ok(secrets.get(key_version.unwrap_or_else(|| secrets.current_version()))?)
    }
}

/// Configures a [`Crypto`] with custom ciphers. Created by [`Crypto::builder`].
#[must_use]
pub struct CryptoBuilder {
    secrets: SecretsData,
    ciphers: Vec<(Arc<dyn CustomCipher>, bool)>,
}

impl fmt::Debug for CryptoBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CryptoBuilder")
            .field("secrets", &self.secrets)
            .field("custom_ciphers", &self.ciphers.len())
            .finish()
    }
}

impl CryptoBuilder {
    /// Registers a custom cipher for decryption of the data it wrote.
    pub fn custom_cipher(mut self, cipher: impl CustomCipher + 'static) -> Self {
        self.ciphers.push((Arc::new(cipher), false));
        self
    }

    /// Registers a custom cipher and makes it encrypt all new data.
    pub fn current_custom_cipher(mut self, cipher: impl CustomCipher + 'static) -> Self {
        self.ciphers.push((Arc::new(cipher), true));
        self
    }

    /// Like [`custom_cipher`](Self::custom_cipher) for a shared cipher; `current` makes it encrypt new data.
    pub fn shared_custom_cipher(mut self, cipher: Arc<dyn CustomCipher>, current: bool) -> Self {
        self.ciphers.push((cipher, current));
        self
    }

    /// Validates the configuration and builds the [`Crypto`].
    ///
    /// Checks: custom keys are present exactly when custom ciphers are; version names are
    /// non-empty and unique; at most one cipher is current; each cipher encrypts and decrypts
    /// the text `incountry` back with at least one of the custom keys (so it runs each cipher
    /// once per custom key).
    pub fn build(self) -> Result<Crypto, CryptoError> {
        let Self { secrets, ciphers } = self;
        if ciphers.is_empty() {
            if secrets.has_custom_keys() {
                return Err(SecretsError::UnexpectedCustomKeys.into());
            }
            return Ok(Crypto {
                secrets: Some(secrets),
                custom: Vec::new(),
                current_custom: None,
            });
        }
        if !secrets.has_custom_keys() {
            return Err(SecretsError::MissingCustomKeys.into());
        }
        let mut custom = Vec::with_capacity(ciphers.len());
        let mut current_custom = None;
        for (index, (cipher, current)) in ciphers.into_iter().enumerate() {
            let version = cipher.version();
            if version.is_empty() {
                return Err(CryptoError::Config(
                    "a custom cipher has an empty version name".into(),
                ));
            }
            if custom
                .iter()
                .any(|c: &RegisteredCipher| c.cipher.version() == version)
            {
                return Err(CryptoError::Config(format!(
                    "two custom ciphers share the version name {version:?}; names must be unique"
                )));
            }
            if current {
                if current_custom.is_some() {
                    return Err(CryptoError::Config(
                        "more than one custom cipher is marked current; at most one may be".into(),
                    ));
                }
                current_custom = Some(index);
            }
            let registered = RegisteredCipher {
                tag: ciphertext::custom_tag(version),
                cipher,
            };
            probe(&registered, &secrets)?;
            custom.push(registered);
        }
        Ok(Crypto {
            secrets: Some(secrets),
            custom,
            current_custom,
        })
    }
}

/// Checks that `cipher` round-trips the probe text with at least one custom key.
fn probe(cipher: &RegisteredCipher, secrets: &SecretsData) -> Result<(), CryptoError> {
    let version = cipher.cipher.version();
    let mut last_error = None;
    for secret in secrets
        .secrets()
        .iter()
        .filter(|s| s.kind() == SecretKind::CustomKey)
    {
        let key = secret.expose_bytes();
        let outcome = cipher
            .cipher
            .encrypt(CUSTOM_CIPHER_PROBE, key, secret.version())
            .map_err(|source| custom_error(version, "encrypt", source))
            .and_then(|sealed| {
                cipher
                    .cipher
                    .decrypt(&sealed, key, secret.version())
                    .map_err(|source| custom_error(version, "decrypt", source))
            });
        match outcome {
            Ok(text) if text == CUSTOM_CIPHER_PROBE => return Ok(()),
            Ok(_) => {
                last_error = Some(CryptoError::Config(format!(
                    "custom cipher {version:?} does not decrypt its own output back to the original text"
                )));
            }
            Err(error) => last_error = Some(error),
        }
    }
    Err(last_error.unwrap_or_else(|| SecretsError::MissingCustomKeys.into()))
}

fn custom_error(
    version: &str,
    operation: &'static str,
    source: crate::error::CustomCipherError,
) -> CryptoError {
    CryptoError::CustomCipher {
        version: version.to_owned(),
        operation,
        source,
    }
}

/// The AES key for `secret` and `salt`: the raw key, or PBKDF2 of the password.
fn aes_key(secret: &Secret, salt: &[u8]) -> Zeroizing<[u8; KEY_LENGTH]> {
    match secret.kind() {
        SecretKind::Key => {
            let mut key = Zeroizing::new([0u8; KEY_LENGTH]);
            key.copy_from_slice(secret.expose_bytes());
            key
        }
        // Custom keys used with the default format are derived like passwords, as the
        // official SDKs do.
        _ => derive_key(secret.expose_bytes(), salt),
    }
}

fn encrypt_v2(secret: &Secret, plaintext: &str) -> Result<String, CryptoError> {
    let mut blob = vec![0u8; SALT_LENGTH + IV_LENGTH];
    OsRng.fill_bytes(&mut blob);
    let key = aes_key(secret, &blob[..SALT_LENGTH]);
    let cipher = Aes256Gcm::new(key.as_ref().into());
    let nonce = Nonce::from_slice(&blob[SALT_LENGTH..]);
    let sealed = cipher
        .encrypt(nonce, plaintext.as_bytes())
        .map_err(|_| CryptoError::Config("AES-GCM refused the plaintext length".into()))?;
    blob.extend_from_slice(&sealed);
    Ok(format!(
        "{}:{}",
        ciphertext::TAG_V2,
        ciphertext::encode_base64(&blob)
    ))
}

fn decrypt_sealed(secret: &Secret, blob: &[u8]) -> Result<String, CryptoError> {
    let sealed = ciphertext::unpack(blob)?;
    let key = aes_key(secret, sealed.salt);
    let cipher = Aes256Gcm::new(key.as_ref().into());
    let plain = cipher
        .decrypt(Nonce::from_slice(sealed.iv), sealed.ciphertext_and_tag)
        .map_err(|_| CryptoError::Decryption)?;
    utf8(plain)
}

fn encrypt_custom(
    cipher: &RegisteredCipher,
    secret: &Secret,
    plaintext: &str,
) -> Result<String, CryptoError> {
    if secret.kind() != SecretKind::CustomKey {
        return Err(SecretsError::NotForCustomEncryption {
            version: secret.version(),
        }
        .into());
    }
    let output = cipher
        .cipher
        .encrypt(plaintext, secret.expose_bytes(), secret.version())
        .map_err(|source| custom_error(cipher.cipher.version(), "encrypt", source))?;
    Ok(format!(
        "{}:{}",
        cipher.tag,
        ciphertext::encode_base64(output.as_bytes())
    ))
}

fn decrypt_custom(
    cipher: &RegisteredCipher,
    secret: &Secret,
    payload: &str,
) -> Result<String, CryptoError> {
    if secret.kind() != SecretKind::CustomKey {
        return Err(SecretsError::NotForCustomEncryption {
            version: secret.version(),
        }
        .into());
    }
    let input = utf8(ciphertext::decode_base64(payload)?)?;
    cipher
        .cipher
        .decrypt(&input, secret.expose_bytes(), secret.version())
        .map_err(|source| custom_error(cipher.cipher.version(), "decrypt", source))
}

fn utf8(bytes: Vec<u8>) -> Result<String, CryptoError> {
    String::from_utf8(bytes).map_err(|_| CryptoError::NotUtf8)
}
