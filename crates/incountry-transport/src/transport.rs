//! The transport seam: one trait that sends a request and returns its response.

use std::fmt;

use async_trait::async_trait;
use http::{Method, Request, Response, Uri};

use crate::body::Body;
use crate::error::TransportError;

/// Sends one HTTP request and returns the response, whatever its status.
///
/// Implementations: [`HyperTransport`](crate::HyperTransport) (the network),
/// [`RetryingTransport`](crate::RetryingTransport) (429 backoff around another transport), and
/// test doubles. Mapping a status to an error is left to the caller, see
/// [`error_for_status`](crate::error_for_status).
#[async_trait]
pub trait Transport: Send + Sync + fmt::Debug {
    /// Sends the request; an `Err` means no response was received.
    async fn send(&self, request: Request<Body>) -> Result<Response<Body>, TransportError>;
}

#[async_trait]
impl<T: Transport + ?Sized> Transport for std::sync::Arc<T> {
    async fn send(&self, request: Request<Body>) -> Result<Response<Body>, TransportError> {
        (**self).send(request).await
    }
}

#[async_trait]
impl<T: Transport + ?Sized> Transport for Box<T> {
    async fn send(&self, request: Request<Body>) -> Result<Response<Body>, TransportError> {
        (**self).send(request).await
    }
}

/// The method and URL of a request, kept to describe failures (never its headers).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestInfo {
    /// The request method.
    pub method: Method,
    /// The request URL, without any user information.
    pub url: String,
}

impl RequestInfo {
    /// The method and URL of a request.
    pub fn of<B>(request: &Request<B>) -> Self {
        Self::new(request.method().clone(), request.uri())
    }

    /// A description of a request from its method and URL; user information in the URL is
    /// dropped.
    pub fn new(method: Method, uri: &Uri) -> Self {
        Self {
            method,
            url: display_url(uri),
        }
    }
}

impl fmt::Display for RequestInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.method, self.url)
    }
}

/// The URL as text, without `user:password@`.
fn display_url(uri: &Uri) -> String {
    let Some(authority) = uri.authority() else {
        return uri.to_string();
    };
    let host = authority
        .as_str()
        .rsplit_once('@')
        .map_or(authority.as_str(), |(_, host)| host);
    let scheme = uri
        .scheme_str()
        .map(|s| format!("{s}://"))
        .unwrap_or_default();
    let path = uri.path_and_query().map_or("", |p| p.as_str());
    format!("{scheme}{host}{path}")
}
