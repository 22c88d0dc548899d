//! The plain (decrypted) record a user writes and reads.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{Map, Value};

use crate::date;
use crate::error::ModelError;
use crate::keys::{RangeKey, SearchKey, ServiceKey};
use crate::wire::AttachmentMeta;

/// A record of the InCountry API, as its owner sees it: plain key values and body.
///
/// Build one with [`Record::new`] and the `with_*` methods; read it with the getters of the same
/// names. Numbered fields are addressed with [`SearchKey`], [`RangeKey`] and [`ServiceKey`], so
/// an index out of range cannot be written. `created_at`, `updated_at`, `version`,
/// `is_encrypted` and `attachments` are set by the server and filled when a record is read.
///
/// ```
/// use incountry_model::{RangeKey, Record, SearchKey};
///
/// let record = Record::new("user_1")
///     .with_body(r#"{"name": "Jane"}"#)
///     .with_key(SearchKey::Key1, "english")
///     .with_range_key(RangeKey::RangeKey1, 10_000);
/// assert_eq!(record.key(SearchKey::Key1), Some("english"));
/// assert_eq!(record.range_key(RangeKey::RangeKey1), Some(10_000));
/// assert_eq!(record.key(SearchKey::Key2), None);
/// ```
///
/// Its serde form is the official SDKs' record dictionary: members named as on the wire
/// (`record_key`, `key1`, `range_key1`, `expires_at`, ...), absent ones omitted, dates as
/// ISO 8601 strings in UTC.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    record_key: String,
    body: Option<String>,
    precommit_body: Option<String>,
    profile_key: Option<String>,
    parent_key: Option<String>,
    service_keys: [Option<String>; 5],
    keys: [Option<String>; 20],
    range_keys: [Option<i64>; 10],
    expires_at: Option<DateTime<Utc>>,
    created_at: Option<DateTime<Utc>>,
    updated_at: Option<DateTime<Utc>>,
    version: Option<u32>,
    is_encrypted: Option<bool>,
    attachments: Vec<AttachmentMeta>,
}

/// Getter, builder and setter of an optional string member.
macro_rules! string_member {
    ($field:ident, $with:ident, $set:ident, $what:literal) => {
        #[doc = concat!("The ", $what, ", if set.")]
        pub fn $field(&self) -> Option<&str> {
            self.$field.as_deref()
        }

        #[doc = concat!("Sets the ", $what, ".")]
        #[must_use]
        pub fn $with(mut self, value: impl Into<String>) -> Self {
            self.$field = Some(value.into());
            self
        }

        #[doc = concat!("Sets or clears the ", $what, ".")]
        pub fn $set(&mut self, value: Option<String>) {
            self.$field = value;
        }
    };
}

/// Getter and builder of a server-set member.
macro_rules! server_member {
    ($field:ident, $with:ident, $type:ty, $what:literal) => {
        #[doc = concat!("The ", $what, " (set by the server), if known.")]
        pub fn $field(&self) -> Option<$type> {
            self.$field
        }

        #[doc = concat!("Sets the ", $what, "; the server sets it, so this is for tests and stores.")]
        #[must_use]
        pub fn $with(mut self, value: $type) -> Self {
            self.$field = Some(value);
            self
        }
    };
}

impl Record {
    /// A record with key `record_key` and no other member set.
    ///
    /// The key must be non-empty; [`Record::validate`] (and every encoding) checks it.
    pub fn new(record_key: impl Into<String>) -> Self {
        Self {
            record_key: record_key.into(),
            body: None,
            precommit_body: None,
            profile_key: None,
            parent_key: None,
            service_keys: Default::default(),
            keys: Default::default(),
            range_keys: [None; 10],
            expires_at: None,
            created_at: None,
            updated_at: None,
            version: None,
            is_encrypted: None,
            attachments: Vec::new(),
        }
    }

    /// The record key (its primary key).
    pub fn record_key(&self) -> &str {
        &self.record_key
    }

    /// Replaces the record key.
    pub fn set_record_key(&mut self, record_key: impl Into<String>) {
        self.record_key = record_key.into();
    }

    string_member!(body, with_body, set_body, "body (encrypted on the wire)");
    string_member!(
        precommit_body,
        with_precommit_body,
        set_precommit_body,
        "pre-commit body (encrypted on the wire)"
    );
    string_member!(
        profile_key,
        with_profile_key,
        set_profile_key,
        "profile key (hashed on the wire)"
    );
    string_member!(
        parent_key,
        with_parent_key,
        set_parent_key,
        "parent key (hashed on the wire)"
    );

    /// The value of service key `which`, if set.
    pub fn service_key(&self, which: ServiceKey) -> Option<&str> {
        self.service_keys[which.index()].as_deref()
    }

