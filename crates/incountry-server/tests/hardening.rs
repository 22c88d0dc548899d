#![allow(clippy::unwrap_used, clippy::expect_used)]
//! The server against hostile or careless clients, on real loopback sockets: oversized bodies,
//! slow and idle connections, too many connections, secret guessing, tokens outside their
//! client's environments or audience, and an operator's data directory.

use std::net::SocketAddr;
use std::time::Duration;

use incountry_server::{
    ConnectionLimits, RateLimit, RunningServer, Server, ServerConfig, StorageConfig,
};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;

/// The longest any one step may take.
const WAIT: Duration = Duration::from_secs(20);

const CLIENT: &str = "client-a";
const SECRET: &str = "client-a-secret-0123456789";
const ENV: &str = "env-a";

/// A server on loopback with one client bound to [`ENV`], changed by `adjust`.
async fn start(adjust: impl FnOnce(&mut ServerConfig)) -> RunningServer {
    let mut config = ServerConfig::in_memory();
    config.client_any_environment = false;
    config
        .clients
        .push(incountry_server::ClientCredentials::new(CLIENT, SECRET).for_environments([ENV]));
    adjust(&mut config);
    Server::bind(config).await.unwrap()
}

/// An HTTP/1.1 answer read off a raw socket.
#[derive(Debug)]
struct Answer {
    status: u16,
    head: String,
    body: Value,
}

impl Answer {
    fn header(&self, name: &str) -> Option<String> {
        self.head.lines().find_map(|line| {
            let (n, v) = line.split_once(':')?;
            n.eq_ignore_ascii_case(name).then(|| v.trim().to_owned())
        })
    }
}

/// Reads one answer (head and a `content-length` body) off `stream`.
async fn read_answer(stream: &mut TcpStream) -> Answer {
    let read = async {
        let mut buffer = Vec::new();
        let mut chunk = [0u8; 4096];
        loop {
            if let Some(end) = buffer.windows(4).position(|w| w == b"\r\n\r\n") {
                let head = String::from_utf8_lossy(&buffer[..end]).to_string();
                let length: usize = head
                    .lines()
                    .find_map(|l| {
                        let (n, v) = l.split_once(':')?;
                        n.eq_ignore_ascii_case("content-length")
                            .then(|| v.trim().parse().ok())?
                    })
                    .unwrap_or(0);
                while buffer.len() < end + 4 + length {
                    let n = stream.read(&mut chunk).await.unwrap();
                    assert!(n > 0, "the connection closed inside a body");
                    buffer.extend_from_slice(&chunk[..n]);
                }
                let body = &buffer[end + 4..end + 4 + length];
                let status = head
                    .split_whitespace()
                    .nth(1)
                    .and_then(|s| s.parse().ok())
                    .unwrap();
                let body = serde_json::from_slice(body).unwrap_or(Value::Null);
                return Answer { status, head, body };
            }
            let n = stream.read(&mut chunk).await.unwrap();
            assert!(n > 0, "the connection closed before an answer: {buffer:?}");
            buffer.extend_from_slice(&chunk[..n]);
        }
    };
    tokio::time::timeout(WAIT, read)
        .await
        .expect("no answer in time")
}

/// Sends `request` (a whole HTTP/1.1 request) on a fresh connection and reads the answer.
async fn exchange(address: SocketAddr, request: &str) -> Answer {
    let mut stream = TcpStream::connect(address).await.unwrap();
    stream.write_all(request.as_bytes()).await.unwrap();
    read_answer(&mut stream).await
}

/// Waits until the server closes `stream` (reads EOF or a reset), bounded by [`WAIT`].
async fn closed_by_server(stream: &mut TcpStream) {
    let mut sink = [0u8; 1024];
    let closed = async {
        loop {
            match stream.read(&mut sink).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        }
    };
    tokio::time::timeout(WAIT, closed)
        .await
        .expect("the server kept the connection open");
}

fn token_request(address: SocketAddr, client: &str, secret: &str, env: &str) -> String {
    token_request_for(address, client, secret, env, &format!("http://{address}"))
}

fn token_request_for(
    address: SocketAddr,
    client: &str,
    secret: &str,
    env: &str,
    audience: &str,
) -> String {
    let form = format!(
        "grant_type=client_credentials&client_id={client}&client_secret={secret}&scope={env}&audience={audience}"
    );
    format!(
        "POST /oauth2/token HTTP/1.1\r\nhost: {address}\r\ncontent-type: application/x-www-form-urlencoded\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{form}",
        form.len()
    )
}

