//! Dates as the InCountry API writes them.
//!
//! The official SDKs send dates in UTC in Python's `isoformat()` shape
//! (`2030-12-31T23:59:59.123456+00:00`, `2040-07-01T05:30:00+00:00`); servers and other SDKs
//! return them with milliseconds and `Z` (`...000Z`, Node.js), `+0000` (Java) or `+00:00`.
//! [`parse_date`] reads all of them; [`format_date`] writes the Python shape. Precision is
//! microseconds, as in the official SDKs: finer digits are dropped.

use chrono::{DateTime, Datelike, FixedOffset, SubsecRound, Timelike, Utc};

/// The years a date may fall in: what Python's `datetime` (and so the official SDKs) can hold.
pub(crate) const YEARS: std::ops::RangeInclusive<i32> = 1..=9999;

/// Why a date string could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "not an ISO 8601 date with a time and a UTC offset (e.g. 2030-01-01T00:00:00+00:00, ...000Z or ...000+0000)"
)]
pub struct DateParseError(());

/// Parses an ISO 8601 date-time with a UTC offset, in any of the shapes the official SDKs and
/// servers use, and converts it to UTC (microsecond precision).
///
/// A date without an offset is rejected: the instant it means would depend on the local zone.
///
/// ```
/// use incountry_model::{format_date, parse_date};
/// for text in [
///     "2021-01-01T05:30:00+05:30",
///     "2021-01-01T00:00:00.000Z",
///     "2021-01-01T00:00:00.000+0000",
/// ] {
///     assert_eq!(format_date(&parse_date(text)?), "2021-01-01T00:00:00+00:00");
/// }
/// assert!(parse_date("2021-01-01T00:00:00").is_err());
/// # Ok::<(), incountry_model::DateParseError>(())
/// ```
pub fn parse_date(text: &str) -> Result<DateTime<Utc>, DateParseError> {
    let text = text.trim();
    let parsed = DateTime::parse_from_rfc3339(text)
        .or_else(|_| DateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%S%.f%z"))
        .or_else(|_| DateTime::parse_from_str(text, "%Y-%m-%d %H:%M:%S%.f%z"))
        .map_err(|_| DateParseError(()))?;
    Ok(to_utc(parsed))
}

/// Converts a date to UTC with microsecond precision, as the official SDKs hold dates.
pub(crate) fn to_utc(date: DateTime<FixedOffset>) -> DateTime<Utc> {
    truncate(date.with_timezone(&Utc))
}

/// Drops digits finer than microseconds.
pub(crate) fn truncate(date: DateTime<Utc>) -> DateTime<Utc> {
    date.trunc_subsecs(6)
}

/// Writes a date as the official Python SDK sends it: UTC, `+00:00`, microseconds only when
/// non-zero.
///
/// ```
/// use incountry_model::{format_date, parse_date};
/// let date = parse_date("2030-12-31T23:59:59.123456Z")?;
/// assert_eq!(format_date(&date), "2030-12-31T23:59:59.123456+00:00");
/// # Ok::<(), incountry_model::DateParseError>(())
/// ```
pub fn format_date(date: &DateTime<Utc>) -> String {
    let micros = date.nanosecond() % 1_000_000_000 / 1_000;
    let mut out = format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}",
        date.year(),
        date.month(),
        date.day(),
        date.hour(),
        date.minute(),
        date.second()
    );
    if micros != 0 {
        out.push_str(&format!(".{micros:06}"));
    }
    out.push_str("+00:00");
    out
}

/// Whether `date` lies in the years the official SDKs can represent (1..=9999).
pub(crate) fn in_range(date: &DateTime<Utc>) -> bool {
    YEARS.contains(&date.year())
}

/// Serde for `DateTime<Utc>`: written by [`format_date`], read by [`parse_date`].
pub(crate) mod serde_date {
    use chrono::{DateTime, Utc};
    use serde::{Deserialize, Deserializer, Serializer};

    pub(crate) fn serialize<S: Serializer>(
        date: &DateTime<Utc>,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&super::format_date(date))
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<DateTime<Utc>, D::Error> {
        let text = String::deserialize(deserializer)?;
        super::parse_date(&text).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_three_sdk_shapes_and_offsets() {
        let want = "2021-01-01T00:00:00.123456+00:00";
        for text in [
            "2021-01-01T00:00:00.123456+00:00",
            "2021-01-01T00:00:00.123456Z",
            "2021-01-01T00:00:00.123456+0000",
            "2021-01-01T02:00:00.123456+02:00",
            "2021-01-01T02:00:00.123456789+0200",
        ] {
            assert_eq!(format_date(&parse_date(text).unwrap()), want, "{text}");
        }
        assert_eq!(
            format_date(&parse_date("2021-01-01T00:00:00.000Z").unwrap()),
            "2021-01-01T00:00:00+00:00"
        );
    }

    #[test]
    fn rejects_dates_without_offset_or_time() {
        for text in ["2021-01-01", "2021-01-01T00:00:00", "yesterday", ""] {
            assert!(parse_date(text).is_err(), "{text}");
        }
    }
}
