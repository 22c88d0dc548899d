//! What a server is configured with.

use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use incountry_model::Country;

use crate::audit::AuditConfig;
use crate::rate_limit::RateLimit;

/// The shortest client secret a server accepts unless
/// [`ServerConfig::allow_weak_secrets`] is set.
pub const MIN_CLIENT_SECRET_CHARS: usize = 16;

/// A client allowed to obtain tokens with the OAuth2 client-credentials grant.
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ClientCredentials {
    /// The client id.
    pub client_id: String,
    /// The client secret.
    pub client_secret: String,
    /// The environment ids this client may obtain tokens for. Empty means any environment,
    /// which a server accepts only with [`ServerConfig::client_any_environment`].
    pub environments: Vec<String>,
}

impl ClientCredentials {
    /// A client with this id and secret, not yet bound to environments (see
    /// [`ClientCredentials::for_environments`]).
    pub fn new(client_id: impl Into<String>, client_secret: impl Into<String>) -> Self {
        Self {
            client_id: client_id.into(),
            client_secret: client_secret.into(),
            environments: Vec::new(),
        }
    }

    /// Binds the client to these environment ids: it gets tokens for them only.
    #[must_use]
    pub fn for_environments<I, S>(mut self, environments: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.environments = environments.into_iter().map(Into::into).collect();
        self
    }

    /// Whether this client may obtain a token for `environment_id` (`any` when the server
    /// lets clients without a list use any environment).
    pub(crate) fn admits_environment(&self, environment_id: &str, any: bool) -> bool {
        if self.environments.is_empty() {
            any
        } else {
            self.environments.iter().any(|e| e == environment_id)
        }
    }
}

impl std::fmt::Debug for ClientCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientCredentials")
            .field("client_id", &self.client_id)
            .field("client_secret", &"<redacted>")
            .field("environments", &self.environments)
            .finish()
    }
}

/// Which countries a server serves.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum Countries {
    /// Every ISO 3166-1 alpha-2 code (other two-letter codes are refused); `GET /countries`
    /// lists a fixed set of common ones.
    #[default]
    Any,
    /// Only these.
    Only(Vec<Country>),
}

impl Countries {
    /// Whether `country` is served.
    pub fn serves(&self, country: Country) -> bool {
        match self {
            Self::Any => country.is_iso_3166_alpha2(),
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
    /// The URLs clients reach this server at (e.g. `https://us.pop.example`). When any is
    /// set, a token's audience must name one of them and the first is the base of
    /// attachments' `download_link`; when none is, the audience is checked against the
    /// request's `Host` header and links use `http://<Host>`. Set them in production: the
    /// `Host` header is whatever the client sends.
    pub public_urls: Vec<String>,
    /// Storage requests allowed per client; `None` (the default) for no limit.
    pub rate_limit: Option<RateLimit>,
    /// Failed token requests allowed per client id and per source address before
    /// `POST /oauth2/token` answers 429 with `Retry-After`. Default 30 a minute in bursts
    /// of 10.
    pub token_failure_limit: RateLimit,
    /// Whether clients without an environment list may obtain tokens for any environment.
    /// Default `false` (such a client stops the start); [`ServerConfig::in_memory`] sets it.
    pub client_any_environment: bool,
    /// Whether client secrets shorter than [`MIN_CLIENT_SECRET_CHARS`] are accepted.
    /// Default `false` (they stop the start).
    pub allow_weak_secrets: bool,
    /// Connection limits and timeouts.
    pub connections: ConnectionLimits,
    /// At most this many countries' SQLite databases are open at once (SQLite files only);
    /// the least recently used is closed to open another. Default 64.
    pub max_open_countries: usize,
    /// A country's SQLite database unused for this long is closed (SQLite files only).
    /// Default 10 minutes.
    pub country_idle_close: Duration,
    /// The audit trail (`<data_dir>/<cc>/audit.log`, one JSON line per storage request);
    /// `None` keeps none. Default: on, rotated at 10 MiB, every rotated file kept. With
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
            public_urls: Vec::new(),
            rate_limit: None,
            token_failure_limit: RateLimit::new(30, 10),
            client_any_environment: false,
            allow_weak_secrets: false,
            connections: ConnectionLimits::default(),
            max_open_countries: 64,
            country_idle_close: Duration::from_secs(600),
            audit: Some(AuditConfig::default()),
        }
    }
}

