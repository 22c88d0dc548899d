//! Find filters: which records a find returns, in which order, which page.
//!
//! [`FindFilter`] is built with one typed method per operator of the official SDKs 4.1 and 5.0
//! and holds a small syntax tree ([`Field`], [`Condition`]) that both the SDK (to encode it) and
//! a server (to run it) can read. Operators a field does not support cannot be written
//! (`$gt` takes only integer and date fields, `$like` only search keys; at most one lower and
//! one upper bound per field). The remaining rules are checked by [`FindFilter::validate`].

use chrono::{DateTime, Utc};
use serde_json::{Map, Value};

use crate::date;
use crate::error::ModelError;
use crate::keys::{RangeKey, SearchKey, ServiceKey};
use crate::sort::{self, Sort, SortField, SortOrder};

/// The largest (and default) page size of a find.
pub const MAX_LIMIT: u32 = 100;
/// The shortest `search_keys` text, in characters.
pub const SEARCH_KEYS_MIN_CHARS: usize = 3;
/// The longest `search_keys` text, in characters.
pub const SEARCH_KEYS_MAX_CHARS: usize = 200;
/// The most values one find filter may hold, counted across every field, list, `$not` list,
/// bound and `$or` branch (a `null` counts none, `search_keys` and `$like` one each).
///
/// The official SDKs set no limit; a server runs each value as one SQL parameter, and SQLite
/// takes at most 32 766 of them in a statement (PostgreSQL 65 535), so this stays well below.
pub const MAX_FILTER_VALUES: usize = 20_000;
/// The most branches a `$or` may hold. Branches cannot nest (they take only string fields),
/// so this is the whole width and depth of `$or`.
///
/// The official SDKs set no limit; each branch deepens the SQL expression by one level, and
/// SQLite refuses expressions deeper than 1 000.
pub const MAX_OR_BRANCHES: usize = 500;

/// A string field of a record: hashed on the wire (search keys unless `hash_search_keys` is off).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum StringField {
    /// `record_key`.
    RecordKey,
    /// `profile_key`.
    ProfileKey,
    /// `service_key1..service_key5`.
    ServiceKey(ServiceKey),
    /// `parent_key`.
    ParentKey,
    /// `key1..key20`.
    Key(SearchKey),
}

impl StringField {
    /// Its field name on the wire.
    pub fn field_name(self) -> &'static str {
        match self {
            Self::RecordKey => "record_key",
            Self::ProfileKey => "profile_key",
            Self::ServiceKey(key) => key.field_name(),
            Self::ParentKey => "parent_key",
            Self::Key(key) => key.field_name(),
        }
    }

    /// The string field named `name`, if it is one.
    pub fn from_field_name(name: &str) -> Option<Self> {
        match name {
            "record_key" => Some(Self::RecordKey),
            "profile_key" => Some(Self::ProfileKey),
            "parent_key" => Some(Self::ParentKey),
            _ => SearchKey::from_field_name(name)
                .map(Self::Key)
                .or_else(|| ServiceKey::from_field_name(name).map(Self::ServiceKey)),
        }
    }
}

impl From<SearchKey> for StringField {
    fn from(key: SearchKey) -> Self {
        Self::Key(key)
    }
}

impl From<ServiceKey> for StringField {
    fn from(key: ServiceKey) -> Self {
        Self::ServiceKey(key)
    }
}

/// An integer field: a range key or the record's `version`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum IntField {
    /// `range_key1..range_key10`.
    RangeKey(RangeKey),
    /// `version`: the secret version a record was encrypted with.
    Version,
}

impl IntField {
    /// Its field name on the wire.
    pub fn field_name(self) -> &'static str {
        match self {
            Self::RangeKey(key) => key.field_name(),
            Self::Version => "version",
        }
    }
}

impl From<RangeKey> for IntField {
    fn from(key: RangeKey) -> Self {
        Self::RangeKey(key)
    }
}

/// A date field.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DateField {
    /// `created_at` (set by the server; cannot be filtered as null).
    CreatedAt,
    /// `updated_at` (set by the server; cannot be filtered as null).
    UpdatedAt,
    /// `expires_at`.
    ExpiresAt,
}

impl DateField {
    /// Its field name on the wire.
    pub fn field_name(self) -> &'static str {
        match self {
            Self::CreatedAt => "created_at",
            Self::UpdatedAt => "updated_at",
            Self::ExpiresAt => "expires_at",
        }
    }
}

/// Any field a filter condition can apply to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Field {
    /// A string field.
    String(StringField),
    /// An integer field.
    Int(IntField),
    /// A date field.
    Date(DateField),
}

