//! Record stores: one per country, partitioned by environment inside.
//!
//! [`Store`] is the seam; [`SqliteStore`] and [`PostgresStore`] implement it with the same SQL
//! (built by the private `sql` module from the model's parsed filter, every value bound as a
//! parameter, every column name from a fixed allow-list).
//!
//! ```
//! use chrono::Utc;
//! use incountry_model::{FindFilter, SearchKey, WireRecord};
//! use incountry_server::{SqliteStore, Store};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! # tokio::runtime::Runtime::new()?.block_on(async {
//! let store = SqliteStore::in_memory().await?;
//! let mut record = WireRecord::default();
//! record.record_key = Some("hash-of-key".into());
//! record.body = Some("2:ciphertext".into());
//! record.key1 = Some("hash-of-key1".into());
//! store.upsert("my-env", &record, Utc::now()).await?;
//!
//! let filter = FindFilter::new().eq(SearchKey::Key1, "hash-of-key1").limit(10);
//! let page = store.find("my-env", &filter, Utc::now()).await?;
//! assert_eq!(page.total, 1);
//! assert!(store.get("other-env", "hash-of-key", Utc::now()).await?.is_none());
//! # Ok::<_, Box<dyn std::error::Error>>(())
//! # })
//! # }
//! ```

mod sql;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use incountry_model::{FindFilter, WireRecord};

pub use sql::{PostgresStore, SqliteStore};

/// A stored record with its attachments, as a store returns it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct StoredRecord {
    /// The record, with `created_at` and `updated_at` set by the store (ISO 8601, milliseconds,
    /// `+00:00`) and `expires_at` as it was written; `attachments` is `None`.
    pub record: WireRecord,
    /// The record's attachments, oldest first.
    pub attachments: Vec<StoredAttachment>,
}

/// Metadata of an attachment as a store keeps it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct StoredAttachment {
    /// The server-generated id (a UUID v4, hyphenated).
    pub file_id: String,
    /// The hashed key of the record it belongs to.
    pub record_key: String,
    /// The file name as uploaded or last renamed.
    pub filename: String,
    /// SHA-256 hex of the content.
    pub hash: String,
    /// The MIME type.
    pub mime_type: String,
    /// Size in bytes.
    pub size: u64,
    /// When it was first attached.
    pub created_at: DateTime<Utc>,
    /// When it was last changed.
    pub updated_at: DateTime<Utc>,
}

impl StoredAttachment {
    /// Metadata with every member given.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        file_id: impl Into<String>,
        record_key: impl Into<String>,
        filename: impl Into<String>,
        hash: impl Into<String>,
        mime_type: impl Into<String>,
        size: u64,
        created_at: DateTime<Utc>,
        updated_at: DateTime<Utc>,
    ) -> Self {
        Self {
            file_id: file_id.into(),
            record_key: record_key.into(),
            filename: filename.into(),
            hash: hash.into(),
            mime_type: mime_type.into(),
            size,
            created_at,
            updated_at,
        }
    }
}

/// One page of a find.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct FindPage {
    /// The records of the page, in the requested order.
    pub records: Vec<StoredRecord>,
    /// How many records match in all.
    pub total: u64,
}

