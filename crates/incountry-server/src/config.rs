//! What a server is configured with.

use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use incountry_model::Country;

use crate::audit::AuditConfig;
use crate::rate_limit::RateLimit;

/// A client allowed to obtain tokens with the OAuth2 client-credentials grant.
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ClientCredentials {
    /// The client id.
    pub client_id: String,
    /// The client secret.
    pub client_secret: String,
}

impl ClientCredentials {
    /// A client with this id and secret.
    pub fn new(client_id: impl Into<String>, client_secret: impl Into<String>) -> Self {
        Self {
            client_id: client_id.into(),
            client_secret: client_secret.into(),
        }
    }
}

impl std::fmt::Debug for ClientCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientCredentials")
            .field("client_id", &self.client_id)
            .field("client_secret", &"<redacted>")
            .finish()
    }
}

/// Which countries a server serves.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum Countries {
    /// Every two-letter code; `GET /countries` lists a fixed set of common ones.
    #[default]
    Any,
    /// Only these.
    Only(Vec<Country>),
}

impl Countries {
    /// Whether `country` is served.
    pub fn serves(&self, country: Country) -> bool {
        match self {
            Self::Any => true,
            Self::Only(list) => list.contains(&country),
        }
    }
}

/// Where records are kept.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum StorageConfig {
    /// One SQLite database per country under `data_dir` (`<cc>/records.sqlite3`), attachments
    /// beside it (`<cc>/files/`).
    #[default]
    SqliteFiles,
    /// SQLite databases in memory and attachments in a temporary directory, all gone at
    /// shutdown: for tests and examples.
    InMemory,
    /// PostgreSQL at this URL, one schema per country named `<schema_prefix><cc>`;
    /// attachments on disk under `data_dir`.
    Postgres {
        /// `postgres://user@host:port/database`.
        url: String,
        /// Prefix of the per-country schema names (lower-case letters, digits, `_`).
        schema_prefix: String,
    },
}

/// Everything a [`Server`](crate::Server) needs; [`Default`] gives a usable development setup.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ServerConfig {
    /// The address to listen on (port 0 picks a free one). Default `127.0.0.1:8080`.
    pub listen: SocketAddr,
    /// The data directory. Default `./incountry-data`.
    pub data_dir: PathBuf,
    /// The record store. Default SQLite files under `data_dir`.
    pub storage: StorageConfig,
    /// The countries served. Default any.
    pub countries: Countries,
    /// The clients that may obtain tokens. Default none.
    pub clients: Vec<ClientCredentials>,
    /// The HMAC-SHA256 key that signs tokens; `None` draws a random key at start, so tokens
    /// do not survive a restart.
    pub signing_key: Option<Vec<u8>>,
    /// How long an issued token is valid. Default one hour.
    pub token_ttl: Duration,
    /// How often expired records are deleted. Default one minute.
    pub sweep_interval: Duration,
    /// The largest JSON request body accepted (413 beyond). Default 32 MiB.
    pub max_json_body: usize,
    /// The base URL written into attachments' `download_link`; `None` uses
    /// `http://<Host header>`.
    pub public_url: Option<String>,
    /// Storage requests allowed per client; `None` (the default) for no limit.
    pub rate_limit: Option<RateLimit>,
    /// The audit trail (`<data_dir>/<cc>/audit.log`, one JSON line per storage request);
    /// `None` keeps none. Default: on, rotated at 10 MiB, 5 rotated files kept. With
    /// [`StorageConfig::InMemory`] it goes to the temporary directory, gone at shutdown.
    pub audit: Option<AuditConfig>,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from((Ipv4Addr::LOCALHOST, 8080)),
            data_dir: PathBuf::from("./incountry-data"),
            storage: StorageConfig::default(),
            countries: Countries::default(),
            clients: Vec::new(),
            signing_key: None,
            token_ttl: Duration::from_secs(3600),
            sweep_interval: Duration::from_secs(60),
            max_json_body: 32 * 1024 * 1024,
            public_url: None,
            rate_limit: None,
            audit: Some(AuditConfig::default()),
        }
    }
}

impl ServerConfig {
    /// The default configuration with records in memory and a free loopback port: what
    /// tests and examples start.
    pub fn in_memory() -> Self {
        Self {
            listen: SocketAddr::from((Ipv4Addr::LOCALHOST, 0)),
            storage: StorageConfig::InMemory,
            ..Self::default()
        }
    }

    /// Adds a registered client.
    #[must_use]
    pub fn with_client(mut self, client_id: impl Into<String>, secret: impl Into<String>) -> Self {
        self.clients.push(ClientCredentials::new(client_id, secret));
        self
    }
}
