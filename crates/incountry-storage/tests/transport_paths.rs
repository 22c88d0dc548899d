//! Routing, token refresh, network failures, streaming limits, tracing and the crypto cache.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use async_trait::async_trait;
use http::{Request, Response};
use incountry_storage::{
    AccessToken, AttachmentSource, AuthError, Body, CustomCipher, ErrorKind, Record, Secret,
    SecretsData, Storage, TokenProvider, Transport, TransportError,
};
use serde_json::json;
use support::{ENV_ID, FakePop, builder};

#[tokio::test]
async fn without_an_endpoint_the_countries_list_routes_each_country() {
    let pop = FakePop::new();
    let storage = Storage::builder()
        .environment_id(ENV_ID)
        .oauth_token("t")
        .countries_endpoint("https://portal.test/countries")
        .env_vars(Vec::<(String, String)>::new())
        .encrypt(false)
        .transport(pop.clone())
        .build()
        .await
        .unwrap();
    storage.write("SE", Record::new("k")).await.unwrap();
    let seen = pop.seen();
    assert_eq!(seen[0].uri, "https://portal.test/countries");
    assert!(
        seen[0].headers.get("authorization").is_none(),
        "the countries list needs no token"
    );
    assert_eq!(
        seen[1].uri,
        "https://se-mt-01.api.incountry.io/v2/storage/records/se"
    );
    storage.write("ar", Record::new("k")).await.unwrap();
    assert_eq!(
        pop.last().uri,
        "https://us-mt-01.api.incountry.io/v2/storage/records/ar"
    );
}

/// Gives `old` until asked to refresh, then `new`.
#[derive(Debug, Default)]
struct Refreshing {
    refreshed: AtomicUsize,
}

#[async_trait]
impl TokenProvider for Refreshing {
    async fn token(&self, _: &str, _: &str, force: bool) -> Result<AccessToken, AuthError> {
        if force {
            self.refreshed.fetch_add(1, Ordering::SeqCst);
        }
        Ok(AccessToken::new(
            if self.refreshed.load(Ordering::SeqCst) > 0 {
                "new"
            } else {
                "old"
            },
        ))
    }
    fn can_refresh(&self) -> bool {
        true
    }
}

#[tokio::test]
async fn a_refreshable_token_is_refreshed_once_after_a_401() {
    let pop = FakePop::new();
    let tokens = Arc::new(Refreshing::default());
    let storage = Storage::builder()
        .environment_id(ENV_ID)
        .endpoint(support::ENDPOINT)
        .env_vars(Vec::<(String, String)>::new())
        .token_provider(tokens.clone())
        .secrets(support::password_secrets(1, "pw"))
        .transport(pop.clone())
        .build()
        .await
        .unwrap();
    pop.fail_next(401, json!({}));
    storage.write("us", Record::new("k")).await.unwrap();
    let seen = pop.seen();
    assert_eq!(seen.len(), 2);
    assert_eq!(seen[0].headers["authorization"], "Bearer old");
    assert_eq!(seen[1].headers["authorization"], "Bearer new");
    pop.fail_next(401, json!({}));
    pop.fail_next(401, json!({}));
    let error = storage.write("us", Record::new("k")).await.unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Authentication);
}

#[derive(Debug)]
struct Unreachable;

#[async_trait]
impl Transport for Unreachable {
    async fn send(&self, request: Request<Body>) -> Result<Response<Body>, TransportError> {
        Err(TransportError::network(
            incountry_transport::NetworkErrorKind::Connect,
            &incountry_transport::RequestInfo::of(&request),
            Some("connection refused".into()),
        ))
    }
}

#[tokio::test]
async fn transport_failures_are_network_errors_naming_the_request() {
    let storage = Storage::builder()
        .environment_id(ENV_ID)
        .oauth_token("t")
        .endpoint(support::ENDPOINT)
        .env_vars(Vec::<(String, String)>::new())
        .encrypt(false)
        .transport(Unreachable)
        .build()
        .await
        .unwrap();
    let error = storage.read("us", "k").await.unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Network);
    assert!(error.is_server());
    assert_eq!(error.method(), Some(&http::Method::GET));
    assert!(
        error
            .url()
            .unwrap()
            .starts_with("https://pop.test/v2/storage/records/us/")
    );
    let source = std::error::Error::source(&error).unwrap();
    assert!(source.downcast_ref::<TransportError>().is_some());
}

