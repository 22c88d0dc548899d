//! The [`Storage`] facade: routing, authorization, encoding and the calls themselves.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

use bytes::Bytes;
use futures_util::future::BoxFuture;
use http::header::{CONTENT_DISPOSITION, CONTENT_TYPE, HeaderMap, HeaderValue, USER_AGENT};
use http::{Method, Request, Response, Uri};
use incountry_auth::{TokenProvider, send_authorized};
use incountry_crypto::CacheStats;
use incountry_model::{
    BatchWriteRequest, Country, FindFilter, FindMeta, FindResponse, MAX_BATCH_RECORDS, Record,
    WireRecord,
};
use incountry_transport::routing::Router;
use incountry_transport::{
    Body, DEFAULT_BODY_LIMIT, RequestInfo, Transport, headers, parse_json, read_bytes, status_error,
};
use serde_json::{Map, Value};
use tracing::Instrument;

use crate::attachment::{AttachmentFile, AttachmentSource, boundary, parse_content_disposition};
use crate::builder::StorageBuilder;
use crate::error::StorageError;
use crate::parallel::{map_blocking, run_blocking};
use crate::secrets::Keyring;
use crate::{AttachmentMeta, AttachmentMetaUpdate};

/// The InCountry storage client: client-side encrypted records, routed by country.
///
/// Cheap to clone (the state is shared). Every method returns a [`Call`]: add per-call
/// headers with [`Call::header`], then `.await` it.
#[derive(Clone, Debug)]
pub struct Storage {
    inner: Arc<Inner>,
}

#[derive(Debug)]
pub(crate) struct Inner {
    pub(crate) environment_id: String,
    pub(crate) keyring: Keyring,
    pub(crate) transport: Arc<dyn Transport>,
    pub(crate) tokens: Arc<dyn TokenProvider>,
    pub(crate) router: Router,
}

/// One call to the API, not yet sent: add headers, then `.await` it.
///
/// ```no_run
/// # async fn run(storage: incountry_storage::Storage) -> Result<(), incountry_storage::StorageError> {
/// let record = storage.read("us", "user_1").header("x-request-id", "42").await?;
/// # Ok(())
/// # }
/// ```
#[must_use = "a call does nothing until it is awaited"]
#[derive(Debug)]
pub struct Call<Op> {
    storage: Storage,
    op: Op,
    headers: Vec<(String, String)>,
}

impl<Op> Call<Op> {
    /// Adds a custom HTTP header to the request(s) of this call. Names and values must be
    /// non-empty without surrounding spaces and may not override `authorization`,
    /// `x-env-id`, `user-agent` or `content-type`; a violation fails the call before
    /// anything is sent.
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }
}

mod sealed {
    pub trait Sealed {}
}

/// An operation a [`Call`] runs; implemented by the types in [`ops`](crate::ops).
pub trait Operation: sealed::Sealed + Send {
    /// What the call returns.
    type Output;
    #[doc(hidden)]
    fn run(
        self,
        storage: &Storage,
        headers: HeaderMap,
    ) -> BoxFuture<'_, Result<Self::Output, StorageError>>;
}

impl<Op: Operation + 'static> std::future::IntoFuture for Call<Op> {
    type Output = Result<Op::Output, StorageError>;
    type IntoFuture = BoxFuture<'static, Self::Output>;

    fn into_future(self) -> Self::IntoFuture {
        Box::pin(async move {
            let headers = headers::custom_headers(self.headers)
                .map_err(|e| StorageError::from_transport(e.into()))?;
            self.op.run(&self.storage, headers).await
        })
    }
}

/// The result of [`Storage::find`].
#[derive(Debug)]
#[non_exhaustive]
pub struct FindResult {
    /// The records that were decrypted.
    pub records: Vec<Record>,
    /// The server's paging information.
    pub meta: FindMeta,
    /// The records that could not be decrypted, with why.
    pub errors: Vec<FindError>,
}

/// A record [`Storage::find`] could not decrypt.
#[derive(Debug)]
#[non_exhaustive]
pub struct FindError {
    /// The record as the server returned it.
    pub raw: WireRecord,
    /// Why it could not be decoded.
    pub error: StorageError,
}

/// The result of [`Storage::migrate`].
#[derive(Debug)]
#[non_exhaustive]
pub struct MigrateResult {
    /// How many records were re-encrypted with the current secret.
    pub migrated: u64,
    /// How many records with other secret versions are left.
    pub total_left: u64,
    /// Records found but not decryptable (not migrated).
    pub errors: Vec<FindError>,
}

pub(crate) enum Payload<'p> {
    Empty,
    Json(Bytes),
    Multipart {
        source: &'p AttachmentSource,
        boundary: String,
        mime_type: Option<&'p str>,
    },
}

pub(crate) enum Target<'p> {
    Records(&'p [&'p str]),
    Health,
}

fn json<T: serde::Serialize>(value: &T) -> Result<Payload<'static>, StorageError> {
    serde_json::to_vec(value)
        .map(|bytes| Payload::Json(Bytes::from(bytes)))
        .map_err(|error| StorageError::Config {
            message: format!("cannot serialise the request: {error}"),
            source: Some(Box::new(error)),
        })
}

