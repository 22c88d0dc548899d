//! The SQL shared by the SQLite and PostgreSQL stores.
//!
//! Every value travels as a bound parameter; every identifier comes from the constants below
//! or from the model's closed field enums, never from input.

use std::collections::HashMap;
use std::path::Path;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use incountry_model::{
    Condition, DateField, Field, FilterValue, FindFilter, IntField, Lower, NotValue, Operators,
    SortField, SortOrder, Upper, WireRecord, parse_date,
};
use serde_json::Value;
use sqlx::Row;
use sqlx::postgres::{PgPool, Postgres};
use sqlx::sqlite::{
    Sqlite, SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions,
    SqliteSynchronous,
};

use incountry_model::WIRE_RECORD_FIELDS;

use super::{FindPage, Store, StoreError, StoredAttachment, StoredRecord};

mod point_read;

use point_read::PointReader;

/// Text members of a record (`body` to `key20` in the shared wire order), each a column of
/// the same name.
const TEXT_COLUMNS: &[&str] = WIRE_RECORD_FIELDS.split_at(30).0.split_at(1).1;

/// The plain search keys `search_keys` looks into (`key1..key20`).
const SEARCH_KEY_COLUMNS: &[&str] = WIRE_RECORD_FIELDS.split_at(30).0.split_at(10).1;

/// Integer members of a record, each a column of the same name.
const INT_COLUMNS: [&str; 11] = [
    "range_key1",
    "range_key2",
    "range_key3",
    "range_key4",
    "range_key5",
    "range_key6",
    "range_key7",
    "range_key8",
    "range_key9",
    "range_key10",
    "version",
];

/// Text columns worth an equality index (all but the bodies).
const INDEXED_TEXT_COLUMNS: usize = 2;

const ATTACHMENT_COLUMNS: &str =
    "file_id, record_key, filename, hash, mime_type, size, created_at_us, updated_at_us";

/// How many values one `IN (...)` list binds at most.
const IN_CHUNK: usize = 500;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Dialect {
    Sqlite,
    Postgres,
}

#[derive(Debug, Clone)]
enum Param {
    Text(Option<String>),
    Int(Option<i64>),
}

/// A statement under construction with its parameters.
struct Sql {
    dialect: Dialect,
    text: String,
    params: Vec<Param>,
}

impl Sql {
    fn new(dialect: Dialect) -> Self {
        Self {
            dialect,
            text: String::new(),
            params: Vec::new(),
        }
    }

    fn push(&mut self, text: &str) -> &mut Self {
        self.text.push_str(text);
        self
    }

    fn bind(&mut self, param: Param) -> &mut Self {
        self.params.push(param);
        match self.dialect {
            Dialect::Sqlite => self.text.push('?'),
            Dialect::Postgres => {
                let n = self.params.len();
                self.text.push_str(&format!("${n}"));
            }
        }
        self
    }

    fn text(&mut self, value: &str) -> &mut Self {
        self.bind(Param::Text(Some(value.to_owned())))
    }

    fn int(&mut self, value: i64) -> &mut Self {
        self.bind(Param::Int(Some(value)))
    }

    fn list(&mut self, values: impl IntoIterator<Item = Param>) -> &mut Self {
        self.push("(");
        for (i, value) in values.into_iter().enumerate() {
            if i > 0 {
                self.push(", ");
            }
            self.bind(value);
        }
        self.push(")")
    }

    /// `instr`/`strpos`: a case-sensitive substring test.
    fn contains(&mut self, column: &str, text: &str) -> &mut Self {
        let function = match self.dialect {
            Dialect::Sqlite => "instr",
            Dialect::Postgres => "strpos",
        };
        self.push(&format!("{function}({column}, "));
        self.text(text);
        self.push(") > 0")
    }
}

fn micros(when: &DateTime<Utc>) -> i64 {
    when.timestamp_micros()
}

/// Server time as stored for records and attachments: whole milliseconds.
fn millis_now(now: DateTime<Utc>) -> i64 {
    now.timestamp_millis() * 1000
}

fn format_millis(us: i64) -> String {
    DateTime::<Utc>::from_timestamp_micros(us)
        .unwrap_or_default()
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, false)
}

fn from_micros(us: i64) -> DateTime<Utc> {
    DateTime::<Utc>::from_timestamp_micros(us).unwrap_or_default()
}

fn filter_param(value: &FilterValue) -> Param {
    match value {
        FilterValue::String(text) => Param::Text(Some(text.clone())),
        FilterValue::Int(n) => Param::Int(Some(*n)),
        FilterValue::Date(when) => Param::Int(Some(micros(when))),
    }
}

fn column(field: Field) -> &'static str {
    match field {
        Field::String(f) => f.field_name(),
        Field::Int(IntField::Version) => "version",
        Field::Int(f) => f.field_name(),
        Field::Date(DateField::CreatedAt) => "created_at_us",
        Field::Date(DateField::UpdatedAt) => "updated_at_us",
        Field::Date(DateField::ExpiresAt) => "expires_at_us",
    }
}

fn sort_column(field: SortField) -> &'static str {
    match field {
        SortField::CreatedAt => "created_at_us",
        SortField::UpdatedAt => "updated_at_us",
        SortField::ExpiresAt => "expires_at_us",
        other => other.field_name(),
    }
}

fn condition(sql: &mut Sql, column: &str, condition: &Condition) {
    match condition {
        Condition::Eq(value) => {
            sql.push(&format!("{column} = "));
            sql.bind(filter_param(value));
        }
        Condition::AnyOf(values) => {
            sql.push(&format!("{column} IN "));
            sql.list(values.iter().map(filter_param));
        }
        Condition::Null => {
            sql.push(&format!("{column} IS NULL"));
        }
        Condition::Like(text) => {
            sql.contains(column, text);
        }
        Condition::Operators(Operators { not, lower, upper }) => {
            sql.push("(1 = 1");
            match not {
                Some(NotValue::Value(value)) => {
                    sql.push(&format!(" AND ({column} IS NULL OR {column} <> "));
                    sql.bind(filter_param(value));
                    sql.push(")");
                }
                Some(NotValue::AnyOf(values)) => {
                    sql.push(&format!(" AND ({column} IS NULL OR {column} NOT IN "));
                    sql.list(values.iter().map(filter_param));
                    sql.push(")");
                }
                Some(NotValue::Null) => {
                    sql.push(&format!(" AND {column} IS NOT NULL"));
                }
                None => {}
            }
            match lower {
                Some(Lower::Gt(v)) => {
                    sql.push(&format!(" AND {column} > "));
                    sql.bind(filter_param(v));
                }
                Some(Lower::Gte(v)) => {
                    sql.push(&format!(" AND {column} >= "));
                    sql.bind(filter_param(v));
                }
                None => {}
            }
            match upper {
                Some(Upper::Lt(v)) => {
                    sql.push(&format!(" AND {column} < "));
                    sql.bind(filter_param(v));
                }
                Some(Upper::Lte(v)) => {
                    sql.push(&format!(" AND {column} <= "));
                    sql.bind(filter_param(v));
                }
                None => {}
            }
            sql.push(")");
        }
    }
}

