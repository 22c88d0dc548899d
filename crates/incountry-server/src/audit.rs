//! The audit trail: one JSON line per storage request, in an append-only file per country.
//!
//! Each country's trail is `<data_dir>/<cc>/audit.log` ([`FILE_NAME`]); at
//! [`AuditConfig::max_file_bytes`] it is renamed `audit.log.1` (the older ones move up to
//! `audit.log.2`, ...). Rotated files are all kept unless the operator sets
//! [`AuditConfig::keep_files`]. An entry ([`AuditEntry`]) holds when, who (client and
//! environment, the source address when known), what (the operation, the record key hashes or
//! a find's count) and the status answered: never a body, a secret or a token.
//!
//! Requests hand their entries to a writer thread through a bounded channel, so file I/O never
//! runs on the async runtime; the writer writes whatever is queued, flushes, and then rests
//! for 10 ms before it waits again, so under load it wakes about a hundred times
//! a second instead of once per request (each wake-up is a context switch on both sides). An
//! entry reaches the file at most about that long after its request was answered, and at
//! once on [`Server::flush_audit`](crate::Server::flush_audit) (which a graceful shutdown
//! calls) beyond the rest already begun.
//!
//! Refused requests (401, 403, 429, 503, or no authenticated client) cannot push accepted
//! ones out of the trail:
//! - their entries carry no record key, key list or attachment id (a refused request touched
//!   no record, and those path segments are whatever the client sent), and every text member
//!   of every entry is cut at [`MAX_FIELD_BYTES`];
//! - each source address (an IPv6 address counts by its /64 prefix) writes at most
//!   [`AuditConfig::refused_per_source`] refused entries per country per
//!   [`AuditConfig::refused_window`], and a country at most
//!   [`AuditConfig::refused_per_country`] in all; the rest are counted and written as summary
//!   entries (one per source, operation and status, with [`AuditEntry::suppressed`]) when the
//!   window closes, on flush and at shutdown.
//!
//! The writer publishes whether each country's trail can be written. Unless
//! [`AuditConfig::fail_open`] is set, a storage request of a country whose trail cannot be
//! written is answered 503 without running (it is still audited, which retries the trail), and
//! the server's readiness (`GET /readyz`) says so until the trail works again.
//!
//! [`read`] reads a country's trail back, oldest first, filtered.

use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, BufWriter, Write};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::os::unix::fs::{DirBuilderExt as _, OpenOptionsExt as _};
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use incountry_model::Country;
use serde::{Deserialize, Serialize};
use tokio::sync::{mpsc, oneshot};

/// The name of a country's current audit file, in its directory under the data directory.
pub const FILE_NAME: &str = "audit.log";

/// The most bytes a text member of an entry holds (`client_id`, `environment_id`,
/// `record_key`, each of `record_keys`, `file_id`). A longer text keeps its beginning and ends
/// with `…(truncated from N bytes)`, the whole within this bound. The SDKs' record keys are
/// 64 hex digits.
pub const MAX_FIELD_BYTES: usize = 256;

/// The most record keys an entry lists; beyond, the list ends with `…(N more)`.
pub const MAX_LISTED_KEYS: usize = 100;

/// How many entries may wait for the writer before requests wait for it.
const QUEUE: usize = 4096;

/// How long the writer rests after writing a batch of entries.
const WRITE_INTERVAL: Duration = Duration::from_millis(10);

/// How often an idle writer looks whether a window of refused entries has closed, while
/// summaries are due.
const IDLE_POLL: Duration = Duration::from_millis(100);

/// How long after a failed attempt the writer tries a trail again; entries of that country
/// arriving in between are lost (and counted).
const RETRY_INTERVAL: Duration = Duration::from_millis(250);

/// Where and how much audit trail a server keeps, and what happens when it cannot be written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct AuditConfig {
    /// The size at which `audit.log` is rotated, in bytes (at least one entry is always
    /// written to a fresh file). Default 10 MiB.
    pub max_file_bytes: u64,
    /// How many rotated files (`audit.log.1` ...) to keep; older ones are deleted. `None`
    /// (the default) keeps every rotated file: deleting history is the operator's decision
    /// (`incountry serve --audit-keep N`).
    pub keep_files: Option<usize>,
    /// How many refused entries one source address (an IPv6 address by its /64 prefix; all
    /// requests whose address the server does not know count as one source) writes per
    /// country and [`refused_window`](Self::refused_window); the rest are counted into summary
    /// entries. Default 10.
    pub refused_per_source: u32,
    /// How many refused entries all sources together write per country and window (and how
    /// many sources are tracked one by one; refusals of further sources are summarised under
    /// the source `*`). Default 1 000.
    pub refused_per_country: u32,
    /// The window of the two limits above. Default one minute.
    pub refused_window: Duration,
    /// Serve storage requests even while the trail cannot be written (their entries are
    /// lost). Default `false`: such requests are answered 503 until the trail works again.
    pub fail_open: bool,
}

