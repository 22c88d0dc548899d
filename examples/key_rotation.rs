//! Key rotation: records written under secret version 1 are re-encrypted under version 2 with
//! `migrate`, in batches, until none is left.
//!
//! ```sh
//! cargo run --example key_rotation
//! ```

use std::error::Error;
use std::sync::{Arc, Mutex};

use incountry_storage::{Record, Secret, SecretsData};

mod common;

const COUNTRY: &str = "ch";

#[tokio::main]
async fn main() -> Result<(), Box<dyn Error>> {
    // The secrets live in a vault; here a shared value the accessor reads on every call.
    let vault = Arc::new(Mutex::new(SecretsData::new(
        1,
        vec![Secret::password(1, "the first password")],
    )?));
    let accessor = {
        let vault = Arc::clone(&vault);
        move || {
            let current = vault
                .lock()
                .map(|secrets| secrets.clone())
                .map_err(|_| "the vault lock is poisoned");
            async move { current }
        }
    };
    let (server, builder) = common::embedded().await?;
    let storage = builder.secrets(accessor).build().await?;

    let records: Vec<Record> = (1..=7)
        .map(|i| Record::new(format!("patient-{i}")).with_body(format!("record {i}")))
        .collect();
    storage.batch_write(COUNTRY, records).await?;
    println!("wrote 7 records under secret version 1");

    // Rotate: add version 2 and make it current. Version 1 stays for reading old records.
    *vault.lock().map_err(|_| "the vault lock is poisoned")? = SecretsData::new(
        2,
        vec![
            Secret::password(1, "the first password"),
            Secret::key(2, *b"an AES-256 key of 32 bytes......"),
        ],
    )?;
    println!("secret version 2 is now current");

    for round in 1..=10 {
        let result = storage.migrate(COUNTRY, 3).await?;
        println!(
            "migrate round {round}: {} re-encrypted, {} left",
            result.migrated, result.total_left
        );
        if result.total_left == 0 {
            break;
        }
    }
    let record = storage.read(COUNTRY, "patient-1").await?;
    println!(
        "patient-1 is now at version {} and reads {:?}",
        record.version().unwrap_or_default(),
        record.body().unwrap_or_default()
    );
    server.shutdown().await?;
    Ok(())
}
