//! The HTTP transport of the InCountry SDK.
//!
//! - [`Transport`]: the seam, one async `send` of an [`http::Request`] with a [`Body`];
//! - [`HyperTransport`]: the default, a pooled hyper client over rustls (ring) speaking
//!   HTTP/1.1 and HTTP/2, with connect and request timeouts;
//! - [`RetryingTransport`]: backoff with jitter on `429 Too Many Requests` ([`RetryConfig`]);
//! - [`Body`]: bytes in memory or a stream, so large attachments are never held whole;
//! - [`error_for_status`], [`read_json`]: responses to typed [`TransportError`]s;
//! - [`headers`]: the `User-Agent` and the rules for custom headers;
//! - [`routing`]: the host, token audience and auth region of a country, and record URLs.
//!
//! ```no_run
//! use std::time::Duration;
//! use incountry_transport::{
//!     Body, HyperTransport, RequestInfo, RetryConfig, RetryingTransport, Transport,
//!     error_for_status, read_json, DEFAULT_BODY_LIMIT,
//! };
//!
//! # async fn run() -> Result<(), incountry_transport::TransportError> {
//! let transport = RetryingTransport::new(
//!     HyperTransport::builder().request_timeout(Duration::from_secs(10)).build()?,
//!     RetryConfig::default(),
//! );
//! let request = http::Request::get("https://portal-backend.incountry.com/countries")
//!     .body(Body::empty())
//!     .expect("a valid request");
//! let info = RequestInfo::of(&request);
//! let response = error_for_status(&info, transport.send(request).await?).await?;
//! let countries: serde_json::Value = read_json(&info, response, DEFAULT_BODY_LIMIT).await?;
//! println!("{countries}");
//! # Ok(())
//! # }
//! ```

mod body;
mod clock;
mod error;
pub mod headers;
mod hyper_transport;
mod response;
mod retry;
pub mod routing;
mod transport;

pub use body::{Body, BodyError, CollectError};
pub use clock::{Clock, ManualClock, SystemClock};
pub use error::{NetworkErrorKind, TransportError};
pub use headers::{HeaderError, USER_AGENT};
pub use hyper_transport::{
    DEFAULT_TIMEOUT, HyperTransport, HyperTransportBuilder, RootCertificates,
};
pub use response::{
    BODY_EXCERPT_LIMIT, DEFAULT_BODY_LIMIT, body_excerpt, error_for_status, parse_json, read_bytes,
    read_json, status_error,
};
pub use retry::{
    DefaultRandom, RandomSource, RetryConfig, RetryConfigBuilder, RetryingTransport, Sleeper,
    TokioSleeper,
};
pub use transport::{RequestInfo, Transport};

/// Re-exported so callers can build root stores and certificates for
/// [`RootCertificates::Custom`] without depending on rustls themselves.
pub use rustls::{RootCertStore, pki_types::CertificateDer};
