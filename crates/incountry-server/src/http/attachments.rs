//! The attachments routes: add, upsert, download, meta, update meta, delete.
//!
//! Uploads stream to a temporary file in the country's file directory while their SHA-256 is
//! computed, then move to a path named by the server-generated file id.

use std::path::PathBuf;
use std::sync::Arc;

use axum::Json;
use axum::body::Body;
use axum::extract::{Extension, FromRequest, Multipart, Path, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::Utc;
use incountry_model::AttachmentMetaUpdate;
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC};
use serde_json::Value;
use sha2::{Digest, Sha256};
use tokio::io::AsyncWriteExt;
use uuid::Uuid;

use super::{AppState, AuditDetail, Env, attachment_meta, only_members, openapi, read_json};
use crate::error::ApiError;
use crate::partitions::Partition;
use crate::store::StoredAttachment;

/// The largest attachment accepted: 100 MiB.
pub(crate) const MAX_ATTACHMENT_BYTES: u64 = 104_857_600;

/// Room for the multipart framing around the largest attachment.
const MULTIPART_OVERHEAD: u64 = 64 * 1024;

/// What `filename*=UTF-8''...` leaves unencoded: letters, digits and `-._~`.
const FILENAME_ENCODE: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// Held while a replacement (`PUT`) moves its content into place and records its metadata:
/// two replacements of one file name both reuse its file id, and unserialised, the content of
/// one could end up under the metadata of the other.
static REPLACING: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// Removes a half-written upload unless it was kept.
struct UploadGuard {
    path: Option<PathBuf>,
}

impl Drop for UploadGuard {
    fn drop(&mut self) {
        if let Some(path) = self.path.take() {
            let _ = std::fs::remove_file(path);
        }
    }
}

/// One parameter of a `Content-Disposition` value, unquoted.
fn disposition_params(text: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut chars = text.chars().peekable();
    // Skip the disposition type.
    for c in chars.by_ref() {
        if c == ';' {
            break;
        }
    }
    loop {
        while chars.peek().is_some_and(|c| c.is_whitespace() || *c == ';') {
            chars.next();
        }
        let mut name = String::new();
        while let Some(&c) = chars.peek() {
            if c == '=' || c == ';' {
                break;
            }
            name.push(c);
            chars.next();
        }
        if name.is_empty() && chars.peek().is_none() {
            break;
        }
        let mut value = String::new();
        if chars.peek() == Some(&'=') {
            chars.next();
            if chars.peek() == Some(&'"') {
                chars.next();
                while let Some(c) = chars.next() {
                    match c {
                        '\\' => {
                            if let Some(next) = chars.next() {
                                value.push(next);
                            }
                        }
                        '"' => break,
                        other => value.push(other),
                    }
                }
            } else {
                while let Some(&c) = chars.peek() {
                    if c == ';' {
                        break;
                    }
                    value.push(c);
                    chars.next();
                }
            }
        }
        out.push((
            name.trim().to_ascii_lowercase(),
            value.trim_end().to_owned(),
        ));
        if chars.peek().is_none() {
            break;
        }
    }
    out
}

/// The file name of a part: `filename*=UTF-8''<percent-encoded>` first, else `filename`.
fn part_filename(headers: &HeaderMap) -> Option<String> {
    let raw = headers.get(header::CONTENT_DISPOSITION)?.as_bytes();
    let params = disposition_params(&String::from_utf8_lossy(raw));
    let extended = params
        .iter()
        .find(|(n, _)| n == "filename*")
        .and_then(|(_, v)| {
            let (charset, rest) = v.split_once('\'')?;
            let (_, encoded) = rest.split_once('\'')?;
            let decoded = percent_encoding::percent_decode_str(encoded);
            if charset.eq_ignore_ascii_case("utf-8") {
                decoded.decode_utf8().ok().map(|s| s.into_owned())
            } else {
                Some(decoded.map(char::from).collect())
            }
        });
    extended
        .or_else(|| {
            params
                .into_iter()
                .find(|(n, _)| n == "filename")
                .map(|(_, v)| v)
        })
        .filter(|name| !name.is_empty())
}

