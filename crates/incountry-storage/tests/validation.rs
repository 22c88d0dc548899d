//! Every configuration and call rule of validation.md: the error names the field, and no
//! request is sent.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod support;

use std::sync::Arc;
use std::time::Duration;

use incountry_storage::{
    AttachmentSource, CustomCipher, ErrorKind, FindFilter, RangeKey, Record, RetryConfig,
    SearchKey, Secret, SecretsData, Sort, Storage, StorageBuilder, StorageError,
};
use support::{ENDPOINT, ENV_ID, FakePop, builder, password_secrets, storage};

struct Xor(&'static str);

impl CustomCipher for Xor {
    fn version(&self) -> &str {
        self.0
    }
    fn encrypt(
        &self,
        plain: &str,
        key: &[u8],
        _: u32,
    ) -> Result<String, incountry_storage::BoxError> {
        Ok(hex::encode(
            plain
                .bytes()
                .zip(key.iter().cycle())
                .map(|(b, k)| b ^ k)
                .collect::<Vec<u8>>(),
        ))
    }
    fn decrypt(
        &self,
        cipher: &str,
        key: &[u8],
        _: u32,
    ) -> Result<String, incountry_storage::BoxError> {
        let bytes = hex::decode(cipher)?;
        Ok(String::from_utf8(
            bytes
                .iter()
                .zip(key.iter().cycle())
                .map(|(b, k)| b ^ k)
                .collect(),
        )?)
    }
}

/// A cipher that does not give the plaintext back.
struct Broken;

impl CustomCipher for Broken {
    fn version(&self) -> &str {
        "broken"
    }
    fn encrypt(
        &self,
        plain: &str,
        _: &[u8],
        _: u32,
    ) -> Result<String, incountry_storage::BoxError> {
        Ok(plain.to_owned())
    }
    fn decrypt(&self, _: &str, _: &[u8], _: u32) -> Result<String, incountry_storage::BoxError> {
        Ok("something else".to_owned())
    }
}

fn custom_secrets() -> SecretsData {
    SecretsData::new(1, vec![Secret::custom_key(1, b"custom key material")]).unwrap()
}

/// A builder with nothing set, reading an empty environment, sending to the fake.
fn bare(pop: &FakePop) -> StorageBuilder {
    Storage::builder()
        .env_vars(Vec::<(String, String)>::new())
        .transport(pop.clone())
}

async fn config_error(pop: &FakePop, builder: StorageBuilder, needle: &str) -> StorageError {
    let error = builder.build().await.unwrap_err();
    assert!(error.is_client(), "{error:?}");
    assert!(
        error.to_string().contains(needle),
        "{error} should mention {needle}"
    );
    assert_eq!(pop.requests(), 0, "no request may be sent");
    error
}

#[tokio::test]
async fn environment_id_is_required() {
    let pop = FakePop::new();
    let b = bare(&pop)
        .oauth_token("t")
        .endpoint(ENDPOINT)
        .encrypt(false);
    let e = config_error(&pop, b, "environment_id").await;
    assert_eq!(e.kind(), ErrorKind::Config);
    let b = bare(&pop)
        .environment_id("")
        .oauth_token("t")
        .encrypt(false);
    config_error(&pop, b, "environment_id").await;
}

#[tokio::test]
async fn exactly_one_way_to_authenticate() {
    let pop = FakePop::new();
    let base = || bare(&pop).environment_id(ENV_ID).encrypt(false);
    config_error(&pop, base(), "exactly one way to authenticate").await;
    config_error(
        &pop,
        base().client_credentials("id", "secret").oauth_token("t"),
        "exactly one way to authenticate",
    )
    .await;
    config_error(&pop, base().client_credentials("", "secret"), "client_id").await;
    config_error(&pop, base().client_credentials("id", ""), "client_secret").await;
    config_error(&pop, base().oauth_token(""), "oauth_token").await;
    // only half of the pair from the environment
    let half = bare(&pop)
        .env_vars([("INC_ENVIRONMENT_ID", ENV_ID), ("INC_CLIENT_ID", "id")])
        .encrypt(false);
    config_error(&pop, half, "client_secret").await;
    // the pair from the environment is enough
    bare(&pop)
        .env_vars([
            ("INC_ENVIRONMENT_ID", ENV_ID),
            ("INC_CLIENT_ID", "id"),
            ("INC_CLIENT_SECRET", "s"),
        ])
        .encrypt(false)
        .build()
        .await
        .unwrap();
    assert_eq!(pop.requests(), 0);
}

#[tokio::test]
async fn urls_must_be_http() {
    let pop = FakePop::new();
    let base = || {
        bare(&pop)
            .environment_id(ENV_ID)
            .oauth_token("t")
            .encrypt(false)
    };
    config_error(&pop, base().endpoint("ftp://x.test"), "endpoint").await;
    config_error(&pop, base().endpoint("not a url"), "endpoint").await;
    let from_env = bare(&pop)
        .env_vars([("INC_ENDPOINT", "nope")])
        .environment_id(ENV_ID)
        .oauth_token("t")
        .encrypt(false);
    config_error(&pop, from_env, "endpoint").await;
    config_error(
        &pop,
        base().countries_endpoint("file:///etc"),
        "countries_endpoint",
    )
    .await;
    config_error(
        &pop,
        base().auth_endpoints([("emea", "https://a.test")]),
        "default",
    )
    .await;
    config_error(
        &pop,
        base().auth_endpoints([("DEFAULT", "mailto:x")]),
        "auth",
    )
    .await;
    config_error(&pop, base().endpoint_mask(""), "endpoint_mask").await;
    base()
        .auth_endpoints([("DEFAULT", "https://a.test")])
        .build()
        .await
        .unwrap();
}

#[tokio::test]
async fn encryption_needs_secrets_and_off_ignores_them() {
    let pop = FakePop::new();
    let base = || bare(&pop).environment_id(ENV_ID).oauth_token("t");
    config_error(&pop, base(), "secrets").await;
    base()
        .encrypt(false)
        .secrets(password_secrets(1, "pw"))
        .build()
        .await
        .unwrap();
}

#[tokio::test]
async fn http_options_must_be_positive() {
    let pop = FakePop::new();
    let base = || {
        bare(&pop)
            .environment_id(ENV_ID)
            .oauth_token("t")
            .encrypt(false)
    };
    config_error(&pop, base().timeout(Duration::ZERO), "timeout").await;
    config_error(
        &pop,
        base().retry(RetryConfig::builder().base_delay(Duration::ZERO).build()),
        "retry base_delay",
    )
    .await;
    config_error(
        &pop,
        base().retry(RetryConfig::builder().max_delay(Duration::ZERO).build()),
        "retry max_delay",
    )
    .await;
}

#[tokio::test]
async fn a_timeout_with_a_custom_transport_is_a_configuration_error() {
    let pop = FakePop::new();
    let error = config_error(
        &pop,
        bare(&pop)
            .environment_id(ENV_ID)
            .oauth_token("t")
            .encrypt(false)
            .timeout(Duration::from_secs(5)),
        "set the timeout on your transport",
    )
    .await;
    assert_eq!(error.kind(), ErrorKind::Config);
}

#[tokio::test]
async fn custom_cipher_rules() {
    let pop = FakePop::new();
    let base = || {
        bare(&pop)
            .environment_id(ENV_ID)
            .endpoint(ENDPOINT)
            .oauth_token("t")
            .secrets(custom_secrets())
    };
    config_error(&pop, base().custom_ciphers(Vec::new()), "at least one").await;
    config_error(
        &pop,
        base().custom_cipher(Xor("same")).custom_cipher(Xor("same")),
        "unique",
    )
    .await;
    config_error(
        &pop,
        base()
            .current_custom_cipher(Xor("a"))
            .current_custom_cipher(Xor("b")),
        "more than one",
    )
    .await;
    config_error(&pop, base().custom_cipher(Broken), "broken").await;
    config_error(
        &pop,
        base().encrypt(false).custom_cipher(Xor("x")),
        "encryption",
    )
    .await;
    let shared: Vec<(Arc<dyn CustomCipher>, bool)> = vec![(Arc::new(Xor("x")), true)];
    let storage = base().custom_ciphers(shared).build().await.unwrap();
    storage
        .write("us", Record::new("k").with_body("b"))
        .await
        .unwrap();
    assert!(pop.last().json()["body"].as_str().unwrap().starts_with("c"));
    assert_eq!(storage.read("us", "k").await.unwrap().body(), Some("b"));
}

#[tokio::test]
async fn secrets_are_validated_at_build() {
    let pop = FakePop::new();
    let base = || bare(&pop).environment_id(ENV_ID).oauth_token("t");
    // custom keys without a custom cipher
    let e = base().secrets(custom_secrets()).build().await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::SecretsValidation);
    // a custom cipher without custom keys
    let e = base()
        .secrets(password_secrets(1, "pw"))
        .custom_cipher(Xor("x"))
        .build()
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::SecretsValidation);
    // the accessor fails
    let e = base()
        .secrets(|| async { Err::<SecretsData, _>("no vault") })
        .build()
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::SecretsProvider);
    // the accessor's error (e.g. invalid JSON) is passed on, without the secret
    let e = base()
        .secrets(|| async { SecretsData::from_json("{\"currentVersion\": 1, \"secrets\": []}") })
        .build()
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::SecretsProvider);
    assert_eq!(pop.requests(), 0);
}

