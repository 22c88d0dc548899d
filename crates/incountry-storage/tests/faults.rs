//! The SDK against servers that misbehave: 429 storms, 5xx answers, hung and reset
//! connections, truncated, oversized and mistyped bodies, and token endpoints that fail or
//! answer garbage. Each case ends in its typed error, within the configured timeout and retry
//! budget, with nothing retried that must not be, and no panic.
//!
//! Everything runs through the SDK's own HTTP transport against loopback servers: wiremock for
//! well-formed HTTP, a raw TCP listener for broken HTTP.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use incountry_storage::{
    ErrorKind, FindFilter, Record, RetryConfig, SecretsData, Storage, StorageBuilder,
};
use serde_json::json;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpListener;
use wiremock::matchers::{method, path, path_regex};
use wiremock::{Mock, MockServer, Request, ResponseTemplate};

const ENV_ID: &str = "fault-env";
/// The request timeout the tests configure.
const TIMEOUT: Duration = Duration::from_millis(500);
/// A bound no case may reach: far above every timeout and retry budget configured here.
const NEVER: Duration = Duration::from_secs(20);

/// A builder with a short timeout and a fast, short retry schedule (2, 4, 8 ms: three retries).
fn builder(endpoint: &str) -> StorageBuilder {
    Storage::builder()
        .env_vars(Vec::<(String, String)>::new())
        .environment_id(ENV_ID)
        .endpoint(endpoint)
        .timeout(TIMEOUT)
        .retry(
            RetryConfig::builder()
                .base_delay(Duration::from_millis(2))
                .max_delay(Duration::from_millis(8))
                .build(),
        )
        .secrets(SecretsData::from_password("fault password").unwrap())
}

async fn storage(endpoint: &str) -> Storage {
    builder(endpoint)
        .oauth_token("token")
        .build()
        .await
        .unwrap()
}

/// Runs `call`, failing the test if it takes longer than [`NEVER`].
async fn bounded<T>(call: impl std::future::IntoFuture<Output = T>) -> T {
    tokio::time::timeout(NEVER, call.into_future())
        .await
        .expect("the call did not end within its timeout and retry budget")
}

fn record() -> Record {
    Record::new("k1").with_body("secret body")
}

#[tokio::test]
async fn a_429_storm_is_retried_on_schedule_then_reported_as_the_last_429() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(
            ResponseTemplate::new(429).set_body_json(json!({"errors": [{"title": "slow down"}]})),
        )
        .expect(4) // the request and three retries
        .mount(&server)
        .await;
    let storage = storage(&server.uri()).await;
    let error = bounded(storage.write("de", record())).await.unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Server);
    assert_eq!(error.status().map(|s| s.as_u16()), Some(429));
    assert!(error.to_string().contains("429"), "{error}");
}

#[tokio::test]
async fn a_429_followed_by_success_succeeds() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(429).insert_header("retry-after", "0"))
        .up_to_n_times(2)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(201).set_body_json(json!({})))
        .expect(1)
        .mount(&server)
        .await;
    let storage = storage(&server.uri()).await;
    bounded(storage.write("de", record())).await.unwrap();
}

#[tokio::test]
async fn server_errors_are_reported_once_and_never_retried() {
    for status in [500u16, 502, 503] {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .respond_with(ResponseTemplate::new(status).set_body_string("upstream trouble"))
            .expect(1)
            .mount(&server)
            .await;
        let storage = storage(&server.uri()).await;
        let error = bounded(storage.write("de", record())).await.unwrap_err();
        assert_eq!(error.kind(), ErrorKind::Server, "{status}");
        assert_eq!(error.status().map(|s| s.as_u16()), Some(status));
        assert!(error.is_server());
        assert!(!error.to_string().contains("secret body"), "{error}");
        server.verify().await;
    }
}

#[tokio::test]
async fn a_server_slower_than_the_timeout_is_a_network_error_after_the_timeout() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(200).set_delay(Duration::from_secs(30)))
        .mount(&server)
        .await;
    let storage = storage(&server.uri()).await;
    let started = Instant::now();
    let error = bounded(storage.read("de", "k1")).await.unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Network, "{error}");
    // It gave up on the timeout, not on the server.
    assert!(started.elapsed() < Duration::from_secs(10));
    assert!(error.to_string().contains("GET"), "{error}");
}

