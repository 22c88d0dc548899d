//! Whole records at the JSON level: encryption for the wire and decryption of what a server
//! returns or a database export holds.
//!
//! A record is a JSON object with the members of the InCountry API (`record_key`, `body`,
//! `key1`, `range_key1`, ...). Encryption hashes the string keys, wraps the body in the
//! [`Envelope`] with the original key values, and encrypts body and `precommit_body`;
//! decryption reverses it. Members this module does not know pass through unchanged, so it can
//! read records from any SDK version.

use serde_json::{Map, Value};

use crate::crypto::Crypto;
use crate::envelope::{Body, ENVELOPE_KEYS, Envelope};
use crate::error::CryptoError;
use crate::hash::BlindIndex;

/// Encrypts a plain record for the wire, as the official SDKs' `write` does.
///
/// String keys are replaced by their blind index, the body (even when absent) is wrapped in an
/// envelope holding the original key values and encrypted, `precommit_body` is encrypted on its
/// own, and `version` and `is_encrypted` are set. Null members are dropped; other members pass
/// through. Costs one encryption for the body and one for `precommit_body` (microseconds, plus a
/// PBKDF2 run when a password secret's salt-reuse window opens; see [`Crypto`]).
///
/// ```
/// use incountry_crypto::{decrypt_record, encrypt_record, BlindIndex, Crypto};
/// use serde_json::json;
///
/// let crypto = Crypto::plaintext();
/// let record = json!({"record_key": "user-1", "body": "hello", "range_key1": 7});
/// let wire = encrypt_record(&crypto, &BlindIndex::new("env"), record.as_object().unwrap())?;
/// assert_eq!(wire["record_key"], incountry_crypto::hash_key("user-1", "env", false));
/// assert_eq!(wire["version"], 0);
/// let plain = decrypt_record(&crypto, &wire)?;
/// assert_eq!(plain["record_key"], "user-1");
/// assert_eq!(plain["body"], "hello");
/// # Ok::<(), incountry_crypto::CryptoError>(())
/// ```
pub fn encrypt_record(
    crypto: &Crypto,
    index: &BlindIndex,
    record: &Map<String, Value>,
) -> Result<Map<String, Value>, CryptoError> {
    let payload = match record.get("body") {
        None | Some(Value::Null) => None,
        Some(Value::String(body)) => Some(body.clone()),
        Some(_) => return Err(not_a_string("body")),
    };
    let mut envelope = Envelope::new(payload);
    for field in ENVELOPE_KEYS {
        match record.get(field) {
            Some(Value::String(value)) => envelope.push_meta(field, value.as_str()),
            None | Some(Value::Null) => {}
            Some(_) => return Err(not_a_string(field)),
        }
    }
    let mut wire = Map::with_capacity(record.len() + 2);
    for (field, value) in record {
        match (field.as_str(), value) {
            // The body travels inside the envelope, written below.
            (_, Value::Null) | ("body", _) => {}
            ("precommit_body", Value::String(text)) => {
                let sealed = crypto.encrypt(text)?;
                wire.insert(field.clone(), Value::String(sealed.ciphertext));
            }
            ("precommit_body", _) => return Err(not_a_string("precommit_body")),
            (_, Value::String(text)) if ENVELOPE_KEYS.contains(&field.as_str()) => {
                wire.insert(field.clone(), Value::String(index.index(field, text)));
            }
            _ => {
                wire.insert(field.clone(), value.clone());
            }
        }
    }
    let sealed = crypto.encrypt(&envelope.to_json())?;
    wire.insert("body".into(), Value::String(sealed.ciphertext));
    wire.insert("version".into(), Value::from(sealed.key_version));
    wire.insert("is_encrypted".into(), Value::Bool(sealed.is_encrypted));
    Ok(wire)
}

fn not_a_string(field: &str) -> CryptoError {
    CryptoError::InvalidRecord(format!("`{field}` must be a string"))
}

/// Decrypts a record as a server returns it (or as a database export holds it).
///
/// Decrypts `body` and `precommit_body` with the secret of the record's `version` (the current
/// one when absent). When the body is an envelope, `body` becomes its payload and every key the
/// record carries (non-empty) is replaced by its original value from `meta`; a legacy
/// `meta.key` restores `record_key`. A body that is not an envelope is returned as is. Records
/// without a body are returned unchanged.
pub fn decrypt_record(
    crypto: &Crypto,
    record: &Map<String, Value>,
) -> Result<Map<String, Value>, CryptoError> {
    let mut plain = record.clone();
    let Some(Value::String(body)) = record.get("body").filter(|b| is_present(b)) else {
        return Ok(plain);
    };
    let version = match record.get("version") {
        None | Some(Value::Null) => None,
        Some(value) => Some(
            value
                .as_u64()
                .and_then(|v| u32::try_from(v).ok())
                .ok_or_else(|| {
                    CryptoError::InvalidRecord("`version` must be a non-negative integer".into())
                })?,
        ),
    };
    let decrypted = crypto.decrypt(body, version)?;
    if let Some(Value::String(precommit)) = record.get("precommit_body") {
        let text = crypto.decrypt(precommit, version)?;
        plain.insert("precommit_body".into(), Value::String(text));
    }
    match Body::decode(&decrypted) {
        Body::Raw(text) => {
            plain.insert("body".into(), Value::String(text));
        }
        Body::Envelope(envelope) => {
            plain.insert(
                "body".into(),
                envelope.payload().map_or(Value::Null, Value::from),
            );
            for field in ENVELOPE_KEYS {
                if record.get(field).is_some_and(is_present) {
                    if let Some(original) = envelope.meta_value(field) {
                        plain.insert(field.into(), Value::from(original));
                    }
                }
            }
            if let Some(key) = envelope.legacy_record_key() {
                plain.insert("record_key".into(), Value::from(key));
            }
        }
    }
    Ok(plain)
}

/// Python's truthiness for the values a record member can hold.
fn is_present(value: &Value) -> bool {
    match value {
        Value::Null => false,
        Value::String(s) => !s.is_empty(),
        _ => true,
    }
}
