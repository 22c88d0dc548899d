//! Raw AES keys from a key-management service, fetched asynchronously on each call.
//!
//! ```sh
//! cargo run --example kms_keys
//! ```
//!
//! `isKey` secrets are used as AES-256 keys directly, so no PBKDF2 runs: the fastest setup when
//! keys come from a KMS or HSM. The accessor is an async closure; the SDK asks it on every call
//! and rebuilds its crypto only when the answer changes.

use std::error::Error;
use std::sync::Arc;

use incountry_storage::{Record, Secret, SecretsData};

mod common;

/// Stands in for a KMS client: an async call that returns the key versions of a data key.
struct Kms {
    keys: Vec<(u32, [u8; 32])>,
}

impl Kms {
    async fn data_keys(&self) -> Result<SecretsData, Box<dyn Error + Send + Sync>> {
        tokio::task::yield_now().await; // a network round trip in real life
        let current = self.keys.iter().map(|(v, _)| *v).max().ok_or("no keys")?;
        let secrets = self.keys.iter().map(|(v, k)| Secret::key(*v, *k)).collect();
        Ok(SecretsData::new(current, secrets)?)
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn Error>> {
    let kms = Arc::new(Kms {
        keys: vec![(1, [7u8; 32]), (2, [42u8; 32])],
    });
    let accessor = move || {
        let kms = Arc::clone(&kms);
        async move { kms.data_keys().await }
    };
    let (server, builder) = common::embedded().await?;
    let storage = builder.secrets(accessor).build().await?;
    storage
        .write("au", Record::new("member-9").with_body("key from the KMS"))
        .await?;
    let read = storage.read("au", "member-9").await?;
    println!(
        "member-9 encrypted with KMS key version {}: {:?}",
        read.version().unwrap_or_default(),
        read.body().unwrap_or_default()
    );
    server.shutdown().await?;
    Ok(())
}
