#![allow(clippy::unwrap_used, clippy::expect_used)]
//! The HTTP API, called in-process: status codes and shapes as in the official SDKs' wire log
//! and the wire-protocol spec, authentication, and bad input answered with 4xx JSON errors.

use axum::Router;
use axum::body::{Body, Bytes};
use base64::Engine;
use chrono::{Duration, Utc};
use http::{HeaderMap, Method, Request, StatusCode, header};
use http_body_util::BodyExt;
use incountry_model::WIRE_RECORD_FIELDS;
use incountry_server::{Countries, RateLimit, Server, ServerConfig};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use tower::ServiceExt;

const ENV: &str = "test-env";
const CLIENT: &str = "client-1";
const SECRET: &str = "s3cret: with/odd chars";
const RECORDS: &str = "/v2/storage/records/us";

struct Api {
    server: Server,
    router: Router,
    token: String,
}

struct Answer {
    status: StatusCode,
    headers: HeaderMap,
    body: Bytes,
}

impl Answer {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&self.body)))
    }

    /// A 4xx JSON error in the `{"errors": [{"title", "source", "detail"}]}` shape.
    fn assert_error(&self, status: StatusCode) {
        assert_eq!(
            self.status,
            status,
            "{}",
            String::from_utf8_lossy(&self.body)
        );
        let body = self.json();
        let error = &body["errors"][0];
        for member in ["title", "source", "detail"] {
            assert!(error[member].is_string(), "{member} missing in {body}");
        }
    }
}

async fn api() -> Api {
    let mut config = ServerConfig::in_memory().with_client(CLIENT, SECRET);
    config.max_json_body = 1024 * 1024;
    let server = Server::new(config).await.unwrap();
    let router = server.router();
    let mut api = Api {
        server,
        router,
        token: String::new(),
    };
    let basic = base64::engine::general_purpose::STANDARD.encode(format!("{CLIENT}:{SECRET}"));
    let answer = api
        .send(
            Request::post("/oauth2/token")
                .header(header::AUTHORIZATION, format!("Basic {basic}"))
                .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
                .body(Body::from(format!(
                    "grant_type=client_credentials&scope={ENV}&audience=http%3A%2F%2Fpop.test"
                )))
                .unwrap(),
        )
        .await;
    assert_eq!(answer.status, StatusCode::OK);
    api.token = answer.json()["access_token"].as_str().unwrap().to_owned();
    api
}

impl Api {
    async fn send(&self, request: Request<Body>) -> Answer {
        let response = self.router.clone().oneshot(request).await.unwrap();
        let status = response.status();
        let headers = response.headers().clone();
        let body = response.into_body().collect().await.unwrap().to_bytes();
        Answer {
            status,
            headers,
            body,
        }
    }

    fn request(&self, method: Method, path: &str) -> http::request::Builder {
        Request::builder()
            .method(method)
            .uri(path)
            .header(header::HOST, "pop.test")
            .header(header::AUTHORIZATION, format!("Bearer {}", self.token))
            .header("x-env-id", ENV)
    }

    async fn call(&self, method: Method, path: &str, body: Option<Value>) -> Answer {
        let builder = self.request(method, path);
        let request = match body {
            Some(body) => builder
                .header(header::CONTENT_TYPE, "application/json")
                .body(Body::from(body.to_string())),
            None => builder.body(Body::empty()),
        };
        self.send(request.unwrap()).await
    }

    async fn raw(&self, method: Method, path: &str, body: &'static str) -> Answer {
        let request = self
            .request(method, path)
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from(body))
            .unwrap();
        self.send(request).await
    }

    async fn write(&self, record: Value) -> Answer {
        self.call(Method::POST, RECORDS, Some(record)).await
    }

    async fn find(&self, body: Value) -> Answer {
        self.call(Method::POST, &format!("{RECORDS}/find"), Some(body))
            .await
    }

    async fn upload(
        &self,
        method: Method,
        rk: &str,
        disposition: &str,
        mime: Option<&str>,
        content: &[u8],
    ) -> Answer {
        let mut body = Vec::new();
        body.extend_from_slice(b"--XyZbOuNdArY\r\n");
        body.extend_from_slice(
            format!("Content-Disposition: form-data; name=\"file\"; {disposition}\r\n").as_bytes(),
        );
        if let Some(mime) = mime {
            body.extend_from_slice(format!("Content-Type: {mime}\r\n").as_bytes());
        }
        body.extend_from_slice(b"\r\n");
        body.extend_from_slice(content);
        body.extend_from_slice(b"\r\n--XyZbOuNdArY--\r\n");
        let request = self
            .request(method, &format!("{RECORDS}/{rk}/attachments"))
            .header(
                header::CONTENT_TYPE,
                "multipart/form-data; boundary=XyZbOuNdArY",
            )
            .body(Body::from(body))
            .unwrap();
        self.send(request).await
    }
}

fn record(key: &str) -> Value {
    json!({"record_key": key, "body": "2:ciphertext", "version": 1, "is_encrypted": true})
}

