//! `POST /oauth2/token`: the client-credentials grant.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Instant;

use axum::Json;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use chrono::Utc;
use serde_json::json;
use sha2::{Digest, Sha256};

use super::{AppState, openapi};
use crate::token::Claims;

fn oauth_error(status: StatusCode, error: &str) -> Response {
    (status, Json(json!({"error": error}))).into_response()
}

/// Reads `a=b&c=d`, percent-decoding and `+` as space, and tolerating raw spaces, `:` and `/`.
/// Values are kept as sent: a client id or secret with spaces around it is not the registered
/// one. `None` when a parameter is named twice (RFC 6749 section 3.2: parameters must not be
/// included more than once).
fn parse_form(body: &[u8]) -> Option<Vec<(String, String)>> {
    let text = String::from_utf8_lossy(body);
    let form: Vec<(String, String)> = text
        .split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            (decode(name), decode(value))
        })
        .collect();
    let unique = {
        let mut names = std::collections::HashSet::with_capacity(form.len());
        form.iter().all(|(name, _)| names.insert(name.as_str()))
    };
    unique.then_some(form)
}

fn decode(text: &str) -> String {
    let spaced = text.replace('+', " ");
    percent_encoding::percent_decode_str(&spaced)
        .decode_utf8_lossy()
        .into_owned()
}

fn basic_credentials(headers: &HeaderMap) -> Option<(String, String)> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?.trim();
    let (scheme, encoded) = value.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = String::from_utf8(STANDARD.decode(encoded.trim()).ok()?).ok()?;
    let (id, secret) = decoded.split_once(':')?;
    Some((id.to_owned(), secret.to_owned()))
}

/// Whether two secrets are equal, in time that depends on neither their contents nor their
/// lengths (their SHA-256 digests are compared without an early exit).
fn same_secret(a: &str, b: &str) -> bool {
    let (a, b) = (Sha256::digest(a.as_bytes()), Sha256::digest(b.as_bytes()));
    a.iter()
        .zip(b.iter())
        .fold(0u8, |acc, (x, y)| acc | (x ^ y))
        == 0
}

/// The largest token request body read.
const MAX_FORM_BYTES: usize = 64 * 1024;

/// The keys a failed token request counts against: the client id it named (if any) and the
/// address it came from.
fn failure_keys(client_id: Option<&str>, source: Option<IpAddr>) -> Vec<String> {
    let mut keys = Vec::with_capacity(2);
    if let Some(id) = client_id {
        keys.push(format!("client\0{id}"));
    }
    if let Some(ip) = source {
        keys.push(format!("source\0{ip}"));
    }
    keys
}

fn too_many_failures(wait: std::time::Duration) -> Response {
    let seconds = crate::rate_limit::retry_after_seconds(wait);
    let mut response = oauth_error(StatusCode::TOO_MANY_REQUESTS, "slow_down");
    response
        .headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
    response
}

