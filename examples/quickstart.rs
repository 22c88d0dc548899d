//! The main job of the SDK, end to end: write, read, find, batch-write and delete records
//! that are encrypted on the client and stored in a country's point of presence.
//!
//! ```sh
//! cargo run --example quickstart
//! ```
//!
//! With nothing else running it starts an embedded `incountry-server` (in memory) and uses
//! OAuth client credentials against it. To run it against another server instead, set
//! `INC_ENDPOINT`, `INC_ENVIRONMENT_ID`, `INC_CLIENT_ID` and `INC_CLIENT_SECRET` (and
//! `INC_AUTH_ENDPOINT` when the token endpoint is not InCountry's, e.g. for `incountry serve`:
//! `http://127.0.0.1:8080/oauth2/token`).

use std::error::Error;

use incountry_server::EmbeddedServer;
use incountry_storage::{FindFilter, RangeKey, Record, SearchKey, SecretsData, Sort, Storage};

/// The country the records belong to (and are stored in).
const COUNTRY: &str = "de";

#[tokio::main]
async fn main() -> Result<(), Box<dyn Error>> {
    // Keep the embedded server alive for the whole run (when there is one).
    let mut embedded = None;
    let mut builder = Storage::builder()
        // In production the secrets come from a vault or KMS through a `SecretsAccessor`.
        .secrets(SecretsData::from_password("correct horse battery staple")?);
    if std::env::var_os("INC_ENDPOINT").is_some() {
        // Environment id, client id and secret and endpoint come from the INC_* variables.
        if let Ok(auth) = std::env::var("INC_AUTH_ENDPOINT") {
            builder = builder.auth_endpoints([("default", auth)]);
        }
        println!("using the server at {}", std::env::var("INC_ENDPOINT")?);
    } else {
        let server = EmbeddedServer::start().await?;
        println!("started an embedded server at {}", server.url());
        builder = builder
            .endpoint(server.url())
            .auth_endpoints([("default", format!("{}/oauth2/token", server.url()))])
            .environment_id(server.environment_id())
            .client_credentials(server.client_id(), server.client_secret());
        embedded = Some(server);
    }
    let storage = builder.build().await?;

    let jane = Record::new("user-1")
        .with_body(r#"{"name": "Jane Doe", "phone": "+49 30 1234567"}"#)
        .with_profile_key("customer-42")
        .with_key(SearchKey::Key1, "premium")
        .with_range_key(RangeKey::RangeKey1, 1990);
    storage.write(COUNTRY, jane).await?;
    println!("wrote user-1 (body encrypted on this machine, keys hashed)");

    let read = storage.read(COUNTRY, "user-1").await?;
    println!(
        "read user-1 back: body {} (key version {})",
        read.body().unwrap_or("<none>"),
        read.version().unwrap_or_default()
    );

    let batch: Vec<Record> = (2..=5)
        .map(|i| {
            Record::new(format!("user-{i}"))
                .with_body(format!(r#"{{"name": "Customer {i}"}}"#))
                .with_key(
                    SearchKey::Key1,
                    if i % 2 == 0 { "premium" } else { "basic" },
                )
                .with_range_key(RangeKey::RangeKey1, 1980 + i64::from(i))
        })
        .collect();
    let written = storage.batch_write(COUNTRY, batch).await?;
    println!("batch-wrote {} records", written.len());

    let premium = storage
        .find(
            COUNTRY,
            FindFilter::new()
                .eq(SearchKey::Key1, "premium")
                .sort(Sort::desc(RangeKey::RangeKey1)),
        )
        .await?;
    let keys: Vec<&str> = premium.records.iter().map(Record::record_key).collect();
    println!(
        "found {} premium records of {} (newest range_key1 first): {}",
        premium.records.len(),
        premium.meta.total,
        keys.join(", ")
    );

    storage.delete(COUNTRY, "user-1").await?;
    let gone = storage.read(COUNTRY, "user-1").optional().await?;
    println!(
        "deleted user-1; reading it again finds {}",
        if gone.is_none() {
            "nothing"
        } else {
            "it still"
        }
    );

    if let Some(server) = embedded {
        server.shutdown().await?;
    }
    Ok(())
}
