//! The JSON bodies of the InCountry storage API, shared by the SDK and our server.
//!
//! These are wire shapes: keys are hashes (or plain search keys), bodies are ciphertexts.
//! [`RecordCodec`](crate::RecordCodec) turns plain [`Record`](crate::Record)s and
//! [`FindFilter`](crate::FindFilter)s into them and back.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize, Serializer};
use serde_json::{Map, Value};

use crate::date::serde_date;
use crate::error::ModelError;
use crate::sort::Sort;

/// A record as it travels on the wire: hashed keys, encrypted bodies, plain range keys.
///
/// Serialises the way the SDK sends a record: absent members are omitted. What a server returns
/// (every member present, `null` allowed) is [`ServerRecord`]. Unknown members (such as the
/// legacy top-level `key` and `range_key` of SDK 1.x records) are ignored when reading. Dates
/// are kept as the text that travelled, so a server can echo them with the precision they were
/// written with; [`parse_date`](crate::parse_date) reads them.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct WireRecord {
    /// The record key's blind index (hash).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub record_key: Option<String>,
    /// The encrypted body envelope, e.g. `2:...`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<String>,
    /// The encrypted pre-commit body.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub precommit_body: Option<String>,
    /// The profile key's hash.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub profile_key: Option<String>,
    /// The parent key's hash.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent_key: Option<String>,
    /// The hash of `service_key1`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_key1: Option<String>,
    /// The hash of `service_key2`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_key2: Option<String>,
    /// The hash of `service_key3`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_key3: Option<String>,
    /// The hash of `service_key4`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_key4: Option<String>,
    /// The hash of `service_key5`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_key5: Option<String>,
    /// The hash of `key1`, or its plain value with `hash_search_keys` off.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key1: Option<String>,
    /// The hash of `key2`, or its plain value with `hash_search_keys` off.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key2: Option<String>,
    /// The hash of `key3`, or its plain value with `hash_search_keys` off.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key3: Option<String>,
    /// The hash of `key4`, or its plain value with `hash_search_keys` off.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key4: Option<String>,
    /// The hash of `key5`, or its plain value with `hash_search_keys` off.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key5: Option<String>,
    /// The hash of `key6`, or its plain value with `hash_search_keys` off.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key6: Option<String>,
    /// The hash of `key7`, or its plain value with `hash_search_keys` off.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key7: Option<String>,
    /// The hash of `key8`, or its plain value with `hash_search_keys` off.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key8: Option<String>,
    /// The hash of `key9`, or its plain value with `hash_search_keys` off.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key9: Option<String>,
    /// The hash of `key10`, or its plain value with `hash_search_keys` off.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key10: Option<String>,
    /// The hash of `key11`, or its plain value with `hash_search_keys` off.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key11: Option<String>,
    /// The hash of `key12`, or its plain value with `hash_search_keys` off.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key12: Option<String>,
    /// The hash of `key13`, or its plain value with `hash_search_keys` off.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key13: Option<String>,
    /// The hash of `key14`, or its plain value with `hash_search_keys` off.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key14: Option<String>,
    /// The hash of `key15`, or its plain value with `hash_search_keys` off.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key15: Option<String>,
    /// The hash of `key16`, or its plain value with `hash_search_keys` off.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key16: Option<String>,
    /// The hash of `key17`, or its plain value with `hash_search_keys` off.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key17: Option<String>,
    /// The hash of `key18`, or its plain value with `hash_search_keys` off.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key18: Option<String>,
    /// The hash of `key19`, or its plain value with `hash_search_keys` off.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key19: Option<String>,
    /// The hash of `key20`, or its plain value with `hash_search_keys` off.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key20: Option<String>,
    /// `range_key1`, as is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub range_key1: Option<i64>,
    /// `range_key2`, as is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub range_key2: Option<i64>,
    /// `range_key3`, as is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub range_key3: Option<i64>,
    /// `range_key4`, as is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub range_key4: Option<i64>,
    /// `range_key5`, as is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub range_key5: Option<i64>,
    /// `range_key6`, as is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub range_key6: Option<i64>,
    /// `range_key7`, as is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub range_key7: Option<i64>,
    /// `range_key8`, as is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub range_key8: Option<i64>,
    /// `range_key9`, as is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub range_key9: Option<i64>,
    /// `range_key10`, as is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub range_key10: Option<i64>,
    /// The expiry instant, ISO 8601 text as sent (the SDK writes UTC `+00:00`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<String>,
    /// The secret version the body was encrypted with.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<u32>,
    /// `false` for `pt:` bodies of no-encryption mode.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub is_encrypted: Option<bool>,
    /// Creation time set by the server, ISO 8601 text with an offset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_at: Option<String>,
    /// Last update time set by the server, ISO 8601 text with an offset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub updated_at: Option<String>,
    /// The record's attachments (returned by servers).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attachments: Option<Vec<AttachmentMeta>>,
}