async fn call_error(
    pop: &FakePop,
    result: Result<impl std::fmt::Debug, StorageError>,
    field: &str,
) {
    let error = result.unwrap_err();
    assert_eq!(error.kind(), ErrorKind::InputValidation, "{error:?}");
    assert!(
        error.field().unwrap().contains(field),
        "{error} should name {field}"
    );
    assert_eq!(pop.requests(), 0, "no request may be sent");
}

#[tokio::test]
async fn country_must_be_two_letters() {
    let pop = FakePop::new();
    let s = storage(&pop).await;
    for bad in ["usa", "u", "", "u1", "ü1"] {
        call_error(&pop, s.write(bad, Record::new("k")).await, "country").await;
        call_error(&pop, s.read(bad, "k").await, "country").await;
        call_error(&pop, s.find(bad, FindFilter::new()).await, "country").await;
        call_error(&pop, s.health_check(bad).await, "country").await;
    }
}

#[tokio::test]
async fn record_key_must_not_be_empty() {
    let pop = FakePop::new();
    let s = storage(&pop).await;
    call_error(&pop, s.write("us", Record::new("")).await, "record_key").await;
    call_error(&pop, s.read("us", "").await, "record_key").await;
    call_error(&pop, s.delete("us", "").await, "record_key").await;
    call_error(
        &pop,
        s.get_attachment_meta("us", "", "f").await,
        "record_key",
    )
    .await;
    call_error(
        &pop,
        s.add_attachment("us", "", AttachmentSource::from_bytes("f", "x"))
            .await,
        "record_key",
    )
    .await;
}

