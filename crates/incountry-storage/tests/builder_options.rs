//! The builder's crypto and retry settings reach the requests: salt reuse and the derived-key
//! cache change what goes on the wire and what is derived, the retry schedule changes how
//! often a `429` is retried.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod support;

use std::time::Duration;

use base64::Engine as _;
use incountry_storage::{ErrorKind, Record, RetryConfig, SaltReuse, StorageBuilder};
use serde_json::json;
use support::{FakePop, builder, password_secrets};

/// The salt at the start of a `2:` ciphertext.
fn salt_of(ciphertext: &str) -> Vec<u8> {
    let payload = ciphertext
        .strip_prefix("2:")
        .expect("a ciphertext of the default format");
    let blob = base64::engine::general_purpose::STANDARD
        .decode(payload)
        .unwrap();
    blob[..incountry_crypto::SALT_LENGTH].to_vec()
}

/// Writes two records in a row and returns the salts of their bodies as sent.
async fn salts_of_two_writes(pop: &FakePop, builder: StorageBuilder) -> (Vec<u8>, Vec<u8>) {
    let storage = builder
        .secrets(password_secrets(1, "a password long enough"))
        .build()
        .await
        .unwrap();
    storage
        .write("us", Record::new("first").with_body("one"))
        .await
        .unwrap();
    storage
        .write("us", Record::new("second").with_body("two"))
        .await
        .unwrap();
    let bodies: Vec<String> = pop
        .seen()
        .iter()
        .filter(|seen| seen.method == "POST")
        .map(|seen| seen.json()["body"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(bodies.len(), 2, "two writes were sent");
    (salt_of(&bodies[0]), salt_of(&bodies[1]))
}

#[tokio::test]
async fn salt_reuse_off_gives_each_record_its_own_salt() {
    let pop = FakePop::new();
    let (first, second) =
        salts_of_two_writes(&pop, builder(&pop).salt_reuse(SaltReuse::off())).await;
    assert_ne!(first, second);
}

#[tokio::test]
async fn by_default_records_written_in_a_row_share_a_salt() {
    let pop = FakePop::new();
    let (first, second) = salts_of_two_writes(&pop, builder(&pop)).await;
    assert_eq!(first, second);
}

#[tokio::test]
async fn a_derived_key_cache_of_zero_keeps_no_key() {
    let pop = FakePop::new();
    let storage = builder(&pop)
        .derived_key_cache(0)
        .secrets(password_secrets(1, "a password long enough"))
        .build()
        .await
        .unwrap();
    storage
        .write("us", Record::new("k").with_body("b"))
        .await
        .unwrap();
    storage.read("us", "k").await.unwrap();
    let stats = storage.crypto_stats().await.unwrap();
    assert_eq!((stats.capacity, stats.entries, stats.hits), (0, 0, 0));
    // The write derived a key; reading back (the write echo and the read) derived it again.
    assert!(stats.key_derivations >= 2, "{stats:?}");
}

#[tokio::test]
async fn the_derived_key_cache_serves_reads_by_default() {
    let pop = FakePop::new();
    let storage = builder(&pop)
        .secrets(password_secrets(1, "a password long enough"))
        .build()
        .await
        .unwrap();
    storage
        .write("us", Record::new("k").with_body("b"))
        .await
        .unwrap();
    storage.read("us", "k").await.unwrap();
    let stats = storage.crypto_stats().await.unwrap();
    assert_eq!(stats.capacity, 1024);
    assert!(stats.hits >= 1, "{stats:?}");
    assert_eq!(stats.key_derivations, 1, "{stats:?}");
}

#[tokio::test]
async fn crypto_stats_are_none_without_encryption() {
    let pop = FakePop::new();
    let storage = builder(&pop).encrypt(false).build().await.unwrap();
    assert_eq!(storage.crypto_stats().await, None);
}

fn two_429s(pop: &FakePop) {
    for _ in 0..2 {
        pop.fail_next(429, json!({"errors": [{"title": "slow down"}]}));
    }
}

#[tokio::test]
async fn the_retry_schedule_bounds_the_429_retries() {
    let pop = FakePop::new();
    two_429s(&pop);
    // 1 ms with a maximum of 1 ms: a single retry.
    let storage = builder(&pop)
        .retry(
            RetryConfig::builder()
                .base_delay(Duration::from_millis(1))
                .max_delay(Duration::from_millis(1))
                .build(),
        )
        .encrypt(false)
        .build()
        .await
        .unwrap();
    let error = storage
        .write("us", Record::new("k").with_body("b"))
        .await
        .unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Server);
    assert_eq!(error.status().map(|s| s.as_u16()), Some(429));
    assert_eq!(pop.requests(), 2, "the request and one retry");
}

#[tokio::test]
async fn a_longer_retry_schedule_outlasts_the_same_429s() {
    let pop = FakePop::new();
    two_429s(&pop);
    // 1 ms doubling up to 2 ms: two retries.
    let storage = builder(&pop)
        .retry(
            RetryConfig::builder()
                .base_delay(Duration::from_millis(1))
                .max_delay(Duration::from_millis(2))
                .build(),
        )
        .encrypt(false)
        .build()
        .await
        .unwrap();
    storage
        .write("us", Record::new("k").with_body("b"))
        .await
        .unwrap();
    assert_eq!(pop.requests(), 3);
}
