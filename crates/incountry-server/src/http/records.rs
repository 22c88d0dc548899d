//! The records routes: write, batch write, read, find, delete, batch delete.

use std::sync::Arc;

use axum::Json;
use axum::body::Body;
use axum::extract::{Extension, Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use chrono::Utc;
use incountry_model::{
    BatchWriteResponse, FindMeta, FindRequest, FindResponse, MAX_BATCH_RECORDS, WIRE_RECORD_FIELDS,
    WireRecord,
};
use serde_json::{Value, json};

use super::{
    AppState, AuditDetail, Env, json_response, json_size_hint, only_members, openapi, read_json,
    server_record,
};
use crate::error::ApiError;
use crate::partitions::Partition;

/// Reads one record of a write: a JSON object of known members with the right types, a
/// non-empty `record_key` and `body`, and a valid `expires_at` (years 1..=9999 in UTC).
/// Server-set members are ignored.
fn parse_record(value: Value, at: &str) -> Result<WireRecord, ApiError> {
    only_members(&value, at, &WIRE_RECORD_FIELDS)?;
    let Value::Object(map) = value else {
        return Err(ApiError::bad_request(at, "must be a JSON object"));
    };
    let mut record =
        WireRecord::from_json_map(map).map_err(|e| ApiError::bad_request(at, e.to_string()))?;
    record.created_at = None;
    record.updated_at = None;
    record.attachments = None;
    record.validate().map_err(|e| {
        ApiError::bad_request(format!("{at}.{}", e.field().unwrap_or("")), e.to_string())
    })?;
    Ok(record)
}

/// Deletes what has expired before a write, so that rewriting an expired record starts a new
/// one (new `created_at`, new place in creation order, none of the old attachments) instead of
/// reviving it.
async fn sweep(partition: &Partition, now: chrono::DateTime<Utc>) -> Result<(), ApiError> {
    let (_, files) = partition.store.sweep_expired(now).await?;
    partition.files.remove_all(&files).await;
    Ok(())
}

#[utoipa::path(
    post,
    path = "/v2/storage/records/{cc}",
    operation_id = "write",
    tag = "records",
    summary = "Write (upsert) a record",
    params(("cc" = String, Path, description = "Two-letter country code"), ("x-env-id" = String, Header, description = "The environment id the token was issued for")),
    request_body(content = openapi::RecordInput, content_type = "application/json"),
    security(("bearer" = [])),
    responses(
        (status = 201, description = "Stored", body = openapi::Record),
        (status = 400, description = "Bad input", body = openapi::ErrorBody),
        (status = 404, description = "Country not served", body = openapi::ErrorBody),
        (status = 413, description = "Body over the size limit", body = openapi::ErrorBody),
        (status = 415, description = "Body not sent as Content-Type: application/json", body = openapi::ErrorBody),
        openapi::Refusals,
    )
)]
pub(super) async fn write(
    State(app): State<Arc<AppState>>,
    Extension(Env(env)): Extension<Env>,
    Path(cc): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let partition = app.partition(&cc).await?;
    let record = parse_record(
        read_json(&headers, body, app.max_json_body).await?,
        "record",
    )?;
    let now = Utc::now();
    sweep(&partition, now).await?;
    let stored = partition.store.upsert(&env, &record, now).await?;
    let base = app.base_url(&headers);
    let detail = AuditDetail {
        record_key: record.record_key.clone(),
        ..AuditDetail::default()
    };
    Ok(detail.on((
        StatusCode::CREATED,
        Json(server_record(&base, &cc.to_ascii_lowercase(), stored)),
    )
        .into_response()))
}

