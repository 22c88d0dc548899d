#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Strict input: what the official SDKs never send is refused with a 4xx that names the rule,
//! and what they do send still works. Large filters, repeated JSON members, `$or: []`, dates
//! outside the years 1..=9999, token forms with spaced credentials, JSON bodies not declared as
//! JSON, and attachment file names over 255 bytes.

use axum::Router;
use axum::body::{Body, Bytes};
use base64::Engine;
use http::{Method, Request, StatusCode, header};
use http_body_util::BodyExt;
use incountry_model::{MAX_FILENAME_BYTES, MAX_FILTER_VALUES, MAX_OR_BRANCHES};
use incountry_server::{Server, ServerConfig};
use serde_json::{Value, json};
use tower::ServiceExt;

const ENV: &str = "strict-env";
const CLIENT: &str = "strict-client";
const SECRET: &str = "a-secret-long-enough-for-any-policy";
const RECORDS: &str = "/v2/storage/records/us";
/// The audience the official Python SDK sends when the endpoint and the country's PoP differ:
/// two URLs with a space between them (sent as `+`).
const AUDIENCE: &str = "http%3A%2F%2Fpop.test+https%3A%2F%2Fus-mt-01.api.incountry.io";

struct Answer {
    status: StatusCode,
    body: Bytes,
}

impl Answer {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&self.body)))
    }

    /// Asserts `status` and an error whose source or detail mentions each of `words`.
    #[track_caller]
    fn assert_refused(&self, status: StatusCode, words: &[&str]) {
        let text = String::from_utf8_lossy(&self.body);
        assert_eq!(self.status, status, "{text}");
        let error = &self.json()["errors"][0];
        let said = format!("{} {}", error["source"], error["detail"]);
        for word in words {
            assert!(said.contains(word), "{word:?} not in {said}");
        }
    }
}

struct Api {
    _server: Server,
    router: Router,
    token: String,
}

async fn send(router: &Router, request: Request<Body>) -> Answer {
    let response = router.clone().oneshot(request).await.unwrap();
    let status = response.status();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    Answer { status, body }
}

fn basic() -> String {
    let pair = base64::engine::general_purpose::STANDARD.encode(format!("{CLIENT}:{SECRET}"));
    format!("Basic {pair}")
}

fn token_request(form: String, authorization: Option<String>) -> Request<Body> {
    let mut request = Request::post("/oauth2/token")
        .header(header::HOST, "pop.test")
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded");
    if let Some(authorization) = authorization {
        request = request.header(header::AUTHORIZATION, authorization);
    }
    request.body(Body::from(form)).unwrap()
}

async fn api() -> Api {
    let mut config = ServerConfig::in_memory().with_client(CLIENT, SECRET);
    config.max_json_body = 4 * 1024 * 1024;
    let server = Server::new(config).await.unwrap();
    let router = server.router();
    // What the official Python SDK sends: Basic credentials, the form urlencoded by requests.
    let answer = send(
        &router,
        token_request(
            format!("grant_type=client_credentials&scope={ENV}&audience={AUDIENCE}"),
            Some(basic()),
        ),
    )
    .await;
    assert_eq!(answer.status, StatusCode::OK);
    let token = answer.json()["access_token"].as_str().unwrap().to_owned();
    Api {
        _server: server,
        router,
        token,
    }
}

impl Api {
    fn request(&self, method: Method, path: &str) -> http::request::Builder {
        Request::builder()
            .method(method)
            .uri(path)
            .header(header::HOST, "pop.test")
            .header(header::AUTHORIZATION, format!("Bearer {}", self.token))
            .header("x-env-id", ENV)
    }

    /// Sends `body` as is, declared as `content_type` (none when `None`).
    async fn raw(
        &self,
        method: Method,
        path: &str,
        content_type: Option<&str>,
        body: impl Into<Body>,
    ) -> Answer {
        let mut request = self.request(method, path);
        if let Some(content_type) = content_type {
            request = request.header(header::CONTENT_TYPE, content_type);
        }
        send(&self.router, request.body(body.into()).unwrap()).await
    }

    async fn json(&self, method: Method, path: &str, body: &str) -> Answer {
        self.raw(method, path, Some("application/json"), body.to_owned())
            .await
    }

