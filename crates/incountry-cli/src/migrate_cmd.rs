//! `incountry migrate`: re-encrypt every record of a country with the current secret.
//!
//! Each step finds a batch of records whose key version is not the current one, decrypts them
//! and writes them back encrypted with the current secret in one batch. The progress lives on
//! the server (each record's version), so a run that is interrupted, even killed, resumes
//! where it stopped when it is started again: a batch is either written or not, and a record
//! written twice is simply re-encrypted twice.

use std::io::IsTerminal as _;
use std::time::{Duration, Instant};

use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::json;

use crate::Outcome;
use crate::connect::{CommandError, ConnectArgs, print_json, run_async};
use crate::records_cmd::CountryArg;

/// Options of `incountry migrate`.
#[derive(Debug, Args)]
pub(crate) struct MigrateArgs {
    #[command(flatten)]
    connect: ConnectArgs,
    #[command(flatten)]
    country: CountryArg,
    /// How many records each step re-encrypts (1 to 100).
    #[arg(long, value_name = "N", default_value_t = 100)]
    batch_size: u32,
    /// Stop after this many steps even if records are left (run again to continue).
    #[arg(long, value_name = "N")]
    max_batches: Option<u64>,
}

pub(crate) fn run(args: MigrateArgs) -> Outcome {
    run_async("migrate", migrate(args))
}

async fn migrate(args: MigrateArgs) -> Result<Outcome, CommandError> {
    if !(1..=100).contains(&args.batch_size) {
        return Err(CommandError::Usage(
            "--batch-size must be between 1 and 100".into(),
        ));
    }
    let storage = args.connect.storage().await?;
    let country = args.country.country;
    let mut progress = Progress::new();
    let mut batches = 0u64;
    let mut undecryptable;
    let interrupted = tokio::signal::ctrl_c();
    tokio::pin!(interrupted);
    let left = loop {
        if args.max_batches.is_some_and(|max| batches >= max) {
            progress.finish();
            print_json(&json!({
                "migrated": progress.done, "left": progress.left, "complete": false,
            }))?;
            eprintln!(
                "incountry migrate: stopped after {batches} step(s) as asked; run the same \
                 command again to continue"
            );
            return Ok(Outcome::Success);
        }
        let step = tokio::select! {
            step = storage.migrate(&country, args.batch_size) => step?,
            _ = &mut interrupted => {
                progress.finish();
                eprintln!(
                    "incountry migrate: interrupted after {} record(s); run the same command \
                     again to resume",
                    progress.done
                );
                return Ok(Outcome::Failed);
            }
        };
        batches += 1;
        undecryptable = step.errors.len();
        progress.step(step.migrated, step.total_left);
        if step.total_left == 0 {
            break 0;
        }
        if step.migrated == 0 {
            // Only records this secret cannot decrypt are left; another step cannot help.
            break step.total_left;
        }
    };
    progress.finish();
    print_json(&json!({
        "migrated": progress.done, "left": left, "complete": left == 0,
    }))?;
    if left > 0 {
        eprintln!(
            "incountry migrate: {left} record(s) are left that the given secrets cannot decrypt \
             ({undecryptable} in the last step); add the secret versions they were written \
             with to the secrets file and run again"
        );
        return Ok(Outcome::Failed);
    }
    Ok(Outcome::Success)
}

/// Reports progress: a bar on a terminal, one line per step otherwise.
struct Progress {
    bar: Option<ProgressBar>,
    started: Instant,
    done: u64,
    left: u64,
}

impl Progress {
    fn new() -> Self {
        let bar = std::io::stderr().is_terminal().then(|| {
            let bar = ProgressBar::new(0);
            if let Ok(style) = ProgressStyle::with_template(
                "{bar:40} {pos}/{len} records migrated, {msg} [{elapsed_precise}]",
            ) {
                bar.set_style(style);
            }
            bar.enable_steady_tick(Duration::from_millis(250));
            bar
        });
        Self {
            bar,
            started: Instant::now(),
            done: 0,
            left: 0,
        }
    }

    fn step(&mut self, migrated: u64, left: u64) {
        self.done += migrated;
        self.left = left;
        let seconds = self.started.elapsed().as_secs_f64().max(1e-3);
        let rate = self.done as f64 / seconds;
        match &self.bar {
            Some(bar) => {
                bar.set_length(self.done + left);
                bar.set_position(self.done);
                bar.set_message(format!("{left} left, {rate:.0} records/s"));
            }
            None => eprintln!(
                "migrated {} record(s), {left} left, {rate:.0} records/s",
                self.done
            ),
        }
    }

    fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish();
        }
    }
}