    /// Sets service key `which` (hashed on the wire).
    #[must_use]
    pub fn with_service_key(mut self, which: ServiceKey, value: impl Into<String>) -> Self {
        self.service_keys[which.index()] = Some(value.into());
        self
    }

    /// Sets or clears service key `which`.
    pub fn set_service_key(&mut self, which: ServiceKey, value: Option<String>) {
        self.service_keys[which.index()] = value;
    }

    /// The value of search key `which`, if set.
    pub fn key(&self, which: SearchKey) -> Option<&str> {
        self.keys[which.index()].as_deref()
    }

    /// Sets search key `which` (hashed on the wire, or plain with `hash_search_keys` off).
    #[must_use]
    pub fn with_key(mut self, which: SearchKey, value: impl Into<String>) -> Self {
        self.keys[which.index()] = Some(value.into());
        self
    }

    /// Sets or clears search key `which`.
    pub fn set_key(&mut self, which: SearchKey, value: Option<String>) {
        self.keys[which.index()] = value;
    }

    /// The value of range key `which`, if set.
    pub fn range_key(&self, which: RangeKey) -> Option<i64> {
        self.range_keys[which.index()]
    }

    /// Sets range key `which` (an integer sent as is, usable in range filters).
    #[must_use]
    pub fn with_range_key(mut self, which: RangeKey, value: i64) -> Self {
        self.range_keys[which.index()] = Some(value);
        self
    }

    /// Sets or clears range key `which`.
    pub fn set_range_key(&mut self, which: RangeKey, value: Option<i64>) {
        self.range_keys[which.index()] = value;
    }

    /// When the record expires, if set.
    pub fn expires_at(&self) -> Option<DateTime<Utc>> {
        self.expires_at
    }

    /// Sets the expiry instant. Any time zone converts to UTC; precision is microseconds, as in
    /// the official SDKs (finer digits are dropped).
    #[must_use]
    pub fn with_expires_at(mut self, when: impl Into<DateTime<Utc>>) -> Self {
        self.expires_at = Some(date::truncate(when.into()));
        self
    }

    /// Sets or clears the expiry instant (microsecond precision).
    pub fn set_expires_at(&mut self, when: Option<DateTime<Utc>>) {
        self.expires_at = when.map(date::truncate);
    }

    server_member!(created_at, with_created_at, DateTime<Utc>, "creation time");
    server_member!(
        updated_at,
        with_updated_at,
        DateTime<Utc>,
        "last update time"
    );
    server_member!(
        version,
        with_version,
        u32,
        "secret version the record was encrypted with"
    );
    server_member!(
        is_encrypted,
        with_is_encrypted,
        bool,
        "flag telling whether the body is encrypted (false for no-encryption mode)"
    );

    /// The record's attachments (set by the server; empty when none or unknown).
    pub fn attachments(&self) -> &[AttachmentMeta] {
        &self.attachments
    }

    /// Sets the attachments; the server sets them, so this is for tests and stores.
    #[must_use]
    pub fn with_attachments(mut self, attachments: Vec<AttachmentMeta>) -> Self {
        self.attachments = attachments;
        self
    }

    /// Checks what the types cannot: a non-empty `record_key` and an `expires_at` in years
    /// 1..=9999. (The 256-character limit of plain search keys depends on the codec's
    /// `hash_search_keys`, so [`RecordCodec`](crate::RecordCodec) checks it.)
    pub fn validate(&self) -> Result<(), ModelError> {
        if self.record_key.is_empty() {
            return Err(ModelError::validation(
                "record_key",
                "must be a non-empty string",
            ));
        }
        if let Some(when) = &self.expires_at {
            if !date::in_range(when) {
                return Err(ModelError::validation(
                    "expires_at",
                    "must be a date in the years 1 to 9999",
                ));
            }
        }
        Ok(())
    }

    /// The members a user sets, named as on the wire (absent ones omitted).
    pub(crate) fn user_members(&self) -> Map<String, Value> {
        let mut map = Map::new();
        map.insert("record_key".into(), Value::from(self.record_key.as_str()));
        let mut put = |name: &str, value: &Option<String>| {
            if let Some(value) = value {
                map.insert(name.into(), Value::from(value.as_str()));
            }
        };
        put("body", &self.body);
        put("precommit_body", &self.precommit_body);
        put("profile_key", &self.profile_key);
        put("parent_key", &self.parent_key);
        for which in ServiceKey::ALL {
            put(which.field_name(), &self.service_keys[which.index()]);
        }
        for which in SearchKey::ALL {
            put(which.field_name(), &self.keys[which.index()]);
        }
        for which in RangeKey::ALL {
            if let Some(value) = self.range_keys[which.index()] {
                map.insert(which.field_name().into(), Value::from(value));
            }
        }
        if let Some(when) = &self.expires_at {
            map.insert("expires_at".into(), Value::from(date::format_date(when)));
        }
        map
    }

