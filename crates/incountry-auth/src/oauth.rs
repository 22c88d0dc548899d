//! OAuth2 client credentials: tokens fetched from the token endpoint and cached per audience.

use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use http::{HeaderValue, Method, Request, StatusCode, header};
use incountry_transport::headers::user_agent;
use incountry_transport::{
    Body, Clock, RequestInfo, SystemClock, Transport, TransportError, body_excerpt,
};
use serde::Deserialize;
use zeroize::Zeroizing;

use crate::endpoints::AuthEndpoints;
use crate::error::AuthError;
use crate::token::{AccessToken, TokenProvider};

/// How long before its expiry a cached token is replaced by default: 10 s.
pub const DEFAULT_REFRESH_MARGIN: Duration = Duration::from_secs(10);

/// The largest token response read: 64 KiB.
const TOKEN_RESPONSE_LIMIT: usize = 64 * 1024;

/// Builds an [`OAuthTokenProvider`].
pub struct OAuthTokenProviderBuilder {
    transport: Arc<dyn Transport>,
    client_id: String,
    client_secret: Zeroizing<String>,
    environment_id: String,
    endpoints: AuthEndpoints,
    refresh_margin: Duration,
    clock: Arc<dyn Clock>,
}

impl OAuthTokenProviderBuilder {
    /// The token endpoints by auth region (default [`AuthEndpoints::default`]).
    pub fn auth_endpoints(mut self, endpoints: AuthEndpoints) -> Self {
        self.endpoints = endpoints;
        self
    }

    /// How long before its expiry a token is replaced (default [`DEFAULT_REFRESH_MARGIN`]);
    /// never more than half of the token's lifetime.
    pub fn refresh_margin(mut self, margin: Duration) -> Self {
        self.refresh_margin = margin;
        self
    }

    /// The clock that ages tokens (default: the system clock).
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// Checks that the client id, the client secret and the environment id are not empty.
    pub fn build(self) -> Result<OAuthTokenProvider, AuthError> {
        for (what, value) in [
            ("client_id", self.client_id.as_str()),
            ("client_secret", self.client_secret.as_str()),
            ("environment_id", self.environment_id.as_str()),
        ] {
            if value.is_empty() {
                return Err(AuthError::Config(format!("{what} must not be empty")));
            }
        }
        basic_header(&self.client_id, &self.client_secret)?;
        Ok(OAuthTokenProvider {
            transport: self.transport,
            client_id: self.client_id,
            client_secret: self.client_secret,
            environment_id: self.environment_id,
            endpoints: self.endpoints,
            refresh_margin: self.refresh_margin,
            clock: self.clock,
            slots: Mutex::new(HashMap::new()),
        })
    }
}

impl fmt::Debug for OAuthTokenProviderBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OAuthTokenProviderBuilder")
            .field("client_id", &self.client_id)
            .field("client_secret", &"<redacted>")
            .field("environment_id", &self.environment_id)
            .field("endpoints", &self.endpoints)
            .field("refresh_margin", &self.refresh_margin)
            .finish_non_exhaustive()
    }
}

/// A token and when to stop using it.
struct Cached {
    token: AccessToken,
    refresh_at: Instant,
}

/// The cache of one audience: at most one fetch in flight, and a count of fetches so that
/// callers who waited for someone else's refresh can use it.
#[derive(Default)]
struct Slot {
    fetches: AtomicU64,
    token: tokio::sync::Mutex<Option<Cached>>,
}

/// OAuth2 client credentials (`grant_type=client_credentials`, `scope=<environment id>`,
/// `audience=<audience>`), with tokens cached per audience until shortly before they expire.
///
/// Concurrent callers for one audience share one token request. The client secret is zeroized
/// on drop; the secret and the tokens are redacted in `Debug`.
pub struct OAuthTokenProvider {
    transport: Arc<dyn Transport>,
    client_id: String,
    client_secret: Zeroizing<String>,
    environment_id: String,
    endpoints: AuthEndpoints,
    refresh_margin: Duration,
    clock: Arc<dyn Clock>,
    slots: Mutex<HashMap<String, Arc<Slot>>>,
}

impl OAuthTokenProvider {
    /// A builder; tokens are requested through `transport` (which bounds their time).
    pub fn builder(
        transport: Arc<dyn Transport>,
        client_id: impl Into<String>,
        client_secret: impl Into<String>,
        environment_id: impl Into<String>,
    ) -> OAuthTokenProviderBuilder {
        OAuthTokenProviderBuilder {
            transport,
            client_id: client_id.into(),
            client_secret: Zeroizing::new(client_secret.into()),
            environment_id: environment_id.into(),
            endpoints: AuthEndpoints::default(),
            refresh_margin: DEFAULT_REFRESH_MARGIN,
            clock: Arc::new(SystemClock),
        }
    }

    /// The token endpoints this provider uses.
    pub fn auth_endpoints(&self) -> &AuthEndpoints {
        &self.endpoints
    }

    fn slot(&self, audience: &str) -> Arc<Slot> {
        let mut slots = self
            .slots
            .lock()
            .unwrap_or_else(|poison| poison.into_inner());
        Arc::clone(slots.entry(audience.to_owned()).or_default())
    }