#[utoipa::path(
    post,
    path = "/oauth2/token",
    operation_id = "token",
    tag = "auth",
    summary = "Issue a bearer token (OAuth2 client credentials)",
    request_body(content = openapi::TokenRequest, content_type = "application/x-www-form-urlencoded"),
    security((), ("basic" = [])),
    responses(
        (status = 200, description = "A token", body = openapi::TokenResponse),
        (status = 400, description = "Bad grant, scope or audience, or an environment the client is not bound to", body = openapi::OAuthError),
        (status = 401, description = "Unknown client or wrong secret", body = openapi::OAuthError),
        (status = 413, description = "Form over 64 KiB", body = openapi::OAuthError),
        (status = 429, description = "Too many failed token requests from this client or address; see Retry-After", body = openapi::OAuthError),
    )
)]
pub(super) async fn token(State(app): State<Arc<AppState>>, request: Request) -> Response {
    let source = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(address)| address.ip());
    let now = Instant::now();
    if let Some(wait) = app.token_failures.blocked(&failure_keys(None, source), now) {
        return too_many_failures(wait);
    }
    let (parts, body) = request.into_parts();
    let headers = parts.headers;
    let body = match super::read_body(&headers, body, MAX_FORM_BYTES).await {
        Ok(body) => body,
        Err(e) if e.status() == StatusCode::PAYLOAD_TOO_LARGE => {
            return oauth_error(StatusCode::PAYLOAD_TOO_LARGE, "invalid_request");
        }
        Err(e) => return e.into_response(),
    };
    let Some(form) = parse_form(&body) else {
        return oauth_error(StatusCode::BAD_REQUEST, "invalid_request");
    };
    let field = |name: &str| {
        form.iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    };
    let credentials = basic_credentials(&headers).or_else(|| {
        Some((
            field("client_id")?.to_owned(),
            field("client_secret")?.to_owned(),
        ))
    });
    let Some((client_id, secret)) = credentials else {
        app.token_failures.failed(&failure_keys(None, source), now);
        return oauth_error(StatusCode::UNAUTHORIZED, "invalid_client");
    };
    let keys = failure_keys(Some(&client_id), source);
    if let Some(wait) = app.token_failures.blocked(&keys, now) {
        return too_many_failures(wait);
    }
    // Look the client up by id (not secret), then compare the secret in constant time; an
    // unknown id is compared against a dummy so that both paths do the same work.
    let client = app.clients.iter().find(|c| c.client_id == client_id);
    let expected = client.map_or("", |c| c.client_secret.as_str());
    let secret_matches = same_secret(expected, &secret);
    let Some(client) = client.filter(|_| secret_matches) else {
        app.token_failures.failed(&keys, now);
        tracing::info!(client_id = %client_id, source = ?source, "token refused: unknown client or wrong secret");
        return oauth_error(StatusCode::UNAUTHORIZED, "invalid_client");
    };
    if field("grant_type") != Some("client_credentials") {
        return oauth_error(StatusCode::BAD_REQUEST, "unsupported_grant_type");
    }
    // The scope is the environment id, sent back in `x-env-id`, which cannot carry spaces
    // around it.
    let Some(scope) = field("scope").filter(|s| !s.is_empty() && s.trim() == *s) else {
        return oauth_error(StatusCode::BAD_REQUEST, "invalid_scope");
    };
    if !client.admits_environment(scope, app.client_any_environment) {
        tracing::info!(client_id = %client_id, "token refused: environment not bound to the client");
        return oauth_error(StatusCode::BAD_REQUEST, "invalid_scope");
    }
    // Every official SDK sends the audience; a token without one would work anywhere.
    let Some(audience) = field("audience").filter(|a| !a.trim().is_empty()) else {
        return oauth_error(StatusCode::BAD_REQUEST, "invalid_request");
    };
    let ttl = i64::try_from(app.token_ttl.as_secs()).unwrap_or(i64::MAX / 2);
    let claims = Claims {
        env: scope.to_owned(),
        aud: audience.to_owned(),
        cid: client_id,
        exp: Utc::now().timestamp().saturating_add(ttl),
    };
    let token = app.signer.issue(&claims);
    Json(json!({
        "access_token": token,
        "expires_in": ttl,
        "token_type": "bearer",
        "scope": scope,
    }))
    .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forms_read_encoded_and_raw_values() {
        let form = parse_form(
            b"grant_type=client_credentials&scope=my env&audience=https://a.example https://b.example&x=a%2Fb+c",
        )
        .unwrap();
        assert_eq!(
            form,
            vec![
                ("grant_type".into(), "client_credentials".into()),
                ("scope".into(), "my env".into()),
                (
                    "audience".into(),
                    "https://a.example https://b.example".into()
                ),
                ("x".into(), "a/b c".into()),
            ]
        );
    }

    #[test]
    fn forms_keep_surrounding_spaces_and_refuse_a_parameter_named_twice() {
        let form = parse_form(b"client_id=+id+&client_secret=%20s%20").unwrap();
        assert_eq!(
            form,
            vec![
                ("client_id".into(), " id ".into()),
                ("client_secret".into(), " s ".into()),
            ]
        );
        assert_eq!(parse_form(b"scope=a&scope=b"), None);
    }
}
