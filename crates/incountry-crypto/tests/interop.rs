//! Interop with the official InCountry Python SDK 4.1.0: the SDK must read what this crate writes.
//!
//! The test builds ciphertexts, encrypted records and blind-index hashes with this crate, hands
//! them to `xtask/interop/check_crypto.py` (which runs the official SDK) and asserts that the
//! SDK decrypts every ciphertext and record to our original values and computes the same
//! hashes. Ciphertexts are written both with salt reuse (several records sharing one salt, each
//! with its own IV) and without, and the SDK must read both. It needs a Python with the SDK installed (`pip install incountry==4.1.0`), named by
//! `INCOUNTRY_INTEROP_PYTHON` (default `python3`); run it with `cargo xtask interop`, or
//! `cargo test -p incountry-crypto --test interop -- --ignored`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::{BTreeSet, HashMap};
use std::fs::{self, File};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use incountry_crypto::{
    BlindIndex, Crypto, ENVELOPE_KEYS, IV_LENGTH, SALT_LENGTH, SaltReuse, SecretsData,
    encrypt_record, hash_key,
};
use serde_json::{Map, Value, json};

/// The environment variable naming the Python interpreter that has the official SDK.
const PYTHON_VAR: &str = "INCOUNTRY_INTEROP_PYTHON";
/// The checker script, relative to the workspace root.
const SCRIPT: &str = "xtask/interop/check_crypto.py";
/// How long the checker may run before it is killed.
const TIMEOUT: Duration = Duration::from_secs(120);
/// The case lists of the cases document and the report, in order.
const LISTS: [&str; 3] = ["ciphers", "records", "hashes"];

/// A single password secret: version 0.
const PASSWORD: &str = "correct horse battery staple — Ünïcödé 🔑";
/// A raw AES-256 key (bytes 0..32) for the multi-version secrets.
const RAW_KEY: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";
/// Another raw key, for the raw-key-only secrets.
const OTHER_RAW_KEY: &str = "PTtqR8IJnrH7MyXJs6+AQeWxr0qW9yRIk00vda+I5eI=";

#[test]
#[ignore = "needs the official Python SDK; run with `cargo xtask interop`"]
fn the_official_python_sdk_reads_what_we_write() {
    let cases = json!({
        "ciphers": cipher_cases(),
        "records": record_cases(),
        "hashes": hash_cases(),
    });
    let mut scratch = Scratch::new();
    let report = run_checker(&scratch.dir, &cases);
    let sdk = report["sdk_version"].as_str().unwrap_or("?");

    let mut failures = Vec::new();
    for list in LISTS {
        failures.extend(check_list(list, &cases[list], &report));
    }
    // Keep the cases and the report for a look at what went wrong.
    scratch.keep = !failures.is_empty();
    assert!(
        failures.is_empty(),
        "the official Python SDK {} disagrees with incountry-crypto in {} case(s) \
         (cases and report kept in {}):\n{}",
        sdk,
        failures.len(),
        scratch.dir.display(),
        failures.join("\n"),
    );
    eprintln!(
        "interop: Python SDK {sdk} agrees on {} ciphertexts, {} records and {} hashes",
        report["checked"]["ciphers"], report["checked"]["records"], report["checked"]["hashes"],
    );
}

// ---------------------------------------------------------------------------------------------
// Secrets

/// What the SDK's secret key accessor returns for the password secret (version 0).
fn password_secrets() -> Value {
    json!(PASSWORD)
}

/// Passwords at versions 1 and 2 and a raw key at version 3; version 2 is current.
fn multi_version_secrets() -> Value {
    json!({
        "currentVersion": 2,
        "secrets": [
            {"secret": "first password", "version": 1},
            {"secret": "zweites Passwort – Ω 😀", "version": 2},
            {"secret": RAW_KEY, "version": 3, "isKey": true},
        ],
    })
}

/// A single raw key at version 7.
fn raw_key_secrets() -> Value {
    json!({
        "currentVersion": 7,
        "secrets": [{"secret": OTHER_RAW_KEY, "version": 7, "isKey": true}],
    })
}

/// A `Crypto` over `secrets` (`null`: no-encryption mode) that encrypts with `version`
/// (default: the secrets' own current version).
///
/// The Python side always gets `secrets` unchanged, so it must find the secret by the version
/// stored with the data, not by its current version.
fn crypto_for(secrets: &Value, version: Option<u32>) -> Crypto {
    crypto_with_reuse(secrets, version, SaltReuse::default())
}

