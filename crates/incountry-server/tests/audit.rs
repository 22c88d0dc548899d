#![allow(clippy::unwrap_used, clippy::expect_used)]
//! The audit trail: one JSON line per storage request under `<data_dir>/<cc>/audit.log`,
//! without bodies, secrets or tokens, rotated at its size bound without losing history, read
//! back with `audit::read`; refused requests cannot flood it, and storage requests fail closed
//! while it cannot be written.

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
    setup_in(tempfile::tempdir().unwrap(), audit).await
}

/// A server on SQLite files in `dir` (prepared by the test) with a token of `CLIENT`.
async fn setup_in(dir: tempfile::TempDir, audit: AuditConfig) -> Setup {
    let mut config = ServerConfig::default().with_client(CLIENT, SECRET);
    config.client_any_environment = true;
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
async fn the_trail_rotates_at_its_size_bound_and_keeps_n_files_when_told() {
    let setup = setup(AuditConfig::new(600, Some(2))).await;
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

#[tokio::test]
async fn rotation_keeps_every_rotated_file_by_default() {
    let setup = setup(AuditConfig::new(600, None)).await;
    for i in 0..30 {
        setup
            .call(Method::GET, &format!("{RECORDS}/key-{i:02}"), None)
            .await;
    }
    let entries = setup.entries(&AuditFilter::default()).await;
    let keys: Vec<String> = entries
        .iter()
        .map(|e| e.record_key.clone().unwrap())
        .collect();
    let expected: Vec<String> = (0..30).map(|i| format!("key-{i:02}")).collect();
    assert_eq!(keys, expected, "nothing rotated away, oldest first");
    assert!(
        setup.dir.path().join("us").join("audit.log.3").exists(),
        "the trail did rotate"
    );
}

/// An unauthenticated request from `source` (`None`: served in-process, address unknown).
async fn anonymous(
    router: &Router,
    method: Method,
    path: &str,
    source: Option<std::net::SocketAddr>,
) -> StatusCode {
    let mut request = Request::builder()
        .method(method)
        .uri(path)
        .header("x-env-id", ENV)
        .body(Body::empty())
        .unwrap();
    if let Some(source) = source {
        request
            .extensions_mut()
            .insert(axum::extract::ConnectInfo(source));
    }
    let response = router.clone().oneshot(request).await.unwrap();
    let status = response.status();
    response.into_body().collect().await.unwrap();
    status
}

fn address(text: &str) -> Option<std::net::SocketAddr> {
    Some(text.parse().unwrap())
}

#[tokio::test]
async fn refused_entries_carry_no_key_and_accepted_ones_are_bounded() {
    let setup = setup(AuditConfig::default()).await;
    let long = "A".repeat(8000);
    let path = format!("{RECORDS}/{long}");
    assert_eq!(
        anonymous(&setup.router, Method::GET, &path, address("192.0.2.1:4000")).await,
        StatusCode::UNAUTHORIZED
    );
    let attachment = format!("{RECORDS}/{long}/attachments/{long}");
    assert_eq!(
        anonymous(&setup.router, Method::DELETE, &attachment, None).await,
        StatusCode::UNAUTHORIZED
    );
    // Accepted (authenticated) requests keep their key, cut to the bound.
    setup.call(Method::GET, &path, None).await;
    let keys: Vec<String> = (0..150).map(|i| format!("{i:064x}")).collect();
    setup
        .call(
            Method::POST,
            &format!("{RECORDS}/batchDelete"),
            Some(json!({"filter": {"record_key": keys}})),
        )
        .await;

    let entries = setup.entries(&AuditFilter::default()).await;
    assert_eq!(entries.len(), 4, "{entries:?}");
    for refused in &entries[..2] {
        assert_eq!(refused.status, 401);
        assert_eq!(refused.record_key, None);
        assert_eq!(refused.file_id, None);
        assert!(refused.record_keys.is_empty());
    }
    assert_eq!(entries[0].source.as_deref(), Some("192.0.2.1"));
    assert_eq!(entries[1].source, None, "in-process: no address");
    let cut = entries[2].record_key.as_deref().unwrap();
    assert!(cut.len() <= audit::MAX_FIELD_BYTES, "{} bytes", cut.len());
    assert!(cut.starts_with("AAAA"), "{cut}");
    assert!(cut.ends_with("(truncated from 8000 bytes)"), "{cut}");
    let listed = &entries[3].record_keys;
    assert_eq!(listed.len(), audit::MAX_LISTED_KEYS + 1);
    assert_eq!(
        listed[..audit::MAX_LISTED_KEYS],
        keys[..audit::MAX_LISTED_KEYS]
    );
    assert_eq!(listed[audit::MAX_LISTED_KEYS], "…(50 more)");
    for line in setup.trail_text().lines() {
        assert!(line.len() < 8000, "an entry of {} bytes", line.len());
    }
}

#[tokio::test]
async fn an_unauthenticated_flood_leaves_every_accepted_entry_in_place() {
    // A small file bound: without the fixes the flood's entries (8 000 bytes each) rotated the
    // trail thousands of times and deleted every accepted entry.
    let setup = setup(AuditConfig::new(4096, None)).await;
    let attacker = address("203.0.113.7:50000");
    let flood = format!("{RECORDS}/{}", "A".repeat(8000));
    let mut accepted = Vec::new();
    for i in 0..8000 {
        if i % 500 == 0 {
            let key = format!("accepted-{i:04}");
            assert_eq!(
                setup.call(Method::POST, RECORDS, Some(record(&key))).await,
                StatusCode::CREATED
            );
            accepted.push(key);
        }
        assert_eq!(
            anonymous(&setup.router, Method::GET, &flood, attacker).await,
            StatusCode::UNAUTHORIZED
        );
    }
    let entries = setup.entries(&AuditFilter::default()).await;
    let written: Vec<String> = entries
        .iter()
        .filter(|e| e.status == 201)
        .filter_map(|e| e.record_key.clone())
        .collect();
    assert_eq!(written, accepted, "every accepted entry is in place");

    let refused: Vec<&AuditEntry> = entries
        .iter()
        .filter(|e| e.status == 401 && e.suppressed.is_none())
        .collect();
    assert_eq!(
        refused.len(),
        10,
        "the default: 10 refused entries per source and minute"
    );
    let summaries: Vec<&AuditEntry> = entries.iter().filter(|e| e.suppressed.is_some()).collect();
    assert_eq!(summaries.len(), 1, "{summaries:?}");
    assert_eq!(summaries[0].suppressed, Some(7990));
    assert_eq!(summaries[0].source.as_deref(), Some("203.0.113.7"));
    assert_eq!(summaries[0].operation, AuditOperation::Read);
    assert_eq!(summaries[0].status, 401);
    assert!(!setup.trail_text().contains("AAAA"));
}

#[tokio::test]
async fn refused_entries_are_limited_per_source() {
    let config =
        AuditConfig::default().with_refused_limits(2, 1000, std::time::Duration::from_secs(3600));
    let setup = setup(config).await;
    let path = format!("{RECORDS}/rk");
    for source in [
        None,
        address("192.0.2.1:1"),
        address("192.0.2.2:1"),
        address("[2001:db8:1:2::1]:1"),
        address("[2001:db8:1:2::ffff]:2"),
        address("[2001:db8:1:3::1]:1"),
    ] {
        for _ in 0..3 {
            anonymous(&setup.router, Method::GET, &path, source).await;
        }
    }
    let entries = setup.entries(&AuditFilter::default()).await;
    let mut summaries: Vec<(Option<String>, u64)> = entries
        .iter()
        .filter_map(|e| e.suppressed.map(|n| (e.source.clone(), n)))
        .collect();
    summaries.sort();
    assert_eq!(
        summaries,
        vec![
            (None, 1),
            (Some("192.0.2.1".into()), 1),
            (Some("192.0.2.2".into()), 1),
            (Some("2001:db8:1:2::/64".into()), 4),
            (Some("2001:db8:1:3::/64".into()), 1),
        ],
        "each source (an IPv6 /64 as one) writes 2 entries, the rest is summarised"
    );
    assert_eq!(entries.len(), 5 * 2 + 5);
}

#[tokio::test]
async fn sources_beyond_the_country_limit_are_summarised_together() {
    let config =
        AuditConfig::default().with_refused_limits(1, 3, std::time::Duration::from_secs(3600));
    let setup = setup(config).await;
    for i in 1..=5 {
        anonymous(
            &setup.router,
            Method::GET,
            &format!("{RECORDS}/rk"),
            address(&format!("192.0.2.{i}:1")),
        )
        .await;
    }
    let entries = setup.entries(&AuditFilter::default()).await;
    assert_eq!(entries.len(), 4, "{entries:?}");
    assert_eq!(entries[3].source.as_deref(), Some("*"));
    assert_eq!(entries[3].suppressed, Some(2));
}

#[tokio::test]
async fn a_summary_is_written_when_its_window_closes() {
    let window = std::time::Duration::from_millis(200);
    let setup = setup(AuditConfig::default().with_refused_limits(1, 1000, window)).await;
    for _ in 0..3 {
        anonymous(&setup.router, Method::GET, &format!("{RECORDS}/rk"), None).await;
    }
    let file = setup.dir.path().join("us").join(audit::FILE_NAME);
    let mut summary = None;
    // Without a flush and without further requests: the writer closes the window itself.
    for _ in 0..200 {
        summary = std::fs::read_to_string(&file)
            .unwrap_or_default()
            .lines()
            .filter_map(|line| serde_json::from_str::<AuditEntry>(line).ok())
            .find(|e| e.suppressed.is_some());
        if summary.is_some() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(summary.map(|e| e.suppressed), Some(Some(2)));
}

/// A data directory where `<dir>/<cc>/audit.log` is a directory: the trail cannot be opened,
/// even by root.
fn broken_trail(dir: &std::path::Path, cc: &str) -> std::path::PathBuf {
    let blocker = dir.join(cc).join(audit::FILE_NAME);
    std::fs::create_dir_all(blocker.join("in-the-way")).unwrap();
    blocker
}

async fn get(router: &Router, path: &str) -> (StatusCode, http::HeaderMap, Value) {
    let response = router
        .clone()
        .oneshot(Request::get(path).body(Body::empty()).unwrap())
        .await
        .unwrap();
    let status = response.status();
    let headers = response.headers().clone();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    (status, headers, serde_json::from_slice(&body).unwrap())
}

impl Setup {
    /// An authenticated read of `path`: status, `Retry-After`, body.
    async fn read(&self, path: &str) -> (StatusCode, Option<String>, Value) {
        let request = Request::get(path)
            .header(header::HOST, "pop.test")
            .header(header::AUTHORIZATION, format!("Bearer {}", self.token))
            .header("x-env-id", ENV)
            .body(Body::empty())
            .unwrap();
        let response = self.router.clone().oneshot(request).await.unwrap();
        let status = response.status();
        let retry = response
            .headers()
            .get(header::RETRY_AFTER)
            .map(|v| v.to_str().unwrap().to_owned());
        let body = response.into_body().collect().await.unwrap().to_bytes();
        (
            status,
            retry,
            serde_json::from_slice(&body).unwrap_or(Value::Null),
        )
    }
}

#[tokio::test]
async fn storage_requests_fail_closed_while_the_trail_cannot_be_written_and_recover() {
    let dir = tempfile::tempdir().unwrap();
    let blocker = broken_trail(dir.path(), "us");
    let setup = setup_in(dir, AuditConfig::default()).await;

    let (status, retry, body) = setup.read(&format!("{RECORDS}/rk")).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert_eq!(retry.as_deref(), Some("1"));
    assert_eq!(body["errors"][0]["status"], 503);
    assert_eq!(body["errors"][0]["source"], "audit");
    let (status, _, body) = get(&setup.router, "/readyz").await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(
        body,
        json!({"ready": false, "reasons": ["audit trail cannot be written"]})
    );
    // Other countries' trails work.
    let (status, _, _) = setup.read("/v2/storage/records/de/rk").await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    std::fs::remove_dir_all(&blocker).unwrap();
    let mut ready = None;
    for _ in 0..200 {
        let (status, _, body) = get(&setup.router, "/readyz").await;
        if status == StatusCode::OK {
            ready = Some(body);
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(
        ready,
        Some(json!({"ready": true})),
        "ready again once fixed"
    );
    let (status, _, _) = setup.read(&format!("{RECORDS}/rk")).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "served again");
    let entries = setup.entries(&AuditFilter::default()).await;
    assert_eq!(
        entries.last().map(|e| (e.operation, e.status)),
        Some((AuditOperation::Read, 404)),
        "and audited"
    );
}

#[tokio::test]
async fn a_country_whose_trail_cannot_be_created_fails_closed_from_its_first_request() {
    let setup = setup(AuditConfig::default()).await;
    // Broken after the start, before the country's first request.
    broken_trail(setup.dir.path(), "fr");
    let (status, _, _) = setup.read("/v2/storage/records/fr/rk").await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    let (status, _, _) = get(&setup.router, "/readyz").await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
}

#[tokio::test]
async fn a_trail_that_fails_open_serves_and_warns() {
    let dir = tempfile::tempdir().unwrap();
    broken_trail(dir.path(), "us");
    let setup = setup_in(dir, AuditConfig::default().with_fail_open(true)).await;
    let (status, _, _) = setup.read(&format!("{RECORDS}/rk")).await;
    assert_eq!(
        status,
        StatusCode::NOT_FOUND,
        "served without an audit entry"
    );
    let (status, _, body) = get(&setup.router, "/readyz").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        body,
        json!({"ready": true, "warnings": ["audit trail cannot be written"]})
    );
}

#[tokio::test]
async fn a_server_with_a_writable_trail_or_none_is_ready() {
    let setup = setup(AuditConfig::default()).await;
    setup.call(Method::POST, RECORDS, Some(record("rk"))).await;
    assert_eq!(
        get(&setup.router, "/readyz").await.2,
        json!({"ready": true})
    );
    let mut config = ServerConfig::in_memory();
    config.audit = None;
    let server = Server::new(config).await.unwrap();
    let (status, _, body) = get(&server.router(), "/readyz").await;
    assert_eq!((status, body), (StatusCode::OK, json!({"ready": true})));
}
