#![allow(clippy::unwrap_used, clippy::expect_used)]
//! OAuth2 client credentials against a local token endpoint.

use std::sync::Arc;
use std::time::Duration;

use incountry_auth::{
    AuthEndpoints, AuthError, OAuthTokenProvider, StaticTokenProvider, TokenProvider,
};
use incountry_transport::{HyperTransport, ManualClock, Transport};
use serde_json::json;
use wiremock::matchers::{header, method, path};
use wiremock::{Match, Mock, MockServer, Request, ResponseTemplate};

const AUDIENCE: &str = "https://us-mt-01.api.incountry.io https://ag-mt-01.api.incountry.io";

/// Matches a form body with exactly these fields, in any order.
struct FormIs(Vec<(&'static str, String)>);

impl Match for FormIs {
    fn matches(&self, request: &Request) -> bool {
        let mut got: Vec<(String, String)> = url::form_urlencoded::parse(&request.body)
            .into_owned()
            .collect();
        let mut expected: Vec<(String, String)> = self
            .0
            .iter()
            .map(|(k, v)| ((*k).to_owned(), v.clone()))
            .collect();
        got.sort();
        expected.sort();
        got == expected
    }
}

fn token_body(token: &str, expires_in: u64) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_json(json!({
        "access_token": token,
        "expires_in": expires_in,
        "token_type": "bearer",
        "scope": "env-id",
    }))
}

fn transport() -> Arc<dyn Transport> {
    Arc::new(HyperTransport::new().unwrap())
}

fn endpoints(server: &MockServer) -> AuthEndpoints {
    AuthEndpoints::new([
        ("default", format!("{}/default/oauth2/token", server.uri())),
        ("APAC", format!("{}/apac/oauth2/token", server.uri())),
    ])
    .unwrap()
}

fn provider(server: &MockServer) -> OAuthTokenProvider {
    OAuthTokenProvider::builder(transport(), "client-id", "client secret", "env-id")
        .auth_endpoints(endpoints(server))
        .build()
        .unwrap()
}

#[tokio::test]
async fn the_token_request_is_client_credentials_with_basic_auth() {
    let server = MockServer::start().await;
    // base64("client-id:client secret")
    Mock::given(method("POST"))
        .and(path("/default/oauth2/token"))
        .and(header(
            "authorization",
            "Basic Y2xpZW50LWlkOmNsaWVudCBzZWNyZXQ=",
        ))
        .and(header("content-type", "application/x-www-form-urlencoded"))
        .and(FormIs(vec![
            ("grant_type", "client_credentials".to_owned()),
            ("scope", "env-id".to_owned()),
            ("audience", AUDIENCE.to_owned()),
        ]))
        .respond_with(token_body("token-1", 3600))
        .expect(1)
        .mount(&server)
        .await;
    let token = provider(&server)
        .token(AUDIENCE, "default", false)
        .await
        .unwrap();
    assert_eq!(token.secret(), "token-1");
}

#[tokio::test]
async fn the_region_picks_the_endpoint_and_unknown_regions_use_default() {
    let server = MockServer::start().await;
    Mock::given(path("/apac/oauth2/token"))
        .respond_with(token_body("apac-token", 3600))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(path("/default/oauth2/token"))
        .respond_with(token_body("default-token", 3600))
        .expect(1)
        .mount(&server)
        .await;
    let provider = provider(&server);
    let apac = provider.token("https://a", "Apac", false).await.unwrap();
    assert_eq!(apac.secret(), "apac-token");
    let other = provider.token("https://b", "amer", false).await.unwrap();
    assert_eq!(other.secret(), "default-token");
}

#[tokio::test]
async fn one_hundred_concurrent_callers_share_one_token_request() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(token_body("shared", 3600).set_delay(Duration::from_millis(50)))
        .expect(1)
        .mount(&server)
        .await;
    let provider = Arc::new(provider(&server));
    let mut tasks = Vec::new();
    for _ in 0..100 {
        let provider = provider.clone();
        tasks.push(tokio::spawn(async move {
            provider.token(AUDIENCE, "default", false).await
        }));
    }
    for task in tasks {
        assert_eq!(task.await.unwrap().unwrap().secret(), "shared");
    }
    server.verify().await;
}

