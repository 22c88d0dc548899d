//! The record body envelope: `{"meta": {...}, "payload": ...}`.
//!
//! Before encryption a record's body is wrapped together with the original (unhashed) values of
//! its hashed keys, so a reader can restore them. [`Envelope::to_json`] writes exactly what the
//! official Python SDK writes (`json.dumps`: `", "` and `": "` separators, non-ASCII escaped);
//! [`Body::decode`] reads what every official SDK has written, including legacy shapes.

use std::fmt::Write as _;

use serde_json::{Map, Value};

/// The record members whose original values travel in the envelope's `meta`, in the order the
/// official SDKs write them.
pub const ENVELOPE_KEYS: [&str; 28] = [
    "record_key",
    "profile_key",
    "service_key1",
    "service_key2",
    "service_key3",
    "service_key4",
    "service_key5",
    "parent_key",
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
];

/// The legacy meta member that older SDKs used for the record key.
const LEGACY_RECORD_KEY: &str = "key";

/// A decoded or to-be-encoded body envelope.
#[derive(Clone, PartialEq, Eq, Default)]
pub struct Envelope {
    meta: Vec<(String, String)>,
    payload: Option<String>,
}

impl std::fmt::Debug for Envelope {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Key values and payload are personal data: show only which members are present.
        let names: Vec<&str> = self.meta.iter().map(|(k, _)| k.as_str()).collect();
        f.debug_struct("Envelope")
            .field("meta_keys", &names)
            .field("has_payload", &self.payload.is_some())
            .finish()
    }
}

impl Envelope {
    /// An envelope around `payload` (the record's body, if any) with no meta yet.
    pub fn new(payload: Option<String>) -> Self {
        Self {
            meta: Vec::new(),
            payload,
        }
    }

    /// Adds the original value of a hashed key; members keep the order they are added in.
    pub fn push_meta(&mut self, key: impl Into<String>, value: impl Into<String>) {
        self.meta.push((key.into(), value.into()));
    }

    /// The `meta` members with string values, in order.
    pub fn meta(&self) -> &[(String, String)] {
        &self.meta
    }

    /// The original value of `key` stored in `meta`, if any.
    pub fn meta_value(&self, key: &str) -> Option<&str> {
        self.meta
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// The record key an older SDK stored as `meta.key`, when present and non-empty.
    pub fn legacy_record_key(&self) -> Option<&str> {
        self.meta_value(LEGACY_RECORD_KEY).filter(|k| !k.is_empty())
    }

    /// The record's body (`payload`), `None` when null or absent.
    pub fn payload(&self) -> Option<&str> {
        self.payload.as_deref()
    }

    /// Serialises the envelope the way the official Python SDK does (`json.dumps` defaults).
    ///
    /// ```
    /// use incountry_crypto::Envelope;
    /// let mut envelope = Envelope::new(Some("café".into()));
    /// envelope.push_meta("record_key", "k1");
    /// assert_eq!(envelope.to_json(), r#"{"meta": {"record_key": "k1"}, "payload": "caf\u00e9"}"#);
    /// ```
    pub fn to_json(&self) -> String {
        let mut out = String::with_capacity(64 + self.payload.as_ref().map_or(0, String::len));
        out.push_str("{\"meta\": {");
        for (i, (key, value)) in self.meta.iter().enumerate() {
            if i > 0 {
                out.push_str(", ");
            }
            push_python_json_string(&mut out, key);
            out.push_str(": ");
            push_python_json_string(&mut out, value);
        }
        out.push_str("}, \"payload\": ");
        match &self.payload {
            Some(payload) => push_python_json_string(&mut out, payload),
            None => out.push_str("null"),
        }
        out.push('}');
        out
    }
}

/// A decrypted record body: an envelope, or text that is not one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Body {
    /// A JSON object: the envelope written by an SDK.
    Envelope(Envelope),
    /// Anything else (not JSON, or JSON that is not an object), returned as is.
    Raw(String),
}

