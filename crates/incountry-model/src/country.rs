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

    /// Whether this is one of the 249 codes officially assigned by ISO 3166-1 alpha-2 (e.g.
    /// `us`, `de`; not `aa` or `zz`). A server can refuse other codes; the SDK does not.
    ///
    /// ```
    /// use incountry_model::Country;
    /// assert!(Country::new("DE")?.is_iso_3166_alpha2());
    /// assert!(!Country::new("aa")?.is_iso_3166_alpha2());
    /// # Ok::<(), incountry_model::ModelError>(())
    /// ```
    pub fn is_iso_3166_alpha2(&self) -> bool {
        ISO_3166_ALPHA2.binary_search(&self.0).is_ok()
    }

    /// The lower-case code, e.g. `"us"`.
    pub fn as_str(&self) -> &str {
        // Both bytes are ASCII letters by construction, so this never falls back.
        std::str::from_utf8(&self.0).unwrap_or("")
    }
}

/// The codes officially assigned by ISO 3166-1 alpha-2, lower-case and sorted.
const ISO_3166_ALPHA2: [[u8; 2]; 249] = [
    *b"ad", *b"ae", *b"af", *b"ag", *b"ai", *b"al", *b"am", *b"ao", *b"aq", *b"ar", *b"as", *b"at",
    *b"au", *b"aw", *b"ax", *b"az", *b"ba", *b"bb", *b"bd", *b"be", *b"bf", *b"bg", *b"bh", *b"bi",
    *b"bj", *b"bl", *b"bm", *b"bn", *b"bo", *b"bq", *b"br", *b"bs", *b"bt", *b"bv", *b"bw", *b"by",
    *b"bz", *b"ca", *b"cc", *b"cd", *b"cf", *b"cg", *b"ch", *b"ci", *b"ck", *b"cl", *b"cm", *b"cn",
    *b"co", *b"cr", *b"cu", *b"cv", *b"cw", *b"cx", *b"cy", *b"cz", *b"de", *b"dj", *b"dk", *b"dm",
    *b"do", *b"dz", *b"ec", *b"ee", *b"eg", *b"eh", *b"er", *b"es", *b"et", *b"fi", *b"fj", *b"fk",
    *b"fm", *b"fo", *b"fr", *b"ga", *b"gb", *b"gd", *b"ge", *b"gf", *b"gg", *b"gh", *b"gi", *b"gl",
    *b"gm", *b"gn", *b"gp", *b"gq", *b"gr", *b"gs", *b"gt", *b"gu", *b"gw", *b"gy", *b"hk", *b"hm",
    *b"hn", *b"hr", *b"ht", *b"hu", *b"id", *b"ie", *b"il", *b"im", *b"in", *b"io", *b"iq", *b"ir",
    *b"is", *b"it", *b"je", *b"jm", *b"jo", *b"jp", *b"ke", *b"kg", *b"kh", *b"ki", *b"km", *b"kn",
    *b"kp", *b"kr", *b"kw", *b"ky", *b"kz", *b"la", *b"lb", *b"lc", *b"li", *b"lk", *b"lr", *b"ls",
    *b"lt", *b"lu", *b"lv", *b"ly", *b"ma", *b"mc", *b"md", *b"me", *b"mf", *b"mg", *b"mh", *b"mk",
    *b"ml", *b"mm", *b"mn", *b"mo", *b"mp", *b"mq", *b"mr", *b"ms", *b"mt", *b"mu", *b"mv", *b"mw",
    *b"mx", *b"my", *b"mz", *b"na", *b"nc", *b"ne", *b"nf", *b"ng", *b"ni", *b"nl", *b"no", *b"np",
    *b"nr", *b"nu", *b"nz", *b"om", *b"pa", *b"pe", *b"pf", *b"pg", *b"ph", *b"pk", *b"pl", *b"pm",
    *b"pn", *b"pr", *b"ps", *b"pt", *b"pw", *b"py", *b"qa", *b"re", *b"ro", *b"rs", *b"ru", *b"rw",
    *b"sa", *b"sb", *b"sc", *b"sd", *b"se", *b"sg", *b"sh", *b"si", *b"sj", *b"sk", *b"sl", *b"sm",
    *b"sn", *b"so", *b"sr", *b"ss", *b"st", *b"sv", *b"sx", *b"sy", *b"sz", *b"tc", *b"td", *b"tf",
    *b"tg", *b"th", *b"tj", *b"tk", *b"tl", *b"tm", *b"tn", *b"to", *b"tr", *b"tt", *b"tv", *b"tw",
    *b"tz", *b"ua", *b"ug", *b"um", *b"us", *b"uy", *b"uz", *b"va", *b"vc", *b"ve", *b"vg", *b"vi",
    *b"vn", *b"vu", *b"wf", *b"ws", *b"ye", *b"yt", *b"za", *b"zm", *b"zw",
];

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

/// A country where the SDK takes a country as text (`impl Into<String>`).
impl From<Country> for String {
    fn from(country: Country) -> Self {
        country.as_str().to_owned()
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iso_codes_are_sorted_unique_and_recognised() {
        assert!(ISO_3166_ALPHA2.windows(2).all(|pair| pair[0] < pair[1]));
        for code in ["us", "DE", "gb", "ax", "zw", "ss", "bq"] {
            assert!(
                Country::new(code).is_ok_and(|c| c.is_iso_3166_alpha2()),
                "{code}"
            );
        }
        for code in ["aa", "zz", "uk", "xk", "eu", "qq"] {
            assert!(
                Country::new(code).is_ok_and(|c| !c.is_iso_3166_alpha2()),
                "{code}"
            );
        }
    }
}