fn country(code: &str) -> Result<Country, StorageError> {
    Country::new(code).map_err(StorageError::from_input)
}

fn non_empty(field: &str, value: &str) -> Result<(), StorageError> {
    if value.is_empty() {
        return Err(StorageError::validation(
            field,
            "must be a non-empty string",
        ));
    }
    Ok(())
}

impl Storage {
    /// A builder; see [`StorageBuilder`].
    ///
    /// ```no_run
    /// use incountry_crypto::SecretsData;
    /// use incountry_storage::Storage;
    ///
    /// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
    /// let storage = Storage::builder()
    ///     .environment_id("my-env")
    ///     .client_credentials("client id", "client secret")
    ///     .secrets(SecretsData::from_password("a long password")?)
    ///     .build()
    ///     .await?;
    /// # Ok(())
    /// # }
    /// ```
    pub fn builder() -> StorageBuilder {
        StorageBuilder::default()
    }

    pub(crate) fn from_inner(inner: Inner) -> Self {
        Self {
            inner: Arc::new(inner),
        }
    }

    fn call<Op>(&self, op: Op) -> Call<Op> {
        Call {
            storage: self.clone(),
            op,
            headers: Vec::new(),
        }
    }

    /// The environment id.
    pub fn environment_id(&self) -> &str {
        &self.inner.environment_id
    }

    /// Whether records are encrypted.
    pub fn encrypts(&self) -> bool {
        self.inner.keyring.encrypts()
    }

    /// Counters of PBKDF2 key derivations and of the derived-key cache since the current
    /// secrets were first seen (a rotation starts new counters); `None` with encryption off.
    ///
    /// Tells whether [`StorageBuilder::salt_reuse`] and [`StorageBuilder::derived_key_cache`]
    /// fit a workload: each derivation costs milliseconds.
    pub async fn crypto_stats(&self) -> Option<CacheStats> {
        self.inner.keyring.crypto_stats().await
    }

    /// Encrypts and writes a record (one request); returns the record as stored.
    ///
    /// ```no_run
    /// # async fn run(storage: incountry_storage::Storage) -> Result<(), incountry_storage::StorageError> {
    /// use incountry_storage::{Record, SearchKey};
    /// let record = Record::new("user_1").with_body("{\"name\":\"Jane\"}").with_key(SearchKey::Key1, "en");
    /// storage.write("us", record).await?;
    /// # Ok(())
    /// # }
    /// ```
    pub fn write(&self, country: impl Into<String>, record: Record) -> Call<ops::Write> {
        self.call(ops::Write {
            country: country.into(),
            record,
        })
    }

    /// Encrypts and writes 1..=100 records in one request; returns the records sent.
    ///
    /// ```no_run
    /// # async fn run(storage: incountry_storage::Storage) -> Result<(), incountry_storage::StorageError> {
    /// use incountry_storage::Record;
    /// storage.batch_write("us", vec![Record::new("a"), Record::new("b")]).await?;
    /// # Ok(())
    /// # }
    /// ```
    pub fn batch_write(
        &self,
        country: impl Into<String>,
        records: Vec<Record>,
    ) -> Call<ops::BatchWrite> {
        self.call(ops::BatchWrite {
            country: country.into(),
            records,
        })
    }

    /// Reads and decrypts one record; a missing record is a server error with status 404
    /// (see [`Call::optional`]).
    ///
    /// ```no_run
    /// # async fn run(storage: incountry_storage::Storage) -> Result<(), incountry_storage::StorageError> {
    /// let record = storage.read("us", "user_1").await?;
    /// println!("{:?}", record.body());
    /// # Ok(())
    /// # }
    /// ```
    pub fn read(
        &self,
        country: impl Into<String>,
        record_key: impl Into<String>,
    ) -> Call<ops::Read> {
        self.call(ops::Read {
            country: country.into(),
            record_key: record_key.into(),
        })
    }

    /// Finds records (one request) and decrypts them; undecryptable ones are reported in
    /// [`FindResult::errors`] instead of failing the call.
    ///
    /// ```no_run
    /// # async fn run(storage: incountry_storage::Storage) -> Result<(), incountry_storage::StorageError> {
    /// use incountry_storage::{FindFilter, SearchKey};
    /// let found = storage.find("us", FindFilter::new().eq(SearchKey::Key1, "en").limit(10)).await?;
    /// println!("{} of {}", found.records.len(), found.meta.total);
    /// # Ok(())
    /// # }
    /// ```
    pub fn find(&self, country: impl Into<String>, filter: FindFilter) -> Call<ops::Find> {
        self.call(ops::Find {
            country: country.into(),
            filter,
        })
    }

    /// Finds the first record matching `filter` (a find with limit 1).
    ///
    /// ```no_run
    /// # async fn run(storage: incountry_storage::Storage) -> Result<(), incountry_storage::StorageError> {
    /// use incountry_storage::{FindFilter, SearchKey};
    /// if let Some(record) = storage.find_one("us", FindFilter::new().eq(SearchKey::Key1, "en")).await? {
    ///     println!("{}", record.record_key());
    /// }
    /// # Ok(())
    /// # }
    /// ```
    pub fn find_one(&self, country: impl Into<String>, filter: FindFilter) -> Call<ops::FindOne> {
        self.call(ops::FindOne {
            country: country.into(),
            filter,
        })
    }

