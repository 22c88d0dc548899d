//! Client-side encryption of the InCountry data-residency platform, byte-compatible with the
//! official SDKs (Python, Node.js, Java).
//!
//! This crate is synchronous and has no network or async runtime: use it alone to decrypt an
//! export offline, or through `incountry-storage` as the SDK does. It provides
//!
//! - [`SecretsData`] / [`Secret`]: versioned passwords, raw AES keys and custom keys, parsed
//!   from the official JSON shape and validated; zeroized on drop and redacted in `Debug`;
//! - [`Crypto`]: encryption to format `2` (AES-256-GCM with a PBKDF2-HMAC-SHA512 or raw key) and
//!   decryption of `2`, `1`, `pt` and custom formats, with the [`CustomCipher`] seam, a
//!   derived-key cache and [`SaltReuse`] so that PBKDF2 runs once per window, not per record;
//! - [`Envelope`] / [`Body`]: the record body envelope that carries original key values;
//! - [`hash_key`] / [`BlindIndex`]: the salted SHA-256 blind index of key values;
//! - [`encrypt_record`] / [`decrypt_record`]: whole records at the JSON level.
//!
//! ```
//! use incountry_crypto::{Crypto, SecretsData};
//!
//! let secrets = SecretsData::from_json(r#"{
//!     "currentVersion": 2,
//!     "secrets": [
//!         {"secret": "old password", "version": 1},
//!         {"secret": "new password", "version": 2}
//!     ]
//! }"#)?;
//! let crypto = Crypto::new(secrets)?;
//!
//! // New data is encrypted with the current version...
//! let sealed = crypto.encrypt("personal data")?;
//! assert_eq!(sealed.key_version, 2);
//! // ...and decrypted with the version the record was written with.
//! assert_eq!(crypto.decrypt(&sealed.ciphertext, Some(2))?, "personal data");
//! // A wrong key reveals nothing but the failure.
//! let err = crypto.decrypt(&sealed.ciphertext, Some(1)).unwrap_err();
//! assert_eq!(err.to_string(), "decryption failed: wrong key or corrupted data");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! The format itself is described in `docs/crypto-format.md` of the repository.

mod ciphertext;
mod crypto;
mod custom;
mod envelope;
mod error;
mod hash;
mod kdf;
mod key_cache;
mod record;
mod salt_reuse;
mod secrets;

pub use ciphertext::{Format, IV_LENGTH, MIN_PAYLOAD_LENGTH, TAG_LENGTH};
pub use crypto::{Crypto, CryptoBuilder, Encrypted};
pub use custom::CustomCipher;
pub use envelope::{Body, ENVELOPE_KEYS, Envelope};
pub use error::{CryptoError, CustomCipherError, FormatError, SecretsError};
pub use hash::{BlindIndex, hash_key, is_search_key, normalize_key};
pub use kdf::{KEY_LENGTH, PBKDF2_ITERATIONS, SALT_LENGTH, derive_key};
pub use key_cache::{CacheStats, DEFAULT_KEY_CACHE_CAPACITY};
pub use record::{decrypt_record, encrypt_record};
pub use salt_reuse::SaltReuse;
pub use secrets::{DEFAULT_VERSION, Secret, SecretKind, SecretsData};

/// The code blocks of this crate's README, compiled and run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct CrateReadmeDoctests;
