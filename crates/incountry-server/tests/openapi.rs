#![allow(clippy::unwrap_used, clippy::expect_used)]
//! `GET /openapi.json`: an OpenAPI document, served without a token, that describes exactly
//! the routes the router serves and declares the bearer scheme the storage routes need.

use std::collections::BTreeSet;

use axum::body::Body;
use http::{Method, Request, StatusCode};
use http_body_util::BodyExt;
use incountry_server::{Server, ServerConfig};
use serde_json::Value;
use tower::ServiceExt;

/// The route table: every (method, path) the server answers.
const ROUTES: [(&str, &str); 17] = [
    ("post", "/v2/storage/records/{cc}"),
    ("post", "/v2/storage/records/{cc}/batchWrite"),
    ("post", "/v2/storage/records/{cc}/batchDelete"),
    ("post", "/v2/storage/records/{cc}/find"),
    ("get", "/v2/storage/records/{cc}/{rk}"),
    ("delete", "/v2/storage/records/{cc}/{rk}"),
    ("post", "/v2/storage/records/{cc}/{rk}/attachments"),
    ("put", "/v2/storage/records/{cc}/{rk}/attachments"),
    ("get", "/v2/storage/records/{cc}/{rk}/attachments/{file_id}"),
    (
        "delete",
        "/v2/storage/records/{cc}/{rk}/attachments/{file_id}",
    ),
    (
        "get",
        "/v2/storage/records/{cc}/{rk}/attachments/{file_id}/meta",
    ),
    (
        "patch",
        "/v2/storage/records/{cc}/{rk}/attachments/{file_id}/meta",
    ),
    ("post", "/oauth2/token"),
    ("get", "/countries"),
    ("get", "/healthcheck"),
    ("get", "/readyz"),
    ("get", "/openapi.json"),
];

fn route_table() -> BTreeSet<(String, String)> {
    ROUTES
        .iter()
        .map(|(m, p)| ((*m).to_owned(), (*p).to_owned()))
        .collect()
}

const HTTP_METHODS: [&str; 8] = [
    "get", "put", "post", "delete", "options", "head", "patch", "trace",
];

async fn document() -> (Server, Value) {
    let server = Server::new(ServerConfig::in_memory()).await.unwrap();
    let response = server
        .router()
        .oneshot(Request::get("/openapi.json").body(Body::empty()).unwrap())
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK, "served without a token");
    assert_eq!(response.headers()["content-type"], "application/json");
    let body = response.into_body().collect().await.unwrap().to_bytes();
    let document: Value = serde_json::from_slice(&body).unwrap();
    (server, document)
}

fn operations(document: &Value) -> BTreeSet<(String, String)> {
    let mut out = BTreeSet::new();
    for (path, item) in document["paths"].as_object().unwrap() {
        for (method, _) in item.as_object().unwrap() {
            if HTTP_METHODS.contains(&method.as_str()) {
                out.insert((method.clone(), path.clone()));
            }
        }
    }
    out
}

#[tokio::test]
async fn the_document_is_openapi_3_with_info() {
    let (_, document) = document().await;
    assert!(
        document["openapi"].as_str().unwrap().starts_with("3."),
        "{}",
        document["openapi"]
    );
    assert_eq!(document["info"]["title"], "incountry-server");
    assert!(document["info"]["version"].is_string());
}

#[tokio::test]
async fn the_document_lists_exactly_the_route_table() {
    let (_, document) = document().await;
    assert_eq!(operations(&document), route_table());
}

#[tokio::test]
async fn every_documented_operation_is_served() {
    let (server, document) = document().await;
    let router = server.router();
    for (method, path) in operations(&document) {
        let concrete = path
            .replace("{cc}", "us")
            .replace("{rk}", "rk")
            .replace("{file_id}", "00000000-0000-0000-0000-000000000000");
        let method = Method::from_bytes(method.to_ascii_uppercase().as_bytes()).unwrap();
        let response = router
            .clone()
            .oneshot(
                Request::builder()
                    .method(method.clone())
                    .uri(&concrete)
                    .body(Body::empty())
                    .unwrap(),
            )
            .await
            .unwrap();
        let status = response.status();
        let body = response.into_body().collect().await.unwrap().to_bytes();
        let text = String::from_utf8_lossy(&body);
        assert_ne!(status, StatusCode::METHOD_NOT_ALLOWED, "{method} {path}");
        assert!(
            !text.contains("no such route"),
            "{method} {path} fell through to the fallback"
        );
    }
}

#[tokio::test]
async fn storage_operations_require_the_bearer_scheme() {
    let (_, document) = document().await;
    let scheme = &document["components"]["securitySchemes"]["bearer"];
    assert_eq!(scheme["type"], "http");
    assert_eq!(scheme["scheme"], "bearer");
    for (method, path) in operations(&document) {
        let security = &document["paths"][&path][&method]["security"];
        if path.starts_with("/v2/storage/") {
            assert_eq!(
                security,
                &serde_json::json!([{"bearer": []}]),
                "{method} {path}"
            );
            let params = document["paths"][&path][&method]["parameters"]
                .as_array()
                .unwrap();
            assert!(
                params
                    .iter()
                    .any(|p| p["name"] == "x-env-id" && p["in"] == "header"),
                "{method} {path} documents x-env-id"
            );
        } else {
            assert!(
                security.is_null()
                    || security
                        .as_array()
                        .unwrap()
                        .iter()
                        .all(|s| s.get("bearer").is_none()),
                "{method} {path} needs no bearer token"
            );
        }
    }
}

#[tokio::test]
async fn bodies_and_errors_are_described() {
    let (_, document) = document().await;
    let schemas = &document["components"]["schemas"];
    for name in [
        "Record",
        "RecordInput",
        "BatchWriteRequest",
        "FindRequest",
        "FindResponse",
        "AttachmentMeta",
        "ErrorBody",
        "TokenResponse",
    ] {
        assert!(schemas[name].is_object(), "{name} missing");
    }
    let record = &schemas["Record"]["properties"];
    for member in incountry_model::WIRE_RECORD_FIELDS {
        assert!(record[member].is_object(), "Record.{member} missing");
    }
    let write = &document["paths"]["/v2/storage/records/{cc}"]["post"];
    assert_eq!(
        write["requestBody"]["content"]["application/json"]["schema"]["$ref"],
        "#/components/schemas/RecordInput"
    );
    assert_eq!(
        write["responses"]["400"]["content"]["application/json"]["schema"]["$ref"],
        "#/components/schemas/ErrorBody"
    );
    assert!(write["responses"]["429"]["headers"]["Retry-After"].is_object());
    let upload = &document["paths"]["/v2/storage/records/{cc}/{rk}/attachments"]["post"];
    assert!(upload["requestBody"]["content"]["multipart/form-data"].is_object());
}

#[tokio::test]
async fn the_server_gives_the_same_document_in_process() {
    let (server, served) = document().await;
    let direct: Value = serde_json::from_str(&server.openapi_json()).unwrap();
    assert_eq!(direct, served);
}
