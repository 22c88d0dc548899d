//! Raw wire requests to a server (no SDK, no crypto): a pooled keep-alive hyper client with
//! the bearer token of the client-credentials grant.

use bytes::Bytes;
use clap::Args;
use http_body_util::{BodyExt as _, Full};
use hyper::{Method, Request, StatusCode, header};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

use crate::BoxError;

/// Where to send raw requests and how to authenticate.
#[derive(Debug, Clone, Args)]
pub(crate) struct WireArgs {
    /// The server's base URL, e.g. `http://127.0.0.1:8080`.
    #[arg(long)]
    url: String,
    /// The environment id (the token's scope, sent as `x-env-id`). Without a client id no
    /// token is fetched and requests go unauthenticated (for `bare`).
    #[arg(long, default_value = "bench")]
    env_id: String,
    /// The OAuth2 client id.
    #[arg(long)]
    client_id: Option<String>,
    /// The OAuth2 client secret.
    #[arg(long, default_value = "")]
    client_secret: String,
    /// The country of the records.
    #[arg(long, default_value = "us")]
    country: String,
}

impl WireArgs {
    /// Whether a token is fetched (a real server rather than `bare`).
    pub(crate) fn authenticates(&self) -> bool {
        self.client_id.is_some()
    }
}

/// A pooled HTTP/1.1 client bound to one server, environment and country.
#[derive(Debug, Clone)]
pub(crate) struct WireClient {
    client: Client<HttpConnector, Full<Bytes>>,
    base: String,
    country: String,
    /// `Bearer <token>` and the environment id, when authenticating.
    auth: Option<(String, String)>,
}

impl WireClient {
    /// Builds the client (keeping up to `pool` idle connections) and fetches a token.
    pub(crate) async fn connect(args: &WireArgs, pool: usize) -> Result<Self, BoxError> {
        let mut connector = HttpConnector::new();
        connector.set_nodelay(true);
        let client = Client::builder(TokioExecutor::new())
            .pool_max_idle_per_host(pool.max(1))
            .build(connector);
        let base = args.url.trim_end_matches('/').to_owned();
        let mut this = Self {
            client,
            base,
            country: args.country.to_ascii_lowercase(),
            auth: None,
        };
        if let Some(client_id) = &args.client_id {
            let form = [
                ("grant_type", "client_credentials"),
                ("client_id", client_id.as_str()),
                ("client_secret", args.client_secret.as_str()),
                ("scope", args.env_id.as_str()),
                ("audience", this.base.as_str()),
            ]
            .iter()
            .map(|(name, value)| format!("{name}={}", form_encode(value)))
            .collect::<Vec<_>>()
            .join("&");
            let request = Request::post(format!("{}/oauth2/token", this.base))
                .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
                .body(Full::new(Bytes::from(form)))?;
            let response = this.client.request(request).await?;
            let status = response.status();
            let body = response.into_body().collect().await?.to_bytes();
            if !status.is_success() {
                return Err(format!(
                    "token request failed: {status} {}",
                    String::from_utf8_lossy(&body)
                )
                .into());
            }
            let json: serde_json::Value = serde_json::from_slice(&body)?;
            let token = json
                .get("access_token")
                .and_then(|t| t.as_str())
                .ok_or("the token answer has no access_token")?;
            this.auth = Some((format!("Bearer {token}"), args.env_id.clone()));
        }
        Ok(this)
    }

    /// `/v2/storage/records/{cc}` followed by `suffix`.
    pub(crate) fn records_path(&self, suffix: &str) -> String {
        format!("/v2/storage/records/{}{suffix}", self.country)
    }

    /// Sends one request and reads the whole answer.
    pub(crate) async fn send(
        &self,
        method: Method,
        path: &str,
        body: Option<Bytes>,
    ) -> Result<(StatusCode, Bytes), BoxError> {
        let mut request = Request::builder()
            .method(method)
            .uri(format!("{}{path}", self.base));
        if let Some((bearer, env)) = &self.auth {
            request = request
                .header(header::AUTHORIZATION, bearer.as_str())
                .header("x-env-id", env.as_str());
        }
        if body.is_some() {
            request = request.header(header::CONTENT_TYPE, "application/json");
        }
        let request = request.body(Full::new(body.unwrap_or_default()))?;
        let response = self.client.request(request).await?;
        let status = response.status();
        let body = response.into_body().collect().await?.to_bytes();
        Ok((status, body))
    }

    /// Sends one request and fails unless it is answered with a success status.
    pub(crate) async fn send_ok(
        &self,
        method: Method,
        path: &str,
        body: Option<Bytes>,
    ) -> Result<Bytes, BoxError> {
        let (status, body) = self.send(method, path, body).await?;
        if status.is_success() {
            Ok(body)
        } else {
            Err(format!("{path}: {status} {}", String::from_utf8_lossy(&body)).into())
        }
    }
}

/// Percent-encodes a form value (everything but unreserved characters).
fn form_encode(value: &str) -> String {
    value
        .bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                char::from(b).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}
