//! `incountry crypto ...` run as a user runs it: the real binary, stdin in, stdout and stderr out.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::Write as _;
use std::process::{Command, Output, Stdio};

use incountry_test_support::{entries, load_json};
use serde_json::Value;

/// Runs `incountry` with `args`, feeding `stdin`.
fn incountry(args: &[&str], stdin: &str) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_incountry"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let written = child.stdin.take().unwrap().write_all(stdin.as_bytes());
    // A command that fails early (a usage error) exits without reading its input.
    if let Err(e) = written {
        assert_eq!(e.kind(), std::io::ErrorKind::BrokenPipe, "{e}");
    }
    child.wait_with_output().unwrap()
}

fn stdout_lines(output: &Output) -> Vec<String> {
    String::from_utf8(output.stdout.clone())
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect()
}

fn stderr(output: &Output) -> String {
    String::from_utf8(output.stderr.clone()).unwrap()
}

/// Writes `secrets` (a JSON value) to a temporary file.
fn secrets_file(secrets: &Value) -> tempfile::NamedTempFile {
    let mut file = tempfile::NamedTempFile::new().unwrap();
    write!(file, "{secrets}").unwrap();
    file
}

fn multi_version_vectors() -> (Value, Vec<Value>) {
    let doc = load_json("vectors-public.json");
    let vectors: Vec<Value> = entries(&doc, "crypto")
        .iter()
        .filter(|v| v["secrets_data"].is_object())
        .cloned()
        .collect();
    (vectors[0]["secrets_data"].clone(), vectors)
}

#[test]
fn decrypt_prints_each_plaintext_as_a_json_string_in_order() {
    let (secrets, vectors) = multi_version_vectors();
    let file = secrets_file(&secrets);
    let path = file.path().to_str().unwrap();
    for version in ["1", "2", "3"] {
        let batch: Vec<&Value> = vectors
            .iter()
            .filter(|v| {
                v["version"]
                    .as_u64()
                    .is_some_and(|n| n.to_string() == version)
            })
            .collect();
        assert!(!batch.is_empty());
        let input: String = batch
            .iter()
            .map(|v| format!("{}\n", v["ciphertext"].as_str().unwrap()))
            .collect();
        let output = incountry(
            &[
                "crypto",
                "decrypt",
                "--secrets",
                path,
                "--key-version",
                version,
            ],
            &input,
        );
        assert!(output.status.success(), "{}", stderr(&output));
        let lines = stdout_lines(&output);
        assert_eq!(lines.len(), batch.len());
        for (line, v) in lines.iter().zip(&batch) {
            let plain: Value = serde_json::from_str(line).unwrap();
            assert_eq!(plain, v["plaintext"], "{}", v["id"]);
        }
    }
}

#[test]
fn a_bad_line_is_reported_with_its_number_and_the_run_goes_on() {
    let file = secrets_file(&Value::from("password"));
    let input = "pt:aGVsbG8=\n2:not-base64\n\npt:d29ybGQ=\n";
    let output = incountry(
        &[
            "crypto",
            "decrypt",
            "--secrets",
            file.path().to_str().unwrap(),
        ],
        input,
    );
    assert_eq!(output.status.code(), Some(1));
    assert_eq!(stdout_lines(&output), ["\"hello\"", "\"world\""]);
    let err = stderr(&output);
    assert!(
        err.contains("line 2: invalid ciphertext: payload is not valid base64"),
        "{err}"
    );
    assert!(err.contains("line 3: empty line"), "{err}");
}

#[test]
fn encrypt_then_decrypt_round_trips_and_reports_the_version() {
    let secrets = serde_json::json!({
        "currentVersion": 5,
        "secrets": [
            {"secret": "old one", "version": 4},
            {"secret": "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=", "version": 5, "isKey": true}
        ]
    });
    let file = secrets_file(&secrets);
    let path = file.path().to_str().unwrap();
    let texts = ["hello", "Grüße 😀", "", "line\nbreak"];
    let input: String = texts
        .iter()
        .map(|t| format!("{}\n", Value::from(*t)))
        .collect();
    let output = incountry(&["crypto", "encrypt", "--secrets", path], &input);
    assert!(output.status.success(), "{}", stderr(&output));
    let sealed: Vec<Value> = stdout_lines(&output)
        .iter()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(sealed.len(), texts.len());
    let mut ciphertexts = String::new();
    for item in &sealed {
        assert_eq!(item["version"], 5);
        assert_eq!(item.as_object().unwrap().len(), 2, "{item}");
        ciphertexts.push_str(item["ciphertext"].as_str().unwrap());
        ciphertexts.push('\n');
    }
    let output = incountry(
        &["crypto", "decrypt", "--secrets", path, "--key-version", "5"],
        &ciphertexts,
    );
    assert!(output.status.success(), "{}", stderr(&output));
    let plains: Vec<Value> = stdout_lines(&output)
        .iter()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(plains, texts.map(Value::from));
}

