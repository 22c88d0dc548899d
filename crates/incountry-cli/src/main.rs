//! `incountry`: the command line of incountry-rs.
//!
//! Offline commands that need no server live under `incountry crypto` (encrypt, decrypt, hash
//! and decrypt exported records); `incountry serve` runs a PoP-compatible server; `records`,
//! `attachments`, `health` and `migrate` call any server through the SDK, configured by flags
//! or the `INC_*` variables.
//!
//! Exit codes: 0 success; 1 the command failed (a server or network error, a record that
//! cannot be decrypted, or some input lines failed, each one reported on stderr); 2 usage,
//! configuration or input errors.

use std::io::{self, Write as _};
use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod attachments_cmd;
#[cfg(feature = "server")]
mod audit_cmd;
mod connect;
mod crypto_cmd;
mod migrate_cmd;
mod records_cmd;
#[cfg(feature = "server")]
mod serve_cmd;

/// mimalloc instead of the system allocator: `incountry serve` allocates and frees many small
/// buffers per request, and glibc's malloc took about 8 % of the server's CPU time serving
/// reads (docs/performance.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// The incountry command line: data-residency storage tools compatible with InCountry.
#[derive(Debug, Parser)]
#[command(name = "incountry", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Offline encryption, decryption and hashing in the official SDKs' formats.
    #[command(subcommand)]
    Crypto(crypto_cmd::CryptoCommand),
    /// Run a server that speaks the InCountry PoP API (SQLite by default, or PostgreSQL).
    #[cfg(feature = "server")]
    Serve(serve_cmd::ServeArgs),
    /// Write, read, find and delete records on a server.
    Records(records_cmd::RecordsArgs),
    /// Add, download, inspect and delete files attached to records.
    Attachments(attachments_cmd::AttachmentsArgs),
    /// Check that a country's server answers.
    Health(records_cmd::HealthArgs),
    /// Re-encrypt a country's records with the current secret; resumable.
    Migrate(migrate_cmd::MigrateArgs),
    /// Print a country's audit trail (kept by `incountry serve`) as JSON lines, oldest first.
    #[cfg(feature = "server")]
    Audit(audit_cmd::AuditArgs),
}

/// How a run ended, mapped onto the process exit code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// Every line was processed.
    Success,
    /// Some lines failed; the others were processed.
    SomeLinesFailed,
    /// The command could not run: bad arguments or configuration.
    Usage,
    /// The command started but failed (e.g. the server could not bind its address).
    Failed,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let outcome = match cli.command {
        Command::Crypto(command) => crypto_cmd::run(command),
        #[cfg(feature = "server")]
        Command::Serve(args) => {
            init_logging();
            serve_cmd::run(args)
        }
        Command::Records(args) => records_cmd::run(args),
        Command::Attachments(args) => attachments_cmd::run(args),
        Command::Health(args) => records_cmd::run_health(args),
        Command::Migrate(args) => migrate_cmd::run(args),
        #[cfg(feature = "server")]
        Command::Audit(args) => audit_cmd::run(args),
    };
    // Make sure everything written reaches the pipe before exiting.
    let _ = io::stdout().flush();
    match outcome {
        Outcome::Success => ExitCode::SUCCESS,
        Outcome::SomeLinesFailed | Outcome::Failed => ExitCode::from(1),
        Outcome::Usage => ExitCode::from(2),
    }
}

/// Logs to stderr, filtered by `RUST_LOG` (default `info`).
#[cfg(feature = "server")]
fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(io::stderr)
        .try_init();
}

#[cfg(all(test, feature = "server"))]
mod tests {
    use clap::Parser as _;

    use super::Cli;

    /// Every `incountry ...` line of the `sh` blocks in the README and the docs parses with
    /// the command line's definition, so the documented commands exist as written.
    #[test]
    fn documented_commands_parse() {
        let documents = [
            ("README.md", include_str!("../../../README.md")),
            ("docs/server.md", include_str!("../../../docs/server.md")),
        ];
        let mut checked = 0;
        for (name, text) in documents {
            let mut in_sh_block = false;
            for line in text.lines() {
                let trimmed = line.trim();
                if let Some(fence) = trimmed.strip_prefix("```") {
                    in_sh_block = !in_sh_block && matches!(fence, "sh" | "bash" | "console");
                    continue;
                }
                if !in_sh_block || !trimmed.starts_with("incountry ") {
                    continue;
                }
                let words = shlex::split(trimmed)
                    .unwrap_or_else(|| panic!("{name}: unbalanced quotes in `{trimmed}`"));
                let words = words
                    .iter()
                    .take_while(|word| !matches!(word.as_str(), "|" | ">" | "<" | "&&"));
                if let Err(error) = Cli::try_parse_from(words) {
                    panic!("{name}: `{trimmed}` does not parse:\n{error}");
                }
                checked += 1;
            }
        }
        assert!(checked > 0, "no documented command was found");
    }
}