async fn token(address: SocketAddr, client: &str, secret: &str, env: &str) -> Answer {
    exchange(address, &token_request(address, client, secret, env)).await
}

fn write_request(address: SocketAddr, token: &str, env: &str, country: &str, key: &str) -> String {
    let body = json!({"record_key": key, "body": "2:opaque", "version": 1}).to_string();
    format!(
        "POST /v2/storage/records/{country} HTTP/1.1\r\nhost: {address}\r\nauthorization: Bearer {token}\r\nx-env-id: {env}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    )
}

fn read_request(address: SocketAddr, token: &str, env: &str, country: &str, key: &str) -> String {
    format!(
        "GET /v2/storage/records/{country}/{key} HTTP/1.1\r\nhost: {address}\r\nauthorization: Bearer {token}\r\nx-env-id: {env}\r\nconnection: close\r\n\r\n"
    )
}

async fn access_token(address: SocketAddr) -> String {
    let answer = token(address, CLIENT, SECRET, ENV).await;
    assert_eq!(answer.status, 200, "{answer:?}");
    answer.body["access_token"].as_str().unwrap().to_owned()
}

/// The resident memory of this process (the server runs in it), in bytes.
fn resident_bytes() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let kib: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap();
    kib * 1024
}

/// Streams `total` bytes as a chunked body after `head`, stopping quietly when the server
/// closes the connection; returns the status answered, if an answer came. The answer is read
/// while the body is still being sent, as a client that cannot send the rest would.
async fn send_chunked(address: SocketAddr, head: String, total: usize) -> Option<u16> {
    let stream = TcpStream::connect(address).await.unwrap();
    let (mut reader, mut writer) = stream.into_split();
    let answer = tokio::spawn(async move {
        let mut answer = Vec::new();
        let mut chunk = [0u8; 1024];
        while !answer.windows(4).any(|w| w == b"\r\n\r\n") {
            match reader.read(&mut chunk).await {
                Ok(0) | Err(_) => break,
                Ok(n) => answer.extend_from_slice(&chunk[..n]),
            }
        }
        String::from_utf8_lossy(&answer)
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse::<u16>().ok())
    });
    let chunk = vec![b'a'; 1 << 20];
    let frame = [format!("{:x}\r\n", chunk.len()).as_bytes(), &chunk, b"\r\n"].concat();
    let send = async {
        writer.write_all(head.as_bytes()).await?;
        let mut sent = 0;
        while sent < total && !answer.is_finished() {
            writer.write_all(&frame).await?;
            sent += chunk.len();
        }
        writer.write_all(b"0\r\n\r\n").await
    };
    let _ = tokio::time::timeout(WAIT, send).await;
    tokio::time::timeout(WAIT, answer).await.ok()?.ok()?
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_bodies_are_refused_without_being_read_into_memory() {
    let server = start(|config| config.max_json_body = 1 << 20).await;
    let address = server.local_addr();
    let token = access_token(address).await;
    let routes = [
        ("POST", "/oauth2/token".to_owned()),
        ("POST", "/v2/storage/records/us".to_owned()),
        ("POST", "/v2/storage/records/us/batchWrite".to_owned()),
        ("POST", "/v2/storage/records/us/find".to_owned()),
        ("POST", "/v2/storage/records/us/batchDelete".to_owned()),
        (
            "PATCH",
            "/v2/storage/records/us/k/attachments/00000000-0000-4000-8000-000000000000/meta"
                .to_owned(),
        ),
        ("POST", "/v2/storage/records/us/k/attachments".to_owned()),
    ];
    // Declared too large: refused before a byte of the body is read.
    for (method, path) in &routes {
        let request = format!(
            "{method} {path} HTTP/1.1\r\nhost: {address}\r\nauthorization: Bearer {token}\r\nx-env-id: {ENV}\r\ncontent-type: application/json\r\ncontent-length: 10737418240\r\n\r\n"
        );
        let answer = exchange(address, &request).await;
        if path.ends_with("/attachments") {
            // The record does not exist: refused before the body either way.
            assert!(
                answer.status == 413 || answer.status == 404,
                "{path}: {answer:?}"
            );
        } else {
            assert_eq!(answer.status, 413, "{path}: {answer:?}");
        }
    }
    // Not declared: counted while streaming, the reading stops at the limit. Four bodies of
    // 256 MiB at once to the token endpoint would take a gigabyte if read whole.
    let before = resident_bytes();
    let head = format!(
        "POST /oauth2/token HTTP/1.1\r\nhost: {address}\r\ncontent-type: application/x-www-form-urlencoded\r\ntransfer-encoding: chunked\r\n\r\n"
    );
    let floods: Vec<_> = (0..4)
        .map(|_| tokio::spawn(send_chunked(address, head.clone(), 256 << 20)))
        .collect();
    for flood in floods {
        assert_eq!(flood.await.unwrap(), Some(413));
    }
    for (method, path) in routes.iter().skip(1).take(4) {
        let head = format!(
            "{method} {path} HTTP/1.1\r\nhost: {address}\r\nauthorization: Bearer {token}\r\nx-env-id: {ENV}\r\ncontent-type: application/json\r\ntransfer-encoding: chunked\r\n\r\n"
        );
        assert_eq!(
            send_chunked(address, head, 64 << 20).await,
            Some(413),
            "{path}"
        );
    }
    let grown = resident_bytes().saturating_sub(before);
    assert!(grown < 128 << 20, "the server grew by {} MiB", grown >> 20);
    // And it still serves.
    let answer = exchange(address, &write_request(address, &token, ENV, "us", "k")).await;
    assert_eq!(answer.status, 201, "{answer:?}");
    server.shutdown().await.unwrap();
}

