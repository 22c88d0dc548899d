//! The ciphertext string format: `<version-tag>:<payload>`.
//!
//! | tag | payload |
//! |---|---|
//! | `2` | base64 of `salt(64) ‖ iv(12) ‖ ciphertext ‖ tag(16)` (current default) |
//! | `1` | lowercase hex of the same layout (legacy, decrypt only) |
//! | `pt` | base64 of the UTF-8 plaintext (no encryption) |
//! | `c` + base64(name) | base64 of the string a custom cipher returned |

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

use crate::error::FormatError;
use crate::kdf::SALT_LENGTH;

/// Length of the AES-GCM nonce (IV) stored after the salt.
pub const IV_LENGTH: usize = 12;
/// Length of the AES-GCM authentication tag stored at the end of the payload.
pub const TAG_LENGTH: usize = 16;
/// The shortest valid payload of the `2` and `1` formats: salt, IV and tag with no ciphertext.
pub const MIN_PAYLOAD_LENGTH: usize = SALT_LENGTH + IV_LENGTH + TAG_LENGTH;

pub(crate) const TAG_V2: &str = "2";
pub(crate) const TAG_V1: &str = "1";
pub(crate) const TAG_PLAIN: &str = "pt";
pub(crate) const CUSTOM_PREFIX: &str = "c";

/// The format of a ciphertext string, read from its version tag.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Format {
    /// `pt:`: base64 of the plaintext, not encrypted.
    Plain,
    /// `1:`: AES-256-GCM, hex payload (legacy, decrypt only).
    V1,
    /// `2:`: AES-256-GCM, base64 payload (the default).
    V2,
    /// `c<base64(name)>:`: written by the custom cipher with this version name.
    Custom(String),
}

impl Format {
    /// Reads the format of `ciphertext` without decoding its payload.
    ///
    /// ```
    /// use incountry_crypto::Format;
    /// assert_eq!(Format::of("pt:aGk=").unwrap(), Format::Plain);
    /// assert_eq!(Format::of("cbXktY2lwaGVy:eA==").unwrap(), Format::Custom("my-cipher".into()));
    /// assert!(Format::of("no separator").is_err());
    /// ```
    pub fn of(ciphertext: &str) -> Result<Self, FormatError> {
        let (tag, _) = split(ciphertext)?;
        parse_tag(tag)
    }
}

/// Splits `tag:payload`, requiring exactly one `:` as the official Python and Node SDKs do.
pub(crate) fn split(ciphertext: &str) -> Result<(&str, &str), FormatError> {
    let mut parts = ciphertext.split(':');
    match (parts.next(), parts.next(), parts.next()) {
        (Some(tag), Some(payload), None) => Ok((tag, payload)),
        _ => Err(FormatError::Structure),
    }
}

pub(crate) fn parse_tag(tag: &str) -> Result<Format, FormatError> {
    match tag {
        TAG_V2 => Ok(Format::V2),
        TAG_V1 => Ok(Format::V1),
        TAG_PLAIN => Ok(Format::Plain),
        _ => match tag.strip_prefix(CUSTOM_PREFIX) {
            Some(encoded) if !encoded.is_empty() => STANDARD
                .decode(encoded)
                .ok()
                .and_then(|bytes| String::from_utf8(bytes).ok())
                .map(Format::Custom)
                .ok_or_else(|| unknown(tag)),
            _ => Err(unknown(tag)),
        },
    }
}

fn unknown(tag: &str) -> FormatError {
    FormatError::UnknownVersion {
        tag: tag.chars().take(32).collect(),
    }
}

/// The version tag of a custom cipher's ciphertexts: `c` followed by base64 of its name.
pub(crate) fn custom_tag(version: &str) -> String {
    format!("{CUSTOM_PREFIX}{}", STANDARD.encode(version.as_bytes()))
}

pub(crate) fn decode_base64(payload: &str) -> Result<Vec<u8>, FormatError> {
    STANDARD.decode(payload).map_err(|_| FormatError::Base64)
}

pub(crate) fn encode_base64(bytes: &[u8]) -> String {
    STANDARD.encode(bytes)
}

pub(crate) fn decode_hex(payload: &str) -> Result<Vec<u8>, FormatError> {
    hex::decode(payload).map_err(|_| FormatError::Hex)
}

/// A decoded `2`/`1` payload, split into its parts.
pub(crate) struct Sealed<'a> {
    pub(crate) salt: &'a [u8],
    pub(crate) iv: &'a [u8],
    /// The AES-GCM ciphertext followed by its 16-byte tag.
    pub(crate) ciphertext_and_tag: &'a [u8],
}

pub(crate) fn unpack(blob: &[u8]) -> Result<Sealed<'_>, FormatError> {
    if blob.len() < MIN_PAYLOAD_LENGTH {
        return Err(FormatError::TooShort {
            len: blob.len(),
            min: MIN_PAYLOAD_LENGTH,
        });
    }
    let (salt, rest) = blob.split_at(SALT_LENGTH);
    let (iv, ciphertext_and_tag) = rest.split_at(IV_LENGTH);
    Ok(Sealed {
        salt,
        iv,
        ciphertext_and_tag,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exactly_one_separator_is_required() {
        assert_eq!(split("2:abc"), Ok(("2", "abc")));
        assert_eq!(split("2abc"), Err(FormatError::Structure));
        assert_eq!(split("2:a:b"), Err(FormatError::Structure));
        assert_eq!(split(""), Err(FormatError::Structure));
    }

    #[test]
    fn legacy_version_zero_tags_are_unknown() {
        assert!(matches!(
            parse_tag("0"),
            Err(FormatError::UnknownVersion { .. })
        ));
        assert!(matches!(
            parse_tag("c"),
            Err(FormatError::UnknownVersion { .. })
        ));
        assert!(matches!(
            parse_tag("c!!"),
            Err(FormatError::UnknownVersion { .. })
        ));
    }

    #[test]
    fn custom_tags_pack_the_version_name_in_base64() {
        assert_eq!(custom_tag("some cipher"), "cc29tZSBjaXBoZXI=");
        assert_eq!(
            parse_tag("cc29tZSBjaXBoZXI="),
            Ok(Format::Custom("some cipher".into()))
        );
    }
}
