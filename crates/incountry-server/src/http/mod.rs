//! The HTTP API: routes, authentication, request reading and error answers.

mod attachments;
mod oauth;
mod records;

use std::sync::Arc;

use axum::Json;
use axum::Router;
use axum::body::Body;
use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use chrono::Utc;
use incountry_model::{AttachmentMeta, Country, ServerRecord};
use serde_json::{Value, json};

use crate::config::Countries;
use crate::error::ApiError;
use crate::partitions::{Partition, Partitions};
use crate::store::{StoredAttachment, StoredRecord};
use crate::token::TokenSigner;

/// Shared state of every handler.
#[derive(Debug)]
pub(crate) struct AppState {
    pub(crate) partitions: Partitions,
    pub(crate) signer: TokenSigner,
    pub(crate) clients: Vec<crate::config::ClientCredentials>,
    pub(crate) countries: Countries,
    pub(crate) token_ttl: std::time::Duration,
    pub(crate) max_json_body: usize,
    pub(crate) public_url: Option<String>,
    pub(crate) limiter: Option<crate::rate_limit::Limiter>,
}

/// The environment a request was authenticated for.
#[derive(Debug, Clone)]
pub(crate) struct Env(pub(crate) String);

pub(crate) fn router(state: Arc<AppState>) -> Router {
    let records = "/v2/storage/records/{cc}";
    let storage = Router::new()
        .route(records, post(records::write))
        .route(&format!("{records}/batchWrite"), post(records::batch_write))
        .route(
            &format!("{records}/batchDelete"),
            post(records::batch_delete),
        )
        .route(&format!("{records}/find"), post(records::find))
        .route(
            &format!("{records}/{{rk}}"),
            get(records::read).delete(records::delete),
        )
        .route(
            &format!("{records}/{{rk}}/attachments"),
            post(attachments::add).put(attachments::upsert),
        )
        .route(
            &format!("{records}/{{rk}}/attachments/{{file_id}}"),
            get(attachments::download).delete(attachments::delete),
        )
        .route(
            &format!("{records}/{{rk}}/attachments/{{file_id}}/meta"),
            get(attachments::meta).patch(attachments::update_meta),
        )
        .route_layer(middleware::from_fn_with_state(state.clone(), authenticate));
    Router::new()
        .merge(storage)
        .route("/healthcheck", get(healthcheck))
        .route("/oauth2/token", post(oauth::token))
        .route("/countries", get(countries))
        .fallback(fallback)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::disable())
        .layer(middleware::from_fn(log_request))
        .with_state(state)
}

async fn healthcheck() -> Json<Value> {
    Json(json!({"result": "ok"}))
}

async fn countries(State(app): State<Arc<AppState>>) -> Json<Value> {
    Json(crate::countries::countries_body(&app.countries))
}

async fn method_not_allowed() -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method not allowed",
        "method",
        "this route does not take this method",
    )
}

async fn fallback() -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, "not found", "path", "no such route")
}

/// Logs each request's method, path, status and duration (at debug level; errors the server
/// caused at warn). Paths hold only hashed keys and file ids.
async fn log_request(req: Request, next: Next) -> Response {
    let method = req.method().clone();
    let path = req.uri().path().to_owned();
    let started = std::time::Instant::now();
    let response = next.run(req).await;
    let status = response.status();
    let elapsed_ms = started.elapsed().as_millis();
    if status.is_server_error() {
        tracing::warn!(%method, %path, status = status.as_u16(), elapsed_ms, "request failed");
    } else {
        tracing::debug!(%method, %path, status = status.as_u16(), elapsed_ms, "request");
    }
    response
}

/// Checks the bearer token and `x-env-id` of a storage request.
async fn authenticate(State(app): State<Arc<AppState>>, mut req: Request, next: Next) -> Response {
    let token = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            let (scheme, token) = v.trim().split_once(' ')?;
            scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
        });
    let Some(token) = token else {
        return ApiError::unauthorized("an Authorization: Bearer token is required")
            .into_response();
    };
    let claims = match app.signer.verify(token, Utc::now()) {
        Ok(claims) => claims,
        Err(e) => return ApiError::unauthorized(e.describe()).into_response(),
    };
    if !app.audience_admits(&claims.aud, req.headers()) {
        return ApiError::unauthorized("the bearer token was issued for another audience")
            .into_response();
    }
    let env = req.headers().get("x-env-id").and_then(|v| v.to_str().ok());
    if env != Some(claims.env.as_str()) {
        return ApiError::forbidden("x-env-id must be the environment the token was issued for")
            .into_response();
    }
    if let Some(limiter) = &app.limiter {
        if let Err(wait) = limiter.take(&claims.env, std::time::Instant::now()) {
            let seconds = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
            let mut response = ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                "too many requests",
                "x-env-id",
                format!("this environment's rate limit is reached; retry in {seconds} s"),
            )
            .into_response();
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(seconds.max(1)));
            return response;
        }
    }
    req.extensions_mut().insert(Env(claims.env));
    next.run(req).await
}

