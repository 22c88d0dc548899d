//! `incountry serve`: run a PoP-compatible server until SIGINT or SIGTERM.

use std::io::Write as _;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::Args;
use incountry_model::Country;
use incountry_server::{
    ClientCredentials, ConnectionLimits, Countries, Server, ServerConfig, StorageConfig,
};
use rand_core::{OsRng, RngCore};

use crate::Outcome;

/// The smallest token-signing key accepted, in bytes.
const MIN_TOKEN_KEY_BYTES: usize = 32;

/// Options of `incountry serve`; each has an environment variable equivalent.
#[derive(Debug, Args)]
pub(crate) struct ServeArgs {
    /// The address to listen on; port 0 picks a free port.
    #[arg(long, env = "INCOUNTRY_LISTEN", default_value = "127.0.0.1:8080")]
    listen: SocketAddr,
    /// Where SQLite databases and attachments live (one subdirectory per country).
    #[arg(long, env = "INCOUNTRY_DATA_DIR", default_value = "./incountry-data")]
    data_dir: PathBuf,
    /// A PostgreSQL URL (`postgres://user@host:port/db`): records go there, one schema per
    /// country, instead of SQLite files. Attachments stay under the data directory.
    #[arg(long, env = "INCOUNTRY_DATABASE_URL")]
    database_url: Option<String>,
    /// A country to serve (two letters); repeat for several. Default: any country.
    #[arg(
        long = "country",
        env = "INCOUNTRY_COUNTRIES",
        value_delimiter = ',',
        value_name = "CC"
    )]
    countries: Vec<String>,
    /// A client allowed to obtain tokens, as `ID:SECRET@ENV[,ENV...]`: its id, its secret
    /// (at least 16 characters) and the environment ids it may obtain tokens for; repeat for
    /// several clients. `ID:SECRET` alone needs `--client-any-environment`. Without any client,
    /// a development client bound to one generated environment is printed.
    #[arg(
        long = "client",
        env = "INCOUNTRY_CLIENTS",
        value_delimiter = ';',
        value_name = "ID:SECRET@ENV",
        hide_env_values = true
    )]
    clients: Vec<String>,
    /// A file of clients allowed to obtain tokens: one `ID:SECRET@ENV[,ENV...]` per line;
    /// blank lines and lines starting with `#` are ignored. Adds to `--client`.
    #[arg(long, env = "INCOUNTRY_CLIENTS_FILE", value_name = "FILE")]
    clients_file: Option<PathBuf>,
    /// Let clients given without environments obtain tokens for any environment id (each
    /// token still works in its own environment only).
    #[arg(long, env = "INCOUNTRY_CLIENT_ANY_ENVIRONMENT")]
    client_any_environment: bool,
    /// Accept client secrets shorter than 16 characters.
    #[arg(long, env = "INCOUNTRY_ALLOW_WEAK_SECRETS")]
    allow_weak_secrets: bool,
    /// A file whose bytes (at least 32, not one byte repeated) sign tokens, so tokens survive
    /// restarts and can be shared by several server processes. Default: a random key per start.
    #[arg(long, env = "INCOUNTRY_TOKEN_KEY_FILE", value_name = "FILE")]
    token_key: Option<PathBuf>,
    /// How long issued tokens are valid, in seconds.
    #[arg(long, env = "INCOUNTRY_TOKEN_LIFETIME", value_name = "SECONDS", default_value_t = 3600, value_parser = clap::value_parser!(u64).range(1..))]
    token_lifetime: u64,
    /// A URL clients reach this server at (e.g. `https://us.pop.example`); repeat for several.
    /// Tokens must be issued for one of them, and the first is the base of attachment download
    /// links. Without it, audiences are checked against the request's Host header.
    #[arg(
        long = "public-url",
        env = "INCOUNTRY_PUBLIC_URLS",
        value_delimiter = ',',
        value_name = "URL"
    )]
    public_urls: Vec<String>,
    /// Connections served at once; more are answered 503 (lowered to fit the descriptor limit).
    #[arg(long, env = "INCOUNTRY_MAX_CONNECTIONS", default_value_t = 1024, value_parser = clap::value_parser!(u64).range(1..))]
    max_connections: u64,
    /// Seconds a client may take to send a request's headers (on HTTP/1.1 also the longest a
    /// kept-alive connection waits for its next request).
    #[arg(long, env = "INCOUNTRY_HEADER_READ_TIMEOUT", value_name = "SECONDS", default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..))]
    header_read_timeout: u64,
    /// Seconds a connection may stay without a request in flight and without traffic.
    #[arg(long, env = "INCOUNTRY_IDLE_TIMEOUT", value_name = "SECONDS", default_value_t = 60, value_parser = clap::value_parser!(u64).range(1..))]
    idle_timeout: u64,
    /// Seconds a request body may go without delivering a byte (then 408).
    #[arg(long, env = "INCOUNTRY_BODY_READ_TIMEOUT", value_name = "SECONDS", default_value_t = 30, value_parser = clap::value_parser!(u64).range(1..))]
    body_read_timeout: u64,
    /// Seconds a graceful shutdown waits for requests in flight before closing connections.
    #[arg(
        long,
        env = "INCOUNTRY_SHUTDOWN_TIMEOUT",
        value_name = "SECONDS",
        default_value_t = 10
    )]
    shutdown_timeout: u64,
    /// Country databases open at once (SQLite); the least recently used is closed beyond it.
    #[arg(long, env = "INCOUNTRY_MAX_OPEN_COUNTRIES", default_value_t = 64, value_parser = clap::value_parser!(u64).range(1..))]
    max_open_countries: u64,
    /// Keep only the N newest rotated audit files (`audit.log.1` ... `audit.log.N`) and delete
    /// older ones. Default: every rotated file is kept.
    #[arg(long, env = "INCOUNTRY_AUDIT_KEEP", value_name = "N")]
    audit_keep: Option<usize>,
    /// Serve storage requests even while the audit trail cannot be written (their entries are
    /// lost). Default: such requests answer 503 until the trail can be written again.
    #[arg(long, env = "INCOUNTRY_AUDIT_FAIL_OPEN")]
    audit_fail_open: bool,
}

