//! Every method against an in-memory point of presence: success and failure paths.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

use chrono::{TimeZone, Utc};
use incountry_storage::{
    AttachmentSource, ErrorKind, FindFilter, RangeKey, Record, SearchKey, SecretsData, ServiceKey,
    Storage, StorageError,
};
use serde_json::json;
use support::{FakePop, builder, password_secrets, storage, two_versions};

fn full_record(key: &str) -> Record {
    Record::new(key)
        .with_body("{\"name\": \"Jane\"}")
        .with_precommit_body("pre")
        .with_profile_key("profile")
        .with_parent_key("parent")
        .with_service_key(ServiceKey::ServiceKey1, "svc")
        .with_key(SearchKey::Key1, "english")
        .with_key(SearchKey::Key20, "twenty")
        .with_range_key(RangeKey::RangeKey1, 42)
        .with_range_key(RangeKey::RangeKey10, -7)
        .with_expires_at(Utc.with_ymd_and_hms(2030, 1, 1, 0, 0, 0).unwrap())
}

#[tokio::test]
async fn write_then_read_round_trips_every_field() {
    let pop = FakePop::new();
    let storage = storage(&pop).await;
    let written = storage.write("US", full_record("k1")).await.unwrap();
    assert_eq!(written.body(), Some("{\"name\": \"Jane\"}"));
    let read = storage.read("us", "k1").await.unwrap();
    assert_eq!(read.body(), Some("{\"name\": \"Jane\"}"));
    assert_eq!(read.precommit_body(), Some("pre"));
    assert_eq!(read.key(SearchKey::Key20), Some("twenty"));
    assert_eq!(read.range_key(RangeKey::RangeKey10), Some(-7));
    assert_eq!(read.expires_at(), full_record("k1").expires_at());
    let sent = pop.seen()[0].clone();
    assert_eq!(sent.method, "POST");
    assert_eq!(sent.path, "/v2/storage/records/us");
    assert_eq!(sent.headers["authorization"], "Bearer test-token");
    assert_eq!(sent.headers["x-env-id"], support::ENV_ID);
    assert_eq!(sent.headers["content-type"], "application/json");
    assert!(
        sent.headers["user-agent"]
            .to_str()
            .unwrap()
            .starts_with("SDK-Rust/")
    );
    let body = sent.json();
    assert!(body["body"].as_str().unwrap().starts_with("2:"));
    assert_ne!(body["key1"], json!("english"));
    assert_eq!(body["version"], json!(1));
    assert_eq!(body["is_encrypted"], json!(true));
    assert_eq!(body["expires_at"], json!("2030-01-01T00:00:00+00:00"));
}

#[tokio::test]
async fn custom_headers_are_sent_with_the_call() {
    let pop = FakePop::new();
    let storage = storage(&pop).await;
    storage
        .write("us", Record::new("k"))
        .header("x-request-id", "abc")
        .await
        .unwrap();
    assert_eq!(pop.last().headers["x-request-id"], "abc");
    storage
        .read("us", "k")
        .header("x-a", "1")
        .header("x-b", "2")
        .await
        .unwrap();
    assert_eq!(pop.last().headers["x-a"], "1");
    assert_eq!(pop.last().headers["x-b"], "2");
}

#[tokio::test]
async fn write_without_echo_returns_the_record_sent() {
    let pop = FakePop::new();
    pop.without_echo();
    let storage = storage(&pop).await;
    let written = storage
        .write("us", Record::new("k").with_body("b"))
        .await
        .unwrap();
    assert_eq!(written.body(), Some("b"));
}

#[tokio::test]
async fn a_write_echo_that_differs_is_a_key_mismatch() {
    let pop = FakePop::new();
    pop.tamper_echo("range_key1", json!(43));
    let storage = storage(&pop).await;
    let error = storage
        .write(
            "us",
            Record::new("k").with_range_key(RangeKey::RangeKey1, 42),
        )
        .await
        .unwrap_err();
    assert_eq!(error.kind(), ErrorKind::ResponseValidation);
    assert!(
        error.to_string().contains("Key mismatch: range_key1"),
        "{error}"
    );
}