#[tokio::test]
async fn healthcheck_answers_ok() {
    let api = api().await;
    let answer = api.call(Method::GET, "/healthcheck", None).await;
    assert_eq!(answer.status, StatusCode::OK);
    assert_eq!(answer.json(), json!({"result": "ok"}));
}

#[tokio::test]
async fn countries_lists_direct_countries_without_auth() {
    let api = api().await;
    let answer = api
        .send(Request::get("/countries").body(Body::empty()).unwrap())
        .await;
    assert_eq!(answer.status, StatusCode::OK);
    let body = answer.json();
    let us = body["countries"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == "US")
        .unwrap()
        .clone();
    assert_eq!(
        us,
        json!({"id": "US", "name": "United States", "direct": true, "region": "AMER"})
    );
}

#[tokio::test]
async fn token_has_the_shape_the_sdks_read() {
    let api = api().await;
    let answer = api
        .send(
            Request::post("/oauth2/token")
                .body(Body::from(format!(
                    "client_id={CLIENT}&client_secret={SECRET}&grant_type=client_credentials&scope=raw env:1/x&audience=https://a https://b"
                )))
                .unwrap(),
        )
        .await;
    assert_eq!(answer.status, StatusCode::OK);
    let body = answer.json();
    assert!(body["access_token"].as_str().is_some_and(|t| !t.is_empty()));
    assert_eq!(body["expires_in"], 3600);
    assert_eq!(body["token_type"], "bearer");
    assert_eq!(body["scope"], "raw env:1/x");
}

