//! `incountry serve` under a bounded abuse run, as `cargo xtask ci` runs it: a low descriptor
//! limit, oversized bodies on every route, an anonymous flood against the audit trail, a
//! fan-out over 80 countries, slow and idle connections; then a normal SDK session must
//! still succeed and every accepted request must still be in the audit trail.

#![cfg(feature = "server")]
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use incountry_model::Country;
use incountry_server::audit::{AuditFilter, AuditOperation};
use incountry_storage::{Record, SecretsData, Storage};

/// The longest any one step may take.
const WAIT: Duration = Duration::from_secs(30);

const CLIENT: &str = "abuse-client";
const SECRET: &str = "abuse-client-secret-0123456789";
const ENV: &str = "abuse-env";
const SECRETS: &str =
    r#"{"currentVersion": 1, "secrets": [{"secret": "abuse password", "version": 1}]}"#;

/// `incountry serve` under `ulimit -n 256`, stopped (SIGTERM, then SIGKILL) when dropped.
struct Served {
    child: Child,
    address: String,
}

impl Served {
    fn start(data_dir: &std::path::Path) -> Self {
        let mut child = Command::new("sh")
            .arg("-c")
            .arg(
                r#"ulimit -n 256 && exec "$0" serve --listen 127.0.0.1:0 --data-dir "$1" --client "$2" --header-read-timeout 1 --idle-timeout 2 --body-read-timeout 1"#,
            )
            .arg(env!("CARGO_BIN_EXE_incountry"))
            .arg(data_dir)
            .arg(format!("{CLIENT}:{SECRET}@{ENV}"))
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let address = lines
            .map(|line| line.unwrap())
            .find_map(|line| line.strip_prefix("listening on http://").map(str::to_owned));
        match address {
            Some(address) => Self { child, address },
            None => {
                let _ = child.kill();
                let _ = child.wait();
                panic!("incountry serve ended without listening");
            }
        }
    }

    fn url(&self) -> String {
        format!("http://{}", self.address)
    }

    /// Stops the server with SIGTERM and waits (bounded) for a clean exit.
    fn stop(mut self) {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
        let started = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                assert!(status.success(), "{status}");
                return;
            }
            assert!(started.elapsed() < WAIT, "the server did not stop");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// An answer: status, head, body.
struct Answer {
    status: u16,
    head: String,
    body: String,
}

/// Sends one request (`connection: close` is added) and reads the whole answer.
fn http(
    address: &str,
    method: &str,
    path: &str,
    headers: &[(&str, String)],
    body: &[u8],
) -> Answer {
    let mut stream = TcpStream::connect(address).unwrap();
    stream.set_read_timeout(Some(WAIT)).unwrap();
    stream.set_write_timeout(Some(WAIT)).unwrap();
    let mut request =
        format!("{method} {path} HTTP/1.1\r\nhost: {address}\r\nconnection: close\r\n");
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    if !headers
        .iter()
        .any(|(n, _)| n.eq_ignore_ascii_case("content-length"))
    {
        request.push_str(&format!("content-length: {}\r\n", body.len()));
    }
    request.push_str("\r\n");
    stream.write_all(request.as_bytes()).unwrap();
    // The server may refuse before the body; a write error then is expected.
    let _ = stream.write_all(body);
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer);
    let text = String::from_utf8_lossy(&answer).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no answer to {method} {path}: {text:?}"));
    Answer {
        status,
        head: head.to_owned(),
        body: body.to_owned(),
    }
}

fn token(address: &str) -> String {
    let form = format!(
        "grant_type=client_credentials&client_id={CLIENT}&client_secret={SECRET}&scope={ENV}&audience=http://{address}"
    );
    let answer = http(
        address,
        "POST",
        "/oauth2/token",
        &[("content-type", "application/x-www-form-urlencoded".into())],
        form.as_bytes(),
    );
    assert_eq!(answer.status, 200, "{}", answer.body);
    let value: serde_json::Value = serde_json::from_str(&answer.body).unwrap();
    value["access_token"].as_str().unwrap().to_owned()
}

fn authorized(token: &str) -> Vec<(&'static str, String)> {
    vec![
        ("authorization", format!("Bearer {token}")),
        ("x-env-id", ENV.to_owned()),
        ("content-type", "application/json".to_owned()),
    ]
}

fn write(address: &str, token: &str, country: &str, key: &str) -> Answer {
    let body = serde_json::json!({"record_key": key, "body": "2:opaque", "version": 1}).to_string();
    http(
        address,
        "POST",
        &format!("/v2/storage/records/{country}"),
        &authorized(token),
        body.as_bytes(),
    )
}

