#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Acknowledged writes survive `kill -9`: a server in a child process (this test binary,
//! re-run in child mode) takes writes, is killed with SIGKILL right after the last
//! acknowledgement, and a new server on the same data directory serves every record. Batches
//! are all or nothing: one acknowledged is whole after the restart, one killed in flight is
//! either whole or absent.

use std::time::Duration;

use axum::body::Body;
use bytes::Bytes;
use chrono::Utc;
use http::{Request, StatusCode, header};
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use incountry_server::{Server, ServerConfig, StorageConfig};
use serde_json::json;
use tokio::io::{AsyncBufReadExt, BufReader};
use tower::ServiceExt;

/// Set in the child: the data directory to serve.
const CHILD_DIR: &str = "INCOUNTRY_SERVER_TEST_CHILD_DIR";
const KEY: &[u8] = b"durability test signing key";
const WAIT: Duration = Duration::from_secs(30);

fn config(dir: &std::path::Path) -> ServerConfig {
    let mut config = ServerConfig::default();
    config.listen = "127.0.0.1:0".parse().unwrap();
    config.data_dir = dir.to_owned();
    config.signing_key = Some(KEY.to_vec());
    config
}

/// The child half: serves the directory in `CHILD_DIR` until killed.
#[tokio::test]
#[ignore = "the child half of acknowledged_writes_survive_kill_9, which runs it"]
async fn child_server() {
    let Some(dir) = std::env::var_os(CHILD_DIR) else {
        panic!("run by acknowledged_writes_survive_kill_9 only");
    };
    let running = Server::bind(config(std::path::Path::new(&dir)))
        .await
        .unwrap();
    println!("LISTENING {}", running.local_addr());
    tokio::time::sleep(WAIT * 4).await;
}

/// Starts the child server on a fresh directory; returns it and its address.
async fn spawn_child(dir: &std::path::Path) -> (tokio::process::Child, String) {
    let mut child = tokio::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "child_server",
            "--exact",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_DIR, dir)
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let address = tokio::time::timeout(WAIT, async {
        while let Some(line) = lines.next_line().await.unwrap() {
            if let Some((_, address)) = line.split_once("LISTENING ") {
                return address.to_owned();
            }
        }
        panic!("the child server ended without listening");
    })
    .await
    .expect("the child server did not start in time");
    (child, address)
}

/// A token the child accepts (it shares the signing key).
async fn child_token() -> String {
    let mut issuer_config = ServerConfig::in_memory();
    issuer_config.signing_key = Some(KEY.to_vec());
    let issuer = Server::new(issuer_config).await.unwrap();
    issuer.issue_token("env", "", Utc::now() + chrono::Duration::hours(1))
}

/// A server on the killed child's directory.
async fn restarted(dir: &std::path::Path) -> axum::Router {
    let mut restarted = config(dir);
    restarted.storage = StorageConfig::SqliteFiles;
    Server::new(restarted).await.unwrap().router()
}

fn batch_request(address: &str, token: &str, keys: &[String]) -> Request<Full<Bytes>> {
    let filler = "x".repeat(2048);
    let records: Vec<_> = keys
        .iter()
        .map(|key| json!({"record_key": key, "body": format!("2:{filler}"), "key1": key}))
        .collect();
    Request::post("/v2/storage/records/fi/batchWrite")
        .header(header::HOST, address)
        .header(header::AUTHORIZATION, format!("Bearer {token}"))
        .header("x-env-id", "env")
        .header(header::CONTENT_TYPE, "application/json")
        .body(Full::new(Bytes::from(
            json!({ "records": records }).to_string(),
        )))
        .unwrap()
}

