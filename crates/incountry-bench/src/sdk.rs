//! `incountry-bench seed` and `incountry-bench sdk`: the SDK workloads through our SDK.
//!
//! `xtask/bench/official_sdk_bench.py` runs the same workloads, with the same flags, through
//! the official Python SDK and prints the same JSON shape, so `cargo xtask bench` can put them
//! side by side. Every record is encrypted with the password of `--password` (secret version
//! 1); migration re-encrypts with `<password>-v2` (version 2).

use std::sync::Arc;
use std::time::Instant;

use clap::Args;
use incountry_storage::{
    FindFilter, Record, SearchKey, Secret, SecretsData, Storage, StorageError,
};
use serde_json::json;

use crate::BoxError;

/// Records per batch write and per find (the API's maximum batch).
const PAGE: usize = 100;
/// Migration rounds before giving up (each migrates up to a page).
const MAX_MIGRATE_ROUNDS: usize = 200;

/// How to reach the server.
#[derive(Debug, Clone, Args)]
pub(crate) struct Connection {
    /// The PoP endpoint, e.g. `http://127.0.0.1:8080`.
    #[arg(long)]
    endpoint: String,
    /// The token endpoint; default `<endpoint>/oauth2/token`.
    #[arg(long)]
    auth_endpoint: Option<String>,
    /// The environment id.
    #[arg(long)]
    env_id: String,
    /// The OAuth2 client id.
    #[arg(long)]
    client_id: String,
    /// The OAuth2 client secret.
    #[arg(long)]
    client_secret: String,
    /// The country of the workloads (migration uses its own, `--migrate-country`).
    #[arg(long, default_value = "us")]
    pub(crate) country: String,
    /// The password of secret version 1 (shared by both SDKs, so each reads the other's
    /// records).
    #[arg(long)]
    pub(crate) password: String,
}

/// Options of `incountry-bench seed`.
#[derive(Debug, Args)]
pub(crate) struct SeedArgs {
    #[command(flatten)]
    connection: Connection,
    /// Write `--find-count` records whose `key1` is this tag (the finds' target).
    #[arg(long)]
    find_tag: Option<String>,
    /// How many records carry the find tag.
    #[arg(long, default_value_t = 100)]
    find_count: usize,
    /// Countries in which to write `--migrate-count` version-1 records (comma-separated; one
    /// per SDK, as a migration re-encrypts every record of its country).
    #[arg(long, value_delimiter = ',')]
    migrate_country: Vec<String>,
    /// How many records each migrate country gets.
    #[arg(long, default_value_t = 1000)]
    migrate_count: usize,
}

/// Options of `incountry-bench sdk`.
#[derive(Debug, Args)]
pub(crate) struct SdkArgs {
    #[command(flatten)]
    connection: Connection,
    /// A prefix for the record keys this run writes (unique per run).
    #[arg(long, default_value = "rs")]
    run_id: String,
    /// Sequential single writes (and then reads of the same records).
    #[arg(long, default_value_t = 100)]
    writes: usize,
    /// How many times the batch write and each find are repeated (the median counts).
    #[arg(long, default_value_t = 3)]
    repeats: usize,
    /// The `key1` tag of the 100 records this SDK seeded.
    #[arg(long)]
    own_tag: String,
    /// The `key1` tag of the 100 records the other SDK seeded.
    #[arg(long)]
    foreign_tag: Option<String>,
    /// The country seeded with version-1 records to migrate to version 2.
    #[arg(long)]
    migrate_country: Option<String>,
    /// Concurrent readers.
    #[arg(long, default_value_t = 8)]
    readers: usize,
    /// Reads per concurrent reader.
    #[arg(long, default_value_t = 25)]
    reads_per_reader: usize,
}

pub(crate) fn secrets_v1(password: &str) -> Result<SecretsData, BoxError> {
    Ok(SecretsData::new(1, vec![Secret::password(1, password)])?)
}

fn secrets_v2(password: &str) -> Result<SecretsData, BoxError> {
    Ok(SecretsData::new(
        2,
        vec![
            Secret::password(1, password),
            Secret::password(2, format!("{password}-v2")),
        ],
    )?)
}