/// Like [`crypto_for`], with the given salt reuse.
fn crypto_with_reuse(secrets: &Value, version: Option<u32>, reuse: SaltReuse) -> Crypto {
    let mut secrets = secrets.clone();
    if let (Some(object), Some(version)) = (secrets.as_object_mut(), version) {
        object.insert("currentVersion".into(), version.into());
    }
    match secrets {
        Value::Null => Crypto::plaintext(),
        other => Crypto::builder(SecretsData::from_json_value(&other).unwrap())
            .salt_reuse(reuse)
            .build()
            .unwrap(),
    }
}

/// Salt reuse with windows of three records, so the seven plaintexts span three windows.
fn small_windows() -> SaltReuse {
    SaltReuse::new(3, Duration::from_secs(3600))
}

/// The ways data is encrypted: a name, the accessor's secrets, the version to encrypt with and
/// the salt reuse.
fn keyrings() -> Vec<(&'static str, Value, Option<u32>, SaltReuse)> {
    let default = SaltReuse::default();
    vec![
        ("password", password_secrets(), None, default),
        (
            "password-fresh-salts",
            password_secrets(),
            None,
            SaltReuse::off(),
        ),
        (
            "password-windows-of-3",
            password_secrets(),
            None,
            small_windows(),
        ),
        ("multi-v1", multi_version_secrets(), Some(1), default),
        ("multi-v2", multi_version_secrets(), Some(2), default),
        (
            "multi-v2-windows-of-3",
            multi_version_secrets(),
            Some(2),
            small_windows(),
        ),
        ("multi-v3-key", multi_version_secrets(), Some(3), default),
        ("raw-key", raw_key_secrets(), None, default),
        ("pt", Value::Null, None, default),
    ]
}

/// The salt and IV of a format-`2` ciphertext.
fn salt_and_iv(ciphertext: &str) -> (Vec<u8>, Vec<u8>) {
    let payload = base64::engine::general_purpose::STANDARD
        .decode(ciphertext.strip_prefix("2:").unwrap())
        .unwrap();
    (
        payload[..SALT_LENGTH].to_vec(),
        payload[SALT_LENGTH..SALT_LENGTH + IV_LENGTH].to_vec(),
    )
}

// ---------------------------------------------------------------------------------------------
// Cases

/// Plaintexts with a name each: edge cases of length, encoding and content.
fn plaintexts() -> Vec<(&'static str, String)> {
    let large = "Lorem ipsum, Grüße 😀 – ".repeat(400);
    assert!(large.len() >= 10 * 1024);
    vec![
        ("empty", String::new()),
        ("ascii", "Hello, InCountry!".into()),
        (
            "non-ascii",
            "Grüße aus Köln; 日本語; Ελληνικά; עברית".into(),
        ),
        ("emoji", "emoji 😀 👩‍👩‍👧 🇺🇦 🔑".into()),
        (
            "json",
            r#"{"name": "Jane \"J\" Doe", "tags": ["a", "b"], "n": 1.5, "nested": {"x": null}}"#
                .into(),
        ),
        (
            "control",
            "NUL\u{0}SOH\u{1}\t\n\r\u{8}\u{c}\u{1f}DEL\u{7f}NEL\u{85}LS\u{2028}\\end".into(),
        ),
        ("10kib", large),
    ]
}

/// Every plaintext encrypted under every keyring.
///
/// Checks on the way that the password keyrings did what their names say: with salt reuse the
/// ciphertexts share salts (a new one every three records for the small windows), without it
/// every salt is new; IVs are always distinct.
fn cipher_cases() -> Vec<Value> {
    let mut cases = Vec::new();
    for (keyring, secrets, version, reuse) in keyrings() {
        let crypto = crypto_with_reuse(&secrets, version, reuse);
        let mut salts = Vec::new();
        let mut ivs = BTreeSet::new();
        for (name, plaintext) in plaintexts() {
            let sealed = crypto.encrypt(&plaintext).unwrap();
            if keyring.starts_with("password") || keyring.contains("windows") {
                let (salt, iv) = salt_and_iv(&sealed.ciphertext);
                salts.push(salt);
                assert!(ivs.insert(iv), "{keyring}: an IV repeated");
            }
            cases.push(json!({
                "id": format!("cipher/{keyring}/{name}"),
                "secrets": secrets,
                "version": sealed.key_version,
                "ciphertext": sealed.ciphertext,
                "plaintext": plaintext,
            }));
        }
        let distinct_salts = salts.iter().collect::<BTreeSet<_>>().len();
        match keyring {
            "password" => assert_eq!(distinct_salts, 1, "{keyring}"),
            "password-fresh-salts" => assert_eq!(distinct_salts, salts.len(), "{keyring}"),
            k if k.contains("windows-of-3") => {
                assert_eq!(distinct_salts, salts.len().div_ceil(3), "{keyring}");
            }
            _ => {}
        }
    }
    cases
}