/// Checks that the record exists (404 otherwise).
async fn require_record(partition: &Partition, env: &str, rk: &str) -> Result<(), ApiError> {
    match partition.store.get(env, rk, Utc::now()).await? {
        Some(_) => Ok(()),
        None => Err(ApiError::not_found("record")),
    }
}

fn multipart_error(e: axum::extract::multipart::MultipartError) -> ApiError {
    if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
        ApiError::too_large("the attachment is too large")
    } else {
        ApiError::bad_request(
            "body",
            format!("malformed multipart body: {}", e.body_text()),
        )
    }
}

struct Upload {
    path: PathBuf,
    guard: UploadGuard,
    filename: String,
    mime_type: String,
    hash: String,
    size: u64,
}

/// Streams the `file` part to a temporary file, hashing it on the way.
async fn receive(app: &AppState, partition: &Partition, req: Request) -> Result<Upload, ApiError> {
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > MAX_ATTACHMENT_BYTES + MULTIPART_OVERHEAD) {
        return Err(ApiError::too_large(format!(
            "Attachment is too large. Max allowed attachment size is {MAX_ATTACHMENT_BYTES} bytes"
        )));
    }
    let mut multipart = Multipart::from_request(req, app)
        .await
        .map_err(|e| ApiError::bad_request("body", e.body_text()))?;
    let mut upload = None;
    while let Some(mut field) = multipart.next_field().await.map_err(multipart_error)? {
        if field.name() != Some("file") || upload.is_some() {
            return Err(ApiError::bad_request(
                "body",
                "expected exactly one multipart part, named \"file\"",
            ));
        }
        let filename = part_filename(field.headers()).unwrap_or_else(|| "file".to_owned());
        incountry_model::validate_filename(&filename)
            .map_err(|e| ApiError::bad_request("filename", e.to_string()))?;
        let mime_type = field
            .content_type()
            .filter(|m| !m.trim().is_empty())
            .unwrap_or("application/octet-stream")
            .to_owned();
        let path = partition.files.upload_path();
        let guard = UploadGuard {
            path: Some(path.clone()),
        };
        let io_error = |e: std::io::Error| {
            tracing::error!(error = %e, "cannot write an upload");
            if crate::listener::is_resource_exhaustion(&e) {
                ApiError::unavailable("the server is out of descriptors or disk space; retry later")
            } else {
                ApiError::internal()
            }
        };
        let mut file = tokio::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&path)
            .await
            .map_err(io_error)?;
        let mut hasher = Sha256::new();
        let mut size: u64 = 0;
        while let Some(chunk) = field.chunk().await.map_err(multipart_error)? {
            size += chunk.len() as u64;
            if size > MAX_ATTACHMENT_BYTES {
                return Err(ApiError::too_large(format!(
                    "Attachment is too large. Max allowed attachment size is {MAX_ATTACHMENT_BYTES} bytes"
                )));
            }
            hasher.update(&chunk);
            file.write_all(&chunk).await.map_err(io_error)?;
        }
        file.flush().await.map_err(io_error)?;
        file.sync_all().await.map_err(io_error)?;
        upload = Some(Upload {
            path,
            guard,
            filename,
            mime_type,
            hash: hex::encode(hasher.finalize()),
            size,
        });
    }
    upload
        .ok_or_else(|| ApiError::bad_request("file", "a multipart part named \"file\" is required"))
}