    /// Deletes a record (one request); a missing record is a server error with status 404.
    ///
    /// ```no_run
    /// # async fn run(storage: incountry_storage::Storage) -> Result<(), incountry_storage::StorageError> {
    /// storage.delete("us", "user_1").await?;
    /// # Ok(())
    /// # }
    /// ```
    pub fn delete(
        &self,
        country: impl Into<String>,
        record_key: impl Into<String>,
    ) -> Call<ops::Delete> {
        self.call(ops::Delete {
            country: country.into(),
            record_key: record_key.into(),
        })
    }

    /// Re-encrypts up to `limit` (1..=100) records written with other secret versions (a
    /// find and a batch write). Needs encryption on.
    ///
    /// ```no_run
    /// # async fn run(storage: incountry_storage::Storage) -> Result<(), incountry_storage::StorageError> {
    /// loop {
    ///     let result = storage.migrate("us", 100).await?;
    ///     if result.total_left == 0 || result.migrated == 0 { break; }
    /// }
    /// # Ok(())
    /// # }
    /// ```
    pub fn migrate(&self, country: impl Into<String>, limit: u32) -> Call<ops::Migrate> {
        self.call(ops::Migrate {
            country: country.into(),
            limit,
        })
    }

    /// Asks the country's host whether it is healthy (`GET /healthcheck`): `true` on `200`.
    ///
    /// ```no_run
    /// # async fn run(storage: incountry_storage::Storage) -> Result<(), incountry_storage::StorageError> {
    /// assert!(storage.health_check("us").await?);
    /// # Ok(())
    /// # }
    /// ```
    pub fn health_check(&self, country: impl Into<String>) -> Call<ops::HealthCheck> {
        self.call(ops::HealthCheck {
            country: country.into(),
        })
    }

    /// Attaches a file to a record (a streamed multipart upload); returns its metadata.
    /// Set [`Call::upsert`] to replace a file of the same name, [`Call::mime_type`] to
    /// name its type. Files over 100 MiB are refused before sending.
    ///
    /// ```no_run
    /// # async fn run(storage: incountry_storage::Storage) -> Result<(), incountry_storage::StorageError> {
    /// use incountry_storage::AttachmentSource;
    /// let meta = storage
    ///     .add_attachment("us", "user_1", AttachmentSource::from_path("/tmp/passport.pdf"))
    ///     .mime_type("application/pdf")
    ///     .await?;
    /// println!("{}", meta.file_id);
    /// # Ok(())
    /// # }
    /// ```
    pub fn add_attachment(
        &self,
        country: impl Into<String>,
        record_key: impl Into<String>,
        file: AttachmentSource,
    ) -> Call<ops::AddAttachment> {
        self.call(ops::AddAttachment {
            country: country.into(),
            record_key: record_key.into(),
            file,
            upsert: false,
            mime_type: None,
        })
    }

    /// Downloads an attachment: its file name and a stream of its content.
    ///
    /// ```no_run
    /// # async fn run(storage: incountry_storage::Storage) -> Result<(), Box<dyn std::error::Error>> {
    /// let file = storage.get_attachment_file("us", "user_1", "file id").await?;
    /// let name = file.filename().unwrap_or("download").to_owned();
    /// file.write_to(std::env::temp_dir().join(name)).await?;
    /// # Ok(())
    /// # }
    /// ```
    pub fn get_attachment_file(
        &self,
        country: impl Into<String>,
        record_key: impl Into<String>,
        file_id: impl Into<String>,
    ) -> Call<ops::GetAttachmentFile> {
        self.call(ops::GetAttachmentFile(ops::AttachmentRef {
            country: country.into(),
            record_key: record_key.into(),
            file_id: file_id.into(),
        }))
    }

    /// Reads an attachment's metadata.
    ///
    /// ```no_run
    /// # async fn run(storage: incountry_storage::Storage) -> Result<(), incountry_storage::StorageError> {
    /// let meta = storage.get_attachment_meta("us", "user_1", "file id").await?;
    /// println!("{} bytes", meta.size);
    /// # Ok(())
    /// # }
    /// ```
    pub fn get_attachment_meta(
        &self,
        country: impl Into<String>,
        record_key: impl Into<String>,
        file_id: impl Into<String>,
    ) -> Call<ops::GetAttachmentMeta> {
        self.call(ops::GetAttachmentMeta(ops::AttachmentRef {
            country: country.into(),
            record_key: record_key.into(),
            file_id: file_id.into(),
        }))
    }

