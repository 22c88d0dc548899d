//! Test support: a tiny in-memory point of presence behind the `Transport` seam.
#![allow(
    dead_code,
    unreachable_pub,
    missing_docs,
    clippy::unwrap_used,
    clippy::expect_used
)]

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use bytes::Bytes;
use http::{Request, Response, StatusCode};
use incountry_storage::{Body, SecretsData, Storage, StorageBuilder, Transport, TransportError};
use serde_json::{Value, json};

pub const ENV_ID: &str = "test-env";
pub const ENDPOINT: &str = "https://pop.test";

/// A request as the fake saw it.
#[derive(Debug, Clone)]
pub struct Seen {
    pub method: String,
    pub uri: String,
    pub path: String,
    pub headers: http::HeaderMap,
    pub body: Bytes,
}

impl Seen {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap()
    }
}

#[derive(Debug, Clone)]
struct Attachment {
    meta: Value,
    bytes: Bytes,
}

#[derive(Debug, Default)]
struct State {
    records: HashMap<String, Value>,
    attachments: BTreeMap<String, Attachment>,
    seen: Vec<Seen>,
    overrides: Vec<(usize, StatusCode, Value)>,
    next_file: usize,
    echo: bool,
    tamper: Option<(String, Value)>,
}

/// The fake PoP; clones share state.
#[derive(Debug, Clone, Default)]
pub struct FakePop {
    state: Arc<Mutex<State>>,
    count: Arc<AtomicUsize>,
}

fn full_record(record: &Value) -> Value {
    let mut full = serde_json::Map::new();
    for name in incountry_storage::WireRecord::default()
        .to_json_map()
        .keys()
    {
        full.insert(name.clone(), Value::Null);
    }
    for name in incountry_model_fields() {
        full.insert(
            name.to_owned(),
            record.get(name).cloned().unwrap_or(Value::Null),
        );
    }
    full.insert("created_at".into(), json!("2026-01-01T00:00:00.000+00:00"));
    full.insert("updated_at".into(), json!("2026-01-01T00:00:00.000+00:00"));
    full.insert("attachments".into(), json!([]));
    Value::Object(full)
}

fn incountry_model_fields() -> Vec<&'static str> {
    let mut names = vec![
        "record_key",
        "body",
        "precommit_body",
        "profile_key",
        "parent_key",
        "expires_at",
        "version",
        "is_encrypted",
    ];
    for n in [
        "service_key1",
        "service_key2",
        "service_key3",
        "service_key4",
        "service_key5",
    ] {
        names.push(n);
    }
    const KEYS: [&str; 20] = [
        "key1", "key2", "key3", "key4", "key5", "key6", "key7", "key8", "key9", "key10", "key11",
        "key12", "key13", "key14", "key15", "key16", "key17", "key18", "key19", "key20",
    ];
    const RANGES: [&str; 10] = [
        "range_key1",
        "range_key2",
        "range_key3",
        "range_key4",
        "range_key5",
        "range_key6",
        "range_key7",
        "range_key8",
        "range_key9",
        "range_key10",
    ];
    names.extend(KEYS);
    names.extend(RANGES);
    names
}

fn matches(record: &Value, filter: &serde_json::Map<String, Value>) -> bool {
    filter.iter().all(|(field, cond)| {
        let value = record.get(field).cloned().unwrap_or(Value::Null);
        match cond {
            Value::Object(ops) => ops.iter().all(|(op, operand)| match op.as_str() {
                "$not" => match operand {
                    Value::Array(list) => !list.contains(&value),
                    other => *other != value,
                },
                "$gt" => value.as_i64() > operand.as_i64(),
                "$gte" => value.as_i64() >= operand.as_i64(),
                "$lt" => value.as_i64() < operand.as_i64(),
                "$lte" => value.as_i64() <= operand.as_i64(),
                _ => false,
            }),
            Value::Array(list) => list.contains(&value),
            other => *other == value,
        }
    })
}

