//! Records, filters, sort orders, country codes and the wire types of the InCountry API, with
//! their validation, and the codec between plain records and what travels on the wire.
//!
//! - [`Record`]: a plain record with typed members and a builder-style API; numbered fields are
//!   addressed with [`SearchKey`], [`RangeKey`] and [`ServiceKey`].
//! - [`FindFilter`] (with [`OrFilter`], [`Sort`]): every find operator of the official SDKs
//!   4.1 and 5.0, as typed methods; [`FindFilter::from_json`] reads the official JSON shape.
//! - [`Country`]: a validated two-letter country code.
//! - [`RecordCodec`]: record to [`WireRecord`] (hashing, envelope, encryption) and back;
//!   filter to the wire filter JSON and find options. It builds on `incountry-crypto`.
//! - Wire types shared with our server: [`WireRecord`], [`ServerRecord`], [`AttachmentMeta`],
//!   [`BatchWriteRequest`], [`FindRequest`], [`FindResponse`] and friends.
//! - [`parse_json_strict`]: JSON that refuses an object naming a member twice.
//! - [`ModelError`]: validation errors that name the field and the rule, response errors, and
//!   wrapped crypto errors.
//!
//! ```
//! use incountry_crypto::{Crypto, SecretsData};
//! use incountry_model::{FindFilter, RangeKey, Record, RecordCodec, SearchKey, Sort};
//!
//! let crypto = Crypto::new(SecretsData::from_password("a long password")?)?;
//! let codec = RecordCodec::new("my-environment", crypto).normalize_keys(true);
//!
//! let record = Record::new("user_1")
//!     .with_body(r#"{"name": "Jane"}"#)
//!     .with_key(SearchKey::Key1, "English")
//!     .with_range_key(RangeKey::RangeKey1, 10_000);
//! let wire = codec.encode(&record)?;
//! assert_ne!(wire.key1.as_deref(), Some("English")); // hashed
//! let back = codec.decode(&wire)?;
//! assert_eq!(back.key(SearchKey::Key1), Some("English"));
//! assert_eq!(back.body(), record.body());
//!
//! let find = codec.encode_find(
//!     &FindFilter::new()
//!         .eq(SearchKey::Key1, "english")
//!         .gte(RangeKey::RangeKey1, 5_000)
//!         .sort(Sort::desc(RangeKey::RangeKey1))
//!         .limit(10),
//! )?;
//! assert_eq!(find.filter["key1"], serde_json::json!(wire.key1));
//! assert_eq!(serde_json::to_value(&find.options)?["limit"], 10);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod codec;
mod country;
mod date;
mod error;
mod filter;
mod keys;
mod record;
mod sort;
mod strict_json;
mod wire;

pub use codec::{MAX_BATCH_RECORDS, MAX_PLAIN_KEY_CHARS, RecordCodec};
pub use country::Country;
pub use date::{DateParseError, format_date, parse_date};
pub use error::ModelError;
pub use filter::{
    Condition, DateField, Field, FilterField, FilterValue, FindFilter, IntField, Lower,
    MAX_FILTER_VALUES, MAX_LIMIT, MAX_OR_BRANCHES, NotValue, Operators, OrFilter, OrderedField,
    SEARCH_KEYS_MAX_CHARS, SEARCH_KEYS_MIN_CHARS, StringField, Upper,
};
pub use keys::{RangeKey, SearchKey, ServiceKey};
pub use record::Record;
pub use sort::{Sort, SortField, SortOrder};
pub use strict_json::parse_json_strict;
pub use wire::{
    AttachmentMeta, AttachmentMetaUpdate, BatchDeleteRequest, BatchWriteRequest,
    BatchWriteResponse, FindMeta, FindOptions, FindRequest, FindResponse, MAX_FILENAME_BYTES,
    RANGE_KEYS, ServerRecord, TEXT_MEMBERS, WIRE_RECORD_FIELDS, WireRecord, validate_filename,
};
