//! Attachments: upload a file to a record, download it, and compare hashes.
//!
//! ```sh
//! cargo run --example attachments
//! ```

use std::error::Error;

use incountry_storage::{AttachmentSource, Record, SecretsData};
use sha2::{Digest, Sha256};

mod common;

#[tokio::main]
async fn main() -> Result<(), Box<dyn Error>> {
    let (server, builder) = common::embedded().await?;
    let storage = builder
        .secrets(SecretsData::from_password("correct horse battery staple")?)
        .build()
        .await?;
    storage.write("fr", Record::new("contract-7")).await?;

    // A 1 MiB file on disk; uploads from a path are streamed, never held whole in memory.
    let dir = tempfile::tempdir()?;
    let upload = dir.path().join("scan.pdf");
    let content: Vec<u8> = (0..1024 * 1024u32).map(|i| (i * 31 % 251) as u8).collect();
    std::fs::write(&upload, &content)?;
    let sent = hex::encode(Sha256::digest(&content));

    let meta = storage
        .add_attachment("fr", "contract-7", AttachmentSource::from_path(&upload))
        .mime_type("application/pdf")
        .await?;
    println!(
        "uploaded {} ({} bytes, {}), server hash {}",
        meta.filename, meta.size, meta.mime_type, meta.hash
    );

    let download = dir.path().join("downloaded.pdf");
    let file = storage
        .get_attachment_file("fr", "contract-7", &meta.file_id)
        .await?;
    let name = file.filename().unwrap_or("file").to_owned();
    let written = file.write_to(&download).await?;
    let received = hex::encode(Sha256::digest(std::fs::read(&download)?));
    println!("downloaded {name} ({written} bytes)");
    println!(
        "sha-256 sent {sent}\nsha-256 back {received}\n{}",
        if sent == received && sent == meta.hash {
            "identical"
        } else {
            "DIFFERENT"
        }
    );
    if sent != received {
        return Err("the downloaded file differs from the upload".into());
    }
    server.shutdown().await?;
    Ok(())
}
