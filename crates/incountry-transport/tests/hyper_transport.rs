#![allow(clippy::unwrap_used, clippy::expect_used)]
//! The hyper transport against local servers: requests, timeouts, failures, pooling, bodies.

use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use bytes::Bytes;
use futures_util::StreamExt;
use http::{Request, StatusCode};
use http_body_util::Full;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use incountry_transport::{
    BODY_EXCERPT_LIMIT, Body, DEFAULT_BODY_LIMIT, HyperTransport, NetworkErrorKind, RequestInfo,
    Transport, TransportError, error_for_status, read_json,
};
use serde::Deserialize;
use tokio::net::TcpListener;
use wiremock::matchers::{body_bytes, header, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

fn get(url: String) -> Request<Body> {
    Request::get(url).body(Body::empty()).unwrap()
}

#[tokio::test]
async fn sends_method_path_headers_and_body() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/v2/storage/records/se"))
        .and(header("x-env-id", "env"))
        .and(body_bytes(b"{\"record_key\":\"k\"}".to_vec()))
        .respond_with(ResponseTemplate::new(201).set_body_string("created"))
        .expect(1)
        .mount(&server)
        .await;
    let transport = HyperTransport::new().unwrap();
    let request = Request::post(format!("{}/v2/storage/records/se", server.uri()))
        .header("x-env-id", "env")
        .body(Body::from("{\"record_key\":\"k\"}"))
        .unwrap();
    let response = transport.send(request).await.unwrap();
    assert_eq!(response.status(), StatusCode::CREATED);
    let body = response.into_body().collect_limited(100).await.unwrap();
    assert_eq!(body, "created");
}

#[tokio::test]
async fn error_statuses_are_returned_as_responses() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(500).set_body_string("boom"))
        .mount(&server)
        .await;
    let transport = HyperTransport::new().unwrap();
    let response = transport.send(get(server.uri())).await.unwrap();
    assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
}

#[tokio::test]
async fn a_hung_server_hits_the_request_timeout() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(200).set_delay(Duration::from_secs(10)))
        .mount(&server)
        .await;
    let transport = HyperTransport::builder()
        .request_timeout(Duration::from_millis(200))
        .build()
        .unwrap();
    let url = format!("{}/slow", server.uri());
    let error = transport.send(get(url.clone())).await.unwrap_err();
    assert_eq!(error.network_kind(), Some(NetworkErrorKind::Timeout));
    match &error {
        TransportError::Network {
            method,
            url: failed,
            ..
        } => {
            assert_eq!(method, "GET");
            assert_eq!(failed, &url);
        }
        other => panic!("unexpected error {other:?}"),
    }
    assert!(error.to_string().contains(&url), "{error}");
}

#[tokio::test]
async fn a_server_that_accepts_but_never_answers_hits_the_timeout() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    // Accept and hold the connection without ever reading or writing.
    let holder = tokio::spawn(async move {
        let (socket, _) = listener.accept().await.unwrap();
        tokio::time::sleep(Duration::from_secs(10)).await;
        drop(socket);
    });
    let transport = HyperTransport::builder()
        .request_timeout(Duration::from_millis(200))
        .build()
        .unwrap();
    let error = transport
        .send(get(format!("http://{address}/")))
        .await
        .unwrap_err();
    assert_eq!(error.network_kind(), Some(NetworkErrorKind::Timeout));
    holder.abort();
}

#[tokio::test]
async fn a_refused_connection_is_a_connect_error() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap();
    drop(listener);
    let transport = HyperTransport::new().unwrap();
    let error = transport
        .send(get(format!("http://{address}/")))
        .await
        .unwrap_err();
    assert_eq!(
        error.network_kind(),
        Some(NetworkErrorKind::Connect),
        "{error:?}"
    );
}

#[tokio::test]
async fn a_connection_closed_before_the_answer_is_a_closed_error() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let closer = tokio::spawn(async move {
        let (mut socket, _) = listener.accept().await.unwrap();
        let mut buffer = [0u8; 1024];
        let _ = tokio::io::AsyncReadExt::read(&mut socket, &mut buffer).await;
        drop(socket);
    });
    let transport = HyperTransport::new().unwrap();
    let error = transport
        .send(get(format!("http://{address}/")))
        .await
        .unwrap_err();
    assert_eq!(
        error.network_kind(),
        Some(NetworkErrorKind::Closed),
        "{error:?}"
    );
    closer.await.unwrap();
}

