//! Token providers for the InCountry API.
//!
//! - [`TokenProvider`]: the seam, a bearer [`AccessToken`] for an audience and auth region;
//! - [`OAuthTokenProvider`]: OAuth2 client credentials against the regional token endpoints
//!   ([`AuthEndpoints`]), cached per audience, refreshed before expiry, one request in flight
//!   per audience;
//! - [`StaticTokenProvider`]: a fixed token, never refreshed;
//! - [`send_authorized`]: sends a request with the token and retries once with a new token
//!   after a `401`.
//!
//! ```no_run
//! use std::sync::Arc;
//! use incountry_auth::{OAuthTokenProvider, TokenProvider, send_authorized};
//! use incountry_transport::{Body, HyperTransport, Transport};
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let transport: Arc<dyn Transport> = Arc::new(HyperTransport::new()?);
//! let tokens = OAuthTokenProvider::builder(transport.clone(), "client id", "secret", "env id")
//!     .build()?;
//! let audience = "https://se-mt-01.api.incountry.io";
//! let response = send_authorized(&*transport, &tokens, audience, "emea", || {
//!     http::Request::get("https://se-mt-01.api.incountry.io/healthcheck")
//!         .header("x-env-id", "env id")
//!         .body(Body::empty())
//!         .expect("a valid request")
//! })
//! .await?;
//! println!("{}", response.status());
//! # Ok(())
//! # }
//! ```

mod authorized;
mod endpoints;
mod error;
mod oauth;
mod token;

pub use authorized::send_authorized;
pub use endpoints::{AuthEndpoints, DEFAULT_AUTH_ENDPOINTS, DEFAULT_AUTH_REGION};
pub use error::AuthError;
pub use oauth::{DEFAULT_REFRESH_MARGIN, OAuthTokenProvider, OAuthTokenProviderBuilder};
pub use token::{AccessToken, StaticTokenProvider, TokenProvider};