impl Default for AuditConfig {
    fn default() -> Self {
        Self {
            max_file_bytes: 10 * 1024 * 1024,
            keep_files: None,
            refused_per_source: 10,
            refused_per_country: 1000,
            refused_window: Duration::from_secs(60),
            fail_open: false,
        }
    }
}

impl AuditConfig {
    /// Rotation at `max_file_bytes`, keeping `keep_files` rotated files (`None`: all), the
    /// other settings at their defaults.
    pub fn new(max_file_bytes: u64, keep_files: Option<usize>) -> Self {
        Self {
            max_file_bytes,
            keep_files,
            ..Self::default()
        }
    }

    /// At most `per_source` refused entries per source and `per_country` in all, per country
    /// and `window`.
    #[must_use]
    pub fn with_refused_limits(
        mut self,
        per_source: u32,
        per_country: u32,
        window: Duration,
    ) -> Self {
        self.refused_per_source = per_source;
        self.refused_per_country = per_country;
        self.refused_window = window;
        self
    }

    /// Whether storage requests are served while the trail cannot be written.
    #[must_use]
    pub fn with_fail_open(mut self, fail_open: bool) -> Self {
        self.fail_open = fail_open;
        self
    }
}

/// What a storage request did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum AuditOperation {
    /// `POST /v2/storage/records/{cc}`.
    Write,
    /// `POST .../batchWrite`.
    BatchWrite,
    /// `GET .../{rk}`.
    Read,
    /// `POST .../find`.
    Find,
    /// `DELETE .../{rk}`.
    Delete,
    /// `POST .../batchDelete`.
    BatchDelete,
    /// `POST .../{rk}/attachments`.
    AttachmentAdd,
    /// `PUT .../{rk}/attachments`.
    AttachmentUpsert,
    /// `GET .../{rk}/attachments/{file_id}`.
    AttachmentDownload,
    /// `GET .../{rk}/attachments/{file_id}/meta`.
    AttachmentMeta,
    /// `PATCH .../{rk}/attachments/{file_id}/meta`.
    AttachmentMetaUpdate,
    /// `DELETE .../{rk}/attachments/{file_id}`.
    AttachmentDelete,
}

impl AuditOperation {
    /// Every operation.
    pub const ALL: [Self; 12] = [
        Self::Write,
        Self::BatchWrite,
        Self::Read,
        Self::Find,
        Self::Delete,
        Self::BatchDelete,
        Self::AttachmentAdd,
        Self::AttachmentUpsert,
        Self::AttachmentDownload,
        Self::AttachmentMeta,
        Self::AttachmentMetaUpdate,
        Self::AttachmentDelete,
    ];

    /// The name written in the trail, e.g. `batch_write`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Write => "write",
            Self::BatchWrite => "batch_write",
            Self::Read => "read",
            Self::Find => "find",
            Self::Delete => "delete",
            Self::BatchDelete => "batch_delete",
            Self::AttachmentAdd => "attachment_add",
            Self::AttachmentUpsert => "attachment_upsert",
            Self::AttachmentDownload => "attachment_download",
            Self::AttachmentMeta => "attachment_meta",
            Self::AttachmentMetaUpdate => "attachment_meta_update",
            Self::AttachmentDelete => "attachment_delete",
        }
    }

    /// The operation of a storage route (its path template as the router matched it).
    pub(crate) fn of(method: &axum::http::Method, route: &str) -> Option<Self> {
        use axum::http::Method;
        let rest = route.strip_prefix("/v2/storage/records/{cc}")?;
        let operation = match (method, rest) {
            (&Method::POST, "") => Self::Write,
            (&Method::POST, "/batchWrite") => Self::BatchWrite,
            (&Method::POST, "/batchDelete") => Self::BatchDelete,
            (&Method::POST, "/find") => Self::Find,
            (&Method::GET, "/{rk}") => Self::Read,
            (&Method::DELETE, "/{rk}") => Self::Delete,
            (&Method::POST, "/{rk}/attachments") => Self::AttachmentAdd,
            (&Method::PUT, "/{rk}/attachments") => Self::AttachmentUpsert,
            (&Method::GET, "/{rk}/attachments/{file_id}") => Self::AttachmentDownload,
            (&Method::DELETE, "/{rk}/attachments/{file_id}") => Self::AttachmentDelete,
            (&Method::GET, "/{rk}/attachments/{file_id}/meta") => Self::AttachmentMeta,
            (&Method::PATCH, "/{rk}/attachments/{file_id}/meta") => Self::AttachmentMetaUpdate,
            _ => return None,
        };
        Some(operation)
    }
}

