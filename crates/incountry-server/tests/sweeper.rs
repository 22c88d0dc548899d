#![allow(clippy::unwrap_used, clippy::expect_used)]
//! The background sweeper of a running server deletes expired records and their files.

use std::time::Duration;

use axum::body::Body;
use chrono::Utc;
use http::{Request, StatusCode, header};
use http_body_util::BodyExt;
use incountry_server::{Server, ServerConfig};
use serde_json::{Value, json};
use tower::ServiceExt;

#[tokio::test]
async fn the_sweeper_deletes_expired_records_and_their_attachments() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = ServerConfig::default();
    config.listen = "127.0.0.1:0".parse().unwrap();
    config.data_dir = dir.path().to_owned();
    config.sweep_interval = Duration::from_millis(100);
    let running = Server::bind(config).await.unwrap();
    let server = running.server();
    let token = server.issue_token("env", "", Utc::now() + chrono::Duration::hours(1));
    let router = server.router();
    let call = |path: &str, content_type: &str, body: Body| {
        Request::post(path)
            .header(header::AUTHORIZATION, format!("Bearer {token}"))
            .header("x-env-id", "env")
            .header(header::CONTENT_TYPE, content_type)
            .body(body)
            .unwrap()
    };
    // Long enough for the upload below to find the record alive even on a loaded machine.
    let expires = (Utc::now() + chrono::Duration::seconds(2)).to_rfc3339();
    for record in [
        json!({"record_key": "brief", "body": "2:x", "expires_at": expires}),
        json!({"record_key": "lasting", "body": "2:x"}),
    ] {
        let response = router
            .clone()
            .oneshot(call(
                "/v2/storage/records/nl",
                "application/json",
                Body::from(record.to_string()),
            ))
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::CREATED);
    }
    let upload = "--b\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.txt\"\r\n\r\nabc\r\n--b--\r\n";
    let response = router
        .clone()
        .oneshot(call(
            "/v2/storage/records/nl/brief/attachments",
            "multipart/form-data; boundary=b",
            Body::from(upload),
        ))
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::CREATED);
    let meta: Value =
        serde_json::from_slice(&response.into_body().collect().await.unwrap().to_bytes()).unwrap();
    let file = dir
        .path()
        .join("nl/files")
        .join(meta["file_id"].as_str().unwrap());
    assert!(file.exists());

    let database = dir.path().join("nl/records.sqlite3");
    let pool = sqlx::SqlitePool::connect(&format!("sqlite://{}", database.display()))
        .await
        .unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    loop {
        let left: Vec<String> = sqlx::query_scalar("SELECT record_key FROM records")
            .fetch_all(&pool)
            .await
            .unwrap();
        if left == ["lasting"] {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "not swept in time: {left:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while file.exists() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the attachment's file stayed"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    pool.close().await;
    running.shutdown().await.unwrap();
}
