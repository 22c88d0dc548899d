//! The wire types against the recorded exchanges of the official Python SDK 4.1.0
//! (`wire-python-4.1.0.jsonl`), and their shapes in both directions.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::error::Error as _;

use incountry_crypto::{Crypto, SecretsData};
use incountry_model::{
    AttachmentMeta, AttachmentMetaUpdate, BatchDeleteRequest, BatchWriteRequest,
    BatchWriteResponse, Country, FindFilter, FindMeta, FindOptions, FindRequest, FindResponse,
    ModelError, Record, RecordCodec, SearchKey, ServerRecord, Sort, WIRE_RECORD_FIELDS, WireRecord,
};
use incountry_test_support::load_json_lines;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

/// Parses `value` as `T` and checks that it serialises back to the same JSON. (Member order
/// of records follows the caller's order in the official SDK, so it is not compared.)
#[track_caller]
fn round_trips<T: Serialize + DeserializeOwned>(value: &Value) -> T {
    let parsed: T = serde_json::from_value(value.clone()).unwrap();
    assert_eq!(&serde_json::to_value(&parsed).unwrap(), value);
    parsed
}

/// What kind of exchange a recorded request is, from its method and path.
fn route(method: &str, path: &str) -> &'static str {
    let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    match (method, segments.as_slice()) {
        ("POST", ["v2", "storage", "records", _]) => "write",
        ("POST", ["v2", "storage", "records", _, "batchWrite"]) => "batch write",
        ("POST", ["v2", "storage", "records", _, "batchDelete"]) => "batch delete",
        ("POST", ["v2", "storage", "records", _, "find"]) => "find",
        ("GET", ["v2", "storage", "records", _, _]) => "read",
        ("GET" | "PATCH", [.., "attachments", _, "meta"]) => "attachment meta",
        ("POST" | "PUT", [.., "attachments"]) => "attachment meta",
        _ => "other",
    }
}

#[test]
fn recorded_requests_and_responses_fit_the_wire_types() {
    let exchanges = load_json_lines("wire-python-4.1.0.jsonl");
    let mut checked = std::collections::BTreeMap::<&str, usize>::new();
    for exchange in &exchanges {
        let method = exchange["method"].as_str().unwrap();
        let path = exchange["path"].as_str().unwrap();
        let request = &exchange["body"];
        let status = exchange["response"]["status"].as_u64().unwrap();
        let response = &exchange["response"]["body"];
        let ok = (200..300).contains(&status);
        let kind = route(method, path);
        match kind {
            "write" => {
                round_trips::<WireRecord>(request).validate().unwrap();
                if ok {
                    serde_json::from_value::<ServerRecord>(response.clone()).unwrap();
                }
            }
            "batch write" => {
                round_trips::<BatchWriteRequest>(request)
                    .validate()
                    .unwrap();
                if ok {
                    serde_json::from_value::<BatchWriteResponse>(response.clone()).unwrap();
                }
            }
            "batch delete" => {
                round_trips::<BatchDeleteRequest>(request);
            }
            "find" => {
                let find: FindRequest = round_trips(request);
                // Filters and options keep their member order exactly.
                assert_eq!(serde_json::to_string(&find).unwrap(), request.to_string());
                // The hashed wire filter reads back into a valid FindFilter, as a server reads it.
                let filter = find.to_find_filter().unwrap();
                assert_eq!(
                    u64::from(filter.page_limit()),
                    request["options"]["limit"].as_u64().unwrap()
                );
                if ok {
                    let page: FindResponse = serde_json::from_value(response.clone()).unwrap();
                    assert_eq!(page.meta.count, page.data.len() as u64);
                }
            }
            "read" if ok => {
                let record: ServerRecord = serde_json::from_value(response.clone()).unwrap();
                assert!(record.0.record_key.is_some());
            }
            "attachment meta" => {
                if method == "PATCH" {
                    let update: AttachmentMetaUpdate = round_trips(request);
                    update.validate().unwrap();
                }
                if ok {
                    let meta: AttachmentMeta = serde_json::from_value(response.clone()).unwrap();
                    meta.validate().unwrap();
                    // Dates are re-written in the Python shape; they stay the same instants.
                    let again: AttachmentMeta =
                        serde_json::from_value(serde_json::to_value(&meta).unwrap()).unwrap();
                    assert_eq!(again, meta);
                }
            }
            _ => continue,
        }
        *checked.entry(kind).or_default() += 1;
    }
    for kind in ["write", "batch write", "find", "read", "attachment meta"] {
        assert!(
            checked.get(kind).copied().unwrap_or(0) > 0,
            "no {kind} exchange checked"
        );
    }
}