impl std::fmt::Display for AuditOperation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An operation name that is not one of [`AuditOperation::ALL`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown audit operation {0:?}")]
pub struct UnknownOperation(String);

impl FromStr for AuditOperation {
    type Err = UnknownOperation;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|op| op.as_str() == s)
            .ok_or_else(|| UnknownOperation(s.to_owned()))
    }
}

/// One line of the audit trail.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct AuditEntry {
    /// When the request was answered (RFC 3339, UTC).
    pub time: DateTime<Utc>,
    /// The client the token was issued to; `null` when the request was not authenticated or
    /// the token was issued in-process.
    pub client_id: Option<String>,
    /// The environment of the token; `null` when the request was not authenticated.
    pub environment_id: Option<String>,
    /// The IP address the request came from, when the server knows it (absent for requests
    /// served in-process). In a summary entry: the source summarised (an IPv6 /64 prefix, or
    /// `*` for the sources beyond [`AuditConfig::refused_per_country`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    /// What was asked.
    pub operation: AuditOperation,
    /// The record key as sent (the SDKs send a hash), for single-record operations of
    /// accepted requests (never in refused ones).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub record_key: Option<String>,
    /// The record keys of a batch write or batch delete (at most [`MAX_LISTED_KEYS`]).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub record_keys: Vec<String>,
    /// The attachment, for attachment operations of accepted requests.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file_id: Option<String>,
    /// Records returned by a find, or stored by a batch write.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub count: Option<u64>,
    /// Only in a summary entry: how many refused requests of this source, operation and
    /// status were counted instead of written one by one since the last summary.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub suppressed: Option<u64>,
    /// The HTTP status answered.
    pub status: u16,
}

impl AuditEntry {
    /// An entry of `operation` answered `status` now, naming no one and nothing yet.
    pub(crate) fn new(operation: AuditOperation, status: u16) -> Self {
        Self {
            time: Utc::now(),
            client_id: None,
            environment_id: None,
            source: None,
            operation,
            record_key: None,
            record_keys: Vec::new(),
            file_id: None,
            count: None,
            suppressed: None,
            status,
        }
    }

    /// Cuts every text member to [`MAX_FIELD_BYTES`] and the key list to
    /// [`MAX_LISTED_KEYS`].
    pub(crate) fn bounded(mut self) -> Self {
        for text in [
            &mut self.client_id,
            &mut self.environment_id,
            &mut self.source,
            &mut self.record_key,
            &mut self.file_id,
        ]
        .into_iter()
        .flatten()
        {
            bound(text);
        }
        if self.record_keys.len() > MAX_LISTED_KEYS {
            let more = self.record_keys.len() - MAX_LISTED_KEYS;
            self.record_keys.truncate(MAX_LISTED_KEYS);
            self.record_keys.push(format!("…({more} more)"));
        }
        self.record_keys.iter_mut().for_each(bound);
        self
    }
}

/// Cuts `text` to at most [`MAX_FIELD_BYTES`] bytes, marking the cut.
fn bound(text: &mut String) {
    if text.len() > MAX_FIELD_BYTES {
        *text = bounded(text);
    }
}

/// At most [`MAX_FIELD_BYTES`] of `text`, copied: its beginning and, when cut, a marker with
/// its length.
pub(crate) fn bounded(text: &str) -> String {
    if text.len() <= MAX_FIELD_BYTES {
        return text.to_owned();
    }
    let marker = format!("…(truncated from {} bytes)", text.len());
    let mut end = MAX_FIELD_BYTES.saturating_sub(marker.len());
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}{marker}", text.get(..end).unwrap_or_default())
}

/// Which entries [`read`] returns; the default returns all.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct AuditFilter {
    /// Only entries at or after this time.
    pub since: Option<DateTime<Utc>>,
    /// Only this operation.
    pub operation: Option<AuditOperation>,
    /// Only this client.
    pub client_id: Option<String>,
}

impl AuditFilter {
    /// Whether `entry` passes.
    pub fn admits(&self, entry: &AuditEntry) -> bool {
        self.since.is_none_or(|since| entry.time >= since)
            && self.operation.is_none_or(|op| entry.operation == op)
            && self
                .client_id
                .as_ref()
                .is_none_or(|id| entry.client_id.as_ref() == Some(id))
    }
}