fn with_limits(adjust: impl FnOnce(&mut ConnectionLimits)) -> impl FnOnce(&mut ServerConfig) {
    move |config| adjust(&mut config.connections)
}

#[tokio::test]
async fn a_half_sent_request_head_is_cut_off() {
    let server = start(with_limits(|limits| {
        limits.header_read_timeout = Duration::from_millis(300);
    }))
    .await;
    let mut stream = TcpStream::connect(server.local_addr()).await.unwrap();
    stream
        .write_all(b"GET /healthcheck HTTP/1.1\r\nhost: x\r\nx-slow: ")
        .await
        .unwrap();
    closed_by_server(&mut stream).await;
    server.shutdown().await.unwrap();
}

#[tokio::test]
async fn an_idle_kept_alive_connection_is_closed() {
    let server = start(with_limits(|limits| {
        limits.header_read_timeout = Duration::from_secs(600);
        limits.idle_timeout = Duration::from_millis(300);
    }))
    .await;
    let mut stream = TcpStream::connect(server.local_addr()).await.unwrap();
    stream
        .write_all(b"GET /healthcheck HTTP/1.1\r\nhost: x\r\n\r\n")
        .await
        .unwrap();
    assert_eq!(read_answer(&mut stream).await.status, 200);
    // Kept alive, then nothing: the server lets it go.
    closed_by_server(&mut stream).await;
    // A connection that never sends anything goes the same way.
    let mut silent = TcpStream::connect(server.local_addr()).await.unwrap();
    closed_by_server(&mut silent).await;
    server.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_body_that_stops_arriving_is_answered_408() {
    let server = start(with_limits(|limits| {
        limits.body_read_timeout = Duration::from_millis(300);
    }))
    .await;
    let address = server.local_addr();
    let token = access_token(address).await;
    let mut stream = TcpStream::connect(address).await.unwrap();
    let request = format!(
        "POST /v2/storage/records/us HTTP/1.1\r\nhost: {address}\r\nauthorization: Bearer {token}\r\nx-env-id: {ENV}\r\ncontent-type: application/json\r\ncontent-length: 100\r\n\r\n{{\"record_key\""
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    let answer = read_answer(&mut stream).await;
    assert_eq!(answer.status, 408, "{answer:?}");
    // The token endpoint too.
    let mut stream = TcpStream::connect(address).await.unwrap();
    let request = format!(
        "POST /oauth2/token HTTP/1.1\r\nhost: {address}\r\ncontent-type: application/x-www-form-urlencoded\r\ncontent-length: 100\r\n\r\ngrant_type="
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    assert_eq!(read_answer(&mut stream).await.status, 408);
    server.shutdown().await.unwrap();
}

#[tokio::test]
async fn connections_beyond_the_limit_are_told_to_retry_and_others_still_get_in_later() {
    let server = start(with_limits(|limits| {
        limits.max_connections = 3;
        limits.idle_timeout = Duration::from_secs(600);
        limits.header_read_timeout = Duration::from_secs(600);
    }))
    .await;
    let address = server.local_addr();
    let mut held = Vec::new();
    for _ in 0..3 {
        let mut stream = TcpStream::connect(address).await.unwrap();
        // A request answered proves the connection is being served (holds a slot).
        stream
            .write_all(b"GET /healthcheck HTTP/1.1\r\nhost: x\r\n\r\n")
            .await
            .unwrap();
        assert_eq!(read_answer(&mut stream).await.status, 200);
        held.push(stream);
    }
    let mut over = TcpStream::connect(address).await.unwrap();
    let answer = read_answer(&mut over).await;
    assert_eq!(answer.status, 503, "{answer:?}");
    assert_eq!(answer.header("retry-after").as_deref(), Some("1"));
    // A slot frees when a client leaves.
    drop(held.pop());
    let served = async {
        loop {
            let mut stream = TcpStream::connect(address).await.unwrap();
            stream
                .write_all(b"GET /healthcheck HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n")
                .await
                .unwrap();
            if read_answer(&mut stream).await.status == 200 {
                return;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    };
    tokio::time::timeout(WAIT, served)
        .await
        .expect("no slot freed");
    server.shutdown().await.unwrap();
}

#[tokio::test]
async fn shutdown_ends_within_its_deadline_whatever_clients_do() {
    let server = start(with_limits(|limits| {
        limits.header_read_timeout = Duration::from_secs(600);
        limits.idle_timeout = Duration::from_secs(600);
        limits.body_read_timeout = Duration::from_secs(600);
        limits.shutdown_timeout = Duration::from_millis(300);
    }))
    .await;
    let address = server.local_addr();
    let token = access_token(address).await;
    let mut half_head = TcpStream::connect(address).await.unwrap();
    half_head
        .write_all(b"GET /healthcheck HTTP/1.1\r\nhost:")
        .await
        .unwrap();
    let mut half_body = TcpStream::connect(address).await.unwrap();
    let request = format!(
        "POST /v2/storage/records/us HTTP/1.1\r\nhost: {address}\r\nauthorization: Bearer {token}\r\nx-env-id: {ENV}\r\ncontent-type: application/json\r\ncontent-length: 100\r\n\r\n{{"
    );
    half_body.write_all(request.as_bytes()).await.unwrap();
    // Let both reach the server before it stops.
    tokio::time::sleep(Duration::from_millis(100)).await;
    tokio::time::timeout(WAIT, server.shutdown())
        .await
        .expect("shutdown hung on slow clients")
        .unwrap();
    closed_by_server(&mut half_head).await;
    closed_by_server(&mut half_body).await;
}

#[tokio::test]
async fn guessing_secrets_is_slowed_per_client_and_per_address() {
    let server = start(|config| config.token_failure_limit = RateLimit::new(6, 3)).await;
    let address = server.local_addr();
    for attempt in 0..3 {
        let answer = token(address, CLIENT, &format!("wrong-secret-{attempt:08}"), ENV).await;
        assert_eq!(answer.status, 401, "{answer:?}");
    }
    let answer = token(address, CLIENT, "wrong-secret-again", ENV).await;
    assert_eq!(answer.status, 429, "{answer:?}");
    let wait: u64 = answer.header("retry-after").unwrap().parse().unwrap();
    assert!((1..=10).contains(&wait), "{wait}");
    // While the limit holds, even the right secret waits: guessing gains nothing.
    assert_eq!(token(address, CLIENT, SECRET, ENV).await.status, 429);
    // Another client id from the same address: the address is over its limit too.
    assert_eq!(
        token(address, "someone-else", "whatever-secret-x", ENV)
            .await
            .status,
        429
    );
    server.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_client_gets_tokens_for_its_own_environments_only() {
    let server = start(|config| {
        config.clients.push(
            incountry_server::ClientCredentials::new("client-b", "client-b-secret-0123456789")
                .for_environments(["env-b1", "env-b2"]),
        );
    })
    .await;
    let address = server.local_addr();
    assert_eq!(
        token(address, "client-b", "client-b-secret-0123456789", "env-b2")
            .await
            .status,
        200
    );
    let answer = token(address, "client-b", "client-b-secret-0123456789", ENV).await;
    assert_eq!(answer.status, 400, "{answer:?}");
    assert_eq!(answer.body["error"], "invalid_scope");
    let answer = token(address, CLIENT, SECRET, "env-b1").await;
    assert_eq!(answer.status, 400, "{answer:?}");
    server.shutdown().await.unwrap();
}

#[tokio::test]
async fn unsafe_client_and_key_settings_stop_the_start() {
    let weak = {
        let mut config = ServerConfig::in_memory().with_client("c", "short");
        config.client_any_environment = true;
        config
    };
    let message = Server::new(weak.clone()).await.unwrap_err().to_string();
    assert!(message.contains("shorter than 16"), "{message}");
    let mut allowed = weak;
    allowed.allow_weak_secrets = true;
    Server::new(allowed).await.unwrap();

    let mut unbound = ServerConfig::in_memory().with_client("c", "c-secret-0123456789");
    unbound.client_any_environment = false;
    let message = Server::new(unbound).await.unwrap_err().to_string();
    assert!(
        message.contains("not bound to any environment"),
        "{message}"
    );

    let mut repeated = ServerConfig::in_memory();
    repeated.signing_key = Some(vec![7u8; 32]);
    let message = Server::new(repeated).await.unwrap_err().to_string();
    assert!(message.contains("repeated"), "{message}");
}

#[tokio::test]
async fn tokens_of_a_client_no_longer_registered_are_refused() {
    let key = b"a signing key shared by restarts".to_vec();
    let public = vec!["https://pop.example".to_owned()];
    let before = start(|config| {
        config.signing_key = Some(key.clone());
        config.public_urls = public.clone();
    })
    .await;
    let address = before.local_addr();
    let answer = exchange(
        address,
        &token_request_for(address, CLIENT, SECRET, ENV, "https://pop.example"),
    )
    .await;
    let token = answer.body["access_token"].as_str().unwrap().to_owned();
    before.shutdown().await.unwrap();

    // Restarted with the same key: the client is still there, its token works.
    let same = start(|config| {
        config.signing_key = Some(key.clone());
        config.public_urls = public.clone();
    })
    .await;
    let address = same.local_addr();
    let answer = exchange(address, &read_request(address, &token, ENV, "us", "k")).await;
    assert_eq!(answer.status, 404, "accepted, no such record: {answer:?}");
    same.shutdown().await.unwrap();

    // Restarted without the client: its token is refused at once.
    let without = start(|config| {
        config.signing_key = Some(key.clone());
        config.public_urls = public.clone();
        config.clients.clear();
    })
    .await;
    let address = without.local_addr();
    let answer = exchange(address, &read_request(address, &token, ENV, "us", "k")).await;
    assert_eq!(answer.status, 401, "{answer:?}");
    without.shutdown().await.unwrap();

    // Or with the client moved to another environment.
    let moved = start(|config| {
        config.signing_key = Some(key.clone());
        config.public_urls = public.clone();
        config.clients[0].environments = vec!["env-other".into()];
    })
    .await;
    let address = moved.local_addr();
    let answer = exchange(address, &read_request(address, &token, ENV, "us", "k")).await;
    assert_eq!(answer.status, 401, "{answer:?}");
    moved.shutdown().await.unwrap();
}

#[tokio::test]
async fn with_public_urls_the_audience_must_name_one_of_them_and_lifetimes_are_configured() {
    let server = start(|config| {
        config.public_urls = vec![
            "https://us.pop.example".into(),
            "https://pop.example".into(),
        ];
        config.token_ttl = Duration::from_secs(120);
    })
    .await;
    let address = server.local_addr();
    // Audience = the Host the client used: not good enough once public URLs are set.
    let answer = token(address, CLIENT, SECRET, ENV).await;
    assert_eq!(answer.status, 200);
    assert_eq!(answer.body["expires_in"], 120);
    let by_host = answer.body["access_token"].as_str().unwrap().to_owned();
    let answer = exchange(address, &read_request(address, &by_host, ENV, "us", "k")).await;
    assert_eq!(answer.status, 401, "{answer:?}");
    // Audience = the second public URL.
    let answer = exchange(
        address,
        &token_request_for(address, CLIENT, SECRET, ENV, "https://pop.example"),
    )
    .await;
    let public = answer.body["access_token"].as_str().unwrap().to_owned();
    let answer = exchange(address, &read_request(address, &public, ENV, "us", "k")).await;
    assert_eq!(answer.status, 404, "accepted, no such record: {answer:?}");
    server.shutdown().await.unwrap();
}

#[tokio::test]
async fn only_iso_country_codes_are_served_by_default() {
    let server = start(|_| {}).await;
    let address = server.local_addr();
    let token = access_token(address).await;
    for country in ["aa", "zz", "uk", "xx"] {
        let answer = exchange(address, &write_request(address, &token, ENV, country, "k")).await;
        assert_eq!(answer.status, 404, "{country}: {answer:?}");
    }
    for country in ["us", "DE", "ax"] {
        let answer = exchange(address, &write_request(address, &token, ENV, country, "k")).await;
        assert_eq!(answer.status, 201, "{country}: {answer:?}");
    }
    server.shutdown().await.unwrap();
    // A listed code is served even when ISO does not know it.
    let listed = start(|config| {
        config.countries = incountry_server::Countries::Only(vec!["xk".parse().unwrap()]);
    })
    .await;
    let address = listed.local_addr();
    let token = access_token(address).await;
    let answer = exchange(address, &write_request(address, &token, ENV, "xk", "k")).await;
    assert_eq!(answer.status, 201, "{answer:?}");
    listed.shutdown().await.unwrap();
}

/// A server on SQLite files in `dir`.
async fn start_on_disk(
    dir: &std::path::Path,
    adjust: impl FnOnce(&mut ServerConfig),
) -> RunningServer {
    start(|config| {
        config.storage = StorageConfig::SqliteFiles;
        config.data_dir = dir.to_owned();
        adjust(config);
    })
    .await
}

#[tokio::test]
async fn country_databases_beyond_the_cap_are_closed_and_reopened_without_losing_records() {
    let dir = tempfile::tempdir().unwrap();
    let server = start_on_disk(dir.path(), |config| config.max_open_countries = 2).await;
    let address = server.local_addr();
    let token = access_token(address).await;
    let countries = ["us", "de", "fr", "gb", "jp", "br"];
    for country in countries {
        let answer = exchange(address, &write_request(address, &token, ENV, country, "k")).await;
        assert_eq!(answer.status, 201, "{country}: {answer:?}");
    }
    for country in countries {
        let answer = exchange(address, &read_request(address, &token, ENV, country, "k")).await;
        assert_eq!(answer.status, 200, "{country}: {answer:?}");
    }
    server.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_data_directory_serves_one_server_at_a_time() {
    let dir = tempfile::tempdir().unwrap();
    let first = start_on_disk(dir.path(), |_| {}).await;
    let mut config = ServerConfig::default();
    config.data_dir = dir.path().to_owned();
    config.listen = "127.0.0.1:0".parse().unwrap();
    let message = Server::new(config.clone()).await.unwrap_err().to_string();
    assert!(
        message.contains("in use by another incountry server"),
        "{message}"
    );
    assert!(
        message.contains(&format!("PID {}", std::process::id())),
        "{message}"
    );
    first.shutdown().await.unwrap();
    // Released with the server.
    Server::new(config).await.unwrap();
}

#[tokio::test]
async fn the_data_directory_and_databases_are_private_and_cut_uploads_are_cleaned() {
    use std::os::unix::fs::PermissionsExt as _;
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let leftover = data.join("us").join("files").join(".upload-cut-by-a-crash");
    std::fs::create_dir_all(leftover.parent().unwrap()).unwrap();
    std::fs::write(&leftover, b"half an upload").unwrap();
    let server = start_on_disk(&data, |config| config.audit = None).await;
    let address = server.local_addr();
    let token = access_token(address).await;
    let answer = exchange(address, &write_request(address, &token, ENV, "us", "k")).await;
    assert_eq!(answer.status, 201, "{answer:?}");
    assert!(!leftover.exists(), "the interrupted upload is still there");
    let mode =
        |path: &std::path::Path| std::fs::metadata(path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&data), 0o700);
    assert_eq!(mode(&data.join("us")), 0o700);
    assert_eq!(mode(&data.join("us").join("files")), 0o700);
    for entry in std::fs::read_dir(data.join("us")).unwrap() {
        let path = entry.unwrap().path();
        if path.is_file() {
            assert_eq!(
                mode(&path) & 0o077,
                0,
                "{} is readable by others",
                path.display()
            );
        }
    }
    server.shutdown().await.unwrap();
}