impl Field {
    /// Its field name on the wire.
    pub fn field_name(self) -> &'static str {
        match self {
            Self::String(f) => f.field_name(),
            Self::Int(f) => f.field_name(),
            Self::Date(f) => f.field_name(),
        }
    }

    /// The field named `name`, if a filter may use it.
    pub fn from_field_name(name: &str) -> Option<Self> {
        match name {
            "version" => Some(Self::Int(IntField::Version)),
            "created_at" => Some(Self::Date(DateField::CreatedAt)),
            "updated_at" => Some(Self::Date(DateField::UpdatedAt)),
            "expires_at" => Some(Self::Date(DateField::ExpiresAt)),
            _ => StringField::from_field_name(name)
                .map(Self::String)
                .or_else(|| RangeKey::from_field_name(name).map(|k| Self::Int(k.into()))),
        }
    }

    fn is_search_key(self) -> bool {
        matches!(self, Self::String(StringField::Key(_)))
    }
}

/// A value in a condition; its kind matches the field's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FilterValue {
    /// For string fields (plain before encoding; hashed in a filter read from the wire).
    String(String),
    /// For integer fields.
    Int(i64),
    /// For date fields (UTC, microsecond precision).
    Date(DateTime<Utc>),
}

/// The operand of `$not`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NotValue {
    /// Not equal to this value.
    Value(FilterValue),
    /// None of these values.
    AnyOf(Vec<FilterValue>),
    /// Not null: the field is present.
    Null,
}

/// A lower bound: `$gt` or `$gte`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Lower {
    /// Greater than.
    Gt(FilterValue),
    /// Greater than or equal.
    Gte(FilterValue),
}

/// An upper bound: `$lt` or `$lte`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Upper {
    /// Less than.
    Lt(FilterValue),
    /// Less than or equal.
    Lte(FilterValue),
}

/// The operator object of a condition (`{"$not": ..., "$gt": ..., "$lt": ...}`), ANDed.
/// String fields use only `not`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Operators {
    /// `$not`.
    pub not: Option<NotValue>,
    /// `$gt` or `$gte`.
    pub lower: Option<Lower>,
    /// `$lt` or `$lte`.
    pub upper: Option<Upper>,
}

impl Operators {
    fn is_empty(&self) -> bool {
        self.not.is_none() && self.lower.is_none() && self.upper.is_none()
    }
}

/// What a field must satisfy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Condition {
    /// Equal to the value.
    Eq(FilterValue),
    /// Equal to one of the values (a non-empty list).
    AnyOf(Vec<FilterValue>),
    /// The field is absent (null).
    Null,
    /// `$like` (5.0): the plain search key contains the text.
    Like(String),
    /// An operator object.
    Operators(Operators),
}

mod sealed {
    pub trait Sealed {}
}

/// A field type a filter method accepts, with the type of its values.
pub trait FilterField: Copy + sealed::Sealed {
    /// The values the field takes: `String`, `i64` or `DateTime<Utc>`.
    type Value;

    /// The field.
    fn field(self) -> Field;

    /// A value of the field as a [`FilterValue`].
    fn filter_value(value: Self::Value) -> FilterValue;
}

/// A field with an order, so that `$gt`, `$gte`, `$lt` and `$lte` apply: integers and dates.
pub trait OrderedField: FilterField {}

macro_rules! filter_field {
    ($type:ty, $value:ty, $wrap:expr, $field:expr) => {
        impl sealed::Sealed for $type {}
        impl FilterField for $type {
            type Value = $value;
            fn field(self) -> Field {
                $field(self)
            }
            fn filter_value(value: $value) -> FilterValue {
                $wrap(value)
            }
        }
    };
}

filter_field!(StringField, String, FilterValue::String, Field::String);
filter_field!(SearchKey, String, FilterValue::String, |f: SearchKey| {
    Field::String(f.into())
});
filter_field!(ServiceKey, String, FilterValue::String, |f: ServiceKey| {
    Field::String(f.into())
});
filter_field!(IntField, i64, FilterValue::Int, Field::Int);
filter_field!(RangeKey, i64, FilterValue::Int, |f: RangeKey| Field::Int(
    f.into()
));
filter_field!(
    DateField,
    DateTime<Utc>,
    |v| FilterValue::Date(date::truncate(v)),
    Field::Date
);
impl OrderedField for IntField {}
impl OrderedField for RangeKey {}
impl OrderedField for DateField {}

/// Conditions over string fields only: one branch of `$or` (5.0).
///
/// ```
/// use incountry_model::{FindFilter, OrFilter, SearchKey, StringField};
/// let filter = FindFilter::new().or([
///     OrFilter::new().eq(SearchKey::Key1, "a"),
///     OrFilter::new().eq(StringField::ProfileKey, "p"),
/// ]);
/// assert!(filter.validate().is_ok());
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OrFilter {
    conditions: Vec<(StringField, Condition)>,
}

impl OrFilter {
    /// A branch with no condition yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// The conditions, in the order they were added.
    pub fn conditions(&self) -> &[(StringField, Condition)] {
        &self.conditions
    }

    fn set(mut self, field: StringField, condition: Condition) -> Self {
        set_condition(&mut self.conditions, field, condition);
        self
    }

    /// `field` equals `value`.
    #[must_use]
    pub fn eq(self, field: impl Into<StringField>, value: impl Into<String>) -> Self {
        self.set(
            field.into(),
            Condition::Eq(FilterValue::String(value.into())),
        )
    }