/// What a store can fail with.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The input breaks a rule (names the field); nothing was changed.
    #[error("invalid {field}: {rule}")]
    Invalid {
        /// The offending field.
        field: String,
        /// The broken rule.
        rule: String,
    },
    /// The record (or attachment) the operation needs does not exist.
    #[error("{0} not found")]
    NotFound(&'static str),
    /// The database failed.
    #[error("database error")]
    Database(#[source] sqlx::Error),
    /// The operation was cut short because the runtime is shutting down; it may or may not
    /// have taken effect.
    #[error("the operation was interrupted: the runtime is shutting down")]
    Interrupted,
}

impl StoreError {
    pub(crate) fn invalid(field: impl Into<String>, rule: impl Into<String>) -> Self {
        Self::Invalid {
            field: field.into(),
            rule: rule.into(),
        }
    }
}

impl From<sqlx::Error> for StoreError {
    fn from(e: sqlx::Error) -> Self {
        Self::Database(e)
    }
}

/// The records and attachment metadata of one country, partitioned by environment id.
///
/// Every method is one database round trip or one transaction. Records whose `expires_at` is
/// at or before `now` are invisible to every read; [`Store::sweep_expired`] deletes them.
///
/// [`SqliteStore`] and [`PostgresStore`] are cancel-safe: each operation runs on a tokio task
/// of its own, so dropping its future (a client that disconnects) never leaves a transaction
/// open or a connection lost; the operation then completes or rolls back unobserved. They
/// need a tokio runtime.
#[async_trait]
pub trait Store: Send + Sync + std::fmt::Debug {
    /// Creates the tables and indexes if they do not exist (idempotent).
    async fn migrate(&self) -> Result<(), StoreError>;

    /// Inserts or replaces the record with this record key; `created_at` is kept on update
    /// and `updated_at` set to `now`. Returns the stored record.
    async fn upsert(
        &self,
        env: &str,
        record: &WireRecord,
        now: DateTime<Utc>,
    ) -> Result<StoredRecord, StoreError> {
        let mut out = self
            .upsert_batch(env, std::slice::from_ref(record), now)
            .await?;
        out.pop().ok_or(StoreError::NotFound("record"))
    }

    /// Upserts every record in one transaction: all are stored, or (on any error) none.
    async fn upsert_batch(
        &self,
        env: &str,
        records: &[WireRecord],
        now: DateTime<Utc>,
    ) -> Result<Vec<StoredRecord>, StoreError>;

    /// The record with this hashed key, unless absent or expired.
    async fn get(
        &self,
        env: &str,
        record_key: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<StoredRecord>, StoreError>;

    /// Deletes the record and its attachments' metadata. Returns the removed attachments'
    /// file ids, or `None` when there was no (unexpired) record.
    async fn delete(
        &self,
        env: &str,
        record_key: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<Vec<String>>, StoreError>;

    /// Deletes the records with these hashed keys (absent ones are skipped) in one
    /// transaction. Returns how many were deleted and the removed attachments' file ids.
    async fn delete_many(
        &self,
        env: &str,
        record_keys: &[String],
    ) -> Result<(u64, Vec<String>), StoreError>;

    /// The page of records matching `filter` (its conditions, sort, limit and offset) and
    /// the number of all matches.
    async fn find(
        &self,
        env: &str,
        filter: &FindFilter,
        now: DateTime<Utc>,
    ) -> Result<FindPage, StoreError>;

    /// The attachment of this record with this file name, if any.
    async fn attachment_by_filename(
        &self,
        env: &str,
        record_key: &str,
        filename: &str,
    ) -> Result<Option<StoredAttachment>, StoreError>;

    /// The attachment with this file id on this record, if any.
    async fn attachment(
        &self,
        env: &str,
        record_key: &str,
        file_id: &str,
    ) -> Result<Option<StoredAttachment>, StoreError>;

    /// Inserts the attachment, or replaces the one with the same file id (keeping its
    /// `created_at`). Fails with [`StoreError::NotFound`] when the record does not exist.
    async fn put_attachment(
        &self,
        env: &str,
        attachment: &StoredAttachment,
        now: DateTime<Utc>,
    ) -> Result<StoredAttachment, StoreError>;

    /// Changes an attachment's file name and/or MIME type; `None` when it does not exist.
    async fn update_attachment(
        &self,
        env: &str,
        record_key: &str,
        file_id: &str,
        filename: Option<&str>,
        mime_type: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<Option<StoredAttachment>, StoreError>;

    /// Deletes an attachment's metadata; `false` when it did not exist.
    async fn delete_attachment(
        &self,
        env: &str,
        record_key: &str,
        file_id: &str,
    ) -> Result<bool, StoreError>;

    /// Deletes every record (of every environment) expired at `now`, with its attachments.
    /// Returns how many records were deleted and the removed attachments' file ids.
    async fn sweep_expired(&self, now: DateTime<Utc>) -> Result<(u64, Vec<String>), StoreError>;
}