/// Reads an RFC 3339 time (e.g. `2026-01-31T12:00:00Z`), as [`AuditFilter::since`] takes.
pub fn parse_time(text: &str) -> Result<DateTime<Utc>, chrono::ParseError> {
    DateTime::parse_from_rfc3339(text.trim()).map(|t| t.with_timezone(&Utc))
}

/// The directory of `country`'s trail under `data_dir`: `<data_dir>/<cc>`.
pub fn country_dir(data_dir: &Path, country: Country) -> PathBuf {
    data_dir.join(country.as_str())
}

/// The files of a trail in `dir`, oldest first: `audit.log.N` ... `audit.log.1`, `audit.log`.
fn trail_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = (1..)
        .map(|n| rotated(dir, n))
        .take_while(|path| path.exists())
        .collect();
    files.reverse();
    let current = dir.join(FILE_NAME);
    if current.exists() {
        files.push(current);
    }
    files
}

fn rotated(dir: &Path, n: usize) -> PathBuf {
    dir.join(format!("{FILE_NAME}.{n}"))
}

/// Reads the audit trail in `dir` (a country's directory, see [`country_dir`]), oldest entry
/// first, keeping those `filter` admits. Lines that do not parse (a line torn by a crash) are
/// skipped. An absent trail reads as empty.
pub fn read(dir: &Path, filter: &AuditFilter) -> std::io::Result<Vec<AuditEntry>> {
    let mut out = Vec::new();
    for path in trail_files(dir) {
        let file = match File::open(&path) {
            Ok(file) => file,
            // Rotated away between listing and opening.
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(e),
        };
        for line in BufReader::new(file).lines() {
            let line = line?;
            if let Ok(entry) = serde_json::from_str::<AuditEntry>(&line) {
                if filter.admits(&entry) {
                    out.push(entry);
                }
            }
        }
    }
    Ok(out)
}

/// Where a request came from, as refused entries are counted: an IPv4 address, an IPv6 /64
/// prefix (one host usually holds a whole /64), or unknown.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Source {
    /// The server does not know the address (a request served in-process).
    Unknown,
    /// An IPv4 address (or an IPv4-mapped IPv6 one).
    V4(Ipv4Addr),
    /// The upper 64 bits of an IPv6 address.
    V6(u64),
    /// Every source beyond the per-country limit of tracked sources.
    Others,
}

impl Source {
    /// The source of a request from `address` (`None`: unknown).
    pub(crate) fn of(address: Option<IpAddr>) -> Self {
        match address.map(|a| a.to_canonical()) {
            None => Self::Unknown,
            Some(IpAddr::V4(v4)) => Self::V4(v4),
            Some(IpAddr::V6(v6)) => Self::V6((v6.to_bits() >> 64) as u64),
        }
    }

    /// How a summary entry names this source.
    fn label(self) -> Option<String> {
        match self {
            Self::Unknown => None,
            Self::V4(v4) => Some(v4.to_string()),
            Self::V6(prefix) => Some(format!(
                "{}/64",
                Ipv6Addr::from_bits(u128::from(prefix) << 64)
            )),
            Self::Others => Some("*".to_owned()),
        }
    }
}

/// Whether each country's trail can be written, as the writer last found it: one byte per
/// two-letter code.
struct Health {
    states: Box<[AtomicU8]>,
}

/// Not tried yet.
const UNKNOWN: u8 = 0;
/// The last attempt wrote (or opened) the trail.
const WRITABLE: u8 = 1;
/// The last attempt failed.
const FAILING: u8 = 2;

impl Health {
    fn new() -> Self {
        Self {
            states: (0..26 * 26).map(|_| AtomicU8::new(UNKNOWN)).collect(),
        }
    }

    fn slot(country: Country) -> Option<usize> {
        match country.as_str().as_bytes() {
            [a, b] => {
                Some(usize::from(a.checked_sub(b'a')?) * 26 + usize::from(b.checked_sub(b'a')?))
            }
            _ => None,
        }
    }

    fn get(&self, country: Country) -> u8 {
        Self::slot(country)
            .and_then(|i| self.states.get(i))
            .map_or(FAILING, |state| state.load(Ordering::Acquire))
    }

    fn set(&self, country: Country, state: u8) {
        if let Some(slot) = Self::slot(country).and_then(|i| self.states.get(i)) {
            slot.store(state, Ordering::Release);
        }
    }

    /// The countries whose trail failed last.
    fn failing(&self) -> Vec<Country> {
        self.states
            .iter()
            .enumerate()
            .filter(|(_, state)| state.load(Ordering::Acquire) == FAILING)
            .filter_map(|(i, _)| {
                let code = [b'a' + (i / 26) as u8, b'a' + (i % 26) as u8];
                Country::new(std::str::from_utf8(&code).ok()?).ok()
            })
            .collect()
    }
}

