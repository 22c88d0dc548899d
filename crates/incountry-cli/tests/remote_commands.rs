//! The online commands (`records`, `attachments`, `health`, `migrate`) run as a user runs
//! them, against an embedded server, configured through the `INC_*` variables; the SDK checks
//! what they stored.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;
use std::process::{Output, Stdio};
use std::time::Duration;

use incountry_server::EmbeddedServer;
use incountry_storage::{FindFilter, IntField, Record, SecretsData, Storage};
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt as _, AsyncWriteExt as _, BufReader};
use tokio::process::Command;

/// The longest any one command may take.
const WAIT: Duration = Duration::from_secs(60);

const SECRETS_V1: &str =
    r#"{"currentVersion": 1, "secrets": [{"secret": "first password", "version": 1}]}"#;
const SECRETS_V2: &str = r#"{"currentVersion": 2, "secrets": [{"secret": "first password", "version": 1}, {"secret": "second password", "version": 2}]}"#;

/// An embedded server, a secrets file and the variables that point the command at them.
struct Fixture {
    server: EmbeddedServer,
    dir: tempfile::TempDir,
    secrets: PathBuf,
}

impl Fixture {
    async fn new(secrets_json: &str) -> Self {
        let server = EmbeddedServer::start().await.unwrap();
        let dir = tempfile::tempdir().unwrap();
        let secrets = dir.path().join("secrets.json");
        std::fs::write(&secrets, secrets_json).unwrap();
        Self {
            server,
            dir,
            secrets,
        }
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::new(env!("CARGO_BIN_EXE_incountry"));
        for (name, _) in std::env::vars() {
            if name.starts_with("INC_") {
                command.env_remove(name);
            }
        }
        command
            .args(args)
            .env("INC_ENDPOINT", self.server.url())
            .env(
                "INC_AUTH_ENDPOINT",
                format!("{}/oauth2/token", self.server.url()),
            )
            .env("INC_ENVIRONMENT_ID", self.server.environment_id())
            .env("INC_CLIENT_ID", self.server.client_id())
            .env("INC_CLIENT_SECRET", self.server.client_secret())
            .env("INC_SECRETS_FILE", &self.secrets)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        command
    }

    async fn run(&self, args: &[&str]) -> Output {
        output(self.command(args)).await
    }

    async fn run_with_stdin(&self, args: &[&str], input: &str) -> Output {
        let mut command = self.command(args);
        command.stdin(Stdio::piped());
        let mut child = command.spawn().unwrap();
        let mut stdin = child.stdin.take().unwrap();
        stdin.write_all(input.as_bytes()).await.unwrap();
        drop(stdin);
        tokio::time::timeout(WAIT, child.wait_with_output())
            .await
            .expect("the command did not finish in time")
            .unwrap()
    }