pub(crate) fn run(args: ServeArgs) -> Outcome {
    let config = match config_from(args) {
        Ok(config) => config,
        Err(message) => {
            eprintln!("incountry serve: {message}");
            return Outcome::Usage;
        }
    };
    // Files the server creates are its own: databases, audit trail and attachments are
    // readable by this user only, whatever umask the service was started with.
    rustix::process::umask(rustix::fs::Mode::from_raw_mode(0o077));
    match incountry_server::raise_descriptor_limit() {
        Ok(_) => {}
        Err(e) => eprintln!("incountry serve: warning: cannot raise the descriptor limit: {e}"),
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("incountry serve: cannot start the async runtime: {e}");
            return Outcome::Failed;
        }
    };
    runtime.block_on(serve(config))
}

fn config_from(args: ServeArgs) -> Result<ServerConfig, String> {
    let mut config = ServerConfig::default();
    config.listen = args.listen;
    config.data_dir = args.data_dir;
    if let Some(url) = args.database_url {
        config.storage = StorageConfig::Postgres {
            url,
            schema_prefix: "incountry_".to_owned(),
        };
    }
    if !args.countries.is_empty() {
        let countries = args
            .countries
            .iter()
            .map(|c| Country::new(c).map_err(|e| format!("--country {c:?}: {e}")))
            .collect::<Result<Vec<_>, _>>()?;
        config.countries = Countries::Only(countries);
    }
    for client in &args.clients {
        config.clients.push(parse_client(client).ok_or(
            "--client takes ID:SECRET@ENV[,ENV...] (or ID:SECRET) with every part non-empty",
        )?);
    }
    if let Some(path) = &args.clients_file {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read clients file {}: {e}", path.display()))?;
        for (number, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            // The line holds a secret: its content is never echoed.
            let client = parse_client(line).ok_or_else(|| {
                format!(
                    "clients file {} line {}: expected ID:SECRET@ENV[,ENV...] with every part non-empty",
                    path.display(),
                    number + 1
                )
            })?;
            config.clients.push(client);
        }
    }
    config.client_any_environment = args.client_any_environment;
    config.allow_weak_secrets = args.allow_weak_secrets;
    if config.clients.is_empty() {
        let (client, environment) = development_client();
        // Printed once, on purpose: it is the only way to learn the generated secret.
        println!(
            "development client: id {} secret {} environment {environment}",
            client.client_id, client.client_secret
        );
        config.clients.push(client);
    }
    if let Some(path) = args.token_key {
        let key = std::fs::read(&path)
            .map_err(|e| format!("cannot read token key file {}: {e}", path.display()))?;
        if key.len() < MIN_TOKEN_KEY_BYTES {
            return Err(format!(
                "token key file {} holds {} bytes; at least {MIN_TOKEN_KEY_BYTES} are needed",
                path.display(),
                key.len()
            ));
        }
        if key.iter().all(|b| *b == key[0]) {
            return Err(format!(
                "token key file {} holds one byte repeated; fill it with random bytes (e.g. \
                 head -c 32 /dev/urandom)",
                path.display()
            ));
        }
        warn_if_readable_by_others(&path);
        config.signing_key = Some(key);
    }
    config.token_ttl = Duration::from_secs(args.token_lifetime);
    config.public_urls = args.public_urls;
    let mut connections = ConnectionLimits::default();
    connections.max_connections = usize::try_from(args.max_connections).unwrap_or(usize::MAX);
    connections.header_read_timeout = Duration::from_secs(args.header_read_timeout);
    connections.idle_timeout = Duration::from_secs(args.idle_timeout);
    connections.body_read_timeout = Duration::from_secs(args.body_read_timeout);
    connections.shutdown_timeout = Duration::from_secs(args.shutdown_timeout);
    config.connections = connections;
    config.max_open_countries = usize::try_from(args.max_open_countries).unwrap_or(usize::MAX);
    if let Some(audit) = &mut config.audit {
        audit.keep_files = args.audit_keep;
        audit.fail_open = args.audit_fail_open;
    }
    config.validate().map_err(|e| e.to_string())?;
    Ok(config)
}

