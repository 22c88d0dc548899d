//! The OpenAPI description served at `GET /openapi.json`.
//!
//! Operations come from the handlers' `#[utoipa::path]` annotations, gathered by the same
//! router that serves them, so the description cannot list a route the server lacks or miss
//! one it has. The schemas below describe the wire shapes; the record schemas are built from
//! the model's shared list of record members.

// The structs here only describe shapes; nothing constructs them.
#![allow(dead_code)]

use std::borrow::Cow;

use incountry_model::{MAX_BATCH_RECORDS, WIRE_RECORD_FIELDS};
use utoipa::openapi::RefOr;
use utoipa::openapi::schema::{
    AdditionalProperties, ArrayBuilder, KnownFormat, ObjectBuilder, Schema, SchemaFormat,
    SchemaType, Type,
};
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::{Modify, OpenApi, PartialSchema, ToSchema};

/// Name of the bearer-token security scheme of the storage routes.
pub(crate) const BEARER: &str = "bearer";
/// Name of the HTTP Basic security scheme of `POST /oauth2/token`.
pub(crate) const BASIC: &str = "basic";

/// The document's fixed parts: info, tags, security schemes.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "incountry-server",
        description = "A self-hostable server speaking the InCountry point-of-presence REST API. \
                       Records arrive encrypted and with hashed keys.",
        license(name = "MIT"),
    ),
    modifiers(&SecuritySchemes),
    tags(
        (name = "records", description = "Encrypted records, partitioned by country and environment"),
        (name = "attachments", description = "Files attached to records"),
        (name = "auth", description = "OAuth2 client-credentials tokens"),
        (name = "service", description = "Health, countries, this document"),
    )
)]
pub(crate) struct ApiDoc;

struct SecuritySchemes;

impl Modify for SecuritySchemes {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        let mut bearer = Http::new(HttpAuthScheme::Bearer);
        bearer.description = Some(
            "A token from POST /oauth2/token, valid for the environment it was issued for \
             (send it as x-env-id) and the audience (this server's URL)."
                .to_owned(),
        );
        components.add_security_scheme(BEARER, SecurityScheme::Http(bearer));
        let mut basic = Http::new(HttpAuthScheme::Basic);
        basic.description = Some("A registered client's id and secret.".to_owned());
        components.add_security_scheme(BASIC, SecurityScheme::Http(basic));
    }
}

/// The refusals every storage route can answer before its handler runs: a bad token (401), a
/// foreign environment (403), a reached rate limit (429) and an audit trail that cannot be
/// written (503).
#[derive(utoipa::IntoResponses)]
#[allow(dead_code)] // Describes responses; never constructed.
pub(crate) enum Refusals {
    /// 401.
    #[response(
        status = 401,
        description = "Missing, malformed, expired, tampered or foreign token"
    )]
    Unauthorized(ErrorBody),
    /// 403.
    #[response(status = 403, description = "x-env-id is not the token's environment")]
    Forbidden(ErrorBody),
    /// 429.
    #[response(
        status = 429,
        description = "Rate limit reached; see Retry-After",
        headers(("Retry-After" = u64, description = "Seconds to wait"))
    )]
    TooManyRequests(ErrorBody),
    /// 503.
    #[response(
        status = 503,
        description = "The country's audit trail cannot be written (the request was not run); see Retry-After",
        headers(("Retry-After" = u64, description = "Seconds to wait"))
    )]
    Unavailable(ErrorBody),
}

/// The error body of every storage and service route.
#[derive(ToSchema)]
pub(crate) struct ErrorBody {
    /// One error.
    errors: Vec<ErrorItem>,
}

/// One error of an [`ErrorBody`].
#[derive(ToSchema)]
pub(crate) struct ErrorItem {
    /// A short fixed description, e.g. `validation error`.
    title: String,
    /// What the error is about: a member path, `authorization`, `x-env-id`, `body`...
    source: String,
    /// A readable explanation.
    detail: String,
    /// The HTTP status code.
    status: u16,
}

/// Which members a record schema describes.
#[derive(Clone, Copy, PartialEq, Eq)]
enum RecordShape {
    /// What a client writes: server-set members are left out.
    Input,
    /// What the server answers: every member, `null` when unset.
    Output,
}

fn nullable(kind: Type) -> SchemaType {
    SchemaType::from_iter([kind, Type::Null])
}