    /// `field` equals one of `values`.
    #[must_use]
    pub fn any_of<I>(self, field: impl Into<StringField>, values: I) -> Self
    where
        I: IntoIterator,
        I::Item: Into<String>,
    {
        let values = values
            .into_iter()
            .map(|v| FilterValue::String(v.into()))
            .collect();
        self.set(field.into(), Condition::AnyOf(values))
    }

    /// `field` differs from `value`.
    #[must_use]
    pub fn not(self, field: impl Into<StringField>, value: impl Into<String>) -> Self {
        self.set(
            field.into(),
            not_condition(NotValue::Value(FilterValue::String(value.into()))),
        )
    }

    /// `field` is none of `values`.
    #[must_use]
    pub fn not_any_of<I>(self, field: impl Into<StringField>, values: I) -> Self
    where
        I: IntoIterator,
        I::Item: Into<String>,
    {
        let values = values
            .into_iter()
            .map(|v| FilterValue::String(v.into()))
            .collect();
        self.set(field.into(), not_condition(NotValue::AnyOf(values)))
    }

    /// `field` is absent.
    #[must_use]
    pub fn is_null(self, field: impl Into<StringField>) -> Self {
        self.set(field.into(), Condition::Null)
    }

    /// `field` is present.
    #[must_use]
    pub fn not_null(self, field: impl Into<StringField>) -> Self {
        self.set(field.into(), not_condition(NotValue::Null))
    }

    /// The plain search key `key` contains `text` (`$like`, 5.0).
    #[must_use]
    pub fn like(self, key: SearchKey, text: impl Into<String>) -> Self {
        self.set(key.into(), Condition::Like(text.into()))
    }
}

fn not_condition(not: NotValue) -> Condition {
    Condition::Operators(Operators {
        not: Some(not),
        ..Operators::default()
    })
}

/// Sets the condition of `field`, replacing an earlier one in place.
fn set_condition<F: PartialEq>(list: &mut Vec<(F, Condition)>, field: F, condition: Condition) {
    match list.iter_mut().find(|(f, _)| *f == field) {
        Some(entry) => entry.1 = condition,
        None => list.push((field, condition)),
    }
}

/// A find: conditions on fields (ANDed), `search_keys`, `$or`, sort order and page.
///
/// Each method sets one field's condition; calling another method on the same field replaces
/// it, except that `not`, `gt`/`gte` and `lt`/`lte` on integer and date fields combine into one
/// operator object (a later `gt` replaces an earlier `gte`, since only one lower bound is
/// allowed). Values are plain: [`RecordCodec`](crate::RecordCodec) hashes them for the wire.
///
/// ```
/// use chrono::{TimeZone, Utc};
/// use incountry_model::{DateField, FindFilter, IntField, RangeKey, SearchKey, Sort, StringField};
///
/// let filter = FindFilter::new()
///     .any_of(SearchKey::Key1, ["english", "german"])
///     .not(StringField::RecordKey, "record-1")
///     .gte(RangeKey::RangeKey1, 1)
///     .lt(RangeKey::RangeKey1, 10)
///     .not(IntField::Version, 3)
///     .gt(DateField::CreatedAt, Utc.with_ymd_and_hms(2024, 1, 1, 0, 0, 0).unwrap())
///     .sort(Sort::desc(RangeKey::RangeKey1))
///     .limit(10);
/// filter.validate()?;
/// # Ok::<(), incountry_model::ModelError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FindFilter {
    conditions: Vec<(Field, Condition)>,
    search_keys: Option<String>,
    or: Vec<OrFilter>,
    sort: Vec<Sort>,
    limit: u32,
    offset: u64,
}

impl Default for FindFilter {
    fn default() -> Self {
        Self::new()
    }
}

impl FindFilter {
    /// Matches every record; first page of [`MAX_LIMIT`] records, no sort.
    pub fn new() -> Self {
        Self {
            conditions: Vec::new(),
            search_keys: None,
            or: Vec::new(),
            sort: Vec::new(),
            limit: MAX_LIMIT,
            offset: 0,
        }
    }

    fn set(mut self, field: Field, condition: Condition) -> Self {
        set_condition(&mut self.conditions, field, condition);
        self
    }

    /// Changes the operator object of `field`, starting from an empty one when the field has
    /// another kind of condition.
    fn with_operators(mut self, field: Field, change: impl FnOnce(&mut Operators)) -> Self {
        let mut operators = match self.condition(field) {
            Some(Condition::Operators(ops)) => ops.clone(),
            _ => Operators::default(),
        };
        change(&mut operators);
        set_condition(&mut self.conditions, field, Condition::Operators(operators));
        self
    }

    /// `field` equals `value`.
    #[must_use]
    pub fn eq<F: FilterField>(self, field: F, value: impl Into<F::Value>) -> Self {
        self.set(field.field(), Condition::Eq(F::filter_value(value.into())))
    }

    /// `field` equals one of `values` (the list must not be empty).
    #[must_use]
    pub fn any_of<F, I>(self, field: F, values: I) -> Self
    where
        F: FilterField,
        I: IntoIterator,
        I::Item: Into<F::Value>,
    {
        let values = values
            .into_iter()
            .map(|v| F::filter_value(v.into()))
            .collect();
        self.set(field.field(), Condition::AnyOf(values))
    }

