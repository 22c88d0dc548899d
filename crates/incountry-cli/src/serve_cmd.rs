//! `incountry serve`: run a PoP-compatible server until SIGINT or SIGTERM.

use std::io::Write as _;
use std::net::SocketAddr;
use std::path::PathBuf;

use clap::Args;
use incountry_model::Country;
use incountry_server::{ClientCredentials, Countries, Server, ServerConfig, StorageConfig};
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
    /// A client allowed to obtain tokens, as `ID:SECRET`; repeat for several. Without any, a
    /// development client is generated and printed.
    #[arg(
        long = "client",
        env = "INCOUNTRY_CLIENTS",
        value_delimiter = ',',
        value_name = "ID:SECRET",
        hide_env_values = true
    )]
    clients: Vec<String>,
    /// A file of clients allowed to obtain tokens: one `ID:SECRET` per line; blank lines and
    /// lines starting with `#` are ignored. Adds to `--client`.
    #[arg(long, env = "INCOUNTRY_CLIENTS_FILE", value_name = "FILE")]
    clients_file: Option<PathBuf>,
    /// A file whose bytes (at least 32) sign tokens, so tokens survive restarts and can be
    /// shared by several server processes. Default: a random key per start.
    #[arg(long, env = "INCOUNTRY_TOKEN_KEY_FILE", value_name = "FILE")]
    token_key: Option<PathBuf>,
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
        config.clients.push(
            parse_client(client).ok_or("--client takes ID:SECRET with both parts non-empty")?,
        );
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
                    "clients file {} line {}: expected ID:SECRET with both parts non-empty",
                    path.display(),
                    number + 1
                )
            })?;
            config.clients.push(client);
        }
    }
    if config.clients.is_empty() {
        let client = development_client();
        // Printed once, on purpose: it is the only way to learn the generated secret.
        println!(
            "development client: id {} secret {} (any environment id)",
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
        config.signing_key = Some(key);
    }
    if let Some(audit) = &mut config.audit {
        audit.keep_files = args.audit_keep;
        audit.fail_open = args.audit_fail_open;
    }
    Ok(config)
}

/// `ID:SECRET` with both parts non-empty.
fn parse_client(text: &str) -> Option<ClientCredentials> {
    let (id, secret) = text.split_once(':')?;
    (!id.is_empty() && !secret.is_empty()).then(|| ClientCredentials::new(id, secret))
}

fn development_client() -> ClientCredentials {
    let mut id = [0u8; 6];
    let mut secret = [0u8; 24];
    OsRng.fill_bytes(&mut id);
    OsRng.fill_bytes(&mut secret);
    ClientCredentials::new(format!("dev-{}", hex::encode(id)), hex::encode(secret))
}

async fn serve(config: ServerConfig) -> Outcome {
    let running = match Server::bind(config).await {
        Ok(running) => running,
        Err(e) => {
            eprintln!("incountry serve: {e}");
            return Outcome::Failed;
        }
    };
    println!("listening on {}", running.url());
    let _ = std::io::stdout().flush();
    shutdown_signal().await;
    eprintln!("incountry serve: shutting down");
    match running.shutdown().await {
        Ok(()) => Outcome::Success,
        Err(e) => {
            eprintln!("incountry serve: {e}");
            Outcome::Failed
        }
    }
}

/// Resolves on SIGINT (Ctrl-C) or, on Unix, SIGTERM.
async fn shutdown_signal() {
    let interrupt = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = interrupt => {}
        () = terminate => {}
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
        let mut argv = vec!["serve", "--client", "ops:an-operator-secret"];
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
