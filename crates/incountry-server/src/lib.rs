//! A self-hostable server that speaks the InCountry point-of-presence REST API, on SQLite or
//! PostgreSQL.
//!
//! It serves the records and attachments API, `/healthcheck`, `POST /oauth2/token` (client
//! credentials for registered clients) and `GET /countries`, with the status codes and shapes
//! the official SDKs expect. It never sees plaintext: records arrive encrypted, keys hashed.
//!
//! - [`Server`]: built from a [`ServerConfig`]; [`Server::router`] gives the routes,
//!   [`Server::bind`] listens and returns a [`RunningServer`].
//! - [`EmbeddedServer`]: one call starts a server in-process on a loopback port with records
//!   in memory and a registered client, for examples and tests.
//! - [`Store`]: the per-country record store, with [`SqliteStore`] and [`PostgresStore`].
//! - [`audit`]: the per-country audit trail of storage requests, and [`audit::read`].
//!
//! `GET /openapi.json` describes every route (OpenAPI 3.1), generated from the handlers.
//!
//! Data is partitioned by country (a store each) and environment id (a column). A token is
//! issued for one environment (the OAuth `scope`) and works only with a matching `x-env-id`.
//!
//! ```
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let runtime = tokio::runtime::Runtime::new()?;
//! runtime.block_on(async {
//!     let server = incountry_server::EmbeddedServer::start().await?;
//!     // Point an SDK at these: endpoint, token endpoint `<url>/oauth2/token`, client, env.
//!     let (url, client_id, env) = (server.url(), server.client_id(), server.environment_id());
//!     assert!(url.starts_with("http://127.0.0.1:"));
//!     assert!(!client_id.is_empty() && !server.client_secret().is_empty() && !env.is_empty());
//!     server.shutdown().await
//! })?;
//! # Ok(())
//! # }
//! ```

pub mod audit;
mod config;
mod countries;
mod detach;
mod error;
mod http;
mod listener;
mod partitions;
mod rate_limit;
mod server;
pub mod store;
mod token;

pub use audit::AuditConfig;
pub use config::{
    ClientCredentials, ConnectionLimits, Countries, MIN_CLIENT_SECRET_CHARS, ServerConfig,
    StorageConfig,
};
pub use error::ServerError;
pub use rate_limit::RateLimit;
pub use server::{EmbeddedServer, RunningServer, Server, raise_descriptor_limit};
pub use store::{
    FindPage, PostgresStore, SqliteStore, Store, StoreError, StoredAttachment, StoredRecord,
};

/// The code blocks of `docs/server.md`, compiled as doctests.
#[cfg(doctest)]
#[doc = include_str!("../../../docs/server.md")]
struct ServerGuideDoctests;