#[tokio::test]
async fn plain_search_keys_are_at_most_256_characters() {
    let pop = FakePop::new();
    let s = builder(&pop)
        .secrets(password_secrets(1, "pw"))
        .hash_search_keys(false)
        .build()
        .await
        .unwrap();
    let long = "x".repeat(257);
    call_error(
        &pop,
        s.write(
            "us",
            Record::new("k").with_key(SearchKey::Key3, long.clone()),
        )
        .await,
        "key3",
    )
    .await;
    call_error(
        &pop,
        s.find("us", FindFilter::new().eq(SearchKey::Key3, long))
            .await,
        "key3",
    )
    .await;
}

#[tokio::test]
async fn batch_write_takes_1_to_100_valid_records() {
    let pop = FakePop::new();
    let s = storage(&pop).await;
    let empty = s.batch_write("us", Vec::new()).await;
    assert!(
        format!("{:?}", empty.as_ref().err()).contains("1 to 100"),
        "{empty:?}"
    );
    call_error(&pop, empty, "records").await;
    let many: Vec<Record> = (0..101).map(|i| Record::new(format!("k{i}"))).collect();
    let over = s.batch_write("us", many.clone()).await;
    assert!(
        format!("{:?}", over.as_ref().err()).contains("1 to 100"),
        "{over:?}"
    );
    call_error(&pop, over, "records").await;
    let bad = vec![Record::new("ok"), Record::new("b"), Record::new("")];
    let named = s.batch_write("us", bad).await;
    assert!(
        format!("{:?}", named.as_ref().err()).contains("non-empty"),
        "{named:?}"
    );
    call_error(&pop, named, "records[2].record_key").await;
    // Exactly 100 is a batch.
    s.batch_write("us", many[..100].to_vec()).await.unwrap();
    assert_eq!(pop.requests(), 1);
}

#[tokio::test]
async fn find_options_and_filters_are_checked() {
    let pop = FakePop::new();
    let s = storage(&pop).await;
    call_error(
        &pop,
        s.find("us", FindFilter::new().limit(0)).await,
        "limit",
    )
    .await;
    call_error(
        &pop,
        s.find("us", FindFilter::new().limit(101)).await,
        "limit",
    )
    .await;
    call_error(
        &pop,
        s.find(
            "us",
            FindFilter::new().any_of(SearchKey::Key1, Vec::<String>::new()),
        )
        .await,
        "key1",
    )
    .await;
    // `$gt` and `$gte` together cannot be expressed (the second replaces the first); an
    // empty operator object can, through `from_json`:
    let empty_ops = FindFilter::from_json(&serde_json::json!({"range_key1": {}}));
    assert!(empty_ops.is_err());
    call_error(
        &pop,
        s.find(
            "us",
            FindFilter::new().is_null(incountry_storage::DateField::CreatedAt),
        )
        .await,
        "created_at",
    )
    .await;
    call_error(
        &pop,
        s.find("us", FindFilter::new().search_keys("abc")).await,
        "search_keys",
    )
    .await;
    call_error(
        &pop,
        s.find(
            "us",
            FindFilter::new()
                .sort(Sort::asc(RangeKey::RangeKey1))
                .sort(Sort::desc(RangeKey::RangeKey1)),
        )
        .await,
        "sort",
    )
    .await;
    call_error(&pop, s.migrate("us", 0).await, "limit").await;
    call_error(&pop, s.migrate("us", 101).await, "limit").await;

    let plain = builder(&pop)
        .secrets(password_secrets(1, "pw"))
        .hash_search_keys(false)
        .build()
        .await
        .unwrap();
    call_error(
        &pop,
        plain.find("us", FindFilter::new().search_keys("ab")).await,
        "search_keys",
    )
    .await;
    call_error(
        &pop,
        plain
            .find("us", FindFilter::new().search_keys("x".repeat(201)))
            .await,
        "search_keys",
    )
    .await;
    call_error(
        &pop,
        plain
            .find(
                "us",
                FindFilter::new()
                    .search_keys("abc")
                    .eq(SearchKey::Key1, "a"),
            )
            .await,
        "search_keys",
    )
    .await;
}

