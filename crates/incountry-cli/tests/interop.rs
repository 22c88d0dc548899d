//! The official Python SDK 4.1.0 against `incountry serve`: every Storage method, run by
//! `xtask/interop/sdk_against_server.py`. Needs a Python with the SDK (`cargo xtask interop`
//! provides one through `INCOUNTRY_INTEROP_PYTHON`).

#![cfg(feature = "server")]
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

const CLIENT_ID: &str = "interop-client";
const CLIENT_SECRET: &str = "interop-secret-0123456789";
/// How long the whole SDK scenario may take before it is killed.
const SCENARIO_TIMEOUT: Duration = Duration::from_secs(300);

/// `incountry serve` on a free port; killed when dropped.
struct Served {
    child: Child,
    url: String,
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn serve(data_dir: &Path, database_url: Option<&str>) -> Served {
    let mut command = Command::new(env!("CARGO_BIN_EXE_incountry"));
    command
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--client-any-environment",
        ])
        .arg("--client")
        .arg(format!("{CLIENT_ID}:{CLIENT_SECRET}"))
        .arg("--data-dir")
        .arg(data_dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    if let Some(url) = database_url {
        command.args(["--database-url", url]);
    }
    let mut child = command.spawn().unwrap();
    let stdout = child.stdout.take().unwrap();
    // The first line is "listening on http://ADDR" once the server accepts connections.
    let mut lines = BufReader::new(stdout).lines();
    let line = lines.next().expect("serve printed nothing").unwrap();
    let url = line
        .strip_prefix("listening on ")
        .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
        .to_owned();
    Served { child, url }
}

fn run_scenario(served: &Served, environment: &str) {
    let python = std::env::var("INCOUNTRY_INTEROP_PYTHON").unwrap_or_else(|_| "python3".into());
    let script =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../xtask/interop/sdk_against_server.py");
    let mut child = Command::new(&python)
        .arg(&script)
        .args([
            "--endpoint",
            &served.url,
            "--client-id",
            CLIENT_ID,
            "--client-secret",
            CLIENT_SECRET,
        ])
        .args(["--env-id", environment])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {python}: {e}"));
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if started.elapsed() > SCENARIO_TIMEOUT {
            let _ = child.kill();
            panic!("the SDK scenario did not finish within {SCENARIO_TIMEOUT:?}");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let output = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_ne!(
        status.code(),
        Some(2),
        "the scenario could not start: {stderr}"
    );
    let report: Value = serde_json::from_slice(&output.stdout)
        .unwrap_or_else(|e| panic!("no JSON report ({e}); stderr: {stderr}"));
    let checks = report["checks"].as_array().unwrap();
    let failed: Vec<String> = checks
        .iter()
        .filter(|c| c["ok"] != Value::Bool(true))
        .map(|c| {
            format!(
                "- {}: {}",
                c["name"].as_str().unwrap_or("?"),
                c["detail"].as_str().unwrap_or("")
            )
        })
        .collect();
    assert!(checks.len() >= 60, "only {} checks ran", checks.len());
    assert!(
        failed.is_empty(),
        "the official SDK {} failed {} of {} checks:\n{}",
        report["sdk_version"],
        failed.len(),
        checks.len(),
        failed.join("\n")
    );
    assert!(status.success(), "scenario exit {status}; stderr: {stderr}");
    eprintln!(
        "official SDK {}: {} checks passed against {}",
        report["sdk_version"],
        checks.len(),
        served.url
    );
}

#[test]
#[ignore = "needs the official Python SDK; run with `cargo xtask interop`"]
fn the_official_python_sdk_works_against_incountry_serve_on_sqlite() {
    let data = tempfile::tempdir().unwrap();
    let served = serve(data.path(), None);
    run_scenario(&served, "interop-sqlite");
}

#[test]
#[ignore = "needs the official Python SDK and PostgreSQL; run with `cargo xtask interop`"]
fn the_official_python_sdk_works_against_incountry_serve_on_postgres() {
    let Some(url) = incountry_test_support::postgres::url(
        "interop::the_official_python_sdk_works_against_incountry_serve_on_postgres",
    ) else {
        return;
    };
    let data = tempfile::tempdir().unwrap();
    let served = serve(data.path(), Some(&url));
    // A fresh environment per run keeps earlier runs' records out of the totals.
    let environment = format!("interop-pg-{}", std::process::id());
    run_scenario(&served, &environment);
}
