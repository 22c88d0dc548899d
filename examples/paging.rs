//! Paging through a large find: 250 records, read back 100 at a time with `limit` and `offset`.
//!
//! ```sh
//! cargo run --example paging
//! ```

use std::error::Error;

use incountry_storage::{FindFilter, RangeKey, Record, SearchKey, SecretsData, Sort};

mod common;

const COUNTRY: &str = "se";
const TOTAL: i64 = 250;
const PAGE: u32 = 100;

#[tokio::main]
async fn main() -> Result<(), Box<dyn Error>> {
    let (server, builder) = common::embedded().await?;
    // A raw key keeps this example fast: no key derivation per record.
    let secrets = SecretsData::from_json(
        r#"{"currentVersion": 1, "secrets": [{"secret": "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=", "version": 1, "isKey": true}]}"#,
    )?;
    let storage = builder.secrets(secrets).build().await?;

    let records: Vec<Record> = (0..TOTAL)
        .map(|i| {
            Record::new(format!("event-{i:03}"))
                .with_key(SearchKey::Key1, "audit")
                .with_range_key(RangeKey::RangeKey1, i)
        })
        .collect();
    for batch in records.chunks(100) {
        storage.batch_write(COUNTRY, batch.to_vec()).await?;
    }
    println!("wrote {TOTAL} records in batches of 100");

    let mut offset: u64 = 0;
    let mut seen = 0;
    loop {
        let page = storage
            .find(
                COUNTRY,
                FindFilter::new()
                    .eq(SearchKey::Key1, "audit")
                    .sort(Sort::asc(RangeKey::RangeKey1))
                    .limit(PAGE)
                    .offset(offset),
            )
            .await?;
        let first = page.records.first().map(|r| r.record_key().to_owned());
        println!(
            "offset {offset}: {} records (from {}), {} in all",
            page.records.len(),
            first.as_deref().unwrap_or("-"),
            page.meta.total
        );
        seen += page.records.len();
        if page.records.is_empty() || seen as u64 >= page.meta.total {
            break;
        }
        offset += u64::from(PAGE);
    }
    println!("paged through {seen} records");
    server.shutdown().await?;
    Ok(())
}