#[tokio::test]
async fn relative_urls_are_rejected() {
    let transport = HyperTransport::new().unwrap();
    let error = transport
        .send(get("/relative".to_owned()))
        .await
        .unwrap_err();
    assert!(
        matches!(error, TransportError::InvalidRequest { .. }),
        "{error:?}"
    );
}

#[tokio::test]
async fn fifty_sequential_requests_share_one_connection() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let accepts = Arc::new(AtomicUsize::new(0));
    let counter = accepts.clone();
    let server = tokio::spawn(async move {
        loop {
            let (socket, _) = listener.accept().await.unwrap();
            counter.fetch_add(1, Ordering::SeqCst);
            tokio::spawn(async move {
                let service = service_fn(|_request| async {
                    Ok::<_, Infallible>(hyper::Response::new(Full::new(Bytes::from_static(
                        b"pong",
                    ))))
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(socket), service)
                    .await;
            });
        }
    });
    let transport = HyperTransport::new().unwrap();
    for _ in 0..50 {
        let response = transport
            .send(get(format!("http://{address}/ping")))
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        let body = response.into_body().collect_limited(16).await.unwrap();
        assert_eq!(body, "pong");
    }
    assert_eq!(accepts.load(Ordering::SeqCst), 1);
    server.abort();
}

#[tokio::test]
async fn a_streamed_request_body_reaches_the_server_whole() {
    let server = MockServer::start().await;
    let chunk = vec![7u8; 64 * 1024];
    let expected: Vec<u8> = chunk.repeat(16);
    Mock::given(method("PUT"))
        .and(body_bytes(expected))
        .respond_with(ResponseTemplate::new(201))
        .expect(1)
        .mount(&server)
        .await;
    let chunks = futures_util::stream::iter(
        (0..16).map(move |_| Ok::<_, std::io::Error>(Bytes::from(chunk.clone()))),
    );
    let request = Request::put(format!("{}/upload", server.uri()))
        .body(Body::from_stream(chunks))
        .unwrap();
    let transport = HyperTransport::new().unwrap();
    let response = transport.send(request).await.unwrap();
    assert_eq!(response.status(), StatusCode::CREATED);
}

#[tokio::test]
async fn a_response_body_can_be_read_as_a_stream() {
    let server = MockServer::start().await;
    let payload = vec![1u8; 300_000];
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(200).set_body_bytes(payload.clone()))
        .mount(&server)
        .await;
    let transport = HyperTransport::new().unwrap();
    let response = transport.send(get(server.uri())).await.unwrap();
    let mut stream = response.into_body().into_stream();
    let mut total = Vec::new();
    while let Some(chunk) = stream.next().await {
        total.extend_from_slice(&chunk.unwrap());
    }
    assert_eq!(total, payload);
}

#[tokio::test]
async fn a_response_body_over_the_limit_is_refused() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(200).set_body_bytes(vec![b'a'; 5000]))
        .mount(&server)
        .await;
    let transport = HyperTransport::new().unwrap();
    let request = get(server.uri());
    let info = RequestInfo::of(&request);
    let response = transport.send(request).await.unwrap();
    let error = read_json::<serde_json::Value>(&info, response, 1000)
        .await
        .unwrap_err();
    assert!(
        matches!(error, TransportError::BodyTooLarge { limit: 1000, .. }),
        "{error:?}"
    );
}

#[derive(Debug, Deserialize, PartialEq)]
struct Meta {
    count: u32,
}

#[tokio::test]
async fn a_json_body_is_read_into_a_type() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(200).set_body_string(r#"{"count": 3, "extra": true}"#))
        .mount(&server)
        .await;
    let transport = HyperTransport::new().unwrap();
    let request = get(server.uri());
    let info = RequestInfo::of(&request);
    let response = transport.send(request).await.unwrap();
    let meta: Meta = read_json(&info, response, DEFAULT_BODY_LIMIT)
        .await
        .unwrap();
    assert_eq!(meta, Meta { count: 3 });
}

