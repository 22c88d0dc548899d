//! Turning responses into results: status errors, JSON bodies, size limits.

use bytes::Bytes;
use http::Response;
use serde::de::DeserializeOwned;

use crate::body::{Body, CollectError};
use crate::error::{NetworkErrorKind, TransportError};
use crate::transport::RequestInfo;

/// At most this many bytes of a failed response's body are kept in its error.
pub const BODY_EXCERPT_LIMIT: usize = 1024;

/// The default limit for response bodies read into memory (JSON answers): 16 MiB.
pub const DEFAULT_BODY_LIMIT: usize = 16 * 1024 * 1024;

/// Returns the response when its status is a success (2xx), else a
/// [`TransportError::Status`] carrying the status, method, URL and a body excerpt.
///
/// Reads at most [`BODY_EXCERPT_LIMIT`] bytes of a failed response's body.
pub async fn error_for_status(
    info: &RequestInfo,
    response: Response<Body>,
) -> Result<Response<Body>, TransportError> {
    if response.status().is_success() {
        Ok(response)
    } else {
        Err(status_error(info, response).await)
    }
}

/// A [`TransportError::Status`] for the response, whatever its status, with an excerpt of its
/// body (at most [`BODY_EXCERPT_LIMIT`] bytes, lossy UTF-8, marked when cut).
pub async fn status_error(info: &RequestInfo, response: Response<Body>) -> TransportError {
    let status = response.status();
    let body = body_excerpt(response.into_body()).await;
    TransportError::Status {
        status,
        method: info.method.clone(),
        url: info.url.clone(),
        body,
    }
}

/// The start of a body as text: at most [`BODY_EXCERPT_LIMIT`] bytes, lossy UTF-8, followed by
/// `…` when it was cut; empty when the body cannot be read.
pub async fn body_excerpt(body: Body) -> String {
    match body.prefix(BODY_EXCERPT_LIMIT + 1).await {
        Ok(bytes) if bytes.len() > BODY_EXCERPT_LIMIT => {
            let mut text = String::from_utf8_lossy(&bytes[..BODY_EXCERPT_LIMIT]).into_owned();
            text.push('…');
            text
        }
        Ok(bytes) => String::from_utf8_lossy(&bytes).into_owned(),
        Err(_) => String::new(),
    }
}

/// Reads a whole response body into memory, failing past `limit` bytes.
pub async fn read_bytes(
    info: &RequestInfo,
    response: Response<Body>,
    limit: usize,
) -> Result<Bytes, TransportError> {
    response
        .into_body()
        .collect_limited(limit)
        .await
        .map_err(|error| match error {
            CollectError::TooLarge { limit } => TransportError::BodyTooLarge {
                method: info.method.clone(),
                url: info.url.clone(),
                limit,
            },
            CollectError::Read(source) => {
                let kind = crate::error::classify(source.as_ref());
                let kind = if kind == NetworkErrorKind::Other {
                    NetworkErrorKind::Closed
                } else {
                    kind
                };
                TransportError::network(kind, info, Some(source))
            }
        })
}

/// Reads a response body (at most `limit` bytes) as JSON into `T`.
///
/// A body that is not JSON of the expected shape is a [`TransportError::ResponseValidation`]
/// naming what was wrong; the status is not checked here (see [`error_for_status`]).
pub async fn read_json<T: DeserializeOwned>(
    info: &RequestInfo,
    response: Response<Body>,
    limit: usize,
) -> Result<T, TransportError> {
    let bytes = read_bytes(info, response, limit).await?;
    parse_json(info, &bytes)
}

/// Parses bytes as JSON into `T`, mapping failures to [`TransportError::ResponseValidation`].
pub fn parse_json<T: DeserializeOwned>(
    info: &RequestInfo,
    bytes: &[u8],
) -> Result<T, TransportError> {
    serde_json::from_slice(bytes).map_err(|error| TransportError::ResponseValidation {
        method: info.method.clone(),
        url: info.url.clone(),
        message: format!("malformed JSON body: {error}"),
    })
}
