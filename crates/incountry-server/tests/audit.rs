#![allow(clippy::unwrap_used, clippy::expect_used)]
//! The audit trail: one JSON line per storage request under `<data_dir>/<cc>/audit.log`,
//! without bodies, secrets or tokens, rotated at its size bound, read back with
//! `audit::read`.

use axum::Router;
use axum::body::Body;
use base64::Engine;
use http::{Method, Request, StatusCode, header};
use http_body_util::BodyExt;
use incountry_server::audit::{self, AuditEntry, AuditFilter, AuditOperation};
use incountry_server::{AuditConfig, Server, ServerConfig, StorageConfig};
use serde_json::{Value, json};
use tower::ServiceExt;

const ENV: &str = "audit-env";
const CLIENT: &str = "audit-client";
const SECRET: &str = "audit-secret-do-not-log";
const BODY: &str = "2:PLAINTEXT-LOOKING-CIPHERTEXT-MARKER";
const KEY1: &str = "KEY1-VALUE-MARKER";

struct Setup {
    dir: tempfile::TempDir,
    server: Server,
    router: Router,
    token: String,
}

async fn setup(audit: AuditConfig) -> Setup {
    let dir = tempfile::tempdir().unwrap();
    let mut config = ServerConfig::default().with_client(CLIENT, SECRET);
    config.data_dir = dir.path().to_owned();
    config.storage = StorageConfig::SqliteFiles;
    config.audit = Some(audit);
    let server = Server::new(config).await.unwrap();
    let router = server.router();
    let basic = base64::engine::general_purpose::STANDARD.encode(format!("{CLIENT}:{SECRET}"));
    let response = router
        .clone()
        .oneshot(
            Request::post("/oauth2/token")
                .header(header::AUTHORIZATION, format!("Basic {basic}"))
                .body(Body::from(format!(
                    "grant_type=client_credentials&scope={ENV}&audience=http://pop.test"
                )))
                .unwrap(),
        )
        .await
        .unwrap();
    let body: Value =
        serde_json::from_slice(&response.into_body().collect().await.unwrap().to_bytes()).unwrap();
    let token = body["access_token"].as_str().unwrap().to_owned();
    Setup {
        dir,
        server,
        router,
        token,
    }
}

impl Setup {
    async fn call(&self, method: Method, path: &str, body: Option<Value>) -> StatusCode {
        let request = Request::builder()
            .method(method)
            .uri(path)
            .header(header::HOST, "pop.test")
            .header(header::AUTHORIZATION, format!("Bearer {}", self.token))
            .header("x-env-id", ENV)
            .header(header::CONTENT_TYPE, "application/json")
            .body(body.map_or(Body::empty(), |b| Body::from(b.to_string())))
            .unwrap();
        let response = self.router.clone().oneshot(request).await.unwrap();
        let status = response.status();
        response.into_body().collect().await.unwrap();
        status
    }

    async fn entries(&self, filter: &AuditFilter) -> Vec<AuditEntry> {
        self.server.flush_audit().await;
        audit::read(&self.dir.path().join("us"), filter).unwrap()
    }

    fn trail_text(&self) -> String {
        let mut text = String::new();
        for entry in std::fs::read_dir(self.dir.path().join("us")).unwrap() {
            let path = entry.unwrap().path();
            if path
                .file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with("audit.log")
            {
                text.push_str(&std::fs::read_to_string(path).unwrap());
            }
        }
        text
    }
}

fn record(key: &str) -> Value {
    json!({"record_key": key, "body": BODY, "key1": KEY1, "precommit_body": BODY})
}

const RECORDS: &str = "/v2/storage/records/us";