/// A raw TCP server that reads one request and answers `response`, then closes.
async fn raw_server(response: Vec<u8>) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move {
        for _ in 0..8 {
            let Ok((mut socket, _)) = listener.accept().await else {
                return;
            };
            let response = response.clone();
            tokio::spawn(async move {
                let mut request = vec![0u8; 64 * 1024];
                let mut read = 0;
                // Read until the end of the headers (the tests send no body on GET).
                while read < request.len() {
                    match socket.read(&mut request[read..]).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => read += n,
                    }
                    if request[..read].windows(4).any(|w| w == b"\r\n\r\n") {
                        break;
                    }
                }
                let _ = socket.write_all(&response).await;
                let _ = socket.flush().await;
                // Dropping the socket closes (resets) the connection.
            });
        }
    });
    address
}

#[tokio::test]
async fn a_connection_closed_mid_body_is_a_network_error() {
    let address = raw_server(
        b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 1000\r\n\r\n{\"record_key\": \"ab"
            .to_vec(),
    )
    .await;
    let storage = storage(&format!("http://{address}")).await;
    let error = bounded(storage.read("de", "k1")).await.unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Network, "{error}");
}

#[tokio::test]
async fn a_connection_closed_before_any_answer_is_a_network_error() {
    let address = raw_server(Vec::new()).await;
    let storage = storage(&format!("http://{address}")).await;
    let error = bounded(storage.read("de", "k1")).await.unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Network, "{error}");
}

#[tokio::test]
async fn garbage_instead_of_http_is_a_network_error() {
    let address = raw_server(b"SSH-2.0-OpenSSH_9.0\r\n\r\n".to_vec()).await;
    let storage = storage(&format!("http://{address}")).await;
    let error = bounded(storage.read("de", "k1")).await.unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Network, "{error}");
}

#[tokio::test]
async fn a_truncated_json_body_is_a_response_validation_error() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(200).set_body_raw(
            r#"{"record_key": "abc", "body": "2:AAA"#,
            "application/json",
        ))
        .mount(&server)
        .await;
    let storage = storage(&server.uri()).await;
    let error = bounded(storage.read("de", "k1")).await.unwrap_err();
    assert_eq!(error.kind(), ErrorKind::ResponseValidation, "{error}");
}

#[tokio::test]
async fn an_oversized_body_is_refused_without_reading_it_all() {
    let server = MockServer::start().await;
    let huge = vec![b' '; 17 * 1024 * 1024];
    Mock::given(method("POST"))
        .and(path_regex("/find$"))
        .respond_with(ResponseTemplate::new(200).set_body_raw(huge, "application/json"))
        .mount(&server)
        .await;
    let storage = storage(&server.uri()).await;
    let error = bounded(storage.find("de", FindFilter::new()))
        .await
        .unwrap_err();
    assert_eq!(error.kind(), ErrorKind::ResponseValidation, "{error}");
    assert!(error.to_string().contains("exceeds"), "{error}");
}

#[tokio::test]
async fn html_or_json_of_the_wrong_shape_is_a_response_validation_error() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(
            ResponseTemplate::new(200).set_body_raw("<html>maintenance</html>", "text/html"),
        )
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path_regex("/find$"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"data": "not a list"})))
        .mount(&server)
        .await;
    let storage = storage(&server.uri()).await;
    let error = bounded(storage.read("de", "k1")).await.unwrap_err();
    assert_eq!(error.kind(), ErrorKind::ResponseValidation, "{error}");
    let error = bounded(storage.find("de", FindFilter::new()))
        .await
        .unwrap_err();
    assert_eq!(error.kind(), ErrorKind::ResponseValidation, "{error}");
}

#[tokio::test]
async fn a_record_that_does_not_decrypt_is_a_crypto_error_not_a_panic() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "record_key": "x", "body": "2:not base64 at all!", "version": 0
        })))
        .mount(&server)
        .await;
    let storage = storage(&server.uri()).await;
    let error = bounded(storage.read("de", "k1")).await.unwrap_err();
    assert!(
        matches!(
            error.kind(),
            ErrorKind::Crypto | ErrorKind::ResponseValidation
        ),
        "{error}"
    );
}

/// A storage that gets its token from `token_server` and its records from `pop`.
async fn oauth_storage(token_server: &MockServer, pop: &MockServer) -> Storage {
    builder(&pop.uri())
        .client_credentials("client", "client secret")
        .auth_endpoints([("default", format!("{}/oauth2/token", token_server.uri()))])
        .build()
        .await
        .unwrap()
}

/// A PoP that must not be reached (the token never arrives).
async fn untouched_pop() -> MockServer {
    let pop = MockServer::start().await;
    Mock::given(wiremock::matchers::any())
        .respond_with(ResponseTemplate::new(200))
        .expect(0)
        .mount(&pop)
        .await;
    pop
}