/// How many of `keys` the router finds.
async fn present(router: &axum::Router, token: &str, keys: &[String]) -> u64 {
    let body = json!({"filter": {"record_key": keys}, "options": {"limit": 100}});
    let request = Request::post("/v2/storage/records/fi/find")
        .header(header::AUTHORIZATION, format!("Bearer {token}"))
        .header("x-env-id", "env")
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(body.to_string()))
        .unwrap();
    let response = router.clone().oneshot(request).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let found: serde_json::Value =
        serde_json::from_slice(&response.into_body().collect().await.unwrap().to_bytes()).unwrap();
    found["meta"]["total"].as_u64().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn batches_are_all_or_nothing_across_kill_9() {
    const CONNECTIONS: usize = 4;
    const ACKS_BEFORE_KILL: usize = 12;
    let dir = tempfile::tempdir().unwrap();
    let (mut child, address) = spawn_child(dir.path()).await;
    let token = child_token().await;

    // Each connection sends 100-record batches back to back; every batch is noted before it
    // is sent and marked when acknowledged.
    let batches = std::sync::Arc::new(std::sync::Mutex::new(Vec::<(Vec<String>, bool)>::new()));
    let acked = std::sync::Arc::new(tokio::sync::Semaphore::new(0));
    let mut senders = Vec::new();
    for connection in 0..CONNECTIONS {
        let (address, token) = (address.clone(), token.clone());
        let (batches, acked) = (batches.clone(), acked.clone());
        senders.push(tokio::spawn(async move {
            let stream = tokio::net::TcpStream::connect(&address).await.unwrap();
            let (mut sender, connection_task) =
                hyper::client::conn::http1::handshake(TokioIo::new(stream))
                    .await
                    .unwrap();
            tokio::spawn(connection_task);
            for n in 0.. {
                let keys: Vec<String> = (0..100)
                    .map(|j| format!("c{connection}-b{n}-r{j}"))
                    .collect();
                let index = {
                    let mut batches = batches.lock().unwrap();
                    batches.push((keys.clone(), false));
                    batches.len() - 1
                };
                // After the kill the connection fails: that ends this sender.
                let Ok(response) = sender
                    .send_request(batch_request(&address, &token, &keys))
                    .await
                else {
                    return;
                };
                if response.status() != StatusCode::CREATED {
                    return;
                }
                if response.into_body().collect().await.is_err() {
                    return;
                }
                batches.lock().unwrap()[index].1 = true;
                acked.add_permits(1);
            }
        }));
    }
    let enough = tokio::time::timeout(
        WAIT,
        acked.acquire_many(u32::try_from(ACKS_BEFORE_KILL).unwrap()),
    )
    .await
    .expect("the child acknowledged too few batches in time")
    .unwrap();
    // Kill with requests in flight on the other connections.
    child.start_kill().unwrap();
    enough.forget();
    tokio::time::timeout(WAIT, child.wait())
        .await
        .unwrap()
        .unwrap();
    for sender in senders {
        tokio::time::timeout(WAIT, sender).await.unwrap().unwrap();
    }

    let router = restarted(dir.path()).await;
    let batches = batches.lock().unwrap().clone();
    let mut acknowledged = 0;
    for (keys, was_acked) in &batches {
        let found = present(&router, &token, keys).await;
        if *was_acked {
            acknowledged += 1;
            assert_eq!(found, 100, "{} was acknowledged but is not whole", keys[0]);
        } else {
            assert!(
                found == 0 || found == 100,
                "{} was killed in flight and is partly stored ({found} of 100)",
                keys[0]
            );
        }
    }
    assert!(acknowledged >= ACKS_BEFORE_KILL);
}

#[tokio::test]
async fn acknowledged_writes_survive_kill_9() {
    let dir = tempfile::tempdir().unwrap();
    let (mut child, address) = spawn_child(dir.path()).await;
    // Tokens signed with the shared key are valid for the child.
    let token = child_token().await;

    let stream = tokio::net::TcpStream::connect(&address).await.unwrap();
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .unwrap();
    tokio::spawn(connection);
    let mut acknowledged = Vec::new();
    for i in 0..40 {
        let (path, body) = if i % 10 == 9 {
            let records: Vec<_> = (0..5)
                .map(|j| json!({"record_key": format!("batch-{i}-{j}"), "body": "2:x"}))
                .collect();
            (
                "/v2/storage/records/fi/batchWrite",
                json!({ "records": records }),
            )
        } else {
            (
                "/v2/storage/records/fi",
                json!({"record_key": format!("single-{i}"), "body": "2:x"}),
            )
        };
        let request = Request::post(path)
            .header(header::HOST, &address)
            .header(header::AUTHORIZATION, format!("Bearer {token}"))
            .header("x-env-id", "env")
            .header(header::CONTENT_TYPE, "application/json")
            .body(Full::new(Bytes::from(body.to_string())))
            .unwrap();
        let response = tokio::time::timeout(WAIT, sender.send_request(request))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(response.status(), StatusCode::CREATED);
        response.into_body().collect().await.unwrap();
        match body.get("records") {
            Some(records) => acknowledged.extend(
                records
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|r| r["record_key"].as_str().unwrap().to_owned()),
            ),
            None => acknowledged.push(body["record_key"].as_str().unwrap().to_owned()),
        }
    }
    child.start_kill().unwrap();
    tokio::time::timeout(WAIT, child.wait())
        .await
        .unwrap()
        .unwrap();

    let router = restarted(dir.path()).await;
    for key in &acknowledged {
        let request = Request::get(format!("/v2/storage/records/fi/{key}"))
            .header(header::AUTHORIZATION, format!("Bearer {token}"))
            .header("x-env-id", "env")
            .body(Body::empty())
            .unwrap();
        let response = router.clone().oneshot(request).await.unwrap();
        assert_eq!(
            response.status(),
            StatusCode::OK,
            "{key} was acknowledged but is lost"
        );
    }
    assert_eq!(acknowledged.len(), 36 + 4 * 5);
}
