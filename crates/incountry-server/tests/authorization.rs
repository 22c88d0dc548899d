#![allow(clippy::unwrap_used, clippy::expect_used)]
//! The authorisation matrix of the storage routes: one test per way a request can fail to be
//! authorised, each answered 401 or 403 with a JSON error and without touching data.

use axum::Router;
use axum::body::Body;
use base64::Engine;
use chrono::{Duration, Utc};
use http::{Request, StatusCode, header};
use http_body_util::BodyExt;
use incountry_server::{Server, ServerConfig};
use serde_json::Value;
use tower::ServiceExt;

const ENV: &str = "env-a";
const CLIENT: &str = "client-a";
const SECRET: &str = "secret-a-0123456789";
const HOST: &str = "pop.test";
const READ: &str = "/v2/storage/records/us/some-key-hash";

struct Setup {
    server: Server,
    router: Router,
}

async fn setup() -> Setup {
    let server = Server::new(ServerConfig::in_memory().with_client(CLIENT, SECRET))
        .await
        .unwrap();
    let router = server.router();
    Setup { server, router }
}

impl Setup {
    /// A token from `POST /oauth2/token` for `scope` and `audience`.
    async fn token(&self, scope: &str, audience: &str) -> String {
        let basic = base64::engine::general_purpose::STANDARD.encode(format!("{CLIENT}:{SECRET}"));
        let response = self
            .router
            .clone()
            .oneshot(
                Request::post("/oauth2/token")
                    .header(header::AUTHORIZATION, format!("Basic {basic}"))
                    .body(Body::from(format!(
                        "grant_type=client_credentials&scope={scope}&audience={audience}"
                    )))
                    .unwrap(),
            )
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        let body: Value =
            serde_json::from_slice(&response.into_body().collect().await.unwrap().to_bytes())
                .unwrap();
        body["access_token"].as_str().unwrap().to_owned()
    }

    /// Reads a record with this `Authorization` and `x-env-id`; returns the status and the
    /// error's `source`.
    async fn read(&self, authorization: Option<&str>, env: Option<&str>) -> (StatusCode, Value) {
        let mut request = Request::get(READ).header(header::HOST, HOST);
        if let Some(value) = authorization {
            request = request.header(header::AUTHORIZATION, value);
        }
        if let Some(env) = env {
            request = request.header("x-env-id", env);
        }
        let response = self
            .router
            .clone()
            .oneshot(request.body(Body::empty()).unwrap())
            .await
            .unwrap();
        let status = response.status();
        let body: Value =
            serde_json::from_slice(&response.into_body().collect().await.unwrap().to_bytes())
                .unwrap();
        (status, body)
    }
}

fn assert_refused(answer: (StatusCode, Value), status: StatusCode) {
    assert_eq!(answer.0, status, "{}", answer.1);
    let error = &answer.1["errors"][0];
    assert_eq!(error["status"], status.as_u16());
    for member in ["title", "source", "detail"] {
        assert!(error[member].is_string(), "{member} missing: {}", answer.1);
    }
}

#[tokio::test]
async fn a_valid_token_for_the_environment_is_authorised() {
    let setup = setup().await;
    let token = setup.token(ENV, "http://pop.test").await;
    let (status, _) = setup
        .read(Some(&format!("Bearer {token}")), Some(ENV))
        .await;
    assert_eq!(
        status,
        StatusCode::NOT_FOUND,
        "authorised: the record is absent"
    );
}

