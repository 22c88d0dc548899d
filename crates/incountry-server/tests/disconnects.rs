#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Clients that disconnect mid-request, at seeded random points of writes, batch writes,
//! finds and uploads, must not break the requests that follow: on file SQLite, in-memory
//! SQLite and (when `INCOUNTRY_TEST_POSTGRES_URL` is set) PostgreSQL.
//!
//! A disconnecting client is a raw TCP socket that sends part or all of a request, waits a
//! random while (nothing, a few scheduler turns, or a millisecond or two) and closes, with a
//! FIN or a reset. After each one a normal client writes, finds and reads a record and must
//! get 2xx answers; at the end every batch is whole or absent and every attachment's content
//! matches its metadata.

use std::time::Duration;

use bytes::Bytes;
use chrono::Utc;
use http::{Method, Request, StatusCode, header};
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use incountry_server::{RunningServer, Server, ServerConfig, StorageConfig};
use incountry_test_support::postgres;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use tokio::io::AsyncWriteExt;

const WAIT: Duration = Duration::from_secs(30);
const ENV: &str = "env-cut";
const CC: &str = "us";
/// Disconnecting clients per backend.
const ROUNDS: u64 = 80;
/// Records per batch write.
const BATCH: usize = 5;
const BOUNDARY: &str = "cut-boundary-7f3a";

/// splitmix64: a seeded, dependency-free source of cut points.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number in `0..n`.
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

struct Target {
    host: String,
    token: String,
}

/// The raw bytes of a storage request with `body`.
fn raw(target: &Target, method: &str, path: &str, content_type: &str, body: &[u8]) -> Vec<u8> {
    let mut out = format!(
        "{method} {path} HTTP/1.1\r\nhost: {}\r\nauthorization: Bearer {}\r\nx-env-id: {ENV}\r\n\
         content-type: {content_type}\r\ncontent-length: {}\r\n\r\n",
        target.host,
        target.token,
        body.len()
    )
    .into_bytes();
    out.extend_from_slice(body);
    out
}

fn record(key: &str, key1: &str) -> Value {
    json!({"record_key": key, "body": format!("2:body of {key}"), "key1": key1, "version": 0})
}

fn multipart(filename: &str, content: &[u8]) -> Vec<u8> {
    let mut out = format!(
        "--{BOUNDARY}\r\ncontent-disposition: form-data; name=\"file\"; filename=\"{filename}\"\r\n\
         content-type: application/octet-stream\r\n\r\n"
    )
    .into_bytes();
    out.extend_from_slice(content);
    out.extend_from_slice(format!("\r\n--{BOUNDARY}--\r\n").as_bytes());
    out
}

/// One request of a kind chosen by `rng`: a write, a batch write, a find or an upload (new
/// attachment or replacement of `shared.bin`) to the record `files`.
fn cut_request(target: &Target, round: u64, rng: &mut Rng) -> Vec<u8> {
    let json = "application/json";
    match rng.below(5) {
        0 => {
            let body = record(&format!("cut-{round}"), "cut").to_string();
            raw(
                target,
                "POST",
                &format!("/v2/storage/records/{CC}"),
                json,
                body.as_bytes(),
            )
        }
        1 => {
            let records: Vec<Value> = (0..BATCH)
                .map(|i| record(&format!("batch-{round}-{i}"), &format!("batch-{round}")))
                .collect();
            let body = json!({ "records": records }).to_string();
            raw(
                target,
                "POST",
                &format!("/v2/storage/records/{CC}/batchWrite"),
                json,
                body.as_bytes(),
            )
        }
        2 => {
            let body = json!({"filter": {"key1": ["cut", "check"]}, "options": {"limit": 100}})
                .to_string();
            raw(
                target,
                "POST",
                &format!("/v2/storage/records/{CC}/find"),
                json,
                body.as_bytes(),
            )
        }
        kind => {
            let size = 1 + usize::try_from(rng.below(96 * 1024)).unwrap();
            let content: Vec<u8> = (0..size).map(|i| (i as u64 ^ round) as u8).collect();
            let (method, name) = if kind == 3 {
                ("POST", format!("new-{round}.bin"))
            } else {
                ("PUT", "shared.bin".to_owned())
            };
            raw(
                target,
                method,
                &format!("/v2/storage/records/{CC}/files/attachments"),
                &format!("multipart/form-data; boundary={BOUNDARY}"),
                &multipart(&name, &content),
            )
        }
    }
}