impl std::fmt::Debug for Health {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Health")
            .field("failing", &self.failing())
            .finish()
    }
}

enum Message {
    /// An entry; with the source when the request was refused (such entries are counted).
    Entry(Country, AuditEntry, Option<Source>),
    /// Try the country's trail; answers whether it can be written.
    Probe(Country, oneshot::Sender<bool>),
    Flush(oneshot::Sender<()>),
}

/// The sending half of the trail: hands entries to the writer thread, and tells whether a
/// country's trail can be written.
#[derive(Debug)]
pub(crate) struct AuditLog {
    queue: mpsc::Sender<Message>,
    health: Arc<Health>,
    fail_open: bool,
}

impl std::fmt::Debug for Message {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Entry(country, _, _) => write!(f, "Entry({country})"),
            Self::Probe(country, _) => write!(f, "Probe({country})"),
            Self::Flush(_) => f.write_str("Flush"),
        }
    }
}

impl AuditLog {
    /// Starts the writer thread for trails under `root` (one directory per country), after
    /// checking that the trail of each country directory already there can be opened (a
    /// trail that cannot is reported failing from the start, not refused: it may be fixed
    /// while the server runs).
    pub(crate) fn start(root: PathBuf, config: AuditConfig) -> std::io::Result<Self> {
        let (queue, incoming) = mpsc::channel(QUEUE);
        let health = Arc::new(Health::new());
        let mut failures = HashMap::new();
        for country in existing_countries(&root) {
            let dir = country_dir(&root, country);
            match OpenOptions::new()
                .create(true)
                .append(true)
                .open(dir.join(FILE_NAME))
            {
                Ok(_) => health.set(country, WRITABLE),
                Err(e) => {
                    tracing::error!(error = %e, country = %country, "cannot open the audit trail; storage requests of this country are refused until it can be written");
                    health.set(country, FAILING);
                    failures.insert(country, Failure::default());
                }
            }
        }
        let writer = Writer {
            refusals: Refusals::new(&config),
            root,
            config,
            files: HashMap::new(),
            health: health.clone(),
            failures,
        };
        std::thread::Builder::new()
            .name("incountry-audit".into())
            .spawn(move || writer.run(incoming))?;
        Ok(Self {
            queue,
            health,
            fail_open: config.fail_open,
        })
    }

    /// Whether a storage request of `country` may run: its trail can be written (tried once,
    /// waiting for the writer, on a country's first request), or the trail fails open.
    pub(crate) async fn admits(&self, country: Country) -> bool {
        if self.fail_open {
            return true;
        }
        match self.health.get(country) {
            WRITABLE => true,
            FAILING => false,
            _ => self.probe(country).await,
        }
    }

    /// Whether storage requests are served while the trail cannot be written.
    pub(crate) fn fails_open(&self) -> bool {
        self.fail_open
    }

    /// The countries whose trail cannot be written, each tried again first (at most every
    /// 250 ms).
    pub(crate) async fn unwritable(&self) -> Vec<Country> {
        let mut out = Vec::new();
        for country in self.health.failing() {
            if !self.probe(country).await {
                out.push(country);
            }
        }
        out
    }

    async fn probe(&self, country: Country) -> bool {
        let (answer, answered) = oneshot::channel();
        if self
            .queue
            .send(Message::Probe(country, answer))
            .await
            .is_err()
        {
            return false;
        }
        answered.await.unwrap_or(false)
    }

    /// Queues an entry for `country`'s trail (waits while the queue is full). `refused`
    /// names the source of a refused request, whose entries are counted per source.
    pub(crate) async fn record(
        &self,
        country: Country,
        entry: AuditEntry,
        refused: Option<Source>,
    ) {
        if self
            .queue
            .send(Message::Entry(country, entry, refused))
            .await
            .is_err()
        {
            tracing::error!("the audit writer has stopped; an audit entry is lost");
        }
    }

    /// Waits until every entry queued before this call is written and flushed, with the
    /// summaries of the refused entries counted so far.
    pub(crate) async fn flush(&self) {
        let (done, flushed) = oneshot::channel();
        if self.queue.send(Message::Flush(done)).await.is_ok() {
            let _ = flushed.await;
        }
    }
}

/// The countries that have a directory under `root`.
fn existing_countries(root: &Path) -> Vec<Country> {
    let Ok(entries) = std::fs::read_dir(root) else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter(|entry| entry.file_type().is_ok_and(|t| t.is_dir()))
        .filter_map(|entry| {
            let name = entry.file_name();
            let name = name.to_str()?;
            let country = Country::new(name).ok()?;
            (country.as_str() == name).then_some(country)
        })
        .collect()
}