#[test]
fn a_server_record_writes_every_present_member_as_the_record_does() {
    let mut wire = WireRecord::default();
    wire.record_key = Some("hash".into());
    for (i, member) in wire.text_members_mut().into_iter().enumerate() {
        *member = Some(format!("text-{i}"));
    }
    for (i, key) in wire.range_keys_mut().into_iter().enumerate() {
        *key = Some(i64::try_from(i).unwrap() - 3);
    }
    wire.expires_at = Some("2030-01-01T00:00:00.000+00:00".into());
    wire.version = Some(7);
    wire.is_encrypted = Some(true);
    wire.created_at = Some("2026-01-01T00:00:00.000+00:00".into());
    wire.updated_at = Some("2026-01-02T00:00:00.000+00:00".into());
    wire.attachments = Some(Vec::new());
    let server = serde_json::to_value(ServerRecord(wire.clone())).unwrap();
    let sent = serde_json::to_value(&wire).unwrap();
    // Every member is present when sent, so both shapes are the same object.
    assert_eq!(server, sent);
    assert_eq!(
        server.as_object().unwrap().keys().collect::<Vec<_>>(),
        WIRE_RECORD_FIELDS
    );
    // The accessors follow the wire order.
    assert_eq!(server["body"], "text-0");
    assert_eq!(server["key1"], "text-9");
    assert_eq!(server["key20"], "text-28");
    assert_eq!(server["range_key1"], -3);
    assert_eq!(server["range_key10"], 6);
}

#[test]
fn a_server_record_writes_every_member_null_when_absent() {
    let mut wire = WireRecord::default();
    wire.record_key = Some("hash".into());
    wire.range_key3 = Some(-5);
    let json = serde_json::to_value(ServerRecord(wire.clone())).unwrap();
    let members = json.as_object().unwrap();
    assert_eq!(members.len(), WIRE_RECORD_FIELDS.len());
    assert_eq!(
        members.keys().map(String::as_str).collect::<Vec<_>>(),
        WIRE_RECORD_FIELDS
    );
    assert_eq!(json["record_key"], "hash");
    assert_eq!(json["range_key3"], -5);
    assert_eq!(json["key20"], Value::Null);
    assert_eq!(json["attachments"], Value::Null);
    // And it reads back, as do records with members missing.
    assert_eq!(
        serde_json::from_value::<ServerRecord>(json).unwrap().0,
        wire
    );
    // A sent record omits absent members.
    assert_eq!(
        serde_json::to_value(&wire).unwrap(),
        json!({"record_key": "hash", "range_key3": -5})
    );
}

#[test]
fn wire_records_ignore_unknown_members_and_reject_wrong_types() {
    let legacy: WireRecord =
        serde_json::from_value(json!({"key": "h", "range_key": 1, "record_key": "r"})).unwrap();
    assert_eq!(legacy.record_key.as_deref(), Some("r"));
    assert!(serde_json::from_value::<WireRecord>(json!({"range_key1": "1"})).is_err());
    assert!(serde_json::from_value::<WireRecord>(json!({"version": -1})).is_err());
}

#[test]
fn find_options_send_sort_only_when_non_empty() {
    let codec = RecordCodec::new("env", Crypto::plaintext());
    let plain = codec.find_options(&FindFilter::new());
    assert_eq!(
        serde_json::to_value(&plain).unwrap(),
        json!({"limit": 100, "offset": 0})
    );
    let sorted = codec.find_options(
        &FindFilter::new()
            .sort(Sort::desc(SearchKey::Key2))
            .offset(7)
            .limit(3),
    );
    assert_eq!(
        serde_json::to_value(&sorted).unwrap(),
        json!({"limit": 3, "offset": 7, "sort": [{"key2": "desc"}]})
    );
    assert_eq!(
        serde_json::from_value::<FindOptions>(json!({})).unwrap(),
        plain
    );
}

#[test]
fn find_responses_read_and_write_their_shape() {
    let body = json!({
        "data": [{"record_key": "h", "body": null, "version": 0}],
        "meta": {"count": 1, "limit": 100, "offset": 0, "total": 7}
    });
    let page: FindResponse = serde_json::from_value(body).unwrap();
    assert_eq!(page.meta, FindMeta::new(1, 100, 0, 7));
    let written = serde_json::to_value(&page).unwrap();
    assert_eq!(
        written["data"][0].as_object().unwrap().len(),
        WIRE_RECORD_FIELDS.len()
    );
    assert!(
        serde_json::from_value::<FindResponse>(
            json!({"data": [], "meta": {"count": -1, "limit": 1, "offset": 0, "total": 0}})
        )
        .is_err()
    );
}

#[test]
fn batch_delete_sends_record_key_hashes() {
    let request = BatchDeleteRequest::by_record_keys(vec!["a".into(), "b".into()]);
    assert_eq!(
        serde_json::to_value(&request).unwrap(),
        json!({"filter": {"record_key": ["a", "b"]}})
    );
}

#[test]
fn countries_serialise_lower_case() {
    let country: Country = serde_json::from_value(json!("DE")).unwrap();
    assert_eq!(serde_json::to_value(country).unwrap(), json!("de"));
    assert_eq!(country.to_string(), "de");
}