#[utoipa::path(
    post,
    path = "/v2/storage/records/{cc}/batchWrite",
    operation_id = "batch_write",
    tag = "records",
    summary = "Write up to 100 records atomically",
    params(("cc" = String, Path, description = "Two-letter country code"), ("x-env-id" = String, Header, description = "The environment id the token was issued for")),
    request_body(content = openapi::BatchWriteRequest, content_type = "application/json"),
    security(("bearer" = [])),
    responses(
        (status = 201, description = "All stored", body = openapi::BatchWriteResponse),
        (status = 400, description = "Bad input", body = openapi::ErrorBody),
        (status = 404, description = "Country not served", body = openapi::ErrorBody),
        (status = 413, description = "Body over the size limit", body = openapi::ErrorBody),
        (status = 415, description = "Body not sent as Content-Type: application/json", body = openapi::ErrorBody),
        openapi::Refusals,
    )
)]
pub(super) async fn batch_write(
    State(app): State<Arc<AppState>>,
    Extension(Env(env)): Extension<Env>,
    Path(cc): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let partition = app.partition(&cc).await?;
    let value = read_json(&headers, body, app.max_json_body).await?;
    only_members(&value, "body", &["records"])?;
    let Some(Value::Array(items)) = value.get("records").cloned() else {
        return Err(ApiError::bad_request(
            "records",
            "must be a list of records",
        ));
    };
    if items.is_empty() || items.len() > MAX_BATCH_RECORDS {
        return Err(ApiError::bad_request(
            "records",
            format!(
                "a batch must hold 1 to {MAX_BATCH_RECORDS} records (got {})",
                items.len()
            ),
        ));
    }
    let records = items
        .into_iter()
        .enumerate()
        .map(|(i, item)| parse_record(item, &format!("records[{i}]")))
        .collect::<Result<Vec<_>, _>>()?;
    let now = Utc::now();
    sweep(&partition, now).await?;
    let stored = partition.store.upsert_batch(&env, &records, now).await?;
    let detail = AuditDetail {
        record_keys: records
            .iter()
            .filter_map(|r| r.record_key.clone())
            .collect(),
        count: Some(records.len() as u64),
        ..AuditDetail::default()
    };
    let base = app.base_url(&headers);
    let cc = cc.to_ascii_lowercase();
    let response = BatchWriteResponse::new(
        stored
            .into_iter()
            .map(|s| server_record(&base, &cc, s))
            .collect(),
    );
    Ok(detail.on((StatusCode::CREATED, Json(response)).into_response()))
}

#[utoipa::path(
    get,
    path = "/v2/storage/records/{cc}/{rk}",
    operation_id = "read",
    tag = "records",
    summary = "Read a record",
    params(("cc" = String, Path, description = "Two-letter country code"), ("rk" = String, Path, description = "The record key hash"), ("x-env-id" = String, Header, description = "The environment id the token was issued for")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The record", body = openapi::Record),
        (status = 400, description = "Bad input", body = openapi::ErrorBody),
        (status = 404, description = "No such record, or country not served", body = openapi::ErrorBody),
        (status = 413, description = "Body over the size limit", body = openapi::ErrorBody),
        openapi::Refusals,
    )
)]
pub(super) async fn read(
    State(app): State<Arc<AppState>>,
    Extension(Env(env)): Extension<Env>,
    Path((cc, rk)): Path<(String, String)>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let partition = app.partition(&cc).await?;
    let stored = partition
        .store
        .get(&env, &rk, Utc::now())
        .await?
        .ok_or(ApiError::not_found("record"))?;
    let base = app.base_url(&headers);
    let record = server_record(&base, &cc.to_ascii_lowercase(), stored);
    Ok(json_response(&record, json_size_hint(&record)))
}

#[utoipa::path(
    post,
    path = "/v2/storage/records/{cc}/find",
    operation_id = "find",
    tag = "records",
    summary = "Find records",
    params(("cc" = String, Path, description = "Two-letter country code"), ("x-env-id" = String, Header, description = "The environment id the token was issued for")),
    request_body(content = openapi::FindRequest, content_type = "application/json"),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "A page of records", body = openapi::FindResponse),
        (status = 400, description = "Bad input", body = openapi::ErrorBody),
        (status = 404, description = "Country not served", body = openapi::ErrorBody),
        (status = 413, description = "Body over the size limit", body = openapi::ErrorBody),
        (status = 415, description = "Body not sent as Content-Type: application/json", body = openapi::ErrorBody),
        openapi::Refusals,
    )
)]
pub(super) async fn find(
    State(app): State<Arc<AppState>>,
    Extension(Env(env)): Extension<Env>,
    Path(cc): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let partition = app.partition(&cc).await?;
    let value = read_json(&headers, body, app.max_json_body).await?;
    only_members(&value, "body", &["filter", "options"])?;
    if let Some(options) = value.get("options") {
        only_members(options, "options", &["limit", "offset", "sort"])?;
    }
    if let Some(filter) = value.get("filter") {
        if !filter.is_object() {
            return Err(ApiError::bad_request("filter", "must be a JSON object"));
        }
        for reserved in ["limit", "offset", "sort"] {
            if filter.get(reserved).is_some() {
                return Err(ApiError::bad_request(
                    format!("filter.{reserved}"),
                    "belongs in options",
                ));
            }
        }
    }
    let request: FindRequest =
        serde_json::from_value(value).map_err(|e| ApiError::bad_request("body", e.to_string()))?;
    let filter = request
        .to_find_filter()
        .map_err(|e| ApiError::bad_request(e.field().unwrap_or("filter"), e.to_string()))?;
    let page = partition.store.find(&env, &filter, Utc::now()).await?;
    let base = app.base_url(&headers);
    let cc = cc.to_ascii_lowercase();
    let data: Vec<_> = page
        .records
        .into_iter()
        .map(|s| server_record(&base, &cc, s))
        .collect();
    let meta = FindMeta::new(
        data.len() as u64,
        u64::from(filter.page_limit()),
        filter.page_offset(),
        page.total,
    );
    let detail = AuditDetail {
        count: Some(meta.count),
        ..AuditDetail::default()
    };
    Ok(detail.on(Json(FindResponse::new(data, meta)).into_response()))
}

