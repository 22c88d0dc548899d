//! Errors: what the HTTP API answers, and what starting a server can fail with.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::store::StoreError;

/// Why a server could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServerError {
    /// Binding the socket or creating the data directory failed.
    #[error("I/O error: {0}")]
    Io(#[from] std::io::Error),
    /// Opening or migrating a store failed.
    #[error("store error: {0}")]
    Store(#[from] StoreError),
    /// The configuration is not usable.
    #[error("invalid configuration: {0}")]
    Config(String),
}

/// An error answer: `{"errors": [{"title", "source", "detail", "status"}]}`.
#[derive(Debug)]
pub(crate) struct ApiError {
    status: StatusCode,
    title: &'static str,
    source: String,
    detail: String,
}

impl ApiError {
    pub(crate) fn new(
        status: StatusCode,
        title: &'static str,
        source: impl Into<String>,
        detail: impl Into<String>,
    ) -> Self {
        Self {
            status,
            title,
            source: source.into(),
            detail: detail.into(),
        }
    }

    pub(crate) fn bad_request(source: impl Into<String>, detail: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "validation error", source, detail)
    }

    pub(crate) fn unauthorized(detail: impl Into<String>) -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "invalid or missing bearer token",
            "authorization",
            detail,
        )
    }

    pub(crate) fn forbidden(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, "forbidden", "x-env-id", detail)
    }

    pub(crate) fn not_found(what: &'static str) -> Self {
        let title = match what {
            "record" => "record not found",
            "attachment" => "attachment not found",
            "country" => "country not served",
            _ => "not found",
        };
        Self::new(StatusCode::NOT_FOUND, title, what, title)
    }

    pub(crate) fn too_large(detail: impl Into<String>) -> Self {
        Self::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "request too large",
            "body",
            detail,
        )
    }

    /// 503: something the server needs ran out or is unavailable for now; answered with
    /// `Retry-After`.
    pub(crate) fn unavailable(detail: impl Into<String>) -> Self {
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "service unavailable",
            "server",
            detail,
        )
    }

    /// The status this error answers with.
    pub(crate) fn status(&self) -> StatusCode {
        self.status
    }

    pub(crate) fn internal() -> Self {
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal error",
            "server",
            "the server failed; see its log",
        )
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Invalid { field, rule } => Self::bad_request(field, rule),
            StoreError::NotFound(what) => Self::not_found(what),
            other if crate::listener::is_resource_exhaustion(&other) => {
                tracing::error!(error = %other, "store failed: out of resources");
                Self::unavailable("the server is out of resources for now; retry later")
            }
            other => {
                tracing::error!(error = %other, source = ?std::error::Error::source(&other), "store failed");
                Self::internal()
            }
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = json!({"errors": [{
            "title": self.title,
            "source": self.source,
            "detail": self.detail,
            "status": self.status.as_u16(),
        }]});
        let mut response = (self.status, Json(body)).into_response();
        if self.status == StatusCode::SERVICE_UNAVAILABLE {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        }
        response
    }
}