    /// `field` differs from `value` (`$not`).
    #[must_use]
    pub fn not<F: FilterField>(self, field: F, value: impl Into<F::Value>) -> Self {
        let not = NotValue::Value(F::filter_value(value.into()));
        self.with_operators(field.field(), |ops| ops.not = Some(not))
    }

    /// `field` is none of `values` (`$not` with a list; the list must not be empty).
    #[must_use]
    pub fn not_any_of<F, I>(self, field: F, values: I) -> Self
    where
        F: FilterField,
        I: IntoIterator,
        I::Item: Into<F::Value>,
    {
        let values = values
            .into_iter()
            .map(|v| F::filter_value(v.into()))
            .collect();
        self.with_operators(field.field(), |ops| ops.not = Some(NotValue::AnyOf(values)))
    }

    /// `field` is absent (`null`). Not allowed for `created_at` and `updated_at`.
    #[must_use]
    pub fn is_null<F: FilterField>(self, field: F) -> Self {
        self.set(field.field(), Condition::Null)
    }

    /// `field` is present (`{"$not": null}`). Not allowed for `created_at` and `updated_at`.
    #[must_use]
    pub fn not_null<F: FilterField>(self, field: F) -> Self {
        self.with_operators(field.field(), |ops| ops.not = Some(NotValue::Null))
    }

    /// `field` is greater than `value` (`$gt`; replaces a `$gte`).
    #[must_use]
    pub fn gt<F: OrderedField>(self, field: F, value: impl Into<F::Value>) -> Self {
        let bound = Lower::Gt(F::filter_value(value.into()));
        self.with_operators(field.field(), |ops| ops.lower = Some(bound))
    }

    /// `field` is at least `value` (`$gte`; replaces a `$gt`).
    #[must_use]
    pub fn gte<F: OrderedField>(self, field: F, value: impl Into<F::Value>) -> Self {
        let bound = Lower::Gte(F::filter_value(value.into()));
        self.with_operators(field.field(), |ops| ops.lower = Some(bound))
    }

    /// `field` is less than `value` (`$lt`; replaces a `$lte`).
    #[must_use]
    pub fn lt<F: OrderedField>(self, field: F, value: impl Into<F::Value>) -> Self {
        let bound = Upper::Lt(F::filter_value(value.into()));
        self.with_operators(field.field(), |ops| ops.upper = Some(bound))
    }

    /// `field` is at most `value` (`$lte`; replaces a `$lt`).
    #[must_use]
    pub fn lte<F: OrderedField>(self, field: F, value: impl Into<F::Value>) -> Self {
        let bound = Upper::Lte(F::filter_value(value.into()));
        self.with_operators(field.field(), |ops| ops.upper = Some(bound))
    }

    /// The plain search key `key` contains `text` (`$like`, 5.0). Needs `hash_search_keys` off;
    /// sent as is, never hashed.
    #[must_use]
    pub fn like(self, key: SearchKey, text: impl Into<String>) -> Self {
        self.set(Field::String(key.into()), Condition::Like(text.into()))
    }

    /// Some plain search key `key1..key20` contains `text` (3..=200 characters). Needs
    /// `hash_search_keys` off; sent as is; cannot be combined with `key1..key20` conditions.
    #[must_use]
    pub fn search_keys(mut self, text: impl Into<String>) -> Self {
        self.search_keys = Some(text.into());
        self
    }

    /// At least one of `branches` matches (`$or`, 5.0): two or more non-empty filters over
    /// string fields; not with `search_keys`. Replaces an earlier `$or`.
    #[must_use]
    pub fn or(mut self, branches: impl IntoIterator<Item = OrFilter>) -> Self {
        self.or = branches.into_iter().collect();
        self
    }

    /// Adds a sort item (most significant first); a field may appear once.
    #[must_use]
    pub fn sort(mut self, item: Sort) -> Self {
        self.sort.push(item);
        self
    }

    /// Adds a sort item by `field` in `order`.
    #[must_use]
    pub fn sort_by(self, field: impl Into<SortField>, order: SortOrder) -> Self {
        self.sort(Sort::new(field, order))
    }

    /// The page size: 1..=100 (default 100).
    #[must_use]
    pub fn limit(mut self, limit: u32) -> Self {
        self.limit = limit;
        self
    }

    /// How many matching records to skip (default 0).
    #[must_use]
    pub fn offset(mut self, offset: u64) -> Self {
        self.offset = offset;
        self
    }

    /// The conditions, in the order they were first set.
    pub fn conditions(&self) -> &[(Field, Condition)] {
        &self.conditions
    }

    /// The condition on `field`, if any.
    pub fn condition(&self, field: Field) -> Option<&Condition> {
        self.conditions
            .iter()
            .find(|(f, _)| *f == field)
            .map(|(_, c)| c)
    }

    /// The `search_keys` text, if set.
    pub fn search_text(&self) -> Option<&str> {
        self.search_keys.as_deref()
    }

