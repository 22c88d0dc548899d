//! Sending a request with a bearer token, refreshing it once after a `401`.

use http::{Request, Response, StatusCode, header};
use incountry_transport::{Body, RequestInfo, Transport, body_excerpt};

use crate::error::AuthError;
use crate::token::TokenProvider;

/// Sends the request that `build` makes, with `Authorization: Bearer <token>` for `audience`
/// and `region`.
///
/// On a `401`, a provider that [can refresh](TokenProvider::can_refresh) is asked for a new
/// token and the request is built and sent once more; a `401` with a static token, or a second
/// `401`, is an [`AuthError::Unauthorized`]. Every other response is returned as it is, for
/// the caller to map its status. `build` is called once per attempt, so a streamed body can be
/// opened anew for the retry.
///
/// Costs one or two requests, plus token requests when the cached token is missing or stale.
pub async fn send_authorized<F>(
    transport: &dyn Transport,
    tokens: &dyn TokenProvider,
    audience: &str,
    region: &str,
    mut build: F,
) -> Result<Response<Body>, AuthError>
where
    F: FnMut() -> Request<Body> + Send,
{
    let mut force_refresh = false;
    loop {
        let token = tokens.token(audience, region, force_refresh).await?;
        let mut request = build();
        request
            .headers_mut()
            .insert(header::AUTHORIZATION, token.bearer_header()?);
        drop(token);
        let info = RequestInfo::of(&request);
        let response = transport.send(request).await?;
        if response.status() != StatusCode::UNAUTHORIZED {
            return Ok(response);
        }
        if force_refresh || !tokens.can_refresh() {
            return Err(AuthError::Unauthorized {
                method: info.method,
                url: info.url,
                body: body_excerpt(response.into_body()).await,
            });
        }
        tracing::debug!(url = %info.url, "401 Unauthorized, refreshing the token once");
        force_refresh = true;
    }
}