    /// Changes an attachment's file name and/or MIME type (set with [`Call::filename`] and
    /// [`Call::mime_type`]; at least one is required).
    ///
    /// ```no_run
    /// # async fn run(storage: incountry_storage::Storage) -> Result<(), incountry_storage::StorageError> {
    /// storage.update_attachment_meta("us", "user_1", "file id").filename("new.pdf").await?;
    /// # Ok(())
    /// # }
    /// ```
    pub fn update_attachment_meta(
        &self,
        country: impl Into<String>,
        record_key: impl Into<String>,
        file_id: impl Into<String>,
    ) -> Call<ops::UpdateAttachmentMeta> {
        self.call(ops::UpdateAttachmentMeta {
            target: ops::AttachmentRef {
                country: country.into(),
                record_key: record_key.into(),
                file_id: file_id.into(),
            },
            update: AttachmentMetaUpdate::default(),
        })
    }

    /// Deletes an attachment.
    ///
    /// ```no_run
    /// # async fn run(storage: incountry_storage::Storage) -> Result<(), incountry_storage::StorageError> {
    /// storage.delete_attachment("us", "user_1", "file id").await?;
    /// # Ok(())
    /// # }
    /// ```
    pub fn delete_attachment(
        &self,
        country: impl Into<String>,
        record_key: impl Into<String>,
        file_id: impl Into<String>,
    ) -> Call<ops::DeleteAttachment> {
        self.call(ops::DeleteAttachment(ops::AttachmentRef {
            country: country.into(),
            record_key: record_key.into(),
            file_id: file_id.into(),
        }))
    }

    /// Sends one authorized request and returns the response whatever its status.
    pub(crate) async fn exchange(
        &self,
        operation: &'static str,
        country: &Country,
        target: Target<'_>,
        method: Method,
        payload: Payload<'_>,
        custom: &HeaderMap,
    ) -> Result<(Response<Body>, RequestInfo), StorageError> {
        let span = tracing::info_span!(
            "incountry_storage",
            method = operation,
            country = country.as_str(),
            status = tracing::field::Empty,
            attempt = tracing::field::Empty,
        );
        let recorder = span.clone();
        async {
            let inner = &self.inner;
            let route = inner
                .router
                .route(country.as_str())
                .await
                .map_err(StorageError::from_transport)?;
            let url = match target {
                Target::Records(path) => route.records_url(country.as_str(), path),
                Target::Health => route.host_url(&["healthcheck"]),
            };
            let uri: Uri = url.parse().map_err(|error| StorageError::Config {
                message: format!("the request URL {url:?} is not valid"),
                source: Some(Box::new(error)),
            })?;
            let info = RequestInfo::new(method.clone(), &uri);
            let env_id = HeaderValue::from_str(&inner.environment_id).map_err(|error| {
                StorageError::Config {
                    message: "environment_id is not a valid HTTP header value".into(),
                    source: Some(Box::new(error)),
                }
            })?;
            let attempts = AtomicU32::new(0);
            let build = || {
                let attempt = attempts.fetch_add(1, Ordering::Relaxed) + 1;
                recorder.record("attempt", attempt);
                let (body, content_type) = match &payload {
                    Payload::Empty => (Body::empty(), None),
                    Payload::Json(bytes) => (
                        Body::full(bytes.clone()),
                        Some(HeaderValue::from_static("application/json")),
                    ),
                    Payload::Multipart {
                        source,
                        boundary,
                        mime_type,
                    } => (
                        source.multipart(boundary, *mime_type),
                        HeaderValue::from_str(&format!("multipart/form-data; boundary={boundary}"))
                            .ok(),
                    ),
                };
                let mut request = Request::new(body);
                *request.method_mut() = method.clone();
                *request.uri_mut() = uri.clone();
                let headers = request.headers_mut();
                for (name, value) in custom {
                    headers.append(name, value.clone());
                }
                headers.insert("x-env-id", env_id.clone());
                headers.insert(USER_AGENT, headers::user_agent());
                if let Some(content_type) = content_type {
                    headers.insert(CONTENT_TYPE, content_type);
                }
                request
            };
            let response = send_authorized(
                &*inner.transport,
                &*inner.tokens,
                &route.audience,
                &route.region,
                build,
            )
            .await
            .map_err(StorageError::from_auth)?;
            recorder.record("status", response.status().as_u16());
            Ok((response, info))
        }
        .instrument(span)
        .await
    }

    /// Like [`exchange`](Self::exchange), failing on a non-success status.
    pub(crate) async fn checked(
        &self,
        operation: &'static str,
        country: &Country,
        target: Target<'_>,
        method: Method,
        payload: Payload<'_>,
        custom: &HeaderMap,
    ) -> Result<(Response<Body>, RequestInfo), StorageError> {
        let (response, info) = self
            .exchange(operation, country, target, method, payload, custom)
            .await?;
        if response.status().is_success() {
            Ok((response, info))
        } else {
            Err(StorageError::from_transport(
                status_error(&info, response).await,
            ))
        }
    }

    async fn read_json<T: serde::de::DeserializeOwned>(
        info: &RequestInfo,
        response: Response<Body>,
    ) -> Result<T, StorageError> {
        let bytes = read_bytes(info, response, DEFAULT_BODY_LIMIT)
            .await
            .map_err(StorageError::from_transport)?;
        parse_json(info, &bytes).map_err(StorageError::from_transport)
    }