#[tokio::test]
async fn reading_a_missing_record_is_a_404_server_error_or_none() {
    let pop = FakePop::new();
    let storage = storage(&pop).await;
    let error = storage.read("us", "missing").await.unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Server);
    assert_eq!(error.status(), Some(http::StatusCode::NOT_FOUND));
    assert_eq!(error.method(), Some(&http::Method::GET));
    assert!(
        error
            .url()
            .unwrap()
            .starts_with("https://pop.test/v2/storage/records/us/")
    );
    assert!(
        storage
            .read("us", "missing")
            .optional()
            .await
            .unwrap()
            .is_none()
    );
    storage.write("us", Record::new("there")).await.unwrap();
    assert!(
        storage
            .read("us", "there")
            .optional()
            .await
            .unwrap()
            .is_some()
    );
}

#[tokio::test]
async fn server_errors_keep_status_and_body() {
    let pop = FakePop::new();
    let storage = storage(&pop).await;
    pop.fail_next(500, json!({"errors": [{"title": "boom"}]}));
    let error = storage.write("us", Record::new("k")).await.unwrap_err();
    assert_eq!(
        error.status(),
        Some(http::StatusCode::INTERNAL_SERVER_ERROR)
    );
    assert!(error.is_server());
    assert!(error.to_string().contains("boom"));
}

#[tokio::test]
async fn a_static_token_refused_is_an_authentication_error() {
    let pop = FakePop::new();
    let storage = storage(&pop).await;
    pop.fail_next(401, json!({"errors": [{"title": "bad token"}]}));
    let error = storage.read("us", "k").await.unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Authentication);
    assert_eq!(error.status(), Some(http::StatusCode::UNAUTHORIZED));
    assert_eq!(pop.requests(), 1, "a static token is never retried");
}

#[tokio::test]
async fn a_429_is_retried_then_succeeds() {
    let pop = FakePop::new();
    let storage = storage(&pop).await;
    pop.fail_next(429, json!({}));
    storage.write("us", Record::new("k")).await.unwrap();
    assert_eq!(pop.requests(), 2);
}

#[tokio::test]
async fn malformed_success_bodies_are_response_validation_errors() {
    let pop = FakePop::new();
    let storage = storage(&pop).await;
    pop.fail_next(200, json!({"data": "nope"}));
    let error = storage.find("us", FindFilter::new()).await.unwrap_err();
    assert_eq!(error.kind(), ErrorKind::ResponseValidation);
    pop.fail_next(200, json!({"record_key": 5}));
    let error = storage.read("us", "k").await.unwrap_err();
    assert_eq!(error.kind(), ErrorKind::ResponseValidation);
    pop.fail_next(200, json!({"file_id": "", "filename": "a", "hash": "", "mime_type": "x", "size": 1,
        "created_at": "2026-01-01T00:00:00Z", "updated_at": "2026-01-01T00:00:00Z", "download_link": "l"}));
    let error = storage
        .get_attachment_meta("us", "k", "f")
        .await
        .unwrap_err();
    assert_eq!(error.kind(), ErrorKind::ResponseValidation);
    assert!(error.to_string().contains("file_id"), "{error}");
}