/// How many text members a [`WireRecord`] has from `body` to `key20`
/// ([`WireRecord::text_members`]).
pub const TEXT_MEMBERS: usize = 29;

/// How many range keys a [`WireRecord`] has ([`WireRecord::range_keys`]).
pub const RANGE_KEYS: usize = 10;

/// Every member of a [`WireRecord`], in the order a [`ServerRecord`] writes them.
pub const WIRE_RECORD_FIELDS: [&str; 46] = [
    "record_key",
    "body",
    "precommit_body",
    "profile_key",
    "parent_key",
    "service_key1",
    "service_key2",
    "service_key3",
    "service_key4",
    "service_key5",
    "key1",
    "key2",
    "key3",
    "key4",
    "key5",
    "key6",
    "key7",
    "key8",
    "key9",
    "key10",
    "key11",
    "key12",
    "key13",
    "key14",
    "key15",
    "key16",
    "key17",
    "key18",
    "key19",
    "key20",
    "range_key1",
    "range_key2",
    "range_key3",
    "range_key4",
    "range_key5",
    "range_key6",
    "range_key7",
    "range_key8",
    "range_key9",
    "range_key10",
    "expires_at",
    "version",
    "is_encrypted",
    "created_at",
    "updated_at",
    "attachments",
];

impl WireRecord {
    /// Checks what a server needs of a record it is asked to store: a non-empty `record_key`,
    /// a non-empty `body`, and an `expires_at` (when given) that [`parse_date`](crate::parse_date)
    /// reads and that falls in the years 1..=9999 in UTC, as any date the official SDKs send.
    pub fn validate(&self) -> Result<(), ModelError> {
        for (name, value) in [("record_key", &self.record_key), ("body", &self.body)] {
            if value.as_deref().is_none_or(str::is_empty) {
                return Err(ModelError::validation(name, "must be a non-empty string"));
            }
        }
        if let Some(text) = &self.expires_at {
            let when = crate::date::parse_date(text)
                .map_err(|e| ModelError::validation("expires_at", e.to_string()))?;
            if !crate::date::in_range(&when) {
                return Err(ModelError::validation(
                    "expires_at",
                    "must be a date in the years 1 to 9999 (UTC)",
                ));
            }
        }
        Ok(())
    }

    /// The text members from `body` to `key20`, in wire order ([`WIRE_RECORD_FIELDS`]`[1..30]`).
    pub fn text_members(&self) -> [&Option<String>; TEXT_MEMBERS] {
        [
            &self.body,
            &self.precommit_body,
            &self.profile_key,
            &self.parent_key,
            &self.service_key1,
            &self.service_key2,
            &self.service_key3,
            &self.service_key4,
            &self.service_key5,
            &self.key1,
            &self.key2,
            &self.key3,
            &self.key4,
            &self.key5,
            &self.key6,
            &self.key7,
            &self.key8,
            &self.key9,
            &self.key10,
            &self.key11,
            &self.key12,
            &self.key13,
            &self.key14,
            &self.key15,
            &self.key16,
            &self.key17,
            &self.key18,
            &self.key19,
            &self.key20,
        ]
    }

    /// The text members from `body` to `key20`, in wire order, to fill in.
    pub fn text_members_mut(&mut self) -> [&mut Option<String>; TEXT_MEMBERS] {
        [
            &mut self.body,
            &mut self.precommit_body,
            &mut self.profile_key,
            &mut self.parent_key,
            &mut self.service_key1,
            &mut self.service_key2,
            &mut self.service_key3,
            &mut self.service_key4,
            &mut self.service_key5,
            &mut self.key1,
            &mut self.key2,
            &mut self.key3,
            &mut self.key4,
            &mut self.key5,
            &mut self.key6,
            &mut self.key7,
            &mut self.key8,
            &mut self.key9,
            &mut self.key10,
            &mut self.key11,
            &mut self.key12,
            &mut self.key13,
            &mut self.key14,
            &mut self.key15,
            &mut self.key16,
            &mut self.key17,
            &mut self.key18,
            &mut self.key19,
            &mut self.key20,
        ]
    }

