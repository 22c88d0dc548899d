//! The HTTP API: routes, authentication, request reading and error answers.

mod attachments;
mod oauth;
pub(crate) mod openapi;
mod records;

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Json;
use axum::Router;
use axum::body::Body;
use axum::extract::{
    ConnectInfo, DefaultBodyLimit, Extension, FromRequestParts, MatchedPath, RawPathParams,
    Request, State,
};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use chrono::Utc;
use incountry_model::{AttachmentMeta, Country, ServerRecord};
use serde_json::{Value, json};
use utoipa::OpenApi as _;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::audit::{AuditEntry, AuditOperation, Source as AuditSource};
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
    pub(crate) client_any_environment: bool,
    pub(crate) countries: Countries,
    pub(crate) token_ttl: std::time::Duration,
    pub(crate) max_json_body: usize,
    pub(crate) public_urls: Vec<String>,
    pub(crate) limiter: Option<crate::rate_limit::Limiter>,
    pub(crate) token_failures: crate::rate_limit::FailureLimiter,
    /// The requests being handled (each on a task of its own, see `run_to_the_end`).
    pub(crate) requests: tokio_util::task::TaskTracker,
    pub(crate) audit: Option<crate::audit::AuditLog>,
}

/// The environment a request was authenticated for.
#[derive(Debug, Clone)]
pub(crate) struct Env(pub(crate) Arc<str>);

/// The routes with their OpenAPI operations: the storage routes behind authentication (and
/// the audit trail), the service routes open.
fn api(state: &Arc<AppState>) -> OpenApiRouter<Arc<AppState>> {
    let storage = OpenApiRouter::new()
        .routes(routes!(records::write))
        .routes(routes!(records::batch_write))
        .routes(routes!(records::batch_delete))
        .routes(routes!(records::find))
        .routes(routes!(records::read, records::delete))
        .routes(routes!(attachments::add, attachments::upsert))
        .routes(routes!(attachments::download, attachments::delete))
        .routes(routes!(attachments::meta, attachments::update_meta))
        .route_layer(middleware::from_fn_with_state(state.clone(), authenticate))
        .route_layer(middleware::from_fn_with_state(state.clone(), audit));
    OpenApiRouter::with_openapi(openapi::ApiDoc::openapi())
        .merge(storage)
        .routes(routes!(healthcheck))
        .routes(routes!(readyz))
        .routes(routes!(oauth::token))
        .routes(routes!(countries))
        .routes(routes!(openapi_json))
}

/// The OpenAPI description of every route [`router`] serves.
pub(crate) fn openapi_document(state: &Arc<AppState>) -> utoipa::openapi::OpenApi {
    api(state).into_openapi()
}

pub(crate) fn router(state: Arc<AppState>) -> Router {
    let (routes, document) = api(&state).split_for_parts();
    let document = match document.to_json() {
        Ok(json) => OpenApiJson(Arc::from(json)),
        Err(e) => {
            tracing::error!(error = %e, "cannot serialise the OpenAPI description");
            OpenApiJson(Arc::from("{}"))
        }
    };
    routes
        .fallback(fallback)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(Extension(document))
        .layer(DefaultBodyLimit::disable())
        .layer(middleware::from_fn(log_request))
        .layer(middleware::from_fn_with_state(
            state.clone(),
            run_to_the_end,
        ))
        .with_state(state)
}

/// Handles each request on a task of its own, so that a client that disconnects cannot cut
/// it short: hyper then drops this future, but the handler (its store operations, moving an
/// upload into place, removing a deleted record's files) and its audit entry run to their
/// end; only the answer is lost. See `crate::detach` for what a cut used to break. The tasks
/// are tracked, so that a graceful shutdown waits for them (within its deadline).
async fn run_to_the_end(State(app): State<Arc<AppState>>, req: Request, next: Next) -> Response {
    match crate::detach::detached(app.requests.track_future(next.run(req))).await {
        Ok(response) => response,
        Err(crate::detach::Interrupted) => ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "shutting down",
            "server",
            "the server is shutting down",
        )
        .into_response(),
    }
}

/// The serialised OpenAPI description.
#[derive(Debug, Clone)]
struct OpenApiJson(Arc<str>);