    /// The `$or` branches (empty when not used).
    pub fn or_branches(&self) -> &[OrFilter] {
        &self.or
    }

    /// The sort items.
    pub fn sort_items(&self) -> &[Sort] {
        &self.sort
    }

    /// The page size.
    pub fn page_limit(&self) -> u32 {
        self.limit
    }

    /// The page offset.
    pub fn page_offset(&self) -> u64 {
        self.offset
    }

    /// Checks the rules the types cannot express: non-empty lists, no null on `created_at` and
    /// `updated_at`, dates in years 1..=9999, `search_keys` length and exclusivity, `$or`
    /// shape (2..=[`MAX_OR_BRANCHES`] branches), at most [`MAX_FILTER_VALUES`] values,
    /// `limit` 1..=100, no sort field twice. Errors name the field.
    pub fn validate(&self) -> Result<(), ModelError> {
        let mut values = 0;
        for (field, condition) in &self.conditions {
            validate_condition(*field, condition)?;
            values += value_count(condition);
        }
        if let Some(text) = &self.search_keys {
            let chars = text.chars().count();
            if !(SEARCH_KEYS_MIN_CHARS..=SEARCH_KEYS_MAX_CHARS).contains(&chars) {
                return Err(ModelError::validation(
                    "search_keys",
                    format!(
                        "must be {SEARCH_KEYS_MIN_CHARS} to {SEARCH_KEYS_MAX_CHARS} characters long (got {chars})"
                    ),
                ));
            }
            if self.conditions.iter().any(|(f, _)| f.is_search_key()) {
                return Err(ModelError::validation(
                    "search_keys",
                    "cannot be used in conjunction with regular key1...key20 lookup",
                ));
            }
            if !self.or.is_empty() {
                return Err(ModelError::validation(
                    "$or",
                    "cannot be used together with search_keys",
                ));
            }
        }
        if !self.or.is_empty() {
            if self.or.len() < 2 {
                return Err(ModelError::validation("$or", "needs two or more filters"));
            }
            if self.or.len() > MAX_OR_BRANCHES {
                return Err(ModelError::validation(
                    "$or",
                    format!(
                        "holds {} filters; $or may hold at most {MAX_OR_BRANCHES}",
                        self.or.len()
                    ),
                ));
            }
            for (i, branch) in self.or.iter().enumerate() {
                let prefix = format!("$or[{i}]");
                if branch.conditions.is_empty() {
                    return Err(ModelError::validation(prefix, "Filter cannot be empty"));
                }
                for (field, condition) in &branch.conditions {
                    validate_condition(Field::String(*field), condition)
                        .map_err(|e| e.within(&format!("{prefix}.")))?;
                    values += value_count(condition);
                }
            }
        }
        values += usize::from(self.search_keys.is_some());
        if values > MAX_FILTER_VALUES {
            return Err(ModelError::validation(
                "filter",
                format!(
                    "holds {values} values in all; a find filter may hold at most {MAX_FILTER_VALUES}"
                ),
            ));
        }
        if !(1..=MAX_LIMIT).contains(&self.limit) {
            return Err(ModelError::validation(
                "limit",
                format!("must be an integer from 1 to {MAX_LIMIT}"),
            ));
        }
        sort::validate(&self.sort)
    }

    /// Every string value given for search keys (`key1..key20`), with its field, including
    /// those in `$or` branches: for the codec's length check on plain keys.
    pub(crate) fn search_key_texts(&self) -> Vec<(&'static str, &str, bool)> {
        let mut out = Vec::new();
        let branches = self
            .or
            .iter()
            .flat_map(|b| b.conditions.iter().map(|(f, c)| (Field::String(*f), c)));
        for (field, condition) in self.conditions.iter().map(|(f, c)| (*f, c)).chain(branches) {
            if !field.is_search_key() {
                continue;
            }
            let name = field.field_name();
            for_each_string(condition, &mut |text, is_like| {
                out.push((name, text, is_like))
            });
        }
        out
    }

    /// The filter members as the official SDKs send them, with `string` giving what to send
    /// for a string value of a field (its hash, or the value itself).
    pub(crate) fn encode_members(
        &self,
        string: &dyn Fn(&str, &str) -> String,
    ) -> Map<String, Value> {
        let mut out = Map::new();
        for (field, condition) in &self.conditions {
            out.insert(
                field.field_name().into(),
                encode_condition(*field, condition, string),
            );
        }
        if let Some(text) = &self.search_keys {
            out.insert("search_keys".into(), Value::from(text.as_str()));
        }
        if !self.or.is_empty() {
            let branches = self
                .or
                .iter()
                .map(|branch| {
                    let mut members = Map::new();
                    for (field, condition) in &branch.conditions {
                        members.insert(
                            field.field_name().into(),
                            encode_condition(Field::String(*field), condition, string),
                        );
                    }
                    Value::Object(members)
                })
                .collect();
            out.insert("$or".into(), Value::Array(branches));
        }
        out
    }

