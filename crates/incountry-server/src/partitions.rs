//! The per-country stores and attachment directories a server has open.

use std::collections::HashMap;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::{Arc, PoisonError, RwLock};
use std::time::{Duration, Instant, SystemTime};

use incountry_model::Country;
use sqlx::postgres::{PgPool, PgPoolOptions};
use tokio::sync::Mutex;
use uuid::Uuid;

use crate::config::{ServerConfig, StorageConfig};
use crate::error::ServerError;
use crate::store::{PostgresStore, SqliteStore, Store, StoreError};

/// One country's records and files.
#[derive(Debug)]
pub(crate) struct Partition {
    pub(crate) store: Arc<dyn Store>,
    pub(crate) files: FileDir,
}

/// An open partition and when a request last used it.
#[derive(Debug)]
struct OpenPartition {
    partition: Arc<Partition>,
    /// Milliseconds after [`Partitions::epoch`].
    used_ms: std::sync::atomic::AtomicU64,
}

/// A directory of attachment contents named by file id (a UUID): names from requests never
/// become paths.
#[derive(Debug, Clone)]
pub(crate) struct FileDir {
    dir: PathBuf,
}

impl FileDir {
    pub(crate) fn path(&self, file_id: &Uuid) -> PathBuf {
        self.dir.join(file_id.hyphenated().to_string())
    }

    /// A fresh path for an upload in progress.
    pub(crate) fn upload_path(&self) -> PathBuf {
        self.dir
            .join(format!(".upload-{}", Uuid::new_v4().hyphenated()))
    }

    /// Removes the content of these attachments (ids that are not UUIDs are skipped).
    pub(crate) async fn remove_all(&self, file_ids: &[String]) {
        for id in file_ids {
            if let Ok(uuid) = Uuid::parse_str(id) {
                if let Err(e) = tokio::fs::remove_file(self.path(&uuid)).await {
                    if e.kind() != std::io::ErrorKind::NotFound {
                        tracing::warn!(file_id = %id, error = %e, "cannot remove attachment");
                    }
                }
            }
        }
    }
}

#[derive(Debug)]
enum Backend {
    SqliteFiles,
    InMemory,
    Postgres { pool: PgPool, prefix: String },
}

/// Opens each country's partition on first use and keeps it open while it is used.
///
/// Every request looks its partition up, so the open ones sit behind a read-write lock that
/// readers share without waiting; opening one (an async migration) is serialised by a
/// separate async mutex. With SQLite files at most `max_open` are open: opening another
/// closes the least recently used, and [`Partitions::close_idle`] closes those unused for
/// `idle_close` (a closed partition's databases close once its last request is done, and it
/// reopens on the next request). Databases in memory are never closed (that would lose them).
#[derive(Debug)]
pub(crate) struct Partitions {
    backend: Backend,
    files_root: PathBuf,
    open: RwLock<HashMap<Country, OpenPartition>>,
    opening: Mutex<()>,
    max_open: usize,
    idle_close: Duration,
    epoch: Instant,
    /// When this process started serving: leftovers of uploads older than this are removed
    /// when a country is first opened.
    started: SystemTime,
    /// Countries whose upload leftovers were cleaned by this process.
    cleaned: std::sync::Mutex<std::collections::HashSet<Country>>,
    /// The data directory's lock (SQLite files), held while the server lives.
    _lock: Option<DataDirLock>,
    _temp: Option<tempfile::TempDir>,
}

impl Partitions {
    pub(crate) async fn new(config: &ServerConfig, max_open: usize) -> Result<Self, ServerError> {
        let (backend, files_root, temp, lock) = match &config.storage {
            StorageConfig::InMemory => {
                let temp = tempfile::Builder::new()
                    .prefix("incountry-server-")
                    .tempdir()?;
                (Backend::InMemory, temp.path().to_owned(), Some(temp), None)
            }
            StorageConfig::SqliteFiles => {
                private_dir(&config.data_dir)?;
                // SQLite databases belong to one process: a second server on the same
                // directory is refused instead of sharing them.
                let lock = DataDirLock::take(&config.data_dir)?;
                (
                    Backend::SqliteFiles,
                    config.data_dir.clone(),
                    None,
                    Some(lock),
                )
            }
            StorageConfig::Postgres { url, schema_prefix } => {
                let pool = PgPoolOptions::new()
                    .max_connections(8)
                    .connect(url)
                    .await
                    .map_err(StoreError::from)?;
                private_dir(&config.data_dir)?;
                let backend = Backend::Postgres {
                    pool,
                    prefix: schema_prefix.clone(),
                };
                (backend, config.data_dir.clone(), None, None)
            }
        };
        Ok(Self {
            backend,
            files_root,
            open: RwLock::new(HashMap::new()),
            opening: Mutex::new(()),
            max_open: max_open.max(1),
            idle_close: config.country_idle_close,
            epoch: Instant::now(),
            started: SystemTime::now(),
            cleaned: std::sync::Mutex::new(std::collections::HashSet::new()),
            _lock: lock,
            _temp: temp,
        })
    }