#[utoipa::path(
    get,
    path = "/openapi.json",
    operation_id = "openapi",
    tag = "service",
    summary = "This OpenAPI description",
    responses((status = 200, description = "The OpenAPI 3.1 document", content_type = "application/json", body = Object))
)]
async fn openapi_json(Extension(OpenApiJson(json)): Extension<OpenApiJson>) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        json.to_string(),
    )
        .into_response()
}

#[utoipa::path(
    get,
    path = "/healthcheck",
    operation_id = "healthcheck",
    tag = "service",
    summary = "Whether the server is up",
    responses((status = 200, description = "Up", body = openapi::Health))
)]
async fn healthcheck() -> Json<Value> {
    Json(json!({"result": "ok"}))
}

#[utoipa::path(
    get,
    path = "/readyz",
    operation_id = "readyz",
    tag = "service",
    summary = "Whether the server can serve storage requests now",
    description = "Not ready while a country's audit trail cannot be written (storage requests \
                   of that country answer 503 then). A server whose trail fails open stays \
                   ready and lists the problem in `warnings`.",
    responses(
        (status = 200, description = "Ready", body = openapi::Readiness),
        (status = 503, description = "Not ready; `reasons` says why", body = openapi::Readiness),
    )
)]
async fn readyz(State(app): State<Arc<AppState>>) -> Response {
    let mut problems = Vec::new();
    if let Some(log) = &app.audit {
        if !log.unwritable().await.is_empty() {
            problems.push("audit trail cannot be written");
        }
    }
    let fails_open = app.audit.as_ref().is_some_and(|log| log.fails_open());
    if problems.is_empty() {
        Json(json!({"ready": true})).into_response()
    } else if fails_open {
        Json(json!({"ready": true, "warnings": problems})).into_response()
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({"ready": false, "reasons": problems})),
        )
            .into_response()
    }
}

#[utoipa::path(
    get,
    path = "/countries",
    operation_id = "countries",
    tag = "service",
    summary = "The countries this server serves",
    responses((status = 200, description = "The countries", body = openapi::CountriesResponse))
)]
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

/// Who made an authenticated storage request: put on the response for the audit trail.
#[derive(Debug, Clone)]
pub(crate) struct Principal {
    client_id: Arc<str>,
    environment_id: Arc<str>,
}

/// What a handler tells the audit trail about its request, on the response: the record
/// keys (hashes) it touched, a count, an attachment id. Never bodies.
#[derive(Debug, Clone, Default)]
pub(crate) struct AuditDetail {
    pub(crate) record_key: Option<String>,
    pub(crate) record_keys: Vec<String>,
    pub(crate) file_id: Option<String>,
    pub(crate) count: Option<u64>,
}

impl AuditDetail {
    /// Adds this detail to `response`.
    pub(crate) fn on(self, mut response: Response) -> Response {
        response.extensions_mut().insert(self);
        response
    }
}

/// Writes one audit entry per storage request of a served country, after it is answered;
/// answers 503 without running the request while the country's trail cannot be written
/// (unless the trail fails open).
///
/// A refused request's entry (401, 403, 429, 503, or no authenticated client) names no
/// record key or attachment (those are whatever the client put in the path) and is counted
/// per source address by the writer; every text member of an entry is bounded.
async fn audit(State(app): State<Arc<AppState>>, req: Request, next: Next) -> Response {
    let Some(log) = &app.audit else {
        return next.run(req).await;
    };
    let operation = req
        .extensions()
        .get::<MatchedPath>()
        .and_then(|path| AuditOperation::of(req.method(), path.as_str()));
    let source = req
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(address)| address.ip().to_canonical());
    let (mut parts, body) = req.into_parts();
    let params = RawPathParams::from_request_parts(&mut parts, &app)
        .await
        .ok();
    let param = |name: &str| {
        params.as_ref().and_then(|params| {
            params
                .iter()
                .find(|(n, _)| *n == name)
                .map(|(_, v)| crate::audit::bounded(v))
        })
    };
    let country = param("cc")
        .and_then(|cc| Country::new(&cc).ok())
        .filter(|country| app.countries.serves(*country));
    let req = Request::from_parts(parts, body);
    let (Some(operation), Some(country)) = (operation, country) else {
        return next.run(req).await;
    };
    let (rk, file_id) = (param("rk"), param("file_id"));
    let response = if log.admits(country).await {
        next.run(req).await
    } else {
        // A 503 answers with `Retry-After: 1` (see `ApiError`).
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "audit trail unavailable",
            "audit",
            "the audit trail cannot be written, so the request was not run; retry later",
        )
        .into_response()
    };
    let status = response.status();
    let principal = response.extensions().get::<Principal>();
    let refused = principal.is_none()
        || matches!(
            status,
            StatusCode::UNAUTHORIZED
                | StatusCode::FORBIDDEN
                | StatusCode::TOO_MANY_REQUESTS
                | StatusCode::SERVICE_UNAVAILABLE
        );
    let mut entry = AuditEntry::new(operation, status.as_u16());
    entry.client_id = principal
        .map(|p| p.client_id.to_string())
        .filter(|id| !id.is_empty());
    entry.environment_id = principal.map(|p| p.environment_id.to_string());
    entry.source = source.map(|ip| ip.to_string());
    if !refused {
        let detail = response
            .extensions()
            .get::<AuditDetail>()
            .cloned()
            .unwrap_or_default();
        entry.record_key = detail.record_key.or(rk);
        entry.record_keys = detail.record_keys;
        entry.file_id = detail.file_id.or(file_id);
        entry.count = detail.count;
    }
    let refused = refused.then(|| AuditSource::of(source));
    log.record(country, entry.bounded(), refused).await;
    response
}

