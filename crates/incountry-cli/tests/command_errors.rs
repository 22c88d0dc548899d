//! How the CLI reports what it cannot do: a mistyped data directory, an unreachable token
//! endpoint, a timeout of zero. Exit codes: 2 for a usage error, 1 for a failure.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::Output;
use std::time::Duration;

use tokio::process::Command;

/// The longest any one command may take.
const WAIT: Duration = Duration::from_secs(60);

/// Runs `incountry` with `args` and no `INC_*` variable of the caller's environment.
async fn run(args: &[&str]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_incountry"));
    for (name, _) in std::env::vars() {
        if name.starts_with("INC_") || name == "INCOUNTRY_DATA_DIR" {
            command.env_remove(name);
        }
    }
    command.args(args).kill_on_drop(true);
    tokio::time::timeout(WAIT, command.output())
        .await
        .expect("the command did not finish in time")
        .unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// A loopback address nothing listens on: connections to it are refused.
fn closed_address() -> std::net::SocketAddr {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap()
}

#[cfg(feature = "server")]
#[tokio::test]
async fn audit_of_a_missing_data_directory_exits_2_and_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("no-such-data-dir");
    let out = run(&[
        "audit",
        "--data-dir",
        missing.to_str().unwrap(),
        "--country",
        "de",
    ])
    .await;
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(out.stdout.is_empty(), "{}", text(&out.stdout));
    assert!(stderr.contains("--data-dir"), "{stderr}");
    assert!(stderr.contains("no such directory"), "{stderr}");
}

#[cfg(feature = "server")]
#[tokio::test]
async fn audit_of_a_file_given_as_data_directory_exits_2() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("records.sqlite3");
    std::fs::write(&file, b"").unwrap();
    let out = run(&[
        "audit",
        "--data-dir",
        file.to_str().unwrap(),
        "--country",
        "de",
    ])
    .await;
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("is not a directory"), "{stderr}");
}

#[cfg(feature = "server")]
#[tokio::test]
async fn audit_of_a_country_without_a_trail_prints_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let out = run(&[
        "audit",
        "--data-dir",
        dir.path().to_str().unwrap(),
        "--country",
        "de",
    ])
    .await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(out.stdout.is_empty(), "{}", text(&out.stdout));
}

#[tokio::test]
async fn an_unreachable_token_endpoint_is_reported_as_a_network_error() {
    let tokens = closed_address();
    let pop = closed_address();
    let out = run(&[
        "records",
        "read",
        "--country",
        "de",
        "k1",
        "--endpoint",
        &format!("http://{pop}"),
        "--auth-endpoint",
        &format!("http://{tokens}/oauth2/token"),
        "--environment-id",
        "env",
        "--client-id",
        "client",
        "--client-secret",
        "a secret of the client",
        "--no-encryption",
        "--timeout",
        "5",
    ])
    .await;
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("network error"), "{stderr}");
    assert!(
        stderr.contains(&format!("http://{tokens}/oauth2/token")),
        "{stderr}"
    );
    assert!(!stderr.contains("authentication"), "{stderr}");
    assert_eq!(stderr.matches("connect failed").count(), 1, "{stderr}");
    assert!(!stderr.contains("a secret of the client"), "{stderr}");
}

#[tokio::test]
async fn a_zero_timeout_is_refused() {
    let pop = closed_address();
    for timeout in ["0", "86401", "soon"] {
        let out = run(&[
            "records",
            "read",
            "--country",
            "de",
            "k1",
            "--endpoint",
            &format!("http://{pop}"),
            "--environment-id",
            "env",
            "--token",
            "t",
            "--no-encryption",
            "--timeout",
            timeout,
        ])
        .await;
        let stderr = text(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "--timeout {timeout}: {stderr}");
        assert!(
            stderr.contains("--timeout"),
            "--timeout {timeout}: {stderr}"
        );
        assert!(out.stdout.is_empty(), "--timeout {timeout}");
    }
}