#[utoipa::path(
    delete,
    path = "/v2/storage/records/{cc}/{rk}",
    operation_id = "delete",
    tag = "records",
    summary = "Delete a record and its attachments",
    params(("cc" = String, Path, description = "Two-letter country code"), ("rk" = String, Path, description = "The record key hash"), ("x-env-id" = String, Header, description = "The environment id the token was issued for")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Deleted", body = openapi::Empty),
        (status = 400, description = "Bad input", body = openapi::ErrorBody),
        (status = 404, description = "No such record, or country not served", body = openapi::ErrorBody),
        (status = 413, description = "Body over the size limit", body = openapi::ErrorBody),
        openapi::Refusals,
    )
)]
pub(super) async fn delete(
    State(app): State<Arc<AppState>>,
    Extension(Env(env)): Extension<Env>,
    Path((cc, rk)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let partition = app.partition(&cc).await?;
    let files = partition
        .store
        .delete(&env, &rk, Utc::now())
        .await?
        .ok_or(ApiError::not_found("record"))?;
    partition.files.remove_all(&files).await;
    Ok(Json(json!({})).into_response())
}

#[utoipa::path(
    post,
    path = "/v2/storage/records/{cc}/batchDelete",
    operation_id = "batch_delete",
    tag = "records",
    summary = "Delete records by key",
    params(("cc" = String, Path, description = "Two-letter country code"), ("x-env-id" = String, Header, description = "The environment id the token was issued for")),
    request_body(content = openapi::BatchDeleteRequest, content_type = "application/json"),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Deleted (absent keys are skipped)", body = openapi::Empty),
        (status = 400, description = "Bad input", body = openapi::ErrorBody),
        (status = 404, description = "Country not served", body = openapi::ErrorBody),
        (status = 413, description = "Body over the size limit", body = openapi::ErrorBody),
        (status = 415, description = "Body not sent as Content-Type: application/json", body = openapi::ErrorBody),
        openapi::Refusals,
    )
)]
pub(super) async fn batch_delete(
    State(app): State<Arc<AppState>>,
    Extension(Env(env)): Extension<Env>,
    Path(cc): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let partition = app.partition(&cc).await?;
    let value = read_json(&headers, body, app.max_json_body).await?;
    only_members(&value, "body", &["filter"])?;
    let filter = value.get("filter").cloned().unwrap_or(Value::Null);
    only_members(&filter, "filter", &["record_key"])?;
    let keys: Vec<String> = match filter.get("record_key") {
        Some(Value::String(key)) => vec![key.clone()],
        Some(Value::Array(items)) if !items.is_empty() => items
            .iter()
            .map(|item| item.as_str().filter(|k| !k.is_empty()).map(str::to_owned))
            .collect::<Option<_>>()
            .ok_or_else(|| {
                ApiError::bad_request("filter.record_key", "must be a list of non-empty strings")
            })?,
        _ => {
            return Err(ApiError::bad_request(
                "filter.record_key",
                "must be a record key hash or a non-empty list of them",
            ));
        }
    };
    let (deleted, files) = partition.store.delete_many(&env, &keys).await?;
    partition.files.remove_all(&files).await;
    let detail = AuditDetail {
        record_keys: keys,
        count: Some(deleted),
        ..AuditDetail::default()
    };
    Ok(detail.on(Json(json!({})).into_response()))
}
