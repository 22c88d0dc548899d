//! `incountry serve` as an operator runs it: flags, the printed address, the development
//! client, and a graceful stop on SIGTERM.

#![cfg(feature = "server")]
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
    // Bound to one generated environment, which it names.
    assert!(client.contains(" environment dev-env-"), "{client}");
    let listening = lines.next().unwrap().unwrap();
    let address = listening
        .strip_prefix("listening on http://127.0.0.1:")
        .unwrap();
    assert!(address.parse::<u16>().unwrap() > 0, "{listening}");

    let stderr = stop(child);
    assert!(stderr.contains("shutting down"), "{stderr}");
}

#[test]
fn registered_clients_replace_the_development_client() {
    let data = tempfile::tempdir().unwrap();
    let mut child = spawn_serve(&["--client", "ops:s3cret-value-0123456@prod"], data.path());
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
        "# operators\nops:first-secret-0123456@prod,staging\n\nbatch:second-secret-012345@prod\n",
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
        &["--client", "a:0123456789abcdef@"][..],
        &["--client", "a:0123456789abcdef@e,"][..],
        &["--token-lifetime", "0"][..],
        &["--max-connections", "0"][..],
        &["--header-read-timeout", "0"][..],
        &["--public-url", "pop.example"][..],
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
        .args(["serve", "--client", "a:0123456789abcdef@e", "--listen"])
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

/// Runs `incountry serve` with `args` until it exits (it must: each is refused), returning
/// its exit code and what it wrote to stderr.
fn refused(args: &[&str], data_dir: &std::path::Path) -> (Option<i32>, String) {
    let mut child = spawn_serve(args, data_dir);
    let status = wait_bounded(&mut child);
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    (status.code(), stderr)
}

/// Starts `incountry serve` with `args` and returns it with its address once it listens.
fn listening(args: &[&str], data_dir: &std::path::Path) -> (Child, String) {
    let mut child = spawn_serve(args, data_dir);
    let lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let address = lines
        .map(|line| line.unwrap())
        .find_map(|line| line.strip_prefix("listening on http://").map(str::to_owned));
    match address {
        Some(address) => (child, address),
        None => {
            let _ = child.kill();
            let _ = child.wait();
            panic!("incountry serve ended without listening");
        }
    }
}

fn stop(mut child: Child) -> String {
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
    stderr
}

#[test]
fn weak_secrets_and_clients_without_environments_need_the_operator_to_say_so() {
    let data = tempfile::tempdir().unwrap();
    let (code, stderr) = refused(&["--client", "a:short-secret@env"], data.path());
    assert_eq!(code, Some(2));
    assert!(stderr.contains("shorter than 16"), "{stderr}");
    assert!(
        !stderr.contains("short-secret"),
        "the secret is echoed: {stderr}"
    );
    let (child, _) = listening(
        &["--client", "a:short-secret@env", "--allow-weak-secrets"],
        data.path(),
    );
    stop(child);

    let (code, stderr) = refused(&["--client", "a:0123456789abcdef"], data.path());
    assert_eq!(code, Some(2));
    assert!(stderr.contains("not bound to any environment"), "{stderr}");
    let (child, _) = listening(
        &["--client", "a:0123456789abcdef", "--client-any-environment"],
        data.path(),
    );
    stop(child);
}

#[test]
fn token_keys_of_one_repeated_byte_are_refused_and_keys_others_can_read_are_warned_about() {
    use std::os::unix::fs::PermissionsExt as _;
    let data = tempfile::tempdir().unwrap();
    let key = data.path().join("token.key");
    std::fs::write(&key, [b'a'; 48]).unwrap();
    let (code, stderr) = refused(&["--token-key", key.to_str().unwrap()], data.path());
    assert_eq!(code, Some(2));
    assert!(stderr.contains("one byte repeated"), "{stderr}");

    std::fs::write(&key, (0u8..48).collect::<Vec<u8>>()).unwrap();
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).unwrap();
    let (child, _) = listening(&["--token-key", key.to_str().unwrap()], data.path());
    let stderr = stop(child);
    assert!(stderr.contains("can be read by other users"), "{stderr}");

    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).unwrap();
    let (child, _) = listening(&["--token-key", key.to_str().unwrap()], data.path());
    let stderr = stop(child);
    assert!(!stderr.contains("can be read by other users"), "{stderr}");
}

#[test]
fn a_second_server_on_the_same_data_directory_is_refused_with_the_holders_pid() {
    let data = tempfile::tempdir().unwrap();
    let (first, _) = listening(&[], data.path());
    let (code, stderr) = refused(&[], data.path());
    assert_eq!(code, Some(1));
    assert!(
        stderr.contains(&format!(
            "in use by another incountry server (PID {})",
            first.id()
        )),
        "{stderr}"
    );
    stop(first);
    let (again, _) = listening(&[], data.path());
    stop(again);
}

#[test]
fn files_are_private_whatever_the_umask() {
    use std::os::unix::fs::PermissionsExt as _;
    let data = tempfile::tempdir().unwrap();
    let dir = data.path().join("data");
    let mut child = Command::new("sh")
        .arg("-c")
        .arg(r#"umask 000; exec "$0" serve --listen 127.0.0.1:0 --country de --data-dir "$1""#)
        .arg(env!("CARGO_BIN_EXE_incountry"))
        .arg(&dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut address = None;
    for line in lines {
        let line = line.unwrap();
        if let Some(a) = line.strip_prefix("listening on http://") {
            address = Some(a.to_owned());
            break;
        }
    }
    let address = address.expect("the server did not start");
    // An anonymous request leaves an audit entry.
    let mut stream = std::net::TcpStream::connect(&address).unwrap();
    stream.set_read_timeout(Some(WAIT)).unwrap();
    std::io::Write::write_all(
        &mut stream,
        b"GET /v2/storage/records/de/k HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n",
    )
    .unwrap();
    let mut answer = String::new();
    let _ = stream.read_to_string(&mut answer);
    assert!(answer.starts_with("HTTP/1.1 401"), "{answer}");
    stop(child);
    let mut checked = 0;
    let mut pending = vec![dir];
    while let Some(path) = pending.pop() {
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode & 0o077, 0, "{} has mode {mode:o}", path.display());
        checked += 1;
        if path.is_dir() {
            pending.extend(std::fs::read_dir(&path).unwrap().map(|e| e.unwrap().path()));
        }
    }
    assert!(checked >= 5, "only {checked} files and directories");
}
