//! Shared set-up of the examples: an embedded server and a `StorageBuilder` pointed at it.

use incountry_server::EmbeddedServer;
use incountry_storage::StorageBuilder;

/// Starts an in-memory server on a free loopback port and returns it (keep it alive) with a
/// builder already configured with its endpoint, token endpoint, environment and client.
pub(crate) async fn embedded()
-> Result<(EmbeddedServer, StorageBuilder), incountry_server::ServerError> {
    let server = EmbeddedServer::start().await?;
    let builder = incountry_storage::Storage::builder()
        .endpoint(server.url())
        .auth_endpoints([("default", format!("{}/oauth2/token", server.url()))])
        .environment_id(server.environment_id())
        .client_credentials(server.client_id(), server.client_secret());
    Ok((server, builder))
}
