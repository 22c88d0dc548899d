#![allow(clippy::unwrap_used, clippy::expect_used)]
//! https end to end against a local TLS server whose certificate a test CA signed.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use http::{Request, StatusCode, Version};
use http_body_util::Full;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use incountry_transport::{
    Body, CertificateDer, HyperTransport, NetworkErrorKind, RootCertStore, RootCertificates,
    Transport,
};
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair};
use rustls::pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;

struct TestPki {
    ca: CertificateDer<'static>,
    leaf: CertificateDer<'static>,
    leaf_key: Vec<u8>,
}

fn test_pki() -> TestPki {
    let ca_key = KeyPair::generate().unwrap();
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "incountry-rs test CA");
    let ca = ca_params.self_signed(&ca_key).unwrap();

    let leaf_key = KeyPair::generate().unwrap();
    let leaf_params =
        CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned()]).unwrap();
    let leaf = leaf_params.signed_by(&leaf_key, &ca, &ca_key).unwrap();
    TestPki {
        ca: ca.der().clone(),
        leaf: leaf.der().clone(),
        leaf_key: leaf_key.serialize_der(),
    }
}

/// Serves `hello over <version>` on every connection until the task is aborted.
async fn serve_tls(pki: &TestPki, alpn: &[&[u8]]) -> (SocketAddr, tokio::task::JoinHandle<()>) {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(
            vec![pki.leaf.clone()],
            PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(pki.leaf_key.clone())),
        )
        .unwrap();
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    let acceptor = TlsAcceptor::from(Arc::new(config));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let task = tokio::spawn(async move {
        loop {
            let (socket, _) = listener.accept().await.unwrap();
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let Ok(tls) = acceptor.accept(socket).await else {
                    return;
                };
                let service = service_fn(
                    |request: hyper::Request<hyper::body::Incoming>| async move {
                        let text = format!("hello over {:?}", request.version());
                        Ok::<_, Infallible>(hyper::Response::new(Full::new(Bytes::from(text))))
                    },
                );
                let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                    .serve_connection(TokioIo::new(tls), service)
                    .await;
            });
        }
    });
    (address, task)
}

fn trusting_only(ca: &CertificateDer<'static>) -> HyperTransport {
    let mut roots = RootCertStore::empty();
    roots.add(ca.clone()).unwrap();
    HyperTransport::builder()
        .root_certificates(RootCertificates::Custom(roots))
        .build()
        .unwrap()
}

async fn get_text(transport: &HyperTransport, url: String) -> (Version, String) {
    let request = Request::get(url).body(Body::empty()).unwrap();
    let response = transport.send(request).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let version = response.version();
    let body = response.into_body().collect_limited(1024).await.unwrap();
    (version, String::from_utf8(body.to_vec()).unwrap())
}

#[tokio::test]
async fn https_with_a_trusted_test_ca_negotiates_http2() {
    let pki = test_pki();
    let (address, server) = serve_tls(&pki, &[b"h2", b"http/1.1"]).await;
    let transport = trusting_only(&pki.ca);
    let (version, text) =
        get_text(&transport, format!("https://127.0.0.1:{}/", address.port())).await;
    assert_eq!(version, Version::HTTP_2);
    assert_eq!(text, "hello over HTTP/2.0");
    server.abort();
}

#[tokio::test]
async fn https_falls_back_to_http1_when_the_server_offers_only_http1() {
    let pki = test_pki();
    let (address, server) = serve_tls(&pki, &[b"http/1.1"]).await;
    let transport = trusting_only(&pki.ca);
    let (version, text) =
        get_text(&transport, format!("https://localhost:{}/", address.port())).await;
    assert_eq!(version, Version::HTTP_11);
    assert_eq!(text, "hello over HTTP/1.1");
    server.abort();
}

#[tokio::test]
async fn an_extra_root_is_trusted_on_top_of_the_default_roots() {
    let pki = test_pki();
    let (address, server) = serve_tls(&pki, &[b"h2", b"http/1.1"]).await;
    let transport = HyperTransport::builder()
        .add_root_certificate(pki.ca.clone())
        .build()
        .unwrap();
    let (_, text) = get_text(&transport, format!("https://127.0.0.1:{}/", address.port())).await;
    assert!(text.starts_with("hello over"), "{text}");
    server.abort();
}

#[tokio::test]
async fn a_certificate_from_an_untrusted_ca_is_a_connect_error() {
    let pki = test_pki();
    let (address, server) = serve_tls(&pki, &[b"h2", b"http/1.1"]).await;
    let transport = HyperTransport::new().unwrap();
    let request = Request::get(format!("https://127.0.0.1:{}/", address.port()))
        .body(Body::empty())
        .unwrap();
    let error = transport.send(request).await.unwrap_err();
    assert_eq!(
        error.network_kind(),
        Some(NetworkErrorKind::Connect),
        "{error:?}"
    );
    server.abort();
}

#[test]
fn an_empty_root_store_is_a_configuration_error() {
    let error = HyperTransport::builder()
        .root_certificates(RootCertificates::Custom(RootCertStore::empty()))
        .build()
        .unwrap_err();
    assert!(error.to_string().contains("no root certificate"), "{error}");
}
