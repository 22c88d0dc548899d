#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Limits: per-client rate limits (429 with `Retry-After`), body, batch and find limits
//! (413 / 400), and concurrent writers to one record key on SQLite and PostgreSQL.

use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use base64::Engine;
use chrono::{Duration, Utc};
use http::{Request, StatusCode, header};
use http_body_util::BodyExt;
use incountry_server::{RateLimit, Server, ServerConfig, StorageConfig};
use incountry_test_support::postgres;
use serde_json::{Value, json};
use tower::ServiceExt;

const ENV: &str = "env-a";
const RECORDS: &str = "/v2/storage/records/us";

async fn send(router: &Router, request: Request<Body>) -> (StatusCode, http::HeaderMap, Value) {
    let response = router.clone().oneshot(request).await.unwrap();
    let status = response.status();
    let headers = response.headers().clone();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    (status, headers, body)
}

async fn client_token(router: &Router, client: &str, secret: &str, scope: &str) -> String {
    let basic = base64::engine::general_purpose::STANDARD.encode(format!("{client}:{secret}"));
    let (status, _, body) = send(
        router,
        Request::post("/oauth2/token")
            .header(header::AUTHORIZATION, format!("Basic {basic}"))
            .body(Body::from(format!(
                "grant_type=client_credentials&scope={scope}&audience=http://pop.test"
            )))
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    body["access_token"].as_str().unwrap().to_owned()
}

fn post(path: &str, token: &str, env: &str, body: impl Into<Body>) -> Request<Body> {
    Request::post(path)
        .header(header::HOST, "pop.test")
        .header(header::AUTHORIZATION, format!("Bearer {token}"))
        .header("x-env-id", env)
        .header(header::CONTENT_TYPE, "application/json")
        .body(body.into())
        .unwrap()
}

fn get(path: &str, token: &str, env: &str) -> Request<Body> {
    Request::get(path)
        .header(header::HOST, "pop.test")
        .header(header::AUTHORIZATION, format!("Bearer {token}"))
        .header("x-env-id", env)
        .body(Body::empty())
        .unwrap()
}

#[tokio::test]
async fn a_client_over_its_rate_limit_gets_429_with_retry_after_in_every_environment() {
    let mut config = ServerConfig::in_memory()
        .with_client("a", "secret-a-0123456789")
        .with_client("b", "secret-b-0123456789");
    config.rate_limit = Some(RateLimit::new(1, 2));
    let server = Server::new(config).await.unwrap();
    let router = server.router();
    let a1 = client_token(&router, "a", "secret-a-0123456789", "env-1").await;
    let a2 = client_token(&router, "a", "secret-a-0123456789", "env-2").await;
    let b1 = client_token(&router, "b", "secret-b-0123456789", "env-1").await;
    for _ in 0..2 {
        let (status, _, _) = send(&router, get(&format!("{RECORDS}/x"), &a1, "env-1")).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
    }
    let (status, headers, body) = send(&router, get(&format!("{RECORDS}/x"), &a2, "env-2")).await;
    assert_eq!(
        status,
        StatusCode::TOO_MANY_REQUESTS,
        "the client's budget is shared by its environments"
    );
    let retry_after: u64 = headers[header::RETRY_AFTER]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=60).contains(&retry_after), "{retry_after}");
    assert_eq!(body["errors"][0]["status"], 429);
    let (status, _, _) = send(&router, get(&format!("{RECORDS}/x"), &b1, "env-1")).await;
    assert_eq!(
        status,
        StatusCode::NOT_FOUND,
        "another client has its own budget"
    );
}

async fn limited_server() -> (Router, String) {
    let mut config = ServerConfig::in_memory();
    config.max_json_body = 4096;
    let server = Server::new(config).await.unwrap();
    let token = server.issue_token(ENV, "", Utc::now() + Duration::hours(1));
    (server.router(), token)
}

#[tokio::test]
async fn a_json_body_over_the_limit_is_413_on_every_json_route() {
    let (router, token) = limited_server().await;
    let big = json!({"record_key": "k", "body": "x".repeat(5000)}).to_string();
    for path in [
        RECORDS.to_owned(),
        format!("{RECORDS}/batchWrite"),
        format!("{RECORDS}/find"),
        format!("{RECORDS}/batchDelete"),
    ] {
        let (status, _, body) = send(&router, post(&path, &token, ENV, big.clone())).await;
        assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{path}: {body}");
        assert_eq!(body["errors"][0]["source"], "body");
    }
    let (status, _, _) = send(&router, get(&format!("{RECORDS}/k"), &token, ENV)).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "nothing was stored");
}

#[tokio::test]
async fn a_streamed_body_over_the_limit_is_413() {
    let (router, token) = limited_server().await;
    let chunks = (0..10).map(|_| Ok::<_, std::io::Error>(bytes::Bytes::from(vec![b' '; 1024])));
    let body = Body::from_stream(futures_util::stream::iter(chunks));
    let (status, _, _) = send(&router, post(RECORDS, &token, ENV, body)).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
}