/// Sends a prefix (or all) of a request, waits a random while and closes the socket.
async fn disconnect(target: &Target, bytes: &[u8], rng: &mut Rng) {
    let address = target.host.clone();
    let mut stream = tokio::net::TcpStream::connect(&address).await.unwrap();
    let sent = if rng.below(3) == 0 {
        usize::try_from(rng.below(bytes.len() as u64)).unwrap()
    } else {
        bytes.len()
    };
    // The server may already have refused a partial request and closed: errors are fine.
    let _ = tokio::time::timeout(WAIT, stream.write_all(&bytes[..sent])).await;
    match rng.below(3) {
        0 => {}
        1 => {
            for _ in 0..rng.below(64) {
                tokio::task::yield_now().await;
            }
        }
        _ => tokio::time::sleep(Duration::from_micros(200 + rng.below(2000))).await,
    }
    if rng.below(2) == 0 {
        // A reset, as from a killed process whose socket had unread data.
        let _ = stream.set_zero_linger();
    }
    drop(stream);
}

/// Sends one request on a fresh connection; every step bounded by [`WAIT`].
async fn send(target: &Target, request: Request<Full<Bytes>>) -> (StatusCode, Bytes) {
    let address = target.host.clone();
    let exchange = async move {
        let stream = tokio::net::TcpStream::connect(&address).await.unwrap();
        let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .unwrap();
        tokio::spawn(connection);
        let response = sender.send_request(request).await.unwrap();
        let status = response.status();
        let body = response.into_body().collect().await.unwrap().to_bytes();
        (status, body)
    };
    tokio::time::timeout(WAIT, exchange)
        .await
        .expect("the server did not answer in time")
}

fn storage(
    target: &Target,
    method: Method,
    path: &str,
    body: Option<Value>,
) -> Request<Full<Bytes>> {
    Request::builder()
        .method(method)
        .uri(path)
        .header(header::HOST, &target.host)
        .header(header::AUTHORIZATION, format!("Bearer {}", target.token))
        .header("x-env-id", ENV)
        .header(header::CONTENT_TYPE, "application/json")
        .body(Full::new(Bytes::from(
            body.map(|b| b.to_string()).unwrap_or_default(),
        )))
        .unwrap()
}

async fn json_of(target: &Target, request: Request<Full<Bytes>>, expected: StatusCode) -> Value {
    let (status, body) = send(target, request).await;
    let text = String::from_utf8_lossy(&body);
    assert_eq!(status, expected, "{text}");
    serde_json::from_slice(&body).unwrap_or_else(|e| panic!("{e}: {text}"))
}

/// A write, a find and a read that must all succeed.
async fn check(target: &Target, round: u64) {
    let key = format!("check-{round}");
    let path = format!("/v2/storage/records/{CC}");
    json_of(
        target,
        storage(target, Method::POST, &path, Some(record(&key, "check"))),
        StatusCode::CREATED,
    )
    .await;
    let found = json_of(
        target,
        storage(
            target,
            Method::POST,
            &format!("{path}/find"),
            Some(json!({"filter": {"record_key": key}, "options": {"limit": 10}})),
        ),
        StatusCode::OK,
    )
    .await;
    assert_eq!(found["meta"]["total"], 1, "round {round}: {found}");
    let read = json_of(
        target,
        storage(target, Method::GET, &format!("{path}/{key}"), None),
        StatusCode::OK,
    )
    .await;
    assert_eq!(read["record_key"], key.as_str());
}