/// `WHERE` for a find: the environment, not expired, and every member of the filter.
fn find_where(sql: &mut Sql, env: &str, filter: &FindFilter, now: DateTime<Utc>) {
    sql.push(" WHERE env_id = ");
    sql.text(env);
    sql.push(" AND (expires_at_us IS NULL OR expires_at_us > ");
    sql.int(micros(&now));
    sql.push(")");
    for (field, cond) in filter.conditions() {
        sql.push(" AND ");
        condition(sql, column(*field), cond);
    }
    if let Some(text) = filter.search_text() {
        sql.push(" AND (");
        for (i, key) in SEARCH_KEY_COLUMNS.iter().enumerate() {
            if i > 0 {
                sql.push(" OR ");
            }
            sql.contains(key, text);
        }
        sql.push(")");
    }
    let branches = filter.or_branches();
    if !branches.is_empty() {
        sql.push(" AND (");
        for (i, branch) in branches.iter().enumerate() {
            if i > 0 {
                sql.push(" OR ");
            }
            sql.push("(1 = 1");
            for (field, cond) in branch.conditions() {
                sql.push(" AND ");
                condition(sql, field.field_name(), cond);
            }
            sql.push(")");
        }
        sql.push(")");
    }
}

fn order_by(filter: &FindFilter) -> String {
    let mut items: Vec<String> = filter
        .sort_items()
        .iter()
        .map(|item| {
            let order = match item.order {
                SortOrder::Asc => "ASC",
                SortOrder::Desc => "DESC",
            };
            format!("{} {order} NULLS LAST", sort_column(item.field))
        })
        .collect();
    // Creation order: the row id grows with each new record and stays on update. (Not
    // `created_at_us`: SQLite would then walk that index instead of the filter's.)
    items.push("id ASC".into());
    format!(" ORDER BY {}", items.join(", "))
}

fn record_select_columns() -> String {
    let mut columns = vec!["record_key"];
    columns.extend(TEXT_COLUMNS);
    columns.extend(INT_COLUMNS);
    columns.extend([
        "expires_at",
        "is_encrypted",
        "created_at_us",
        "updated_at_us",
    ]);
    columns.join(", ")
}

/// Positional access to the columns of a result row, whichever driver read it.
trait Columns {
    /// The text in column `index` (0-based), `None` for NULL.
    fn text(&self, index: usize) -> Result<Option<String>, StoreError>;
    /// The integer in column `index` (0-based), `None` for NULL.
    fn int(&self, index: usize) -> Result<Option<i64>, StoreError>;

    /// The text in column `index`, which the schema declares `NOT NULL`.
    fn required_text(&self, index: usize, name: &str) -> Result<String, StoreError> {
        self.text(index)?
            .ok_or_else(|| StoreError::invalid(name.to_owned(), "is NULL in the database"))
    }

    /// The integer in column `index`, which the schema declares `NOT NULL`.
    fn required_int(&self, index: usize, name: &str) -> Result<i64, StoreError> {
        self.int(index)?
            .ok_or_else(|| StoreError::invalid(name.to_owned(), "is NULL in the database"))
    }
}

macro_rules! sqlx_columns {
    ($($row:ty),*) => {$(
        impl Columns for $row {
            fn text(&self, index: usize) -> Result<Option<String>, StoreError> {
                Ok(self.try_get::<Option<String>, _>(index)?)
            }

            fn int(&self, index: usize) -> Result<Option<i64>, StoreError> {
                Ok(self.try_get::<Option<i64>, _>(index)?)
            }
        }
    )*};
}

sqlx_columns!(sqlx::sqlite::SqliteRow, sqlx::postgres::PgRow);

/// How many columns [`record_select_columns`] lists.
const RECORD_COLUMN_COUNT: usize = 1 + TEXT_COLUMNS.len() + INT_COLUMNS.len() + 4;

/// The record in the columns of [`record_select_columns`], which start the row.
fn record_from_columns(row: &impl Columns) -> Result<WireRecord, StoreError> {
    let mut record = WireRecord::default();
    record.record_key = Some(row.required_text(0, "record_key")?);
    let mut index = 1;
    for member in record.text_members_mut() {
        *member = row.text(index)?;
        index += 1;
    }
    for key in record.range_keys_mut() {
        *key = row.int(index)?;
        index += 1;
    }
    record.version = row
        .int(index)?
        .map(u32::try_from)
        .transpose()
        .map_err(|_| StoreError::invalid("version", "is out of range in the database"))?;
    record.expires_at = row.text(index + 1)?;
    record.is_encrypted = row.int(index + 2)?.map(|v| v != 0);
    record.created_at = Some(format_millis(row.required_int(index + 3, "created_at_us")?));
    record.updated_at = Some(format_millis(row.required_int(index + 4, "updated_at_us")?));
    Ok(record)
}

/// The attachment in the columns of [`ATTACHMENT_COLUMNS`], starting at column `first`.
fn attachment_from_columns(
    row: &impl Columns,
    first: usize,
) -> Result<StoredAttachment, StoreError> {
    Ok(StoredAttachment::new(
        row.required_text(first, "file_id")?,
        row.required_text(first + 1, "record_key")?,
        row.required_text(first + 2, "filename")?,
        row.required_text(first + 3, "hash")?,
        row.required_text(first + 4, "mime_type")?,
        u64::try_from(row.required_int(first + 5, "size")?).unwrap_or_default(),
        from_micros(row.required_int(first + 6, "created_at_us")?),
        from_micros(row.required_int(first + 7, "updated_at_us")?),
    ))
}

/// A record checked and taken apart into columns.
struct RecordRow {
    record_key: String,
    text: Vec<Option<String>>,
    ints: Vec<Option<i64>>,
    expires_at: Option<(String, i64)>,
    is_encrypted: Option<bool>,
}

