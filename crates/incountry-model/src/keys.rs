//! The numbered record fields: `key1..key20`, `range_key1..range_key10`,
//! `service_key1..service_key5`.
//!
//! Each family is an enum, so a field number out of range cannot be written down; numbers
//! coming from elsewhere convert with `new` (an `Option`) or `TryFrom<u8>` (an error naming the
//! field).

use std::fmt;

use crate::error::ModelError;

/// A search key `key1..key20`: a string, hashed on the wire unless `hash_search_keys` is off.
///
/// ```
/// use incountry_model::SearchKey;
/// assert_eq!(SearchKey::Key7.field_name(), "key7");
/// assert_eq!(SearchKey::new(20), Some(SearchKey::Key20));
/// assert_eq!(SearchKey::new(21), None);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(u8)]
pub enum SearchKey {
    /// `key1`.
    Key1 = 1,
    /// `key2`.
    Key2 = 2,
    /// `key3`.
    Key3 = 3,
    /// `key4`.
    Key4 = 4,
    /// `key5`.
    Key5 = 5,
    /// `key6`.
    Key6 = 6,
    /// `key7`.
    Key7 = 7,
    /// `key8`.
    Key8 = 8,
    /// `key9`.
    Key9 = 9,
    /// `key10`.
    Key10 = 10,
    /// `key11`.
    Key11 = 11,
    /// `key12`.
    Key12 = 12,
    /// `key13`.
    Key13 = 13,
    /// `key14`.
    Key14 = 14,
    /// `key15`.
    Key15 = 15,
    /// `key16`.
    Key16 = 16,
    /// `key17`.
    Key17 = 17,
    /// `key18`.
    Key18 = 18,
    /// `key19`.
    Key19 = 19,
    /// `key20`.
    Key20 = 20,
}

impl SearchKey {
    /// Every search key, in order.
    pub const ALL: [Self; 20] = [
        Self::Key1,
        Self::Key2,
        Self::Key3,
        Self::Key4,
        Self::Key5,
        Self::Key6,
        Self::Key7,
        Self::Key8,
        Self::Key9,
        Self::Key10,
        Self::Key11,
        Self::Key12,
        Self::Key13,
        Self::Key14,
        Self::Key15,
        Self::Key16,
        Self::Key17,
        Self::Key18,
        Self::Key19,
        Self::Key20,
    ];

    const NAMES: [&'static str; 20] = [
        "key1", "key2", "key3", "key4", "key5", "key6", "key7", "key8", "key9", "key10", "key11",
        "key12", "key13", "key14", "key15", "key16", "key17", "key18", "key19", "key20",
    ];

    /// The search key numbered `number` (1..=20), or `None` outside that range.
    pub fn new(number: u8) -> Option<Self> {
        Self::ALL.get(usize::from(number).checked_sub(1)?).copied()
    }

    /// Its number, 1..=20.
    pub fn number(self) -> u8 {
        self as u8
    }

    /// Its field name on the wire, e.g. `"key1"`.
    pub fn field_name(self) -> &'static str {
        Self::NAMES[self.index()]
    }

    /// The search key with field name `name`, if any.
    pub fn from_field_name(name: &str) -> Option<Self> {
        Self::NAMES
            .iter()
            .position(|n| *n == name)
            .map(|i| Self::ALL[i])
    }

    /// Its position in arrays of 20.
    pub(crate) fn index(self) -> usize {
        usize::from(self as u8 - 1)
    }
}

impl TryFrom<u8> for SearchKey {
    type Error = ModelError;

    fn try_from(number: u8) -> Result<Self, Self::Error> {
        Self::new(number).ok_or_else(|| {
            ModelError::validation(
                format!("key{number}"),
                "no such field: numbers run from 1 to 20",
            )
        })
    }
}

impl fmt::Display for SearchKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.field_name())
    }
}

