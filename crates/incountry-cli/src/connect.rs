//! How the online commands reach a server: flags (or their `INC_*` variables) turned into a
//! [`Storage`], plus the error reporting and JSON output they share.

use std::error::Error as _;
use std::future::Future;
use std::io::{self, Write as _};
use std::path::PathBuf;
use std::time::Duration;

use clap::Args;
use incountry_storage::{SecretsData, Storage, StorageError};
use serde_json::Value;

use crate::Outcome;

/// Where the server is and how to authenticate; each flag has an `INC_*` variable.
#[derive(Debug, Args)]
pub(crate) struct ConnectArgs {
    /// The server's base URL, e.g. `http://127.0.0.1:8080` (default: the country's InCountry
    /// point of presence).
    #[arg(long, env = "INC_ENDPOINT", value_name = "URL", global = true)]
    endpoint: Option<String>,
    /// The environment id.
    #[arg(long, env = "INC_ENVIRONMENT_ID", value_name = "ID", global = true)]
    environment_id: Option<String>,
    /// The OAuth client id.
    #[arg(long, env = "INC_CLIENT_ID", value_name = "ID", global = true)]
    client_id: Option<String>,
    /// The OAuth client secret.
    #[arg(
        long,
        env = "INC_CLIENT_SECRET",
        value_name = "SECRET",
        hide_env_values = true,
        global = true
    )]
    client_secret: Option<String>,
    /// The OAuth token endpoint (e.g. `http://127.0.0.1:8080/oauth2/token` for
    /// `incountry serve`); default: InCountry's.
    #[arg(long, env = "INC_AUTH_ENDPOINT", value_name = "URL", global = true)]
    auth_endpoint: Option<String>,
    /// A static bearer token to use instead of client credentials.
    #[arg(
        long,
        env = "INC_TOKEN",
        value_name = "TOKEN",
        hide_env_values = true,
        global = true
    )]
    token: Option<String>,
    /// The countries endpoint used to route countries to their points of presence.
    #[arg(
        long,
        env = "INC_COUNTRIES_ENDPOINT",
        value_name = "URL",
        global = true
    )]
    countries_endpoint: Option<String>,
    /// The endpoint mask, e.g. `-mt-01.api.incountry.io`.
    #[arg(long, env = "INC_ENDPOINT_MASK", value_name = "MASK", global = true)]
    endpoint_mask: Option<String>,
    /// A file holding the secrets JSON (`{"currentVersion": N, "secrets": [...]}`) or a JSON
    /// string (one password, version 0).
    #[arg(
        long = "secrets",
        env = "INC_SECRETS_FILE",
        value_name = "FILE",
        global = true
    )]
    secrets: Option<PathBuf>,
    /// Store and read bodies in plain text (no secrets needed; keys are still hashed).
    #[arg(long, global = true)]
    no_encryption: bool,
    /// The timeout of each HTTP request, in seconds (1 to 86400).
    #[arg(
        long,
        value_name = "SECONDS",
        default_value_t = 30,
        global = true,
        value_parser = timeout_seconds
    )]
    timeout: u64,
}

/// The longest `--timeout`: a day.
const MAX_TIMEOUT_SECONDS: u64 = 86_400;

/// Parses `--timeout`: whole seconds from 1 to [`MAX_TIMEOUT_SECONDS`] (0 would fail every
/// request at once).
fn timeout_seconds(text: &str) -> Result<u64, String> {
    let seconds: u64 = text
        .trim()
        .parse()
        .map_err(|_| format!("{text:?} is not a whole number of seconds"))?;
    if (1..=MAX_TIMEOUT_SECONDS).contains(&seconds) {
        Ok(seconds)
    } else {
        Err(format!(
            "must be 1 to {MAX_TIMEOUT_SECONDS} seconds (got {seconds})"
        ))
    }
}