#[tokio::test]
async fn no_token_is_401() {
    let setup = setup().await;
    assert_refused(setup.read(None, Some(ENV)).await, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn a_token_in_another_scheme_is_401() {
    let setup = setup().await;
    let token = setup.token(ENV, "http://pop.test").await;
    assert_refused(
        setup.read(Some(&format!("Basic {token}")), Some(ENV)).await,
        StatusCode::UNAUTHORIZED,
    );
}

#[tokio::test]
async fn a_malformed_token_is_401() {
    let setup = setup().await;
    assert_refused(
        setup.read(Some("Bearer ict1.%%%.***"), Some(ENV)).await,
        StatusCode::UNAUTHORIZED,
    );
}

#[tokio::test]
async fn an_expired_token_is_401() {
    let setup = setup().await;
    let expired = setup
        .server
        .issue_token(ENV, "", Utc::now() - Duration::seconds(1));
    assert_refused(
        setup
            .read(Some(&format!("Bearer {expired}")), Some(ENV))
            .await,
        StatusCode::UNAUTHORIZED,
    );
}

#[tokio::test]
async fn a_tampered_signature_is_401() {
    let setup = setup().await;
    let token = setup.token(ENV, "http://pop.test").await;
    let (signed, signature) = token.rsplit_once('.').unwrap();
    let mut flipped: Vec<u8> = signature.bytes().collect();
    flipped[0] = if flipped[0] == b'A' { b'B' } else { b'A' };
    let tampered = format!("{signed}.{}", String::from_utf8(flipped).unwrap());
    assert_refused(
        setup
            .read(Some(&format!("Bearer {tampered}")), Some(ENV))
            .await,
        StatusCode::UNAUTHORIZED,
    );
}

#[tokio::test]
async fn a_tampered_payload_is_401() {
    let setup = setup().await;
    let token = setup.token(ENV, "http://pop.test").await;
    let other = setup.token("env-b", "http://pop.test").await;
    // env-b's claims under env-a's signature.
    let parts: Vec<&str> = token.split('.').collect();
    let other_parts: Vec<&str> = other.split('.').collect();
    let forged = format!("{}.{}.{}", parts[0], other_parts[1], parts[2]);
    assert_refused(
        setup
            .read(Some(&format!("Bearer {forged}")), Some("env-b"))
            .await,
        StatusCode::UNAUTHORIZED,
    );
}

#[tokio::test]
async fn a_token_of_another_server_is_401() {
    let setup = setup().await;
    let other = Server::new(ServerConfig::in_memory()).await.unwrap();
    let foreign = other.issue_token(ENV, "", Utc::now() + Duration::hours(1));
    assert_refused(
        setup
            .read(Some(&format!("Bearer {foreign}")), Some(ENV))
            .await,
        StatusCode::UNAUTHORIZED,
    );
}

#[tokio::test]
async fn a_token_for_another_environment_is_403() {
    let setup = setup().await;
    let token = setup.token("env-b", "http://pop.test").await;
    let answer = setup
        .read(Some(&format!("Bearer {token}")), Some(ENV))
        .await;
    assert_eq!(answer.1["errors"][0]["source"], "x-env-id");
    assert_refused(answer, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn a_token_for_another_audience_is_401() {
    let setup = setup().await;
    let token = setup.token(ENV, "https://elsewhere.test").await;
    assert_refused(
        setup
            .read(Some(&format!("Bearer {token}")), Some(ENV))
            .await,
        StatusCode::UNAUTHORIZED,
    );
}

#[tokio::test]
async fn a_mismatched_x_env_id_is_403() {
    let setup = setup().await;
    let token = setup.token(ENV, "http://pop.test").await;
    assert_refused(
        setup
            .read(Some(&format!("Bearer {token}")), Some("env-b"))
            .await,
        StatusCode::FORBIDDEN,
    );
}

#[tokio::test]
async fn a_missing_x_env_id_is_403() {
    let setup = setup().await;
    let token = setup.token(ENV, "http://pop.test").await;
    assert_refused(
        setup.read(Some(&format!("Bearer {token}")), None).await,
        StatusCode::FORBIDDEN,
    );
}

#[tokio::test]
async fn every_storage_route_refuses_a_request_without_a_token() {
    let setup = setup().await;
    let document: Value = serde_json::from_str(&setup.server.openapi_json()).unwrap();
    let mut checked = 0;
    for (path, item) in document["paths"].as_object().unwrap() {
        if !path.starts_with("/v2/storage/") {
            continue;
        }
        for method in item.as_object().unwrap().keys() {
            let uri = path
                .replace("{cc}", "us")
                .replace("{rk}", "rk")
                .replace("{file_id}", "00000000-0000-0000-0000-000000000000");
            let request = Request::builder()
                .method(method.to_ascii_uppercase().as_str())
                .uri(uri)
                .header("x-env-id", ENV)
                .body(Body::empty())
                .unwrap();
            let response = setup.router.clone().oneshot(request).await.unwrap();
            assert_eq!(
                response.status(),
                StatusCode::UNAUTHORIZED,
                "{method} {path}"
            );
            checked += 1;
        }
    }
    assert_eq!(checked, 12);
}