#[test]
fn the_server_survives_a_bounded_abuse_run_and_then_serves_an_sdk_session() {
    let data = tempfile::tempdir().unwrap();
    let served = Served::start(data.path());
    let address = served.address.clone();
    let token = token(&address);
    assert_eq!(write(&address, &token, "us", "accepted-before").status, 201);

    // Oversized bodies, declared: refused before they are read.
    let routes = [
        ("POST", "/oauth2/token"),
        ("POST", "/v2/storage/records/us"),
        ("POST", "/v2/storage/records/us/batchWrite"),
        ("POST", "/v2/storage/records/us/find"),
        ("POST", "/v2/storage/records/us/batchDelete"),
        ("POST", "/v2/storage/records/us/accepted-before/attachments"),
        ("PUT", "/v2/storage/records/us/accepted-before/attachments"),
        (
            "PATCH",
            "/v2/storage/records/us/accepted-before/attachments/00000000-0000-4000-8000-000000000000/meta",
        ),
    ];
    for (method, path) in routes {
        let mut headers = authorized(&token);
        headers.push(("content-length", "10737418240".into()));
        let answer = http(&address, method, path, &headers, b"");
        assert_eq!(answer.status, 413, "{method} {path}: {}", answer.body);
    }

    // An anonymous flood with attacker-sized record keys against the audit trail.
    let long_key = "A".repeat(8000);
    for _ in 0..1500 {
        let answer = http(
            &address,
            "GET",
            &format!("/v2/storage/records/us/{long_key}"),
            &[],
            b"",
        );
        assert_eq!(answer.status, 401);
    }

    // Slow and idle connections hold nothing for long.
    let idle: Vec<TcpStream> = (0..40)
        .map(|_| TcpStream::connect(&address).unwrap())
        .collect();
    let mut half: Vec<TcpStream> = (0..10)
        .map(|_| TcpStream::connect(&address).unwrap())
        .collect();
    for stream in &mut half {
        stream
            .write_all(b"GET /healthcheck HTTP/1.1\r\nhost:")
            .unwrap();
    }

    // A fan-out over 80 countries under a 256-descriptor limit (about 6 descriptors a
    // country: without a cap the server ran out after some 35): each write is stored or told
    // to retry, never a server error.
    let countries: Vec<String> = (b'a'..=b'z')
        .flat_map(|a| (b'a'..=b'z').map(move |b| String::from_utf8(vec![a, b]).unwrap()))
        .filter(|code| Country::new(code).is_ok_and(|c| c.is_iso_3166_alpha2()))
        .take(80)
        .collect();
    assert_eq!(countries.len(), 80);
    let mut stored = 0;
    for country in &countries {
        let answer = write(&address, &token, country, "fan-out");
        match answer.status {
            201 => stored += 1,
            503 => assert!(
                answer.head.to_ascii_lowercase().contains("retry-after"),
                "{}",
                answer.head
            ),
            other => panic!("{country}: {other} {}", answer.body),
        }
    }
    assert!(stored >= 60, "only {stored} of 80 countries stored");
    // Non-ISO codes are not served at all.
    assert_eq!(write(&address, &token, "zz", "nope").status, 404);
    drop(idle);
    drop(half);

    // Everything else still answers.
    assert_eq!(http(&address, "GET", "/healthcheck", &[], b"").status, 200);
    let token = self::token(&address);
    assert_eq!(write(&address, &token, "us", "accepted-after").status, 201);

    // A normal SDK session.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let session = async {
            let storage = Storage::builder()
                .env_vars(std::iter::empty::<(String, String)>())
                .endpoint(served.url())
                .auth_endpoints([("default", format!("{}/oauth2/token", served.url()))])
                .environment_id(ENV)
                .client_credentials(CLIENT, SECRET)
                .secrets(SecretsData::from_json(SECRETS).unwrap())
                .build()
                .await
                .unwrap();
            storage
                .write("us", Record::new("sdk-key").with_body("after the storm"))
                .await
                .unwrap();
            let record = storage.read("us", "sdk-key").await.unwrap();
            assert_eq!(record.body(), Some("after the storm"));
            storage.delete("us", "sdk-key").await.unwrap();
        };
        tokio::time::timeout(WAIT, session)
            .await
            .expect("the SDK session did not finish");
    });
    served.stop();

    // Every accepted request is still in the trail.
    let trail =
        incountry_server::audit::read(&data.path().join("us"), &AuditFilter::default()).unwrap();
    let accepted: Vec<_> = trail
        .iter()
        .filter(|e| e.client_id.as_deref() == Some(CLIENT) && e.status < 300)
        .collect();
    for key in ["accepted-before", "accepted-after"] {
        assert!(
            accepted
                .iter()
                .any(|e| e.operation == AuditOperation::Write
                    && e.record_key.as_deref() == Some(key)),
            "the write of {key} is gone from the trail"
        );
    }
    assert!(
        accepted
            .iter()
            .any(|e| e.operation == AuditOperation::Delete),
        "the SDK session's delete is missing from the trail"
    );
}