#[tokio::test]
async fn custom_headers_are_checked() {
    let pop = FakePop::new();
    let s = storage(&pop).await;
    for (name, value) in [
        ("", "v"),
        ("x-a", ""),
        (" x-a", "v"),
        ("x-a", "v "),
        ("Authorization", "Bearer x"),
        ("x-env-id", "other"),
        ("User-Agent", "x"),
        ("content-type", "text/plain"),
        ("bad name", "v"),
        ("x-a", "line\nbreak"),
    ] {
        call_error(&pop, s.read("us", "k").header(name, value).await, "headers").await;
    }
}

#[tokio::test]
async fn attachment_inputs_are_checked() {
    let pop = FakePop::new();
    let s = storage(&pop).await;
    let dir = tempfile::tempdir().unwrap();
    let huge = dir.path().join("huge.bin");
    let file = std::fs::File::create(&huge).unwrap();
    file.set_len(104_857_601).unwrap();
    let error = s
        .add_attachment("us", "k", AttachmentSource::from_path(&huge))
        .await
        .unwrap_err();
    assert!(
        error
            .to_string()
            .contains("Attachment is too large. Max allowed attachment size is 104857600 bytes"),
        "{error}"
    );
    assert_eq!(error.field(), Some("file"));
    call_error(
        &pop,
        s.add_attachment(
            "us",
            "k",
            AttachmentSource::from_path(dir.path().join("missing")),
        )
        .await,
        "file",
    )
    .await;
    call_error(
        &pop,
        s.add_attachment("us", "k", AttachmentSource::from_bytes("f", "x"))
            .mime_type("")
            .await,
        "mime_type",
    )
    .await;
    call_error(
        &pop,
        s.add_attachment("us", "k", AttachmentSource::from_bytes("", "x"))
            .await,
        "file",
    )
    .await;
    call_error(&pop, s.get_attachment_file("us", "k", "").await, "file_id").await;
    call_error(&pop, s.get_attachment_meta("us", "k", "").await, "file_id").await;
    call_error(&pop, s.delete_attachment("us", "k", "").await, "file_id").await;
    call_error(
        &pop,
        s.update_attachment_meta("us", "k", "f").await,
        "filename",
    )
    .await;
    call_error(
        &pop,
        s.update_attachment_meta("us", "k", "f").filename("").await,
        "filename",
    )
    .await;
}

#[tokio::test]
async fn attachment_file_names_over_255_bytes_are_refused_before_sending() {
    let pop = FakePop::new();
    let s = storage(&pop).await;
    let over = "\u{e9}".repeat(128);
    call_error(
        &pop,
        s.add_attachment("us", "k", AttachmentSource::from_bytes(over.clone(), "x"))
            .await,
        "filename",
    )
    .await;
    call_error(
        &pop,
        s.update_attachment_meta("us", "k", "f")
            .filename(over)
            .await,
        "filename",
    )
    .await;
}

#[tokio::test]
async fn filters_over_the_server_limits_are_refused_before_sending() {
    let pop = FakePop::new();
    let s = storage(&pop).await;
    let values: Vec<String> = (0..33_000).map(|i| i.to_string()).collect();
    call_error(
        &pop,
        s.find("us", FindFilter::new().any_of(SearchKey::Key1, values))
            .await,
        "key1",
    )
    .await;
    let branches: Vec<_> = (0..1_001)
        .map(|i| incountry_storage::OrFilter::new().eq(SearchKey::Key1, i.to_string()))
        .collect();
    call_error(
        &pop,
        s.find("us", FindFilter::new().or(branches)).await,
        "$or",
    )
    .await;
}
