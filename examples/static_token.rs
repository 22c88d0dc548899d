//! A static OAuth token instead of client credentials, e.g. one obtained by a sidecar.
//!
//! ```sh
//! cargo run --example static_token
//! ```
//!
//! A static token is never refreshed: when it expires, calls fail with an authentication error.

use std::error::Error;

use incountry_server::EmbeddedServer;
use incountry_storage::{Record, SecretsData, Storage};

#[tokio::main]
async fn main() -> Result<(), Box<dyn Error>> {
    let server = EmbeddedServer::start().await?;
    // Here the server issues the token directly; in production it comes from your identity
    // infrastructure for this environment and endpoint.
    let expires = chrono::Utc::now() + chrono::Duration::minutes(5);
    let token =
        server
            .running()
            .server()
            .issue_token(server.environment_id(), &server.url(), expires);

    let storage = Storage::builder()
        .environment_id(server.environment_id())
        .endpoint(server.url())
        .oauth_token(token)
        .secrets(SecretsData::from_password("correct horse battery staple")?)
        .build()
        .await?;
    storage
        .write("nl", Record::new("k-1").with_body("hello"))
        .await?;
    let read = storage.read("nl", "k-1").await?;
    println!(
        "wrote and read k-1 with a static token: {:?}",
        read.body().unwrap_or_default()
    );
    server.shutdown().await?;
    Ok(())
}