#[tokio::test]
async fn token_is_refused_for_wrong_credentials_and_grants() {
    let api = api().await;
    for body in [
        format!("client_id={CLIENT}&client_secret=wrong&grant_type=client_credentials&scope=e"),
        "client_id=nobody&client_secret=x&grant_type=client_credentials&scope=e".to_owned(),
        "grant_type=client_credentials&scope=e".to_owned(),
    ] {
        let answer = api
            .send(
                Request::post("/oauth2/token")
                    .body(Body::from(body))
                    .unwrap(),
            )
            .await;
        assert_eq!(answer.status, StatusCode::UNAUTHORIZED);
        assert_eq!(answer.json(), json!({"error": "invalid_client"}));
    }
    let answer = api
        .send(
            Request::post("/oauth2/token")
                .body(Body::from(format!(
                    "client_id={CLIENT}&client_secret={SECRET}&grant_type=password&scope=e"
                )))
                .unwrap(),
        )
        .await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn tokens_work_only_at_the_audience_they_were_issued_for() {
    let api = api().await;
    let basic = base64::engine::general_purpose::STANDARD.encode(format!("{CLIENT}:{SECRET}"));
    let token_for = |audience: &'static str| {
        Request::post("/oauth2/token")
            .header(header::AUTHORIZATION, format!("Basic {basic}"))
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(Body::from(format!(
                "grant_type=client_credentials&scope={ENV}{audience}"
            )))
            .unwrap()
    };
    let answer = api.send(token_for("")).await;
    assert_eq!(
        answer.status,
        StatusCode::BAD_REQUEST,
        "a token needs an audience"
    );
    let read_at = |host: &'static str, token: String| {
        Request::get(format!("{RECORDS}/abc"))
            .header(header::HOST, host)
            .header(header::AUTHORIZATION, format!("Bearer {token}"))
            .header("x-env-id", ENV)
            .body(Body::empty())
            .unwrap()
    };
    // The two-URL audience the SDKs send with an endpoint and a mask: either URL may name us.
    let answer = api
        .send(token_for(
            "&audience=https://other.test https://pop.test:8443",
        ))
        .await;
    let token = answer.json()["access_token"].as_str().unwrap().to_owned();
    let answer = api.send(read_at("pop.test:8443", token.clone())).await;
    answer.assert_error(StatusCode::NOT_FOUND);
    let answer = api.send(read_at("elsewhere.test", token)).await;
    assert_eq!(answer.status, StatusCode::UNAUTHORIZED, "another audience");
    answer.assert_error(StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn storage_needs_a_valid_token_for_the_environment() {
    let api = api().await;
    let path = format!("{RECORDS}/abc");
    let with = |token: Option<String>, env: Option<&str>| {
        let mut builder = Request::get(&path).header(header::HOST, "pop.test");
        if let Some(token) = token {
            builder = builder.header(header::AUTHORIZATION, token);
        }
        if let Some(env) = env {
            builder = builder.header("x-env-id", env);
        }
        builder.body(Body::empty()).unwrap()
    };
    let expired = api
        .server
        .issue_token(ENV, "", Utc::now() - Duration::seconds(5));
    let other_server = Server::new(ServerConfig::in_memory()).await.unwrap();
    let foreign = other_server.issue_token(ENV, "", Utc::now() + Duration::hours(1));
    let mut tampered = api.token.clone();
    tampered.pop();
    tampered.push(if api.token.ends_with('A') { 'B' } else { 'A' });
    for (token, why) in [
        (None, "no token"),
        (Some("Bearer not-a-valid-token".to_owned()), "malformed"),
        (Some(format!("Basic {}", api.token)), "wrong scheme"),
        (Some(format!("Bearer {expired}")), "expired"),
        (Some(format!("Bearer {foreign}")), "another server's"),
        (Some(format!("Bearer {tampered}")), "tampered"),
    ] {
        let answer = api.send(with(token, Some(ENV))).await;
        assert_eq!(answer.status, StatusCode::UNAUTHORIZED, "{why}");
        answer.assert_error(StatusCode::UNAUTHORIZED);
    }
    let other_env = api
        .server
        .issue_token("other-env", "", Utc::now() + Duration::hours(1));
    let answer = api
        .send(with(Some(format!("Bearer {other_env}")), Some(ENV)))
        .await;
    answer.assert_error(StatusCode::FORBIDDEN);
    let answer = api
        .send(with(
            Some(format!("Bearer {}", api.token)),
            Some("other-env"),
        ))
        .await;
    answer.assert_error(StatusCode::FORBIDDEN);
    let answer = api
        .send(with(Some(format!("Bearer {}", api.token)), None))
        .await;
    answer.assert_error(StatusCode::FORBIDDEN);
    let answer = api
        .send(with(Some(format!("bearer {}", api.token)), Some(ENV)))
        .await;
    answer.assert_error(StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn write_answers_201_with_every_member() {
    let api = api().await;
    let mut sent = record("rk1");
    sent["key3"] = json!("k3");
    sent["range_key1"] = json!(7);
    sent["expires_at"] = json!("2099-01-01T00:00:00.123456+00:00");
    let answer = api.write(sent.clone()).await;
    assert_eq!(answer.status, StatusCode::CREATED);
    let body = answer.json();
    let members: Vec<&str> = body
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(members, WIRE_RECORD_FIELDS);
    for (name, value) in sent.as_object().unwrap() {
        assert_eq!(&body[name], value, "{name}");
    }
    assert_eq!(body["key1"], Value::Null);
    assert_eq!(body["attachments"], json!([]));
    let created = body["created_at"].as_str().unwrap();
    assert!(
        created.len() == 29 && created.ends_with("+00:00") && &created[19..20] == ".",
        "{created}"
    );
    let read = api.call(Method::GET, &format!("{RECORDS}/rk1"), None).await;
    assert_eq!(read.status, StatusCode::OK);
    assert_eq!(read.json(), body);
}

#[tokio::test]
async fn read_and_delete_answer_404_for_absent_records() {
    let api = api().await;
    api.call(Method::GET, &format!("{RECORDS}/nope"), None)
        .await
        .assert_error(StatusCode::NOT_FOUND);
    assert_eq!(api.write(record("gone")).await.status, StatusCode::CREATED);
    let deleted = api
        .call(Method::DELETE, &format!("{RECORDS}/gone"), None)
        .await;
    assert_eq!(deleted.status, StatusCode::OK);
    assert_eq!(deleted.json(), json!({}));
    api.call(Method::DELETE, &format!("{RECORDS}/gone"), None)
        .await
        .assert_error(StatusCode::NOT_FOUND);
    api.call(Method::GET, "/v2/storage/records/ca/gone", None)
        .await
        .assert_error(StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn batch_write_answers_201_and_is_atomic() {
    let api = api().await;
    let path = format!("{RECORDS}/batchWrite");
    let answer = api
        .call(
            Method::POST,
            &path,
            Some(json!({"records": [record("a"), record("b")]})),
        )
        .await;
    assert_eq!(answer.status, StatusCode::CREATED);
    let body = answer.json();
    assert_eq!(body["records"].as_array().unwrap().len(), 2);
    assert_eq!(body["records"][1]["record_key"], "b");
    let bad = json!({"records": [record("c"), {"record_key": "d", "body": 5}]});
    api.call(Method::POST, &path, Some(bad))
        .await
        .assert_error(StatusCode::BAD_REQUEST);
    api.call(Method::GET, &format!("{RECORDS}/c"), None)
        .await
        .assert_error(StatusCode::NOT_FOUND);
    let too_many: Vec<Value> = (0..101).map(|i| record(&format!("r{i}"))).collect();
    api.call(Method::POST, &path, Some(json!({"records": too_many})))
        .await
        .assert_error(StatusCode::BAD_REQUEST);
    api.call(Method::POST, &path, Some(json!({"records": []})))
        .await
        .assert_error(StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn find_answers_data_and_meta() {
    let api = api().await;
    for (key, k1) in [("a", "x"), ("b", "y"), ("c", "x")] {
        let mut r = record(key);
        r["key1"] = json!(k1);
        api.write(r).await;
    }
    let answer = api
        .find(json!({"filter": {"key1": "x"}, "options": {"limit": 1, "offset": 0}}))
        .await;
    assert_eq!(answer.status, StatusCode::OK);
    let body = answer.json();
    assert_eq!(
        body["meta"],
        json!({"count": 1, "limit": 1, "offset": 0, "total": 2})
    );
    assert_eq!(body["data"][0]["record_key"], "a");
    let answer = api
        .find(json!({"filter": {"key1": "nothing"}, "options": {"limit": 100, "offset": 0}}))
        .await;
    assert_eq!(
        answer.json(),
        json!({"data": [], "meta": {"count": 0, "limit": 100, "offset": 0, "total": 0}})
    );
    let sorted = api
        .find(json!({"filter": {}, "options": {"limit": 100, "offset": 1, "sort": [{"key1": "desc"}]}}))
        .await
        .json();
    let keys: Vec<&str> = sorted["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["record_key"].as_str().unwrap())
        .collect();
    assert_eq!(keys, ["a", "c"]);
}

#[tokio::test]
async fn bad_find_requests_are_400() {
    let api = api().await;
    for body in [
        json!({"filter": {}, "options": {"limit": 0, "offset": 0}}),
        json!({"filter": {}, "options": {"limit": 101, "offset": 0}}),
        json!({"filter": {}, "options": {"limit": 10, "offset": -1}}),
        json!({"filter": {}, "options": {"limit": "ten", "offset": 0}}),
        json!({"filter": {"key1": {"$regex": "x"}}, "options": {"limit": 1, "offset": 0}}),
        json!({"filter": {"range_key1": {"$like": "x"}}, "options": {"limit": 1, "offset": 0}}),
        json!({"filter": {"colour": "red"}, "options": {"limit": 1, "offset": 0}}),
        json!({"filter": {"range_key1": "five"}, "options": {"limit": 1, "offset": 0}}),
        json!({"filter": {"key1": []}, "options": {"limit": 1, "offset": 0}}),
        json!({"filter": {"search_keys": "ab"}, "options": {"limit": 1, "offset": 0}}),
        json!({"filter": {"$or": [{"key1": "a"}]}, "options": {"limit": 1, "offset": 0}}),
        json!({"filter": {}, "options": {"limit": 1, "offset": 0, "sort": [{"body": "asc"}]}}),
        json!({"filter": {}, "options": {"limit": 1, "offset": 0}, "extra": true}),
        json!({"filter": {}, "options": {"limit": 1, "offset": 0, "page": 2}}),
        json!({"filter": [], "options": {"limit": 1, "offset": 0}}),
        json!({"filter": {"limit": 5}, "options": {"limit": 1, "offset": 0}}),
    ] {
        let answer = api.find(body.clone()).await;
        assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{body}");
        answer.assert_error(StatusCode::BAD_REQUEST);
    }
}

#[tokio::test]
async fn bad_bodies_are_4xx_json_never_5xx() {
    let api = api().await;
    for (path, body) in [
        (RECORDS.to_owned(), "{not json"),
        (RECORDS.to_owned(), "[]"),
        (RECORDS.to_owned(), "{\"record_key\": 1, \"body\": \"b\"}"),
        (
            RECORDS.to_owned(),
            "{\"record_key\": \"a\", \"body\": \"b\", \"unknown\": 1}",
        ),
        (
            RECORDS.to_owned(),
            "{\"record_key\": \"a\", \"body\": \"b\", \"range_key1\": 1.5}",
        ),
        (
            RECORDS.to_owned(),
            "{\"record_key\": \"a\", \"body\": \"b\", \"expires_at\": \"soon\"}",
        ),
        (
            RECORDS.to_owned(),
            "{\"record_key\": \"\", \"body\": \"b\"}",
        ),
        (RECORDS.to_owned(), "{\"record_key\": \"a\"}"),
        (RECORDS.to_owned(), ""),
        (format!("{RECORDS}/find"), "null"),
        (format!("{RECORDS}/batchWrite"), "{\"records\": {}}"),
        (
            format!("{RECORDS}/batchDelete"),
            "{\"filter\": {\"key1\": [\"a\"]}}",
        ),
        (
            format!("{RECORDS}/batchDelete"),
            "{\"filter\": {\"record_key\": []}}",
        ),
    ] {
        let answer = api.raw(Method::POST, &path, body).await;
        assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{path} {body}");
        answer.assert_error(StatusCode::BAD_REQUEST);
    }
    let answer = api.raw(Method::POST, "/v2/storage/records/usa", "{}").await;
    answer.assert_error(StatusCode::BAD_REQUEST);
    let answer = api.raw(Method::POST, "/v2/storage/records/u1", "{}").await;
    answer.assert_error(StatusCode::BAD_REQUEST);
    let big = json!({"record_key": "big", "body": "x".repeat(2 * 1024 * 1024)});
    api.write(big)
        .await
        .assert_error(StatusCode::PAYLOAD_TOO_LARGE);
    api.call(Method::GET, "/no/such/route", None)
        .await
        .assert_error(StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn batch_delete_removes_listed_records() {
    let api = api().await;
    for key in ["a", "b", "c"] {
        api.write(record(key)).await;
    }
    let answer = api
        .call(
            Method::POST,
            &format!("{RECORDS}/batchDelete"),
            Some(json!({"filter": {"record_key": ["a", "c", "absent"]}})),
        )
        .await;
    assert_eq!(answer.status, StatusCode::OK);
    let left = api
        .find(json!({"filter": {}, "options": {"limit": 10, "offset": 0}}))
        .await
        .json();
    assert_eq!(left["meta"]["total"], 1);
    assert_eq!(left["data"][0]["record_key"], "b");
}

fn sha256(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

#[tokio::test]
async fn attachments_add_download_and_list() {
    let api = api().await;
    api.write(record("rk")).await;
    let content = b"hello attachment";
    let name = "r\u{e9}sum\u{e9} \u{1f600} \u{43e}\u{442}\u{447}\u{451}\u{442} (v1).txt";
    let answer = api
        .upload(
            Method::POST,
            "rk",
            &format!("filename=\"{name}\""),
            None,
            content,
        )
        .await;
    assert_eq!(
        answer.status,
        StatusCode::CREATED,
        "{}",
        String::from_utf8_lossy(&answer.body)
    );
    let meta = answer.json();
    assert_eq!(meta["filename"], name);
    assert_eq!(meta["hash"], sha256(content));
    assert_eq!(meta["mime_type"], "application/octet-stream");
    assert_eq!(meta["size"], content.len());
    let file_id = meta["file_id"].as_str().unwrap().to_owned();
    assert_eq!(
        meta["download_link"],
        format!("http://pop.test{RECORDS}/rk/attachments/{file_id}")
    );
    for member in ["created_at", "updated_at"] {
        assert!(meta[member].as_str().unwrap().ends_with("+00:00"));
    }

    let download = api
        .call(
            Method::GET,
            &format!("{RECORDS}/rk/attachments/{file_id}"),
            None,
        )
        .await;
    assert_eq!(download.status, StatusCode::OK);
    assert_eq!(&download.body[..], content);
    assert_eq!(
        download.headers[header::CONTENT_TYPE],
        "application/octet-stream"
    );
    assert_eq!(download.headers["x-content-type-options"], "nosniff");
    assert_eq!(
        download.headers[header::CONTENT_DISPOSITION],
        "attachment; filename*=UTF-8''r%C3%A9sum%C3%A9%20%F0%9F%98%80%20%D0%BE%D1%82%D1%87%D1%91%D1%82%20%28v1%29.txt"
    );

    let got = api
        .call(
            Method::GET,
            &format!("{RECORDS}/rk/attachments/{file_id}/meta"),
            None,
        )
        .await;
    assert_eq!(got.status, StatusCode::OK);
    assert_eq!(got.json(), meta);
    let record = api
        .call(Method::GET, &format!("{RECORDS}/rk"), None)
        .await
        .json();
    assert_eq!(record["attachments"], json!([meta]));
    let found = api
        .find(json!({"filter": {"record_key": "rk"}, "options": {"limit": 1, "offset": 0}}))
        .await
        .json();
    assert_eq!(found["data"][0]["attachments"], json!([meta]));
}

#[tokio::test]
async fn attachments_take_extended_names_empty_files_and_mime_types() {
    let api = api().await;
    api.write(record("rk")).await;
    let answer = api
        .upload(
            Method::POST,
            "rk",
            "filename*=UTF-8''na%C3%AFve%20%E2%9C%93.md",
            Some("text/markdown"),
            b"",
        )
        .await;
    assert_eq!(answer.status, StatusCode::CREATED);
    let meta = answer.json();
    assert_eq!(meta["filename"], "na\u{ef}ve \u{2713}.md");
    assert_eq!(meta["size"], 0);
    assert_eq!(meta["hash"], sha256(b""));
    assert_eq!(meta["mime_type"], "text/markdown");
    let download = api
        .call(
            Method::GET,
            &format!(
                "{RECORDS}/rk/attachments/{}",
                meta["file_id"].as_str().unwrap()
            ),
            None,
        )
        .await;
    assert_eq!(download.status, StatusCode::OK);
    assert!(download.body.is_empty());
    assert_eq!(download.headers[header::CONTENT_TYPE], "text/markdown");
}

#[tokio::test]
async fn put_replaces_the_attachment_with_the_same_name() {
    let api = api().await;
    api.write(record("rk")).await;
    let first = api
        .upload(Method::POST, "rk", "filename=\"blob.bin\"", None, b"first")
        .await
        .json();
    let other = api
        .upload(Method::PUT, "rk", "filename=\"other.bin\"", None, b"other")
        .await;
    assert_eq!(other.status, StatusCode::CREATED);
    let replaced = api
        .upload(
            Method::PUT,
            "rk",
            "filename=\"blob.bin\"",
            Some("application/x-test"),
            b"replaced",
        )
        .await;
    assert_eq!(replaced.status, StatusCode::CREATED);
    let replaced = replaced.json();
    assert_eq!(replaced["file_id"], first["file_id"]);
    assert_eq!(replaced["created_at"], first["created_at"]);
    assert_eq!(replaced["hash"], sha256(b"replaced"));
    assert_eq!(replaced["mime_type"], "application/x-test");
    let download = api
        .call(
            Method::GET,
            &format!(
                "{RECORDS}/rk/attachments/{}",
                first["file_id"].as_str().unwrap()
            ),
            None,
        )
        .await;
    assert_eq!(&download.body[..], b"replaced");
    let record = api
        .call(Method::GET, &format!("{RECORDS}/rk"), None)
        .await
        .json();
    assert_eq!(record["attachments"].as_array().unwrap().len(), 2);
}

#[tokio::test]
async fn attachment_meta_updates_and_deletes() {
    let api = api().await;
    api.write(record("rk")).await;
    let meta = api
        .upload(
            Method::POST,
            "rk",
            "filename=\"a.txt\"",
            Some("text/plain"),
            b"abc",
        )
        .await
        .json();
    let path = format!(
        "{RECORDS}/rk/attachments/{}",
        meta["file_id"].as_str().unwrap()
    );
    let renamed = api
        .call(
            Method::PATCH,
            &format!("{path}/meta"),
            Some(json!({"filename": "renamed \u{2713}.txt"})),
        )
        .await;
    assert_eq!(renamed.status, StatusCode::OK);
    assert_eq!(renamed.json()["filename"], "renamed \u{2713}.txt");
    assert_eq!(renamed.json()["mime_type"], "text/plain");
    let retyped = api
        .call(
            Method::PATCH,
            &format!("{path}/meta"),
            Some(json!({"mime_type": "text/markdown"})),
        )
        .await
        .json();
    assert_eq!(retyped["filename"], "renamed \u{2713}.txt");
    assert_eq!(retyped["mime_type"], "text/markdown");
    for bad in [
        json!({}),
        json!({"filename": ""}),
        json!({"filename": 3}),
        json!({"size": 1}),
    ] {
        api.call(Method::PATCH, &format!("{path}/meta"), Some(bad))
            .await
            .assert_error(StatusCode::BAD_REQUEST);
    }
    let deleted = api.call(Method::DELETE, &path, None).await;
    assert_eq!(deleted.status, StatusCode::NO_CONTENT);
    api.call(Method::GET, &path, None)
        .await
        .assert_error(StatusCode::NOT_FOUND);
    api.call(Method::GET, &format!("{path}/meta"), None)
        .await
        .assert_error(StatusCode::NOT_FOUND);
    api.call(Method::DELETE, &path, None)
        .await
        .assert_error(StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn deleting_a_record_deletes_its_attachments() {
    let api = api().await;
    api.write(record("rk")).await;
    let meta = api
        .upload(Method::POST, "rk", "filename=\"a.txt\"", None, b"abc")
        .await
        .json();
    let path = format!(
        "{RECORDS}/rk/attachments/{}",
        meta["file_id"].as_str().unwrap()
    );
    assert_eq!(
        api.call(Method::DELETE, &format!("{RECORDS}/rk"), None)
            .await
            .status,
        StatusCode::OK
    );
    api.write(record("rk")).await;
    api.call(Method::GET, &path, None)
        .await
        .assert_error(StatusCode::NOT_FOUND);
    let record = api
        .call(Method::GET, &format!("{RECORDS}/rk"), None)
        .await
        .json();
    assert_eq!(record["attachments"], json!([]));
}

#[tokio::test]
async fn attachment_requests_for_missing_things_are_404_or_4xx() {
    let api = api().await;
    api.write(record("rk")).await;
    api.upload(Method::POST, "absent", "filename=\"a.txt\"", None, b"abc")
        .await
        .assert_error(StatusCode::NOT_FOUND);
    for file_id in [
        "..%2F..%2Frecords.sqlite3",
        "..",
        "not-a-uuid",
        "00000000-0000-4000-8000-000000000000",
    ] {
        let answer = api
            .call(
                Method::GET,
                &format!("{RECORDS}/rk/attachments/{file_id}"),
                None,
            )
            .await;
        answer.assert_error(StatusCode::NOT_FOUND);
    }
    let no_multipart = api
        .raw(Method::POST, &format!("{RECORDS}/rk/attachments"), "{}")
        .await;
    no_multipart.assert_error(StatusCode::BAD_REQUEST);
    let request = api
        .request(Method::POST, &format!("{RECORDS}/rk/attachments"))
        .header(header::CONTENT_TYPE, "multipart/form-data; boundary=b")
        .header(header::CONTENT_LENGTH, (105 * 1024 * 1024).to_string())
        .body(Body::empty())
        .unwrap();
    api.send(request)
        .await
        .assert_error(StatusCode::PAYLOAD_TOO_LARGE);
    let wrong_part = api
        .request(Method::POST, &format!("{RECORDS}/rk/attachments"))
        .header(header::CONTENT_TYPE, "multipart/form-data; boundary=b")
        .body(Body::from(
            "--b\r\nContent-Disposition: form-data; name=\"other\"\r\n\r\nx\r\n--b--\r\n",
        ))
        .unwrap();
    api.send(wrong_part)
        .await
        .assert_error(StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn an_attachment_over_100_mib_is_413_even_without_a_length() {
    let api = api().await;
    api.write(record("rk")).await;
    let chunk = Bytes::from(vec![7u8; 1024 * 1024]);
    let head = Bytes::from_static(
        b"--b\r\nContent-Disposition: form-data; name=\"file\"; filename=\"big.bin\"\r\n\r\n",
    );
    let parts = std::iter::once(head)
        .chain(std::iter::repeat_n(chunk, 101))
        .chain(std::iter::once(Bytes::from_static(b"\r\n--b--\r\n")))
        .map(Ok::<_, std::io::Error>);
    let request = api
        .request(Method::POST, &format!("{RECORDS}/rk/attachments"))
        .header(header::CONTENT_TYPE, "multipart/form-data; boundary=b")
        .body(Body::from_stream(futures_util::stream::iter(parts)))
        .unwrap();
    let answer = api.send(request).await;
    answer.assert_error(StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(
        answer.json()["errors"][0]["detail"],
        "Attachment is too large. Max allowed attachment size is 104857600 bytes"
    );
    let record = api
        .call(Method::GET, &format!("{RECORDS}/rk"), None)
        .await
        .json();
    assert_eq!(record["attachments"], json!([]));
}

#[tokio::test]
async fn an_environment_over_its_rate_limit_gets_429_with_retry_after() {
    let mut config = ServerConfig::in_memory();
    config.rate_limit = Some(RateLimit::new(2, 2));
    let server = Server::new(config).await.unwrap();
    let token = server.issue_token(ENV, "", Utc::now() + Duration::hours(1));
    let other = server.issue_token("other-env", "", Utc::now() + Duration::hours(1));
    let router = server.router();
    let get = |token: &str, env: &str| {
        Request::get(format!("{RECORDS}/x"))
            .header(header::AUTHORIZATION, format!("Bearer {token}"))
            .header("x-env-id", env)
            .body(Body::empty())
            .unwrap()
    };
    for _ in 0..2 {
        let response = router.clone().oneshot(get(&token, ENV)).await.unwrap();
        assert_eq!(response.status(), StatusCode::NOT_FOUND);
    }
    let response = router.clone().oneshot(get(&token, ENV)).await.unwrap();
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    let retry_after: u64 = response.headers()[header::RETRY_AFTER]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=30).contains(&retry_after), "{retry_after}");
    let body: Value =
        serde_json::from_slice(&response.into_body().collect().await.unwrap().to_bytes()).unwrap();
    assert_eq!(body["errors"][0]["title"], "too many requests");
    let response = router
        .clone()
        .oneshot(get(&other, "other-env"))
        .await
        .unwrap();
    assert_eq!(
        response.status(),
        StatusCode::NOT_FOUND,
        "another environment is not limited"
    );
}

#[tokio::test]
async fn only_configured_countries_are_served_and_listed() {
    let mut config = ServerConfig::in_memory();
    config.countries = Countries::Only(vec!["de".parse().unwrap(), "xx".parse().unwrap()]);
    config.public_urls = vec!["https://pop.example/".into()];
    let server = Server::new(config).await.unwrap();
    let token = server.issue_token(ENV, "", Utc::now() + Duration::hours(1));
    let router = server.router();
    let response = router
        .clone()
        .oneshot(Request::get("/countries").body(Body::empty()).unwrap())
        .await
        .unwrap();
    let body: Value =
        serde_json::from_slice(&response.into_body().collect().await.unwrap().to_bytes()).unwrap();
    assert_eq!(
        body,
        json!({"countries": [
            {"id": "DE", "name": "Germany", "direct": true, "region": "EMEA"},
            {"id": "XX", "name": "XX", "direct": true, "region": ""},
        ]})
    );
    let write = |cc: &str| {
        Request::post(format!("/v2/storage/records/{cc}"))
            .header(header::AUTHORIZATION, format!("Bearer {token}"))
            .header("x-env-id", ENV)
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from(record("r").to_string()))
            .unwrap()
    };
    assert_eq!(
        router.clone().oneshot(write("DE")).await.unwrap().status(),
        StatusCode::CREATED
    );
    assert_eq!(
        router.clone().oneshot(write("us")).await.unwrap().status(),
        StatusCode::NOT_FOUND
    );
    let upload = Request::post("/v2/storage/records/de/r/attachments")
        .header(header::AUTHORIZATION, format!("Bearer {token}"))
        .header("x-env-id", ENV)
        .header(header::CONTENT_TYPE, "multipart/form-data; boundary=b")
        .body(Body::from("--b\r\nContent-Disposition: form-data; name=\"file\"; filename=\"f\"\r\n\r\nx\r\n--b--\r\n"))
        .unwrap();
    let response = router.clone().oneshot(upload).await.unwrap();
    assert_eq!(response.status(), StatusCode::CREATED);
    let meta: Value =
        serde_json::from_slice(&response.into_body().collect().await.unwrap().to_bytes()).unwrap();
    let link = format!(
        "https://pop.example/v2/storage/records/de/r/attachments/{}",
        meta["file_id"].as_str().unwrap()
    );
    assert_eq!(meta["download_link"], link);
}

#[tokio::test]
async fn wrong_methods_are_405_json() {
    let api = api().await;
    api.call(Method::PUT, RECORDS, Some(json!({})))
        .await
        .assert_error(StatusCode::METHOD_NOT_ALLOWED);
}

#[tokio::test]
async fn expired_records_are_not_served_and_are_swept() {
    let api = api().await;
    let mut soon = record("soon");
    soon["expires_at"] = json!((Utc::now() + Duration::milliseconds(4000)).to_rfc3339());
    assert_eq!(api.write(soon).await.status, StatusCode::CREATED);
    assert_eq!(
        api.call(Method::GET, &format!("{RECORDS}/soon"), None)
            .await
            .status,
        StatusCode::OK
    );
    let later = Utc::now() + Duration::seconds(5);
    assert_eq!(api.server.sweep_expired(later).await.unwrap(), 1);
    api.call(Method::GET, &format!("{RECORDS}/soon"), None)
        .await
        .assert_error(StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn odd_json_bodies_never_get_a_5xx() {
    let api = api().await;
    api.write(record("rk")).await;
    let meta = api
        .upload(Method::POST, "rk", "filename=\"a\"", None, b"a")
        .await
        .json();
    let meta_path = format!(
        "{RECORDS}/rk/attachments/{}/meta",
        meta["file_id"].as_str().unwrap()
    );
    let odd = [
        json!(null),
        json!(0),
        json!(-1),
        json!(1.5e300),
        json!("text"),
        json!([]),
        json!([{}]),
        json!({}),
        json!({"records": null}),
        json!({"records": [null]}),
        json!({"records": [[]]}),
        json!({"filter": null, "options": null}),
        json!({"filter": {"key1": {"$not": {"$not": "x"}}}, "options": {"limit": 1}}),
        json!({"filter": {"$or": [{"$or": []}, {}]}, "options": {"limit": 1}}),
        json!({"filter": {"created_at": {"$gt": "not a date"}}, "options": {"limit": 1}}),
        json!({"filter": {"created_at": null}, "options": {"limit": 1}}),
        json!({"filter": {"range_key1": {"$gt": 1, "$gte": 2}}, "options": {"limit": 1}}),
        json!({"filter": {"version": 1e20}, "options": {"limit": 1}}),
        json!({"filter": {}, "options": {"limit": 1, "offset": 1e30}}),
        json!({"filter": {"record_key": [1, 2]}}),
        json!({"record_key": "k", "body": "b", "range_key1": 9_223_372_036_854_775_808_u64}),
        json!({"record_key": "k", "body": "b", "version": -1}),
        json!({"record_key": "k", "body": "b", "is_encrypted": "yes"}),
        json!({"record_key": "k", "body": "b", "expires_at": "99999-01-01T00:00:00+00:00"}),
        json!({"record_key": "k", "body": "b", "attachments": "x"}),
        json!({"filename": null, "mime_type": null}),
    ];
    let paths = [
        RECORDS.to_owned(),
        format!("{RECORDS}/batchWrite"),
        format!("{RECORDS}/find"),
        format!("{RECORDS}/batchDelete"),
    ];
    for body in &odd {
        for path in &paths {
            let answer = api.call(Method::POST, path, Some(body.clone())).await;
            assert!(
                answer.status.is_success() || answer.status.is_client_error(),
                "{path} {body}: {}",
                answer.status
            );
            if !answer.status.is_success() {
                answer.assert_error(answer.status);
            }
        }
        let answer = api
            .call(Method::PATCH, &meta_path, Some(body.clone()))
            .await;
        assert!(
            answer.status.is_success() || answer.status.is_client_error(),
            "PATCH {body}: {}",
            answer.status
        );
    }
}

#[tokio::test]
async fn rewriting_an_expired_record_starts_a_new_one() {
    let api = api().await;
    let mut brief = record("phoenix");
    // Long enough for the writes and the upload below to find it alive on a loaded machine.
    brief["expires_at"] = json!((Utc::now() + Duration::milliseconds(2000)).to_rfc3339());
    let first = api.write(brief).await.json();
    api.write(record("later")).await;
    let upload = api
        .upload(
            Method::POST,
            "phoenix",
            "filename=\"old.txt\"",
            None,
            b"old",
        )
        .await;
    assert_eq!(upload.status, StatusCode::CREATED);
    tokio::time::sleep(std::time::Duration::from_millis(2100)).await;
    let second = api.write(record("phoenix")).await.json();
    assert_ne!(second["created_at"], first["created_at"]);
    assert_eq!(second["attachments"], json!([]));
    let all = api
        .find(json!({"filter": {}, "options": {"limit": 10, "offset": 0}}))
        .await
        .json();
    let keys: Vec<&str> = all["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["record_key"].as_str().unwrap())
        .collect();
    assert_eq!(
        keys,
        ["later", "phoenix"],
        "the new record comes last in creation order"
    );
}