    /// The partition of `country`, opened (and migrated) on first use.
    pub(crate) async fn get(&self, country: Country) -> Result<Arc<Partition>, ServerError> {
        if let Some(partition) = self.opened_one(country) {
            return Ok(partition);
        }
        let _opening = self.opening.lock().await;
        // Another request may have opened it while this one waited.
        if let Some(partition) = self.opened_one(country) {
            return Ok(partition);
        }
        if matches!(self.backend, Backend::SqliteFiles) {
            self.make_room();
        }
        let dir = self.files_root.join(country.as_str());
        let files = dir.join("files");
        private_dir(&dir)?;
        private_dir(&files)?;
        self.clean_uploads_once(country, &files);
        let store: Arc<dyn Store> = match &self.backend {
            Backend::InMemory => Arc::new(SqliteStore::in_memory().await?),
            Backend::SqliteFiles => {
                let path = dir.join("records.sqlite3");
                // SQLite gives the journal and shared-memory files the database's mode.
                private_file(&path)?;
                Arc::new(SqliteStore::open(&path).await?)
            }
            Backend::Postgres { pool, prefix } => Arc::new(
                PostgresStore::open(pool.clone(), &format!("{prefix}{}", country.as_str())).await?,
            ),
        };
        let partition = Arc::new(Partition {
            store,
            files: FileDir { dir: files },
        });
        tracing::info!(country = %country, "opened the country's store");
        self.open
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(
                country,
                OpenPartition {
                    partition: partition.clone(),
                    used_ms: self.now_ms().into(),
                },
            );
        Ok(partition)
    }

    fn now_ms(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    fn opened_one(&self, country: Country) -> Option<Arc<Partition>> {
        let open = self.open.read().unwrap_or_else(PoisonError::into_inner);
        let entry = open.get(&country)?;
        entry
            .used_ms
            .store(self.now_ms(), std::sync::atomic::Ordering::Relaxed);
        Some(entry.partition.clone())
    }

    /// Closes least recently used partitions until one more fits under the cap.
    fn make_room(&self) {
        let mut open = self.open.write().unwrap_or_else(PoisonError::into_inner);
        while open.len() >= self.max_open {
            let Some(oldest) = open
                .iter()
                .min_by_key(|(_, p)| p.used_ms.load(std::sync::atomic::Ordering::Relaxed))
                .map(|(country, _)| *country)
            else {
                break;
            };
            open.remove(&oldest);
            tracing::info!(country = %oldest, "closed the least recently used country's store");
        }
    }

    /// Closes the SQLite-file partitions no request has used for the idle time.
    pub(crate) fn close_idle(&self) {
        if !matches!(self.backend, Backend::SqliteFiles) {
            return;
        }
        let now = self.now_ms();
        let idle_ms = u64::try_from(self.idle_close.as_millis()).unwrap_or(u64::MAX);
        let mut open = self.open.write().unwrap_or_else(PoisonError::into_inner);
        open.retain(|country, p| {
            let used = p.used_ms.load(std::sync::atomic::Ordering::Relaxed);
            let keep = now.saturating_sub(used) < idle_ms;
            if !keep {
                tracing::info!(country = %country, "closed an idle country's store");
            }
            keep
        });
    }

    /// Removes the temporary files of uploads cut short (by a crash or a kill) before this
    /// process started, the first time a country is opened.
    fn clean_uploads_once(&self, country: Country, files: &Path) {
        let first = self
            .cleaned
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(country);
        if !first {
            return;
        }
        let Ok(entries) = std::fs::read_dir(files) else {
            return;
        };
        for entry in entries.flatten() {
            let name = entry.file_name();
            if !name.to_string_lossy().starts_with(".upload-") {
                continue;
            }
            let stale = entry
                .metadata()
                .and_then(|m| m.modified())
                .is_ok_and(|modified| modified < self.started);
            if stale {
                match std::fs::remove_file(entry.path()) {
                    Ok(()) => {
                        tracing::info!(country = %country, file = ?name, "removed an interrupted upload")
                    }
                    Err(e) => {
                        tracing::warn!(country = %country, error = %e, "cannot remove an interrupted upload")
                    }
                }
            }
        }
    }

    /// The directory holding one subdirectory per country.
    pub(crate) fn root(&self) -> &std::path::Path {
        &self.files_root
    }

    /// Every partition open now.
    pub(crate) fn opened(&self) -> Vec<Arc<Partition>> {
        self.open
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .values()
            .map(|p| p.partition.clone())
            .collect()
    }
}

/// Creates `dir` (and its parents) if needed, readable by this user only.
fn private_dir(dir: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::{DirBuilderExt as _, PermissionsExt as _};
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)?;
    // An existing directory keeps what it had; the server's own are made private.
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
}

/// Creates `path` empty if it does not exist, readable and writable by this user only.
fn private_file(path: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::OpenOptionsExt as _;
    match std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
    {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(e),
    }
}

/// The name of the lock file in a SQLite data directory.
pub(crate) const LOCK_FILE: &str = "incountry-server.lock";

/// An exclusive lock on a data directory, released when dropped (or when the process ends,
/// however it ends): `<data_dir>/incountry-server.lock`, holding the holder's PID.
#[derive(Debug)]
struct DataDirLock {
    _file: std::fs::File,
}

impl DataDirLock {
    fn take(data_dir: &Path) -> Result<Self, ServerError> {
        use std::os::unix::fs::OpenOptionsExt as _;
        let path = data_dir.join(LOCK_FILE);
        let mut file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .open(&path)?;
        if let Err(e) =
            rustix::fs::flock(&file, rustix::fs::FlockOperation::NonBlockingLockExclusive)
        {
            if e != rustix::io::Errno::WOULDBLOCK {
                return Err(ServerError::Io(e.into()));
            }
            let holder = std::fs::read_to_string(&path).unwrap_or_default();
            let holder = holder.trim();
            let holder = if holder.is_empty() { "unknown" } else { holder };
            return Err(ServerError::Config(format!(
                "the data directory {} is in use by another incountry server (PID {holder}); \
                 stop it or use another --data-dir",
                data_dir.display()
            )));
        }
        file.set_len(0)?;
        writeln!(file, "{}", std::process::id())?;
        file.flush()?;
        Ok(Self { _file: file })
    }
}
