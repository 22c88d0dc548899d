//! Reads of one record by key from a SQLite file, on the calling thread.
//!
//! sqlx runs every SQLite statement on a worker thread of its connection and passes the
//! statement and its rows across channels; before each statement the pool also pings the
//! connection. For a read by record key the query itself takes a few microseconds on cached
//! pages, so those thread hand-offs were most of the cost of serving a read (a profile of
//! `cargo xtask bench --server` showed the server's CPU time going to futex wake-ups and
//! context switches). [`PointReader`] answers such reads itself, with one statement (the record
//! joined with its attachments, one consistent snapshot) on a plain SQLite connection of its
//! own that:
//!
//! - only reads (`PRAGMA query_only`): it can never change the database;
//! - never waits for a lock (busy timeout 0): in WAL mode a reader is not blocked by writers,
//!   and in the rare cases SQLite answers "busy" (recovery, a checkpoint restart) the read
//!   gives up at once;
//! - keeps its prepared statement between reads.
//!
//! Whenever it cannot answer (busy, any SQLite error, a row it cannot decode) it says so and
//! the store takes its general path through sqlx, which waits and retries as every other
//! statement does. The cost of answering on the request's thread is that a read whose pages
//! are not in the OS cache waits for the disk there: a lookup by key touches a handful of
//! B-tree pages.

use std::path::{Path, PathBuf};
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use chrono::{DateTime, Utc};
use rusqlite::types::ValueRef;
use rusqlite::{Connection, OpenFlags, params};

use super::{
    ATTACHMENT_COLUMNS, Columns, RECORD_COLUMN_COUNT, attachment_from_columns, micros,
    record_from_columns, record_select_columns,
};
use crate::store::{StoreError, StoredRecord};

/// Idle connections kept for later reads; more may be open at once under load, but only
/// this many are kept.
const MAX_IDLE: usize = 16;

/// Why a point read did not answer: the caller takes the general path.
#[derive(Debug, thiserror::Error)]
pub(super) enum PointReadError {
    /// SQLite refused or failed (busy database, missing file, I/O error).
    #[error("SQLite: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// A row could not be read as a record or an attachment.
    #[error("{0}")]
    Decode(#[from] StoreError),
}

/// Reads single records of one SQLite database file through a small pool of read-only
/// connections, on the calling thread.
pub(super) struct PointReader {
    path: PathBuf,
    statement: String,
    idle: Mutex<Vec<Connection>>,
}

impl std::fmt::Debug for PointReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PointReader")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

impl PointReader {
    /// A reader of the records in the database at `path` (which must exist and be migrated
    /// when the first read runs).
    pub(super) fn new(path: &Path) -> Self {
        let prefixed = |columns: &str, alias: &str| {
            columns
                .split(", ")
                .map(|column| format!("{alias}.{column}"))
                .collect::<Vec<_>>()
                .join(", ")
        };
        let statement = format!(
            "SELECT {}, {} FROM records AS r \
             LEFT JOIN attachments AS a ON a.env_id = r.env_id AND a.record_key = r.record_key \
             WHERE r.env_id = ?1 AND r.record_key = ?2 \
             AND (r.expires_at_us IS NULL OR r.expires_at_us > ?3)",
            prefixed(&record_select_columns(), "r"),
            prefixed(ATTACHMENT_COLUMNS, "a"),
        );
        Self {
            path: path.to_owned(),
            statement,
            idle: Mutex::new(Vec::new()),
        }
    }