fn record_schema(shape: RecordShape) -> RefOr<Schema> {
    let mut object = ObjectBuilder::new().schema_type(Type::Object);
    for name in WIRE_RECORD_FIELDS {
        let member: RefOr<Schema> = match name {
            "created_at" | "updated_at" | "attachments" if shape == RecordShape::Input => continue,
            "record_key" => ObjectBuilder::new()
                .schema_type(Type::String)
                .min_length(Some(1))
                .description(Some("The record key, hashed by the SDK"))
                .into(),
            "body" if shape == RecordShape::Input => ObjectBuilder::new()
                .schema_type(Type::String)
                .min_length(Some(1))
                .description(Some("The encrypted body"))
                .into(),
            "version" => ObjectBuilder::new()
                .schema_type(nullable(Type::Integer))
                .format(Some(SchemaFormat::KnownFormat(KnownFormat::Int64)))
                .into(),
            "is_encrypted" => ObjectBuilder::new()
                .schema_type(nullable(Type::Boolean))
                .into(),
            "expires_at" | "created_at" | "updated_at" => ObjectBuilder::new()
                .schema_type(nullable(Type::String))
                .format(Some(SchemaFormat::KnownFormat(KnownFormat::DateTime)))
                .into(),
            "attachments" => ArrayBuilder::new()
                .items(RefOr::Ref(utoipa::openapi::Ref::from_schema_name(
                    "AttachmentMeta",
                )))
                .into(),
            name if name.starts_with("range_key") => ObjectBuilder::new()
                .schema_type(nullable(Type::Integer))
                .format(Some(SchemaFormat::KnownFormat(KnownFormat::Int64)))
                .into(),
            _ => ObjectBuilder::new()
                .schema_type(nullable(Type::String))
                .into(),
        };
        object = object.property(name, member);
    }
    object = object.required("record_key");
    object = match shape {
        RecordShape::Input => object
            .required("body")
            .additional_properties(Some(AdditionalProperties::FreeForm(false)))
            .description(Some(
                "A record to store; server-set members (created_at, updated_at, attachments) \
                 may be sent and are ignored",
            )),
        RecordShape::Output => object.description(Some("A stored record, every member present")),
    };
    object.into()
}

/// A record as a client writes it.
pub(crate) struct RecordInput;

impl PartialSchema for RecordInput {
    fn schema() -> RefOr<Schema> {
        record_schema(RecordShape::Input)
    }
}

impl ToSchema for RecordInput {
    fn name() -> Cow<'static, str> {
        Cow::Borrowed("RecordInput")
    }
}

/// A record as the server answers it.
pub(crate) struct Record;

impl PartialSchema for Record {
    fn schema() -> RefOr<Schema> {
        record_schema(RecordShape::Output)
    }
}

impl ToSchema for Record {
    fn name() -> Cow<'static, str> {
        Cow::Borrowed("Record")
    }

    fn schemas(schemas: &mut Vec<(String, RefOr<Schema>)>) {
        schemas.push((AttachmentMeta::name().into(), AttachmentMeta::schema()));
    }
}

/// The body of a batch write.
pub(crate) struct BatchWriteRequest;

impl PartialSchema for BatchWriteRequest {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(Type::Object)
            .property(
                "records",
                ArrayBuilder::new()
                    .items(RecordInput::schema())
                    .min_items(Some(1))
                    .max_items(Some(MAX_BATCH_RECORDS)),
            )
            .required("records")
            .additional_properties(Some(AdditionalProperties::FreeForm(false)))
            .into()
    }
}

impl ToSchema for BatchWriteRequest {
    fn name() -> Cow<'static, str> {
        Cow::Borrowed("BatchWriteRequest")
    }
}

/// The answer to a batch write.
#[derive(ToSchema)]
pub(crate) struct BatchWriteResponse {
    /// The stored records, in the order sent.
    records: Vec<Record>,
}

/// The body of a find.
#[derive(ToSchema)]
pub(crate) struct FindRequest {
    /// Conditions on record members, ANDed: equality, lists, `$not`, `$gt`..., `$like`,
    /// `search_keys`, `$or`.
    #[schema(value_type = Object)]
    filter: Option<serde_json::Value>,
    /// Paging and order.
    options: Option<FindOptions>,
}

/// Paging and order of a find.
#[derive(ToSchema)]
pub(crate) struct FindOptions {
    /// Records a page, 1 to 100 (default 100).
    #[schema(minimum = 1, maximum = 100)]
    limit: Option<u32>,
    /// Records to skip.
    offset: Option<u64>,
    /// Sort keys: a list of one-member objects, `{"<field>": "asc" | "desc"}`.
    #[schema(value_type = Vec<Object>)]
    sort: Option<Vec<serde_json::Value>>,
}