    async fn find(&self, filter: Value) -> Answer {
        let body = json!({"filter": filter, "options": {"limit": 10, "offset": 0}});
        self.json(Method::POST, &format!("{RECORDS}/find"), &body.to_string())
            .await
    }

    async fn read(&self, key: &str) -> StatusCode {
        send(
            &self.router,
            self.request(Method::GET, &format!("{RECORDS}/{key}"))
                .body(Body::empty())
                .unwrap(),
        )
        .await
        .status
    }

    async fn upload(&self, key: &str, disposition: &str) -> Answer {
        let body = format!(
            "--bNd\r\nContent-Disposition: form-data; name=\"file\"; {disposition}\r\n\
             Content-Type: text/plain\r\n\r\nhello\r\n--bNd--\r\n"
        );
        self.raw(
            Method::POST,
            &format!("{RECORDS}/{key}/attachments"),
            Some("multipart/form-data; boundary=bNd"),
            body,
        )
        .await
    }
}

fn record(key: &str) -> Value {
    json!({"record_key": key, "body": "2:ciphertext", "version": 1, "is_encrypted": true})
}

// ---- large filters ----

#[tokio::test]
async fn a_find_with_33_000_values_in_one_key_is_400_naming_the_limit() {
    let api = api().await;
    let values: Vec<String> = (0..33_000).map(|i| format!("{i:x}")).collect();
    let limit = MAX_FILTER_VALUES.to_string();
    api.find(json!({"key1": values}))
        .await
        .assert_refused(StatusCode::BAD_REQUEST, &["key1", &limit]);
    api.find(json!({"record_key": {"$not": values}}))
        .await
        .assert_refused(StatusCode::BAD_REQUEST, &["record_key", &limit]);
}

#[tokio::test]
async fn a_find_over_the_value_limit_in_all_is_400() {
    let api = api().await;
    let half: Vec<String> = (0..MAX_FILTER_VALUES / 2 + 1)
        .map(|i| i.to_string())
        .collect();
    api.find(json!({"key1": half, "key2": half}))
        .await
        .assert_refused(StatusCode::BAD_REQUEST, &["filter", "in all"]);
}

#[tokio::test]
async fn a_find_with_1_001_or_branches_is_400_naming_the_limit() {
    let api = api().await;
    let branches: Vec<Value> = (0..1_001).map(|i| json!({"key1": i.to_string()})).collect();
    api.find(json!({"$or": branches})).await.assert_refused(
        StatusCode::BAD_REQUEST,
        &["$or", &MAX_OR_BRANCHES.to_string()],
    );
}

#[tokio::test]
async fn the_largest_allowed_find_answers_200() {
    let api = api().await;
    let answer = api
        .json(Method::POST, RECORDS, &record("a").to_string())
        .await;
    assert_eq!(answer.status, StatusCode::CREATED);
    let per_branch = MAX_FILTER_VALUES / MAX_OR_BRANCHES;
    let branches: Vec<Value> = (0..MAX_OR_BRANCHES)
        .map(|b| {
            let mut keys: Vec<String> = (0..per_branch).map(|i| format!("{b}-{i}")).collect();
            if b == 0 {
                keys[0] = "a".into();
            }
            json!({"record_key": keys, "key1": null})
        })
        .collect();
    let answer = api.find(json!({"$or": branches})).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.json());
    assert_eq!(answer.json()["meta"]["total"], 1);
}

#[tokio::test]
async fn an_empty_or_is_400() {
    let api = api().await;
    api.find(json!({"$or": []}))
        .await
        .assert_refused(StatusCode::BAD_REQUEST, &["$or"]);
}

// ---- repeated JSON members ----