#[tokio::test]
async fn batch_write_then_find_with_filters_and_find_one() {
    let pop = FakePop::new();
    let storage = storage(&pop).await;
    let records: Vec<Record> = (0..5)
        .map(|i| {
            Record::new(format!("b{i}"))
                .with_body(format!("body {i}"))
                .with_key(SearchKey::Key1, if i % 2 == 0 { "even" } else { "odd" })
                .with_range_key(RangeKey::RangeKey1, i)
        })
        .collect();
    let written = storage.batch_write("us", records).await.unwrap();
    assert_eq!(written.len(), 5);
    let batch = pop.last();
    assert_eq!(batch.path, "/v2/storage/records/us/batchWrite");
    assert_eq!(batch.json()["records"].as_array().unwrap().len(), 5);

    let found = storage
        .find("us", FindFilter::new().eq(SearchKey::Key1, "even"))
        .await
        .unwrap();
    assert_eq!(found.records.len(), 3);
    assert_eq!(found.meta.total, 3);
    assert!(found.errors.is_empty());
    let request = pop.last().json();
    assert_eq!(request["options"], json!({"limit": 100, "offset": 0}));

    let found = storage
        .find(
            "us",
            FindFilter::new()
                .gte(RangeKey::RangeKey1, 3)
                .limit(1)
                .offset(0),
        )
        .await
        .unwrap();
    assert_eq!(found.records.len(), 1);
    assert_eq!(found.meta.total, 2);

    let one = storage
        .find_one("us", FindFilter::new().eq(SearchKey::Key1, "odd"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(one.key(SearchKey::Key1), Some("odd"));
    assert_eq!(pop.last().json()["options"]["limit"], json!(1));
    let none = storage
        .find_one("us", FindFilter::new().eq(SearchKey::Key1, "none"))
        .await
        .unwrap();
    assert!(none.is_none());
}

#[tokio::test]
async fn find_reports_undecryptable_records_instead_of_failing() {
    let pop = FakePop::new();
    let other = builder(&pop)
        .secrets(password_secrets(1, "another password"))
        .build()
        .await
        .unwrap();
    other
        .write("us", Record::new("foreign").with_key(SearchKey::Key2, "x"))
        .await
        .unwrap();
    let storage = storage(&pop).await;
    storage
        .write("us", Record::new("mine").with_key(SearchKey::Key2, "x"))
        .await
        .unwrap();
    pop.put_raw(
        json!({"record_key": "garbage", "body": "2:not base64!", "version": 1, "key2": null}),
    );
    let found = storage.find("us", FindFilter::new()).await.unwrap();
    assert_eq!(found.records.len(), 1);
    assert_eq!(found.records[0].record_key(), "mine");
    assert_eq!(found.errors.len(), 2);
    for failed in &found.errors {
        assert_eq!(failed.error.kind(), ErrorKind::Crypto);
        assert!(failed.raw.record_key.is_some());
    }
    // find_one surfaces the failure when the only match cannot be decrypted
    let error = storage
        .find_one(
            "us",
            FindFilter::new().eq(incountry_storage::StringField::RecordKey, "foreign"),
        )
        .await
        .unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Crypto);
}

#[tokio::test]
async fn delete_removes_and_then_404s() {
    let pop = FakePop::new();
    let storage = storage(&pop).await;
    storage.write("us", Record::new("k")).await.unwrap();
    storage.delete("us", "k").await.unwrap();
    assert_eq!(pop.last().method, "DELETE");
    assert_eq!(pop.record_count(), 0);
    let error = storage.delete("us", "k").await.unwrap_err();
    assert_eq!(error.status(), Some(http::StatusCode::NOT_FOUND));
}

#[tokio::test]
async fn health_check_is_true_on_200_only() {
    let pop = FakePop::new();
    let storage = storage(&pop).await;
    assert!(storage.health_check("us").await.unwrap());
    let seen = pop.last();
    assert_eq!(seen.path, "/healthcheck");
    assert_eq!(seen.headers["x-env-id"], support::ENV_ID);
    pop.fail_next(503, json!({}));
    assert!(!storage.health_check("us").await.unwrap());
}

#[tokio::test]
async fn migrate_re_encrypts_records_of_older_versions() {
    let pop = FakePop::new();
    let old = builder(&pop)
        .secrets(two_versions(1))
        .build()
        .await
        .unwrap();
    for i in 0..3 {
        old.write(
            "de",
            Record::new(format!("r{i}")).with_body(format!("b{i}")),
        )
        .await
        .unwrap();
    }
    let new = builder(&pop)
        .secrets(two_versions(2))
        .build()
        .await
        .unwrap();
    new.write("de", Record::new("fresh")).await.unwrap();

    let first = new.migrate("de", 2).await.unwrap();
    assert_eq!((first.migrated, first.total_left), (2, 1));
    let find = &pop.seen()[pop.seen().len() - 2];
    assert_eq!(find.json()["filter"], json!({"version": {"$not": 2}}));
    assert_eq!(find.json()["options"]["limit"], json!(2));
    let second = new.migrate("de", 100).await.unwrap();
    assert_eq!((second.migrated, second.total_left), (1, 0));
    let before = pop.requests();
    let third = new.migrate("de", 100).await.unwrap();
    assert_eq!((third.migrated, third.total_left), (0, 0));
    assert_eq!(
        pop.requests(),
        before + 1,
        "nothing to write, so no batch write"
    );
    for i in 0..3 {
        let record = new.read("de", format!("r{i}")).await.unwrap();
        assert_eq!(record.version(), Some(2));
        assert_eq!(record.body(), Some(format!("b{i}").as_str()));
    }
}

#[tokio::test]
async fn migrate_needs_encryption() {
    let pop = FakePop::new();
    let storage = builder(&pop).encrypt(false).build().await.unwrap();
    let error = storage.migrate("us", 10).await.unwrap_err();
    assert!(error.is_client());
    assert!(
        error
            .to_string()
            .contains("only allowed with encryption enabled")
    );
    assert_eq!(pop.requests(), 0);
}

#[tokio::test]
async fn encryption_off_writes_pt_bodies() {
    let pop = FakePop::new();
    let storage = builder(&pop).encrypt(false).build().await.unwrap();
    storage
        .write("jp", Record::new("k").with_body("plain"))
        .await
        .unwrap();
    let body = pop.last().json();
    assert!(body["body"].as_str().unwrap().starts_with("pt:"));
    assert_eq!(body["version"], json!(0));
    assert_eq!(body["is_encrypted"], json!(false));
    assert_eq!(storage.read("jp", "k").await.unwrap().body(), Some("plain"));
}

#[tokio::test]
async fn the_secrets_accessor_is_asked_each_call_and_rotation_rebuilds_crypto() {
    let pop = FakePop::new();
    let version = Arc::new(AtomicU32::new(1));
    let calls = Arc::new(AtomicU32::new(0));
    let (v, c) = (version.clone(), calls.clone());
    let storage = builder(&pop)
        .secrets(move || {
            let (v, c) = (v.clone(), c.clone());
            async move {
                c.fetch_add(1, Ordering::SeqCst);
                Ok::<_, incountry_storage::SecretsError>(two_versions(v.load(Ordering::SeqCst)))
            }
        })
        .build()
        .await
        .unwrap();
    storage.write("us", Record::new("a")).await.unwrap();
    assert_eq!(pop.last().json()["version"], json!(1));
    version.store(2, Ordering::SeqCst);
    storage.write("us", Record::new("b")).await.unwrap();
    assert_eq!(pop.last().json()["version"], json!(2));
    assert!(calls.load(Ordering::SeqCst) >= 3);
    assert_eq!(storage.read("us", "a").await.unwrap().version(), Some(1));
}

#[tokio::test]
async fn a_failing_accessor_is_a_secrets_provider_error() {
    let pop = FakePop::new();
    let fail = Arc::new(AtomicU32::new(0));
    let f = fail.clone();
    let storage = builder(&pop)
        .secrets(move || {
            let f = f.clone();
            async move {
                if f.load(Ordering::SeqCst) == 1 {
                    Err("vault unreachable".to_owned())
                } else {
                    Ok(password_secrets(1, "pw"))
                }
            }
        })
        .build()
        .await
        .unwrap();
    fail.store(1, Ordering::SeqCst);
    let error = storage.write("us", Record::new("a")).await.unwrap_err();
    assert_eq!(error.kind(), ErrorKind::SecretsProvider);
    assert!(error.to_string().contains("vault unreachable"));
    assert_eq!(pop.requests(), 0);
}

#[tokio::test]
async fn normalize_keys_hashes_lower_cased_keys() {
    let pop = FakePop::new();
    let storage = builder(&pop)
        .secrets(password_secrets(1, "pw"))
        .normalize_keys(true)
        .build()
        .await
        .unwrap();
    storage
        .write(
            "us",
            Record::new("MiXeD").with_key(SearchKey::Key1, "HeLLo"),
        )
        .await
        .unwrap();
    let read = storage.read("us", "mixed").await.unwrap();
    assert_eq!(read.record_key(), "MiXeD");
    let found = storage
        .find("us", FindFilter::new().eq(SearchKey::Key1, "hello"))
        .await
        .unwrap();
    assert_eq!(found.records.len(), 1);
}

#[tokio::test]
async fn attachments_of_0_bytes_1_mib_and_non_ascii_names() {
    let pop = FakePop::new();
    let storage = storage(&pop).await;
    storage.write("us", Record::new("att")).await.unwrap();

    let empty = storage
        .add_attachment(
            "us",
            "att",
            AttachmentSource::from_bytes("empty", Vec::new()),
        )
        .mime_type("text/plain")
        .await
        .unwrap();
    assert_eq!(empty.size, 0);
    assert_eq!(empty.mime_type, "text/plain");

    let dir = tempfile::tempdir().unwrap();
    let big: Vec<u8> = (0..1024 * 1024).map(|i| (i % 251) as u8).collect();
    let path = dir.path().join("blob.bin");
    std::fs::write(&path, &big).unwrap();
    let meta = storage
        .add_attachment("us", "att", AttachmentSource::from_path(&path))
        .await
        .unwrap();
    assert_eq!(meta.size, 1024 * 1024);
    assert_eq!(meta.filename, "blob.bin");
    assert_eq!(
        meta.mime_type, "application/octet-stream",
        "no part Content-Type when none is given"
    );
    let seen = pop.last();
    assert_eq!(seen.method, "POST");
    assert!(seen.path.ends_with("/attachments"));
    let file = storage
        .get_attachment_file("us", "att", &meta.file_id)
        .await
        .unwrap();
    assert_eq!(file.filename(), Some("blob.bin"));
    let out = dir.path().join("out.bin");
    assert_eq!(file.write_to(&out).await.unwrap(), big.len() as u64);
    assert_eq!(std::fs::read(&out).unwrap(), big);

    let name = "résumé 😀 отчёт (v1).txt";
    let reader = std::io::Cursor::new(b"non-ascii content".to_vec());
    let meta = storage
        .add_attachment("us", "att", AttachmentSource::from_reader(name, reader))
        .await
        .unwrap();
    assert_eq!(meta.filename, name);
    let file = storage
        .get_attachment_file("us", "att", &meta.file_id)
        .await
        .unwrap();
    assert_eq!(file.filename(), Some(name));
    assert_eq!(&file.bytes().await.unwrap()[..], b"non-ascii content");

    let updated = storage
        .update_attachment_meta("us", "att", &meta.file_id)
        .filename("renamed ✓.txt")
        .mime_type("text/markdown")
        .await
        .unwrap();
    assert_eq!(updated.filename, "renamed ✓.txt");
    assert_eq!(
        pop.last().json(),
        json!({"filename": "renamed ✓.txt", "mime_type": "text/markdown"})
    );
    assert_eq!(pop.last().method, "PATCH");
    let got = storage
        .get_attachment_meta("us", "att", &meta.file_id)
        .await
        .unwrap();
    assert_eq!(got.mime_type, "text/markdown");

    let replaced = storage
        .add_attachment("us", "att", AttachmentSource::from_bytes("blob.bin", "new"))
        .upsert(true)
        .mime_type("application/x-test")
        .await
        .unwrap();
    assert_eq!(pop.last().method, "PUT");
    assert_eq!(replaced.size, 3);

    storage
        .delete_attachment("us", "att", &meta.file_id)
        .await
        .unwrap();
    let error = storage
        .get_attachment_meta("us", "att", &meta.file_id)
        .await
        .unwrap_err();
    assert_eq!(error.status(), Some(http::StatusCode::NOT_FOUND));
    let error = storage
        .add_attachment("us", "no-record", AttachmentSource::from_bytes("f", "x"))
        .await
        .unwrap_err();
    assert_eq!(error.status(), Some(http::StatusCode::NOT_FOUND));
}

#[tokio::test]
async fn storage_built_from_env_vars() {
    let pop = FakePop::new();
    let storage = Storage::builder()
        .env_vars([
            ("INC_ENVIRONMENT_ID", "env-from-vars"),
            ("INC_ENDPOINT", "https://from-env.test"),
        ])
        .oauth_token("t")
        .secrets(password_secrets(1, "pw"))
        .transport(pop.clone())
        .build()
        .await
        .unwrap();
    assert_eq!(storage.environment_id(), "env-from-vars");
    storage.health_check("us").await.unwrap();
    assert_eq!(pop.last().headers["x-env-id"], "env-from-vars");
}

#[tokio::test]
async fn errors_chain_to_the_lower_crates() {
    let pop = FakePop::new();
    let storage = storage(&pop).await;
    pop.put_raw(
        json!({"record_key": storage_hash(&storage, "bad"), "body": "2:AAAA", "version": 1}),
    );
    let error = storage.read("us", "bad").await.unwrap_err();
    let source = std::error::Error::source(&error).expect("a source");
    assert!(
        source
            .downcast_ref::<incountry_storage::CryptoError>()
            .is_some(),
        "{source}"
    );
    let _: &StorageError = &error;
    let _ = SecretsData::from_password("x");
}

fn storage_hash(_storage: &Storage, key: &str) -> String {
    incountry_crypto::BlindIndex::new(support::ENV_ID).index("record_key", key)
}

#[tokio::test]
async fn debug_output_shows_no_secrets_or_tokens() {
    let pop = FakePop::new();
    let storage = builder(&pop)
        .secrets(password_secrets(1, "hidden password"))
        .build()
        .await
        .unwrap();
    let text = format!("{storage:?}");
    assert!(!text.contains("hidden password"), "{text}");
    assert!(!text.contains("test-token"), "{text}");
    let oauth = Storage::builder()
        .environment_id("e")
        .client_credentials("id", "hidden client secret")
        .encrypt(false)
        .env_vars(Vec::<(String, String)>::new())
        .transport(pop.clone());
    assert!(!format!("{oauth:?}").contains("hidden client secret"));
    let built = oauth.build().await.unwrap();
    assert!(!format!("{built:?}").contains("hidden client secret"));
}

#[tokio::test]
async fn every_method_reports_a_server_error_with_its_status() {
    let pop = FakePop::new();
    let s = storage(&pop).await;
    let statuses = |e: StorageError| (e.kind(), e.status().map(|s| s.as_u16()));
    let expected = (ErrorKind::Server, Some(503));
    macro_rules! fails {
        ($call:expr) => {{
            pop.fail_next(503, json!({"errors": [{"title": "down"}]}));
            assert_eq!(statuses($call.await.unwrap_err()), expected);
        }};
    }
    fails!(s.write("us", Record::new("k")));
    fails!(s.batch_write("us", vec![Record::new("k")]));
    fails!(s.read("us", "k"));
    fails!(s.read("us", "k").optional());
    fails!(s.find("us", FindFilter::new()));
    fails!(s.find_one("us", FindFilter::new()));
    fails!(s.delete("us", "k"));
    fails!(s.migrate("us", 10));
    fails!(s.add_attachment("us", "k", AttachmentSource::from_bytes("f", "x")));
    fails!(s.get_attachment_file("us", "k", "f"));
    fails!(s.get_attachment_meta("us", "k", "f"));
    fails!(s.update_attachment_meta("us", "k", "f").filename("g"));
    fails!(s.delete_attachment("us", "k", "f"));
    // migrate: the batch write after a successful find can fail too
    let old = builder(&pop)
        .secrets(two_versions(1))
        .build()
        .await
        .unwrap();
    old.write("de", Record::new("old")).await.unwrap();
    let new = builder(&pop)
        .secrets(two_versions(2))
        .build()
        .await
        .unwrap();
    let before = pop.requests();
    pop.fail_after(1, 503, json!({"errors": [{"title": "down"}]}));
    assert_eq!(statuses(new.migrate("de", 10).await.unwrap_err()), expected);
    let seen = pop.seen();
    assert_eq!(pop.requests(), before + 2);
    assert!(seen[seen.len() - 1].path.ends_with("/batchWrite"));
}
