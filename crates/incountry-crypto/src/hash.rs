//! Blind indexes: the salted SHA-256 hashes the server stores instead of key values.

use std::borrow::Cow;

use sha2::{Digest, Sha256};

/// Lower-cases `value` (full Unicode lower-casing) when `normalize` is on, as the official SDKs'
/// `normalize_keys` option does.
pub fn normalize_key(value: &str, normalize: bool) -> Cow<'_, str> {
    if normalize {
        Cow::Owned(value.to_lowercase())
    } else {
        Cow::Borrowed(value)
    }
}

/// The blind index of a key value: lowercase hex of
/// `SHA-256(UTF-8(value) ‖ ":" ‖ UTF-8(environment_id))`, after optional normalisation.
///
/// Costs one SHA-256 of a short string. The hash is unkeyed: anyone who knows the environment
/// id can test guesses of a value against it, so it hides values only as well as they are hard
/// to guess.
///
/// ```
/// use incountry_crypto::hash_key;
/// assert_eq!(
///     hash_key("InCountryKey", "InCountry", false),
///     "976143aa1fd12b9ad7449fd9d3a6d25347d71b890b49d4fb5c738e798238865f"
/// );
/// assert_eq!(hash_key("KEY", "env", true), hash_key("key", "env", false));
/// ```
pub fn hash_key(value: &str, environment_id: &str, normalize: bool) -> String {
    let value = normalize_key(value, normalize);
    let mut hasher = Sha256::new();
    hasher.update(value.as_bytes());
    hasher.update(b":");
    hasher.update(environment_id.as_bytes());
    hex::encode(hasher.finalize())
}

/// How a record's key values become what the server stores: the environment id the hashes are
/// salted with, whether values are lower-cased first, and whether `key1..key20` are hashed.
///
/// `record_key`, `profile_key`, `service_key1..5` and `parent_key` are always hashed;
/// `key1..key20` are hashed unless `hash_search_keys` is off, in which case they are sent as
/// (optionally normalised) plain text so the server can run substring searches over them.
///
/// ```
/// use incountry_crypto::BlindIndex;
/// let index = BlindIndex::new("InCountry").hash_search_keys(false).normalize_keys(true);
/// assert_eq!(index.index("key1", "Apple Pie"), "apple pie");
/// assert_eq!(index.index("profile_key", "InCountryPK"), incountry_crypto::hash_key("incountrypk", "InCountry", false));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlindIndex {
    environment_id: String,
    normalize_keys: bool,
    hash_search_keys: bool,
}

impl BlindIndex {
    /// Hashing salted with `environment_id`; no normalisation; search keys hashed (the defaults).
    pub fn new(environment_id: impl Into<String>) -> Self {
        Self {
            environment_id: environment_id.into(),
            normalize_keys: false,
            hash_search_keys: true,
        }
    }

    /// Lower-case values before hashing (and plain search keys before sending).
    #[must_use]
    pub fn normalize_keys(mut self, on: bool) -> Self {
        self.normalize_keys = on;
        self
    }

    /// Hash `key1..key20` (default); off sends them as plain text.
    #[must_use]
    pub fn hash_search_keys(mut self, on: bool) -> Self {
        self.hash_search_keys = on;
        self
    }

    /// The environment id the hashes are salted with.
    pub fn environment_id(&self) -> &str {
        &self.environment_id
    }

    /// Whether values are lower-cased first.
    pub fn normalizes_keys(&self) -> bool {
        self.normalize_keys
    }

    /// Whether `key1..key20` are hashed.
    pub fn hashes_search_keys(&self) -> bool {
        self.hash_search_keys
    }

    /// Whether `field` is sent hashed (always for service keys; for `key1..key20` unless
    /// `hash_search_keys` is off). Fields that are not string keys are never hashed.
    pub fn is_hashed(&self, field: &str) -> bool {
        if is_search_key(field) {
            self.hash_search_keys
        } else {
            crate::envelope::ENVELOPE_KEYS.contains(&field)
        }
    }

    /// What the server stores for `value` of string key `field`: its hash, or for plain search
    /// keys the (optionally lower-cased) value itself.
    pub fn index(&self, field: &str, value: &str) -> String {
        if self.is_hashed(field) {
            hash_key(value, &self.environment_id, self.normalize_keys)
        } else {
            normalize_key(value, self.normalize_keys).into_owned()
        }
    }
}

/// Whether `field` is one of the search keys `key1..key20`.
pub fn is_search_key(field: &str) -> bool {
    field
        .strip_prefix("key")
        .and_then(|n| n.parse::<u8>().ok())
        .is_some_and(|n| (1..=20).contains(&n) && !field[3..].starts_with('0'))
}
