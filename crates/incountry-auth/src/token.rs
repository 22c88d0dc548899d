//! The token seam: a bearer token for an audience and an auth region.

use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;
use http::HeaderValue;
use zeroize::{Zeroize, ZeroizeOnDrop};

use crate::error::AuthError;

/// A bearer token; zeroized on drop and redacted in `Debug`.
#[derive(Clone, PartialEq, Eq, Zeroize, ZeroizeOnDrop)]
pub struct AccessToken(String);

impl AccessToken {
    /// Wraps a token string.
    pub fn new(token: impl Into<String>) -> Self {
        Self(token.into())
    }

    /// The token text, to put on the wire.
    pub fn secret(&self) -> &str {
        &self.0
    }

    /// `Bearer <token>` as a header value marked sensitive (kept out of HTTP/2 header
    /// compression tables and debug output).
    pub fn bearer_header(&self) -> Result<HeaderValue, AuthError> {
        let mut text = zeroize::Zeroizing::new(format!("Bearer {}", self.0));
        let mut value = HeaderValue::from_str(&text).map_err(|_| AuthError::InvalidToken)?;
        text.zeroize();
        value.set_sensitive(true);
        Ok(value)
    }
}

impl fmt::Debug for AccessToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("AccessToken(<redacted>)")
    }
}

/// Gives bearer tokens for the InCountry API.
///
/// A token is asked for an `audience` (one or two API host URLs separated by a space) and an
/// auth `region` (which picks the token endpoint). Implementations:
/// [`OAuthTokenProvider`](crate::OAuthTokenProvider) and
/// [`StaticTokenProvider`](crate::StaticTokenProvider).
#[async_trait]
pub trait TokenProvider: Send + Sync + fmt::Debug {
    /// A token for the audience; with `force_refresh`, a new one even if a cached one is
    /// still valid (after the API answered `401`). May cost a request to the token endpoint.
    async fn token(
        &self,
        audience: &str,
        region: &str,
        force_refresh: bool,
    ) -> Result<AccessToken, AuthError>;

    /// Whether [`token`](Self::token) with `force_refresh` can give a different token, so that
    /// a request refused with `401` is worth retrying once.
    fn can_refresh(&self) -> bool;
}

#[async_trait]
impl<T: TokenProvider + ?Sized> TokenProvider for Arc<T> {
    async fn token(
        &self,
        audience: &str,
        region: &str,
        force_refresh: bool,
    ) -> Result<AccessToken, AuthError> {
        (**self).token(audience, region, force_refresh).await
    }

    fn can_refresh(&self) -> bool {
        (**self).can_refresh()
    }
}

/// A fixed token given by the user; never refreshed, so a `401` is final.
#[derive(Debug, Clone)]
pub struct StaticTokenProvider {
    token: AccessToken,
}

impl StaticTokenProvider {
    /// A provider that always gives `token`.
    pub fn new(token: impl Into<String>) -> Self {
        Self {
            token: AccessToken::new(token),
        }
    }
}

#[async_trait]
impl TokenProvider for StaticTokenProvider {
    async fn token(&self, _: &str, _: &str, _: bool) -> Result<AccessToken, AuthError> {
        Ok(self.token.clone())
    }

    fn can_refresh(&self) -> bool {
        false
    }
}