#[tokio::test]
async fn each_storage_request_writes_one_entry() {
    let setup = setup(AuditConfig::default()).await;
    let started = chrono::Utc::now() - chrono::Duration::seconds(1);
    assert_eq!(
        setup
            .call(Method::POST, RECORDS, Some(record("rk-hash-1")))
            .await,
        StatusCode::CREATED
    );
    let batch = json!({"records": [record("rk-hash-2"), record("rk-hash-3")]});
    assert_eq!(
        setup
            .call(Method::POST, &format!("{RECORDS}/batchWrite"), Some(batch))
            .await,
        StatusCode::CREATED
    );
    assert_eq!(
        setup
            .call(Method::GET, &format!("{RECORDS}/rk-hash-1"), None)
            .await,
        StatusCode::OK
    );
    assert_eq!(
        setup
            .call(
                Method::POST,
                &format!("{RECORDS}/find"),
                Some(json!({"filter": {"key1": KEY1}, "options": {"limit": 10}}))
            )
            .await,
        StatusCode::OK
    );
    assert_eq!(
        setup
            .call(Method::DELETE, &format!("{RECORDS}/rk-hash-1"), None)
            .await,
        StatusCode::OK
    );
    assert_eq!(
        setup
            .call(Method::GET, &format!("{RECORDS}/rk-hash-1"), None)
            .await,
        StatusCode::NOT_FOUND
    );

    let entries = setup.entries(&AuditFilter::default()).await;
    let summary: Vec<(AuditOperation, u16)> =
        entries.iter().map(|e| (e.operation, e.status)).collect();
    assert_eq!(
        summary,
        vec![
            (AuditOperation::Write, 201),
            (AuditOperation::BatchWrite, 201),
            (AuditOperation::Read, 200),
            (AuditOperation::Find, 200),
            (AuditOperation::Delete, 200),
            (AuditOperation::Read, 404),
        ]
    );
    for entry in &entries {
        assert_eq!(entry.client_id.as_deref(), Some(CLIENT));
        assert_eq!(entry.environment_id.as_deref(), Some(ENV));
        assert!(entry.time >= started);
    }
    assert_eq!(entries[0].record_key.as_deref(), Some("rk-hash-1"));
    assert_eq!(entries[1].record_keys, vec!["rk-hash-2", "rk-hash-3"]);
    assert_eq!(entries[1].count, Some(2));
    assert_eq!(entries[2].record_key.as_deref(), Some("rk-hash-1"));
    assert_eq!(
        entries[3].count,
        Some(3),
        "a find logs how many it returned"
    );
    assert_eq!(entries[3].record_key, None);
}

#[tokio::test]
async fn entries_are_json_lines_with_rfc3339_times() {
    let setup = setup(AuditConfig::default()).await;
    setup.call(Method::POST, RECORDS, Some(record("rk"))).await;
    setup.server.flush_audit().await;
    let text = std::fs::read_to_string(setup.dir.path().join("us").join(audit::FILE_NAME)).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 1);
    let line: Value = serde_json::from_str(lines[0]).unwrap();
    assert_eq!(line["operation"], "write");
    assert_eq!(line["status"], 201);
    assert_eq!(line["client_id"], CLIENT);
    assert_eq!(line["environment_id"], ENV);
    assert_eq!(line["record_key"], "rk");
    chrono::DateTime::parse_from_rfc3339(line["time"].as_str().unwrap()).unwrap();
}

#[tokio::test]
async fn no_body_key_value_secret_or_token_reaches_the_trail() {
    let setup = setup(AuditConfig::default()).await;
    setup.call(Method::POST, RECORDS, Some(record("rk"))).await;
    setup
        .call(
            Method::POST,
            &format!("{RECORDS}/batchWrite"),
            Some(json!({"records": [record("rk2")]})),
        )
        .await;
    setup
        .call(
            Method::POST,
            &format!("{RECORDS}/find"),
            Some(json!({"filter": {"key1": KEY1}, "options": {"limit": 10}})),
        )
        .await;
    setup
        .call(Method::GET, &format!("{RECORDS}/rk"), None)
        .await;
    setup.server.flush_audit().await;
    let text = setup.trail_text();
    assert_eq!(text.lines().count(), 4);
    for secret in [
        BODY,
        "PLAINTEXT-LOOKING",
        KEY1,
        SECRET,
        setup.token.as_str(),
    ] {
        assert!(
            !text.contains(secret),
            "{secret:?} is in the trail:\n{text}"
        );
    }
}