impl RecordRow {
    fn new(record: &WireRecord) -> Result<Self, StoreError> {
        record
            .validate()
            .map_err(|e| StoreError::invalid(e.field().unwrap_or("record"), e.to_string()))?;
        let map = record.to_json_map();
        let text = TEXT_COLUMNS
            .iter()
            .map(|name| map.get(*name).and_then(Value::as_str).map(str::to_owned))
            .collect();
        let ints = INT_COLUMNS
            .iter()
            .map(|name| map.get(*name).and_then(Value::as_i64))
            .collect();
        let expires_at = match &record.expires_at {
            None => None,
            Some(text) => {
                let when = parse_date(text)
                    .map_err(|e| StoreError::invalid("expires_at", e.to_string()))?;
                Some((text.clone(), micros(&when)))
            }
        };
        Ok(Self {
            record_key: record.record_key.clone().unwrap_or_default(),
            text,
            ints,
            expires_at,
            is_encrypted: record.is_encrypted,
        })
    }
}

/// One statement that upserts every row (their record keys must be distinct: PostgreSQL
/// refuses to update one row twice in a statement) and returns each row's record key and
/// timestamps, in no particular order.
fn upsert_sql(
    dialect: Dialect,
    table: &str,
    rows: &[&RecordRow],
    now: DateTime<Utc>,
    env: &str,
) -> Sql {
    let now_us = millis_now(now);
    let mut columns = vec!["env_id", "record_key"];
    columns.extend(TEXT_COLUMNS);
    columns.extend(INT_COLUMNS);
    columns.extend([
        "expires_at",
        "expires_at_us",
        "is_encrypted",
        "created_at_us",
        "updated_at_us",
    ]);
    let mut sql = Sql::new(dialect);
    sql.push(&format!(
        "INSERT INTO {table} AS r ({}) VALUES ",
        columns.join(", ")
    ));
    for (i, row) in rows.iter().enumerate() {
        if i > 0 {
            sql.push(", ");
        }
        let mut values = vec![
            Param::Text(Some(env.to_owned())),
            Param::Text(Some(row.record_key.clone())),
        ];
        values.extend(row.text.iter().cloned().map(Param::Text));
        values.extend(row.ints.iter().copied().map(Param::Int));
        values.push(Param::Text(row.expires_at.as_ref().map(|e| e.0.clone())));
        values.push(Param::Int(row.expires_at.as_ref().map(|e| e.1)));
        values.push(Param::Int(row.is_encrypted.map(i64::from)));
        values.push(Param::Int(Some(now_us)));
        values.push(Param::Int(Some(now_us)));
        sql.list(values);
    }
    let updates: Vec<String> = columns[2..columns.len() - 2]
        .iter()
        .map(|c| format!("{c} = excluded.{c}"))
        .collect();
    sql.push(&format!(
        " ON CONFLICT (env_id, record_key) DO UPDATE SET {}, updated_at_us = excluded.updated_at_us, \
         created_at_us = CASE WHEN r.expires_at_us IS NOT NULL AND r.expires_at_us <= ",
        updates.join(", ")
    ));
    sql.int(micros(&now));
    sql.push(
        " THEN excluded.created_at_us ELSE r.created_at_us END \
         RETURNING record_key, created_at_us, updated_at_us",
    );
    sql
}

/// Rows per upsert statement: 100 rows of about 50 columns stay far below SQLite's 32 766
/// and PostgreSQL's 65 535 bound parameters.
const UPSERT_CHUNK: usize = 100;

fn ddl(dialect: Dialect, records: &str, attachments: &str) -> Vec<String> {
    let serial = match dialect {
        Dialect::Sqlite => "INTEGER PRIMARY KEY AUTOINCREMENT",
        Dialect::Postgres => "BIGSERIAL PRIMARY KEY",
    };
    let mut columns = vec![
        format!("id {serial}"),
        "env_id TEXT NOT NULL".into(),
        "record_key TEXT NOT NULL".into(),
    ];
    columns.extend(TEXT_COLUMNS.iter().map(|c| format!("{c} TEXT")));
    columns.extend(INT_COLUMNS.iter().map(|c| format!("{c} BIGINT")));
    columns.extend([
        "expires_at TEXT".into(),
        "expires_at_us BIGINT".into(),
        "is_encrypted BIGINT".into(),
        "created_at_us BIGINT NOT NULL".into(),
        "updated_at_us BIGINT NOT NULL".into(),
        "UNIQUE (env_id, record_key)".into(),
    ]);
    let mut out = vec![format!(
        "CREATE TABLE IF NOT EXISTS {records} ({})",
        columns.join(", ")
    )];
    let indexed = TEXT_COLUMNS[INDEXED_TEXT_COLUMNS..]
        .iter()
        .chain(INT_COLUMNS.iter())
        .chain(["expires_at_us", "created_at_us", "updated_at_us"].iter());
    for column in indexed {
        out.push(format!(
            "CREATE INDEX IF NOT EXISTS records_{column} ON {records} (env_id, {column})"
        ));
    }
    out.push(format!(
        "CREATE INDEX IF NOT EXISTS records_expiry ON {records} (expires_at_us)"
    ));
    out.push(format!(
        "CREATE TABLE IF NOT EXISTS {attachments} (file_id TEXT PRIMARY KEY, env_id TEXT NOT NULL, \
         record_key TEXT NOT NULL, filename TEXT NOT NULL, hash TEXT NOT NULL, mime_type TEXT NOT NULL, \
         size BIGINT NOT NULL, created_at_us BIGINT NOT NULL, updated_at_us BIGINT NOT NULL)"
    ));
    out.push(format!(
        "CREATE INDEX IF NOT EXISTS attachments_record ON {attachments} (env_id, record_key, filename)"
    ));
    out
}

/// How many times a transaction that lost a race (serialization failure, deadlock, busy
/// database) is retried before the error surfaces.
const RETRIES: u32 = 4;

/// Whether a database error is worth retrying: PostgreSQL (and compatible engines)
/// serialization failures and deadlocks, SQLite busy and locked databases.
fn is_transient(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::Database(db) => matches!(
            db.code().as_deref(),
            Some("40001" | "40P01" | "5" | "6" | "517")
        ),
        _ => false,
    }
}

/// Runs `op` again, with a growing pause, while it fails with a transient database error.
async fn retry<T, F, Fut>(mut op: F) -> Result<T, StoreError>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, StoreError>>,
{
    let mut pause = Duration::from_millis(5);
    for _ in 0..RETRIES {
        match op().await {
            Err(StoreError::Database(e)) if is_transient(&e) => {
                tracing::debug!(error = %e, "retrying a transaction");
                tokio::time::sleep(pause).await;
                pause *= 4;
            }
            other => return other,
        }
    }
    op().await
}

