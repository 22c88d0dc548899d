#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Authorized requests: bearer tokens, one refresh and retry after a 401.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use http::{Request, StatusCode};
use incountry_auth::{
    AuthEndpoints, AuthError, OAuthTokenProvider, StaticTokenProvider, send_authorized,
};
use incountry_transport::{Body, HyperTransport, Transport};
use serde_json::json;
use wiremock::matchers::{header, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

const RECORDS: &str = "/v2/storage/records/se";

fn token_body(token: &str) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_json(json!({"access_token": token, "expires_in": 3600}))
}

fn oauth(transport: Arc<dyn Transport>, server: &MockServer) -> OAuthTokenProvider {
    let endpoints =
        AuthEndpoints::new([("default", format!("{}/oauth2/token", server.uri()))]).unwrap();
    OAuthTokenProvider::builder(transport, "id", "secret", "env-id")
        .auth_endpoints(endpoints)
        .build()
        .unwrap()
}

/// Mounts two token answers: `first`, then `second` for every later request.
async fn two_tokens(server: &MockServer, second_expected: u64) {
    Mock::given(path("/oauth2/token"))
        .respond_with(token_body("first"))
        .up_to_n_times(1)
        .expect(1)
        .mount(server)
        .await;
    Mock::given(path("/oauth2/token"))
        .respond_with(token_body("second"))
        .expect(second_expected)
        .mount(server)
        .await;
}

#[tokio::test]
async fn the_request_carries_the_bearer_token() {
    let server = MockServer::start().await;
    two_tokens(&server, 0).await;
    Mock::given(method("POST"))
        .and(path(RECORDS))
        .and(header("authorization", "Bearer first"))
        .respond_with(ResponseTemplate::new(201))
        .expect(1)
        .mount(&server)
        .await;
    let transport: Arc<dyn Transport> = Arc::new(HyperTransport::new().unwrap());
    let tokens = oauth(transport.clone(), &server);
    let url = format!("{}{RECORDS}", server.uri());
    let response = send_authorized(&*transport, &tokens, "https://se", "emea", || {
        Request::post(url.as_str()).body(Body::from("{}")).unwrap()
    })
    .await
    .unwrap();
    assert_eq!(response.status(), StatusCode::CREATED);
}

#[tokio::test]
async fn a_401_refreshes_the_token_and_retries_once() {
    let server = MockServer::start().await;
    two_tokens(&server, 1).await;
    Mock::given(path(RECORDS))
        .and(header("authorization", "Bearer first"))
        .respond_with(ResponseTemplate::new(401))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(path(RECORDS))
        .and(header("authorization", "Bearer second"))
        .respond_with(ResponseTemplate::new(201).set_body_string("ok"))
        .expect(1)
        .mount(&server)
        .await;
    let transport: Arc<dyn Transport> = Arc::new(HyperTransport::new().unwrap());
    let tokens = oauth(transport.clone(), &server);
    let url = format!("{}{RECORDS}", server.uri());
    let builds = AtomicUsize::new(0);
    let response = send_authorized(&*transport, &tokens, "https://se", "emea", || {
        builds.fetch_add(1, Ordering::SeqCst);
        Request::post(url.as_str()).body(Body::from("{}")).unwrap()
    })
    .await
    .unwrap();
    assert_eq!(response.status(), StatusCode::CREATED);
    assert_eq!(
        builds.load(Ordering::SeqCst),
        2,
        "the request is built again for the retry"
    );
}

#[tokio::test]
async fn a_second_401_is_an_authentication_error() {
    let server = MockServer::start().await;
    two_tokens(&server, 1).await;
    Mock::given(path(RECORDS))
        .respond_with(ResponseTemplate::new(401).set_body_string("token rejected"))
        .expect(2)
        .mount(&server)
        .await;
    let transport: Arc<dyn Transport> = Arc::new(HyperTransport::new().unwrap());
    let tokens = oauth(transport.clone(), &server);
    let url = format!("{}{RECORDS}", server.uri());
    let error = send_authorized(&*transport, &tokens, "https://se", "emea", || {
        Request::get(url.as_str()).body(Body::empty()).unwrap()
    })
    .await
    .unwrap_err();
    assert!(error.is_authentication());
    assert_eq!(
        error.to_string(),
        format!("GET {url} failed with HTTP 401 Unauthorized: token rejected")
    );
}

#[tokio::test]
async fn a_static_tokens_401_is_an_authentication_error_without_retry() {
    let server = MockServer::start().await;
    Mock::given(path(RECORDS))
        .and(header("authorization", "Bearer fixed"))
        .respond_with(ResponseTemplate::new(401).set_body_string("nope"))
        .expect(1)
        .mount(&server)
        .await;
    let transport = HyperTransport::new().unwrap();
    let tokens = StaticTokenProvider::new("fixed");
    let url = format!("{}{RECORDS}", server.uri());
    let error = send_authorized(&transport, &tokens, "https://se", "emea", || {
        Request::delete(url.as_str()).body(Body::empty()).unwrap()
    })
    .await
    .unwrap_err();
    match error {
        AuthError::Unauthorized {
            method,
            url: got,
            body,
        } => {
            assert_eq!(method, "DELETE");
            assert_eq!(got, url);
            assert_eq!(body, "nope");
        }
        other => panic!("unexpected error {other:?}"),
    }
}

#[tokio::test]
async fn other_failures_are_returned_as_responses() {
    let server = MockServer::start().await;
    Mock::given(path(RECORDS))
        .respond_with(ResponseTemplate::new(403))
        .expect(1)
        .mount(&server)
        .await;
    let transport = HyperTransport::new().unwrap();
    let tokens = StaticTokenProvider::new("fixed");
    let url = format!("{}{RECORDS}", server.uri());
    let response = send_authorized(&transport, &tokens, "a", "default", || {
        Request::get(url.as_str()).body(Body::empty()).unwrap()
    })
    .await
    .unwrap();
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn a_token_failure_stops_before_the_request() {
    let server = MockServer::start().await;
    Mock::given(path("/oauth2/token"))
        .respond_with(ResponseTemplate::new(500))
        .mount(&server)
        .await;
    Mock::given(path(RECORDS))
        .respond_with(ResponseTemplate::new(200))
        .expect(0)
        .mount(&server)
        .await;
    let transport: Arc<dyn Transport> = Arc::new(HyperTransport::new().unwrap());
    let tokens = oauth(transport.clone(), &server);
    let url = format!("{}{RECORDS}", server.uri());
    let error = send_authorized(&*transport, &tokens, "a", "default", || {
        Request::get(url.as_str()).body(Body::empty()).unwrap()
    })
    .await
    .unwrap_err();
    assert!(
        matches!(error, AuthError::TokenEndpointStatus { .. }),
        "{error:?}"
    );
}
