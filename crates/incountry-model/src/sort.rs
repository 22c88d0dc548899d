//! Sort orders of a find: `[{"key1": "asc"}, {"created_at": "desc"}, ...]`.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{Map, Value};

use crate::error::ModelError;
use crate::keys::{RangeKey, SearchKey};

/// A field a find can sort by: `key1..key20`, `range_key1..range_key10` and the three dates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SortField {
    /// A search key (sorted by its stored value: a hash unless `hash_search_keys` is off).
    Key(SearchKey),
    /// A range key.
    RangeKey(RangeKey),
    /// The creation time.
    CreatedAt,
    /// The last update time.
    UpdatedAt,
    /// The expiry time.
    ExpiresAt,
}

impl SortField {
    /// Its field name on the wire.
    pub fn field_name(self) -> &'static str {
        match self {
            Self::Key(key) => key.field_name(),
            Self::RangeKey(key) => key.field_name(),
            Self::CreatedAt => "created_at",
            Self::UpdatedAt => "updated_at",
            Self::ExpiresAt => "expires_at",
        }
    }

    /// The sort field named `name`, if it is one.
    pub fn from_field_name(name: &str) -> Option<Self> {
        match name {
            "created_at" => Some(Self::CreatedAt),
            "updated_at" => Some(Self::UpdatedAt),
            "expires_at" => Some(Self::ExpiresAt),
            _ => SearchKey::from_field_name(name)
                .map(Self::Key)
                .or_else(|| RangeKey::from_field_name(name).map(Self::RangeKey)),
        }
    }
}

impl From<SearchKey> for SortField {
    fn from(key: SearchKey) -> Self {
        Self::Key(key)
    }
}

impl From<RangeKey> for SortField {
    fn from(key: RangeKey) -> Self {
        Self::RangeKey(key)
    }
}

impl fmt::Display for SortField {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.field_name())
    }
}

/// Ascending or descending.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum SortOrder {
    /// Smallest first (`"asc"`).
    #[default]
    Asc,
    /// Largest first (`"desc"`).
    Desc,
}

impl SortOrder {
    /// `"asc"` or `"desc"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Asc => "asc",
            Self::Desc => "desc",
        }
    }
}

/// One sort item: a field and its order; on the wire `{"<field>": "asc" | "desc"}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Sort {
    /// The field to sort by.
    pub field: SortField,
    /// The direction.
    pub order: SortOrder,
}

impl Sort {
    /// Sort by `field` in `order`.
    pub fn new(field: impl Into<SortField>, order: SortOrder) -> Self {
        Self {
            field: field.into(),
            order,
        }
    }

    /// Sort by `field`, smallest first.
    pub fn asc(field: impl Into<SortField>) -> Self {
        Self::new(field, SortOrder::Asc)
    }

    /// Sort by `field`, largest first.
    pub fn desc(field: impl Into<SortField>) -> Self {
        Self::new(field, SortOrder::Desc)
    }

    /// The wire form `{"<field>": "<order>"}`.
    pub fn to_json(&self) -> Value {
        let mut item = Map::new();
        item.insert(
            self.field.field_name().into(),
            Value::from(self.order.as_str()),
        );
        Value::Object(item)
    }

    /// Reads one sort item from its wire form; errors name the item as `sort` and say why.
    pub fn from_json(value: &Value) -> Result<Self, ModelError> {
        let Value::Object(item) = value else {
            return Err(ModelError::validation(
                "sort",
                "each item must be an object like {\"key1\": \"asc\"}",
            ));
        };
        let mut members = item.iter();
        let (Some((name, order)), None) = (members.next(), members.next()) else {
            return Err(ModelError::validation(
                "sort",
                "each item must have exactly one field",
            ));
        };
        let field = SortField::from_field_name(name).ok_or_else(|| {
            ModelError::validation(
                format!("sort.{name}"),
                "cannot sort by this field; allowed: key1..key20, range_key1..range_key10, created_at, updated_at, expires_at",
            )
        })?;
        let order = match order.as_str() {
            Some("asc") => SortOrder::Asc,
            Some("desc") => SortOrder::Desc,
            _ => {
                return Err(ModelError::validation(
                    format!("sort.{name}"),
                    "order must be \"asc\" or \"desc\"",
                ));
            }
        };
        Ok(Self { field, order })
    }
}

/// Checks a sort list: no field twice.
pub(crate) fn validate(sort: &[Sort]) -> Result<(), ModelError> {
    for (i, item) in sort.iter().enumerate() {
        if sort[..i].iter().any(|earlier| earlier.field == item.field) {
            return Err(ModelError::validation(
                format!("sort[{i}]"),
                format!("duplicate sort option for {}", item.field),
            ));
        }
    }
    Ok(())
}

impl Serialize for Sort {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.to_json().serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for Sort {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let value = Value::deserialize(deserializer)?;
        Self::from_json(&value).map_err(serde::de::Error::custom)
    }
}
