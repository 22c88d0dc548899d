//! The record codec: plain records and filters to wire form and back.

use incountry_crypto::{BlindIndex, Crypto, decrypt_record, encrypt_record};
use serde_json::{Map, Value};

use crate::error::ModelError;
use crate::filter::FindFilter;
use crate::keys::SearchKey;
use crate::record::Record;
use crate::wire::{BatchDeleteRequest, FindOptions, FindRequest, WireRecord};

/// The most characters a plain (unhashed) search key may have.
pub const MAX_PLAIN_KEY_CHARS: usize = 256;

/// The most records in one batch write.
pub const MAX_BATCH_RECORDS: usize = 100;

/// Encodes records and filters for the wire and decodes records from it, exactly as the
/// official SDKs do.
///
/// Configured by the environment id (the salt of the blind index), `normalize_keys`
/// (lower-case key values first), `hash_search_keys` (hash `key1..key20`, the default) and a
/// [`Crypto`] holding the secrets. Encoding a record costs one encryption of the body envelope
/// and one of `precommit_body`; decoding the same. With a password secret, each needs a PBKDF2
/// derived key, which the [`Crypto`]'s salt reuse and derived-key cache usually supply without
/// running PBKDF2 again.
///
/// ```
/// use incountry_crypto::Crypto;
/// use incountry_model::{FindFilter, Record, RecordCodec, SearchKey};
///
/// let codec = RecordCodec::new("my-environment", Crypto::plaintext());
/// let record = Record::new("user_1").with_body("hello").with_key(SearchKey::Key1, "english");
/// let wire = codec.encode(&record)?;
/// assert_eq!(wire.record_key.as_deref(), Some(codec.hash_record_key("user_1").as_str()));
/// assert_eq!(codec.decode(&wire)?, record.with_version(0).with_is_encrypted(false));
///
/// let find = codec.encode_find(&FindFilter::new().eq(SearchKey::Key1, "english"))?;
/// assert_eq!(find.filter["key1"], wire.key1.unwrap());
/// # Ok::<(), incountry_model::ModelError>(())
/// ```
#[derive(Debug, Clone)]
pub struct RecordCodec {
    crypto: Crypto,
    index: BlindIndex,
}

impl RecordCodec {
    /// A codec for `environment_id` with `crypto`; keys not normalised, search keys hashed.
    pub fn new(environment_id: impl Into<String>, crypto: Crypto) -> Self {
        Self {
            crypto,
            index: BlindIndex::new(environment_id),
        }
    }

    /// Lower-case key values before hashing (and plain search keys before sending).
    #[must_use]
    pub fn normalize_keys(mut self, on: bool) -> Self {
        self.index = self.index.normalize_keys(on);
        self
    }

    /// Hash `key1..key20` (the default); off sends them as plain text (at most 256 characters),
    /// which `search_keys` and `$like` need.
    #[must_use]
    pub fn hash_search_keys(mut self, on: bool) -> Self {
        self.index = self.index.hash_search_keys(on);
        self
    }

    /// The encryption engine.
    pub fn crypto(&self) -> &Crypto {
        &self.crypto
    }

    /// The blind index (environment id, normalisation, search-key hashing).
    pub fn blind_index(&self) -> &BlindIndex {
        &self.index
    }

    /// The hash of a record key, as read and delete put it in the URL.
    pub fn hash_record_key(&self, record_key: &str) -> String {
        self.index.index("record_key", record_key)
    }

    /// Validates `record` and encodes it for a write: keys hashed (or plain), body wrapped in
    /// the envelope and encrypted, `precommit_body` encrypted, `expires_at` in UTC,
    /// `version` and `is_encrypted` set. Server-set members are not sent.
    pub fn encode(&self, record: &Record) -> Result<WireRecord, ModelError> {
        record.validate()?;
        if !self.index.hashes_search_keys() {
            for key in SearchKey::ALL {
                if let Some(value) = record.key(key) {
                    check_plain_key(key.field_name(), value)?;
                }
            }
        }
        let plain = record.user_members();
        let wire =
            encrypt_record(&self.crypto, &self.index, &plain).map_err(ModelError::Encrypt)?;
        WireRecord::from_json_map(wire)
    }

