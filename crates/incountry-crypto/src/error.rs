//! Errors of the crypto crate.
//!
//! Messages name what is wrong and what to fix; none of them ever contains secret material,
//! derived keys or plaintext. A failed decryption says only "wrong key or corrupted data".

use std::error::Error as StdError;

/// A boxed error returned by a [`CustomCipher`](crate::CustomCipher) implementation.
pub type CustomCipherError = Box<dyn StdError + Send + Sync + 'static>;

/// Any failure of encryption, decryption or configuration in this crate.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CryptoError {
    /// Authentication of the ciphertext failed: the key is wrong or the data was altered.
    ///
    /// Deliberately says nothing more, so that it cannot serve as an oracle.
    #[error("decryption failed: wrong key or corrupted data")]
    Decryption,

    /// The ciphertext string is not in a format this crate understands.
    #[error("invalid ciphertext: {0}")]
    Format(#[from] FormatError),

    /// The secrets are invalid, or the requested version does not exist.
    #[error(transparent)]
    Secrets(#[from] SecretsError),

    /// Encrypted data was given to a [`Crypto`](crate::Crypto) built without secrets
    /// (no-encryption mode), which can only read `pt:` data.
    #[error(
        "cannot decrypt data in format {format:?}: encryption is disabled, so no secrets are configured"
    )]
    NoSecrets {
        /// The version tag of the ciphertext, e.g. `2`.
        format: String,
    },

    /// The decrypted bytes (or a `pt:` payload) are not valid UTF-8 text.
    #[error("decrypted data is not valid UTF-8 text")]
    NotUtf8,

    /// The ciphertext names a custom cipher that is not configured.
    #[error(
        "no custom cipher with version {version:?} is configured; register it to read this data"
    )]
    UnknownCustomCipher {
        /// The custom cipher's version name, decoded from the ciphertext tag.
        version: String,
    },

    /// A custom cipher failed, or returned something unusable.
    #[error("custom cipher {version:?} failed to {operation}")]
    CustomCipher {
        /// The custom cipher's version name.
        version: String,
        /// `encrypt` or `decrypt`.
        operation: &'static str,
        /// What the custom cipher reported.
        #[source]
        source: CustomCipherError,
    },

    /// A record given to [`encrypt_record`](crate::encrypt_record) or
    /// [`decrypt_record`](crate::decrypt_record) has a member of the wrong type.
    #[error("invalid record: {0}")]
    InvalidRecord(String),

    /// The configuration of a [`Crypto`](crate::Crypto) is invalid.
    #[error("invalid crypto configuration: {0}")]
    Config(String),
}

/// Why a ciphertext string could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FormatError {
    /// The string does not consist of a version tag and a payload separated by exactly one `:`.
    #[error("expected `<version>:<payload>` with exactly one ':'")]
    Structure,

    /// The version tag is not `2`, `1`, `pt` or a custom `c<base64>` tag.
    #[error("unknown version tag {tag:?} (expected 2, 1, pt or a custom c<base64> tag)")]
    UnknownVersion {
        /// The tag found before the `:` (at most 32 characters of it).
        tag: String,
    },

    /// The payload (or a custom tag) is not valid standard base64.
    #[error("payload is not valid base64")]
    Base64,

    /// The payload of a version-1 ciphertext is not valid hexadecimal.
    #[error("payload is not valid hexadecimal")]
    Hex,

    /// The decoded payload is shorter than salt, IV and tag together.
    #[error("wrong ciphertext size: {len} bytes, at least {min} expected")]
    TooShort {
        /// Length of the decoded payload.
        len: usize,
        /// Minimum length (64-byte salt + 12-byte IV + 16-byte tag).
        min: usize,
    },
}

/// Why secrets were rejected, or why a requested secret is unavailable.
///
/// Messages name the secret by its version and never include the secret itself.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SecretsError {
    /// The secrets JSON could not be parsed or has the wrong shape.
    #[error("invalid secrets data: {0}")]
    Invalid(String),

    /// The `secrets` list is empty.
    #[error("invalid secrets data: `secrets` must contain at least one secret")]
    Empty,

    /// No secret has `version == currentVersion`.
    #[error("invalid secrets data: none of the secret versions matches currentVersion {current}")]
    CurrentVersionMissing {
        /// The `currentVersion` given.
        current: u32,
    },

    /// Two secrets share a version, so which one decrypts a record would be ambiguous.
    #[error("invalid secrets data: version {version} appears more than once")]
    DuplicateVersion {
        /// The repeated version.
        version: u32,
    },

    /// A secret is empty.
    #[error("invalid secrets data: the secret of version {version} is empty")]
    EmptySecret {
        /// The secret's version.
        version: u32,
    },

    /// A secret marked `isKey` is not base64 of exactly 32 bytes.
    #[error(
        "invalid secrets data: the key of version {version} must be base64 of exactly 32 bytes (got {len} bytes); \
         if it is a key for a custom cipher, mark it isForCustomEncryption instead"
    )]
    KeyLength {
        /// The secret's version.
        version: u32,
        /// How many bytes were given.
        len: usize,
    },

    /// A secret marked `isKey` or `isForCustomEncryption` is not valid base64.
    #[error("invalid secrets data: the key of version {version} must be a base64-encoded string")]
    KeyEncoding {
        /// The secret's version.
        version: u32,
    },

    /// A secret is marked both `isKey` and `isForCustomEncryption`.
    #[error(
        "invalid secrets data: the secret of version {version} is marked both isKey and isForCustomEncryption; choose one"
    )]
    KeyAndCustom {
        /// The secret's version.
        version: u32,
    },

    /// Secrets for custom encryption were given, but no custom cipher is configured.
    #[error(
        "invalid secrets data: found secrets marked isForCustomEncryption, but no custom cipher is configured"
    )]
    UnexpectedCustomKeys,

    /// Custom ciphers are configured, but no secret is marked `isForCustomEncryption`.
    #[error(
        "invalid secrets data: custom ciphers are configured, but no secret is marked isForCustomEncryption"
    )]
    MissingCustomKeys,

    /// A custom cipher needs a secret marked `isForCustomEncryption`, and this one is not.
    #[error(
        "the secret of version {version} is not marked isForCustomEncryption, so a custom cipher cannot use it"
    )]
    NotForCustomEncryption {
        /// The secret's version.
        version: u32,
    },

    /// No secret has the requested version.
    #[error("Secret not found for version {version}")]
    NotFound {
        /// The requested version.
        version: u32,
    },
}