#[tokio::test]
async fn tokens_are_cached_per_audience() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(FormIs(vec![
            ("grant_type", "client_credentials".to_owned()),
            ("scope", "env-id".to_owned()),
            ("audience", "https://a".to_owned()),
        ]))
        .respond_with(token_body("for-a", 3600))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .respond_with(token_body("for-b", 3600))
        .expect(1)
        .mount(&server)
        .await;
    let provider = provider(&server);
    for _ in 0..3 {
        assert_eq!(
            provider
                .token("https://a", "default", false)
                .await
                .unwrap()
                .secret(),
            "for-a"
        );
        assert_eq!(
            provider
                .token("https://b", "default", false)
                .await
                .unwrap()
                .secret(),
            "for-b"
        );
    }
}

#[tokio::test]
async fn a_token_is_replaced_shortly_before_it_expires() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(token_body("first", 3600))
        .up_to_n_times(1)
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .respond_with(token_body("second", 3600))
        .expect(1)
        .mount(&server)
        .await;
    let clock = Arc::new(ManualClock::new());
    let provider = OAuthTokenProvider::builder(transport(), "id", "secret", "env-id")
        .auth_endpoints(endpoints(&server))
        .refresh_margin(Duration::from_secs(10))
        .clock(clock.clone())
        .build()
        .unwrap();
    assert_eq!(
        provider.token(AUDIENCE, "", false).await.unwrap().secret(),
        "first"
    );
    clock.advance(Duration::from_secs(3589));
    assert_eq!(
        provider.token(AUDIENCE, "", false).await.unwrap().secret(),
        "first"
    );
    clock.advance(Duration::from_secs(1));
    assert_eq!(
        provider.token(AUDIENCE, "", false).await.unwrap().secret(),
        "second"
    );
}

#[tokio::test]
async fn a_forced_refresh_fetches_a_new_token() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(token_body("first", 3600))
        .up_to_n_times(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .respond_with(token_body("second", 3600))
        .expect(1)
        .mount(&server)
        .await;
    let provider = provider(&server);
    assert!(provider.can_refresh());
    assert_eq!(
        provider.token(AUDIENCE, "", false).await.unwrap().secret(),
        "first"
    );
    assert_eq!(
        provider.token(AUDIENCE, "", true).await.unwrap().secret(),
        "second"
    );
    assert_eq!(
        provider.token(AUDIENCE, "", false).await.unwrap().secret(),
        "second"
    );
}

#[tokio::test]
async fn concurrent_forced_refreshes_share_one_token_request() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(token_body("first", 3600))
        .up_to_n_times(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .respond_with(token_body("second", 3600).set_delay(Duration::from_millis(50)))
        .expect(1)
        .mount(&server)
        .await;
    let provider = Arc::new(provider(&server));
    assert_eq!(
        provider.token(AUDIENCE, "", false).await.unwrap().secret(),
        "first"
    );
    // Ten requests were refused with 401 at once: each asks for a new token.
    let mut tasks = Vec::new();
    for _ in 0..10 {
        let provider = provider.clone();
        tasks.push(tokio::spawn(async move {
            provider.token(AUDIENCE, "", true).await
        }));
    }
    for task in tasks {
        assert_eq!(task.await.unwrap().unwrap().secret(), "second");
    }
    server.verify().await;
}