impl ServerConfig {
    /// The default configuration with records in memory and a free loopback port, clients
    /// without an environment list admitted to any environment: what tests and examples
    /// start.
    pub fn in_memory() -> Self {
        Self {
            listen: SocketAddr::from((Ipv4Addr::LOCALHOST, 0)),
            storage: StorageConfig::InMemory,
            client_any_environment: true,
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

/// Limits on the connections a listening server holds, so that slow, idle or numerous clients
/// cannot hold its sockets or descriptors; [`Default`] gives the documented defaults.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct ConnectionLimits {
    /// Connections served at once; beyond it a new connection is answered
    /// `503 Service Unavailable` with `Retry-After` and closed. Default 1024 (lowered at start
    /// when the process may not open that many descriptors).
    pub max_connections: usize,
    /// How long a client may take to send a request's head (request line and headers). On
    /// HTTP/1.1 the clock also runs while a kept-alive connection waits for its next request.
    /// Default 10 s.
    pub header_read_timeout: Duration,
    /// A connection with no request in flight and no bytes sent either way for this long is
    /// closed. Default 60 s.
    pub idle_timeout: Duration,
    /// How long a request body may go without delivering a byte; then the request is answered
    /// `408 Request Timeout`. Default 30 s.
    pub body_read_timeout: Duration,
    /// How long a graceful shutdown waits for requests in flight before it closes the
    /// connections that remain. Default 10 s.
    pub shutdown_timeout: Duration,
}

impl Default for ConnectionLimits {
    fn default() -> Self {
        Self {
            max_connections: 1024,
            header_read_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(60),
            body_read_timeout: Duration::from_secs(30),
            shutdown_timeout: Duration::from_secs(10),
        }
    }
}

impl ServerConfig {
    /// Checks what a server refuses to start with ([`Server::new`](crate::Server::new) calls
    /// it): weak client secrets, clients without environments, an empty or repeated-byte
    /// signing key, zero limits and timeouts, public URLs that are not HTTP(S).
    pub fn validate(&self) -> Result<(), crate::ServerError> {
        self.check().map_err(crate::ServerError::Config)
    }

    fn check(&self) -> Result<(), String> {
        for client in &self.clients {
            if client.client_id.is_empty() || client.client_secret.is_empty() {
                return Err("a client id and its secret must not be empty".into());
            }
            if !self.allow_weak_secrets
                && client.client_secret.chars().count() < MIN_CLIENT_SECRET_CHARS
            {
                return Err(format!(
                    "the secret of client {:?} is shorter than {MIN_CLIENT_SECRET_CHARS} \
                     characters; use a longer one (or allow weak secrets)",
                    client.client_id
                ));
            }
            if client.environments.is_empty() && !self.client_any_environment {
                return Err(format!(
                    "client {:?} is not bound to any environment; give it environments \
                     (ID:SECRET@ENV) or allow clients in any environment",
                    client.client_id
                ));
            }
        }
        if let Some(key) = &self.signing_key {
            if key.is_empty() {
                return Err("the token signing key is empty".into());
            }
            if key.iter().all(|b| *b == key[0]) {
                return Err("the token signing key is one byte repeated; use random bytes".into());
            }
        }
        let limits = &self.connections;
        if limits.max_connections == 0 {
            return Err("the connection limit must be at least 1".into());
        }
        for (name, value) in [
            ("header read timeout", limits.header_read_timeout),
            ("idle timeout", limits.idle_timeout),
            ("body read timeout", limits.body_read_timeout),
            ("token lifetime", self.token_ttl),
        ] {
            if value.is_zero() {
                return Err(format!("the {name} must be longer than zero"));
            }
        }
        if self.max_open_countries == 0 {
            return Err("at least one country database must be allowed open".into());
        }
        for url in &self.public_urls {
            if !(url.starts_with("http://") || url.starts_with("https://")) {
                return Err(format!(
                    "public URL {url:?} must start with http:// or https://"
                ));
            }
        }
        Ok(())
    }
}