    /// Runs a command that must succeed and returns its JSON output.
    async fn json(&self, args: &[&str]) -> Value {
        let out = self.run(args).await;
        assert!(
            out.status.success(),
            "{args:?} failed: {}",
            text(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).unwrap()
    }

    /// The SDK, configured like the command, with `secrets_json`.
    async fn storage(&self, secrets_json: &str) -> Storage {
        Storage::builder()
            .env_vars(std::iter::empty::<(String, String)>())
            .endpoint(self.server.url())
            .auth_endpoints([("default", format!("{}/oauth2/token", self.server.url()))])
            .environment_id(self.server.environment_id())
            .client_credentials(self.server.client_id(), self.server.client_secret())
            .secrets(SecretsData::from_json(secrets_json).unwrap())
            .build()
            .await
            .unwrap()
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }
}

async fn output(mut command: Command) -> Output {
    tokio::time::timeout(WAIT, command.output())
        .await
        .expect("the command did not finish in time")
        .unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn keys(found: &Value) -> Vec<&str> {
    found["records"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["record_key"].as_str().unwrap())
        .collect()
}

#[tokio::test]
async fn records_commands_write_read_find_and_delete_encrypted_records() {
    let fx = Fixture::new(SECRETS_V1).await;

    let written = fx
        .json(&[
            "records",
            "write",
            "--country",
            "de",
            r#"{"record_key": "k1", "body": "Jane", "key1": "gold", "range_key1": 3}"#,
        ])
        .await;
    assert_eq!(written["record"]["record_key"], "k1");

    // A JSON array from a file, and JSON lines from stdin.
    let batch = fx.path("batch.json");
    std::fs::write(
        &batch,
        json!([
            {"record_key": "k2", "body": "John", "key1": "gold", "range_key1": 7},
            {"record_key": "k3", "body": "Anna", "key1": "silver", "range_key1": 5},
        ])
        .to_string(),
    )
    .unwrap();
    let out = fx
        .json(&[
            "records",
            "batch-write",
            "--country",
            "de",
            batch.to_str().unwrap(),
        ])
        .await;
    assert_eq!(out["records"].as_array().unwrap().len(), 2);
    let out = fx
        .run_with_stdin(
            &["records", "batch-write", "--country", "de", "-"],
            "{\"record_key\": \"k4\", \"body\": \"Olga\", \"key1\": \"gold\", \"range_key1\": 1}\n\n\
             {\"record_key\": \"k5\", \"key2\": \"x\"}\n",
        )
        .await;
    assert!(out.status.success(), "{}", text(&out.stderr));

    let read = fx.json(&["records", "read", "--country", "de", "k1"]).await;
    assert_eq!(read["record"]["body"], "Jane");
    assert_eq!(read["record"]["key1"], "gold");
    assert_eq!(read["record"]["range_key1"], 3);
    assert_eq!(read["record"]["version"], 1);

    // Filter, sort and paging.
    let found = fx
        .json(&[
            "records",
            "find",
            "--country",
            "de",
            "--filter",
            r#"{"key1": "gold", "range_key1": {"$gte": 2}}"#,
            "--sort",
            r#"[{"range_key1": "desc"}]"#,
        ])
        .await;
    assert_eq!(keys(&found), ["k2", "k1"]);
    assert_eq!(found["meta"]["total"], 2);
    assert_eq!(found["errors"], json!([]));
    let page = fx
        .json(&[
            "records",
            "find",
            "--country",
            "de",
            "--filter",
            r#"{"key1": ["gold", "silver"]}"#,
            "--sort",
            r#"[{"range_key1": "asc"}]"#,
            "--limit",
            "2",
            "--offset",
            "1",
        ])
        .await;
    assert_eq!(keys(&page), ["k1", "k3"]);
    assert_eq!(page["meta"]["total"], 4);
    let one = fx
        .json(&[
            "records",
            "find-one",
            "--country",
            "de",
            "--filter",
            r#"{"key1": "silver"}"#,
        ])
        .await;
    assert_eq!(one["record"]["body"], "Anna");

    // The SDK reads what the command wrote: it was encrypted with the same secrets.
    let storage = fx.storage(SECRETS_V1).await;
    let record = storage.read("de", "k4").await.unwrap();
    assert_eq!(record.body(), Some("Olga"));

    assert_eq!(
        fx.json(&["records", "delete", "--country", "de", "k1"])
            .await,
        json!({"success": true})
    );
    let out = fx.run(&["records", "read", "--country", "de", "k1"]).await;
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("404"), "{}", text(&out.stderr));
    assert!(out.stdout.is_empty());
}

#[tokio::test]
async fn records_commands_reject_bad_input_and_missing_configuration_with_exit_code_2() {
    let fx = Fixture::new(SECRETS_V1).await;
    let out = fx
        .run(&["records", "write", "--country", "de", "{not json"])
        .await;
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("not valid JSON"),
        "{}",
        text(&out.stderr)
    );