/// Every batch is whole or absent; every attachment's content is what its metadata says.
async fn check_consistency(target: &Target) {
    let path = format!("/v2/storage/records/{CC}");
    for round in 0..ROUNDS {
        let found = json_of(
            target,
            storage(
                target,
                Method::POST,
                &format!("{path}/find"),
                Some(
                    json!({"filter": {"key1": format!("batch-{round}")}, "options": {"limit": 10}}),
                ),
            ),
            StatusCode::OK,
        )
        .await;
        let total = found["meta"]["total"].as_u64().unwrap();
        assert!(
            total == 0 || total == BATCH as u64,
            "batch {round} is cut: {total} record(s)"
        );
    }
    let files = json_of(
        target,
        storage(target, Method::GET, &format!("{path}/files"), None),
        StatusCode::OK,
    )
    .await;
    let attachments = files["attachments"].as_array().unwrap();
    for attachment in attachments {
        let file_id = attachment["file_id"].as_str().unwrap();
        let (status, content) = send(
            target,
            storage(
                target,
                Method::GET,
                &format!("{path}/files/attachments/{file_id}"),
                None,
            ),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "attachment {attachment}");
        assert_eq!(
            content.len() as u64,
            attachment["size"].as_u64().unwrap(),
            "{attachment}"
        );
        assert_eq!(
            hex::encode(Sha256::digest(&content)),
            attachment["hash"].as_str().unwrap(),
            "{attachment}"
        );
    }
}

/// Cuts [`ROUNDS`] requests at points drawn from `seed`, checking after each that the
/// server still answers, then checks what was stored.
async fn disconnects_leave_the_server_answering(config: ServerConfig, seed: u64) {
    let running: RunningServer = Server::bind(config).await.unwrap();
    let url = running.url();
    let token = running
        .server()
        .issue_token(ENV, "", Utc::now() + chrono::Duration::hours(1));
    let target = Target {
        host: url.trim_start_matches("http://").to_owned(),
        token,
    };
    json_of(
        &target,
        storage(
            &target,
            Method::POST,
            &format!("/v2/storage/records/{CC}"),
            Some(record("files", "files")),
        ),
        StatusCode::CREATED,
    )
    .await;
    let mut rng = Rng(seed);
    for round in 0..ROUNDS {
        let bytes = cut_request(&target, round, &mut rng);
        disconnect(&target, &bytes, &mut rng).await;
        check(&target, round).await;
    }
    check_consistency(&target).await;
    running.shutdown().await.unwrap();
}

/// The seed of this run: `INCOUNTRY_TEST_SEED` to replay one, else drawn and printed.
fn seed() -> u64 {
    let seed = std::env::var("INCOUNTRY_TEST_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(1, |d| d.as_nanos() as u64)
        });
    eprintln!("seed: {seed} (INCOUNTRY_TEST_SEED={seed} replays the cut points)");
    seed
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn disconnecting_clients_leave_in_memory_sqlite_answering() {
    disconnects_leave_the_server_answering(ServerConfig::in_memory(), seed()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn disconnecting_clients_leave_sqlite_files_answering() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = ServerConfig::in_memory();
    config.storage = StorageConfig::SqliteFiles;
    config.data_dir = dir.path().to_owned();
    disconnects_leave_the_server_answering(config, seed()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn disconnecting_clients_leave_postgresql_answering() {
    let Some(url) = postgres::url("disconnects::disconnecting_clients_leave_postgresql_answering")
    else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let prefix = format!("{}_", postgres::unique_name("incountry_cut_"));
    let mut config = ServerConfig::in_memory();
    config.data_dir = dir.path().to_owned();
    config.storage = StorageConfig::Postgres {
        url: url.clone(),
        schema_prefix: prefix.clone(),
    };
    disconnects_leave_the_server_answering(config, seed()).await;
    let pool = sqlx::PgPool::connect(&url).await.unwrap();
    sqlx::query(&format!("DROP SCHEMA IF EXISTS \"{prefix}{CC}\" CASCADE"))
        .execute(&pool)
        .await
        .unwrap();
}