/// Warns when a secret file can be read by users other than its owner.
fn warn_if_readable_by_others(path: &std::path::Path) {
    use std::os::unix::fs::PermissionsExt as _;
    if let Ok(metadata) = std::fs::metadata(path) {
        let mode = metadata.permissions().mode();
        if mode & 0o077 != 0 {
            eprintln!(
                "incountry serve: warning: token key file {} can be read by other users \
                 (mode {:o}); chmod 600 it",
                path.display(),
                mode & 0o777
            );
        }
    }
}

/// `ID:SECRET@ENV[,ENV...]` or `ID:SECRET`, every part non-empty. The secret runs from the
/// first `:` to the last `@` (so a secret with `@` in it needs environments after it).
fn parse_client(text: &str) -> Option<ClientCredentials> {
    let (id, rest) = text.split_once(':')?;
    let (secret, environments) = match rest.rsplit_once('@') {
        Some((secret, list)) => {
            let environments: Vec<&str> = list.split(',').map(str::trim).collect();
            if environments.iter().any(|e| e.is_empty()) {
                return None;
            }
            (secret, environments)
        }
        None => (rest, Vec::new()),
    };
    (!id.is_empty() && !secret.is_empty())
        .then(|| ClientCredentials::new(id, secret).for_environments(environments))
}

