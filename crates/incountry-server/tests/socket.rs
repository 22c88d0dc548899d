#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Servers on real loopback sockets: the embedded server end to end, graceful shutdown, and
//! records on disk surviving a restart.

use std::time::Duration;

use bytes::Bytes;
use http::{Method, Request, StatusCode, header};
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use incountry_server::{EmbeddedServer, Server, ServerConfig};
use serde_json::{Value, json};

const WAIT: Duration = Duration::from_secs(20);

/// Sends one request on a fresh connection; every step bounded by [`WAIT`].
async fn send(url: &str, request: Request<Full<Bytes>>) -> (StatusCode, Value) {
    let address = url.trim_start_matches("http://").to_owned();
    let exchange = async move {
        let stream = tokio::net::TcpStream::connect(&address).await.unwrap();
        let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .unwrap();
        tokio::spawn(connection);
        let response = sender.send_request(request).await.unwrap();
        let status = response.status();
        let body = response.into_body().collect().await.unwrap().to_bytes();
        let value = if body.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&body).unwrap()
        };
        (status, value)
    };
    tokio::time::timeout(WAIT, exchange)
        .await
        .expect("the server did not answer in time")
}

fn request(method: Method, url: &str, path: &str) -> http::request::Builder {
    let host = url.trim_start_matches("http://").to_owned();
    Request::builder()
        .method(method)
        .uri(path)
        .header(header::HOST, host)
}

async fn fetch_token(url: &str, client_id: &str, secret: &str, env: &str) -> String {
    let body = format!(
        "grant_type=client_credentials&scope={env}&audience={url}&client_id={client_id}&client_secret={secret}"
    );
    let (status, value) = send(
        url,
        request(Method::POST, url, "/oauth2/token")
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(Full::new(Bytes::from(body)))
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{value}");
    value["access_token"].as_str().unwrap().to_owned()
}

fn storage(
    method: Method,
    url: &str,
    path: &str,
    token: &str,
    env: &str,
    body: Option<Value>,
) -> Request<Full<Bytes>> {
    request(method, url, path)
        .header(header::AUTHORIZATION, format!("Bearer {token}"))
        .header("x-env-id", env)
        .header(header::CONTENT_TYPE, "application/json")
        .body(Full::new(Bytes::from(
            body.map(|b| b.to_string()).unwrap_or_default(),
        )))
        .unwrap()
}

#[tokio::test]
async fn embedded_server_serves_a_registered_client_end_to_end() {
    let server = EmbeddedServer::start().await.unwrap();
    let url = server.url();
    assert!(url.starts_with("http://127.0.0.1:"));
    let env = server.environment_id().to_owned();
    let token = fetch_token(&url, server.client_id(), server.client_secret(), &env).await;
    let record = json!({"record_key": "k", "body": "2:x", "version": 0, "is_encrypted": true});
    let (status, written) = send(
        &url,
        storage(
            Method::POST,
            &url,
            "/v2/storage/records/se",
            &token,
            &env,
            Some(record),
        ),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED);
    let (status, read) = send(
        &url,
        storage(
            Method::GET,
            &url,
            "/v2/storage/records/se/k",
            &token,
            &env,
            None,
        ),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(read, written);
    let (status, health) = send(
        &url,
        request(Method::GET, &url, "/healthcheck")
            .body(Full::default())
            .unwrap(),
    )
    .await;
    assert_eq!((status, health), (StatusCode::OK, json!({"result": "ok"})));

    let other_env_token = fetch_token(
        &url,
        server.client_id(),
        server.client_secret(),
        "another-env",
    )
    .await;
    let (status, _) = send(
        &url,
        storage(
            Method::GET,
            &url,
            "/v2/storage/records/se/k",
            &other_env_token,
            "another-env",
            None,
        ),
    )
    .await;
    assert_eq!(
        status,
        StatusCode::NOT_FOUND,
        "environments do not see each other's records"
    );

    tokio::time::timeout(WAIT, server.shutdown())
        .await
        .unwrap()
        .unwrap();
    let address = url.trim_start_matches("http://").to_owned();
    assert!(
        tokio::net::TcpStream::connect(address).await.is_err(),
        "still listening after shutdown"
    );
}

#[tokio::test]
async fn records_on_disk_survive_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let config = || {
        let mut config = ServerConfig::default().with_client("c", "s-0123456789abcdef");
        config.client_any_environment = true;
        config.listen = "127.0.0.1:0".parse().unwrap();
        config.data_dir = dir.path().to_owned();
        config.signing_key = Some(b"a fixed signing key".to_vec());
        config
    };
    let running = Server::bind(config()).await.unwrap();
    let address = running.local_addr();
    let url = running.url();
    let token = fetch_token(&url, "c", "s-0123456789abcdef", "env").await;
    let record = json!({"record_key": "kept", "body": "2:x", "key1": "k"});
    let (status, written) = send(
        &url,
        storage(
            Method::POST,
            &url,
            "/v2/storage/records/de",
            &token,
            "env",
            Some(record),
        ),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED);
    tokio::time::timeout(WAIT, running.shutdown())
        .await
        .unwrap()
        .unwrap();
    assert!(dir.path().join("de").join("records.sqlite3").exists());

    // The same address: the token's audience names it.
    let mut again = config();
    again.listen = address;
    let running = Server::bind(again).await.unwrap();
    let url = running.url();
    let (status, read) = send(
        &url,
        storage(
            Method::GET,
            &url,
            "/v2/storage/records/de/kept",
            &token,
            "env",
            None,
        ),
    )
    .await;
    assert_eq!(
        status,
        StatusCode::OK,
        "a token signed with the same key still works"
    );
    assert_eq!(read, written);
    tokio::time::timeout(WAIT, running.shutdown())
        .await
        .unwrap()
        .unwrap();
}

#[tokio::test]
async fn configured_countries_get_their_stores_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = ServerConfig::default();
    config.data_dir = dir.path().to_owned();
    config.countries =
        incountry_server::Countries::Only(vec!["se".parse().unwrap(), "no".parse().unwrap()]);
    let server = Server::new(config).await.unwrap();
    for cc in ["se", "no"] {
        assert!(dir.path().join(cc).join("records.sqlite3").exists(), "{cc}");
    }
    assert!(!dir.path().join("us").exists());
    drop(server);
}