    let out = fx
        .run(&[
            "records",
            "write",
            "--country",
            "de",
            r#"{"body": "no key"}"#,
        ])
        .await;
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("record_key"),
        "{}",
        text(&out.stderr)
    );

    let out = fx
        .run(&[
            "records",
            "find",
            "--country",
            "de",
            "--filter",
            r#"{"key1": {"$gt": 1}}"#,
        ])
        .await;
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));

    let out = fx
        .run(&["records", "find", "--country", "de", "--limit", "101"])
        .await;
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("limit"), "{}", text(&out.stderr));

    // Without secrets the command says how to give them.
    let mut command = fx.command(&["records", "read", "--country", "de", "k1"]);
    command.env_remove("INC_SECRETS_FILE");
    let out = output(command).await;
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("--secrets"),
        "{}",
        text(&out.stderr)
    );

    // Wrong client credentials: the server refuses, exit code 1.
    let mut command = fx.command(&["records", "read", "--country", "de", "k1"]);
    command.env("INC_CLIENT_SECRET", "wrong");
    let out = output(command).await;
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
}

#[tokio::test]
async fn health_reports_a_serving_country() {
    let fx = Fixture::new(SECRETS_V1).await;
    let out = fx.json(&["health", "--country", "de"]).await;
    assert_eq!(out, json!({"country": "de", "healthy": true}));
}

#[tokio::test]
async fn attachments_commands_upload_download_describe_and_delete_a_file() {
    let fx = Fixture::new(SECRETS_V1).await;
    fx.json(&[
        "records",
        "write",
        "--country",
        "de",
        r#"{"record_key": "owner", "body": "has a file"}"#,
    ])
    .await;
    let content: Vec<u8> = (0..200_000u32).map(|i| (i * 7 % 251) as u8).collect();
    let file = fx.path("scan.bin");
    std::fs::write(&file, &content).unwrap();

    let added = fx
        .json(&[
            "attachments",
            "add",
            "--country",
            "de",
            "--record-key",
            "owner",
            file.to_str().unwrap(),
            "--mime-type",
            "application/octet-stream",
        ])
        .await;
    let meta = &added["attachment"];
    assert_eq!(meta["filename"], "scan.bin");
    assert_eq!(meta["size"], content.len());
    let file_id = meta["file_id"].as_str().unwrap().to_owned();
    let target = [
        "--country",
        "de",
        "--record-key",
        "owner",
        "--file-id",
        &file_id,
    ];

    let downloaded = fx.path("downloaded.bin");
    let mut args = vec!["attachments", "get"];
    args.extend(target);
    args.extend(["--output", downloaded.to_str().unwrap()]);
    let out = fx.json(&args).await;
    assert_eq!(out["size"], content.len());
    assert_eq!(std::fs::read(&downloaded).unwrap(), content);
    // To stdout: the raw bytes.
    let mut args = vec!["attachments", "get"];
    args.extend(target);
    let out = fx.run(&args).await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(out.stdout, content);

    let mut args = vec!["attachments", "meta"];
    args.extend(target);
    let out = fx.json(&args).await;
    assert_eq!(out["attachment"]["mime_type"], "application/octet-stream");
    args.extend(["--filename", "renamed.bin", "--mime-type", "image/png"]);
    let out = fx.json(&args).await;
    assert_eq!(out["attachment"]["filename"], "renamed.bin");
    assert_eq!(out["attachment"]["mime_type"], "image/png");

    let mut args = vec!["attachments", "delete"];
    args.extend(target);
    assert_eq!(fx.json(&args).await, json!({"success": true}));
    let mut args = vec!["attachments", "meta"];
    args.extend(target);
    let out = fx.run(&args).await;
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));

    let out = fx
        .run(&[
            "attachments",
            "add",
            "--country",
            "de",
            "--record-key",
            "owner",
            "/no/such/file",
        ])
        .await;
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
}