    /// One token request to the endpoint of `region`.
    async fn fetch(&self, audience: &str, region: &str) -> Result<Cached, AuthError> {
        let url = self.endpoints.endpoint_for(region).to_owned();
        let form = url::form_urlencoded::Serializer::new(String::new())
            .append_pair("grant_type", "client_credentials")
            .append_pair("scope", &self.environment_id)
            .append_pair("audience", audience)
            .finish();
        let request = Request::builder()
            .method(Method::POST)
            .uri(url.as_str())
            .header(
                header::AUTHORIZATION,
                basic_header(&self.client_id, &self.client_secret)?,
            )
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .header(header::ACCEPT, "application/json")
            .header(header::USER_AGENT, user_agent())
            .body(Body::from(form))
            .map_err(|error| {
                AuthError::Config(format!("auth endpoint {url:?} is not a valid URL: {error}"))
            })?;
        let info = RequestInfo::of(&request);
        tracing::debug!(url = %info.url, audience, "requesting an OAuth token");
        let requested_at = self.clock.now();
        let response =
            self.transport
                .send(request)
                .await
                .map_err(|source| AuthError::TokenRequest {
                    url: info.url.clone(),
                    source,
                })?;
        if response.status() != StatusCode::OK {
            return Err(AuthError::TokenEndpointStatus {
                status: response.status(),
                url: info.url,
                body: body_excerpt(response.into_body()).await,
            });
        }
        let bytes = incountry_transport::read_bytes(&info, response, TOKEN_RESPONSE_LIMIT)
            .await
            .map_err(|source| match source {
                TransportError::BodyTooLarge { limit, .. } => AuthError::TokenResponse {
                    url: info.url.clone(),
                    message: format!("the body exceeds {limit} bytes"),
                },
                source => AuthError::TokenRequest {
                    url: info.url.clone(),
                    source,
                },
            })?;
        let invalid = |message: String| AuthError::TokenResponse {
            url: info.url.clone(),
            message,
        };
        let parsed: TokenResponse = serde_json::from_slice(&bytes)
            .map_err(|error| invalid(format!("malformed JSON body: {error}")))?;
        let token = AccessToken::new(parsed.access_token);
        if token.secret().is_empty() {
            return Err(invalid("`access_token` is empty".to_owned()));
        }
        if !parsed.expires_in.is_finite() || parsed.expires_in < 0.0 {
            return Err(invalid(format!(
                "`expires_in` must be a non-negative number of seconds, got {}",
                parsed.expires_in
            )));
        }
        let lifetime = Duration::try_from_secs_f64(parsed.expires_in)
            .map_err(|_| invalid("`expires_in` is out of range".to_owned()))?;
        let margin = self.refresh_margin.min(lifetime / 2);
        let refresh_at = requested_at
            .checked_add(lifetime - margin)
            .ok_or_else(|| invalid("`expires_in` is out of range".to_owned()))?;
        Ok(Cached { token, refresh_at })
    }
}

/// `Basic base64(client_id:client_secret)`, marked sensitive; the intermediate strings are
/// zeroized.
fn basic_header(client_id: &str, client_secret: &str) -> Result<HeaderValue, AuthError> {
    let credentials = Zeroizing::new(format!("{client_id}:{client_secret}"));
    let base64 = Zeroizing::new(STANDARD.encode(credentials.as_bytes()));
    let encoded = Zeroizing::new(format!("Basic {}", *base64));
    let mut value = HeaderValue::from_str(&encoded).map_err(|_| {
        AuthError::Config("client credentials are not valid in an HTTP header".to_owned())
    })?;
    value.set_sensitive(true);
    Ok(value)
}

#[derive(Deserialize)]
struct TokenResponse {
    access_token: String,
    expires_in: f64,
}

impl fmt::Debug for OAuthTokenProvider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OAuthTokenProvider")
            .field("client_id", &self.client_id)
            .field("client_secret", &"<redacted>")
            .field("environment_id", &self.environment_id)
            .field("endpoints", &self.endpoints)
            .field("refresh_margin", &self.refresh_margin)
            .finish_non_exhaustive()
    }
}

#[async_trait]
impl TokenProvider for OAuthTokenProvider {
    async fn token(
        &self,
        audience: &str,
        region: &str,
        force_refresh: bool,
    ) -> Result<AccessToken, AuthError> {
        let slot = self.slot(audience);
        let seen = slot.fetches.load(Ordering::Acquire);
        let mut cached = slot.token.lock().await;
        if let Some(current) = cached.as_ref() {
            // A refresh that finished while this caller waited is as good as its own.
            let fresh_enough = !force_refresh || slot.fetches.load(Ordering::Acquire) != seen;
            if fresh_enough && self.clock.now() < current.refresh_at {
                return Ok(current.token.clone());
            }
        }
        let fetched = self.fetch(audience, region).await?;
        let token = fetched.token.clone();
        *cached = Some(fetched);
        slot.fetches.fetch_add(1, Ordering::Release);
        Ok(token)
    }

    fn can_refresh(&self) -> bool {
        true
    }
}