#[tokio::test]
async fn refused_requests_are_audited_without_a_principal() {
    let setup = setup(AuditConfig::default()).await;
    let response = setup
        .router
        .clone()
        .oneshot(
            Request::get(format!("{RECORDS}/rk"))
                .header("x-env-id", ENV)
                .body(Body::empty())
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    let entries = setup.entries(&AuditFilter::default()).await;
    assert_eq!(entries.len(), 1);
    assert_eq!(entries[0].status, 401);
    assert_eq!(entries[0].client_id, None);
    assert_eq!(entries[0].environment_id, None);
    assert_eq!(entries[0].operation, AuditOperation::Read);
}

#[tokio::test]
async fn the_trail_rotates_at_its_size_bound_and_keeps_n_files() {
    let setup = setup(AuditConfig::new(600, 2)).await;
    for i in 0..30 {
        setup
            .call(Method::GET, &format!("{RECORDS}/key-{i:02}"), None)
            .await;
    }
    setup.server.flush_audit().await;
    let dir = setup.dir.path().join("us");
    let current = dir.join("audit.log");
    for path in [&current, &dir.join("audit.log.1"), &dir.join("audit.log.2")] {
        let size = std::fs::metadata(path).unwrap().len();
        assert!(size > 0 && size <= 600, "{}: {size} bytes", path.display());
    }
    assert!(
        !dir.join("audit.log.3").exists(),
        "only 2 rotated files are kept"
    );
    let entries = setup.entries(&AuditFilter::default()).await;
    assert!(entries.len() < 30, "the oldest entries were dropped");
    let keys: Vec<String> = entries
        .iter()
        .map(|e| e.record_key.clone().unwrap())
        .collect();
    let mut sorted = keys.clone();
    sorted.sort();
    assert_eq!(keys, sorted, "read back oldest first");
    assert_eq!(keys.last().unwrap(), "key-29");
}

#[tokio::test]
async fn read_filters_by_time_operation_and_client() {
    let setup = setup(AuditConfig::default()).await;
    setup.call(Method::POST, RECORDS, Some(record("rk"))).await;
    setup
        .call(Method::GET, &format!("{RECORDS}/rk"), None)
        .await;
    let mut filter = AuditFilter::default();
    filter.operation = Some(AuditOperation::Read);
    assert_eq!(setup.entries(&filter).await.len(), 1);
    filter.client_id = Some("someone-else".into());
    assert!(setup.entries(&filter).await.is_empty());
    let mut filter = AuditFilter::default();
    filter.since = Some(chrono::Utc::now() + chrono::Duration::hours(1));
    assert!(setup.entries(&filter).await.is_empty());
    filter.since = Some(chrono::Utc::now() - chrono::Duration::hours(1));
    assert_eq!(setup.entries(&filter).await.len(), 2);
}

#[tokio::test]
async fn an_absent_trail_reads_as_empty() {
    let dir = tempfile::tempdir().unwrap();
    assert!(
        audit::read(&dir.path().join("zz"), &AuditFilter::default())
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn no_trail_is_kept_when_auditing_is_off() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = ServerConfig::default();
    config.data_dir = dir.path().to_owned();
    config.audit = None;
    let server = Server::new(config).await.unwrap();
    let token = server.issue_token(ENV, "", chrono::Utc::now() + chrono::Duration::hours(1));
    let response = server
        .router()
        .oneshot(
            Request::post(RECORDS)
                .header(header::AUTHORIZATION, format!("Bearer {token}"))
                .header("x-env-id", ENV)
                .header(header::CONTENT_TYPE, "application/json")
                .body(Body::from(record("rk").to_string()))
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::CREATED);
    server.flush_audit().await;
    assert!(!dir.path().join("us").join(audit::FILE_NAME).exists());
}