/// The answer to a find.
#[derive(ToSchema)]
pub(crate) struct FindResponse {
    /// The page of records.
    data: Vec<Record>,
    /// Counts of the page and of all matches.
    meta: FindMeta,
}

/// Counts of a find.
#[derive(ToSchema)]
pub(crate) struct FindMeta {
    /// Records in this page.
    count: u64,
    /// The page size asked for.
    limit: u64,
    /// Records skipped.
    offset: u64,
    /// Records matching in all.
    total: u64,
}

/// The body of a batch delete.
#[derive(ToSchema)]
pub(crate) struct BatchDeleteRequest {
    /// Which records to delete.
    filter: BatchDeleteFilter,
}

/// The records of a batch delete.
#[derive(ToSchema)]
pub(crate) struct BatchDeleteFilter {
    /// A record key hash, or a non-empty list of them.
    #[schema(value_type = Object)]
    record_key: serde_json::Value,
}

/// An empty JSON object: the answer to a delete.
#[derive(ToSchema)]
pub(crate) struct Empty {}

/// Metadata of an attachment.
#[derive(ToSchema)]
pub(crate) struct AttachmentMeta {
    /// The server-generated id (a UUID).
    file_id: String,
    /// The file name.
    filename: String,
    /// SHA-256 hex of the content.
    hash: String,
    /// The MIME type.
    mime_type: String,
    /// Size in bytes.
    size: u64,
    /// When it was attached.
    #[schema(format = DateTime)]
    created_at: String,
    /// When it last changed.
    #[schema(format = DateTime)]
    updated_at: String,
    /// The URL to download it from.
    download_link: String,
}

/// A new file name and/or MIME type for an attachment.
#[derive(ToSchema)]
pub(crate) struct AttachmentMetaUpdate {
    /// The new file name.
    filename: Option<String>,
    /// The new MIME type.
    mime_type: Option<String>,
}

/// A multipart upload: one part named `file`.
#[derive(ToSchema)]
pub(crate) struct Upload {
    /// The content; the part's file name and `Content-Type` become the attachment's.
    #[schema(value_type = String, format = Binary)]
    file: Vec<u8>,
}

/// The form of `POST /oauth2/token` (client credentials in HTTP Basic or in the form).
#[derive(ToSchema)]
pub(crate) struct TokenRequest {
    /// `client_credentials`.
    grant_type: String,
    /// The environment id the token is for.
    scope: String,
    /// The server URL(s) the token is for, separated by spaces.
    audience: String,
    /// The client id, unless sent in HTTP Basic.
    client_id: Option<String>,
    /// The client secret, unless sent in HTTP Basic.
    client_secret: Option<String>,
}

/// An issued token.
#[derive(ToSchema)]
pub(crate) struct TokenResponse {
    /// The bearer token.
    access_token: String,
    /// Seconds until it expires.
    expires_in: i64,
    /// `bearer`.
    token_type: String,
    /// The environment id.
    scope: String,
}

/// An OAuth2 error.
#[derive(ToSchema)]
pub(crate) struct OAuthError {
    /// `invalid_client`, `invalid_request`, `invalid_scope`, `unsupported_grant_type`.
    error: String,
}

/// The countries served.
#[derive(ToSchema)]
pub(crate) struct CountriesResponse {
    /// One entry per country.
    countries: Vec<CountryEntry>,
}

/// A served country.
#[derive(ToSchema)]
pub(crate) struct CountryEntry {
    /// The upper-case two-letter code.
    id: String,
    /// The country's name.
    name: String,
    /// Always `true`: this server stores the country's data itself.
    direct: bool,
    /// `AMER`, `APAC`, `EMEA` or empty.
    region: String,
}

/// The answer of `/healthcheck`.
#[derive(ToSchema)]
pub(crate) struct Health {
    /// `ok`.
    result: String,
}

/// The answer of `/readyz`.
#[derive(ToSchema)]
pub(crate) struct Readiness {
    /// Whether storage requests can be served now.
    ready: bool,
    /// Why not, when not ready, e.g. `audit trail cannot be written`.
    reasons: Option<Vec<String>>,
    /// Problems of a server that stays ready (an audit trail that fails open).
    warnings: Option<Vec<String>>,
}
