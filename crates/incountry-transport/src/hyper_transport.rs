//! The default transport: a pooled hyper client over rustls (ring), HTTP/1.1 and HTTP/2.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use http::{Request, Response};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioTimer};
use rustls::RootCertStore;
use rustls::pki_types::CertificateDer;

use crate::body::Body;
use crate::error::{NetworkErrorKind, TransportError, classify};
use crate::transport::{RequestInfo, Transport};

/// The default connect timeout and request timeout: 30 seconds each.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

/// Where the transport takes the certificate authorities it trusts from.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum RootCertificates {
    /// The Mozilla roots compiled into the `webpki-roots` crate (the default).
    WebPki,
    /// The roots of the operating system's certificate store, read when the transport is built.
    Native,
    /// Exactly these roots and no others.
    Custom(RootCertStore),
}

/// Builds a [`HyperTransport`].
#[derive(Debug, Clone)]
pub struct HyperTransportBuilder {
    connect_timeout: Duration,
    request_timeout: Duration,
    roots: RootCertificates,
    extra_roots: Vec<CertificateDer<'static>>,
    pool_idle_timeout: Duration,
}

impl Default for HyperTransportBuilder {
    fn default() -> Self {
        Self {
            connect_timeout: DEFAULT_TIMEOUT,
            request_timeout: DEFAULT_TIMEOUT,
            roots: RootCertificates::WebPki,
            extra_roots: Vec::new(),
            pool_idle_timeout: Duration::from_secs(90),
        }
    }
}

impl HyperTransportBuilder {
    /// How long opening a TCP connection may take (default 30 s).
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// How long a request may take until the response headers arrive, connecting included
    /// (default 30 s). Reading the response body is not bounded by it.
    pub fn request_timeout(mut self, timeout: Duration) -> Self {
        self.request_timeout = timeout;
        self
    }

    /// How long an idle pooled connection is kept (default 90 s).
    pub fn pool_idle_timeout(mut self, timeout: Duration) -> Self {
        self.pool_idle_timeout = timeout;
        self
    }

    /// Which certificate authorities to trust (default [`RootCertificates::WebPki`]).
    pub fn root_certificates(mut self, roots: RootCertificates) -> Self {
        self.roots = roots;
        self
    }

    /// Trusts one more certificate authority (DER), on top of the chosen roots.
    pub fn add_root_certificate(mut self, certificate: CertificateDer<'static>) -> Self {
        self.extra_roots.push(certificate);
        self
    }

    /// Builds the transport: one connection pool for all its requests.
    ///
    /// Fails when a certificate cannot be used or no root certificate is left to trust.
    /// Reads the operating system's store with [`RootCertificates::Native`].
    pub fn build(self) -> Result<HyperTransport, TransportError> {
        let mut store = match self.roots {
            RootCertificates::WebPki => RootCertStore {
                roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
            },
            RootCertificates::Native => {
                let loaded = rustls_native_certs::load_native_certs();
                let mut store = RootCertStore::empty();
                let (_, rejected) = store.add_parsable_certificates(loaded.certs);
                if rejected > 0 || !loaded.errors.is_empty() {
                    tracing::debug!(
                        rejected,
                        errors = loaded.errors.len(),
                        "some native root certificates could not be used"
                    );
                }
                store
            }
            RootCertificates::Custom(store) => store,
        };
        for certificate in self.extra_roots {
            store
                .add(certificate)
                .map_err(|error| TransportError::Config {
                    message: "a root certificate cannot be used".to_owned(),
                    source: Some(Box::new(error)),
                })?;
        }
        if store.is_empty() {
            return Err(TransportError::Config {
                message: "no root certificate to trust".to_owned(),
                source: None,
            });
        }

        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let tls = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|error| TransportError::Config {
                message: "TLS protocol versions".to_owned(),
                source: Some(Box::new(error)),
            })?
            .with_root_certificates(store)
            .with_no_client_auth();

        let mut http = HttpConnector::new();
        http.enforce_http(false);
        http.set_nodelay(true);
        http.set_connect_timeout(Some(self.connect_timeout));
        let https = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(tls)
            .https_or_http()
            .enable_http1()
            .enable_http2()
            .wrap_connector(http);

        let client = Client::builder(TokioExecutor::new())
            .timer(TokioTimer::new())
            .pool_timer(TokioTimer::new())
            .pool_idle_timeout(self.pool_idle_timeout)
            .build(https);

        Ok(HyperTransport {
            client,
            request_timeout: self.request_timeout,
        })
    }
}

/// The network transport: hyper over rustls with a connection pool, HTTP/1.1 and HTTP/2
/// (chosen by ALPN), a connect timeout and a request timeout.
///
/// Cloning is cheap and shares the pool. `https` URLs are verified against the configured
/// roots; plain `http` URLs are allowed too (a local server, tests). Requests go out with the
/// headers they carry and no others (add [`USER_AGENT`](crate::USER_AGENT) yourself); redirects
/// are not followed.
#[derive(Clone)]
pub struct HyperTransport {
    client: Client<HttpsConnector<HttpConnector>, Body>,
    request_timeout: Duration,
}

impl HyperTransport {
    /// A builder with the defaults: 30 s timeouts, Mozilla (webpki) roots.
    pub fn builder() -> HyperTransportBuilder {
        HyperTransportBuilder::default()
    }

    /// A transport with the defaults.
    pub fn new() -> Result<Self, TransportError> {
        Self::builder().build()
    }
}

impl fmt::Debug for HyperTransport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HyperTransport")
            .field("request_timeout", &self.request_timeout)
            .finish_non_exhaustive()
    }
}

#[async_trait]
impl Transport for HyperTransport {
    async fn send(&self, request: Request<Body>) -> Result<Response<Body>, TransportError> {
        let info = RequestInfo::of(&request);
        match request.uri().scheme_str() {
            Some("http" | "https") if request.uri().host().is_some() => {}
            _ => {
                return Err(TransportError::InvalidRequest {
                    method: info.method,
                    url: info.url,
                    reason: "the URL must be absolute, with an http or https scheme".to_owned(),
                });
            }
        }
        tracing::debug!(method = %info.method, url = %info.url, "sending request");
        let response = tokio::time::timeout(self.request_timeout, self.client.request(request))
            .await
            .map_err(|_| TransportError::network(NetworkErrorKind::Timeout, &info, None))?
            .map_err(|error| {
                let kind = classify(&error);
                TransportError::network(kind, &info, Some(Box::new(error)))
            })?;
        Ok(response.map(Body::from_http_body))
    }
}