    /// Encodes a batch delete (5.0) of the records with these keys: `{"filter": {"record_key":
    /// [hashes]}}`. The list and each key must be non-empty.
    pub fn encode_batch_delete<K: AsRef<str>>(
        &self,
        record_keys: &[K],
    ) -> Result<BatchDeleteRequest, ModelError> {
        if record_keys.is_empty() {
            return Err(ModelError::validation("record_keys", "must not be empty"));
        }
        let hashes = record_keys
            .iter()
            .enumerate()
            .map(|(i, key)| match key.as_ref() {
                "" => Err(ModelError::validation(
                    format!("record_keys[{i}]"),
                    "must be a non-empty string",
                )),
                key => Ok(self.hash_record_key(key)),
            })
            .collect::<Result<_, _>>()?;
        Ok(BatchDeleteRequest::by_record_keys(hashes))
    }

    /// Decodes a record a server returned: body and `precommit_body` decrypted with the secret
    /// of the record's `version`, key values restored from the envelope.
    ///
    /// A body that is not an envelope becomes the body as is (keys stay hashed); a legacy
    /// `meta.key` restores `record_key`. Members of SDK 1.x records that no current record has
    /// (top-level `key`, `range_key`) are ignored, as the official Python SDK 4.1 does.
    pub fn decode(&self, wire: &WireRecord) -> Result<Record, ModelError> {
        let plain =
            decrypt_record(&self.crypto, &wire.to_json_map()).map_err(ModelError::Decrypt)?;
        let record = Record::from_json_map(&plain).map_err(|e| match e {
            ModelError::Validation { field, rule } => ModelError::InvalidResponse { field, rule },
            other => other,
        })?;
        if record.record_key().is_empty() {
            return Err(ModelError::invalid_response(
                "record_key",
                "must be a non-empty string",
            ));
        }
        Ok(record)
    }

    /// Validates `filter` and encodes its filter member as the official SDK sends it: string
    /// values hashed or plain per the blind index (each list element, inside `$not` and
    /// `$or`), `$like` and `search_keys` as is, dates in UTC `+00:00`.
    pub fn encode_filter(&self, filter: &FindFilter) -> Result<Map<String, Value>, ModelError> {
        filter.validate()?;
        for (field, text, is_like) in filter.search_key_texts() {
            if is_like && self.index.hashes_search_keys() {
                return Err(ModelError::validation(
                    field,
                    "$like needs plain search keys (hash_search_keys off)",
                ));
            }
            if !self.index.hashes_search_keys() {
                check_plain_key(field, text)?;
            }
        }
        if filter.search_text().is_some() && self.index.hashes_search_keys() {
            return Err(ModelError::validation(
                "search_keys",
                "needs plain search keys (hash_search_keys off)",
            ));
        }
        Ok(filter.encode_members(&|field, text| self.index.index(field, text)))
    }

    /// The find `options` of `filter`: `limit` and `offset` always, `sort` when non-empty.
    pub fn find_options(&self, filter: &FindFilter) -> FindOptions {
        FindOptions::new(
            filter.page_limit(),
            filter.page_offset(),
            filter.sort_items().to_vec(),
        )
    }

    /// Validates and encodes a whole find request body.
    pub fn encode_find(&self, filter: &FindFilter) -> Result<FindRequest, ModelError> {
        Ok(FindRequest::new(
            self.encode_filter(filter)?,
            self.find_options(filter),
        ))
    }
}

fn check_plain_key(field: &str, value: &str) -> Result<(), ModelError> {
    let chars = value.chars().count();
    if chars > MAX_PLAIN_KEY_CHARS {
        return Err(ModelError::validation(
            field,
            format!(
                "must be at most {MAX_PLAIN_KEY_CHARS} characters long when hash_search_keys is off (got {chars})"
            ),
        ));
    }
    Ok(())
}