#[test]
fn encrypt_rejects_lines_that_are_not_json_strings() {
    let file = secrets_file(&Value::from("password"));
    let output = incountry(
        &[
            "crypto",
            "encrypt",
            "--secrets",
            file.path().to_str().unwrap(),
        ],
        "\"ok\"\nplain words\n42\n",
    );
    assert_eq!(output.status.code(), Some(1));
    assert_eq!(stdout_lines(&output).len(), 1);
    let err = stderr(&output);
    assert!(err.contains("line 2: not valid JSON"), "{err}");
    assert!(err.contains("line 3: expected a JSON string"), "{err}");
    assert!(!err.contains("plain words"), "input is not echoed: {err}");
}

#[test]
fn hash_matches_the_official_vectors() {
    let doc = load_json("vectors-public.json");
    for v in entries(&doc, "hashes").iter().take(12) {
        let mut args = vec!["crypto", "hash", "--env-id", v["env_id"].as_str().unwrap()];
        if v["normalize_keys"] == Value::Bool(true) {
            args.push("--normalize");
        }
        args.push("--");
        args.push(v["value"].as_str().unwrap());
        let output = incountry(&args, "");
        assert!(output.status.success(), "{}", stderr(&output));
        assert_eq!(
            stdout_lines(&output),
            [v["hash"].as_str().unwrap()],
            "{}",
            v["id"]
        );
    }
}

#[test]
fn hash_reads_values_from_stdin_when_none_are_given() {
    let output = incountry(
        &["crypto", "hash", "--env-id", "InCountry"],
        "InCountryKey\nInCountryPK\n",
    );
    assert!(output.status.success());
    assert_eq!(
        stdout_lines(&output),
        [
            "976143aa1fd12b9ad7449fd9d3a6d25347d71b890b49d4fb5c738e798238865f",
            "f5b5ae4914972ace070fa51b410789324abe063dbe2bb09801410d9ab54bf833"
        ]
    );
}

#[test]
fn decrypt_record_restores_bodies_and_key_values() {
    let doc = load_json("vectors-public.json");
    let vector = entries(&doc, "records")
        .iter()
        .find(|v| v["secrets_data"].is_object())
        .unwrap();
    let file = secrets_file(&vector["secrets_data"]);
    let input = format!("{}\n{{\"not\": \"a record\"}}\n[1]\n", vector["sent"]);
    let output = incountry(
        &[
            "crypto",
            "decrypt-record",
            "--secrets",
            file.path().to_str().unwrap(),
        ],
        &input,
    );
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    let lines = stdout_lines(&output);
    assert_eq!(
        lines.len(),
        2,
        "the object without a body passes through unchanged"
    );
    let record: Value = serde_json::from_str(&lines[0]).unwrap();
    for (field, expected) in vector["returned"].as_object().unwrap() {
        assert_eq!(&record[field], expected, "{field}");
    }
    assert!(stderr(&output).contains("line 3: expected a JSON object"));
}

#[test]
fn unusable_secrets_are_a_usage_error_that_never_shows_the_secret() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing.json");
    let output = incountry(
        &["crypto", "decrypt", "--secrets", missing.to_str().unwrap()],
        "pt:\n",
    );
    assert_eq!(output.status.code(), Some(2));
    assert!(
        stderr(&output).contains("cannot read secrets file"),
        "{}",
        stderr(&output)
    );

    let mut bad = tempfile::NamedTempFile::new().unwrap();
    write!(bad, r#"{{"currentVersion": 1, "secrets": [{{"secret": "Sup3rS3cretValue", "version": 1, "isKey": true}}]}}"#).unwrap();
    let output = incountry(
        &[
            "crypto",
            "encrypt",
            "--secrets",
            bad.path().to_str().unwrap(),
        ],
        "\"x\"\n",
    );
    assert_eq!(output.status.code(), Some(2));
    let err = stderr(&output);
    assert!(err.contains("32 bytes"), "{err}");
    assert!(!err.contains("Sup3rS3cretValue"), "{err}");
}

#[test]
fn a_wrong_key_fails_each_line_without_revealing_anything() {
    let writer = secrets_file(&Value::from("the right password"));
    let reader = secrets_file(&Value::from("a wrong password"));
    let sealed = incountry(
        &[
            "crypto",
            "encrypt",
            "--secrets",
            writer.path().to_str().unwrap(),
        ],
        "\"payload\"\n",
    );
    let item: Value = serde_json::from_str(&stdout_lines(&sealed)[0]).unwrap();
    let input = format!("{}\n", item["ciphertext"].as_str().unwrap());
    let output = incountry(
        &[
            "crypto",
            "decrypt",
            "--secrets",
            reader.path().to_str().unwrap(),
        ],
        &input,
    );
    assert_eq!(output.status.code(), Some(1));
    let err = stderr(&output);
    assert_eq!(
        err.trim(),
        "line 1: decryption failed: wrong key or corrupted data"
    );
}

#[test]
fn usage_errors_exit_with_code_2() {
    let output = incountry(&["crypto", "decrypt"], "");
    assert_eq!(output.status.code(), Some(2));
    let output = incountry(&["crypto", "frobnicate"], "");
    assert_eq!(output.status.code(), Some(2));
}
