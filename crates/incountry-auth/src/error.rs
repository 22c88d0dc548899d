//! Errors of the auth crate.
//!
//! No message ever contains a client secret or a token.

use http::{Method, StatusCode};
use incountry_transport::TransportError;

/// Any failure of obtaining a token or of an authorized request.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AuthError {
    /// The token endpoint answered with a status other than `200 OK`.
    #[error("OAuth token request to {url} failed with HTTP {status}: {body}")]
    TokenEndpointStatus {
        /// The response status.
        status: StatusCode,
        /// The token endpoint URL.
        url: String,
        /// The start of the response body (at most about 1 KiB, lossy UTF-8).
        body: String,
    },

    /// The token endpoint answered `200 OK` with a body that is not a usable token.
    #[error("invalid OAuth token response from {url}: {message}")]
    TokenResponse {
        /// The token endpoint URL.
        url: String,
        /// What is wrong with the response.
        message: String,
    },

    /// The token endpoint could not be reached (connect failure, timeout, reset).
    #[error("OAuth token request to {url} failed")]
    TokenRequest {
        /// The token endpoint URL.
        url: String,
        /// The network failure.
        #[source]
        source: TransportError,
    },

    /// The API refused the token: a `401` with a token that cannot be refreshed, or a second
    /// `401` right after a refresh.
    #[error("{method} {url} failed with HTTP 401 Unauthorized: {body}")]
    Unauthorized {
        /// The request method.
        method: Method,
        /// The request URL.
        url: String,
        /// The start of the response body (at most about 1 KiB, lossy UTF-8).
        body: String,
    },

    /// A token cannot be sent as an HTTP header (it contains control characters).
    #[error("the access token is not a valid HTTP header value")]
    InvalidToken,

    /// The credentials or the token endpoints are not valid.
    #[error("invalid authentication configuration: {0}")]
    Config(String),

    /// Sending the authorized request itself failed; see
    /// [`send_authorized`](crate::send_authorized).
    #[error(transparent)]
    Transport(#[from] TransportError),
}

impl AuthError {
    /// Whether this is an authentication failure (the official SDKs' authentication error):
    /// the token endpoint refused or answered something unusable, or the API refused the
    /// token. A token endpoint that could not be reached is a network failure instead
    /// ([`AuthError::is_network`]): the credentials were never judged.
    pub fn is_authentication(&self) -> bool {
        match self {
            Self::TokenEndpointStatus { .. }
            | Self::TokenResponse { .. }
            | Self::Unauthorized { .. }
            | Self::InvalidToken => true,
            Self::TokenRequest { source, .. } => !matches!(source, TransportError::Network { .. }),
            Self::Config(_) | Self::Transport(_) => false,
        }
    }

    /// Whether no (complete) answer came back, from the token endpoint or the API: a connect
    /// failure, a timeout, a reset.
    pub fn is_network(&self) -> bool {
        matches!(
            self,
            Self::TokenRequest {
                source: TransportError::Network { .. },
                ..
            } | Self::Transport(TransportError::Network { .. })
        )
    }
}
