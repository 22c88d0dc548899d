#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Acknowledged writes survive `kill -9`: a server in a child process (this test binary,
//! re-run in child mode) takes writes, is killed with SIGKILL right after the last
//! acknowledgement, and a new server on the same data directory serves every record.

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

#[tokio::test]
async fn acknowledged_writes_survive_kill_9() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = tokio::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "child_server",
            "--exact",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_DIR, dir.path())
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

    // Tokens signed with the shared key are valid for the child.
    let mut issuer_config = ServerConfig::in_memory();
    issuer_config.signing_key = Some(KEY.to_vec());
    let issuer = Server::new(issuer_config).await.unwrap();
    let token = issuer.issue_token("env", "", Utc::now() + chrono::Duration::hours(1));

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

    let mut restarted = config(dir.path());
    restarted.storage = StorageConfig::SqliteFiles;
    let server = Server::new(restarted).await.unwrap();
    let router = server.router();
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
