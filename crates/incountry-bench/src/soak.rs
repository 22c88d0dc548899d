//! `incountry-bench soak`: several SDK clients doing mixed operations against one server for a
//! fixed time, then a check that every acknowledged write reads back as acknowledged.
//!
//! Each client owns its record keys and remembers, for each, the body of its last
//! acknowledged write (or that it was deleted), so the final check is exact. The only errors
//! allowed are the ones the soak provokes on purpose (a delete of a missing record, a find
//! with an invalid limit); any other error, or any read that differs from what was
//! acknowledged, ends the run with that error and a non-zero exit code.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use clap::Args;
use incountry_storage::{ErrorKind, FindFilter, Record, SearchKey, Storage};
use serde_json::json;

use crate::BoxError;
use crate::sdk::{Connection, secrets_v1, storage};

/// Options of `incountry-bench soak`.
#[derive(Debug, Args)]
pub(crate) struct SoakArgs {
    #[command(flatten)]
    connection: Connection,
    /// Concurrent SDK clients, each with its own `Storage`.
    #[arg(long, default_value_t = 8)]
    clients: usize,
    /// How long the clients run.
    #[arg(long, default_value_t = 60)]
    duration_secs: u64,
    /// How many record keys each client cycles through.
    #[arg(long, default_value_t = 50)]
    keys_per_client: usize,
}

/// What one client did.
#[derive(Debug, Default)]
struct Tally {
    operations: u64,
    provoked_errors: u64,
    /// Record key → the body of its last acknowledged write (`None`: deleted).
    acknowledged: HashMap<String, Option<String>>,
}

/// A small deterministic generator (xorshift64), one per client.
struct Dice(u64);

impl Dice {
    fn roll(&mut self, sides: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % sides
    }
}

pub(crate) async fn run(args: SoakArgs) -> Result<(), BoxError> {
    let started = Instant::now();
    let deadline = started + Duration::from_secs(args.duration_secs);
    let mut tasks = Vec::new();
    for client in 0..args.clients {
        let connection = args.connection.clone();
        let keys = args.keys_per_client.max(1);
        tasks.push(tokio::spawn(async move {
            let storage = storage(&connection, secrets_v1(&connection.password)?).await?;
            let tally = soak_client(&storage, &connection.country, client, keys, deadline).await?;
            verify(&storage, &connection.country, &tally).await?;
            Ok::<Tally, BoxError>(tally)
        }));
    }
    let (mut operations, mut provoked, mut records) = (0u64, 0u64, 0usize);
    for task in tasks {
        let tally = task.await??;
        operations += tally.operations;
        provoked += tally.provoked_errors;
        records += tally.acknowledged.values().filter(|v| v.is_some()).count();
    }
    println!(
        "{}",
        json!({
            "clients": args.clients,
            "seconds": started.elapsed().as_secs_f64(),
            "operations": operations,
            "provoked_errors": provoked,
            "records_verified": records,
        })
    );
    Ok(())
}

async fn soak_client(
    storage: &Storage,
    country: &str,
    client: usize,
    keys: usize,
    deadline: Instant,
) -> Result<Tally, BoxError> {
    let mut tally = Tally::default();
    let mut dice = Dice(0x9E37_79B9_7F4A_7C15 ^ (client as u64 + 1));
    let tag = format!("soak-client-{client}");
    let key = |n: u64| format!("soak-{client}-{n}");
    let mut version = 0u64;
    while Instant::now() < deadline {
        tally.operations += 1;
        version += 1;
        let n = dice.roll(keys as u64);
        match dice.roll(100) {
            // Single writes.
            0..=34 => {
                let body = format!("client {client} key {n} version {version}");
                let record = Record::new(key(n))
                    .with_body(body.as_str())
                    .with_key(SearchKey::Key1, tag.as_str());
                storage
                    .write(country, record)
                    .await
                    .map_err(|e| format!("client {client}: write of {} failed: {e}", key(n)))?;
                tally.acknowledged.insert(key(n), Some(body));
            }
            // Batch writes of up to 10 distinct keys.
            35..=44 => {
                let mut batch: HashMap<String, String> = HashMap::new();
                for _ in 0..10 {
                    let m = dice.roll(keys as u64);
                    batch.insert(key(m), format!("client {client} key {m} batch {version}"));
                }
                let records: Vec<Record> = batch
                    .iter()
                    .map(|(k, body)| {
                        Record::new(k.as_str())
                            .with_body(body.as_str())
                            .with_key(SearchKey::Key1, tag.as_str())
                    })
                    .collect();
                storage
                    .batch_write(country, records)
                    .await
                    .map_err(|e| format!("client {client}: batch write failed: {e}"))?;
                for (k, body) in batch {
                    tally.acknowledged.insert(k, Some(body));
                }
            }
            // Reads: what was acknowledged last, or 404 for deleted and unwritten keys.
            45..=69 => {
                let read = storage
                    .read(country, key(n))
                    .optional()
                    .await
                    .map_err(|e| format!("client {client}: read of {} failed: {e}", key(n)))?;
                let expected = tally.acknowledged.get(&key(n)).cloned().flatten();
                let got = read.and_then(|r| r.body().map(str::to_owned));
                if got != expected {
                    return Err(format!(
                        "client {client}: {} read {got:?}, expected {expected:?}",
                        key(n)
                    )
                    .into());
                }
            }
            // Finds of this client's records.
            70..=84 => {
                let found = storage
                    .find(
                        country,
                        FindFilter::new()
                            .eq(SearchKey::Key1, tag.as_str())
                            .limit(100),
                    )
                    .await
                    .map_err(|e| format!("client {client}: find failed: {e}"))?;
                let live = tally.acknowledged.values().filter(|v| v.is_some()).count();
                if found.meta.total != live as u64 || !found.errors.is_empty() {
                    return Err(format!(
                        "client {client}: find saw {} records ({} undecryptable), expected {live}",
                        found.meta.total,
                        found.errors.len()
                    )
                    .into());
                }
            }
            // Deletes (of written keys; a missing key answers 404, provoked).
            85..=94 => match storage.delete(country, key(n)).await {
                Ok(()) => {
                    tally.acknowledged.insert(key(n), None);
                }
                Err(e) if e.status().map(|s| s.as_u16()) == Some(404) => {
                    if tally.acknowledged.get(&key(n)).is_some_and(Option::is_some) {
                        return Err(format!(
                            "client {client}: delete of live record {} answered 404",
                            key(n)
                        )
                        .into());
                    }
                    tally.provoked_errors += 1;
                }
                Err(e) => return Err(format!("client {client}: delete failed: {e}").into()),
            },
            // Provoked: an invalid find, refused before it is sent.
            _ => match storage.find(country, FindFilter::new().limit(1000)).await {
                Err(e) if e.kind() == ErrorKind::InputValidation => tally.provoked_errors += 1,
                other => {
                    return Err(format!(
                        "client {client}: a find of 1000 was not refused: {other:?}"
                    )
                    .into());
                }
            },
        }
    }
    Ok(tally)
}

/// Every acknowledged write reads back with its body; every delete stays deleted.
async fn verify(storage: &Storage, country: &str, tally: &Tally) -> Result<(), BoxError> {
    for (key, expected) in &tally.acknowledged {
        let read = storage
            .read(country, key.as_str())
            .optional()
            .await
            .map_err(|e| format!("final read of {key} failed: {e}"))?;
        let got = read.and_then(|r| r.body().map(str::to_owned));
        if &got != expected {
            return Err(format!("final read of {key}: {got:?}, acknowledged {expected:?}").into());
        }
    }
    Ok(())
}