#[tokio::test]
async fn a_member_named_twice_anywhere_in_a_body_is_400() {
    let api = api().await;
    let write = api
        .json(
            Method::POST,
            RECORDS,
            r#"{"record_key": "dup", "body": "2:x", "key1": "a", "key1": "b"}"#,
        )
        .await;
    write.assert_refused(StatusCode::BAD_REQUEST, &["duplicate member", "key1"]);
    let batch = api
        .json(
            Method::POST,
            &format!("{RECORDS}/batchWrite"),
            r#"{"records": [{"record_key": "dup", "body": "2:x", "body": "2:y"}]}"#,
        )
        .await;
    batch.assert_refused(StatusCode::BAD_REQUEST, &["duplicate member", "body"]);
    assert_eq!(
        api.read("dup").await,
        StatusCode::NOT_FOUND,
        "nothing stored"
    );

    for body in [
        r#"{"filter": {}, "filter": {"key1": "a"}, "options": {"limit": 1}}"#,
        r#"{"filter": {"key1": {"$not": "a", "$not": "b"}}, "options": {"limit": 1}}"#,
        r#"{"filter": {"$or": [{"key1": "a"}, {"key2": "b", "key2": "c"}]}}"#,
        r#"{"filter": {}, "options": {"limit": 1, "limit": 2}}"#,
    ] {
        api.json(Method::POST, &format!("{RECORDS}/find"), body)
            .await
            .assert_refused(StatusCode::BAD_REQUEST, &["duplicate member"]);
    }
    api.json(
        Method::POST,
        &format!("{RECORDS}/batchDelete"),
        r#"{"filter": {"record_key": ["a"], "record_key": ["b"]}}"#,
    )
    .await
    .assert_refused(StatusCode::BAD_REQUEST, &["duplicate member"]);
}

// ---- dates ----

#[tokio::test]
async fn an_expires_at_outside_the_years_1_to_9999_is_400() {
    let api = api().await;
    for date in [
        "0000-06-01T00:00:00+00:00",
        "0001-01-01T00:30:00+01:00",
        "0000-01-01T00:00:00.000Z",
    ] {
        let mut body = record("old");
        body["expires_at"] = json!(date);
        api.json(Method::POST, RECORDS, &body.to_string())
            .await
            .assert_refused(StatusCode::BAD_REQUEST, &["expires_at"]);
        let batch = json!({"records": [body]});
        api.json(
            Method::POST,
            &format!("{RECORDS}/batchWrite"),
            &batch.to_string(),
        )
        .await
        .assert_refused(StatusCode::BAD_REQUEST, &["records[0].expires_at"]);
    }
    assert_eq!(api.read("old").await, StatusCode::NOT_FOUND);
    let mut body = record("late");
    body["expires_at"] = json!("9999-12-31T23:59:59.999999+00:00");
    let answer = api.json(Method::POST, RECORDS, &body.to_string()).await;
    assert_eq!(answer.status, StatusCode::CREATED, "{}", answer.json());
}

// ---- token forms ----

#[tokio::test]
async fn token_credentials_with_surrounding_spaces_are_refused() {
    let api = api().await;
    for (id, secret) in [
        (format!("+{CLIENT}"), SECRET.to_owned()),
        (format!("{CLIENT}%20"), SECRET.to_owned()),
        (CLIENT.to_owned(), format!("{SECRET}+")),
        (CLIENT.to_owned(), format!("%09{SECRET}")),
    ] {
        let form = format!(
            "client_id={id}&client_secret={secret}&grant_type=client_credentials\
             &scope={ENV}&audience={AUDIENCE}"
        );
        let answer = send(&api.router, token_request(form, None)).await;
        assert_eq!(answer.status, StatusCode::UNAUTHORIZED, "{id:?} {secret:?}");
        assert_eq!(answer.json()["error"], "invalid_client");
    }
    // The same credentials without the spaces, in the form, are accepted.
    let form = format!(
        "client_id={CLIENT}&client_secret={SECRET}&grant_type=client_credentials\
         &scope={ENV}&audience={AUDIENCE}"
    );
    let answer = send(&api.router, token_request(form, None)).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.json());
}

#[tokio::test]
async fn a_token_scope_with_surrounding_spaces_or_a_parameter_named_twice_is_400() {
    let api = api().await;
    let answer = send(
        &api.router,
        token_request(
            format!("grant_type=client_credentials&scope=+{ENV}&audience={AUDIENCE}"),
            Some(basic()),
        ),
    )
    .await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST);
    assert_eq!(answer.json()["error"], "invalid_scope");
    let answer = send(
        &api.router,
        token_request(
            format!("grant_type=client_credentials&scope={ENV}&scope=other&audience={AUDIENCE}"),
            Some(basic()),
        ),
    )
    .await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST);
    assert_eq!(answer.json()["error"], "invalid_request");
}

// ---- content types ----