    async fn find_records(
        &self,
        country: &Country,
        filter: &FindFilter,
        custom: &HeaderMap,
    ) -> Result<FindResult, StorageError> {
        let request = self
            .inner
            .keyring
            .hashing_codec()
            .encode_find(filter)
            .map_err(StorageError::from_input)?;
        let codec = self.inner.keyring.codec().await?;
        let (response, info) = self
            .checked(
                "find",
                country,
                Target::Records(&["find"]),
                Method::POST,
                json(&request)?,
                custom,
            )
            .await?;
        let found: FindResponse = Self::read_json(&info, response).await?;
        let raw: Vec<WireRecord> = found.data.into_iter().map(|raw| raw.0).collect();
        // Decryption is CPU work: across cores, off the runtime, in the server's order.
        let decoded = map_blocking(raw, move |raw| match codec.decode(&raw) {
            Ok(record) => Ok(record),
            Err(error) => Err((raw, error)),
        })
        .await?;
        let mut records = Vec::with_capacity(decoded.len());
        let mut errors = Vec::new();
        for result in decoded {
            match result {
                Ok(record) => records.push(record),
                Err((raw, error)) => errors.push(FindError {
                    raw,
                    error: StorageError::from_response(error, &info.method, &info.url),
                }),
            }
        }
        Ok(FindResult {
            records,
            meta: found.meta,
            errors,
        })
    }

    async fn write_batch(
        &self,
        country: &Country,
        records: &[Record],
        custom: &HeaderMap,
    ) -> Result<(), StorageError> {
        // The error of record `i`, naming it.
        let in_batch = |i: usize, error| match StorageError::from_input(error) {
            StorageError::Validation {
                field,
                rule,
                source,
            } => StorageError::Validation {
                field: format!("records[{i}].{field}"),
                rule,
                source,
            },
            other => other,
        };
        if records.is_empty() || records.len() > MAX_BATCH_RECORDS {
            return Err(StorageError::validation(
                "records",
                format!(
                    "a batch must hold 1 to {MAX_BATCH_RECORDS} records (got {})",
                    records.len()
                ),
            ));
        }
        for (i, record) in records.iter().enumerate() {
            record.validate().map_err(|error| in_batch(i, error))?;
        }
        let codec = self.inner.keyring.codec().await?;
        // Encryption is CPU work: across cores, off the runtime, in the caller's order.
        let encoded = map_blocking(records.to_vec(), move |record| codec.encode(&record)).await?;
        let records = encoded
            .into_iter()
            .enumerate()
            .map(|(i, result)| result.map_err(|error| in_batch(i, error)))
            .collect::<Result<Vec<_>, _>>()?;
        let batch = BatchWriteRequest::new(records);
        let (response, info) = self
            .checked(
                "batch_write",
                country,
                Target::Records(&["batchWrite"]),
                Method::POST,
                json(&batch)?,
                custom,
            )
            .await?;
        let _: Value = Self::read_json(&info, response).await?;
        Ok(())
    }
}

/// Checks the echo of a write (4.1): every user field the server returned must equal what
/// was sent (dates as instants).
fn check_echo(
    codec: &incountry_model::RecordCodec,
    sent: &Record,
    reply: Map<String, Value>,
    info: &RequestInfo,
) -> Result<Record, StorageError> {
    if reply.get("record_key").is_none_or(Value::is_null) {
        return Ok(sent.clone());
    }
    let wire = WireRecord::from_json_map(reply)
        .map_err(|error| StorageError::from_response(error, &info.method, &info.url))?;
    let got = codec
        .decode(&wire)
        .map_err(|error| StorageError::from_response(error, &info.method, &info.url))?;
    const SERVER_SET: [&str; 5] = [
        "version",
        "is_encrypted",
        "created_at",
        "updated_at",
        "attachments",
    ];
    let (a, b) = (sent.to_json_map(), got.to_json_map());
    let mut names: Vec<&String> = a.keys().chain(b.keys()).collect();
    names.sort();
    names.dedup();
    for name in names {
        if SERVER_SET.contains(&name.as_str()) {
            continue;
        }
        let same = if name == "expires_at" {
            sent.expires_at() == got.expires_at()
        } else {
            a.get(name) == b.get(name)
        };
        if !same {
            return Err(StorageError::ResponseValidation {
                method: info.method.clone(),
                url: info.url.clone(),
                message: format!("Key mismatch: {name}"),
                source: None,
            });
        }
    }
    Ok(got)
}

/// The operations [`Call`] runs, one type per API method.
pub mod ops {
    use super::*;

    macro_rules! sealed {
        ($($t:ty),*) => { $(impl sealed::Sealed for $t {})* };
    }
    sealed!(
        Write,
        BatchWrite,
        Read,
        ReadOptional,
        Find,
        FindOne,
        Delete,
        Migrate,
        HealthCheck,
        AddAttachment,
        GetAttachmentFile,
        GetAttachmentMeta,
        UpdateAttachmentMeta,
        DeleteAttachment
    );

    /// [`Storage::write`].
    #[derive(Debug)]
    pub struct Write {
        pub(super) country: String,
        pub(super) record: Record,
    }