/// A range key `range_key1..range_key10`: a 64-bit integer, sent as is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(u8)]
pub enum RangeKey {
    /// `range_key1`.
    RangeKey1 = 1,
    /// `range_key2`.
    RangeKey2 = 2,
    /// `range_key3`.
    RangeKey3 = 3,
    /// `range_key4`.
    RangeKey4 = 4,
    /// `range_key5`.
    RangeKey5 = 5,
    /// `range_key6`.
    RangeKey6 = 6,
    /// `range_key7`.
    RangeKey7 = 7,
    /// `range_key8`.
    RangeKey8 = 8,
    /// `range_key9`.
    RangeKey9 = 9,
    /// `range_key10`.
    RangeKey10 = 10,
}

impl RangeKey {
    /// Every range key, in order.
    pub const ALL: [Self; 10] = [
        Self::RangeKey1,
        Self::RangeKey2,
        Self::RangeKey3,
        Self::RangeKey4,
        Self::RangeKey5,
        Self::RangeKey6,
        Self::RangeKey7,
        Self::RangeKey8,
        Self::RangeKey9,
        Self::RangeKey10,
    ];

    const NAMES: [&'static str; 10] = [
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
    ];

    /// The range key numbered `number` (1..=10), or `None` outside that range.
    pub fn new(number: u8) -> Option<Self> {
        Self::ALL.get(usize::from(number).checked_sub(1)?).copied()
    }

    /// Its number, 1..=10.
    pub fn number(self) -> u8 {
        self as u8
    }

    /// Its field name on the wire, e.g. `"range_key1"`.
    pub fn field_name(self) -> &'static str {
        Self::NAMES[self.index()]
    }

    /// The range key with field name `name`, if any.
    pub fn from_field_name(name: &str) -> Option<Self> {
        Self::NAMES
            .iter()
            .position(|n| *n == name)
            .map(|i| Self::ALL[i])
    }

    /// Its position in arrays of 10.
    pub(crate) fn index(self) -> usize {
        usize::from(self as u8 - 1)
    }
}

impl TryFrom<u8> for RangeKey {
    type Error = ModelError;

    fn try_from(number: u8) -> Result<Self, Self::Error> {
        Self::new(number).ok_or_else(|| {
            ModelError::validation(
                format!("range_key{number}"),
                "no such field: numbers run from 1 to 10",
            )
        })
    }
}

impl fmt::Display for RangeKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.field_name())
    }
}

/// A service key `service_key1..service_key5`: a string, always hashed on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(u8)]
pub enum ServiceKey {
    /// `service_key1`.
    ServiceKey1 = 1,
    /// `service_key2`.
    ServiceKey2 = 2,
    /// `service_key3`.
    ServiceKey3 = 3,
    /// `service_key4`.
    ServiceKey4 = 4,
    /// `service_key5`.
    ServiceKey5 = 5,
}

impl ServiceKey {
    /// Every service key, in order.
    pub const ALL: [Self; 5] = [
        Self::ServiceKey1,
        Self::ServiceKey2,
        Self::ServiceKey3,
        Self::ServiceKey4,
        Self::ServiceKey5,
    ];

    const NAMES: [&'static str; 5] = [
        "service_key1",
        "service_key2",
        "service_key3",
        "service_key4",
        "service_key5",
    ];

    /// The service key numbered `number` (1..=5), or `None` outside that range.
    pub fn new(number: u8) -> Option<Self> {
        Self::ALL.get(usize::from(number).checked_sub(1)?).copied()
    }

    /// Its number, 1..=5.
    pub fn number(self) -> u8 {
        self as u8
    }

    /// Its field name on the wire, e.g. `"service_key1"`.
    pub fn field_name(self) -> &'static str {
        Self::NAMES[self.index()]
    }

    /// The service key with field name `name`, if any.
    pub fn from_field_name(name: &str) -> Option<Self> {
        Self::NAMES
            .iter()
            .position(|n| *n == name)
            .map(|i| Self::ALL[i])
    }

    /// Its position in arrays of 5.
    pub(crate) fn index(self) -> usize {
        usize::from(self as u8 - 1)
    }
}

impl TryFrom<u8> for ServiceKey {
    type Error = ModelError;

    fn try_from(number: u8) -> Result<Self, Self::Error> {
        Self::new(number).ok_or_else(|| {
            ModelError::validation(
                format!("service_key{number}"),
                "no such field: numbers run from 1 to 5",
            )
        })
    }
}

impl fmt::Display for ServiceKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.field_name())
    }
}
