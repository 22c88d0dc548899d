//! The audit trail: one JSON line per storage request, in an append-only file per country.
//!
//! Each country's trail is `<data_dir>/<cc>/audit.log` ([`FILE_NAME`]); at
//! [`AuditConfig::max_file_bytes`] it is renamed `audit.log.1` (the older ones move up to
//! `audit.log.2`, ...) and at most [`AuditConfig::keep_files`] rotated files are kept. An entry
//! ([`AuditEntry`]) holds when, who (client and environment), what (the operation, the record
//! key hashes or a find's count) and the status answered: never a body, a secret or a token.
//!
//! Requests hand their entries to a writer thread through a bounded channel, so file I/O never
//! runs on the async runtime; the writer writes whatever is queued, flushes, and then rests
//! for 10 ms before it waits again, so under load it wakes about a hundred times
//! a second instead of once per request (each wake-up is a context switch on both sides). An
//! entry reaches the file at most about that long after its request was answered, and at
//! once on [`Server::flush_audit`](crate::Server::flush_audit) (which a graceful shutdown
//! calls) beyond the rest already begun.
//!
//! [`read`] reads a country's trail back, oldest first, filtered.

use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::str::FromStr;

use chrono::{DateTime, Utc};
use incountry_model::Country;
use serde::{Deserialize, Serialize};
use tokio::sync::{mpsc, oneshot};

/// The name of a country's current audit file, in its directory under the data directory.
pub const FILE_NAME: &str = "audit.log";

/// How many entries may wait for the writer before requests wait for it.
const QUEUE: usize = 4096;

/// How long the writer rests after writing a batch of entries.
const WRITE_INTERVAL: std::time::Duration = std::time::Duration::from_millis(10);

/// Where and how much audit trail a server keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct AuditConfig {
    /// The size at which `audit.log` is rotated, in bytes (at least one entry is always
    /// written to a fresh file). Default 10 MiB.
    pub max_file_bytes: u64,
    /// How many rotated files (`audit.log.1` ...) to keep; older ones are deleted. Default 5.
    pub keep_files: usize,
}

impl Default for AuditConfig {
    fn default() -> Self {
        Self {
            max_file_bytes: 10 * 1024 * 1024,
            keep_files: 5,
        }
    }
}

impl AuditConfig {
    /// Rotation at `max_file_bytes`, keeping `keep_files` rotated files.
    pub fn new(max_file_bytes: u64, keep_files: usize) -> Self {
        Self {
            max_file_bytes,
            keep_files,
        }
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
    /// What was asked.
    pub operation: AuditOperation,
    /// The record key as sent (the SDKs send a hash), for single-record operations.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub record_key: Option<String>,
    /// The record keys of a batch write or batch delete.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub record_keys: Vec<String>,
    /// The attachment, for attachment operations.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file_id: Option<String>,
    /// Records returned by a find, or stored by a batch write.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub count: Option<u64>,
    /// The HTTP status answered.
    pub status: u16,
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

enum Message {
    Entry(Country, AuditEntry),
    Flush(oneshot::Sender<()>),
}

/// The sending half of the trail: hands entries to the writer thread.
#[derive(Debug)]
pub(crate) struct AuditLog {
    queue: mpsc::Sender<Message>,
}

impl std::fmt::Debug for Message {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Entry(country, _) => write!(f, "Entry({country})"),
            Self::Flush(_) => f.write_str("Flush"),
        }
    }
}

impl AuditLog {
    /// Starts the writer thread for trails under `root` (one directory per country).
    pub(crate) fn start(root: PathBuf, config: AuditConfig) -> std::io::Result<Self> {
        let (queue, incoming) = mpsc::channel(QUEUE);
        let writer = Writer {
            root,
            config,
            files: HashMap::new(),
        };
        std::thread::Builder::new()
            .name("incountry-audit".into())
            .spawn(move || writer.run(incoming))?;
        Ok(Self { queue })
    }

    /// Queues an entry for `country`'s trail (waits while the queue is full).
    pub(crate) async fn record(&self, country: Country, entry: AuditEntry) {
        if self
            .queue
            .send(Message::Entry(country, entry))
            .await
            .is_err()
        {
            tracing::error!("the audit writer has stopped; an audit entry is lost");
        }
    }

    /// Waits until every entry queued before this call is written and flushed.
    pub(crate) async fn flush(&self) {
        let (done, flushed) = oneshot::channel();
        if self.queue.send(Message::Flush(done)).await.is_ok() {
            let _ = flushed.await;
        }
    }
}

/// One country's open trail file.
struct OpenTrail {
    file: BufWriter<File>,
    size: u64,
}

/// The writer thread's state.
struct Writer {
    root: PathBuf,
    config: AuditConfig,
    files: HashMap<Country, OpenTrail>,
}

impl Writer {
    fn run(mut self, mut incoming: mpsc::Receiver<Message>) {
        while let Some(message) = incoming.blocking_recv() {
            let mut next = Some(message);
            // Write whatever is queued, then flush once.
            while let Some(message) = next.take() {
                match message {
                    Message::Entry(country, entry) => {
                        if let Err(e) = self.write(country, &entry) {
                            tracing::error!(error = %e, country = %country, "cannot write the audit trail");
                            self.files.remove(&country);
                        }
                    }
                    Message::Flush(done) => {
                        self.flush_all();
                        let _ = done.send(());
                    }
                }
                next = incoming.try_recv().ok();
            }
            self.flush_all();
            // While it rests, requests queue entries without waking it.
            std::thread::sleep(WRITE_INTERVAL);
        }
        self.flush_all();
    }

    fn flush_all(&mut self) {
        for (country, trail) in &mut self.files {
            if let Err(e) = trail.file.flush() {
                tracing::error!(error = %e, country = %country, "cannot flush the audit trail");
            }
        }
    }

    fn write(&mut self, country: Country, entry: &AuditEntry) -> std::io::Result<()> {
        let mut line = serde_json::to_vec(entry).map_err(std::io::Error::other)?;
        line.push(b'\n');
        let dir = country_dir(&self.root, country);
        let length = line.len() as u64;
        let trail = match self.files.entry(country) {
            std::collections::hash_map::Entry::Occupied(open) => open.into_mut(),
            std::collections::hash_map::Entry::Vacant(slot) => {
                std::fs::create_dir_all(&dir)?;
                let file = OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(dir.join(FILE_NAME))?;
                let size = file.metadata()?.len();
                slot.insert(OpenTrail {
                    file: BufWriter::new(file),
                    size,
                })
            }
        };
        // Rotate before an entry that would take the file past its bound (a fresh file always
        // takes one entry).
        if trail.size > 0 && trail.size + length > self.config.max_file_bytes {
            self.files.remove(&country);
            rotate(&dir, self.config.keep_files)?;
            return self.write(country, entry);
        }
        trail.file.write_all(&line)?;
        trail.size += length;
        Ok(())
    }
}

/// Moves `audit.log` to `audit.log.1` (and each `.n` to `.n+1`), keeping `keep` rotated files.
fn rotate(dir: &Path, keep: usize) -> std::io::Result<()> {
    let current = dir.join(FILE_NAME);
    if keep == 0 {
        return match std::fs::remove_file(&current) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
            _ => Ok(()),
        };
    }
    // Files beyond the kept ones (from a larger `keep` before) go.
    let mut n = keep + 1;
    while rotated(dir, n).exists() {
        std::fs::remove_file(rotated(dir, n))?;
        n += 1;
    }
    for n in (1..keep).rev() {
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
}