    impl Operation for Write {
        type Output = Record;
        fn run(
            self,
            storage: &Storage,
            headers: HeaderMap,
        ) -> BoxFuture<'_, Result<Record, StorageError>> {
            Box::pin(async move {
                let country = country(&self.country)?;
                self.record.validate().map_err(StorageError::from_input)?;
                let codec = storage.inner.keyring.codec().await?;
                let (encoder, record) = (Arc::clone(&codec), self.record.clone());
                let wire = run_blocking(move || encoder.encode(&record))
                    .await?
                    .map_err(StorageError::from_input)?;
                let (response, info) = storage
                    .checked(
                        "write",
                        &country,
                        Target::Records(&[]),
                        Method::POST,
                        json(&wire)?,
                        &headers,
                    )
                    .await?;
                let reply: Value = Storage::read_json(&info, response).await?;
                match reply {
                    Value::Object(map) => check_echo(&codec, &self.record, map, &info),
                    _ => Ok(self.record),
                }
            })
        }
    }

    /// [`Storage::batch_write`].
    #[derive(Debug)]
    pub struct BatchWrite {
        pub(super) country: String,
        pub(super) records: Vec<Record>,
    }

    impl Operation for BatchWrite {
        type Output = Vec<Record>;
        fn run(
            self,
            storage: &Storage,
            headers: HeaderMap,
        ) -> BoxFuture<'_, Result<Vec<Record>, StorageError>> {
            Box::pin(async move {
                let country = country(&self.country)?;
                storage
                    .write_batch(&country, &self.records, &headers)
                    .await?;
                Ok(self.records)
            })
        }
    }

    /// [`Storage::read`].
    #[derive(Debug)]
    pub struct Read {
        pub(super) country: String,
        pub(super) record_key: String,
    }

    impl Call<Read> {
        /// Turns a missing record (`404`) into `Ok(None)`.
        ///
        /// ```no_run
        /// # async fn run(storage: incountry_storage::Storage) -> Result<(), incountry_storage::StorageError> {
        /// if storage.read("us", "user_1").optional().await?.is_none() {
        ///     println!("no such record");
        /// }
        /// # Ok(())
        /// # }
        /// ```
        pub fn optional(self) -> Call<ReadOptional> {
            Call {
                storage: self.storage,
                op: ReadOptional(self.op),
                headers: self.headers,
            }
        }
    }

    impl Operation for Read {
        type Output = Record;
        fn run(
            self,
            storage: &Storage,
            headers: HeaderMap,
        ) -> BoxFuture<'_, Result<Record, StorageError>> {
            Box::pin(async move {
                let country = country(&self.country)?;
                non_empty("record_key", &self.record_key)?;
                let hash = storage
                    .inner
                    .keyring
                    .hashing_codec()
                    .hash_record_key(&self.record_key);
                let codec = storage.inner.keyring.codec().await?;
                let (response, info) = storage
                    .checked(
                        "read",
                        &country,
                        Target::Records(&[&hash]),
                        Method::GET,
                        Payload::Empty,
                        &headers,
                    )
                    .await?;
                let map: Map<String, Value> = Storage::read_json(&info, response).await?;
                let wire = WireRecord::from_json_map(map)
                    .map_err(|e| StorageError::from_response(e, &info.method, &info.url))?;
                run_blocking(move || codec.decode(&wire))
                    .await?
                    .map_err(|e| StorageError::from_response(e, &info.method, &info.url))
            })
        }
    }

    /// [`Call::optional`] of [`Storage::read`].
    #[derive(Debug)]
    pub struct ReadOptional(Read);

    impl Operation for ReadOptional {
        type Output = Option<Record>;
        fn run(
            self,
            storage: &Storage,
            headers: HeaderMap,
        ) -> BoxFuture<'_, Result<Option<Record>, StorageError>> {
            Box::pin(async move {
                match self.0.run(storage, headers).await {
                    Ok(record) => Ok(Some(record)),
                    Err(error) if error.status() == Some(http::StatusCode::NOT_FOUND) => Ok(None),
                    Err(error) => Err(error),
                }
            })
        }
    }

    /// [`Storage::find`].
    #[derive(Debug)]
    pub struct Find {
        pub(super) country: String,
        pub(super) filter: FindFilter,
    }

    impl Operation for Find {
        type Output = FindResult;
        fn run(
            self,
            storage: &Storage,
            headers: HeaderMap,
        ) -> BoxFuture<'_, Result<FindResult, StorageError>> {
            Box::pin(async move {
                let country = country(&self.country)?;
                storage.find_records(&country, &self.filter, &headers).await
            })
        }
    }

    /// [`Storage::find_one`].
    #[derive(Debug)]
    pub struct FindOne {
        pub(super) country: String,
        pub(super) filter: FindFilter,
    }

    impl Operation for FindOne {
        type Output = Option<Record>;
        fn run(
            self,
            storage: &Storage,
            headers: HeaderMap,
        ) -> BoxFuture<'_, Result<Option<Record>, StorageError>> {
            Box::pin(async move {
                let country = country(&self.country)?;
                let filter = self.filter.limit(1);
                let mut found = storage.find_records(&country, &filter, &headers).await?;
                if found.records.is_empty() {
                    if let Some(failed) = found.errors.pop() {
                        return Err(failed.error);
                    }
                    return Ok(None);
                }
                Ok(Some(found.records.swap_remove(0)))
            })
        }
    }

    /// [`Storage::delete`].
    #[derive(Debug)]
    pub struct Delete {
        pub(super) country: String,
        pub(super) record_key: String,
    }

    impl Operation for Delete {
        type Output = ();
        fn run(
            self,
            storage: &Storage,
            headers: HeaderMap,
        ) -> BoxFuture<'_, Result<(), StorageError>> {
            Box::pin(async move {
                let country = country(&self.country)?;
                non_empty("record_key", &self.record_key)?;
                let hash = storage
                    .inner
                    .keyring
                    .hashing_codec()
                    .hash_record_key(&self.record_key);
                storage
                    .checked(
                        "delete",
                        &country,
                        Target::Records(&[&hash]),
                        Method::DELETE,
                        Payload::Empty,
                        &headers,
                    )
                    .await?;
                Ok(())
            })
        }
    }

    /// [`Storage::migrate`].
    #[derive(Debug)]
    pub struct Migrate {
        pub(super) country: String,
        pub(super) limit: u32,
    }

    impl Operation for Migrate {
        type Output = MigrateResult;
        fn run(
            self,
            storage: &Storage,
            headers: HeaderMap,
        ) -> BoxFuture<'_, Result<MigrateResult, StorageError>> {
            Box::pin(async move {
                if !storage.encrypts() {
                    return Err(StorageError::config(
                        "migrate is only allowed with encryption enabled",
                    ));
                }
                let country = country(&self.country)?;
                if self.limit == 0 || self.limit > incountry_model::MAX_LIMIT {
                    return Err(StorageError::validation(
                        "limit",
                        format!("must be between 1 and {}", incountry_model::MAX_LIMIT),
                    ));
                }
                let current = storage
                    .inner
                    .keyring
                    .codec()
                    .await?
                    .crypto()
                    .current_version();
                let filter = FindFilter::new()
                    .not(incountry_model::IntField::Version, i64::from(current))
                    .limit(self.limit);
                let found = storage.find_records(&country, &filter, &headers).await?;
                let migrated = found.records.len() as u64;
                if migrated > 0 {
                    storage
                        .write_batch(&country, &found.records, &headers)
                        .await?;
                }
                Ok(MigrateResult {
                    migrated,
                    total_left: found.meta.total.saturating_sub(migrated),
                    errors: found.errors,
                })
            })
        }
    }

    /// [`Storage::health_check`].
    #[derive(Debug)]
    pub struct HealthCheck {
        pub(super) country: String,
    }

    impl Operation for HealthCheck {
        type Output = bool;
        fn run(
            self,
            storage: &Storage,
            headers: HeaderMap,
        ) -> BoxFuture<'_, Result<bool, StorageError>> {
            Box::pin(async move {
                let country = country(&self.country)?;
                let (response, _) = storage
                    .exchange(
                        "health_check",
                        &country,
                        Target::Health,
                        Method::GET,
                        Payload::Empty,
                        &headers,
                    )
                    .await?;
                Ok(response.status() == http::StatusCode::OK)
            })
        }
    }

    /// Which attachment a call is about.
    #[derive(Debug)]
    pub struct AttachmentRef {
        pub(super) country: String,
        pub(super) record_key: String,
        pub(super) file_id: String,
    }

    impl AttachmentRef {
        fn check(&self, storage: &Storage) -> Result<(Country, String), StorageError> {
            let country = country(&self.country)?;
            non_empty("record_key", &self.record_key)?;
            non_empty("file_id", &self.file_id)?;
            Ok((
                country,
                storage
                    .inner
                    .keyring
                    .hashing_codec()
                    .hash_record_key(&self.record_key),
            ))
        }
    }

    async fn read_meta(
        info: &RequestInfo,
        response: Response<Body>,
    ) -> Result<AttachmentMeta, StorageError> {
        let meta: AttachmentMeta = Storage::read_json(info, response).await?;
        meta.validate()
            .map_err(|e| StorageError::from_response(e, &info.method, &info.url))?;
        Ok(meta)
    }

    /// [`Storage::add_attachment`].
    #[derive(Debug)]
    pub struct AddAttachment {
        pub(super) country: String,
        pub(super) record_key: String,
        pub(super) file: AttachmentSource,
        pub(super) upsert: bool,
        pub(super) mime_type: Option<String>,
    }

    impl Call<AddAttachment> {
        /// Replace an attachment of the same file name (`PUT`) instead of adding one (`POST`).
        pub fn upsert(mut self, on: bool) -> Self {
            self.op.upsert = on;
            self
        }

        /// The MIME type of the file (sent as the part's `Content-Type`).
        pub fn mime_type(mut self, mime_type: impl Into<String>) -> Self {
            self.op.mime_type = Some(mime_type.into());
            self
        }
    }

    impl Operation for AddAttachment {
        type Output = AttachmentMeta;
        fn run(
            self,
            storage: &Storage,
            headers: HeaderMap,
        ) -> BoxFuture<'_, Result<AttachmentMeta, StorageError>> {
            Box::pin(async move {
                let country = country(&self.country)?;
                non_empty("record_key", &self.record_key)?;
                if self.mime_type.as_deref() == Some("") {
                    return Err(StorageError::validation(
                        "mime_type",
                        "must be a non-empty string when given",
                    ));
                }
                self.file.check().await?;
                let hash = storage
                    .inner
                    .keyring
                    .hashing_codec()
                    .hash_record_key(&self.record_key);
                let method = if self.upsert {
                    Method::PUT
                } else {
                    Method::POST
                };
                let payload = Payload::Multipart {
                    source: &self.file,
                    boundary: boundary(),
                    mime_type: self.mime_type.as_deref(),
                };
                let (response, info) = storage
                    .checked(
                        "add_attachment",
                        &country,
                        Target::Records(&[&hash, "attachments"]),
                        method,
                        payload,
                        &headers,
                    )
                    .await?;
                read_meta(&info, response).await
            })
        }
    }

    /// [`Storage::get_attachment_file`].
    #[derive(Debug)]
    pub struct GetAttachmentFile(pub(super) AttachmentRef);

    impl Operation for GetAttachmentFile {
        type Output = AttachmentFile;
        fn run(
            self,
            storage: &Storage,
            headers: HeaderMap,
        ) -> BoxFuture<'_, Result<AttachmentFile, StorageError>> {
            Box::pin(async move {
                let (country, hash) = self.0.check(storage)?;
                let (response, _) = storage
                    .checked(
                        "get_attachment_file",
                        &country,
                        Target::Records(&[&hash, "attachments", &self.0.file_id]),
                        Method::GET,
                        Payload::Empty,
                        &headers,
                    )
                    .await?;
                let text = |name| {
                    response
                        .headers()
                        .get(name)
                        .and_then(|v: &HeaderValue| v.to_str().ok())
                        .map(str::to_owned)
                };
                let filename =
                    text(CONTENT_DISPOSITION).and_then(|v| parse_content_disposition(&v));
                let mime_type = text(CONTENT_TYPE);
                Ok(AttachmentFile::new(
                    filename,
                    mime_type,
                    response.into_body(),
                ))
            })
        }
    }

    /// [`Storage::get_attachment_meta`].
    #[derive(Debug)]
    pub struct GetAttachmentMeta(pub(super) AttachmentRef);

    impl Operation for GetAttachmentMeta {
        type Output = AttachmentMeta;
        fn run(
            self,
            storage: &Storage,
            headers: HeaderMap,
        ) -> BoxFuture<'_, Result<AttachmentMeta, StorageError>> {
            Box::pin(async move {
                let (country, hash) = self.0.check(storage)?;
                let (response, info) = storage
                    .checked(
                        "get_attachment_meta",
                        &country,
                        Target::Records(&[&hash, "attachments", &self.0.file_id, "meta"]),
                        Method::GET,
                        Payload::Empty,
                        &headers,
                    )
                    .await?;
                read_meta(&info, response).await
            })
        }
    }

    /// [`Storage::update_attachment_meta`].
    #[derive(Debug)]
    pub struct UpdateAttachmentMeta {
        pub(super) target: AttachmentRef,
        pub(super) update: AttachmentMetaUpdate,
    }

    impl Call<UpdateAttachmentMeta> {
        /// The new file name.
        pub fn filename(mut self, filename: impl Into<String>) -> Self {
            self.op.update.filename = Some(filename.into());
            self
        }

        /// The new MIME type.
        pub fn mime_type(mut self, mime_type: impl Into<String>) -> Self {
            self.op.update.mime_type = Some(mime_type.into());
            self
        }
    }

    impl Operation for UpdateAttachmentMeta {
        type Output = AttachmentMeta;
        fn run(
            self,
            storage: &Storage,
            headers: HeaderMap,
        ) -> BoxFuture<'_, Result<AttachmentMeta, StorageError>> {
            Box::pin(async move {
                let (country, hash) = self.target.check(storage)?;
                self.update.validate().map_err(StorageError::from_input)?;
                let (response, info) = storage
                    .checked(
                        "update_attachment_meta",
                        &country,
                        Target::Records(&[&hash, "attachments", &self.target.file_id, "meta"]),
                        Method::PATCH,
                        json(&self.update)?,
                        &headers,
                    )
                    .await?;
                read_meta(&info, response).await
            })
        }
    }

    /// [`Storage::delete_attachment`].
    #[derive(Debug)]
    pub struct DeleteAttachment(pub(super) AttachmentRef);

    impl Operation for DeleteAttachment {
        type Output = ();
        fn run(
            self,
            storage: &Storage,
            headers: HeaderMap,
        ) -> BoxFuture<'_, Result<(), StorageError>> {
            Box::pin(async move {
                let (country, hash) = self.0.check(storage)?;
                storage
                    .checked(
                        "delete_attachment",
                        &country,
                        Target::Records(&[&hash, "attachments", &self.0.file_id]),
                        Method::DELETE,
                        Payload::Empty,
                        &headers,
                    )
                    .await?;
                Ok(())
            })
        }
    }
}