    /// `range_key1` to `range_key10`, in order.
    pub fn range_keys(&self) -> [&Option<i64>; RANGE_KEYS] {
        [
            &self.range_key1,
            &self.range_key2,
            &self.range_key3,
            &self.range_key4,
            &self.range_key5,
            &self.range_key6,
            &self.range_key7,
            &self.range_key8,
            &self.range_key9,
            &self.range_key10,
        ]
    }

    /// `range_key1` to `range_key10`, in order, to fill in.
    pub fn range_keys_mut(&mut self) -> [&mut Option<i64>; RANGE_KEYS] {
        [
            &mut self.range_key1,
            &mut self.range_key2,
            &mut self.range_key3,
            &mut self.range_key4,
            &mut self.range_key5,
            &mut self.range_key6,
            &mut self.range_key7,
            &mut self.range_key8,
            &mut self.range_key9,
            &mut self.range_key10,
        ]
    }

    /// The record as a JSON object (absent members omitted).
    pub fn to_json_map(&self) -> Map<String, Value> {
        match serde_json::to_value(self) {
            Ok(Value::Object(map)) => map,
            // Serialising plain strings, integers and booleans cannot fail.
            _ => Map::new(),
        }
    }

    /// Reads a record from a JSON object; a member of the wrong type is an
    /// [`InvalidResponse`](ModelError::InvalidResponse) error.
    pub fn from_json_map(map: Map<String, Value>) -> Result<Self, ModelError> {
        serde_json::from_value(Value::Object(map))
            .map_err(|e| ModelError::invalid_response("record", e.to_string()))
    }
}

/// A record as a server returns it: a [`WireRecord`] that serialises every member, `null` for
/// absent ones (the official Node.js SDK rejects records with missing members).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(transparent)]
pub struct ServerRecord(pub WireRecord);

impl From<WireRecord> for ServerRecord {
    fn from(record: WireRecord) -> Self {
        Self(record)
    }
}

impl Serialize for ServerRecord {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct as _;
        let record = &self.0;
        let mut out = serializer.serialize_struct("ServerRecord", WIRE_RECORD_FIELDS.len())?;
        out.serialize_field(WIRE_RECORD_FIELDS[0], &record.record_key)?;
        let (texts, rest) = WIRE_RECORD_FIELDS[1..].split_at(TEXT_MEMBERS);
        for (name, value) in texts.iter().zip(record.text_members()) {
            out.serialize_field(name, value)?;
        }
        for (name, value) in rest.iter().zip(record.range_keys()) {
            out.serialize_field(name, value)?;
        }
        out.serialize_field("expires_at", &record.expires_at)?;
        out.serialize_field("version", &record.version)?;
        out.serialize_field("is_encrypted", &record.is_encrypted)?;
        out.serialize_field("created_at", &record.created_at)?;
        out.serialize_field("updated_at", &record.updated_at)?;
        out.serialize_field("attachments", &record.attachments)?;
        out.end()
    }
}

/// Metadata of a file attached to a record.
///
/// All text members are non-empty except `hash`; [`AttachmentMeta::validate`] checks it. Dates
/// read in any of the SDKs' shapes and are written as the Python SDK writes them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct AttachmentMeta {
    /// The attachment's id.
    pub file_id: String,
    /// The file name.
    pub filename: String,
    /// SHA-256 hex of the content (may be empty).
    pub hash: String,
    /// The MIME type.
    pub mime_type: String,
    /// Size in bytes.
    pub size: u64,
    /// When it was attached.
    #[serde(with = "serde_date")]
    pub created_at: DateTime<Utc>,
    /// When it was last changed.
    #[serde(with = "serde_date")]
    pub updated_at: DateTime<Utc>,
    /// Where to download it.
    pub download_link: String,
}