    /// The filter in the official JSON shape with plain values, as [`FindFilter::from_json`]
    /// reads it: the filter members, then `limit`, `offset` and (when non-empty) `sort`.
    ///
    /// ```
    /// use incountry_model::{FindFilter, SearchKey};
    /// use serde_json::json;
    /// let filter = FindFilter::new().not_any_of(SearchKey::Key1, ["a", "b"]).limit(5);
    /// assert_eq!(filter.to_json(), json!({"key1": {"$not": ["a", "b"]}, "limit": 5, "offset": 0}));
    /// assert_eq!(FindFilter::from_json(&filter.to_json())?, filter);
    /// # Ok::<(), incountry_model::ModelError>(())
    /// ```
    pub fn to_json(&self) -> Value {
        let mut out = self.encode_members(&|_, text| text.to_owned());
        out.insert("limit".into(), Value::from(self.limit));
        out.insert("offset".into(), Value::from(self.offset));
        if !self.sort.is_empty() {
            out.insert(
                "sort".into(),
                Value::Array(self.sort.iter().map(Sort::to_json).collect()),
            );
        }
        Value::Object(out)
    }

    /// Reads a filter in the official SDKs' JSON shape: the keyword arguments of Python's
    /// `find(**filters, limit=, offset=, sort=)`, e.g.
    /// `{"key1": ["a", "b"], "range_key1": {"$gte": 1}, "limit": 10, "sort": [{"key1": "asc"}]}`.
    ///
    /// It reads a wire filter (the `filter` member of a [`FindRequest`](crate::FindRequest))
    /// too, whose string values are hashes. Errors name the member; the result still needs
    /// [`FindFilter::validate`] for the rules that span members.
    ///
    /// ```
    /// use incountry_model::{FindFilter, IntField, RangeKey, SearchKey};
    /// use serde_json::json;
    ///
    /// let parsed = FindFilter::from_json(&json!({
    ///     "key1": "english", "range_key1": {"$gte": 1, "$lt": 10}, "limit": 5
    /// }))?;
    /// let built = FindFilter::new()
    ///     .eq(SearchKey::Key1, "english")
    ///     .gte(RangeKey::RangeKey1, 1)
    ///     .lt(RangeKey::RangeKey1, 10)
    ///     .limit(5);
    /// assert_eq!(parsed, built);
    /// assert!(FindFilter::from_json(&json!({"range_key1": {"$like": "x"}})).is_err());
    /// # Ok::<(), incountry_model::ModelError>(())
    /// ```
    pub fn from_json(value: &Value) -> Result<Self, ModelError> {
        let Value::Object(members) = value else {
            return Err(ModelError::validation("filter", "must be a JSON object"));
        };
        let mut filter = Self::new();
        for (name, value) in members {
            match name.as_str() {
                "limit" => {
                    filter.limit = value
                        .as_u64()
                        .and_then(|v| u32::try_from(v).ok())
                        .ok_or_else(|| {
                            ModelError::validation(
                                "limit",
                                format!("must be an integer from 1 to {MAX_LIMIT}"),
                            )
                        })?;
                }
                "offset" => {
                    filter.offset = value.as_u64().ok_or_else(|| {
                        ModelError::validation("offset", "must be a non-negative integer")
                    })?;
                }
                "sort" => {
                    filter.sort = match value {
                        Value::Null => Vec::new(),
                        Value::Array(items) => items
                            .iter()
                            .enumerate()
                            .map(|(i, item)| {
                                Sort::from_json(item).map_err(|e| match e {
                                    ModelError::Validation { field, rule } if field == "sort" => {
                                        ModelError::validation(format!("sort[{i}]"), rule)
                                    }
                                    other => other,
                                })
                            })
                            .collect::<Result<_, _>>()?,
                        _ => {
                            return Err(ModelError::validation("sort", "must be a list"));
                        }
                    };
                }
                "search_keys" => {
                    filter.search_keys = match value {
                        Value::Null => None,
                        Value::String(text) => Some(text.clone()),
                        _ => {
                            return Err(ModelError::validation("search_keys", "must be a string"));
                        }
                    };
                }
                "$or" => {
                    let Value::Array(branches) = value else {
                        return Err(ModelError::validation("$or", "must be a list of filters"));
                    };
                    if branches.is_empty() {
                        return Err(ModelError::validation("$or", "needs two or more filters"));
                    }
                    filter.or = branches
                        .iter()
                        .enumerate()
                        .map(|(i, branch)| {
                            parse_or_branch(branch).map_err(|e| e.within(&format!("$or[{i}].")))
                        })
                        .collect::<Result<_, _>>()?;
                }
                _ => {
                    let field = Field::from_field_name(name).ok_or_else(|| {
                        ModelError::validation(name.as_str(), "is not a field a filter can use")
                    })?;
                    let condition = parse_condition(field, value)?;
                    set_condition(&mut filter.conditions, field, condition);
                }
            }
        }
        Ok(filter)
    }
}