/// Runs one store operation on a task of its own (see `crate::detach`).
async fn in_task<T: Send + 'static>(
    operation: impl std::future::Future<Output = Result<T, StoreError>> + Send + 'static,
) -> Result<T, StoreError> {
    crate::detach::detached(operation)
        .await
        .unwrap_or(Err(StoreError::Interrupted))
}

fn group_attachments(list: Vec<StoredAttachment>) -> HashMap<String, Vec<StoredAttachment>> {
    let mut out: HashMap<String, Vec<StoredAttachment>> = HashMap::new();
    for attachment in list {
        out.entry(attachment.record_key.clone())
            .or_default()
            .push(attachment);
    }
    out
}

/// What a read by record key on the calling thread gave.
// Returned once per read and moved straight out: boxing the record would add an allocation
// to the hottest path for nothing.
#[allow(clippy::large_enum_variant)]
enum PointRead {
    /// The reader answered: the record, or `None` when there is none (or it expired).
    Answered(Option<StoredRecord>),
    /// There is no point reader (memory, PostgreSQL) or it could not answer (busy, an error):
    /// read through the pool instead.
    Unanswered,
}

/// A record store in SQLite: one database (file or memory) per country.
///
/// Files use WAL mode with `synchronous=FULL`, so an acknowledged write survives a crash.
/// Reads of one record by key run on the calling thread through read-only connections of
/// their own (see the `point_read` module); every other statement goes through sqlx.
#[derive(Debug, Clone)]
pub struct SqliteStore {
    pool: SqlitePool,
    /// Reads by record key of a file database; `None` in memory (a second connection to
    /// `:memory:` would open another, empty database).
    point_reader: Option<Arc<PointReader>>,
}

impl SqliteStore {
    /// Opens (creating if needed) the database file at `path` and runs the migrations.
    pub async fn open(path: &Path) -> Result<Self, StoreError> {
        let options = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .busy_timeout(Duration::from_secs(10));
        let pool = SqlitePoolOptions::new()
            .max_connections(4)
            // A local file needs no liveness check (a ping is a round trip to the
            // connection's worker thread before every statement).
            .test_before_acquire(false)
            .connect_with(options)
            .await?;
        let mut store = Self {
            pool,
            point_reader: None,
        };
        store.migrate().await?;
        store.point_reader = Some(Arc::new(PointReader::new(path)));
        Ok(store)
    }

    /// A fresh database in memory (gone when the store is dropped), migrated.
    pub async fn in_memory() -> Result<Self, StoreError> {
        let options = SqliteConnectOptions::from_str("sqlite::memory:")?;
        // The database lives in this one connection: nothing may close it. No liveness ping
        // before each use either: a ping cancelled halfway closes the connection it tests
        // (the operations also run detached, see `crate::detach`).
        let pool = SqlitePoolOptions::new()
            .max_connections(1)
            .min_connections(1)
            .idle_timeout(None)
            .max_lifetime(None)
            .test_before_acquire(false)
            .connect_with(options)
            .await?;
        let store = Self {
            pool,
            point_reader: None,
        };
        store.migrate().await?;
        Ok(store)
    }

    fn tables(&self) -> (&'static str, &'static str) {
        ("records", "attachments")
    }

    /// The record read on this thread by the point reader, if it could answer.
    fn point_read(&self, env: &str, record_key: &str, now: DateTime<Utc>) -> PointRead {
        let Some(reader) = self.point_reader.as_ref() else {
            return PointRead::Unanswered;
        };
        match reader.get(env, record_key, now) {
            Ok(found) => PointRead::Answered(found),
            Err(e) => {
                tracing::debug!(error = %e, "point read not answered; reading through the pool");
                PointRead::Unanswered
            }
        }
    }

    async fn begin(&self) -> Result<sqlx::Transaction<'static, Sqlite>, sqlx::Error> {
        // Take the write lock up front so concurrent writers wait (busy timeout) instead of
        // failing on a lock upgrade.
        self.pool.begin_with("BEGIN IMMEDIATE").await
    }
}

/// A record store in PostgreSQL: one schema per country in a shared database.
///
/// Portable SQL only (no advisory locks), so it also suits PostgreSQL-compatible engines.
#[derive(Debug, Clone)]
pub struct PostgresStore {
    pool: PgPool,
    records: String,
    attachments: String,
    schema: String,
}

impl PostgresStore {
    /// A store in `schema` (created if needed; lower-case letters, digits and `_` only),
    /// migrated.
    pub async fn open(pool: PgPool, schema: &str) -> Result<Self, StoreError> {
        let valid = !schema.is_empty()
            && schema.len() <= 63
            && schema
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
            && !schema.as_bytes()[0].is_ascii_digit();
        if !valid {
            return Err(StoreError::invalid(
                "schema",
                "must be 1 to 63 lower-case letters, digits or _, not starting with a digit",
            ));
        }
        let store = Self {
            pool,
            records: format!("\"{schema}\".records"),
            attachments: format!("\"{schema}\".attachments"),
            schema: schema.to_owned(),
        };
        store.migrate().await?;
        Ok(store)
    }

    /// The schema this store keeps its tables in.
    pub fn schema(&self) -> &str {
        &self.schema
    }

    fn tables(&self) -> (&str, &str) {
        (&self.records, &self.attachments)
    }

    /// PostgreSQL reads always go through the pool (its client does not hand statements
    /// between threads).
    fn point_read(&self, _: &str, _: &str, _: DateTime<Utc>) -> PointRead {
        PointRead::Unanswered
    }

    async fn begin(&self) -> Result<sqlx::Transaction<'static, Postgres>, sqlx::Error> {
        self.pool.begin().await
    }
}