/// Checks the bearer token and `x-env-id` of a storage request, and the client's rate limit.
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
    let claims = match app.signer.verify_cached(token, Utc::now()) {
        Ok(claims) => claims,
        Err(e) => return ApiError::unauthorized(e.describe()).into_response(),
    };
    if !app.audience_admits(&claims.aud, req.headers()) {
        return ApiError::unauthorized("the bearer token was issued for another audience")
            .into_response();
    }
    // A token names its client: once the client is no longer registered (or no longer bound
    // to the token's environment), its tokens stop working at once. Tokens issued in-process
    // name no client.
    if !claims.cid.is_empty() {
        let current = app.clients.iter().any(|c| {
            c.client_id == *claims.cid
                && c.admits_environment(&claims.env, app.client_any_environment)
        });
        if !current {
            return ApiError::unauthorized(
                "the bearer token's client is no longer registered for this environment",
            )
            .into_response();
        }
    }
    let principal = Principal {
        client_id: claims.cid.clone(),
        environment_id: claims.env.clone(),
    };
    let env = req.headers().get("x-env-id").and_then(|v| v.to_str().ok());
    if env != Some(&*claims.env) {
        let mut response =
            ApiError::forbidden("x-env-id must be the environment the token was issued for")
                .into_response();
        response.extensions_mut().insert(principal);
        return response;
    }
    if let Some(limiter) = &app.limiter {
        if let Err(wait) = limiter.take(&claims.cid, &claims.env, std::time::Instant::now()) {
            let seconds = crate::rate_limit::retry_after_seconds(wait);
            let mut response = ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                "too many requests",
                "authorization",
                format!("this client's rate limit is reached; retry in {seconds} s"),
            )
            .into_response();
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
            response.extensions_mut().insert(principal);
            return response;
        }
    }
    req.extensions_mut().insert(Env(claims.env.clone()));
    let mut response = next.run(req).await;
    response.extensions_mut().insert(principal);
    response
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
            // Out of descriptors, memory or disk, or a database that cannot be opened right
            // now: the client may retry; nothing is wrong with its request.
            ApiError::unavailable(format!(
                "the store of country {country} cannot be opened right now; retry later"
            ))
        })
    }

    /// Whether a token issued for `audience` may be used in a request with `headers`.
    ///
    /// An audience is one URL or several separated by spaces (the official SDKs send
    /// `"<endpoint> https://<cc><mask>"` when they differ). One of them must name this server:
    /// one of the configured public URLs, or, when none is configured, the request's `Host`
    /// (scheme ignored, so TLS terminated in front of the server still matches). Tokens
    /// issued in-process with an empty audience
    /// ([`Server::issue_token`](crate::Server::issue_token)) are valid anywhere.
    pub(crate) fn audience_admits(&self, audience: &str, headers: &HeaderMap) -> bool {
        if audience.is_empty() {
            return true;
        }
        let host = headers.get(header::HOST).and_then(|v| v.to_str().ok());
        audience.split_whitespace().any(|url| {
            let url = url.trim_end_matches('/');
            if self.public_urls.is_empty() {
                host.is_some_and(|host| {
                    let authority = url.split_once("://").map_or(url, |(_, rest)| rest);
                    authority.eq_ignore_ascii_case(host)
                })
            } else {
                self.public_urls
                    .iter()
                    .any(|public| url.eq_ignore_ascii_case(public.trim_end_matches('/')))
            }
        })
    }

    /// The base of download links: the first configured public URL or `http://<Host>`.
    pub(crate) fn base_url(&self, headers: &HeaderMap) -> String {
        if let Some(url) = self.public_urls.first() {
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

/// Reads a body of at most `limit` bytes: refused with 413 from its `Content-Length` before
/// anything is read, and while streaming as soon as it passes the limit (so an oversized
/// body is never held in memory); 408 when the client stops sending it.
pub(crate) async fn read_body(
    headers: &HeaderMap,
    body: Body,
    limit: usize,
) -> Result<axum::body::Bytes, ApiError> {
    check_content_length(headers, limit)?;
    axum::body::to_bytes(body, limit)
        .await
        .map_err(|e| body_error(&e, limit))
}

/// 413 when `headers` declare a body longer than `limit`.
pub(crate) fn check_content_length(headers: &HeaderMap, limit: usize) -> Result<(), ApiError> {
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    match declared {
        Some(length) if length > limit as u64 => Err(ApiError::too_large(format!(
            "the body is larger than {limit} bytes"
        ))),
        _ => Ok(()),
    }
}

/// The answer to a body that could not be read: 413 past `limit`, 408 when the client
/// stopped sending, 400 otherwise.
pub(crate) fn body_error(error: &(dyn std::error::Error + 'static), limit: usize) -> ApiError {
    let chain = || std::iter::successors(Some(error), |e| e.source());
    if chain().any(|e| e.is::<http_body_util::LengthLimitError>()) {
        ApiError::too_large(format!("the body is larger than {limit} bytes"))
    } else if chain().any(|e| e.is::<tower_http::timeout::TimeoutError>()) {
        ApiError::new(
            StatusCode::REQUEST_TIMEOUT,
            "request timeout",
            "body",
            "the body stopped arriving; send it without pauses",
        )
    } else {
        ApiError::bad_request("body", "the body could not be read")
    }
}

/// Whether `headers` declare a JSON body: `Content-Type: application/json`, parameters such
/// as `charset` allowed (what every official SDK sends on its JSON routes).
fn declares_json(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|essence| essence.trim().eq_ignore_ascii_case("application/json"))
}

/// Reads a JSON body of at most `limit` bytes (see [`read_body`]): 415 unless `headers` declare JSON, 413 beyond
/// the limit, 400 when not JSON or when an object names a member twice.
pub(crate) async fn read_json(
    headers: &HeaderMap,
    body: Body,
    limit: usize,
) -> Result<Value, ApiError> {
    if !declares_json(headers) {
        return Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported media type",
            "content-type",
            "the body must be sent as Content-Type: application/json",
        ));
    }
    let bytes = read_body(headers, body, limit).await?;
    incountry_model::parse_json_strict(&bytes)
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

/// A `200 OK` JSON response of `value`, written into a buffer of `capacity` bytes up front
/// (axum's `Json` starts small and grows, copying, for bodies of a kilobyte or more).
pub(crate) fn json_response<T: serde::Serialize>(value: &T, capacity: usize) -> Response {
    let mut body = Vec::with_capacity(capacity);
    match serde_json::to_writer(&mut body, value) {
        Ok(()) => (
            [(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            )],
            body,
        )
            .into_response(),
        Err(e) => {
            tracing::error!(error = %e, "cannot serialise a response");
            ApiError::internal().into_response()
        }
    }
}

/// About how many bytes `record` takes as JSON: its texts and the member names around them.
pub(crate) fn json_size_hint(record: &ServerRecord) -> usize {
    let texts: usize = record
        .0
        .text_members()
        .iter()
        .flat_map(|t| t.as_deref())
        .map(str::len)
        .sum();
    let attachments = record
        .0
        .attachments
        .as_ref()
        .map_or(0, |list| list.len() * 512);
    1024 + texts + attachments
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
