//! Starting, running and stopping a server.

use std::net::SocketAddr;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use rand_core::{OsRng, RngCore};
use tokio::task::JoinHandle;
use tokio_util::task::TaskTracker;

use crate::audit::AuditLog;
use crate::config::{ClientCredentials, ServerConfig};
use crate::error::ServerError;
use crate::http::{AppState, router};
use crate::listener::{Stop, accept_loop};
use crate::partitions::Partitions;
use crate::token::{Claims, TokenSigner};

/// A configured server: its stores, token signer and HTTP routes, not yet bound to a socket.
///
/// Use [`Server::router`] to serve it yourself (or to call it in-process in tests), or
/// [`Server::bind`] to listen on the configured address.
#[derive(Debug, Clone)]
pub struct Server {
    state: Arc<AppState>,
    sweep_interval: std::time::Duration,
    listen: SocketAddr,
    connections: crate::config::ConnectionLimits,
}

impl Server {
    /// Prepares a server: creates the data directory or connects to PostgreSQL, and opens
    /// (creating and migrating) the stores of the configured countries; with
    /// [`Countries::Any`](crate::Countries::Any) each country's store opens on first use.
    pub async fn new(config: ServerConfig) -> Result<Self, ServerError> {
        config.validate()?;
        let key = match &config.signing_key {
            Some(key) => key.clone(),
            None => {
                let mut key = vec![0u8; 32];
                OsRng.fill_bytes(&mut key);
                key
            }
        };
        let budget = DescriptorBudget::for_process(&config);
        let partitions = Partitions::new(&config, budget.countries).await?;
        // A fixed list of countries opens (and migrates) its stores now, so that a bad
        // database shows at start; with any country, each store opens on first use.
        if let crate::config::Countries::Only(countries) = &config.countries {
            for country in countries {
                partitions.get(*country).await?;
            }
        }
        let audit = match config.audit {
            Some(audit) => Some(AuditLog::start(partitions.root().to_owned(), audit)?),
            None => None,
        };
        let mut connections = config.connections;
        connections.max_connections = budget.connections;
        let state = AppState {
            partitions,
            signer: TokenSigner::new(key),
            clients: config.clients.clone(),
            client_any_environment: config.client_any_environment,
            countries: config.countries.clone(),
            token_ttl: config.token_ttl,
            max_json_body: config.max_json_body,
            public_urls: config.public_urls.clone(),
            limiter: config.rate_limit.map(crate::rate_limit::Limiter::new),
            token_failures: crate::rate_limit::FailureLimiter::new(config.token_failure_limit),
            requests: TaskTracker::new(),
            audit,
        };
        Ok(Self {
            state: Arc::new(state),
            sweep_interval: config.sweep_interval,
            listen: config.listen,
            connections,
        })
    }

    /// The HTTP routes (an [`axum::Router`], a `tower` service).
    pub fn router(&self) -> axum::Router {
        router(self.state.clone())
    }

    /// Issues a token for `environment_id` and `audience`, as `POST /oauth2/token` would
    /// for a registered client, expiring at `expires_at`. For tests and operator tooling; an
    /// empty `audience` makes a token valid at any address of this server.
    pub fn issue_token(
        &self,
        environment_id: &str,
        audience: &str,
        expires_at: DateTime<Utc>,
    ) -> String {
        self.state.signer.issue(&Claims {
            env: environment_id.to_owned(),
            aud: audience.to_owned(),
            cid: String::new(),
            exp: expires_at.timestamp(),
        })
    }

    /// Waits until every audit entry of requests answered so far is written to its file and
    /// flushed (graceful shutdown does this too). Does nothing without an audit trail.
    pub async fn flush_audit(&self) {
        if let Some(audit) = &self.state.audit {
            audit.flush().await;
        }
    }

    /// The OpenAPI description of every route, as `GET /openapi.json` serves it.
    pub fn openapi_json(&self) -> String {
        crate::http::openapi_document(&self.state)
            .to_pretty_json()
            .unwrap_or_default()
    }