async fn store_upload(
    app: Arc<AppState>,
    env: &str,
    cc: String,
    rk: String,
    headers: HeaderMap,
    req: Request,
    replace: bool,
) -> Result<Response, ApiError> {
    let partition = app.partition(&cc).await?;
    require_record(&partition, env, &rk).await?;
    let mut upload = receive(&app, &partition, req).await?;
    let _replacing = if replace {
        Some(REPLACING.lock().await)
    } else {
        None
    };
    let existing = if replace {
        partition
            .store
            .attachment_by_filename(env, &rk, &upload.filename)
            .await?
    } else {
        None
    };
    let file_id = existing
        .as_ref()
        .and_then(|a| Uuid::parse_str(&a.file_id).ok())
        .unwrap_or_else(Uuid::new_v4);
    let target = partition.files.path(&file_id);
    tokio::fs::rename(&upload.path, &target)
        .await
        .map_err(|e| {
            tracing::error!(error = %e, "cannot move an upload into place");
            ApiError::internal()
        })?;
    upload.guard.path = None;
    let now = Utc::now();
    let attachment = StoredAttachment::new(
        file_id.hyphenated().to_string(),
        rk.clone(),
        upload.filename,
        upload.hash,
        upload.mime_type,
        upload.size,
        now,
        now,
    );
    let stored = match partition.store.put_attachment(env, &attachment, now).await {
        Ok(stored) => stored,
        Err(e) => {
            let _ = tokio::fs::remove_file(&target).await;
            return Err(e.into());
        }
    };
    let base = app.base_url(&headers);
    let detail = AuditDetail {
        file_id: Some(stored.file_id.clone()),
        ..AuditDetail::default()
    };
    Ok(detail.on((
        StatusCode::CREATED,
        Json(attachment_meta(&base, &cc.to_ascii_lowercase(), &stored)),
    )
        .into_response()))
}

#[utoipa::path(
    post,
    path = "/v2/storage/records/{cc}/{rk}/attachments",
    operation_id = "attachment_add",
    tag = "attachments",
    summary = "Attach a file to a record",
    params(("cc" = String, Path, description = "Two-letter country code"), ("rk" = String, Path, description = "The record key hash"), ("x-env-id" = String, Header, description = "The environment id the token was issued for")),
    request_body(content = openapi::Upload, content_type = "multipart/form-data"),
    security(("bearer" = [])),
    responses(
        (status = 201, description = "Attached", body = openapi::AttachmentMeta),
        (status = 400, description = "Bad input", body = openapi::ErrorBody),
        (status = 404, description = "No such record", body = openapi::ErrorBody),
        (status = 413, description = "Body over the size limit", body = openapi::ErrorBody),
        openapi::Refusals,
    )
)]
pub(super) async fn add(
    State(app): State<Arc<AppState>>,
    Extension(Env(env)): Extension<Env>,
    Path((cc, rk)): Path<(String, String)>,
    headers: HeaderMap,
    req: Request,
) -> Result<Response, ApiError> {
    store_upload(app, &env, cc, rk, headers, req, false).await
}

#[utoipa::path(
    put,
    path = "/v2/storage/records/{cc}/{rk}/attachments",
    operation_id = "attachment_upsert",
    tag = "attachments",
    summary = "Attach a file, replacing the one with the same name",
    params(("cc" = String, Path, description = "Two-letter country code"), ("rk" = String, Path, description = "The record key hash"), ("x-env-id" = String, Header, description = "The environment id the token was issued for")),
    request_body(content = openapi::Upload, content_type = "multipart/form-data"),
    security(("bearer" = [])),
    responses(
        (status = 201, description = "Attached", body = openapi::AttachmentMeta),
        (status = 400, description = "Bad input", body = openapi::ErrorBody),
        (status = 404, description = "No such record", body = openapi::ErrorBody),
        (status = 413, description = "Body over the size limit", body = openapi::ErrorBody),
        openapi::Refusals,
    )
)]
pub(super) async fn upsert(
    State(app): State<Arc<AppState>>,
    Extension(Env(env)): Extension<Env>,
    Path((cc, rk)): Path<(String, String)>,
    headers: HeaderMap,
    req: Request,
) -> Result<Response, ApiError> {
    store_upload(app, &env, cc, rk, headers, req, true).await
}

/// The attachment in a path; 404 when the id is not a UUID or not on this record.
async fn find_attachment(
    app: &AppState,
    env: &str,
    cc: &str,
    rk: &str,
    file_id: &str,
) -> Result<(Arc<Partition>, StoredAttachment, Uuid), ApiError> {
    let partition = app.partition(cc).await?;
    let uuid = Uuid::parse_str(file_id).map_err(|_| ApiError::not_found("attachment"))?;
    require_record(&partition, env, rk).await?;
    let attachment = partition
        .store
        .attachment(env, rk, &uuid.hyphenated().to_string())
        .await?
        .ok_or(ApiError::not_found("attachment"))?;
    Ok((partition, attachment, uuid))
}