impl AttachmentMeta {
    /// Metadata with every member given.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        file_id: impl Into<String>,
        filename: impl Into<String>,
        hash: impl Into<String>,
        mime_type: impl Into<String>,
        size: u64,
        created_at: DateTime<Utc>,
        updated_at: DateTime<Utc>,
        download_link: impl Into<String>,
    ) -> Self {
        Self {
            file_id: file_id.into(),
            filename: filename.into(),
            hash: hash.into(),
            mime_type: mime_type.into(),
            size,
            created_at: crate::date::truncate(created_at),
            updated_at: crate::date::truncate(updated_at),
            download_link: download_link.into(),
        }
    }

    /// Checks that `file_id`, `filename`, `mime_type` and `download_link` are non-empty.
    pub fn validate(&self) -> Result<(), ModelError> {
        for (name, value) in [
            ("file_id", &self.file_id),
            ("filename", &self.filename),
            ("mime_type", &self.mime_type),
            ("download_link", &self.download_link),
        ] {
            if value.is_empty() {
                return Err(ModelError::validation(name, "must be a non-empty string"));
            }
        }
        Ok(())
    }

    pub(crate) fn to_json_value(&self) -> Value {
        serde_json::to_value(self).unwrap_or(Value::Null)
    }

    /// Reads and validates the metadata at `field` (e.g. `attachments[0]`); errors name it.
    pub(crate) fn from_json_value(value: &Value, field: &str) -> Result<Self, ModelError> {
        let meta: Self = serde_json::from_value(value.clone())
            .map_err(|e| ModelError::validation(field, e.to_string()))?;
        meta.validate()
            .map_err(|e| e.within(&format!("{field}.")))?;
        Ok(meta)
    }
}

/// The longest attachment file name, in bytes of UTF-8: what file systems allow (`NAME_MAX`).
/// A server refuses longer names on upload and rename; the SDK before sending.
pub const MAX_FILENAME_BYTES: usize = 255;

/// Checks that an attachment file name is at most [`MAX_FILENAME_BYTES`] bytes long; the
/// error names `filename` and the limit.
///
/// ```
/// use incountry_model::{MAX_FILENAME_BYTES, validate_filename};
/// assert!(validate_filename(&"é".repeat(MAX_FILENAME_BYTES / 2)).is_ok());
/// assert!(validate_filename(&"é".repeat(MAX_FILENAME_BYTES / 2 + 1)).is_err());
/// ```
pub fn validate_filename(filename: &str) -> Result<(), ModelError> {
    if filename.len() > MAX_FILENAME_BYTES {
        return Err(ModelError::validation(
            "filename",
            format!(
                "is {} bytes long (UTF-8); a file name may be at most {MAX_FILENAME_BYTES} bytes",
                filename.len()
            ),
        ));
    }
    Ok(())
}

/// The body of `PATCH .../attachments/{file_id}/meta`: a new file name, MIME type, or both.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct AttachmentMetaUpdate {
    /// The new file name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub filename: Option<String>,
    /// The new MIME type.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mime_type: Option<String>,
}

impl AttachmentMetaUpdate {
    /// Checks that at least one member is given, none is empty, and the file name is at most
    /// [`MAX_FILENAME_BYTES`] bytes long.
    pub fn validate(&self) -> Result<(), ModelError> {
        if self.filename.is_none() && self.mime_type.is_none() {
            return Err(ModelError::validation(
                "filename, mime_type",
                "at least one of them must be given",
            ));
        }
        for (name, value) in [("filename", &self.filename), ("mime_type", &self.mime_type)] {
            if value.as_deref() == Some("") {
                return Err(ModelError::validation(name, "must be a non-empty string"));
            }
        }
        if let Some(filename) = &self.filename {
            validate_filename(filename)?;
        }
        Ok(())
    }
}

/// The body of a batch write: `{"records": [...]}` with 1..=100 records.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct BatchWriteRequest {
    /// The encoded records.
    pub records: Vec<WireRecord>,
}

impl BatchWriteRequest {
    /// A batch of `records`.
    pub fn new(records: Vec<WireRecord>) -> Self {
        Self { records }
    }