fn parse_or_branch(value: &Value) -> Result<OrFilter, ModelError> {
    let Value::Object(members) = value else {
        return Err(ModelError::validation("filter", "must be a JSON object"));
    };
    let mut branch = OrFilter::new();
    for (name, value) in members {
        let field = StringField::from_field_name(name).ok_or_else(|| {
            ModelError::validation(
                name.as_str(),
                "only string fields (record_key, profile_key, service_key1..5, parent_key, key1..key20) may be used in $or",
            )
        })?;
        let condition = parse_condition(Field::String(field), value)?;
        set_condition(&mut branch.conditions, field, condition);
    }
    Ok(branch)
}

fn for_each_string<'a>(condition: &'a Condition, each: &mut impl FnMut(&'a str, bool)) {
    let mut value = |v: &'a FilterValue| {
        if let FilterValue::String(text) = v {
            each(text, false);
        }
    };
    match condition {
        Condition::Eq(v) => value(v),
        Condition::AnyOf(values) => values.iter().for_each(value),
        Condition::Operators(Operators {
            not: Some(NotValue::Value(v)),
            ..
        }) => value(v),
        Condition::Operators(Operators {
            not: Some(NotValue::AnyOf(values)),
            ..
        }) => values.iter().for_each(value),
        Condition::Like(text) => each(text, true),
        Condition::Null | Condition::Operators(_) => {}
    }
}

const EMPTY: &str = "Filter cannot be empty";

/// How many values `condition` holds, each one SQL parameter on a server.
fn value_count(condition: &Condition) -> usize {
    match condition {
        Condition::Eq(_) | Condition::Like(_) => 1,
        Condition::AnyOf(values) => values.len(),
        Condition::Null => 0,
        Condition::Operators(Operators { not, lower, upper }) => {
            let not = match not {
                Some(NotValue::Value(_)) => 1,
                Some(NotValue::AnyOf(values)) => values.len(),
                Some(NotValue::Null) | None => 0,
            };
            not + usize::from(lower.is_some()) + usize::from(upper.is_some())
        }
    }
}

fn validate_condition(field: Field, condition: &Condition) -> Result<(), ModelError> {
    let name = field.field_name();
    let count = value_count(condition);
    if count > MAX_FILTER_VALUES {
        return Err(ModelError::validation(
            name,
            format!("holds {count} values; a find filter may hold at most {MAX_FILTER_VALUES}"),
        ));
    }
    let server_date = matches!(
        field,
        Field::Date(DateField::CreatedAt | DateField::UpdatedAt)
    );
    let check_values = |values: &[FilterValue]| -> Result<(), ModelError> {
        if values.is_empty() {
            return Err(ModelError::validation(name, EMPTY));
        }
        for value in values {
            if let FilterValue::Date(when) = value {
                if !date::in_range(when) {
                    return Err(ModelError::validation(
                        name,
                        "dates must be in the years 1 to 9999",
                    ));
                }
            }
        }
        Ok(())
    };
    match condition {
        Condition::Eq(value) => check_values(std::slice::from_ref(value)),
        Condition::AnyOf(values) => check_values(values),
        Condition::Null if server_date => Err(ModelError::validation(name, "cannot be None")),
        Condition::Null | Condition::Like(_) => Ok(()),
        Condition::Operators(ops) => {
            if ops.is_empty() {
                return Err(ModelError::validation(name, EMPTY));
            }
            match &ops.not {
                Some(NotValue::Value(value)) => check_values(std::slice::from_ref(value))?,
                Some(NotValue::AnyOf(values)) => check_values(values)?,
                Some(NotValue::Null) if server_date => {
                    return Err(ModelError::validation(name, "$not cannot be null"));
                }
                Some(NotValue::Null) | None => {}
            }
            if let Some(Lower::Gt(v) | Lower::Gte(v)) = &ops.lower {
                check_values(std::slice::from_ref(v))?;
            }
            if let Some(Upper::Lt(v) | Upper::Lte(v)) = &ops.upper {
                check_values(std::slice::from_ref(v))?;
            }
            Ok(())
        }
    }
}

/// The allowed operators of each kind of field, for error messages.
fn operator_rule(field: Field) -> &'static str {
    match field {
        Field::String(StringField::Key(_)) => {
            "Incorrect dict filter. Must contain only the following keys: $not, or $like alone"
        }
        Field::String(_) => "Incorrect dict filter. Must contain only the following keys: $not",
        Field::Int(_) | Field::Date(_) => {
            "Incorrect dict filter. Must contain only the following keys: $not, $gt, $gte, $lt, $lte"
        }
    }
}

fn parse_condition(field: Field, value: &Value) -> Result<Condition, ModelError> {
    let name = field.field_name();
    match value {
        Value::Null => Ok(Condition::Null),
        Value::Array(items) => {
            if items.is_empty() {
                return Err(ModelError::validation(name, EMPTY));
            }
            Ok(Condition::AnyOf(parse_values(field, items)?))
        }
        Value::Object(ops) => {
            if ops.is_empty() {
                return Err(ModelError::validation(name, EMPTY));
            }
            if let Some(text) = ops.get("$like") {
                let (Field::String(StringField::Key(_)), 1, Value::String(text)) =
                    (field, ops.len(), text)
                else {
                    return Err(ModelError::validation(
                        name,
                        "$like takes a string, only on key1..key20, and no other operator",
                    ));
                };
                return Ok(Condition::Like(text.clone()));
            }
            parse_operators(field, ops).map(Condition::Operators)
        }
        single => Ok(Condition::Eq(parse_value(field, single)?)),
    }
}