/// One country's open trail file.
struct OpenTrail {
    file: BufWriter<File>,
    size: u64,
    /// Entries written to the buffer since the last flush.
    unflushed: u64,
    /// When an entry was last written to it.
    used: Instant,
}

/// At most this many trail files are open at once; the least recently written is closed
/// (flushed) to open another, so that a server serving many countries keeps its descriptors.
const MAX_OPEN_TRAILS: usize = 32;

/// A country whose trail failed.
#[derive(Default)]
struct Failure {
    /// When it was last tried.
    tried: Option<Instant>,
    /// Entries lost since it failed.
    lost: u64,
}

/// The counting of refused entries: per country, how many each source wrote in the current
/// window, and how many were held back (per source, operation and status).
struct Refusals {
    per_source: u32,
    per_country: u32,
    window: Duration,
    started: Instant,
    countries: HashMap<Country, CountryRefusals>,
    /// Whether any entry was held back since the last summaries.
    pending: bool,
}

#[derive(Default)]
struct CountryRefusals {
    written: u32,
    sources: HashMap<Source, u32>,
    held: HashMap<(Source, AuditOperation, u16), u64>,
}

impl Refusals {
    fn new(config: &AuditConfig) -> Self {
        Self {
            per_source: config.refused_per_source,
            per_country: config.refused_per_country,
            window: config.refused_window,
            started: Instant::now(),
            countries: HashMap::new(),
            pending: false,
        }
    }

    /// Whether a refused entry of `source` is written; if not, it is counted.
    fn admit(&mut self, country: Country, source: Source, entry: &AuditEntry) -> bool {
        let counts = self.countries.entry(country).or_default();
        let tracked = self.per_country.max(1) as usize;
        if !counts.sources.contains_key(&source) && counts.sources.len() < tracked {
            counts.sources.insert(source, 0);
        }
        let held_as = match counts.sources.get_mut(&source) {
            Some(written) if *written < self.per_source && counts.written < self.per_country => {
                *written += 1;
                counts.written += 1;
                return true;
            }
            Some(_) => source,
            None => Source::Others,
        };
        *counts
            .held
            .entry((held_as, entry.operation, entry.status))
            .or_default() += 1;
        self.pending = true;
        false
    }

    /// The summaries of what was held back, and a new window when the current one is over
    /// at `now` (or `always`, without a new window).
    fn summaries(&mut self, now: Instant, always: bool) -> Vec<(Country, AuditEntry)> {
        let over = now.duration_since(self.started) >= self.window;
        if !(over || always && self.pending) {
            return Vec::new();
        }
        let mut out = Vec::new();
        for (country, counts) in &mut self.countries {
            let mut held: Vec<_> = counts.held.drain().collect();
            held.sort_by_key(|((source, operation, status), _)| {
                (source.label(), operation.as_str(), *status)
            });
            out.extend(held.into_iter().map(|((source, operation, status), n)| {
                let mut entry = AuditEntry::new(operation, status);
                entry.source = source.label();
                entry.suppressed = Some(n);
                (*country, entry)
            }));
        }
        if over {
            self.countries.clear();
            self.started = now;
        }
        self.pending = false;
        out
    }
}

/// The writer thread's state.
struct Writer {
    root: PathBuf,
    config: AuditConfig,
    files: HashMap<Country, OpenTrail>,
    health: Arc<Health>,
    failures: HashMap<Country, Failure>,
    refusals: Refusals,
}

impl Writer {
    fn run(mut self, mut incoming: mpsc::Receiver<Message>) {
        loop {
            let first = if self.refusals.pending {
                // Summaries are due when the window closes, whether or not entries come.
                match incoming.try_recv() {
                    Ok(message) => message,
                    Err(mpsc::error::TryRecvError::Empty) => {
                        self.write_summaries(false);
                        self.flush_all();
                        std::thread::sleep(IDLE_POLL);
                        continue;
                    }
                    Err(mpsc::error::TryRecvError::Disconnected) => break,
                }
            } else {
                match incoming.blocking_recv() {
                    Some(message) => message,
                    None => break,
                }
            };
            let mut next = Some(first);
            // Write whatever is queued, then flush once.
            while let Some(message) = next.take() {
                self.handle(message);
                next = incoming.try_recv().ok();
            }
            self.write_summaries(false);
            self.flush_all();
            // While it rests, requests queue entries without waking it.
            std::thread::sleep(WRITE_INTERVAL);
        }
        self.write_summaries(true);
        self.flush_all();
    }