    /// Deletes the records expired at `now` in every country opened so far, with their
    /// attachments (what the background sweeper does). Returns how many records went.
    pub async fn sweep_expired(&self, now: DateTime<Utc>) -> Result<u64, ServerError> {
        let mut total = 0;
        for partition in self.state.partitions.opened() {
            let (deleted, files) = partition.store.sweep_expired(now).await?;
            partition.files.remove_all(&files).await;
            total += deleted;
        }
        Ok(total)
    }

    /// Prepares a server with `config` and listens on its address, with the expiry sweeper
    /// running in the background.
    pub async fn bind(config: ServerConfig) -> Result<RunningServer, ServerError> {
        Self::new(config).await?.listen().await
    }

    /// Listens on the configured address, with the expiry sweeper running.
    pub async fn listen(self) -> Result<RunningServer, ServerError> {
        let listener = tokio::net::TcpListener::bind(self.listen).await?;
        let local_addr = listener.local_addr()?;
        let stop = Stop::default();
        let tracker = TaskTracker::new();
        let serve = tokio::spawn(accept_loop(
            listener,
            self.router(),
            self.connections,
            stop.clone(),
            tracker.clone(),
        ));
        let sweeper = {
            let server = self.clone();
            tokio::spawn(async move {
                let mut ticks = tokio::time::interval(server.sweep_interval);
                ticks.tick().await;
                loop {
                    ticks.tick().await;
                    if let Err(e) = server.sweep_expired(Utc::now()).await {
                        tracing::warn!(error = %e, "expiry sweep failed");
                    }
                    server.state.partitions.close_idle();
                }
            })
        };
        tracing::info!(address = %local_addr, "incountry server listening");
        Ok(RunningServer {
            server: self,
            local_addr,
            stop,
            tracker,
            serve: Some(serve),
            sweeper,
        })
    }
}

/// How many connections and open country databases fit in the process's descriptor limit.
#[derive(Debug, Clone, Copy)]
struct DescriptorBudget {
    connections: usize,
    countries: usize,
}

/// Descriptors kept aside for the listener, audit files, the runtime and the like.
const RESERVED_DESCRIPTORS: u64 = 64;

/// About how many descriptors one open country database holds (database, journal and
/// shared-memory files of a few connections).
const DESCRIPTORS_PER_COUNTRY: u64 = 8;

impl DescriptorBudget {
    /// The configured limits, lowered to fit the soft descriptor limit: connections may take
    /// half of what is not reserved, country databases the other half.
    fn for_process(config: &ServerConfig) -> Self {
        let limit = rustix::process::getrlimit(rustix::process::Resource::Nofile)
            .current
            .unwrap_or(u64::MAX);
        let half = limit.saturating_sub(RESERVED_DESCRIPTORS) / 2;
        let fit = |wanted: usize, available: u64| {
            usize::try_from(available).map_or(wanted, |available| wanted.min(available.max(1)))
        };
        let budget = Self {
            connections: fit(config.connections.max_connections, half),
            countries: fit(config.max_open_countries, half / DESCRIPTORS_PER_COUNTRY),
        };
        if budget.connections < config.connections.max_connections
            || budget.countries < config.max_open_countries
        {
            tracing::warn!(
                descriptor_limit = limit,
                connections = budget.connections,
                countries = budget.countries,
                "the descriptor limit is low; serving fewer connections and open countries"
            );
        }
        budget
    }
}

/// Raises this process's soft limit on open descriptors to its hard limit (what a server
/// should do at start: the soft limit is often 1 024 while the hard one is far higher).
/// Returns the limit now in force.
pub fn raise_descriptor_limit() -> std::io::Result<u64> {
    use rustix::process::{Resource, getrlimit, setrlimit};
    let mut limit = getrlimit(Resource::Nofile);
    if limit.current != limit.maximum {
        limit.current = limit.maximum;
        setrlimit(Resource::Nofile, limit).map_err(std::io::Error::from)?;
    }
    Ok(getrlimit(Resource::Nofile).current.unwrap_or(u64::MAX))
}

/// A listening server. Dropping it stops it; [`RunningServer::shutdown`] stops it
/// gracefully and waits.
#[derive(Debug)]
pub struct RunningServer {
    server: Server,
    local_addr: SocketAddr,
    stop: Stop,
    tracker: TaskTracker,
    serve: Option<JoinHandle<()>>,
    sweeper: JoinHandle<()>,
}

