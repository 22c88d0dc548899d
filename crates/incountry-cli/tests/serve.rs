//! `incountry serve` as an operator runs it: flags, the printed address, the development
//! client, and a graceful stop on SIGTERM.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader, Read};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// How long a started or signalled server may take.
const WAIT: Duration = Duration::from_secs(20);

fn spawn_serve(args: &[&str], data_dir: &std::path::Path) -> Child {
    Command::new(env!("CARGO_BIN_EXE_incountry"))
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(data_dir)
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

/// Waits for the child to exit, killing it after `WAIT`.
fn wait_bounded(child: &mut Child) -> std::process::ExitStatus {
    let started = Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        if started.elapsed() > WAIT {
            let _ = child.kill();
            panic!("incountry serve did not stop within {WAIT:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn serve_prints_a_development_client_and_its_address_then_stops_on_sigterm() {
    let data = tempfile::tempdir().unwrap();
    let mut child = spawn_serve(&["--country", "de", "--country", "FR"], data.path());
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let client = lines.next().unwrap().unwrap();
    assert!(
        client.starts_with("development client: id dev-"),
        "{client}"
    );
    let listening = lines.next().unwrap().unwrap();
    let address = listening
        .strip_prefix("listening on http://127.0.0.1:")
        .unwrap();
    assert!(address.parse::<u16>().unwrap() > 0, "{listening}");

    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let status = wait_bounded(&mut child);
    assert!(status.success(), "{status}");
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    assert!(stderr.contains("shutting down"), "{stderr}");
}

#[test]
fn registered_clients_replace_the_development_client() {
    let data = tempfile::tempdir().unwrap();
    let mut child = spawn_serve(&["--client", "ops:s3cret-value"], data.path());
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let first = lines.next().unwrap().unwrap();
    assert!(first.starts_with("listening on http://"), "{first}");
    child.kill().unwrap();
    child.wait().unwrap();
}

#[test]
fn clients_can_come_from_a_file() {
    let data = tempfile::tempdir().unwrap();
    let file = data.path().join("clients");
    std::fs::write(
        &file,
        "# operators\nops:first-secret\n\nbatch:second-secret\n",
    )
    .unwrap();
    let mut child = spawn_serve(&["--clients-file", file.to_str().unwrap()], data.path());
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let first = lines.next().unwrap().unwrap();
    assert!(
        first.starts_with("listening on http://"),
        "no development client: {first}"
    );
    child.kill().unwrap();
    child.wait().unwrap();

    std::fs::write(&file, "ops:ok\nno-colon-here-Secret\n").unwrap();
    let mut child = spawn_serve(&["--clients-file", file.to_str().unwrap()], data.path());
    let status = wait_bounded(&mut child);
    assert_eq!(status.code(), Some(2));
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    assert!(stderr.contains("line 2"), "{stderr}");
    assert!(!stderr.contains("no-colon-here-Secret"), "{stderr}");
}

#[test]
fn bad_flags_are_usage_errors() {
    let data = tempfile::tempdir().unwrap();
    for args in [
        &["--country", "usa"][..],
        &["--client", "no-secret"][..],
        &["--client", ":secret"][..],
        &["--token-key", "/nonexistent/key"][..],
    ] {
        let mut child = spawn_serve(args, data.path());
        let status = wait_bounded(&mut child);
        assert_eq!(status.code(), Some(2), "{args:?}");
    }
    let short_key = data.path().join("short.key");
    std::fs::write(&short_key, b"too short").unwrap();
    let mut child = spawn_serve(&["--token-key", short_key.to_str().unwrap()], data.path());
    let status = wait_bounded(&mut child);
    assert_eq!(status.code(), Some(2));
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    assert!(stderr.contains("at least 32"), "{stderr}");
}

#[test]
fn an_address_in_use_is_a_failure_not_a_hang() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port().to_string();
    let data = tempfile::tempdir().unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_incountry"))
        .args(["serve", "--client", "a:b", "--listen"])
        .arg(format!("127.0.0.1:{port}"))
        .arg("--data-dir")
        .arg(data.path())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let status = wait_bounded(&mut child);
    assert_eq!(status.code(), Some(1));
}