    fn handle(&mut self, message: Message) {
        match message {
            Message::Entry(country, entry, refused) => {
                if self.failures.contains_key(&country) {
                    // Any request of a failing country tries its trail again.
                    self.probe(country);
                }
                if let Some(source) = refused {
                    // A window that closed while the writer idled starts afresh first.
                    self.write_summaries(false);
                    if !self.refusals.admit(country, source, &entry) {
                        return;
                    }
                }
                self.write(country, &entry);
            }
            Message::Probe(country, answer) => {
                let writable = self.probe(country);
                let _ = answer.send(writable);
            }
            Message::Flush(done) => {
                self.write_summaries(true);
                self.flush_all();
                let _ = done.send(());
            }
        }
    }

    fn write_summaries(&mut self, always: bool) {
        for (country, entry) in self.refusals.summaries(Instant::now(), always) {
            self.write(country, &entry);
        }
    }

    /// Whether `country`'s trail failed less than [`RETRY_INTERVAL`] ago.
    fn resting(&self, country: Country) -> bool {
        self.failures
            .get(&country)
            .and_then(|failure| failure.tried)
            .is_some_and(|tried| tried.elapsed() < RETRY_INTERVAL)
    }

    /// Opens `country`'s trail if needed and flushes it: whether it can be written.
    fn probe(&mut self, country: Country) -> bool {
        if self.files.contains_key(&country) && !self.failures.contains_key(&country) {
            return true;
        }
        if self.resting(country) {
            return false;
        }
        match self
            .open(country)
            .and_then(|trail| trail.file.flush().map(|()| trail.unflushed = 0))
        {
            Ok(()) => {
                self.recovered(country);
                true
            }
            Err(e) => {
                self.fail(country, &e, 0);
                false
            }
        }
    }

    fn write(&mut self, country: Country, entry: &AuditEntry) {
        let mut line = match serde_json::to_vec(entry) {
            Ok(line) => line,
            Err(e) => {
                tracing::error!(error = %e, "cannot serialise an audit entry");
                return;
            }
        };
        line.push(b'\n');
        if self.resting(country) {
            if let Some(failure) = self.failures.get_mut(&country) {
                failure.lost += 1;
            }
            return;
        }
        if let Err(e) = self.append(country, &line) {
            self.fail(country, &e, 1);
        }
    }

    /// `country`'s open trail, opened (and its directory created) if needed. A trail reopened
    /// after a failure first gets a line end, which closes a line a failed write may have
    /// torn (readers skip the empty line).
    fn open(&mut self, country: Country) -> std::io::Result<&mut OpenTrail> {
        let reopened = self.failures.contains_key(&country);
        if !self.files.contains_key(&country) && self.files.len() >= MAX_OPEN_TRAILS {
            self.close_least_recent();
        }
        match self.files.entry(country) {
            std::collections::hash_map::Entry::Occupied(open) => Ok(open.into_mut()),
            std::collections::hash_map::Entry::Vacant(slot) => {
                let dir = country_dir(&self.root, country);
                std::fs::DirBuilder::new()
                    .recursive(true)
                    .mode(0o700)
                    .create(&dir)?;
                let file = OpenOptions::new()
                    .create(true)
                    .append(true)
                    .mode(0o600)
                    .open(dir.join(FILE_NAME))?;
                let mut size = file.metadata()?.len();
                let mut file = BufWriter::new(file);
                if reopened && size > 0 {
                    file.write_all(b"\n")?;
                    size += 1;
                }
                Ok(slot.insert(OpenTrail {
                    file,
                    size,
                    unflushed: 0,
                    used: Instant::now(),
                }))
            }
        }
    }

    fn append(&mut self, country: Country, line: &[u8]) -> std::io::Result<()> {
        let length = line.len() as u64;
        let max = self.config.max_file_bytes;
        let trail = self.open(country)?;
        // Rotate before an entry that would take the file past its bound (a fresh file always
        // takes one entry).
        if trail.size > 0 && trail.size + length > max {
            trail.file.flush()?;
            self.files.remove(&country);
            rotate(&country_dir(&self.root, country), self.config.keep_files)?;
            return self.append(country, line);
        }
        trail.file.write_all(line)?;
        trail.size += length;
        trail.unflushed += 1;
        trail.used = Instant::now();
        Ok(())
    }

    /// Flushes and closes the trail written least recently.
    fn close_least_recent(&mut self) {
        let Some(oldest) = self
            .files
            .iter()
            .min_by_key(|(_, trail)| trail.used)
            .map(|(country, _)| *country)
        else {
            return;
        };
        if let Some(mut trail) = self.files.remove(&oldest) {
            if let Err(e) = trail.file.flush() {
                self.fail(oldest, &e, trail.unflushed);
            }
        }
    }