#[tokio::test]
async fn a_malformed_body_is_a_response_validation_error() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/not-json"))
        .respond_with(ResponseTemplate::new(200).set_body_string("<html>"))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/wrong-type"))
        .respond_with(ResponseTemplate::new(200).set_body_string(r#"{"count": "three"}"#))
        .mount(&server)
        .await;
    let transport = HyperTransport::new().unwrap();
    for (path, expected) in [
        ("/not-json", "expected value"),
        ("/wrong-type", "invalid type"),
    ] {
        let request = get(format!("{}{path}", server.uri()));
        let info = RequestInfo::of(&request);
        let response = transport.send(request).await.unwrap();
        let error = read_json::<Meta>(&info, response, DEFAULT_BODY_LIMIT)
            .await
            .unwrap_err();
        match &error {
            TransportError::ResponseValidation {
                method,
                url,
                message,
            } => {
                assert_eq!(method, "GET");
                assert_eq!(url, &format!("{}{path}", server.uri()));
                assert!(message.contains(expected), "{message}");
            }
            other => panic!("unexpected error {other:?}"),
        }
    }
}

#[tokio::test]
async fn a_failed_status_carries_code_method_url_and_body_excerpt() {
    let server = MockServer::start().await;
    Mock::given(method("DELETE"))
        .and(path("/small"))
        .respond_with(ResponseTemplate::new(404).set_body_string(r#"{"errors":[]}"#))
        .mount(&server)
        .await;
    Mock::given(method("DELETE"))
        .and(path("/large"))
        .respond_with(ResponseTemplate::new(500).set_body_bytes(vec![b'x'; 10_000]))
        .mount(&server)
        .await;
    let transport = HyperTransport::new().unwrap();

    let request = Request::delete(format!("{}/small", server.uri()))
        .body(Body::empty())
        .unwrap();
    let info = RequestInfo::of(&request);
    let error = error_for_status(&info, transport.send(request).await.unwrap())
        .await
        .unwrap_err();
    assert_eq!(error.status(), Some(StatusCode::NOT_FOUND));
    assert_eq!(
        error.to_string(),
        format!(
            "DELETE {}/small failed with HTTP 404 Not Found: {{\"errors\":[]}}",
            server.uri()
        )
    );

    let request = Request::delete(format!("{}/large", server.uri()))
        .body(Body::empty())
        .unwrap();
    let info = RequestInfo::of(&request);
    let error = error_for_status(&info, transport.send(request).await.unwrap())
        .await
        .unwrap_err();
    match error {
        TransportError::Status { status, body, .. } => {
            assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
            assert_eq!(body, format!("{}…", "x".repeat(BODY_EXCERPT_LIMIT)));
        }
        other => panic!("unexpected error {other:?}"),
    }
}

#[tokio::test]
async fn a_success_status_passes_through() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(204))
        .mount(&server)
        .await;
    let transport = HyperTransport::new().unwrap();
    let request = get(server.uri());
    let info = RequestInfo::of(&request);
    let response = error_for_status(&info, transport.send(request).await.unwrap())
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
}

#[test]
fn request_info_drops_user_information() {
    let request = Request::get("https://user:secret@example.com/path?q=1")
        .body(Body::empty())
        .unwrap();
    let info = RequestInfo::of(&request);
    assert_eq!(info.url, "https://example.com/path?q=1");
    assert_eq!(info.to_string(), "GET https://example.com/path?q=1");
}

#[tokio::test]
async fn a_connect_that_never_completes_hits_the_connect_timeout() {
    // A listener that never accepts, with its accept queue filled: further connection
    // attempts get no answer to their SYN, so connecting hangs.
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let listener = socket.listen(0).unwrap();
    let address = listener.local_addr().unwrap();
    let mut fillers = Vec::new();
    for _ in 0..8 {
        match tokio::time::timeout(
            Duration::from_millis(100),
            tokio::net::TcpStream::connect(address),
        )
        .await
        {
            Ok(Ok(stream)) => fillers.push(stream),
            _ => break,
        }
    }
    let transport = HyperTransport::builder()
        .connect_timeout(Duration::from_millis(200))
        .request_timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    let error = transport
        .send(get(format!("http://{address}/")))
        .await
        .unwrap_err();
    assert_eq!(
        error.network_kind(),
        Some(NetworkErrorKind::Timeout),
        "{error:?}"
    );
    // The connect timeout, not the request timeout: it carries the connector's failure.
    assert!(std::error::Error::source(&error).is_some(), "{error:?}");
    drop(listener);
}