/// Writes `count` records under secret version 1 through the SDK.
async fn write_v1_records(fx: &Fixture, count: usize) {
    let storage = fx.storage(SECRETS_V1).await;
    let records: Vec<Record> = (0..count)
        .map(|i| Record::new(format!("m{i:03}")).with_body(format!("body {i}")))
        .collect();
    for chunk in records.chunks(100) {
        storage.batch_write("de", chunk.to_vec()).await.unwrap();
    }
}

/// Checks that every record reads back with its body under version 2.
async fn assert_all_migrated(fx: &Fixture, count: usize) {
    let storage = fx.storage(SECRETS_V2).await;
    let left = storage
        .find("de", FindFilter::new().not(IntField::Version, 2).limit(1))
        .await
        .unwrap();
    assert_eq!(left.meta.total, 0);
    for i in 0..count {
        let record = storage.read("de", format!("m{i:03}")).await.unwrap();
        assert_eq!(record.body(), Some(format!("body {i}").as_str()));
        assert_eq!(record.version(), Some(2));
    }
}

fn write_secrets(fx: &Fixture, name: &str, json: &str) -> PathBuf {
    let path = fx.path(name);
    std::fs::write(&path, json).unwrap();
    path
}

#[tokio::test]
async fn migrate_stops_where_asked_and_resumes_to_completion() {
    let fx = Fixture::new(SECRETS_V1).await;
    write_v1_records(&fx, 60).await;
    let v2 = write_secrets(&fx, "v2.json", SECRETS_V2);
    let v2 = v2.to_str().unwrap();

    let first = fx
        .json(&[
            "migrate",
            "--country",
            "de",
            "--secrets",
            v2,
            "--batch-size",
            "10",
            "--max-batches",
            "2",
        ])
        .await;
    assert_eq!(
        first,
        json!({"migrated": 20, "left": 40, "complete": false})
    );

    let out = fx
        .run(&[
            "migrate",
            "--country",
            "de",
            "--secrets",
            v2,
            "--batch-size",
            "25",
        ])
        .await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    let rest: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(rest, json!({"migrated": 40, "left": 0, "complete": true}));
    // Without a terminal, progress is one line per step: done, left and rate.
    let progress = text(&out.stderr);
    assert!(
        progress.contains("migrated 25 record(s), 15 left, "),
        "{progress}"
    );
    assert!(
        progress.contains("migrated 40 record(s), 0 left, "),
        "{progress}"
    );
    assert_all_migrated(&fx, 60).await;

    // Nothing left: a further run does nothing and succeeds.
    let again = fx
        .json(&["migrate", "--country", "de", "--secrets", v2])
        .await;
    assert_eq!(again, json!({"migrated": 0, "left": 0, "complete": true}));
}

#[tokio::test]
async fn migrate_killed_mid_run_resumes_without_losing_a_record() {
    let fx = Fixture::new(SECRETS_V1).await;
    write_v1_records(&fx, 120).await;
    let v2 = write_secrets(&fx, "v2.json", SECRETS_V2);

    let mut child = fx
        .command(&[
            "migrate",
            "--country",
            "de",
            "--secrets",
            v2.to_str().unwrap(),
            "--batch-size",
            "1",
        ])
        .spawn()
        .unwrap();
    let mut progress = BufReader::new(child.stderr.take().unwrap()).lines();
    let first = tokio::time::timeout(WAIT, progress.next_line())
        .await
        .expect("no progress in time")
        .unwrap()
        .expect("migrate ended without progress");
    assert!(first.starts_with("migrated 1 record(s), "), "{first}");
    // SIGKILL: no chance to finish the step in flight.
    child.start_kill().unwrap();
    let status = tokio::time::timeout(WAIT, child.wait())
        .await
        .unwrap()
        .unwrap();
    assert!(!status.success());

    // Whatever the killed run had written stays written; the rest is left.
    let left = fx
        .storage(SECRETS_V2)
        .await
        .find("de", FindFilter::new().not(IntField::Version, 2).limit(1))
        .await
        .unwrap()
        .meta
        .total;
    assert!(left < 120, "the killed run had migrated a record");

    let out = fx
        .run(&[
            "migrate",
            "--country",
            "de",
            "--secrets",
            v2.to_str().unwrap(),
        ])
        .await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    let rest: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(rest, json!({"migrated": left, "left": 0, "complete": true}));
    assert_all_migrated(&fx, 120).await;
}