fn reply(status: StatusCode, body: Value) -> Response<Body> {
    Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .body(Body::full(body.to_string()))
        .unwrap()
}

fn not_found() -> Response<Body> {
    reply(
        StatusCode::NOT_FOUND,
        json!({"errors": [{"title": "not found", "status": 404}]}),
    )
}

/// Extracts (filename, content type, content) of the single `file` part.
pub fn parse_multipart(content_type: &str, body: &[u8]) -> (String, Option<String>, Vec<u8>) {
    let boundary = content_type.split("boundary=").nth(1).unwrap();
    let head_end = find(body, b"\r\n\r\n").unwrap();
    let head = std::str::from_utf8(&body[..head_end]).unwrap();
    assert!(head.starts_with(&format!("--{boundary}\r\n")));
    let tail = format!("\r\n--{boundary}--\r\n");
    assert!(
        body.ends_with(tail.as_bytes()),
        "multipart must end with the closing boundary"
    );
    let content = body[head_end + 4..body.len() - tail.len()].to_vec();
    let mut filename = String::new();
    let mut part_type = None;
    for line in head.lines().skip(1) {
        if let Some(disposition) = line.strip_prefix("Content-Disposition: ") {
            assert!(disposition.starts_with("form-data; name=\"file\"; filename=\""));
            filename = incountry_storage::parse_content_disposition(disposition).unwrap();
        } else if let Some(t) = line.strip_prefix("Content-Type: ") {
            part_type = Some(t.to_owned());
        }
    }
    (filename, part_type, content)
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

impl FakePop {
    pub fn new() -> Self {
        let pop = Self::default();
        pop.state.lock().unwrap().echo = true;
        pop
    }

    /// How many requests reached the fake.
    pub fn requests(&self) -> usize {
        self.count.load(Ordering::SeqCst)
    }

    pub fn seen(&self) -> Vec<Seen> {
        self.state.lock().unwrap().seen.clone()
    }

    pub fn last(&self) -> Seen {
        self.seen().pop().expect("a request was sent")
    }

    /// The next request is answered with this status and body instead.
    pub fn fail_next(&self, status: u16, body: Value) {
        self.fail_after(0, status, body);
    }

    /// The request after the next `skip` ones is answered with this status and body.
    pub fn fail_after(&self, skip: usize, status: u16, body: Value) {
        self.state.lock().unwrap().overrides.push((
            skip,
            StatusCode::from_u16(status).unwrap(),
            body,
        ));
    }

    /// Writes are answered without the record (no echo).
    pub fn without_echo(&self) {
        self.state.lock().unwrap().echo = false;
    }

    /// The write echo has `field` replaced by `value`.
    pub fn tamper_echo(&self, field: &str, value: Value) {
        self.state.lock().unwrap().tamper = Some((field.to_owned(), value));
    }

    /// Stores a raw wire record as is.
    pub fn put_raw(&self, record: Value) {
        let key = record["record_key"].as_str().unwrap().to_owned();
        self.state.lock().unwrap().records.insert(key, record);
    }

    pub fn raw(&self, hashed_key: &str) -> Option<Value> {
        self.state.lock().unwrap().records.get(hashed_key).cloned()
    }

    pub fn record_count(&self) -> usize {
        self.state.lock().unwrap().records.len()
    }

    fn handle(&self, seen: &Seen) -> Response<Body> {
        let mut state = self.state.lock().unwrap();
        state.seen.push(seen.clone());
        if let Some((skip, _, _)) = state.overrides.first_mut() {
            if *skip > 0 {
                *skip -= 1;
            } else {
                let (_, status, body) = state.overrides.remove(0);
                return reply(status, body);
            }
        }
        let segments: Vec<&str> = seen.path.trim_start_matches('/').split('/').collect();
        match (seen.method.as_str(), segments.as_slice()) {
            ("GET", ["countries"]) => reply(
                StatusCode::OK,
                json!({"countries": [
                    {"id": "SE", "name": "Sweden", "direct": true, "region": "EMEA"},
                    {"id": "AR", "name": "Argentina", "direct": false, "region": "AMER"},
                ]}),
            ),
            ("GET", ["healthcheck"]) => reply(StatusCode::OK, json!({"result": "ok"})),
            ("POST", ["v2", "storage", "records", _cc]) => {
                let record = seen.json();
                let key = record["record_key"].as_str().unwrap().to_owned();
                state.records.insert(key, record.clone());
                if !state.echo {
                    return reply(StatusCode::CREATED, json!({}));
                }
                let mut echo = full_record(&record);
                if let Some((field, value)) = state.tamper.clone() {
                    echo[field] = value;
                }
                reply(StatusCode::CREATED, echo)
            }
            ("POST", ["v2", "storage", "records", _cc, "batchWrite"]) => {
                let batch = seen.json();
                let mut out = Vec::new();
                for record in batch["records"].as_array().unwrap() {
                    let key = record["record_key"].as_str().unwrap().to_owned();
                    state.records.insert(key, record.clone());
                    out.push(full_record(record));
                }
                reply(StatusCode::CREATED, json!({ "records": out }))
            }
            ("POST", ["v2", "storage", "records", _cc, "find"]) => {
                let request = seen.json();
                let filter = request["filter"].as_object().unwrap().clone();
                let limit = request["options"]["limit"].as_u64().unwrap() as usize;
                let offset = request["options"]["offset"].as_u64().unwrap() as usize;
                let mut all: Vec<&Value> = state
                    .records
                    .values()
                    .filter(|r| matches(r, &filter))
                    .collect();
                all.sort_by_key(|r| r["record_key"].as_str().unwrap_or("").to_owned());
                let page: Vec<Value> = all
                    .iter()
                    .skip(offset)
                    .take(limit)
                    .map(|r| full_record(r))
                    .collect();
                reply(
                    StatusCode::OK,
                    json!({"data": page, "meta": {"count": page.len(), "limit": limit, "offset": offset, "total": all.len()}}),
                )
            }
            ("GET", ["v2", "storage", "records", _cc, key]) => match state.records.get(*key) {
                Some(record) => reply(StatusCode::OK, full_record(record)),
                None => not_found(),
            },
            ("DELETE", ["v2", "storage", "records", _cc, key]) => {
                match state.records.remove(*key) {
                    Some(_) => reply(StatusCode::OK, json!({})),
                    None => not_found(),
                }
            }
            (method @ ("POST" | "PUT"), ["v2", "storage", "records", _cc, key, "attachments"]) => {
                if !state.records.contains_key(*key) {
                    return not_found();
                }
                let content_type = seen.headers["content-type"].to_str().unwrap().to_owned();
                let (filename, part_type, content) = parse_multipart(&content_type, &seen.body);
                let existing = state
                    .attachments
                    .iter()
                    .find(|(_, a)| a.meta["filename"] == json!(filename))
                    .map(|(id, _)| id.clone());
                let file_id = match (method, existing) {
                    ("PUT", Some(id)) => id,
                    _ => {
                        state.next_file += 1;
                        format!("file-{}", state.next_file)
                    }
                };
                let meta = json!({
                    "file_id": file_id, "filename": filename, "hash": "",
                    "mime_type": part_type.unwrap_or_else(|| "application/octet-stream".into()),
                    "size": content.len(),
                    "created_at": "2026-01-01T00:00:00.000+00:00",
                    "updated_at": "2026-01-01T00:00:00.000+00:00",
                    "download_link": format!("{ENDPOINT}/download/{file_id}"),
                });
                state.attachments.insert(
                    file_id,
                    Attachment {
                        meta: meta.clone(),
                        bytes: Bytes::from(content),
                    },
                );
                reply(StatusCode::CREATED, meta)
            }
            ("GET", ["v2", "storage", "records", _cc, _key, "attachments", id]) => {
                match state.attachments.get(*id) {
                    Some(a) => {
                        let name = a.meta["filename"].as_str().unwrap();
                        let encoded = percent_encoding::utf8_percent_encode(
                            name,
                            percent_encoding::NON_ALPHANUMERIC,
                        );
                        Response::builder()
                            .status(200)
                            .header("content-type", "application/octet-stream")
                            .header(
                                "content-disposition",
                                format!("attachment; filename*=UTF-8''{encoded}"),
                            )
                            .body(Body::full(a.bytes.clone()))
                            .unwrap()
                    }
                    None => not_found(),
                }
            }
            (
                "GET",
                [
                    "v2",
                    "storage",
                    "records",
                    _cc,
                    _key,
                    "attachments",
                    id,
                    "meta",
                ],
            ) => match state.attachments.get(*id) {
                Some(a) => reply(StatusCode::OK, a.meta.clone()),
                None => not_found(),
            },
            (
                "PATCH",
                [
                    "v2",
                    "storage",
                    "records",
                    _cc,
                    _key,
                    "attachments",
                    id,
                    "meta",
                ],
            ) => {
                let update = seen.json();
                match state.attachments.get_mut(*id) {
                    Some(a) => {
                        for field in ["filename", "mime_type"] {
                            if let Some(v) = update.get(field) {
                                a.meta[field] = v.clone();
                            }
                        }
                        reply(StatusCode::OK, a.meta.clone())
                    }
                    None => not_found(),
                }
            }
            ("DELETE", ["v2", "storage", "records", _cc, _key, "attachments", id]) => {
                match state.attachments.remove(*id) {
                    Some(_) => Response::builder().status(204).body(Body::empty()).unwrap(),
                    None => not_found(),
                }
            }
            _ => reply(
                StatusCode::NOT_IMPLEMENTED,
                json!({"errors": [{"title": "no route"}]}),
            ),
        }
    }
}

#[async_trait]
impl Transport for FakePop {
    async fn send(&self, request: Request<Body>) -> Result<Response<Body>, TransportError> {
        self.count.fetch_add(1, Ordering::SeqCst);
        let (parts, body) = request.into_parts();
        let body =
            body.collect_limited(200 * 1024 * 1024)
                .await
                .map_err(|e| TransportError::Network {
                    kind: incountry_storage_network_kind(),
                    method: parts.method.clone(),
                    url: parts.uri.to_string(),
                    source: Some(Box::new(e)),
                })?;
        let seen = Seen {
            method: parts.method.to_string(),
            uri: parts.uri.to_string(),
            path: parts.uri.path().to_owned(),
            headers: parts.headers,
            body,
        };
        Ok(self.handle(&seen))
    }
}

fn incountry_storage_network_kind() -> incountry_transport::NetworkErrorKind {
    incountry_transport::NetworkErrorKind::Closed
}

pub fn password_secrets(version: u32, password: &str) -> SecretsData {
    SecretsData::new(
        version,
        vec![incountry_storage::Secret::password(version, password)],
    )
    .unwrap()
}

pub fn two_versions(current: u32) -> SecretsData {
    SecretsData::new(
        current,
        vec![
            incountry_storage::Secret::password(1, "first password"),
            incountry_storage::Secret::password(2, "second password"),
        ],
    )
    .unwrap()
}

/// A builder wired to the fake, with a static token and fixed endpoint.
pub fn builder(pop: &FakePop) -> StorageBuilder {
    Storage::builder()
        .environment_id(ENV_ID)
        .oauth_token("test-token")
        .endpoint(ENDPOINT)
        .env_vars(Vec::<(String, String)>::new())
        .retry(
            incountry_storage::RetryConfig::builder()
                .base_delay(std::time::Duration::from_millis(1))
                .max_delay(std::time::Duration::from_millis(2))
                .build(),
        )
        .transport(pop.clone())
}

pub async fn storage(pop: &FakePop) -> Storage {
    builder(pop)
        .secrets(password_secrets(1, "test password"))
        .build()
        .await
        .unwrap()
}