impl RunningServer {
    /// The address it listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// `http://<address>`.
    pub fn url(&self) -> String {
        format!("http://{}", self.local_addr)
    }

    /// The server, e.g. to issue tokens or sweep.
    pub fn server(&self) -> &Server {
        &self.server
    }

    /// Stops accepting connections, lets requests in flight finish for at most
    /// [`ConnectionLimits::shutdown_timeout`](crate::ConnectionLimits::shutdown_timeout)
    /// (then closes the connections that remain), flushes the audit trail, and waits.
    pub async fn shutdown(mut self) -> Result<(), ServerError> {
        self.sweeper.abort();
        // Wait for it to go: it holds the server (and with it the data directory's lock).
        let _ = (&mut self.sweeper).await;
        self.stop.graceful.cancel();
        if let Some(serve) = self.serve.take() {
            if let Err(e) = serve.await {
                return Err(ServerError::Io(std::io::Error::other(e)));
            }
        }
        self.tracker.close();
        let deadline = self.server.connections.shutdown_timeout;
        if tokio::time::timeout(deadline, self.tracker.wait())
            .await
            .is_err()
        {
            tracing::warn!(
                connections = self.tracker.len(),
                "requests still in flight at the shutdown deadline; closing their connections"
            );
            self.stop.now.cancel();
            // Each connection task ends at its next poll once told to stop now.
            let _ = tokio::time::timeout(deadline, self.tracker.wait()).await;
        }
        // Requests whose clients left run on (see `run_to_the_end`); their work and audit
        // entries finish before the trail is flushed, within the same deadline.
        let requests = &self.server.state.requests;
        requests.close();
        if tokio::time::timeout(deadline, requests.wait())
            .await
            .is_err()
        {
            tracing::warn!(
                requests = requests.len(),
                "requests still running at the shutdown deadline"
            );
        }
        self.server.flush_audit().await;
        Ok(())
    }
}

impl Drop for RunningServer {
    fn drop(&mut self) {
        self.sweeper.abort();
        self.stop.graceful.cancel();
        self.stop.now.cancel();
    }
}

/// A server in this process on a free loopback port, records in memory, with one
/// registered client: for examples and tests.
///
/// Any environment id works: a registered client gets a token for whatever `scope` it asks,
/// and that token works for that environment only. [`EmbeddedServer::environment_id`] is a
/// convenient one.
#[derive(Debug)]
pub struct EmbeddedServer {
    running: RunningServer,
    client: ClientCredentials,
    environment_id: String,
}

impl EmbeddedServer {
    /// Starts a server on `127.0.0.1:0` with an in-memory store and a random client.
    pub async fn start() -> Result<Self, ServerError> {
        let mut id = [0u8; 8];
        let mut secret = [0u8; 24];
        OsRng.fill_bytes(&mut id);
        OsRng.fill_bytes(&mut secret);
        let client =
            ClientCredentials::new(format!("embedded-{}", hex::encode(id)), hex::encode(secret));
        let mut config = ServerConfig::in_memory();
        config.client_any_environment = true;
        config.clients.push(client.clone());
        let running = Server::bind(config).await?;
        Ok(Self {
            running,
            client,
            environment_id: "embedded-environment".to_owned(),
        })
    }

    /// `http://127.0.0.1:<port>`: the endpoint, token endpoint host and countries host.
    pub fn url(&self) -> String {
        self.running.url()
    }

    /// The registered client's id.
    pub fn client_id(&self) -> &str {
        &self.client.client_id
    }

    /// The registered client's secret.
    pub fn client_secret(&self) -> &str {
        &self.client.client_secret
    }

    /// An environment id to use (any other works too).
    pub fn environment_id(&self) -> &str {
        &self.environment_id
    }

    /// The running server.
    pub fn running(&self) -> &RunningServer {
        &self.running
    }

    /// Stops the server gracefully; its data is gone.
    pub async fn shutdown(self) -> Result<(), ServerError> {
        self.running.shutdown().await
    }
}