    /// The record with this key in `env` with its attachments (oldest first), unless absent
    /// or expired at `now`.
    pub(super) fn get(
        &self,
        env: &str,
        record_key: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<StoredRecord>, PointReadError> {
        let connection = self.take()?;
        let found = self.read(&connection, env, record_key, now);
        // A connection that failed is dropped rather than kept: the next read opens a fresh
        // one.
        if found.is_ok() {
            let mut idle = self.idle.lock().unwrap_or_else(PoisonError::into_inner);
            if idle.len() < MAX_IDLE {
                idle.push(connection);
            }
        }
        found
    }

    /// An idle connection, or a new one.
    fn take(&self) -> Result<Connection, rusqlite::Error> {
        let idle = self
            .idle
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .pop();
        match idle {
            Some(connection) => Ok(connection),
            None => self.open(),
        }
    }

    fn open(&self) -> Result<Connection, rusqlite::Error> {
        // Never create: the store's own pool creates and migrates the file.
        let connection = Connection::open_with_flags(
            &self.path,
            OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )?;
        connection.busy_timeout(Duration::ZERO)?;
        connection.pragma_update(None, "query_only", true)?;
        Ok(connection)
    }

    fn read(
        &self,
        connection: &Connection,
        env: &str,
        record_key: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<StoredRecord>, PointReadError> {
        let mut statement = connection.prepare_cached(&self.statement)?;
        let mut rows = statement.query(params![env, record_key, micros(&now)])?;
        let mut found: Option<StoredRecord> = None;
        while let Some(row) = rows.next()? {
            let row = RusqliteRow(row);
            let stored = match &mut found {
                Some(stored) => stored,
                None => found.insert(StoredRecord {
                    record: record_from_columns(&row)?,
                    attachments: Vec::new(),
                }),
            };
            // Without attachments the join yields one row with NULL attachment columns.
            if row.text(RECORD_COLUMN_COUNT)?.is_some() {
                stored
                    .attachments
                    .push(attachment_from_columns(&row, RECORD_COLUMN_COUNT)?);
            }
        }
        // Oldest first, as the general path orders them. Sorting here rather than in SQL
        // spares SQLite a temporary sorter that copies every column of the row.
        if let Some(stored) = &mut found {
            stored
                .attachments
                .sort_by(|a, b| (a.created_at, &a.file_id).cmp(&(b.created_at, &b.file_id)));
        }
        Ok(found)
    }
}

struct RusqliteRow<'a>(&'a rusqlite::Row<'a>);

impl Columns for RusqliteRow<'_> {
    fn text(&self, index: usize) -> Result<Option<String>, StoreError> {
        match self.0.get_ref(index) {
            Ok(ValueRef::Null) => Ok(None),
            Ok(ValueRef::Text(bytes)) => std::str::from_utf8(bytes)
                .map(|text| Some(text.to_owned()))
                .map_err(|e| StoreError::invalid(format!("column {index}"), e.to_string())),
            Ok(other) => Err(StoreError::invalid(
                format!("column {index}"),
                format!("is {:?}, not text", other.data_type()),
            )),
            Err(e) => Err(StoreError::invalid(
                format!("column {index}"),
                e.to_string(),
            )),
        }
    }

    fn int(&self, index: usize) -> Result<Option<i64>, StoreError> {
        match self.0.get_ref(index) {
            Ok(ValueRef::Null) => Ok(None),
            Ok(ValueRef::Integer(n)) => Ok(Some(n)),
            Ok(other) => Err(StoreError::invalid(
                format!("column {index}"),
                format!("is {:?}, not an integer", other.data_type()),
            )),
            Err(e) => Err(StoreError::invalid(
                format!("column {index}"),
                e.to_string(),
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use chrono::TimeZone as _;

    use super::*;
    use crate::store::sql::SqliteStore;
    use crate::store::{Store, StoredAttachment};

    const ENV: &str = "env";

    fn t(seconds: i64) -> DateTime<Utc> {
        Utc.timestamp_opt(1_700_000_000 + seconds, 0).unwrap()
    }

    fn record(key: &str, body: &str, expires_at: Option<&str>) -> incountry_model::WireRecord {
        let mut record = incountry_model::WireRecord::default();
        record.record_key = Some(key.into());
        record.body = Some(body.into());
        record.key1 = Some("k1".into());
        record.key20 = Some("k20".into());
        record.range_key10 = Some(-7);
        record.version = Some(3);
        record.is_encrypted = Some(true);
        record.expires_at = expires_at.map(str::to_owned);
        record
    }

    fn attachment(file_id: &str, filename: &str) -> StoredAttachment {
        StoredAttachment::new(file_id, "r", filename, "ab", "text/plain", 2, t(0), t(0))
    }

    /// A file store, the same store reading only through its pool, and its point reader.
    async fn stores(dir: &tempfile::TempDir) -> (SqliteStore, SqliteStore, Arc<PointReader>) {
        let store = SqliteStore::open(&dir.path().join("records.sqlite3"))
            .await
            .unwrap();
        let general = SqliteStore {
            pool: store.pool.clone(),
            point_reader: None,
        };
        let reader = store.point_reader.clone().unwrap();
        (store, general, reader)
    }

    #[tokio::test]
    async fn point_reads_answer_what_the_general_path_answers() {
        let dir = tempfile::tempdir().unwrap();
        let (store, general, reader) = stores(&dir).await;
        store
            .upsert(
                ENV,
                &record("r", "2:body", Some("2099-01-01T00:00:00+00:00")),
                t(0),
            )
            .await
            .unwrap();
        store
            .upsert(ENV, &record("plain", "pt:abc", None), t(0))
            .await
            .unwrap();
        // Attached out of file-id order, and the later one first: oldest first either way.
        let late = "ffffffff-ffff-4fff-8fff-ffffffffffff";
        let early = "00000000-0000-4000-8000-000000000000";
        store
            .put_attachment(ENV, &attachment(late, "late.txt"), t(2))
            .await
            .unwrap();
        store
            .put_attachment(ENV, &attachment(early, "early.txt"), t(1))
            .await
            .unwrap();
        for key in ["r", "plain", "missing"] {
            let direct = reader.get(ENV, key, t(5)).unwrap();
            let pooled = general.get(ENV, key, t(5)).await.unwrap();
            assert_eq!(direct, pooled, "{key}");
        }
        let read = reader.get(ENV, "r", t(5)).unwrap().unwrap();
        let ids: Vec<&str> = read
            .attachments
            .iter()
            .map(|a| a.file_id.as_str())
            .collect();
        assert_eq!(ids, [early, late]);
        assert_eq!(read.record.range_key10, Some(-7));
        assert_eq!(read.record.key20.as_deref(), Some("k20"));
        // Another environment sees nothing.
        assert_eq!(reader.get("other", "r", t(5)).unwrap(), None);
    }

    #[tokio::test]
    async fn point_reads_see_every_acknowledged_write_and_expiry() {
        let dir = tempfile::tempdir().unwrap();
        let (store, _, reader) = stores(&dir).await;
        for (i, body) in ["2:one", "2:two", "2:three"].into_iter().enumerate() {
            store
                .upsert(ENV, &record("r", body, None), t(i64::try_from(i).unwrap()))
                .await
                .unwrap();
            let read = reader.get(ENV, "r", t(10)).unwrap().unwrap();
            assert_eq!(read.record.body.as_deref(), Some(body));
        }
        store
            .upsert(
                ENV,
                &record("r", "2:four", Some("2023-11-14T22:13:30+00:00")),
                t(3),
            )
            .await
            .unwrap();
        // expires_at is 1_700_000_010: visible before, gone at and after.
        assert!(reader.get(ENV, "r", t(9)).unwrap().is_some());
        assert_eq!(reader.get(ENV, "r", t(10)).unwrap(), None);
        store.delete(ENV, "r", t(0)).await.unwrap();
        assert_eq!(reader.get(ENV, "r", t(0)).unwrap(), None);
    }

    #[tokio::test]
    async fn the_store_reads_through_its_pool_when_the_point_reader_cannot() {
        let dir = tempfile::tempdir().unwrap();
        let (store, general, _) = stores(&dir).await;
        store
            .upsert(ENV, &record("r", "2:body", None), t(0))
            .await
            .unwrap();
        // A point reader whose file does not exist fails to open (it never creates one)...
        let broken = SqliteStore {
            pool: general.pool.clone(),
            point_reader: Some(Arc::new(PointReader::new(
                &dir.path().join("absent.sqlite3"),
            ))),
        };
        assert!(
            broken
                .point_reader
                .as_ref()
                .unwrap()
                .get(ENV, "r", t(1))
                .is_err()
        );
        assert!(!dir.path().join("absent.sqlite3").exists());
        // ...and the store still answers, through the pool.
        let read = broken.get(ENV, "r", t(1)).await.unwrap().unwrap();
        assert_eq!(read.record.body.as_deref(), Some("2:body"));
    }

    #[tokio::test]
    async fn point_reader_connections_cannot_write() {
        let dir = tempfile::tempdir().unwrap();
        let (store, _, reader) = stores(&dir).await;
        store
            .upsert(ENV, &record("r", "2:body", None), t(0))
            .await
            .unwrap();
        let connection = reader.open().unwrap();
        assert!(connection.execute("DELETE FROM records", []).is_err());
        assert!(reader.get(ENV, "r", t(1)).unwrap().is_some());
    }
}