macro_rules! sql_store {
    ($store:ident, $db:ty, $dialect:expr, $module:ident) => {
        mod $module {
            use super::*;

            type Db = $db;

            fn query(sql: &Sql) -> sqlx::query::Query<'_, Db, <Db as sqlx::Database>::Arguments<'_>> {
                let mut q = sqlx::query(&sql.text);
                for param in &sql.params {
                    q = match param {
                        Param::Text(v) => q.bind(v.clone()),
                        Param::Int(v) => q.bind(*v),
                    };
                }
                q
            }

            impl $store {
                async fn attachments_of(
                    &self,
                    env: &str,
                    record_keys: &[String],
                ) -> Result<HashMap<String, Vec<StoredAttachment>>, StoreError> {
                    let (_, attachments) = self.tables();
                    let mut all = Vec::new();
                    for chunk in record_keys.chunks(IN_CHUNK) {
                        let mut sql = Sql::new($dialect);
                        sql.push(&format!(
                            "SELECT {ATTACHMENT_COLUMNS} FROM {attachments} WHERE env_id = "
                        ));
                        sql.text(env);
                        sql.push(" AND record_key IN ");
                        sql.list(chunk.iter().map(|k| Param::Text(Some(k.clone()))));
                        sql.push(" ORDER BY created_at_us, file_id");
                        for row in query(&sql).fetch_all(&self.pool).await? {
                            all.push(attachment_from_columns(&row, 0)?);
                        }
                    }
                    Ok(group_attachments(all))
                }
            }

            /// The first attachment of a record whose `column` (`file_id` or `filename`, never
            /// user input) equals `value`, oldest first.
            async fn one_attachment(
                store: &$store,
                env: &str,
                record_key: &str,
                column: &'static str,
                value: &str,
            ) -> Result<Option<StoredAttachment>, StoreError> {
                let (_, attachments) = store.tables();
                let mut sql = Sql::new($dialect);
                sql.push(&format!(
                    "SELECT {ATTACHMENT_COLUMNS} FROM {attachments} WHERE env_id = "
                ));
                sql.text(env);
                sql.push(" AND record_key = ");
                sql.text(record_key);
                sql.push(&format!(" AND {column} = "));
                sql.text(value);
                sql.push(" ORDER BY created_at_us, file_id LIMIT 1");
                query(&sql)
                    .fetch_optional(&store.pool)
                    .await?
                    .map(|row| attachment_from_columns(&row, 0))
                    .transpose()
            }

            /// The operations themselves, run by the [`Store`] methods below on a task of their
            /// own (see `crate::detach`): only ever awaited there, never dropped halfway.
            impl $store {
                async fn migrate_in_task(&self) -> Result<(), StoreError> {
                    let (records, attachments) = self.tables();
                    let mut statements = Vec::new();
                    if $dialect == Dialect::Postgres {
                        let schema = records.split('.').next().unwrap_or_default();
                        statements.push(format!("CREATE SCHEMA IF NOT EXISTS {schema}"));
                    }
                    statements.extend(ddl($dialect, records, attachments));
                    if $dialect == Dialect::Sqlite {
                        // One transaction: one sync of the file instead of one per statement
                        // (opening a new country's database is mostly these syncs).
                        let mut transaction = self.pool.begin().await?;
                        for statement in &statements {
                            sqlx::query(statement).execute(&mut *transaction).await?;
                        }
                        transaction.commit().await?;
                        return Ok(());
                    }
                    for statement in &statements {
                        // Several servers migrating at once may race on the catalog.
                        let run = || async move {
                            match sqlx::query(statement).execute(&self.pool).await {
                                Err(sqlx::Error::Database(db))
                                    if db.code().as_deref() == Some("23505") =>
                                {
                                    Ok(())
                                }
                                other => other.map(|_| ()).map_err(StoreError::from),
                            }
                        };
                        retry(run).await?;
                    }
                    Ok(())
                }

                async fn upsert_batch_in_task(
                    &self,
                    env: &str,
                    records: &[WireRecord],
                    now: DateTime<Utc>,
                ) -> Result<Vec<StoredRecord>, StoreError> {
                    let rows = records
                        .iter()
                        .enumerate()
                        .map(|(i, r)| {
                            RecordRow::new(r).map_err(|e| match e {
                                StoreError::Invalid { field, rule } => StoreError::Invalid {
                                    field: format!("records[{i}].{field}"),
                                    rule,
                                },
                                other => other,
                            })
                        })
                        .collect::<Result<Vec<_>, _>>()?;
                    let (table, _) = self.tables();
                    let rows = &rows;
                    // A key written twice in one batch: the last one wins, as if the
                    // records had been written one after the other.
                    let mut last: HashMap<&str, usize> = HashMap::with_capacity(rows.len());
                    for (i, row) in rows.iter().enumerate() {
                        last.insert(row.record_key.as_str(), i);
                    }
                    let distinct: Vec<&RecordRow> = rows
                        .iter()
                        .enumerate()
                        .filter(|(i, row)| last.get(row.record_key.as_str()) == Some(i))
                        .map(|(_, row)| row)
                        .collect();
                    let distinct = &distinct;
                    let times = retry(|| async move {
                        let mut tx = self.begin().await?;
                        let mut times = HashMap::with_capacity(distinct.len());
                        // One statement per chunk keeps the bound parameters under every
                        // engine's limit.
                        for chunk in distinct.chunks(UPSERT_CHUNK) {
                            let sql = upsert_sql($dialect, table, chunk, now, env);
                            for returned in query(&sql).fetch_all(&mut *tx).await? {
                                let key: String = returned.try_get("record_key")?;
                                let created = returned.try_get::<i64, _>("created_at_us")?;
                                let updated = returned.try_get::<i64, _>("updated_at_us")?;
                                times.insert(key, (created, updated));
                            }
                        }
                        tx.commit().await?;
                        Ok(times)
                    })
                    .await?;
                    let out = rows
                        .iter()
                        .zip(records)
                        .map(|(row, record)| {
                            let (created, updated) =
                                times.get(&row.record_key).copied().ok_or_else(|| {
                                    StoreError::Database(sqlx::Error::Protocol(
                                        "the upsert returned no timestamps for a record it \
                                         wrote"
                                            .into(),
                                    ))
                                })?;
                            let mut stored = record.clone();
                            stored.created_at = Some(format_millis(created));
                            stored.updated_at = Some(format_millis(updated));
                            stored.attachments = None;
                            Ok(stored)
                        })
                        .collect::<Result<Vec<_>, StoreError>>()?;
                    let keys: Vec<String> = rows.iter().map(|r| r.record_key.clone()).collect();
                    let mut attachments = self.attachments_of(env, &keys).await?;
                    Ok(out
                        .into_iter()
                        .zip(keys)
                        .map(|(record, key)| StoredRecord {
                            record,
                            attachments: attachments.remove(&key).unwrap_or_default(),
                        })
                        .collect())
                }

                async fn get_in_task(
                    &self,
                    env: &str,
                    record_key: &str,
                    now: DateTime<Utc>,
                ) -> Result<Option<StoredRecord>, StoreError> {
                    let (records, _) = self.tables();
                    let mut sql = Sql::new($dialect);
                    sql.push(&format!(
                        "SELECT {} FROM {records} WHERE env_id = ",
                        record_select_columns()
                    ));
                    sql.text(env);
                    sql.push(" AND record_key = ");
                    sql.text(record_key);
                    sql.push(" AND (expires_at_us IS NULL OR expires_at_us > ");
                    sql.int(micros(&now));
                    sql.push(")");
                    let Some(row) = query(&sql).fetch_optional(&self.pool).await? else {
                        return Ok(None);
                    };
                    let record = record_from_columns(&row)?;
                    let mut attachments = self.attachments_of(env, &[record_key.to_owned()]).await?;
                    Ok(Some(StoredRecord {
                        record,
                        attachments: attachments.remove(record_key).unwrap_or_default(),
                    }))
                }

                async fn delete_in_task(
                    &self,
                    env: &str,
                    record_key: &str,
                    now: DateTime<Utc>,
                ) -> Result<Option<Vec<String>>, StoreError> {
                    let (records, attachments) = self.tables();
                    retry(|| async move {
                        let mut tx = self.begin().await?;
                        let mut sql = Sql::new($dialect);
                        sql.push(&format!("DELETE FROM {records} WHERE env_id = "));
                        sql.text(env);
                        sql.push(" AND record_key = ");
                        sql.text(record_key);
                        sql.push(" AND (expires_at_us IS NULL OR expires_at_us > ");
                        sql.int(micros(&now));
                        sql.push(")");
                        if query(&sql).execute(&mut *tx).await?.rows_affected() == 0 {
                            tx.rollback().await?;
                            return Ok(None);
                        }
                        let mut sql = Sql::new($dialect);
                        sql.push(&format!("DELETE FROM {attachments} WHERE env_id = "));
                        sql.text(env);
                        sql.push(" AND record_key = ");
                        sql.text(record_key);
                        sql.push(" RETURNING file_id");
                        let mut files = Vec::new();
                        for row in query(&sql).fetch_all(&mut *tx).await? {
                            files.push(row.try_get::<String, _>("file_id")?);
                        }
                        tx.commit().await?;
                        Ok(Some(files))
                    })
                    .await
                }

                async fn delete_many_in_task(
                    &self,
                    env: &str,
                    record_keys: &[String],
                ) -> Result<(u64, Vec<String>), StoreError> {
                    let (records, attachments) = self.tables();
                    retry(|| async move {
                        let mut tx = self.begin().await?;
                        let mut deleted = 0;
                        let mut files = Vec::new();
                        for chunk in record_keys.chunks(IN_CHUNK) {
                            let keys = || chunk.iter().map(|k| Param::Text(Some(k.clone())));
                            let mut sql = Sql::new($dialect);
                            sql.push(&format!("DELETE FROM {records} WHERE env_id = "));
                            sql.text(env);
                            sql.push(" AND record_key IN ");
                            sql.list(keys());
                            deleted += query(&sql).execute(&mut *tx).await?.rows_affected();
                            let mut sql = Sql::new($dialect);
                            sql.push(&format!("DELETE FROM {attachments} WHERE env_id = "));
                            sql.text(env);
                            sql.push(" AND record_key IN ");
                            sql.list(keys());
                            sql.push(" RETURNING file_id");
                            for row in query(&sql).fetch_all(&mut *tx).await? {
                                files.push(row.try_get::<String, _>("file_id")?);
                            }
                        }
                        tx.commit().await?;
                        Ok((deleted, files))
                    })
                    .await
                }

                async fn find_in_task(
                    &self,
                    env: &str,
                    filter: &FindFilter,
                    now: DateTime<Utc>,
                ) -> Result<FindPage, StoreError> {
                    let (records, _) = self.tables();
                    let mut count = Sql::new($dialect);
                    count.push(&format!("SELECT COUNT(*) AS total FROM {records}"));
                    find_where(&mut count, env, filter, now);
                    let total: i64 = query(&count).fetch_one(&self.pool).await?.try_get("total")?;

                    let mut sql = Sql::new($dialect);
                    sql.push(&format!("SELECT {} FROM {records}", record_select_columns()));
                    find_where(&mut sql, env, filter, now);
                    sql.push(&order_by(filter));
                    sql.push(" LIMIT ");
                    sql.int(i64::from(filter.page_limit()));
                    sql.push(" OFFSET ");
                    sql.int(i64::try_from(filter.page_offset()).unwrap_or(i64::MAX));
                    let mut page = Vec::new();
                    for row in query(&sql).fetch_all(&self.pool).await? {
                        page.push(record_from_columns(&row)?);
                    }
                    let keys: Vec<String> = page
                        .iter()
                        .filter_map(|r| r.record_key.clone())
                        .collect();
                    let mut attachments = self.attachments_of(env, &keys).await?;
                    let records = page
                        .into_iter()
                        .map(|record| {
                            let key = record.record_key.clone().unwrap_or_default();
                            StoredRecord {
                                record,
                                attachments: attachments.remove(&key).unwrap_or_default(),
                            }
                        })
                        .collect();
                    Ok(FindPage {
                        records,
                        total: u64::try_from(total).unwrap_or_default(),
                    })
                }

                async fn attachment_by_filename_in_task(
                    &self,
                    env: &str,
                    record_key: &str,
                    filename: &str,
                ) -> Result<Option<StoredAttachment>, StoreError> {
                    one_attachment(self, env, record_key, "filename", filename).await
                }

                async fn attachment_in_task(
                    &self,
                    env: &str,
                    record_key: &str,
                    file_id: &str,
                ) -> Result<Option<StoredAttachment>, StoreError> {
                    one_attachment(self, env, record_key, "file_id", file_id).await
                }

                async fn put_attachment_in_task(
                    &self,
                    env: &str,
                    attachment: &StoredAttachment,
                    now: DateTime<Utc>,
                ) -> Result<StoredAttachment, StoreError> {
                    let (records, attachments) = self.tables();
                    let now_us = millis_now(now);
                    retry(|| async move {
                        let mut tx = self.begin().await?;
                        let mut sql = Sql::new($dialect);
                        sql.push(&format!(
                            "INSERT INTO {attachments} AS a (file_id, env_id, record_key, filename, hash, \
                             mime_type, size, created_at_us, updated_at_us) SELECT "
                        ));
                        sql.text(&attachment.file_id).push(", ");
                        sql.text(env).push(", ");
                        sql.text(&attachment.record_key).push(", ");
                        sql.text(&attachment.filename).push(", ");
                        sql.text(&attachment.hash).push(", ");
                        sql.text(&attachment.mime_type).push(", ");
                        sql.int(i64::try_from(attachment.size).unwrap_or(i64::MAX)).push(", ");
                        sql.int(now_us).push(", ");
                        sql.int(now_us);
                        sql.push(&format!(" FROM {records} WHERE env_id = "));
                        sql.text(env);
                        sql.push(" AND record_key = ");
                        sql.text(&attachment.record_key);
                        sql.push(" AND (expires_at_us IS NULL OR expires_at_us > ");
                        sql.int(now_us);
                        sql.push(
                            ") ON CONFLICT (file_id) DO UPDATE SET filename = excluded.filename, \
                             hash = excluded.hash, mime_type = excluded.mime_type, size = excluded.size, \
                             updated_at_us = excluded.updated_at_us",
                        );
                        sql.push(&format!(" RETURNING {ATTACHMENT_COLUMNS}"));
                        let row = query(&sql).fetch_optional(&mut *tx).await?;
                        let Some(row) = row else {
                            tx.rollback().await?;
                            return Err(StoreError::NotFound("record"));
                        };
                        let stored = attachment_from_columns(&row, 0)?;
                        tx.commit().await?;
                        Ok(stored)
                    })
                    .await
                }

                async fn update_attachment_in_task(
                    &self,
                    env: &str,
                    record_key: &str,
                    file_id: &str,
                    filename: Option<&str>,
                    mime_type: Option<&str>,
                    now: DateTime<Utc>,
                ) -> Result<Option<StoredAttachment>, StoreError> {
                    let (_, attachments) = self.tables();
                    let mut sql = Sql::new($dialect);
                    sql.push(&format!("UPDATE {attachments} SET filename = COALESCE("));
                    sql.bind(Param::Text(filename.map(str::to_owned)));
                    sql.push(", filename), mime_type = COALESCE(");
                    sql.bind(Param::Text(mime_type.map(str::to_owned)));
                    sql.push(", mime_type), updated_at_us = ");
                    sql.int(millis_now(now));
                    sql.push(" WHERE env_id = ");
                    sql.text(env);
                    sql.push(" AND record_key = ");
                    sql.text(record_key);
                    sql.push(" AND file_id = ");
                    sql.text(file_id);
                    sql.push(&format!(" RETURNING {ATTACHMENT_COLUMNS}"));
                    query(&sql)
                        .fetch_optional(&self.pool)
                        .await?
                        .map(|row| attachment_from_columns(&row, 0))
                        .transpose()
                }

                async fn delete_attachment_in_task(
                    &self,
                    env: &str,
                    record_key: &str,
                    file_id: &str,
                ) -> Result<bool, StoreError> {
                    let (_, attachments) = self.tables();
                    let mut sql = Sql::new($dialect);
                    sql.push(&format!("DELETE FROM {attachments} WHERE env_id = "));
                    sql.text(env);
                    sql.push(" AND record_key = ");
                    sql.text(record_key);
                    sql.push(" AND file_id = ");
                    sql.text(file_id);
                    Ok(query(&sql).execute(&self.pool).await?.rows_affected() > 0)
                }

                async fn sweep_expired_in_task(
                    &self,
                    now: DateTime<Utc>,
                ) -> Result<(u64, Vec<String>), StoreError> {
                    let (records, attachments) = self.tables();
                    let now_us = micros(&now);
                    retry(|| async move {
                        let mut tx = self.begin().await?;
                        let mut sql = Sql::new($dialect);
                        sql.push(&format!(
                            "DELETE FROM {attachments} WHERE (env_id, record_key) IN \
                             (SELECT env_id, record_key FROM {records} WHERE expires_at_us <= "
                        ));
                        sql.int(now_us);
                        sql.push(") RETURNING file_id");
                        let mut files = Vec::new();
                        for row in query(&sql).fetch_all(&mut *tx).await? {
                            files.push(row.try_get::<String, _>("file_id")?);
                        }
                        let mut sql = Sql::new($dialect);
                        sql.push(&format!("DELETE FROM {records} WHERE expires_at_us <= "));
                        sql.int(now_us);
                        let deleted = query(&sql).execute(&mut *tx).await?.rows_affected();
                        tx.commit().await?;
                        Ok((deleted, files))
                    })
                    .await
                }
            }

            /// Each operation runs on a task of its own that owns copies of its inputs: a
            /// caller that drops the future (a disconnected client's handler) cannot leave a
            /// transaction open or lose the connection halfway (see `crate::detach`).
            #[async_trait]
            impl Store for $store {
                async fn migrate(&self) -> Result<(), StoreError> {
                    let store = self.clone();
                    in_task(async move { store.migrate_in_task().await }).await
                }

                async fn upsert_batch(
                    &self,
                    env: &str,
                    records: &[WireRecord],
                    now: DateTime<Utc>,
                ) -> Result<Vec<StoredRecord>, StoreError> {
                    let (store, env, records) = (self.clone(), env.to_owned(), records.to_vec());
                    in_task(async move { store.upsert_batch_in_task(&env, &records, now).await })
                        .await
                }

                async fn get(
                    &self,
                    env: &str,
                    record_key: &str,
                    now: DateTime<Utc>,
                ) -> Result<Option<StoredRecord>, StoreError> {
                    // A point read is synchronous: nothing to cut.
                    if let PointRead::Answered(found) = self.point_read(env, record_key, now) {
                        return Ok(found);
                    }
                    let (store, env, key) = (self.clone(), env.to_owned(), record_key.to_owned());
                    in_task(async move { store.get_in_task(&env, &key, now).await }).await
                }

                async fn delete(
                    &self,
                    env: &str,
                    record_key: &str,
                    now: DateTime<Utc>,
                ) -> Result<Option<Vec<String>>, StoreError> {
                    let (store, env, key) = (self.clone(), env.to_owned(), record_key.to_owned());
                    in_task(async move { store.delete_in_task(&env, &key, now).await }).await
                }

                async fn delete_many(
                    &self,
                    env: &str,
                    record_keys: &[String],
                ) -> Result<(u64, Vec<String>), StoreError> {
                    let (store, env, keys) = (self.clone(), env.to_owned(), record_keys.to_vec());
                    in_task(async move { store.delete_many_in_task(&env, &keys).await }).await
                }

                async fn find(
                    &self,
                    env: &str,
                    filter: &FindFilter,
                    now: DateTime<Utc>,
                ) -> Result<FindPage, StoreError> {
                    let (store, env, filter) = (self.clone(), env.to_owned(), filter.clone());
                    in_task(async move { store.find_in_task(&env, &filter, now).await }).await
                }

                async fn attachment_by_filename(
                    &self,
                    env: &str,
                    record_key: &str,
                    filename: &str,
                ) -> Result<Option<StoredAttachment>, StoreError> {
                    let (store, env, key, name) = (
                        self.clone(),
                        env.to_owned(),
                        record_key.to_owned(),
                        filename.to_owned(),
                    );
                    in_task(async move {
                        store.attachment_by_filename_in_task(&env, &key, &name).await
                    })
                    .await
                }

                async fn attachment(
                    &self,
                    env: &str,
                    record_key: &str,
                    file_id: &str,
                ) -> Result<Option<StoredAttachment>, StoreError> {
                    let (store, env, key, id) = (
                        self.clone(),
                        env.to_owned(),
                        record_key.to_owned(),
                        file_id.to_owned(),
                    );
                    in_task(async move { store.attachment_in_task(&env, &key, &id).await }).await
                }

                async fn put_attachment(
                    &self,
                    env: &str,
                    attachment: &StoredAttachment,
                    now: DateTime<Utc>,
                ) -> Result<StoredAttachment, StoreError> {
                    let (store, env, attachment) =
                        (self.clone(), env.to_owned(), attachment.clone());
                    in_task(async move { store.put_attachment_in_task(&env, &attachment, now).await })
                        .await
                }

                async fn update_attachment(
                    &self,
                    env: &str,
                    record_key: &str,
                    file_id: &str,
                    filename: Option<&str>,
                    mime_type: Option<&str>,
                    now: DateTime<Utc>,
                ) -> Result<Option<StoredAttachment>, StoreError> {
                    let (store, env, key, id) = (
                        self.clone(),
                        env.to_owned(),
                        record_key.to_owned(),
                        file_id.to_owned(),
                    );
                    let (filename, mime_type) =
                        (filename.map(str::to_owned), mime_type.map(str::to_owned));
                    in_task(async move {
                        store
                            .update_attachment_in_task(
                                &env,
                                &key,
                                &id,
                                filename.as_deref(),
                                mime_type.as_deref(),
                                now,
                            )
                            .await
                    })
                    .await
                }

                async fn delete_attachment(
                    &self,
                    env: &str,
                    record_key: &str,
                    file_id: &str,
                ) -> Result<bool, StoreError> {
                    let (store, env, key, id) = (
                        self.clone(),
                        env.to_owned(),
                        record_key.to_owned(),
                        file_id.to_owned(),
                    );
                    in_task(async move { store.delete_attachment_in_task(&env, &key, &id).await })
                        .await
                }

                async fn sweep_expired(
                    &self,
                    now: DateTime<Utc>,
                ) -> Result<(u64, Vec<String>), StoreError> {
                    let store = self.clone();
                    in_task(async move { store.sweep_expired_in_task(now).await }).await
                }
            }
        }
    };
}