#[utoipa::path(
    get,
    path = "/v2/storage/records/{cc}/{rk}/attachments/{file_id}",
    operation_id = "attachment_download",
    tag = "attachments",
    summary = "Download an attachment",
    params(("cc" = String, Path, description = "Two-letter country code"), ("rk" = String, Path, description = "The record key hash"), ("file_id" = String, Path, description = "The attachment id (a UUID)"), ("x-env-id" = String, Header, description = "The environment id the token was issued for")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The content", content_type = "application/octet-stream", body = Vec<u8>),
        (status = 400, description = "Bad input", body = openapi::ErrorBody),
        (status = 404, description = "No such record or attachment", body = openapi::ErrorBody),
        (status = 413, description = "Body over the size limit", body = openapi::ErrorBody),
        openapi::Refusals,
    )
)]
pub(super) async fn download(
    State(app): State<Arc<AppState>>,
    Extension(Env(env)): Extension<Env>,
    Path((cc, rk, file_id)): Path<(String, String, String)>,
) -> Result<Response, ApiError> {
    let (partition, attachment, uuid) = find_attachment(&app, &env, &cc, &rk, &file_id).await?;
    let file = tokio::fs::File::open(partition.files.path(&uuid))
        .await
        .map_err(|_| ApiError::not_found("attachment"))?;
    let length = file
        .metadata()
        .await
        .map(|m| m.len())
        .unwrap_or(attachment.size);
    let content_type = HeaderValue::from_str(&attachment.mime_type)
        .unwrap_or(HeaderValue::from_static("application/octet-stream"));
    let disposition = format!(
        "attachment; filename*=UTF-8''{}",
        percent_encoding::utf8_percent_encode(&attachment.filename, FILENAME_ENCODE)
    );
    let mut response = Body::from_stream(tokio_util::io::ReaderStream::new(file)).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, content_type);
    if let Ok(value) = HeaderValue::from_str(&disposition) {
        headers.insert(header::CONTENT_DISPOSITION, value);
    }
    headers.insert(header::CONTENT_LENGTH, HeaderValue::from(length));
    // The MIME type is the uploader's word: browsers must not sniff a different one.
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    Ok(response)
}

#[utoipa::path(
    get,
    path = "/v2/storage/records/{cc}/{rk}/attachments/{file_id}/meta",
    operation_id = "attachment_meta",
    tag = "attachments",
    summary = "Read an attachment's metadata",
    params(("cc" = String, Path, description = "Two-letter country code"), ("rk" = String, Path, description = "The record key hash"), ("file_id" = String, Path, description = "The attachment id (a UUID)"), ("x-env-id" = String, Header, description = "The environment id the token was issued for")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The metadata", body = openapi::AttachmentMeta),
        (status = 400, description = "Bad input", body = openapi::ErrorBody),
        (status = 404, description = "No such record or attachment", body = openapi::ErrorBody),
        (status = 413, description = "Body over the size limit", body = openapi::ErrorBody),
        openapi::Refusals,
    )
)]
pub(super) async fn meta(
    State(app): State<Arc<AppState>>,
    Extension(Env(env)): Extension<Env>,
    Path((cc, rk, file_id)): Path<(String, String, String)>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let (_, attachment, _) = find_attachment(&app, &env, &cc, &rk, &file_id).await?;
    let base = app.base_url(&headers);
    Ok(Json(attachment_meta(
        &base,
        &cc.to_ascii_lowercase(),
        &attachment,
    ))
    .into_response())
}