#[tokio::test]
async fn a_json_route_sent_as_text_plain_or_without_a_content_type_is_415() {
    let api = api().await;
    let written = api
        .json(Method::POST, RECORDS, &record("k").to_string())
        .await;
    assert_eq!(written.status, StatusCode::CREATED);
    let upload = api.upload("k", "filename=\"a.txt\"").await;
    assert_eq!(upload.status, StatusCode::CREATED);
    let file_id = upload.json()["file_id"].as_str().unwrap().to_owned();
    let routes = [
        (Method::POST, RECORDS.to_owned(), record("k2").to_string()),
        (
            Method::POST,
            format!("{RECORDS}/batchWrite"),
            json!({"records": [record("k2")]}).to_string(),
        ),
        (
            Method::POST,
            format!("{RECORDS}/find"),
            json!({"filter": {}, "options": {"limit": 1}}).to_string(),
        ),
        (
            Method::PATCH,
            format!("{RECORDS}/k/attachments/{file_id}/meta"),
            json!({"filename": "b.txt"}).to_string(),
        ),
        (
            Method::POST,
            format!("{RECORDS}/batchDelete"),
            json!({"filter": {"record_key": ["k"]}}).to_string(),
        ),
    ];
    for (method, path, body) in &routes {
        for content_type in [
            Some("text/plain"),
            None,
            Some("application/x-www-form-urlencoded"),
        ] {
            api.raw(method.clone(), path, content_type, body.clone())
                .await
                .assert_refused(StatusCode::UNSUPPORTED_MEDIA_TYPE, &["content-type"]);
        }
    }
    assert_eq!(api.read("k2").await, StatusCode::NOT_FOUND);
    assert_eq!(api.read("k").await, StatusCode::OK, "not deleted");
    // What the official SDKs send: application/json, with a charset for some of them.
    for (i, (method, path, body)) in routes.iter().enumerate() {
        let content_type = if i % 2 == 0 {
            "application/json"
        } else {
            "Application/JSON; charset=utf-8"
        };
        let answer = api
            .raw(method.clone(), path, Some(content_type), body.clone())
            .await;
        assert!(answer.status.is_success(), "{path}: {}", answer.status);
    }
}

// ---- attachment file names ----

#[tokio::test]
async fn attachment_file_names_over_255_bytes_are_400() {
    let api = api().await;
    let written = api
        .json(Method::POST, RECORDS, &record("f").to_string())
        .await;
    assert_eq!(written.status, StatusCode::CREATED);
    // 'é' is two bytes in UTF-8: 127 of them and one byte fill 255 bytes.
    let fits = format!("{}x", "\u{e9}".repeat(MAX_FILENAME_BYTES / 2));
    assert_eq!(fits.len(), MAX_FILENAME_BYTES);
    let over = format!("{fits}y");
    let encode = |name: &str| {
        percent_encoding::utf8_percent_encode(name, percent_encoding::NON_ALPHANUMERIC).to_string()
    };

    let answer = api
        .upload("f", &format!("filename*=UTF-8''{}", encode(&over)))
        .await;
    answer.assert_refused(StatusCode::BAD_REQUEST, &["filename", "255"]);
    let answer = api
        .upload("f", &format!("filename=\"{}\"", "n".repeat(1_000_000)))
        .await;
    answer.assert_refused(StatusCode::BAD_REQUEST, &["filename", "255"]);

    let answer = api
        .upload("f", &format!("filename*=UTF-8''{}", encode(&fits)))
        .await;
    assert_eq!(answer.status, StatusCode::CREATED, "{}", answer.json());
    assert_eq!(answer.json()["filename"], fits.as_str());
    let file_id = answer.json()["file_id"].as_str().unwrap().to_owned();
    let meta = format!("{RECORDS}/f/attachments/{file_id}/meta");
    api.json(
        Method::PATCH,
        &meta,
        &json!({ "filename": over }).to_string(),
    )
    .await
    .assert_refused(StatusCode::BAD_REQUEST, &["filename", "255"]);
    let renamed = api
        .json(
            Method::PATCH,
            &meta,
            &json!({"filename": "short.txt"}).to_string(),
        )
        .await;
    assert_eq!(renamed.status, StatusCode::OK);
    assert_eq!(renamed.json()["filename"], "short.txt");
}