fn parse_operators(field: Field, ops: &Map<String, Value>) -> Result<Operators, ModelError> {
    let name = field.field_name();
    let ordered = !matches!(field, Field::String(_));
    let mut out = Operators::default();
    for (op, value) in ops {
        match op.as_str() {
            "$not" => {
                out.not = Some(match value {
                    Value::Null => NotValue::Null,
                    Value::Array(items) => {
                        if items.is_empty() {
                            return Err(ModelError::validation(name, EMPTY));
                        }
                        NotValue::AnyOf(parse_values(field, items)?)
                    }
                    single => NotValue::Value(parse_value(field, single)?),
                });
            }
            "$gt" | "$gte" if ordered => {
                if out.lower.is_some() {
                    return Err(ModelError::validation(
                        name,
                        "Incorrect dict filter. Must contain not more than one key from the following group: $gt, $gte",
                    ));
                }
                let v = parse_value(field, value)?;
                out.lower = Some(if op == "$gt" {
                    Lower::Gt(v)
                } else {
                    Lower::Gte(v)
                });
            }
            "$lt" | "$lte" if ordered => {
                if out.upper.is_some() {
                    return Err(ModelError::validation(
                        name,
                        "Incorrect dict filter. Must contain not more than one key from the following group: $lt, $lte",
                    ));
                }
                let v = parse_value(field, value)?;
                out.upper = Some(if op == "$lt" {
                    Upper::Lt(v)
                } else {
                    Upper::Lte(v)
                });
            }
            _ => return Err(ModelError::validation(name, operator_rule(field))),
        }
    }
    Ok(out)
}

fn parse_values(field: Field, items: &[Value]) -> Result<Vec<FilterValue>, ModelError> {
    items.iter().map(|item| parse_value(field, item)).collect()
}

fn parse_value(field: Field, value: &Value) -> Result<FilterValue, ModelError> {
    let name = field.field_name();
    match (field, value) {
        (Field::String(_), Value::String(text)) => Ok(FilterValue::String(text.clone())),
        (Field::String(_), _) => Err(ModelError::validation(
            name,
            "values must be strings (a value, a non-empty list, null or {\"$not\": ...})",
        )),
        (Field::Int(_), Value::Number(n)) if n.is_i64() => {
            Ok(FilterValue::Int(n.as_i64().unwrap_or_default()))
        }
        (Field::Int(_), _) => Err(ModelError::validation(
            name,
            "values must be 64-bit integers",
        )),
        (Field::Date(_), Value::String(text)) => date::parse_date(text)
            .map(FilterValue::Date)
            .map_err(|e| ModelError::validation(name, e.to_string())),
        (Field::Date(_), _) => Err(ModelError::validation(
            name,
            "values must be ISO 8601 date strings with a UTC offset",
        )),
    }
}

fn encode_condition(
    field: Field,
    condition: &Condition,
    string: &dyn Fn(&str, &str) -> String,
) -> Value {
    let value = |v: &FilterValue| match v {
        FilterValue::String(text) => Value::from(string(field.field_name(), text)),
        FilterValue::Int(n) => Value::from(*n),
        FilterValue::Date(when) => Value::from(date::format_date(when)),
    };
    let list = |values: &[FilterValue]| Value::Array(values.iter().map(value).collect());
    match condition {
        Condition::Eq(v) => value(v),
        Condition::AnyOf(values) => list(values),
        Condition::Null => Value::Null,
        Condition::Like(text) => {
            let mut ops = Map::new();
            ops.insert("$like".into(), Value::from(text.as_str()));
            Value::Object(ops)
        }
        Condition::Operators(Operators { not, lower, upper }) => {
            let mut ops = Map::new();
            match not {
                Some(NotValue::Value(v)) => {
                    ops.insert("$not".into(), value(v));
                }
                Some(NotValue::AnyOf(values)) => {
                    ops.insert("$not".into(), list(values));
                }
                Some(NotValue::Null) => {
                    ops.insert("$not".into(), Value::Null);
                }
                None => {}
            }
            match lower {
                Some(Lower::Gt(v)) => ops.insert("$gt".into(), value(v)),
                Some(Lower::Gte(v)) => ops.insert("$gte".into(), value(v)),
                None => None,
            };
            match upper {
                Some(Upper::Lt(v)) => ops.insert("$lt".into(), value(v)),
                Some(Upper::Lte(v)) => ops.insert("$lte".into(), value(v)),
                None => None,
            };
            Value::Object(ops)
        }
    }
}

impl serde::Serialize for FindFilter {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.to_json().serialize(serializer)
    }
}

impl<'de> serde::Deserialize<'de> for FindFilter {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let value = Value::deserialize(deserializer)?;
        Self::from_json(&value).map_err(serde::de::Error::custom)
    }
}