#[tokio::test]
async fn a_failing_token_endpoint_is_an_authentication_error_and_the_pop_is_not_called() {
    for response in [
        ResponseTemplate::new(500).set_body_string("down"),
        ResponseTemplate::new(401).set_body_json(json!({"error": "invalid_client"})),
        ResponseTemplate::new(200).set_body_raw("<html>login</html>", "text/html"),
        ResponseTemplate::new(200).set_body_json(json!({"token_type": "bearer"})),
        ResponseTemplate::new(200).set_body_json(json!({"access_token": 42, "expires_in": "x"})),
    ] {
        let tokens = MockServer::start().await;
        Mock::given(method("POST"))
            .and(path("/oauth2/token"))
            .respond_with(response)
            .mount(&tokens)
            .await;
        let pop = untouched_pop().await;
        let storage = oauth_storage(&tokens, &pop).await;
        let error = bounded(storage.read("de", "k1")).await.unwrap_err();
        assert_eq!(error.kind(), ErrorKind::Authentication, "{error}");
        assert!(!error.to_string().contains("client secret"), "{error}");
        pop.verify().await;
    }
}

#[tokio::test]
async fn a_hung_token_endpoint_times_out_as_a_network_error() {
    let tokens = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200).set_delay(Duration::from_secs(30)))
        .mount(&tokens)
        .await;
    let pop = untouched_pop().await;
    let storage = oauth_storage(&tokens, &pop).await;
    let error = bounded(storage.read("de", "k1")).await.unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Network, "{error}");
    assert_eq!(error.method(), Some(&http::Method::POST), "{error}");
    assert!(
        error
            .url()
            .is_some_and(|url| url.ends_with("/oauth2/token")),
        "{error}"
    );
    pop.verify().await;
}

#[tokio::test]
async fn an_unreachable_token_endpoint_is_a_network_error_and_the_pop_is_not_called() {
    // A port nothing listens on: connections are refused.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap();
    drop(listener);
    let pop = untouched_pop().await;
    let storage = builder(&pop.uri())
        .client_credentials("client", "client secret")
        .auth_endpoints([("default", format!("http://{address}/oauth2/token"))])
        .build()
        .await
        .unwrap();
    let error = bounded(storage.read("de", "k1")).await.unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Network, "{error}");
    assert!(error.is_server(), "{error}");
    assert_eq!(
        error.url(),
        Some(format!("http://{address}/oauth2/token").as_str()),
        "{error}"
    );
    assert!(!error.to_string().contains("client secret"), "{error}");
    pop.verify().await;
}

#[tokio::test]
async fn requests_that_failed_with_a_server_error_are_not_replayed_even_for_reads() {
    // The server may have applied a write that answered 5xx; the SDK must not write twice,
    // and it treats every method alike.
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(503))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("DELETE"))
        .respond_with(ResponseTemplate::new(500))
        .expect(1)
        .mount(&server)
        .await;
    let storage = storage(&server.uri()).await;
    assert_eq!(
        bounded(storage.read("de", "k1")).await.unwrap_err().kind(),
        ErrorKind::Server
    );
    assert_eq!(
        bounded(storage.delete("de", "k1"))
            .await
            .unwrap_err()
            .kind(),
        ErrorKind::Server
    );
    server.verify().await;
}

#[tokio::test]
async fn many_concurrent_calls_against_a_failing_server_all_end_with_typed_errors() {
    let server = MockServer::start().await;
    let n = AtomicU32::new(0);
    Mock::given(wiremock::matchers::any())
        .respond_with(
            move |_: &Request| match n.fetch_add(1, Ordering::SeqCst) % 4 {
                0 => ResponseTemplate::new(500),
                1 => ResponseTemplate::new(200).set_body_raw("{", "application/json"),
                2 => ResponseTemplate::new(429),
                _ => ResponseTemplate::new(404).set_body_json(json!({"errors": []})),
            },
        )
        .mount(&server)
        .await;
    let storage = storage(&server.uri()).await;
    let calls = (0..40).map(|i| {
        let storage = storage.clone();
        async move { storage.read("de", format!("k{i}")).await }
    });
    let results = bounded(futures_util::future::join_all(calls)).await;
    for result in results {
        let error = result.unwrap_err();
        assert!(
            matches!(
                error.kind(),
                ErrorKind::Server | ErrorKind::ResponseValidation
            ),
            "{error}"
        );
    }
}