    /// Checks the batch size (1..=100 records) and that every record has a non-empty
    /// `record_key` and a `body`, as a server must before storing anything.
    pub fn validate(&self) -> Result<(), ModelError> {
        let max = crate::codec::MAX_BATCH_RECORDS;
        if self.records.is_empty() || self.records.len() > max {
            return Err(ModelError::validation(
                "records",
                format!(
                    "a batch must hold 1 to {max} records (got {})",
                    self.records.len()
                ),
            ));
        }
        for (i, record) in self.records.iter().enumerate() {
            record
                .validate()
                .map_err(|e| e.within(&format!("records[{i}].")))?;
        }
        Ok(())
    }
}

/// A server's answer to a batch write: `{"records": [...]}`, every record in the full shape.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct BatchWriteResponse {
    /// The stored records.
    pub records: Vec<ServerRecord>,
}

impl BatchWriteResponse {
    /// A response listing `records`.
    pub fn new(records: Vec<ServerRecord>) -> Self {
        Self { records }
    }
}

/// The body of a find: `{"filter": F, "options": {"limit", "offset", "sort"?}}`.
///
/// The filter is kept as JSON (values already hashed); a server can read it back into a
/// [`FindFilter`](crate::FindFilter) with [`FindFilter::from_json`](crate::FindFilter::from_json).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct FindRequest {
    /// The wire filter.
    pub filter: Map<String, Value>,
    /// Paging and order.
    pub options: FindOptions,
}

impl FindRequest {
    /// A request for `filter` with `options`.
    pub fn new(filter: Map<String, Value>, options: FindOptions) -> Self {
        Self { filter, options }
    }

    /// Reads the request back into a validated [`FindFilter`](crate::FindFilter), values as
    /// sent (hashes), paging and order from `options`: what a server runs.
    pub fn to_find_filter(&self) -> Result<crate::FindFilter, ModelError> {
        let mut filter = crate::FindFilter::from_json(&Value::Object(self.filter.clone()))?
            .limit(self.options.limit)
            .offset(self.options.offset);
        for item in &self.options.sort {
            filter = filter.sort(*item);
        }
        filter.validate()?;
        Ok(filter)
    }
}

/// The `options` of a find: `limit` and `offset` always, `sort` only when non-empty.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct FindOptions {
    /// How many records to return at most (1..=100).
    #[serde(default = "default_limit")]
    pub limit: u32,
    /// How many matching records to skip.
    #[serde(default)]
    pub offset: u64,
    /// The order, most significant first; not sent when empty.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sort: Vec<Sort>,
}

fn default_limit() -> u32 {
    crate::filter::MAX_LIMIT
}

impl Default for FindOptions {
    fn default() -> Self {
        Self {
            limit: crate::filter::MAX_LIMIT,
            offset: 0,
            sort: Vec::new(),
        }
    }
}

impl FindOptions {
    /// Options with `limit`, `offset` and `sort`.
    pub fn new(limit: u32, offset: u64, sort: Vec<Sort>) -> Self {
        Self {
            limit,
            offset,
            sort,
        }
    }
}

/// A server's answer to a find: `{"data": [...], "meta": {...}}`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct FindResponse {
    /// The page of matching records.
    pub data: Vec<ServerRecord>,
    /// Counts and paging.
    pub meta: FindMeta,
}

impl FindResponse {
    /// A response with `data` and `meta`.
    pub fn new(data: Vec<ServerRecord>, meta: FindMeta) -> Self {
        Self { data, meta }
    }
}

/// The `meta` of a find response.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct FindMeta {
    /// How many records this page holds.
    pub count: u64,
    /// The limit asked for.
    pub limit: u64,
    /// The offset asked for.
    pub offset: u64,
    /// How many records match in all.
    pub total: u64,
}

impl FindMeta {
    /// Meta with the four counts.
    pub fn new(count: u64, limit: u64, offset: u64, total: u64) -> Self {
        Self {
            count,
            limit,
            offset,
            total,
        }
    }
}

/// The body of a batch delete (5.0): `{"filter": {"record_key": [hashes]}}`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct BatchDeleteRequest {
    /// The filter; the official SDK sends only `record_key` with a list of hashes.
    pub filter: Map<String, Value>,
}

impl BatchDeleteRequest {
    /// A batch delete of the records with these hashed record keys.
    pub fn by_record_keys(hashes: Vec<String>) -> Self {
        let mut filter = Map::new();
        filter.insert(
            "record_key".into(),
            Value::Array(hashes.into_iter().map(Value::from).collect()),
        );
        Self { filter }
    }
}