/// Reads request bodies chunk by chunk without keeping them, answering 201.
#[derive(Debug, Default)]
struct Drain {
    bytes: AtomicUsize,
}

#[async_trait]
impl Transport for Drain {
    async fn send(&self, request: Request<Body>) -> Result<Response<Body>, TransportError> {
        use futures_util::StreamExt;
        let info = incountry_transport::RequestInfo::of(&request);
        let mut stream = std::pin::pin!(request.into_body().into_stream());
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(|e| {
                TransportError::network(
                    incountry_transport::NetworkErrorKind::Closed,
                    &info,
                    Some(e),
                )
            })?;
            self.bytes.fetch_add(chunk.len(), Ordering::SeqCst);
        }
        Ok(Response::builder()
            .status(500)
            .body(Body::from("unexpected"))
            .unwrap())
    }
}

#[tokio::test]
async fn a_reader_longer_than_100_mib_fails_while_streaming() {
    let drain = Arc::new(Drain::default());
    let storage = Storage::builder()
        .environment_id(ENV_ID)
        .oauth_token("t")
        .endpoint(support::ENDPOINT)
        .env_vars(Vec::<(String, String)>::new())
        .encrypt(false)
        .transport(drain.clone())
        .build()
        .await
        .unwrap();
    use tokio::io::AsyncReadExt;
    let reader = tokio::io::repeat(0).take(incountry_storage::MAX_ATTACHMENT_SIZE + 1);
    let error = storage
        .add_attachment("us", "k", AttachmentSource::from_reader("big.bin", reader))
        .await
        .unwrap_err();
    let mut chain = String::new();
    let mut current: Option<&dyn std::error::Error> = Some(&error);
    while let Some(e) = current {
        chain.push_str(&e.to_string());
        current = e.source();
    }
    assert!(chain.contains("Attachment is too large"), "{chain}");
    let sent = drain.bytes.load(Ordering::SeqCst) as u64;
    assert!(
        sent <= incountry_storage::MAX_ATTACHMENT_SIZE + 1024,
        "stopped at the limit"
    );
}

/// Counts how often the cipher runs.
struct Counting(Arc<AtomicUsize>);

impl CustomCipher for Counting {
    fn version(&self) -> &str {
        "counting"
    }
    fn encrypt(
        &self,
        plain: &str,
        _: &[u8],
        _: u32,
    ) -> Result<String, incountry_storage::BoxError> {
        self.0.fetch_add(1, Ordering::SeqCst);
        Ok(plain.chars().rev().collect())
    }
    fn decrypt(&self, text: &str, _: &[u8], _: u32) -> Result<String, incountry_storage::BoxError> {
        self.0.fetch_add(1, Ordering::SeqCst);
        Ok(text.chars().rev().collect())
    }
}

#[tokio::test]
async fn custom_ciphers_are_validated_once_per_secrets_not_per_call() {
    let pop = FakePop::new();
    let runs = Arc::new(AtomicUsize::new(0));
    let secrets = SecretsData::new(
        1,
        vec![Secret::password(1, "pw"), Secret::custom_key(2, b"custom")],
    )
    .unwrap();
    let storage = builder(&pop)
        .secrets(secrets)
        .custom_cipher(Counting(runs.clone()))
        .build()
        .await
        .unwrap();
    let after_build = runs.load(Ordering::SeqCst);
    assert!(after_build > 0, "the round trip ran at build");
    for i in 0..3 {
        storage
            .write("us", Record::new(format!("k{i}")))
            .await
            .unwrap();
    }
    assert_eq!(
        runs.load(Ordering::SeqCst),
        after_build,
        "no re-validation per call"
    );
}