#[tokio::test]
async fn a_rejected_token_request_is_an_authentication_error_with_status_url_and_body() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(401).set_body_string(r#"{"error":"invalid_client"}"#))
        .mount(&server)
        .await;
    let error = provider(&server)
        .token(AUDIENCE, "", false)
        .await
        .unwrap_err();
    assert!(error.is_authentication());
    let url = format!("{}/default/oauth2/token", server.uri());
    match &error {
        AuthError::TokenEndpointStatus {
            status,
            url: got,
            body,
        } => {
            assert_eq!(status.as_u16(), 401);
            assert_eq!(got, &url);
            assert_eq!(body, r#"{"error":"invalid_client"}"#);
        }
        other => panic!("unexpected error {other:?}"),
    }
    assert_eq!(
        error.to_string(),
        format!(
            r#"OAuth token request to {url} failed with HTTP 401 Unauthorized: {{"error":"invalid_client"}}"#
        )
    );
}

#[tokio::test]
async fn a_malformed_token_response_is_an_authentication_error() {
    let cases = [
        ("not json", "malformed JSON body"),
        (r#"{"expires_in": 3600}"#, "missing field `access_token`"),
        (r#"{"access_token": "t"}"#, "missing field `expires_in`"),
        (
            r#"{"access_token": "", "expires_in": 3600}"#,
            "`access_token` is empty",
        ),
        (r#"{"access_token": "t", "expires_in": -1}"#, "non-negative"),
    ];
    for (body, expected) in cases {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .respond_with(ResponseTemplate::new(200).set_body_string(body))
            .mount(&server)
            .await;
        let error = provider(&server)
            .token(AUDIENCE, "", false)
            .await
            .unwrap_err();
        assert!(error.is_authentication(), "{error:?}");
        match error {
            AuthError::TokenResponse { message, .. } => {
                assert!(message.contains(expected), "{body}: {message}")
            }
            other => panic!("{body}: unexpected error {other:?}"),
        }
    }
}

#[tokio::test]
async fn an_unreachable_token_endpoint_is_a_network_error() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap();
    drop(listener);
    let endpoints = AuthEndpoints::new([("default", format!("http://{address}/token"))]).unwrap();
    let provider = OAuthTokenProvider::builder(transport(), "id", "secret", "env")
        .auth_endpoints(endpoints)
        .build()
        .unwrap();
    let error = provider.token(AUDIENCE, "", false).await.unwrap_err();
    assert!(matches!(error, AuthError::TokenRequest { .. }), "{error:?}");
    assert!(error.is_network(), "{error:?}");
    assert!(!error.is_authentication(), "{error:?}");
}

#[tokio::test]
async fn secrets_and_tokens_never_show_in_debug_output() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(token_body("very-secret-token", 3600))
        .mount(&server)
        .await;
    let provider = OAuthTokenProvider::builder(transport(), "client-id", "hunter2-secret", "env")
        .auth_endpoints(endpoints(&server))
        .build()
        .unwrap();
    let token = provider.token(AUDIENCE, "", false).await.unwrap();
    let shown = format!(
        "{provider:?} {token:?} {:?}",
        StaticTokenProvider::new("static-secret")
    );
    assert!(shown.contains("client-id"), "{shown}");
    for secret in ["hunter2-secret", "very-secret-token", "static-secret"] {
        assert!(!shown.contains(secret), "{shown}");
    }
    assert!(token.bearer_header().unwrap().is_sensitive());
}

#[tokio::test]
async fn empty_credentials_are_a_configuration_error() {
    for (id, secret, env) in [("", "s", "e"), ("i", "", "e"), ("i", "s", "")] {
        let error = OAuthTokenProvider::builder(transport(), id, secret, env)
            .build()
            .unwrap_err();
        assert!(matches!(error, AuthError::Config(_)), "{error:?}");
    }
}

#[tokio::test]
async fn a_static_token_is_always_the_same_and_cannot_refresh() {
    let provider = StaticTokenProvider::new("static");
    assert!(!provider.can_refresh());
    assert_eq!(
        provider.token("a", "b", false).await.unwrap().secret(),
        "static"
    );
    assert_eq!(
        provider.token("c", "d", true).await.unwrap().secret(),
        "static"
    );
}

#[test]
fn default_endpoints_are_the_official_ones() {
    let endpoints = AuthEndpoints::default();
    assert_eq!(
        endpoints.endpoint_for("apac"),
        "https://auth-apac.incountry.com/oauth2/token"
    );
    assert_eq!(
        endpoints.endpoint_for("EMEA"),
        "https://auth-emea.incountry.com/oauth2/token"
    );
    assert_eq!(
        endpoints.endpoint_for("default"),
        "https://auth-emea.incountry.com/oauth2/token"
    );
    assert_eq!(
        endpoints.endpoint_for("amer"),
        "https://auth-emea.incountry.com/oauth2/token"
    );
    assert_eq!(
        endpoints.endpoint_for(""),
        "https://auth-emea.incountry.com/oauth2/token"
    );
}

#[test]
fn user_endpoints_need_a_default_and_valid_urls() {
    let error = AuthEndpoints::new([("emea", "https://auth.example.com")]).unwrap_err();
    assert!(error.to_string().contains("\"default\""), "{error}");
    let error = AuthEndpoints::new([("default", "auth.example.com")]).unwrap_err();
    assert!(
        error.to_string().contains("not a valid http(s) URL"),
        "{error}"
    );
    let error = AuthEndpoints::new([("default", "ftp://auth.example.com")]).unwrap_err();
    assert!(error.to_string().contains("scheme"), "{error}");
    let error = AuthEndpoints::new([
        ("default", "https://a.example.com"),
        ("EMEA", "https://b.example.com"),
        ("emea", "https://c.example.com"),
    ])
    .unwrap_err();
    assert!(error.to_string().contains("twice"), "{error}");
    let endpoints = AuthEndpoints::new([
        ("DEFAULT", "https://a.example.com"),
        ("Apac", "https://b.example.com"),
    ])
    .unwrap();
    assert_eq!(endpoints.endpoint_for("apac"), "https://b.example.com");
    assert_eq!(endpoints.endpoint_for("emea"), "https://a.example.com");
}