pub(crate) async fn storage(
    connection: &Connection,
    secrets: SecretsData,
) -> Result<Storage, BoxError> {
    let auth = connection
        .auth_endpoint
        .clone()
        .unwrap_or_else(|| format!("{}/oauth2/token", connection.endpoint.trim_end_matches('/')));
    let storage = Storage::builder()
        .endpoint(connection.endpoint.as_str())
        .auth_endpoints([("default", auth)])
        .environment_id(connection.env_id.as_str())
        .client_credentials(
            connection.client_id.as_str(),
            connection.client_secret.as_str(),
        )
        .secrets(secrets)
        .build()
        .await?;
    // Fetch the token (a read of a missing record) so that no workload pays for it.
    storage
        .read(connection.country.as_str(), "bench-warm-up-missing")
        .optional()
        .await?;
    Ok(storage)
}

/// A record body of about 200 bytes.
fn body(i: usize) -> String {
    format!(
        "{{\"name\":\"Jane Doe {i}\",\"email\":\"jane.doe.{i}@example.com\",\
         \"address\":\"1 Example Street, Springfield\",\"notes\":\"{}\"}}",
        "x".repeat(80)
    )
}

fn records(prefix: &str, key1: &str, range: std::ops::Range<usize>) -> Vec<Record> {
    range
        .map(|i| {
            Record::new(format!("{prefix}-{i}"))
                .with_body(body(i))
                .with_key(SearchKey::Key1, key1)
        })
        .collect()
}

async fn batch_write_all(
    storage: &Storage,
    country: &str,
    records: Vec<Record>,
) -> Result<(), StorageError> {
    let mut records = records.into_iter().peekable();
    while records.peek().is_some() {
        let batch: Vec<Record> = records.by_ref().take(PAGE).collect();
        storage.batch_write(country, batch).await?;
    }
    Ok(())
}

/// Writes the find set and the records to migrate.
pub(crate) async fn seed(args: SeedArgs) -> Result<(), BoxError> {
    let c = &args.connection;
    let storage = storage(c, secrets_v1(&c.password)?).await?;
    let started = Instant::now();
    if let Some(tag) = &args.find_tag {
        batch_write_all(
            &storage,
            &c.country,
            records(&format!("find-{tag}"), tag, 0..args.find_count),
        )
        .await?;
    }
    for country in &args.migrate_country {
        let key1 = format!("migrate-{country}");
        batch_write_all(
            &storage,
            country,
            records(&key1, &key1, 0..args.migrate_count),
        )
        .await?;
    }
    println!(
        "{}",
        json!({"sdk": "incountry-rs", "seeded_s": started.elapsed().as_secs_f64()})
    );
    Ok(())
}

fn median(mut samples: Vec<f64>) -> f64 {
    samples.sort_by(f64::total_cmp);
    match samples.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => samples[n / 2],
        n => (samples[n / 2 - 1] + samples[n / 2]) / 2.0,
    }
}

/// Finds the records tagged `tag` `repeats` times, each time with a fresh `Storage` (an
/// empty derived-key cache); the seconds of each find.
async fn find_tagged(c: &Connection, tag: &str, repeats: usize) -> Result<Vec<f64>, BoxError> {
    let mut samples = Vec::with_capacity(repeats);
    for _ in 0..repeats {
        let storage = storage(c, secrets_v1(&c.password)?).await?;
        let started = Instant::now();
        let found = storage
            .find(
                c.country.as_str(),
                FindFilter::new()
                    .eq(SearchKey::Key1, tag)
                    .limit(PAGE as u32),
            )
            .await?;
        samples.push(started.elapsed().as_secs_f64());
        if found.records.len() != PAGE || !found.errors.is_empty() {
            return Err(format!(
                "find of key1 {tag:?}: {} records decrypted, {} errors (expected {PAGE})",
                found.records.len(),
                found.errors.len()
            )
            .into());
        }
    }
    Ok(samples)
}