    /// Marks `country`'s trail failing (logged once per failure), `lost` entries with it.
    fn fail(&mut self, country: Country, error: &std::io::Error, lost: u64) {
        let unflushed = self.files.remove(&country).map_or(0, |t| t.unflushed);
        self.health.set(country, FAILING);
        let failure = self.failures.entry(country).or_insert_with(|| {
            tracing::error!(error = %error, country = %country, "cannot write the audit trail; storage requests of this country are refused until it can be written (unless it fails open)");
            Failure::default()
        });
        failure.tried = Some(Instant::now());
        failure.lost += lost + unflushed;
    }

    /// Marks `country`'s trail writable again.
    fn recovered(&mut self, country: Country) {
        if let Some(failure) = self.failures.remove(&country) {
            tracing::warn!(country = %country, lost = failure.lost, "the audit trail can be written again; entries were lost while it could not");
        }
        self.health.set(country, WRITABLE);
    }

    fn flush_all(&mut self) {
        let mut failed = Vec::new();
        for (country, trail) in &mut self.files {
            match trail.file.flush() {
                Ok(()) => trail.unflushed = 0,
                Err(e) => failed.push((*country, e)),
            }
        }
        for (country, e) in failed {
            self.fail(country, &e, 0);
        }
        let written: Vec<Country> = self
            .files
            .keys()
            .copied()
            .filter(|country| {
                self.failures.contains_key(country) || self.health.get(*country) != WRITABLE
            })
            .collect();
        for country in written {
            self.recovered(country);
        }
    }
}

/// Moves `audit.log` to `audit.log.1` (and each `.n` to `.n+1`), keeping `keep` rotated files
/// (`None`: all of them).
fn rotate(dir: &Path, keep: Option<usize>) -> std::io::Result<()> {
    let current = dir.join(FILE_NAME);
    let top = match keep {
        Some(0) => {
            return match std::fs::remove_file(&current) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
                _ => Ok(()),
            };
        }
        Some(keep) => {
            // Files beyond the kept ones (from a larger `keep` before) go.
            let mut n = keep + 1;
            while rotated(dir, n).exists() {
                std::fs::remove_file(rotated(dir, n))?;
                n += 1;
            }
            keep - 1
        }
        None => (1..).take_while(|n| rotated(dir, *n).exists()).count(),
    };
    for n in (1..=top).rev() {
        let from = rotated(dir, n);
        if from.exists() {
            std::fs::rename(&from, rotated(dir, n + 1))?;
        }
    }
    std::fs::rename(&current, rotated(dir, 1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn operations_round_trip_through_their_names() {
        for op in AuditOperation::ALL {
            assert_eq!(op.as_str().parse::<AuditOperation>(), Ok(op));
            assert_eq!(
                serde_json::to_value(op).ok(),
                Some(serde_json::Value::from(op.as_str()))
            );
        }
        assert!("nope".parse::<AuditOperation>().is_err());
    }

    #[test]
    fn long_texts_are_cut_at_a_character_boundary_and_marked() {
        for text in ["A".repeat(8000), "é".repeat(300), "日本".repeat(100)] {
            let mut owned = text.clone();
            bound(&mut owned);
            let copied = bounded(&text);
            assert_eq!(owned, copied);
            assert!(copied.len() <= MAX_FIELD_BYTES, "{} bytes", copied.len());
            assert!(copied.ends_with(&format!("…(truncated from {} bytes)", text.len())));
            let kept = copied.split('…').next().unwrap_or_default();
            assert!(text.starts_with(kept) && kept.len() > 200, "{kept}");
        }
        let short = "ab".repeat(32);
        assert_eq!(bounded(&short), short);
        let exact = "x".repeat(MAX_FIELD_BYTES);
        assert_eq!(bounded(&exact), exact);
    }

    #[test]
    fn an_ipv6_source_counts_by_its_64_bit_prefix() {
        let of = |text: &str| Source::of(text.parse().ok());
        assert_eq!(of("2001:db8:1:2::1"), of("2001:db8:1:2:ffff::9"));
        assert_ne!(of("2001:db8:1:2::1"), of("2001:db8:1:3::1"));
        assert_eq!(of("::ffff:192.0.2.1"), of("192.0.2.1"));
        assert_eq!(
            of("2001:db8:1:2::1").label().as_deref(),
            Some("2001:db8:1:2::/64")
        );
        assert_eq!(Source::of(None).label(), None);
    }
}