    /// Every member that is set, server-set ones included, named as on the wire.
    pub fn to_json_map(&self) -> Map<String, Value> {
        let mut map = self.user_members();
        if let Some(version) = self.version {
            map.insert("version".into(), Value::from(version));
        }
        if let Some(flag) = self.is_encrypted {
            map.insert("is_encrypted".into(), Value::from(flag));
        }
        for (name, when) in [
            ("created_at", &self.created_at),
            ("updated_at", &self.updated_at),
        ] {
            if let Some(when) = when {
                map.insert(name.into(), Value::from(date::format_date(when)));
            }
        }
        if !self.attachments.is_empty() {
            let list = self
                .attachments
                .iter()
                .map(AttachmentMeta::to_json_value)
                .collect();
            map.insert("attachments".into(), Value::Array(list));
        }
        map
    }

    /// Reads a record from the official record dictionary shape (as [`Record::to_json_map`]
    /// writes it). Null members are absent; unknown members are ignored; a member of the wrong
    /// type is a validation error naming it. `record_key` is required (it may be empty here;
    /// [`Record::validate`] rejects that).
    pub fn from_json_map(map: &Map<String, Value>) -> Result<Self, ModelError> {
        let record_key = string(map, "record_key")?
            .ok_or_else(|| ModelError::validation("record_key", "is required"))?;
        let mut record = Self::new(record_key);
        record.body = string(map, "body")?;
        record.precommit_body = string(map, "precommit_body")?;
        record.profile_key = string(map, "profile_key")?;
        record.parent_key = string(map, "parent_key")?;
        for which in ServiceKey::ALL {
            record.service_keys[which.index()] = string(map, which.field_name())?;
        }
        for which in SearchKey::ALL {
            record.keys[which.index()] = string(map, which.field_name())?;
        }
        for which in RangeKey::ALL {
            record.range_keys[which.index()] = match present(map, which.field_name()) {
                None => None,
                Some(value) => Some(value.as_i64().ok_or_else(|| {
                    ModelError::validation(which.field_name(), "must be a 64-bit integer")
                })?),
            };
        }
        record.expires_at = date_member(map, "expires_at")?;
        record.created_at = date_member(map, "created_at")?;
        record.updated_at = date_member(map, "updated_at")?;
        record.version = match present(map, "version") {
            None => None,
            Some(value) => Some(
                value
                    .as_u64()
                    .and_then(|v| u32::try_from(v).ok())
                    .ok_or_else(|| {
                        ModelError::validation("version", "must be a non-negative integer")
                    })?,
            ),
        };
        record.is_encrypted = match present(map, "is_encrypted") {
            None => None,
            Some(value) => Some(
                value
                    .as_bool()
                    .ok_or_else(|| ModelError::validation("is_encrypted", "must be a boolean"))?,
            ),
        };
        if let Some(list) = present(map, "attachments") {
            let Value::Array(items) = list else {
                return Err(ModelError::validation("attachments", "must be a list"));
            };
            record.attachments = items
                .iter()
                .enumerate()
                .map(|(i, item)| {
                    AttachmentMeta::from_json_value(item, &format!("attachments[{i}]"))
                })
                .collect::<Result<_, _>>()?;
        }
        Ok(record)
    }
}

fn present<'a>(map: &'a Map<String, Value>, name: &str) -> Option<&'a Value> {
    map.get(name).filter(|v| !v.is_null())
}

fn string(map: &Map<String, Value>, name: &str) -> Result<Option<String>, ModelError> {
    match present(map, name) {
        None => Ok(None),
        Some(Value::String(text)) => Ok(Some(text.clone())),
        Some(_) => Err(ModelError::validation(name, "must be a string")),
    }
}

fn date_member(map: &Map<String, Value>, name: &str) -> Result<Option<DateTime<Utc>>, ModelError> {
    match present(map, name) {
        None => Ok(None),
        Some(Value::String(text)) => date::parse_date(text)
            .map(Some)
            .map_err(|e| ModelError::validation(name, e.to_string())),
        Some(_) => Err(ModelError::validation(
            name,
            "must be an ISO 8601 date string with a UTC offset",
        )),
    }
}

impl Serialize for Record {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.to_json_map().serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for Record {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let map = Map::<String, Value>::deserialize(deserializer)?;
        Self::from_json_map(&map).map_err(serde::de::Error::custom)
    }
}
