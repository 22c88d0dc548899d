//! JSON read strictly: a document that names one member twice in an object is refused.
//!
//! `serde_json::from_slice::<Value>` keeps the last of two members with the same name, so
//! `{"key1": "a", "key1": "b"}` would quietly mean `{"key1": "b"}` to one reader and
//! `{"key1": "a"}` to another. [`parse_json_strict`] builds the same [`Value`] in the same
//! single pass, and fails at the first repeated name instead.

use std::fmt;

use serde::de::{DeserializeSeed, Deserializer, Error as _, MapAccess, SeqAccess, Visitor};
use serde_json::map::Entry;
use serde_json::{Map, Number, Value};

/// How much of a repeated member's name an error quotes.
const NAME_IN_ERROR_CHARS: usize = 64;

/// Parses a JSON document like `serde_json::from_slice::<Value>`, but refuses an object that
/// holds two members with the same name; the error names the member (its first 64
/// characters). Costs the same as `serde_json::from_slice` (one pass, no second tree).
///
/// ```
/// use incountry_model::parse_json_strict;
/// assert_eq!(parse_json_strict(br#"{"a": [1, {"b": null}]}"#)?["a"][1]["b"], serde_json::Value::Null);
/// let error = parse_json_strict(br#"{"a": {"b": 1, "b": 2}}"#).unwrap_err();
/// assert!(error.to_string().contains("duplicate member \"b\""));
/// # Ok::<(), serde_json::Error>(())
/// ```
pub fn parse_json_strict(bytes: &[u8]) -> Result<Value, serde_json::Error> {
    let mut deserializer = serde_json::Deserializer::from_slice(bytes);
    let value = StrictValue.deserialize(&mut deserializer)?;
    deserializer.end()?;
    Ok(value)
}

/// A [`Value`] whose objects have unique member names.
struct StrictValue;

impl<'de> DeserializeSeed<'de> for StrictValue {
    type Value = Value;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Value, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for StrictValue {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::Number(v.into()))
    }

    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::Number(v.into()))
    }

    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        // JSON has no NaN or infinity, so every parsed float is finite.
        Ok(Number::from_f64(v).map_or(Value::Null, Value::Number))
    }

    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_owned()))
    }

    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_some<D: Deserializer<'de>>(self, deserializer: D) -> Result<Value, D::Error> {
        deserializer.deserialize_any(self)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(4096));
        while let Some(item) = seq.next_element_seed(StrictValue)? {
            items.push(item);
        }
        Ok(Value::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut access: A) -> Result<Value, A::Error> {
        let mut members = Map::new();
        while let Some(name) = access.next_key::<String>()? {
            match members.entry(name) {
                Entry::Vacant(slot) => {
                    slot.insert(access.next_value_seed(StrictValue)?);
                }
                Entry::Occupied(taken) => {
                    let name = taken.key();
                    let shown: String = name.chars().take(NAME_IN_ERROR_CHARS).collect();
                    let more = if shown.len() < name.len() { "..." } else { "" };
                    return Err(A::Error::custom(format!(
                        "duplicate member \"{shown}{more}\""
                    )));
                }
            }
        }
        Ok(Value::Object(members))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builds_what_serde_json_builds() {
        let text = br#"{"s": "t\u00e9\"x", "i": -5, "u": 18446744073709551615, "f": 1.5e3,
            "n": null, "b": true, "l": [[], {}, [1, "2", {"x": [null]}]], "e": {}}"#;
        let loose: Value = serde_json::from_slice(text).unwrap();
        assert_eq!(parse_json_strict(text).unwrap(), loose);
    }

    #[test]
    fn refuses_a_repeated_member_at_any_depth() {
        for text in [
            r#"{"a": 1, "a": 1}"#,
            r#"{"a": {"b": 1, "c": 2, "b": 3}}"#,
            r#"[{"ok": 1}, {"x": null, "x": null}]"#,
        ] {
            let error = parse_json_strict(text.as_bytes()).unwrap_err();
            assert!(error.to_string().contains("duplicate member"), "{text}");
        }
        assert!(parse_json_strict(br#"[{"a": 1}, {"a": 1}]"#).is_ok());
    }

    #[test]
    fn quotes_at_most_64_characters_of_a_name() {
        let name = "n".repeat(1000);
        let text = format!(r#"{{"{name}": 1, "{name}": 2}}"#);
        let message = parse_json_strict(text.as_bytes()).unwrap_err().to_string();
        assert!(message.len() < 200, "{message}");
        assert!(message.contains(&format!("\"{}...\"", "n".repeat(64))));
    }

    #[test]
    fn refuses_what_serde_json_refuses() {
        for text in ["", "{", "[1,]", "{} x", "nul", r#"{"a" 1}"#] {
            assert!(parse_json_strict(text.as_bytes()).is_err(), "{text}");
        }
    }
}