sql_store!(SqliteStore, Sqlite, Dialect::Sqlite, sqlite_impl);
sql_store!(PostgresStore, Postgres, Dialect::Postgres, postgres_impl);

#[cfg(test)]
mod tests {
    use super::*;

    /// SQLite's plan for the page query of `filter`.
    async fn plan(filter: serde_json::Value) -> String {
        let store = SqliteStore::in_memory().await.unwrap();
        let request: incountry_model::FindRequest = serde_json::from_value(
            serde_json::json!({"filter": filter, "options": {"limit": 100}}),
        )
        .unwrap();
        let filter = request.to_find_filter().unwrap();
        let mut sql = Sql::new(Dialect::Sqlite);
        sql.push(&format!(
            "EXPLAIN QUERY PLAN SELECT {} FROM records",
            record_select_columns()
        ));
        find_where(&mut sql, "env", &filter, Utc::now());
        sql.push(&order_by(&filter));
        sql.push(" LIMIT 100 OFFSET 0");
        let mut q = sqlx::query(&sql.text);
        for param in &sql.params {
            q = match param {
                Param::Text(v) => q.bind(v.clone()),
                Param::Int(v) => q.bind(*v),
            };
        }
        let rows = q.fetch_all(&store.pool).await.unwrap();
        rows.iter()
            .map(|row| row.try_get::<String, _>("detail").unwrap())
            .collect::<Vec<_>>()
            .join("\n")
    }