#[test]
fn undecodable_server_records_are_response_errors_naming_the_member() {
    let codec = RecordCodec::new("env", Crypto::plaintext());
    let mut wire = codec.encode(&Record::new("k")).unwrap();
    wire.created_at = Some("yesterday".into());
    let err = codec.decode(&wire).unwrap_err();
    assert!(matches!(err, ModelError::InvalidResponse { .. }), "{err:?}");
    assert_eq!(err.field(), Some("created_at"));

    let mut wire = codec.encode(&Record::new("k")).unwrap();
    wire.record_key = None;
    wire.body = None;
    let err = codec.decode(&wire).unwrap_err();
    assert_eq!(err.field(), Some("record_key"), "{err}");
}

#[test]
fn crypto_failures_keep_their_source() {
    let writer = RecordCodec::new(
        "env",
        Crypto::new(SecretsData::from_password("one password").unwrap()).unwrap(),
    );
    let reader = RecordCodec::new(
        "env",
        Crypto::new(SecretsData::from_password("another password").unwrap()).unwrap(),
    );
    let wire = writer
        .encode(&Record::new("k").with_body("secret body"))
        .unwrap();
    let err = reader.decode(&wire).unwrap_err();
    assert!(matches!(err, ModelError::Decrypt(_)), "{err:?}");
    let source = err.source().expect("a source");
    assert_eq!(
        source.to_string(),
        "decryption failed: wrong key or corrupted data"
    );
    assert!(!err.to_string().contains("secret body"));

    // Data encrypted with secrets cannot be read in no-encryption mode.
    let plain = RecordCodec::new("env", Crypto::plaintext());
    assert!(matches!(plain.decode(&wire), Err(ModelError::Decrypt(_))));
}

#[test]
fn dates_are_written_in_utc_as_python_writes_them() {
    let codec = RecordCodec::new("env", Crypto::plaintext());
    let when = chrono::DateTime::parse_from_rfc3339("2030-12-31T23:59:59.123456789-01:00").unwrap();
    let wire = codec
        .encode(&Record::new("k").with_expires_at(when))
        .unwrap();
    assert_eq!(
        wire.expires_at.as_deref(),
        Some("2031-01-01T00:59:59.123456+00:00")
    );
}

#[test]
fn attachments_of_a_returned_record_are_typed_and_checked() {
    let codec = RecordCodec::new("env", Crypto::plaintext());
    let meta = json!({
        "file_id": "f1", "filename": "a.txt", "hash": "", "mime_type": "text/plain", "size": 3,
        "created_at": "2021-01-01T00:00:00.000+0000", "updated_at": "2021-01-01T00:00:00.000Z",
        "download_link": "https://example.test/f1"
    });
    let mut wire = codec.encode(&Record::new("k")).unwrap();
    wire.attachments = Some(vec![serde_json::from_value(meta.clone()).unwrap()]);
    let record = codec.decode(&wire).unwrap();
    assert_eq!(record.attachments().len(), 1);
    assert_eq!(record.attachments()[0].size, 3);

    let mut bad = meta;
    bad["file_id"] = json!("");
    wire.attachments = Some(vec![serde_json::from_value(bad).unwrap()]);
    let err = codec.decode(&wire).unwrap_err();
    assert!(matches!(err, ModelError::InvalidResponse { .. }), "{err:?}");
    assert_eq!(err.field(), Some("attachments[0].file_id"));
}

#[test]
fn a_server_checks_batch_size_and_records() {
    let record = |key: Option<&str>| {
        let mut wire = WireRecord::default();
        wire.record_key = key.map(str::to_owned);
        wire.body = Some("pt:e30=".into());
        wire
    };
    let err = BatchWriteRequest::new(vec![]).validate().unwrap_err();
    assert_eq!(err.field(), Some("records"));
    let err = BatchWriteRequest::new(vec![record(Some("h")); 101])
        .validate()
        .unwrap_err();
    assert_eq!(err.field(), Some("records"));
    let err = BatchWriteRequest::new(vec![record(Some("h")), record(None)])
        .validate()
        .unwrap_err();
    assert_eq!(err.field(), Some("records[1].record_key"));
    assert!(
        BatchWriteRequest::new(vec![record(Some("h")); 100])
            .validate()
            .is_ok()
    );
}

#[test]
fn a_server_rejects_invalid_find_options() {
    let request: FindRequest = serde_json::from_value(json!({
        "filter": {"key1": "h"},
        "options": {"limit": 0, "offset": 0}
    }))
    .unwrap();
    assert_eq!(request.to_find_filter().unwrap_err().field(), Some("limit"));
    let request: FindRequest = serde_json::from_value(json!({
        "filter": {"key1": "h"},
        "options": {"limit": 10, "offset": 0, "sort": [{"key1": "asc"}, {"key1": "desc"}]}
    }))
    .unwrap();
    assert_eq!(
        request.to_find_filter().unwrap_err().field(),
        Some("sort[1]")
    );
    assert!(
        serde_json::from_value::<FindRequest>(
            json!({"filter": {}, "options": {"sort": [{"body": "asc"}]}})
        )
        .is_err()
    );
}