#[tokio::test]
async fn an_oversized_token_request_is_413() {
    let (router, _) = limited_server().await;
    let (status, _, body) = send(
        &router,
        Request::post("/oauth2/token")
            .body(Body::from("scope=".to_owned() + &"e".repeat(70 * 1024)))
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(body["error"], "invalid_request");
}

#[tokio::test]
async fn a_batch_of_101_records_is_400_and_stores_nothing() {
    let (router, token) = {
        let server = Server::new(ServerConfig::in_memory()).await.unwrap();
        let token = server.issue_token(ENV, "", Utc::now() + Duration::hours(1));
        (server.router(), token)
    };
    let records: Vec<Value> = (0..101)
        .map(|i| json!({"record_key": format!("k{i}"), "body": "2:x"}))
        .collect();
    let (status, _, body) = send(
        &router,
        post(
            &format!("{RECORDS}/batchWrite"),
            &token,
            ENV,
            json!({ "records": records }).to_string(),
        ),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(body["errors"][0]["source"], "records");
    let (status, _, _) = send(&router, get(&format!("{RECORDS}/k0"), &token, ENV)).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _, _) = send(
        &router,
        post(
            &format!("{RECORDS}/batchWrite"),
            &token,
            ENV,
            json!({ "records": records[..100] }).to_string(),
        ),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "100 records are allowed");
}

#[tokio::test]
async fn an_empty_batch_is_400() {
    let (router, token) = limited_server().await;
    let (status, _, _) = send(
        &router,
        post(
            &format!("{RECORDS}/batchWrite"),
            &token,
            ENV,
            r#"{"records": []}"#,
        ),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn a_find_page_over_100_or_of_0_is_400() {
    let (router, token) = limited_server().await;
    for limit in [0, 101, -1] {
        let (status, _, body) = send(
            &router,
            post(
                &format!("{RECORDS}/find"),
                &token,
                ENV,
                json!({"filter": {}, "options": {"limit": limit}}).to_string(),
            ),
        )
        .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "limit {limit}: {body}");
    }
    let (status, _, body) = send(
        &router,
        post(
            &format!("{RECORDS}/find"),
            &token,
            ENV,
            json!({"filter": {}, "options": {"limit": 100}}).to_string(),
        ),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

/// Writers racing on one key: afterwards the record is one writer's, whole.
async fn concurrent_writers_leave_one_whole_record(config: ServerConfig) {
    const WRITERS: usize = 8;
    const ROUNDS: usize = 4;
    let server = Server::new(config).await.unwrap();
    let token = Arc::new(server.issue_token(ENV, "", Utc::now() + Duration::hours(1)));
    let router = server.router();
    for round in 0..ROUNDS {
        let key = format!("contended-{round}");
        let mut tasks = Vec::new();
        for writer in 0..WRITERS {
            let (router, token, key) = (router.clone(), token.clone(), key.clone());
            tasks.push(tokio::spawn(async move {
                let mut record = json!({
                    "record_key": key,
                    "body": format!("body-of-writer-{writer}"),
                    "profile_key": format!("profile-{writer}"),
                    "range_key1": writer,
                    "version": writer,
                });
                for i in 1..=20 {
                    record[format!("key{i}")] = json!(format!("w{writer}-k{i}"));
                }
                // Half the writers use batch writes, which take the same path to the store.
                let (path, body) = if writer % 2 == 0 {
                    (RECORDS.to_owned(), record)
                } else {
                    (
                        format!("{RECORDS}/batchWrite"),
                        json!({ "records": [record] }),
                    )
                };
                let (status, _, answer) =
                    send(&router, post(&path, &token, ENV, body.to_string())).await;
                assert_eq!(status, StatusCode::CREATED, "writer {writer}: {answer}");
            }));
        }
        for task in tasks {
            tokio::time::timeout(std::time::Duration::from_secs(60), task)
                .await
                .expect("a writer did not finish")
                .unwrap();
        }
        let (status, _, stored) =
            send(&router, get(&format!("{RECORDS}/{key}"), &token, ENV)).await;
        assert_eq!(status, StatusCode::OK);
        let writer = stored["body"]
            .as_str()
            .unwrap()
            .strip_prefix("body-of-writer-")
            .unwrap()
            .to_owned();
        assert_eq!(stored["profile_key"], format!("profile-{writer}"));
        assert_eq!(stored["range_key1"].to_string(), writer);
        assert_eq!(stored["version"].to_string(), writer);
        for i in 1..=20 {
            assert_eq!(
                stored[format!("key{i}")],
                format!("w{writer}-k{i}"),
                "key{i} is from another writer than the body: {stored}"
            );
        }
        let (_, _, found) = send(
            &router,
            post(
                &format!("{RECORDS}/find"),
                &token,
                ENV,
                json!({"filter": {"record_key": key}, "options": {"limit": 10}}).to_string(),
            ),
        )
        .await;
        assert_eq!(found["meta"]["total"], 1, "exactly one record: {found}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_writers_to_one_key_leave_one_whole_record_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = ServerConfig::default();
    config.data_dir = dir.path().to_owned();
    config.storage = StorageConfig::SqliteFiles;
    concurrent_writers_leave_one_whole_record(config).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_writers_to_one_key_leave_one_whole_record_on_postgresql() {
    let Some(url) =
        postgres::url("limits::concurrent_writers_to_one_key_leave_one_whole_record_on_postgresql")
    else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let prefix = format!("{}_", postgres::unique_name("incountry_race_"));
    let mut config = ServerConfig::default();
    config.data_dir = dir.path().to_owned();
    config.storage = StorageConfig::Postgres {
        url: url.clone(),
        schema_prefix: prefix.clone(),
    };
    concurrent_writers_leave_one_whole_record(config).await;
    let pool = sqlx::PgPool::connect(&url).await.unwrap();
    sqlx::query(&format!("DROP SCHEMA IF EXISTS \"{prefix}us\" CASCADE"))
        .execute(&pool)
        .await
        .unwrap();
}