#[utoipa::path(
    patch,
    path = "/v2/storage/records/{cc}/{rk}/attachments/{file_id}/meta",
    operation_id = "attachment_meta_update",
    tag = "attachments",
    summary = "Rename an attachment or change its MIME type",
    params(("cc" = String, Path, description = "Two-letter country code"), ("rk" = String, Path, description = "The record key hash"), ("file_id" = String, Path, description = "The attachment id (a UUID)"), ("x-env-id" = String, Header, description = "The environment id the token was issued for")),
    request_body(content = openapi::AttachmentMetaUpdate, content_type = "application/json"),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The new metadata", body = openapi::AttachmentMeta),
        (status = 400, description = "Bad input", body = openapi::ErrorBody),
        (status = 404, description = "No such record or attachment", body = openapi::ErrorBody),
        (status = 413, description = "Body over the size limit", body = openapi::ErrorBody),
        (status = 415, description = "Body not sent as Content-Type: application/json", body = openapi::ErrorBody),
        openapi::Refusals,
    )
)]
pub(super) async fn update_meta(
    State(app): State<Arc<AppState>>,
    Extension(Env(env)): Extension<Env>,
    Path((cc, rk, file_id)): Path<(String, String, String)>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let value: Value = read_json(&headers, body, app.max_json_body).await?;
    only_members(&value, "body", &["filename", "mime_type"])?;
    let update: AttachmentMetaUpdate =
        serde_json::from_value(value).map_err(|e| ApiError::bad_request("body", e.to_string()))?;
    update
        .validate()
        .map_err(|e| ApiError::bad_request(e.field().unwrap_or("body"), e.to_string()))?;
    let (partition, attachment, _) = find_attachment(&app, &env, &cc, &rk, &file_id).await?;
    let updated = partition
        .store
        .update_attachment(
            &env,
            &rk,
            &attachment.file_id,
            update.filename.as_deref(),
            update.mime_type.as_deref(),
            Utc::now(),
        )
        .await?
        .ok_or(ApiError::not_found("attachment"))?;
    let base = app.base_url(&headers);
    Ok(Json(attachment_meta(&base, &cc.to_ascii_lowercase(), &updated)).into_response())
}

#[utoipa::path(
    delete,
    path = "/v2/storage/records/{cc}/{rk}/attachments/{file_id}",
    operation_id = "attachment_delete",
    tag = "attachments",
    summary = "Delete an attachment",
    params(("cc" = String, Path, description = "Two-letter country code"), ("rk" = String, Path, description = "The record key hash"), ("file_id" = String, Path, description = "The attachment id (a UUID)"), ("x-env-id" = String, Header, description = "The environment id the token was issued for")),
    security(("bearer" = [])),
    responses(
        (status = 204, description = "Deleted"),
        (status = 400, description = "Bad input", body = openapi::ErrorBody),
        (status = 404, description = "No such record or attachment", body = openapi::ErrorBody),
        (status = 413, description = "Body over the size limit", body = openapi::ErrorBody),
        openapi::Refusals,
    )
)]
pub(super) async fn delete(
    State(app): State<Arc<AppState>>,
    Extension(Env(env)): Extension<Env>,
    Path((cc, rk, file_id)): Path<(String, String, String)>,
) -> Result<Response, ApiError> {
    let (partition, attachment, _) = find_attachment(&app, &env, &cc, &rk, &file_id).await?;
    if !partition
        .store
        .delete_attachment(&env, &rk, &attachment.file_id)
        .await?
    {
        return Err(ApiError::not_found("attachment"));
    }
    partition.files.remove_all(&[attachment.file_id]).await;
    Ok(StatusCode::NO_CONTENT.into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name(disposition: &str) -> Option<String> {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::CONTENT_DISPOSITION,
            HeaderValue::from_bytes(disposition.as_bytes()).unwrap(),
        );
        part_filename(&headers)
    }

    #[test]
    fn file_names_read_quoted_utf8_and_extended_forms() {
        assert_eq!(
            name("form-data; name=\"file\"; filename=\"r\u{e9}sum\u{e9}; \\\"1\\\".txt\"")
                .as_deref(),
            Some("r\u{e9}sum\u{e9}; \"1\".txt")
        );
        assert_eq!(
            name("form-data; name=\"file\"; filename*=UTF-8''r%C3%A9sum%C3%A9%20%281%29.txt")
                .as_deref(),
            Some("r\u{e9}sum\u{e9} (1).txt")
        );
        assert_eq!(
            name("form-data; name=\"file\"; filename=\"plain.txt\"; filename*=utf-8''fancy%E2%9C%93.txt").as_deref(),
            Some("fancy\u{2713}.txt")
        );
        assert_eq!(name("form-data; name=\"file\""), None);
        assert_eq!(name("form-data; name=\"file\"; filename=\"\""), None);
    }
}