impl ConnectArgs {
    /// Builds the storage; nothing is sent over the network yet.
    pub(crate) async fn storage(&self) -> Result<Storage, CommandError> {
        let mut builder = Storage::builder()
            // Every setting comes from the flags, which clap already filled from INC_*.
            .env_vars(std::iter::empty::<(String, String)>())
            .timeout(Duration::from_secs(self.timeout));
        if let Some(endpoint) = &self.endpoint {
            builder = builder.endpoint(endpoint);
        }
        if let Some(id) = &self.environment_id {
            builder = builder.environment_id(id);
        }
        if let Some(token) = &self.token {
            builder = builder.oauth_token(token);
        } else if let (Some(id), Some(secret)) = (&self.client_id, &self.client_secret) {
            builder = builder.client_credentials(id, secret);
        } else if self.client_id.is_some() || self.client_secret.is_some() {
            return Err(CommandError::Usage(
                "give both --client-id and --client-secret (or INC_CLIENT_ID and \
                 INC_CLIENT_SECRET), or a --token"
                    .into(),
            ));
        }
        if let Some(url) = &self.auth_endpoint {
            builder = builder.auth_endpoints([("default", url.as_str())]);
        }
        if let Some(url) = &self.countries_endpoint {
            builder = builder.countries_endpoint(url);
        }
        if let Some(mask) = &self.endpoint_mask {
            builder = builder.endpoint_mask(mask);
        }
        builder = match (&self.secrets, self.no_encryption) {
            (_, true) => builder.encrypt(false),
            (Some(path), false) => builder.secrets(load_secrets(path)?),
            (None, false) => {
                return Err(CommandError::Usage(
                    "records are encrypted with your secrets: give --secrets FILE (or \
                     INC_SECRETS_FILE), or --no-encryption"
                        .into(),
                ));
            }
        };
        Ok(builder.build().await?)
    }
}

/// Reads a secrets file: the official secrets JSON object, or a JSON string (a password).
pub(crate) fn load_secrets(path: &std::path::Path) -> Result<SecretsData, CommandError> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        CommandError::Usage(format!("cannot read secrets file {}: {e}", path.display()))
    })?;
    SecretsData::from_json(text.trim())
        .map_err(|e| CommandError::Usage(format!("secrets file {}: {e}", path.display())))
}

/// Why an online command failed.
#[derive(Debug)]
pub(crate) enum CommandError {
    /// Bad arguments or input (exit code 2).
    Usage(String),
    /// The SDK call failed; client errors exit with 2, the others with 1.
    Storage(Box<StorageError>),
    /// Anything else that stopped the command after it started (exit code 1).
    Failed(String),
}

impl From<StorageError> for CommandError {
    fn from(error: StorageError) -> Self {
        Self::Storage(Box::new(error))
    }
}

impl CommandError {
    /// Prints the error and its causes to stderr and maps it onto an exit code.
    pub(crate) fn report(&self, command: &str) -> Outcome {
        let mut stderr = io::stderr().lock();
        match self {
            Self::Usage(message) => {
                let _ = writeln!(stderr, "incountry {command}: {message}");
                Outcome::Usage
            }
            Self::Failed(message) => {
                let _ = writeln!(stderr, "incountry {command}: {message}");
                Outcome::Failed
            }
            Self::Storage(error) => {
                let mut said = error.to_string();
                let _ = write!(stderr, "incountry {command}: {said}");
                let mut source = error.source();
                while let Some(cause) = source {
                    // Errors that show their source in their own message: say it once.
                    let text = cause.to_string();
                    if !said.contains(&text) {
                        let _ = write!(stderr, ": {text}");
                    }
                    said = text;
                    source = cause.source();
                }
                let _ = writeln!(stderr);
                if error.is_client() {
                    Outcome::Usage
                } else {
                    Outcome::Failed
                }
            }
        }
    }
}

/// Runs an online command on a multi-threaded runtime (decryption uses every core) and
/// reports its error, if any.
pub(crate) fn run_async<F>(command: &str, future: F) -> Outcome
where
    F: Future<Output = Result<Outcome, CommandError>>,
{
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("incountry {command}: cannot start the async runtime: {e}");
            return Outcome::Failed;
        }
    };
    match runtime.block_on(future) {
        Ok(outcome) => outcome,
        Err(error) => error.report(command),
    }
}

/// Prints one JSON value on its own line to stdout.
pub(crate) fn print_json(value: &Value) -> Result<(), CommandError> {
    let mut stdout = io::stdout().lock();
    writeln!(stdout, "{value}")
        .and_then(|()| stdout.flush())
        .map_err(|e| CommandError::Failed(format!("cannot write to stdout: {e}")))
}

/// Reads an argument that is either inline text or `-` for stdin.
pub(crate) fn inline_or_stdin(argument: &str) -> Result<String, CommandError> {
    if argument != "-" {
        return Ok(argument.to_owned());
    }
    io::read_to_string(io::stdin())
        .map_err(|e| CommandError::Usage(format!("cannot read stdin: {e}")))
}

/// Parses JSON given on the command line, naming what it was for in the error.
pub(crate) fn parse_json(what: &str, text: &str) -> Result<Value, CommandError> {
    incountry_model::parse_json_strict(text.as_bytes())
        .map_err(|e| CommandError::Usage(format!("{what} is not valid JSON: {e}")))
}
