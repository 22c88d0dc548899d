//! Fuzzes what the SDK reads from a server: any bytes as a record (the read response), a find
//! response, an attachment's metadata and a `Content-Disposition` value. Parsing and
//! decoding may fail, with an error; they must never panic, and a record that decodes must
//! encode again.

#![no_main]

use std::sync::OnceLock;

use incountry_crypto::{Crypto, SecretsData};
use incountry_model::{AttachmentMeta, FindResponse, RecordCodec, WireRecord};
use libfuzzer_sys::fuzz_target;

/// A codec with a raw key (no key derivation, so each input runs fast).
fn codec() -> &'static RecordCodec {
    static CODEC: OnceLock<RecordCodec> = OnceLock::new();
    CODEC.get_or_init(|| {
        let secrets = SecretsData::from_json(
            r#"{"currentVersion": 1, "secrets": [{"secret": "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=", "version": 1, "isKey": true}]}"#,
        )
        .expect("valid secrets");
        RecordCodec::new("env", Crypto::new(secrets).expect("a crypto"))
    })
}

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = incountry_storage::parse_content_disposition(text);
    }
    let Ok(value) = serde_json::from_slice::<serde_json::Value>(data) else {
        return;
    };
    let _ = serde_json::from_value::<FindResponse>(value.clone());
    let _ = serde_json::from_value::<AttachmentMeta>(value.clone());
    let serde_json::Value::Object(map) = value else {
        return;
    };
    let Ok(wire) = WireRecord::from_json_map(map) else {
        return;
    };
    if let Ok(record) = codec().decode(&wire) {
        let _ = format!("{record:?}");
        if record.validate().is_ok() {
            codec()
                .encode(&record)
                .expect("a decoded, valid record encodes again");
        }
    }
});
