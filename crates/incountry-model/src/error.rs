//! The error type of this crate.
//!
//! Messages name the field and the rule that was broken; they never contain key values, bodies
//! or secrets, so they are safe to log.

use incountry_crypto::CryptoError;

/// Any failure of validation, encoding or decoding in this crate.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ModelError {
    /// Input given by the caller breaks a rule (an input-validation error of the official SDKs).
    #[error("invalid {field}: {rule}")]
    Validation {
        /// The member at fault, e.g. `record_key`, `key3`, `sort[1]`, `$or[0].key1`.
        field: String,
        /// The rule it breaks, e.g. `must be a non-empty string`.
        rule: String,
    },

    /// Data received from a server (or read from storage) is not of the expected shape
    /// (a response-validation error of the official SDKs).
    #[error("invalid response: {field}: {rule}")]
    InvalidResponse {
        /// The member at fault.
        field: String,
        /// What is wrong with it.
        rule: String,
    },

    /// Encrypting a record failed.
    #[error("cannot encrypt the record")]
    Encrypt(#[source] CryptoError),

    /// Decrypting a record failed (wrong secret, corrupted or unsupported data).
    #[error("cannot decrypt the record")]
    Decrypt(#[source] CryptoError),
}

impl ModelError {
    /// A [`ModelError::Validation`] for `field` breaking `rule`.
    pub fn validation(field: impl Into<String>, rule: impl Into<String>) -> Self {
        Self::Validation {
            field: field.into(),
            rule: rule.into(),
        }
    }

    /// A [`ModelError::InvalidResponse`] for `field`.
    pub fn invalid_response(field: impl Into<String>, rule: impl Into<String>) -> Self {
        Self::InvalidResponse {
            field: field.into(),
            rule: rule.into(),
        }
    }

    /// The member the error is about, for validation and response errors.
    pub fn field(&self) -> Option<&str> {
        match self {
            Self::Validation { field, .. } | Self::InvalidResponse { field, .. } => Some(field),
            Self::Encrypt(_) | Self::Decrypt(_) => None,
        }
    }

    /// Whether this is an input-validation error (a client error).
    pub fn is_validation(&self) -> bool {
        matches!(self, Self::Validation { .. })
    }

    /// Prefixes the field of a validation or response error, e.g. `key1` -> `$or[0].key1`.
    pub(crate) fn within(self, prefix: &str) -> Self {
        match self {
            Self::Validation { field, rule } => Self::Validation {
                field: format!("{prefix}{field}"),
                rule,
            },
            Self::InvalidResponse { field, rule } => Self::InvalidResponse {
                field: format!("{prefix}{field}"),
                rule,
            },
            other => other,
        }
    }
}
