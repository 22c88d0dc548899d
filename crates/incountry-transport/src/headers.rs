//! The `User-Agent` of the SDK and the rules for custom per-request headers.

use http::header::{HeaderMap, HeaderName, HeaderValue};

/// The `User-Agent` this SDK sends: `SDK-Rust/<crate version>`.
pub const USER_AGENT: &str = concat!("SDK-Rust/", env!("CARGO_PKG_VERSION"));

/// The headers the SDK sets itself, which custom headers may not override (lower-case).
pub const RESERVED_HEADERS: [&str; 4] = ["authorization", "x-env-id", "user-agent", "content-type"];

/// The [`USER_AGENT`] as a header value.
pub fn user_agent() -> HeaderValue {
    HeaderValue::from_static(USER_AGENT)
}

/// Why a custom header was rejected. Messages name the header, never its value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum HeaderError {
    /// The header name is empty.
    #[error("custom header name must not be empty")]
    EmptyName,
    /// The header value is empty.
    #[error("custom header {name:?} must have a non-empty value")]
    EmptyValue {
        /// The header name.
        name: String,
    },
    /// The header name starts or ends with a space.
    #[error("custom header name {name:?} must not have leading or trailing whitespace")]
    NameWhitespace {
        /// The header name.
        name: String,
    },
    /// The header value starts or ends with a space.
    #[error("value of custom header {name:?} must not have leading or trailing whitespace")]
    ValueWhitespace {
        /// The header name.
        name: String,
    },
    /// The header is one the SDK sets itself.
    #[error("custom header {name:?} must not override a header the SDK sets ({reserved})")]
    Reserved {
        /// The header name.
        name: String,
        /// The reserved header names.
        reserved: &'static str,
    },
    /// The name is not a valid HTTP header name.
    #[error("custom header name {name:?} is not a valid HTTP header name")]
    InvalidName {
        /// The header name.
        name: String,
    },
    /// The value is not a valid HTTP header value (e.g. it contains a line break).
    #[error("value of custom header {name:?} is not a valid HTTP header value")]
    InvalidValue {
        /// The header name.
        name: String,
    },
}

/// Checks one custom header and converts it to its HTTP form.
pub fn custom_header(name: &str, value: &str) -> Result<(HeaderName, HeaderValue), HeaderError> {
    if name.is_empty() {
        return Err(HeaderError::EmptyName);
    }
    let owned = || name.to_owned();
    if name.trim() != name {
        return Err(HeaderError::NameWhitespace { name: owned() });
    }
    if value.is_empty() {
        return Err(HeaderError::EmptyValue { name: owned() });
    }
    if value.trim() != value {
        return Err(HeaderError::ValueWhitespace { name: owned() });
    }
    if RESERVED_HEADERS
        .iter()
        .any(|reserved| reserved.eq_ignore_ascii_case(name))
    {
        return Err(HeaderError::Reserved {
            name: owned(),
            reserved: "authorization, x-env-id, user-agent, content-type",
        });
    }
    let header_name = HeaderName::from_bytes(name.as_bytes())
        .map_err(|_| HeaderError::InvalidName { name: owned() })?;
    let header_value =
        HeaderValue::from_str(value).map_err(|_| HeaderError::InvalidValue { name: owned() })?;
    Ok((header_name, header_value))
}

/// Checks a set of custom headers and collects them into a [`HeaderMap`].
///
/// The first invalid header fails the whole set. A name given twice keeps both values.
pub fn custom_headers<I, K, V>(headers: I) -> Result<HeaderMap, HeaderError>
where
    I: IntoIterator<Item = (K, V)>,
    K: AsRef<str>,
    V: AsRef<str>,
{
    let mut map = HeaderMap::new();
    for (name, value) in headers {
        let (name, value) = custom_header(name.as_ref(), value.as_ref())?;
        map.append(name, value);
    }
    Ok(map)
}
