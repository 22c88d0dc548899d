//! `POST /oauth2/token`: the client-credentials grant.

use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use chrono::Utc;
use serde_json::json;

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

fn same(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
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
        (status = 400, description = "Bad grant, scope or audience", body = openapi::OAuthError),
        (status = 401, description = "Unknown client or wrong secret", body = openapi::OAuthError),
        (status = 413, description = "Form over 64 KiB", body = openapi::OAuthError),
    )
)]
pub(super) async fn token(
    State(app): State<Arc<AppState>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if body.len() > 64 * 1024 {
        return oauth_error(StatusCode::PAYLOAD_TOO_LARGE, "invalid_request");
    }
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
        return oauth_error(StatusCode::UNAUTHORIZED, "invalid_client");
    };
    let known = app
        .clients
        .iter()
        .any(|c| same(&c.client_id, &client_id) && same(&c.client_secret, &secret));
    if !known {
        return oauth_error(StatusCode::UNAUTHORIZED, "invalid_client");
    }
    if field("grant_type") != Some("client_credentials") {
        return oauth_error(StatusCode::BAD_REQUEST, "unsupported_grant_type");
    }
    // The scope is the environment id, sent back in `x-env-id`, which cannot carry spaces
    // around it.
    let Some(scope) = field("scope").filter(|s| !s.is_empty() && s.trim() == *s) else {
        return oauth_error(StatusCode::BAD_REQUEST, "invalid_scope");
    };
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
