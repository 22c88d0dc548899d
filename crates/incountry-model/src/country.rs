//! Country codes: two ASCII letters, lower-cased.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::error::ModelError;

/// A country code as the InCountry API uses it: two ASCII letters, stored lower-case
/// (`"US"` and `"us"` are the same country).
///
/// ```
/// use incountry_model::Country;
/// let country: Country = "DE".parse()?;
/// assert_eq!(country.as_str(), "de");
/// assert!("deu".parse::<Country>().is_err());
/// # Ok::<(), incountry_model::ModelError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Country([u8; 2]);

impl Country {
    /// Parses a country code: exactly two ASCII letters, any case.
    pub fn new(code: &str) -> Result<Self, ModelError> {
        match code.as_bytes() {
            [a, b] if a.is_ascii_alphabetic() && b.is_ascii_alphabetic() => {
                Ok(Self([a.to_ascii_lowercase(), b.to_ascii_lowercase()]))
            }
            _ => Err(ModelError::validation(
                "country",
                "must be a two-letter code (two ASCII letters, e.g. \"us\")",
            )),
        }
    }

    /// The lower-case code, e.g. `"us"`.
    pub fn as_str(&self) -> &str {
        // Both bytes are ASCII letters by construction, so this never falls back.
        std::str::from_utf8(&self.0).unwrap_or("")
    }
}

impl FromStr for Country {
    type Err = ModelError;

    fn from_str(code: &str) -> Result<Self, Self::Err> {
        Self::new(code)
    }
}

impl TryFrom<&str> for Country {
    type Error = ModelError;

    fn try_from(code: &str) -> Result<Self, Self::Error> {
        Self::new(code)
    }
}

impl fmt::Display for Country {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl AsRef<str> for Country {
    fn as_ref(&self) -> &str {
        self.as_str()
    }
}

impl Serialize for Country {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for Country {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let code = String::deserialize(deserializer)?;
        Self::new(&code).map_err(serde::de::Error::custom)
    }
}