#[tokio::test]
async fn migrate_reports_records_the_secrets_cannot_decrypt() {
    let fx = Fixture::new(SECRETS_V1).await;
    write_v1_records(&fx, 3).await;
    // Version 2 only: the version 1 records cannot be decrypted.
    let only_v2 = write_secrets(
        &fx,
        "only-v2.json",
        r#"{"currentVersion": 2, "secrets": [{"secret": "second password", "version": 2}]}"#,
    );
    let out = fx
        .run(&[
            "migrate",
            "--country",
            "de",
            "--secrets",
            only_v2.to_str().unwrap(),
        ])
        .await;
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let summary: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        summary,
        json!({"migrated": 0, "left": 3, "complete": false})
    );
    assert!(
        text(&out.stderr).contains("3 record(s) are left that the given secrets cannot decrypt"),
        "{}",
        text(&out.stderr)
    );
}

#[tokio::test]
async fn records_with_unknown_or_repeated_members_exit_2_naming_them() {
    let fx = Fixture::new(SECRETS_V1).await;
    let out = fx
        .run(&[
            "records",
            "write",
            "--country",
            "de",
            r#"{"record_key":"k","bodyy":"x","key_1":"y"}"#,
        ])
        .await;
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("bodyy"), "{}", text(&out.stderr));

    let out = fx
        .run(&[
            "records",
            "write",
            "--country",
            "de",
            r#"{"record_key":"k","body":"x","body":"y"}"#,
        ])
        .await;
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("duplicate member \"body\""),
        "{}",
        text(&out.stderr)
    );

    let lines = fx.path("batch.jsonl");
    std::fs::write(
        &lines,
        "{\"record_key\":\"a\",\"body\":\"1\"}\n{\"record_key\":\"b\",\"key_1\":\"y\"}\n",
    )
    .unwrap();
    let out = fx
        .run(&[
            "records",
            "batch-write",
            "--country",
            "de",
            lines.to_str().unwrap(),
        ])
        .await;
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("line 2") && stderr.contains("key_1"),
        "{stderr}"
    );

    let array = fx.path("batch.json");
    std::fs::write(
        &array,
        r#"[{"record_key":"a","body":"1","profile_kee":"p"}]"#,
    )
    .unwrap();
    let out = fx
        .run(&[
            "records",
            "batch-write",
            "--country",
            "de",
            array.to_str().unwrap(),
        ])
        .await;
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("profile_kee"),
        "{}",
        text(&out.stderr)
    );

    let out = fx
        .run(&[
            "records",
            "find",
            "--country",
            "de",
            "--filter",
            r#"{"key1": "a", "key1": "b"}"#,
        ])
        .await;
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("duplicate member"),
        "{}",
        text(&out.stderr)
    );

    // Nothing was stored; a record as `records read` prints it can be written back.
    let storage = fx.storage(SECRETS_V1).await;
    let found = storage.find("de", FindFilter::new()).await.unwrap();
    assert!(found.records.is_empty());
    let written = fx
        .json(&[
            "records",
            "write",
            "--country",
            "de",
            r#"{"record_key":"k","body":"x","key1":"y"}"#,
        ])
        .await;
    let printed = written["record"].to_string();
    assert!(printed.contains("created_at"), "{printed}");
    fx.json(&["records", "write", "--country", "de", &printed])
        .await;
}
