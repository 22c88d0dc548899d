//! The per-country stores and attachment directories a server has open.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, PoisonError, RwLock};

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

/// Opens each country's partition on first use and keeps it.
///
/// Every request looks its partition up, so the open ones sit behind a read-write lock that
/// readers share without waiting; opening one (an async migration) is serialised by a
/// separate async mutex.
#[derive(Debug)]
pub(crate) struct Partitions {
    backend: Backend,
    files_root: PathBuf,
    open: RwLock<HashMap<Country, Arc<Partition>>>,
    opening: Mutex<()>,
    _temp: Option<tempfile::TempDir>,
}

impl Partitions {
    pub(crate) async fn new(config: &ServerConfig) -> Result<Self, ServerError> {
        let (backend, files_root, temp) = match &config.storage {
            StorageConfig::InMemory => {
                let temp = tempfile::Builder::new()
                    .prefix("incountry-server-")
                    .tempdir()?;
                (Backend::InMemory, temp.path().to_owned(), Some(temp))
            }
            StorageConfig::SqliteFiles => {
                tokio::fs::create_dir_all(&config.data_dir).await?;
                (Backend::SqliteFiles, config.data_dir.clone(), None)
            }
            StorageConfig::Postgres { url, schema_prefix } => {
                let pool = PgPoolOptions::new()
                    .max_connections(8)
                    .connect(url)
                    .await
                    .map_err(StoreError::from)?;
                tokio::fs::create_dir_all(&config.data_dir).await?;
                let backend = Backend::Postgres {
                    pool,
                    prefix: schema_prefix.clone(),
                };
                (backend, config.data_dir.clone(), None)
            }
        };
        Ok(Self {
            backend,
            files_root,
            open: RwLock::new(HashMap::new()),
            opening: Mutex::new(()),
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
        let dir = self.files_root.join(country.as_str());
        let files = dir.join("files");
        tokio::fs::create_dir_all(&files).await?;
        let store: Arc<dyn Store> = match &self.backend {
            Backend::InMemory => Arc::new(SqliteStore::in_memory().await?),
            Backend::SqliteFiles => {
                Arc::new(SqliteStore::open(&dir.join("records.sqlite3")).await?)
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
            .insert(country, partition.clone());
        Ok(partition)
    }

    fn opened_one(&self, country: Country) -> Option<Arc<Partition>> {
        self.open
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&country)
            .cloned()
    }

    /// The directory holding one subdirectory per country.
    pub(crate) fn root(&self) -> &std::path::Path {
        &self.files_root
    }

    /// Every partition opened so far.
    pub(crate) fn opened(&self) -> Vec<Arc<Partition>> {
        self.open
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .values()
            .cloned()
            .collect()
    }
}