/// A record with every string key, a body, a `precommit_body` and all range keys.
fn full_record() -> Map<String, Value> {
    let mut record = Map::new();
    let mut set = |field: &str, value: Value| {
        record.insert(field.into(), value);
    };
    set("record_key", json!("Record-Key İSTANBUL 1"));
    set("profile_key", json!("Profile ΟΔΥΣΣΕΥΣ"));
    for n in 1..=5 {
        set(
            &format!("service_key{n}"),
            json!(format!("Service Key {n}: Straße ÜBER")),
        );
    }
    set("parent_key", json!("Parent KEY 😀"));
    for n in 1..=20 {
        set(
            &format!("key{n}"),
            json!(format!("Search Key {n} MiXeD ÄÖÜ")),
        );
    }
    // Edge values: an empty key and one with control characters.
    set("key19", json!(""));
    set("key20", json!("Key 20 NUL\u{0} tab\t \"quoted\" \\"));
    set(
        "body",
        json!(r#"{"name": "Jane Doe", "city": "Zürich", "note": "😀\u0000"}"#),
    );
    set("precommit_body", json!("precommit Ünïcödé 😀 \u{0}"));
    let ranges: [i64; 10] = [
        9_000_000_000_000_000_000,
        -9_000_000_000_000_000_000,
        i64::MAX,
        i64::MIN,
        0,
        -1,
        1,
        42,
        -42,
        1_234_567_890_123,
    ];
    for (n, value) in (1..).zip(ranges) {
        set(&format!("range_key{n}"), json!(value));
    }
    record
}

/// Whole records under password, multi-version and no-encryption mode, with every combination
/// of `normalize_keys` and `hash_search_keys`, plus a record with only a `record_key`.
fn record_cases() -> Vec<Value> {
    let env_id = "interop-env-Ü-42";
    let modes = [
        ("password", password_secrets(), vec![None]),
        (
            "multi",
            multi_version_secrets(),
            vec![Some(1), Some(2), Some(3)],
        ),
        ("pt", Value::Null, vec![None]),
    ];
    let full = full_record();
    let minimal: Map<String, Value> = [("record_key".to_owned(), json!("only-a-record-key"))]
        .into_iter()
        .collect();
    let flags = [(false, true), (true, true), (false, false), (true, false)];

    let mut cases = Vec::new();
    for (mode, secrets, versions) in modes {
        let mut versions = versions.into_iter().cycle();
        for (normalize, hash_search) in flags {
            let index = BlindIndex::new(env_id)
                .normalize_keys(normalize)
                .hash_search_keys(hash_search);
            let variant = format!("normalize={normalize}/hash_search_keys={hash_search}");
            let crypto = crypto_for(&secrets, versions.next().unwrap());
            cases.push(record_case(
                mode, &variant, &secrets, &crypto, &index, &full,
            ));
        }
        let crypto = crypto_for(&secrets, versions.next().unwrap());
        let index = BlindIndex::new(env_id);
        cases.push(record_case(
            mode,
            "record-key-only",
            &secrets,
            &crypto,
            &index,
            &minimal,
        ));
    }
    cases
}

/// `record` encrypted for the wire by `crypto` (over `secrets`), with what decrypting it must
/// give back.
fn record_case(
    mode: &str,
    variant: &str,
    secrets: &Value,
    crypto: &Crypto,
    index: &BlindIndex,
    record: &Map<String, Value>,
) -> Value {
    let wire = encrypt_record(crypto, index, record).unwrap();
    let id = format!("record/{mode}/v{}/{variant}", crypto.current_version());
    let mut expected = record.clone();
    expected.insert("version".into(), crypto.current_version().into());
    expected.insert("is_encrypted".into(), crypto.secrets().is_some().into());
    json!({
        "id": id,
        "secrets": secrets,
        "env_id": index.environment_id(),
        "normalize_keys": index.normalizes_keys(),
        "hash_search_keys": index.hashes_search_keys(),
        "record": record,
        "wire": wire,
        "expected": expected,
    })
}

/// Blind-index hashes of awkward values under several environment ids, normalised or not.
fn hash_cases() -> Vec<Value> {
    let values = [
        "InCountryKey",
        "MiXeD CaSe 123",
        "İstanbul",
        "ΟΔΥΣΣΕΥΣ",
        "Straße ÜBER",
        "ẞ capital sharp s",
        "ǅ titlecase, K kelvin, Å angstrom",
        "emoji 😀 🇺🇦",
        "NUL\u{0} and\ttab",
        "",
    ];
    let env_ids = [
        "InCountry",
        "5c2d8a4e-6c0f-4b4e-9d1e-3f1a2b3c4d5e",
        "env Ärger",
        "",
    ];
    let mut cases = Vec::new();
    for (v, value) in values.iter().enumerate() {
        for (e, env_id) in env_ids.iter().enumerate() {
            for normalize in [false, true] {
                cases.push(json!({
                    "id": format!("hash/value{v}/env{e}/normalize={normalize}"),
                    "value": value,
                    "env_id": env_id,
                    "normalize": normalize,
                    "hash": hash_key(value, env_id, normalize),
                }));
            }
        }
    }
    cases
}

// ---------------------------------------------------------------------------------------------
// Running the checker

/// A fresh directory for the cases and the checker's output, removed on drop unless `keep`.
struct Scratch {
    dir: PathBuf,
    keep: bool,
}

impl Scratch {
    fn new() -> Self {
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_nanos();
        let name = format!("incountry-interop-{}-{nanos}", std::process::id());
        let dir = std::env::temp_dir().join(name);
        fs::create_dir(&dir).unwrap();
        Self { dir, keep: false }
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        if !self.keep {
            // Best effort: a leftover directory in the temp dir is harmless.
            let _ = fs::remove_dir_all(&self.dir);
        }
    }
}

/// Writes `cases` into `scratch`, runs the checker on them and returns its JSON report.
fn run_checker(scratch: &Path, cases: &Value) -> Value {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let cases_path = scratch.join("cases.json");
    let stdout_path = scratch.join("report.json");
    let stderr_path = scratch.join("stderr.txt");
    fs::write(&cases_path, serde_json::to_vec(cases).unwrap()).unwrap();

    let python = std::env::var_os(PYTHON_VAR).unwrap_or_else(|| "python3".into());
    let mut child = Command::new(&python)
        .arg(root.join(SCRIPT))
        .arg(&cases_path)
        .current_dir(&root)
        .stdin(Stdio::null())
        .stdout(File::create(&stdout_path).unwrap())
        .stderr(File::create(&stderr_path).unwrap())
        .spawn()
        .unwrap_or_else(|e| {
            panic!(
                "cannot start {python:?}: {e}; set {PYTHON_VAR} to a Python with the official SDK \
                 (pip install incountry==4.1.0)"
            )
        });
    let status = wait_at_most(&mut child, TIMEOUT);

    let stdout = fs::read_to_string(&stdout_path).unwrap();
    let stderr = fs::read_to_string(&stderr_path).unwrap();
    assert!(
        status.success(),
        "{SCRIPT} failed ({status}) with {python:?}; stderr:\n{stderr}"
    );
    serde_json::from_str(&stdout).unwrap_or_else(|e| {
        panic!(
            "{SCRIPT} printed no JSON report ({e}); stdout: {}\nstderr:\n{stderr}",
            short(&stdout)
        )
    })
}

/// Waits for `child`, killing it when it runs longer than `timeout`.
fn wait_at_most(child: &mut std::process::Child, timeout: Duration) -> ExitStatus {
    let start = Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        if start.elapsed() > timeout {
            child.kill().unwrap();
            child.wait().unwrap();
            panic!("{SCRIPT} did not finish within {timeout:?} and was killed");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

// ---------------------------------------------------------------------------------------------
// Checking the report

/// The failures of the `list` cases in `report`; also checks that every case was checked once.
fn check_list(list: &str, cases: &Value, report: &Value) -> Vec<String> {
    let cases = cases.as_array().unwrap();
    let entries = report[list]
        .as_array()
        .unwrap_or_else(|| panic!("the report has no {list:?} list"));
    assert!(!cases.is_empty(), "no {list} cases were built");
    assert_eq!(
        report["checked"][list],
        json!(cases.len()),
        "the checker did not check every {list} case"
    );
    assert_eq!(
        entries.len(),
        cases.len(),
        "{list}: one report entry per case"
    );

    let ids: BTreeSet<&str> = cases.iter().map(|c| c["id"].as_str().unwrap()).collect();
    assert_eq!(ids.len(), cases.len(), "{list}: case ids must be unique");
    let by_id: HashMap<&str, &Value> = entries
        .iter()
        .map(|e| (e["id"].as_str().unwrap_or_default(), e))
        .collect();

    let mut failures = Vec::new();
    for case in cases {
        let id = case["id"].as_str().unwrap();
        let Some(entry) = by_id.get(id) else {
            failures.push(format!("{id}: missing from the report"));
            continue;
        };
        if let Some(error) = entry["error"].as_str() {
            failures.push(format!("{id}: the SDK raised {error}"));
            continue;
        }
        let mut problems = match list {
            "ciphers" => check_cipher(case, &entry["got"]),
            "records" => check_record(case, &entry["got"]),
            _ => check_hash(case, &entry["got"]),
        };
        if problems.is_empty() && entry["ok"] != Value::Bool(true) {
            problems.push(format!("the checker reports {}", entry["mismatch"]));
        }
        failures.extend(problems.into_iter().map(|p| format!("{id}: {p}")));
    }
    failures
}

fn check_cipher(case: &Value, got: &Value) -> Vec<String> {
    differs("decrypted plaintext", &case["plaintext"], got)
        .into_iter()
        .collect()
}

fn check_hash(case: &Value, got: &Value) -> Vec<String> {
    differs("hash", &case["hash"], got).into_iter().collect()
}

fn check_record(case: &Value, got: &Value) -> Vec<String> {
    let mut problems = Vec::new();

    // decrypt_record gives back every original value, the version and the encryption flag.
    let expected = case["expected"].as_object().unwrap();
    let decrypted = got["decrypted"].as_object();
    let Some(decrypted) = decrypted else {
        return vec![format!(
            "decrypt_record returned {}",
            short_value(&got["decrypted"])
        )];
    };
    let fields: BTreeSet<&String> = expected.keys().chain(decrypted.keys()).collect();
    for field in fields {
        let ours = expected.get(field).unwrap_or(&Value::Null);
        let theirs = decrypted.get(field).unwrap_or(&Value::Null);
        problems.extend(differs(&format!("decrypt_record {field}"), ours, theirs));
    }

    // The decrypted body is byte for byte the envelope the SDK itself would have encrypted.
    problems.extend(differs(
        "body envelope (ours vs the SDK's json.dumps)",
        &got["body_plaintext"],
        &got["sdk_envelope"],
    ));

    // Every string key went on the wire as the SDK would have sent it.
    let record = case["record"].as_object().unwrap();
    let wire = &case["wire"];
    let indexed = got["indexed"].as_object().unwrap();
    for field in ENVELOPE_KEYS.iter().filter(|f| record.contains_key(**f)) {
        let theirs = indexed.get(*field).unwrap_or(&Value::Null);
        problems.extend(differs(
            &format!("wire value of {field} (ours vs the SDK's)"),
            &wire[*field],
            theirs,
        ));
    }
    problems
}

/// A description of how `theirs` (the Python SDK's) differs from `ours`, if it does.
fn differs(what: &str, ours: &Value, theirs: &Value) -> Option<String> {
    (ours != theirs).then(|| {
        format!(
            "{what} differs: ours {}, Python {}",
            short_value(ours),
            short_value(theirs)
        )
    })
}

fn short_value(value: &Value) -> String {
    short(&value.to_string())
}

/// `text`, cut to a readable length.
fn short(text: &str) -> String {
    const MAX: usize = 300;
    match text.char_indices().nth(MAX) {
        Some((cut, _)) => format!("{}… ({} bytes)", &text[..cut], text.len()),
        None => text.to_owned(),
    }
}
