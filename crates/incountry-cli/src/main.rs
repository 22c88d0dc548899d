//! `incountry`: the command line of incountry-rs.
//!
//! Offline commands that need no server live under `incountry crypto` (encrypt, decrypt, hash
//! and decrypt exported records); `incountry serve` runs a PoP-compatible server. Exit codes: 0 success, 1 some input lines failed (each one
//! reported on stderr with its line number), 2 usage or configuration errors.

use std::io::{self, Write as _};
use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod crypto_cmd;
mod serve_cmd;

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
    Serve(serve_cmd::ServeArgs),
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
        Command::Serve(args) => {
            init_logging();
            serve_cmd::run(args)
        }
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
fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(io::stderr)
        .try_init();
}
