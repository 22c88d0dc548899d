//! Errors of the transport crate.
//!
//! Every error about a request names its method and URL; none of them ever carries the
//! `Authorization` header or any other request header.

use std::error::Error as StdError;
use std::fmt;

use http::{Method, StatusCode};

use crate::body::BodyError;
use crate::headers::HeaderError;

/// Which kind of network failure a [`TransportError::Network`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum NetworkErrorKind {
    /// The connection could not be opened (refused, unreachable host, DNS or TLS failure).
    Connect,
    /// The connect timeout or the request timeout passed.
    Timeout,
    /// The connection was reset or closed before the response was complete.
    Closed,
    /// Any other failure of the connection or of the protocol.
    Other,
}

impl fmt::Display for NetworkErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Connect => "connect failed",
            Self::Timeout => "timed out",
            Self::Closed => "connection closed",
            Self::Other => "connection failed",
        })
    }
}

/// Any failure of sending a request or of reading its response.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TransportError {
    /// The request did not get a (complete) response: connect failure, timeout, reset.
    #[error("network error: {method} {url}: {kind}")]
    Network {
        /// What kind of failure it was.
        kind: NetworkErrorKind,
        /// The request method.
        method: Method,
        /// The request URL.
        url: String,
        /// The underlying failure, when there is one.
        #[source]
        source: Option<BodyError>,
    },

    /// The server answered with a status that the caller treats as a failure.
    #[error("{method} {url} failed with HTTP {status}: {body}")]
    Status {
        /// The response status.
        status: StatusCode,
        /// The request method.
        method: Method,
        /// The request URL.
        url: String,
        /// The start of the response body (at most [`BODY_EXCERPT_LIMIT`](crate::BODY_EXCERPT_LIMIT)
        /// bytes, decoded as lossy UTF-8).
        body: String,
    },

    /// A success response does not have the expected shape.
    #[error("invalid response to {method} {url}: {message}")]
    ResponseValidation {
        /// The request method.
        method: Method,
        /// The request URL.
        url: String,
        /// What is wrong with the response.
        message: String,
    },

    /// A response body is longer than the caller allows.
    #[error("response to {method} {url} exceeds the limit of {limit} bytes")]
    BodyTooLarge {
        /// The request method.
        method: Method,
        /// The request URL.
        url: String,
        /// The limit, in bytes.
        limit: usize,
    },

    /// The request cannot be sent as it is (e.g. a relative URL or an unsupported scheme).
    #[error("invalid request {method} {url}: {reason}")]
    InvalidRequest {
        /// The request method.
        method: Method,
        /// The request URL.
        url: String,
        /// What is wrong with it.
        reason: String,
    },

    /// A country code is not two ASCII letters.
    #[error("invalid country code {country:?}: expected two ASCII letters")]
    InvalidCountry {
        /// The country code as given.
        country: String,
    },

    /// A custom header is not allowed or not valid.
    #[error(transparent)]
    Header(#[from] HeaderError),

    /// The configuration of the transport is invalid (e.g. no usable root certificates).
    #[error("invalid transport configuration: {message}")]
    Config {
        /// What is wrong.
        message: String,
        /// The underlying failure, when there is one.
        #[source]
        source: Option<BodyError>,
    },
}

impl TransportError {
    /// The kind of a network error, or `None` for other errors.
    pub fn network_kind(&self) -> Option<NetworkErrorKind> {
        match self {
            Self::Network { kind, .. } => Some(*kind),
            _ => None,
        }
    }

    /// The response status of a [`TransportError::Status`], or `None` for other errors.
    pub fn status(&self) -> Option<StatusCode> {
        match self {
            Self::Status { status, .. } => Some(*status),
            _ => None,
        }
    }

    /// A network error of the given kind for a request, with its cause.
    pub fn network(
        kind: NetworkErrorKind,
        info: &crate::RequestInfo,
        source: Option<BodyError>,
    ) -> Self {
        Self::Network {
            kind,
            method: info.method.clone(),
            url: info.url.clone(),
            source,
        }
    }
}

/// Classifies a failure of the hyper client by walking its source chain.
pub(crate) fn classify(error: &(dyn StdError + 'static)) -> NetworkErrorKind {
    let mut connect = false;
    let mut current: Option<&(dyn StdError + 'static)> = Some(error);
    while let Some(error) = current {
        if let Some(client) = error.downcast_ref::<hyper_util::client::legacy::Error>() {
            connect |= client.is_connect();
        }
        if let Some(hyper) = error.downcast_ref::<hyper::Error>() {
            if hyper.is_timeout() {
                return NetworkErrorKind::Timeout;
            }
            if hyper.is_incomplete_message() || hyper.is_canceled() || hyper.is_closed() {
                return NetworkErrorKind::Closed;
            }
        }
        if let Some(io) = error.downcast_ref::<std::io::Error>() {
            use std::io::ErrorKind;
            match io.kind() {
                ErrorKind::TimedOut => return NetworkErrorKind::Timeout,
                ErrorKind::ConnectionReset
                | ErrorKind::ConnectionAborted
                | ErrorKind::BrokenPipe
                | ErrorKind::UnexpectedEof
                    if !connect =>
                {
                    return NetworkErrorKind::Closed;
                }
                _ => {}
            }
        }
        current = error.source();
    }
    if connect {
        NetworkErrorKind::Connect
    } else {
        NetworkErrorKind::Other
    }
}