/// Runs every workload and prints the results as one JSON object. Every workload starts with
/// a fresh `Storage` (an empty derived-key cache) whose token was fetched beforehand.
pub(crate) async fn run(args: SdkArgs) -> Result<(), BoxError> {
    if args.writes == 0 || args.repeats == 0 {
        return Err("--writes and --repeats must be at least 1".into());
    }
    let c = &args.connection;
    let country = c.country.as_str();
    let fresh = || async { storage(c, secrets_v1(&c.password)?).await };
    let storage = fresh().await?;
    let run = &args.run_id;
    let total = Instant::now();

    // Sequential single writes, then reads of the same records.
    let written = records(
        &format!("{run}-single"),
        &format!("{run}-single"),
        0..args.writes,
    );
    let keys: Vec<String> = written.iter().map(|r| r.record_key().to_owned()).collect();
    let started = Instant::now();
    for record in written {
        storage.write(country, record).await?;
    }
    let single_write = args.writes as f64 / started.elapsed().as_secs_f64();
    let storage = fresh().await?;
    let started = Instant::now();
    for key in &keys {
        storage.read(country, key.as_str()).await?;
    }
    let single_read = keys.len() as f64 / started.elapsed().as_secs_f64();

    // Batch writes of 100 new records.
    let mut batch_samples = Vec::with_capacity(args.repeats);
    for repeat in 0..args.repeats {
        let batch = records(
            &format!("{run}-batch{repeat}"),
            &format!("{run}-batch"),
            0..PAGE,
        );
        let storage = fresh().await?;
        let started = Instant::now();
        storage.batch_write(country, batch).await?;
        batch_samples.push(started.elapsed().as_secs_f64());
    }

    // Finds of 100 records: those this SDK seeded, then those the other one did.
    let find_own = find_tagged(c, &args.own_tag, args.repeats).await?;
    let find_foreign = match &args.foreign_tag {
        Some(tag) => Some(find_tagged(c, tag, args.repeats).await?),
        None => None,
    };

    // Concurrent readers sharing one Storage, over the records written above.
    let keys = Arc::new(keys);
    let storage = fresh().await?;
    let started = Instant::now();
    let mut readers = Vec::with_capacity(args.readers);
    for reader in 0..args.readers {
        let (storage, keys, country) = (storage.clone(), keys.clone(), country.to_owned());
        let reads = args.reads_per_reader;
        readers.push(tokio::spawn(async move {
            for n in 0..reads {
                let key = &keys[(reader * reads + n) % keys.len().max(1)];
                storage.read(country.as_str(), key.as_str()).await?;
            }
            Ok::<(), StorageError>(())
        }));
    }
    for reader in readers {
        reader.await??;
    }
    let concurrent_reads =
        (args.readers * args.reads_per_reader) as f64 / started.elapsed().as_secs_f64();

    // Migration of the seeded version-1 records to version 2.
    let mut migrate = None;
    if let Some(migrate_country) = &args.migrate_country {
        let v2 = storage_v2(c).await?;
        let started = Instant::now();
        let mut migrated = 0;
        let mut rounds = 0;
        loop {
            rounds += 1;
            let result = v2.migrate(migrate_country.as_str(), PAGE as u32).await?;
            migrated += result.migrated;
            if !result.errors.is_empty() {
                return Err(format!(
                    "migrate: {} records could not be decrypted",
                    result.errors.len()
                )
                .into());
            }
            if result.total_left == 0 {
                break;
            }
            if rounds >= MAX_MIGRATE_ROUNDS || result.migrated == 0 {
                return Err(format!(
                    "migrate: {} records left after {rounds} rounds",
                    result.total_left
                )
                .into());
            }
        }
        migrate = Some((started.elapsed().as_secs_f64(), migrated));
    }

    let result = json!({
        "sdk": "incountry-rs",
        "sdk_version": env!("CARGO_PKG_VERSION"),
        "single_write_ops_per_s": single_write,
        "single_read_ops_per_s": single_read,
        "batch_write_100_s": median(batch_samples.clone()),
        "find_own_100_s": median(find_own.clone()),
        "find_foreign_100_s": find_foreign.clone().map(median),
        "migrate_s": migrate.map(|(s, _)| s),
        "migrated_records": migrate.map(|(_, n)| n),
        "concurrent_read_ops_per_s": concurrent_reads,
        "readers": args.readers,
        "reads_per_reader": args.reads_per_reader,
        "writes": args.writes,
        "repeats": args.repeats,
        "total_s": total.elapsed().as_secs_f64(),
        "samples": {
            "batch_write_100_s": batch_samples,
            "find_own_100_s": find_own,
            "find_foreign_100_s": find_foreign,
        },
    });
    println!("{result}");
    Ok(())
}

/// A Storage whose current secret is version 2, keeping version 1 to decrypt.
async fn storage_v2(connection: &Connection) -> Result<Storage, BoxError> {
    storage(connection, secrets_v2(&connection.password)?).await
}
