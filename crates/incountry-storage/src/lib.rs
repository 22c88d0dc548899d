//! The `Storage` facade of the InCountry SDK: client-side encrypted, country-routed record
//! storage, wire- and crypto-compatible with the official SDKs (reference: Python SDK 4.1).
//!
//! - [`Storage::builder`] configures it ([`StorageBuilder`]): environment id, client
//!   credentials or a static token, endpoints, a [`SecretsAccessor`], custom ciphers, salt
//!   reuse ([`SaltReuse`]) and the derived-key cache, the timeout and the `429` backoff
//!   ([`RetryConfig`]), and optionally your own [`Transport`] and [`TokenProvider`];
//! - every method returns a [`Call`]: add per-call headers with [`Call::header`], then
//!   `.await` it;
//! - every failure is one [`StorageError`], whose [`kind`](StorageError::kind) maps onto
//!   the official SDKs' error hierarchy.
//!
//! ```no_run
//! use incountry_storage::{
//!     AttachmentSource, FindFilter, RangeKey, Record, SearchKey, SecretsData, Storage,
//! };
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let storage = Storage::builder()
//!     .environment_id("my-environment")
//!     .client_credentials("client id", "client secret")
//!     .secrets(SecretsData::from_json(
//!         r#"{"currentVersion": 1, "secrets": [{"secret": "a long password", "version": 1}]}"#,
//!     )?)
//!     .build()
//!     .await?;
//!
//! let record = Record::new("user_1")
//!     .with_body(r#"{"name": "Jane"}"#)
//!     .with_key(SearchKey::Key1, "english")
//!     .with_range_key(RangeKey::RangeKey1, 42);
//! storage.write("us", record).header("x-request-id", "1").await?;
//!
//! let read = storage.read("us", "user_1").await?;
//! assert_eq!(read.body(), Some(r#"{"name": "Jane"}"#));
//!
//! let found = storage
//!     .find("us", FindFilter::new().eq(SearchKey::Key1, "english").limit(10))
//!     .await?;
//! println!("{} records, {} undecryptable", found.records.len(), found.errors.len());
//!
//! let meta = storage
//!     .add_attachment("us", "user_1", AttachmentSource::from_bytes("note.txt", "hello"))
//!     .mime_type("text/plain")
//!     .await?;
//! let file = storage.get_attachment_file("us", "user_1", &meta.file_id).await?;
//! assert_eq!(file.filename(), Some("note.txt"));
//!
//! storage.delete("us", "user_1").await?;
//! # Ok(())
//! # }
//! ```

//! ## Your own transport and token provider
//!
//! Everything needed to implement [`Transport`] and [`TokenProvider`] is re-exported here,
//! including the [`http`] crate and the [`async_trait`](macro@async_trait) attribute:
//!
//! ```
//! use incountry_storage::http::{Request, Response, StatusCode};
//! use incountry_storage::{
//!     AccessToken, AuthError, Body, NetworkErrorKind, RequestInfo, Storage, TokenProvider,
//!     Transport, TransportError, async_trait,
//! };
//!
//! /// Answers every request itself, and refuses hosts it does not know.
//! #[derive(Debug)]
//! struct MyTransport;
//!
//! #[async_trait]
//! impl Transport for MyTransport {
//!     async fn send(&self, request: Request<Body>) -> Result<Response<Body>, TransportError> {
//!         if request.uri().host() != Some("pop.example") {
//!             let info = RequestInfo::of(&request);
//!             return Err(TransportError::network(NetworkErrorKind::Connect, &info, None));
//!         }
//!         let mut response = Response::new(Body::full(r#"{"data": [], "meta": {}}"#));
//!         *response.status_mut() = StatusCode::OK;
//!         Ok(response)
//!     }
//! }
//!
//! /// Gives the same token for every audience.
//! #[derive(Debug)]
//! struct MyTokens;
//!
//! #[async_trait]
//! impl TokenProvider for MyTokens {
//!     async fn token(
//!         &self,
//!         _audience: &str,
//!         _region: &str,
//!         _force_refresh: bool,
//!     ) -> Result<AccessToken, AuthError> {
//!         Ok(AccessToken::new("token from my vault"))
//!     }
//!
//!     fn can_refresh(&self) -> bool {
//!         false
//!     }
//! }
//!
//! # tokio::runtime::Runtime::new()?.block_on(async {
//! let storage = Storage::builder()
//!     .environment_id("my-environment")
//!     .endpoint("https://pop.example")
//!     .transport(MyTransport)
//!     .token_provider(MyTokens)
//!     .encrypt(false)
//!     .build()
//!     .await?;
//! # Ok::<(), incountry_storage::StorageError>(())
//! # })?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

// `StorageError` keeps the lower crates' errors unboxed, so that `source()` downcasts to
// them; its size is irrelevant next to the network round trip of every call.
#![allow(clippy::result_large_err)]

mod attachment;
mod builder;
mod error;
mod parallel;
mod secrets;
mod storage;

pub use attachment::{
    AttachmentFile, AttachmentSource, MAX_ATTACHMENT_SIZE, parse_content_disposition,
};
pub use builder::{
    ENV_CLIENT_ID, ENV_CLIENT_SECRET, ENV_ENDPOINT, ENV_ENVIRONMENT_ID, StorageBuilder,
};
pub use error::{BoxError, ErrorKind, StorageError};
pub use secrets::SecretsAccessor;
pub use storage::{Call, FindError, FindResult, MigrateResult, Operation, Storage, ops};

pub use incountry_auth::{AccessToken, AuthError, TokenProvider};
pub use incountry_crypto::{
    CacheStats, CryptoError, CustomCipher, SaltReuse, Secret, SecretsData, SecretsError,
};
pub use incountry_model::{
    AttachmentMeta, AttachmentMetaUpdate, Country, DateField, FindFilter, FindMeta, IntField,
    ModelError, OrFilter, RangeKey, Record, SearchKey, ServiceKey, Sort, SortOrder, StringField,
    WireRecord,
};
pub use incountry_transport::{
    Body, BodyError, CollectError, HeaderError, NetworkErrorKind, RequestInfo, RetryConfig,
    RetryConfigBuilder, Transport, TransportError,
};

/// The `#[async_trait]` attribute that implementations of [`Transport`], [`TokenProvider`] and
/// [`SecretsAccessor`] need.
pub use async_trait::async_trait;
/// The `http` crate of [`Transport`]'s requests and responses.
pub use http;

/// The code blocks of the workspace README, compiled and run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../../../README.md")]
struct ReadmeDoctests;

/// The code blocks of `docs/security.md`, compiled as doctests.
#[cfg(doctest)]
#[doc = include_str!("../../../docs/security.md")]
struct SecurityDoctests;