    #[tokio::test]
    async fn the_sweep_starts_from_the_expiry_index() {
        let store = SqliteStore::in_memory().await.unwrap();
        let plan: Vec<String> = sqlx::query(
            "EXPLAIN QUERY PLAN DELETE FROM attachments WHERE (env_id, record_key) IN \
             (SELECT env_id, record_key FROM records WHERE expires_at_us <= 1)",
        )
        .fetch_all(&store.pool)
        .await
        .unwrap()
        .iter()
        .map(|row| row.try_get::<String, _>("detail").unwrap())
        .collect();
        let plan = plan.join("\n");
        assert!(plan.contains("USING INDEX records_expiry"), "{plan}");
        assert!(plan.contains("INDEX attachments_record"), "{plan}");
        assert!(!plan.contains("SCAN"), "{plan}");
    }

    #[tokio::test]
    async fn equality_finds_use_an_index() {
        for (field, index) in [
            ("key1", "records_key1"),
            ("key20", "records_key20"),
            ("profile_key", "records_profile_key"),
            ("service_key3", "records_service_key3"),
            ("parent_key", "records_parent_key"),
        ] {
            let plan = plan(serde_json::json!({ field: "hash" })).await;
            assert!(
                plan.contains(&format!("USING INDEX {index}")),
                "{field}: {plan}"
            );
            assert!(!plan.contains("SCAN records"), "{field}: {plan}");
        }
        let plan = plan(serde_json::json!({"record_key": ["a", "b"]})).await;
        assert!(!plan.contains("SCAN records"), "record_key: {plan}");
    }
}

#[cfg(test)]
mod column_tests {
    use super::*;

    #[test]
    fn column_lists_are_the_shared_field_names() {
        assert_eq!(TEXT_COLUMNS.len(), 29);
        assert_eq!(TEXT_COLUMNS.first(), Some(&"body"));
        assert_eq!(TEXT_COLUMNS.last(), Some(&"key20"));
        let keys: Vec<String> = (1..=20).map(|i| format!("key{i}")).collect();
        assert_eq!(SEARCH_KEY_COLUMNS, keys);
        // Rows are read by position: the record's accessors follow the same order.
        assert_eq!(TEXT_COLUMNS.len(), incountry_model::TEXT_MEMBERS);
        assert_eq!(INT_COLUMNS.len(), incountry_model::RANGE_KEYS + 1);
        assert_eq!(
            record_select_columns().split(", ").count(),
            RECORD_COLUMN_COUNT
        );
    }
}