impl AppState {
    /// The partition of the country in a path, or 400 (malformed) / 404 (not served).
    pub(crate) async fn partition(&self, cc: &str) -> Result<Arc<Partition>, ApiError> {
        let country = Country::new(cc)
            .map_err(|_| ApiError::bad_request("country", "must be a two-letter country code"))?;
        if !self.countries.serves(country) {
            return Err(ApiError::not_found("country"));
        }
        self.partitions.get(country).await.map_err(|e| {
            tracing::error!(error = %e, country = %country, "cannot open the country's store");
            ApiError::internal()
        })
    }

    /// Whether a token issued for `audience` may be used in a request with `headers`.
    ///
    /// An audience is one URL or several separated by spaces (the official SDKs send
    /// `"<endpoint> https://<cc><mask>"` when they differ). One of them must name this server:
    /// the configured public URL, or else the request's `Host` (scheme ignored, so TLS
    /// terminated in front of the server still matches). Tokens issued in-process with an
    /// empty audience ([`Server::issue_token`](crate::Server::issue_token)) are valid anywhere.
    pub(crate) fn audience_admits(&self, audience: &str, headers: &HeaderMap) -> bool {
        if audience.is_empty() {
            return true;
        }
        let host = headers.get(header::HOST).and_then(|v| v.to_str().ok());
        audience.split_whitespace().any(|url| {
            let url = url.trim_end_matches('/');
            match &self.public_url {
                Some(public) => url.eq_ignore_ascii_case(public.trim_end_matches('/')),
                None => host.is_some_and(|host| {
                    let authority = url.split_once("://").map_or(url, |(_, rest)| rest);
                    authority.eq_ignore_ascii_case(host)
                }),
            }
        })
    }

    /// The base of download links: the configured public URL or `http://<Host>`.
    pub(crate) fn base_url(&self, headers: &HeaderMap) -> String {
        if let Some(url) = &self.public_url {
            return url.trim_end_matches('/').to_owned();
        }
        let host = headers
            .get(header::HOST)
            .and_then(|v| v.to_str().ok())
            .filter(|h| !h.is_empty())
            .unwrap_or("localhost");
        format!("http://{host}")
    }
}

/// Reads a JSON body of at most `limit` bytes: 413 beyond, 400 when not JSON.
pub(crate) async fn read_json(body: Body, limit: usize) -> Result<Value, ApiError> {
    let bytes = axum::body::to_bytes(body, limit).await.map_err(|e| {
        let too_large =
            std::iter::successors(Some(&e as &(dyn std::error::Error + 'static)), |e| {
                e.source()
            })
            .any(|e| e.is::<http_body_util::LengthLimitError>());
        if too_large {
            ApiError::too_large(format!("the body is larger than {limit} bytes"))
        } else {
            ApiError::bad_request("body", "the body could not be read")
        }
    })?;
    serde_json::from_slice(&bytes)
        .map_err(|e| ApiError::bad_request("body", format!("not valid JSON: {e}")))
}

/// Checks that a JSON object has only `allowed` members.
pub(crate) fn only_members(value: &Value, what: &str, allowed: &[&str]) -> Result<(), ApiError> {
    let Value::Object(map) = value else {
        return Err(ApiError::bad_request(what, "must be a JSON object"));
    };
    if let Some(unknown) = map.keys().find(|k| !allowed.contains(&k.as_str())) {
        return Err(ApiError::bad_request(
            format!("{what}.{unknown}"),
            "is not a known member",
        ));
    }
    Ok(())
}

pub(crate) fn attachment_meta(base: &str, cc: &str, a: &StoredAttachment) -> AttachmentMeta {
    let link = format!(
        "{base}/v2/storage/records/{cc}/{}/attachments/{}",
        encode_segment(&a.record_key),
        a.file_id
    );
    AttachmentMeta::new(
        a.file_id.clone(),
        a.filename.clone(),
        a.hash.clone(),
        a.mime_type.clone(),
        a.size,
        a.created_at,
        a.updated_at,
        link,
    )
}

pub(crate) fn server_record(base: &str, cc: &str, stored: StoredRecord) -> ServerRecord {
    let mut record = stored.record;
    record.attachments = Some(
        stored
            .attachments
            .iter()
            .map(|a| attachment_meta(base, cc, a))
            .collect(),
    );
    ServerRecord(record)
}

fn encode_segment(text: &str) -> String {
    percent_encoding::utf8_percent_encode(text, percent_encoding::NON_ALPHANUMERIC).to_string()
}