impl Body {
    /// Reads a decrypted body. Never fails: what is not an envelope is [`Body::Raw`].
    ///
    /// Accepted envelope shapes: members in any order; `meta` missing, an object, or (as an old
    /// Java SDK wrote it) a string holding a JSON object; non-string meta members ignored;
    /// `payload` missing or null (no body), a string, or other JSON (kept as compact JSON text).
    ///
    /// ```
    /// use incountry_crypto::Body;
    /// let Body::Envelope(envelope) = Body::decode(r#"{"payload":"<body>","meta":{"key":"<key>"}}"#)
    /// else { panic!("an envelope") };
    /// assert_eq!(envelope.payload(), Some("<body>"));
    /// assert_eq!(envelope.legacy_record_key(), Some("<key>"));
    /// assert_eq!(Body::decode("not json"), Body::Raw("not json".into()));
    /// ```
    pub fn decode(plaintext: &str) -> Self {
        match serde_json::from_str::<Value>(plaintext) {
            Ok(Value::Object(object)) => Body::Envelope(envelope_from_object(&object)),
            _ => Body::Raw(plaintext.to_owned()),
        }
    }
}

fn envelope_from_object(object: &Map<String, Value>) -> Envelope {
    let meta = match object.get("meta") {
        Some(Value::Object(meta)) => string_members(meta),
        Some(Value::String(text)) => match serde_json::from_str::<Value>(text) {
            Ok(Value::Object(meta)) => string_members(&meta),
            _ => Vec::new(),
        },
        _ => Vec::new(),
    };
    let payload = match object.get("payload") {
        None | Some(Value::Null) => None,
        Some(Value::String(text)) => Some(text.clone()),
        Some(other) => Some(other.to_string()),
    };
    Envelope { meta, payload }
}

fn string_members(meta: &Map<String, Value>) -> Vec<(String, String)> {
    meta.iter()
        .filter_map(|(k, v)| v.as_str().map(|v| (k.clone(), v.to_owned())))
        .collect()
}

/// Appends `text` as a JSON string exactly as Python's `json.dumps` (with `ensure_ascii`) does.
fn push_python_json_string(out: &mut String, text: &str) {
    out.push('"');
    for ch in text.chars() {
        match ch {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            ' '..='~' => out.push(ch),
            _ => {
                let mut units = [0u16; 2];
                for unit in ch.encode_utf16(&mut units) {
                    // Writing to a String cannot fail.
                    let _ = write!(out, "\\u{unit:04x}");
                }
            }
        }
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn python_escaping_covers_controls_non_ascii_and_astral() {
        let mut out = String::new();
        push_python_json_string(&mut out, "a\"\\\n\r\t\u{8}\u{c}\u{0}\u{1f}\u{7f}é😀");
        assert_eq!(
            out,
            r#""a\"\\\n\r\t\b\f\u0000\u001f\u007f\u00e9\ud83d\ude00""#
        );
    }

    #[test]
    fn encoded_envelopes_parse_back() {
        let mut envelope = Envelope::new(Some("{\"n\": 1}".into()));
        envelope.push_meta("record_key", "Ключ 🔑");
        envelope.push_meta("key1", "x");
        assert_eq!(
            Body::decode(&envelope.to_json()),
            Body::Envelope(envelope.clone())
        );
        let empty = Envelope::new(None);
        assert_eq!(empty.to_json(), r#"{"meta": {}, "payload": null}"#);
    }

    #[test]
    fn meta_as_a_json_string_is_read() {
        let Body::Envelope(envelope) = Body::decode(
            r#"{"payload":"test","meta":"{\"key\":\"k\",\"key2\":\"v2\",\"range_key\":1}"}"#,
        ) else {
            panic!("expected an envelope");
        };
        assert_eq!(envelope.legacy_record_key(), Some("k"));
        assert_eq!(envelope.meta_value("key2"), Some("v2"));
        assert_eq!(envelope.meta_value("range_key"), None);
    }

    #[test]
    fn json_that_is_not_an_object_is_raw() {
        for text in ["123", "\"text\"", "[1,2]", "null", ""] {
            assert_eq!(Body::decode(text), Body::Raw(text.into()));
        }
    }
}