/// A random client bound to one random environment id.
fn development_client() -> (ClientCredentials, String) {
    let mut id = [0u8; 6];
    let mut secret = [0u8; 24];
    let mut environment = [0u8; 6];
    OsRng.fill_bytes(&mut id);
    OsRng.fill_bytes(&mut secret);
    OsRng.fill_bytes(&mut environment);
    let environment = format!("dev-env-{}", hex::encode(environment));
    let client = ClientCredentials::new(format!("dev-{}", hex::encode(id)), hex::encode(secret))
        .for_environments([environment.clone()]);
    (client, environment)
}

async fn serve(config: ServerConfig) -> Outcome {
    // The handlers are in place before anything is announced: a SIGTERM that follows the
    // `listening on` line at once still stops the server gracefully.
    let stop = match shutdown_signal() {
        Ok(stop) => stop,
        Err(e) => {
            eprintln!("incountry serve: cannot install the signal handlers: {e}");
            return Outcome::Failed;
        }
    };
    let running = match Server::bind(config).await {
        Ok(running) => running,
        Err(e) => {
            eprintln!("incountry serve: {e}");
            return Outcome::Failed;
        }
    };
    println!("listening on {}", running.url());
    let _ = std::io::stdout().flush();
    stop.await;
    eprintln!("incountry serve: shutting down");
    match running.shutdown().await {
        Ok(()) => Outcome::Success,
        Err(e) => {
            eprintln!("incountry serve: {e}");
            Outcome::Failed
        }
    }
}

/// Installs the SIGINT (Ctrl-C) and SIGTERM handlers now; the future resolves on either.
fn shutdown_signal() -> std::io::Result<impl std::future::Future<Output = ()>> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut interrupt = signal(SignalKind::interrupt())?;
    let mut terminate = signal(SignalKind::terminate())?;
    Ok(async move {
        tokio::select! {
            _ = interrupt.recv() => {}
            _ = terminate.recv() => {}
        }
    })
}

#[cfg(test)]
mod client_tests {
    use super::*;

    #[test]
    fn clients_name_their_environments_after_the_last_at_sign() {
        let client = parse_client("ops:p@ss:word@prod,staging").unwrap_or_else(|| panic!("parses"));
        assert_eq!(client.client_id, "ops");
        assert_eq!(client.client_secret, "p@ss:word");
        assert_eq!(client.environments, ["prod", "staging"]);
        let any = parse_client("ops:secret-without-env").unwrap_or_else(|| panic!("parses"));
        assert!(any.environments.is_empty());
        for bad in ["ops", ":s@e", "ops:@e", "ops:s@", "ops:s@e,", "ops:s@,e"] {
            assert!(parse_client(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn the_development_client_is_bound_to_its_one_environment() {
        let (client, environment) = development_client();
        assert_eq!(client.environments, std::slice::from_ref(&environment));
        assert!(environment.starts_with("dev-env-"));
        assert!(client.client_secret.len() >= incountry_server::MIN_CLIENT_SECRET_CHARS);
    }
}

#[cfg(test)]
mod audit_flag_tests {
    use super::*;

    fn config(extra: &[&str]) -> ServerConfig {
        #[derive(clap::Parser)]
        struct Cli {
            #[command(flatten)]
            serve: ServeArgs,
        }
        let mut argv = vec!["serve", "--client", "ops:an-operator-secret@ops-env"];
        argv.extend_from_slice(extra);
        let args = <Cli as clap::Parser>::try_parse_from(argv)
            .map(|cli| cli.serve)
            .unwrap_or_else(|e| panic!("{e}"));
        config_from(args).unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn the_audit_trail_keeps_every_rotated_file_and_fails_closed_by_default() {
        let audit = config(&[]).audit.unwrap_or_else(|| panic!("audit is on"));
        assert_eq!(audit.keep_files, None);
        assert!(!audit.fail_open);
    }

    #[test]
    fn audit_keep_and_audit_fail_open_reach_the_config() {
        let audit = config(&["--audit-keep", "3", "--audit-fail-open"])
            .audit
            .unwrap_or_else(|| panic!("audit is on"));
        assert_eq!(audit.keep_files, Some(3));
        assert!(audit.fail_open);
    }
}
