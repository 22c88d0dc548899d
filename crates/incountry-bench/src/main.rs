//! `incountry-bench`: the measurements behind `docs/performance.md`.
//!
//! - `seed` and `sdk`: the SDK workloads through `incountry-storage` (the official Python SDK
//!   runs the same ones in `xtask/bench/official_sdk_bench.py`); one JSON object on stdout;
//! - `load`: a server load generator sending raw wire requests (no crypto) over pooled
//!   keep-alive connections, with throughput and p50/p99 latency per concurrency;
//! - `bare`: a bare hyper server answering a small fixed JSON body, the ceiling of `load`;
//! - `fill` and `find-latency`: bulk inserts, then the latency of equality finds;
//! - `soak`: concurrent SDK clients doing mixed operations, then a check of every
//!   acknowledged write (`cargo xtask soak`).
//!
//! `cargo xtask bench` (and `cargo xtask bench --server`) starts the servers and runs these.

mod bare;
mod load;
mod sdk;
mod soak;
mod wire;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// The benchmark commands.
#[derive(Debug, Parser)]
#[command(name = "incountry-bench", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Write the records the SDK workloads read: a find set and records to migrate.
    Seed(sdk::SeedArgs),
    /// Run the SDK workloads through our SDK and print their results as JSON.
    Sdk(sdk::SdkArgs),
    /// Load a server with raw requests at several concurrencies.
    Load(load::LoadArgs),
    /// Serve a fixed small JSON body to every request (the ceiling of `load`).
    Bare(bare::BareArgs),
    /// Insert many records quickly (raw batch writes, several in flight).
    Fill(load::FillArgs),
    /// Measure the latency of equality finds on records inserted by `fill`.
    FindLatency(load::FindLatencyArgs),
    /// Several SDK clients doing mixed operations for a fixed time, then a check that every
    /// acknowledged write reads back.
    Soak(soak::SoakArgs),
}

/// What a command failed with.
pub(crate) type BoxError = Box<dyn std::error::Error + Send + Sync>;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("incountry-bench: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async {
        match cli.command {
            Command::Seed(args) => sdk::seed(args).await,
            Command::Sdk(args) => sdk::run(args).await,
            Command::Load(args) => load::run(args).await,
            Command::Bare(args) => bare::run(args).await,
            Command::Fill(args) => load::fill(args).await,
            Command::FindLatency(args) => load::find_latency(args).await,
            Command::Soak(args) => soak::run(args).await,
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("incountry-bench: {e}");
            ExitCode::FAILURE
        }
    }
}
