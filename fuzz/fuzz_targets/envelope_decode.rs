//! Fuzzes `Body::decode`: it never fails, keeps non-envelopes as they are, and every decoded
//! envelope serialises (`to_json`, the Python SDK's format) to text that decodes back to it.

#![no_main]

use incountry_crypto::Body;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match Body::decode(text) {
        Body::Raw(raw) => assert_eq!(raw, text, "raw body altered"),
        Body::Envelope(envelope) => {
            let json = envelope.to_json();
            assert!(
                json.is_ascii(),
                "to_json must escape non-ASCII like json.dumps"
            );
            assert_eq!(
                Body::decode(&json),
                Body::Envelope(envelope.clone()),
                "to_json does not decode back to the same envelope"
            );
            for (key, value) in envelope.meta() {
                // `meta` members are unique (a JSON object), so lookup finds each one.
                assert_eq!(envelope.meta_value(key), Some(value.as_str()));
            }
            if let Some(key) = envelope.legacy_record_key() {
                assert!(!key.is_empty());
            }
            let _ = envelope.payload();
            let _ = format!("{envelope:?}");
        }
    }
});
