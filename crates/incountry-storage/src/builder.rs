//! Configuring a [`Storage`]: typed setters, `INC_*` environment variables, validation.

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use incountry_auth::{AuthEndpoints, OAuthTokenProvider, StaticTokenProvider, TokenProvider};
use incountry_crypto::{CustomCipher, DEFAULT_KEY_CACHE_CAPACITY, SaltReuse};
use incountry_transport::routing::Router;
use incountry_transport::{HyperTransport, RetryConfig, RetryingTransport, Transport};

use crate::error::StorageError;
use crate::secrets::{CryptoOptions, Keyring, SecretsAccessor};
use crate::storage::{Inner, Storage};

/// Environment variable supplying the environment id when none is given.
pub const ENV_ENVIRONMENT_ID: &str = "INC_ENVIRONMENT_ID";
/// Environment variable supplying the OAuth client id when none is given.
pub const ENV_CLIENT_ID: &str = "INC_CLIENT_ID";
/// Environment variable supplying the OAuth client secret when none is given.
pub const ENV_CLIENT_SECRET: &str = "INC_CLIENT_SECRET";
/// Environment variable supplying the endpoint when none is given.
pub const ENV_ENDPOINT: &str = "INC_ENDPOINT";

/// Configures a [`Storage`]; created by [`Storage::builder`].
///
/// Values not given come from the `INC_ENVIRONMENT_ID`, `INC_CLIENT_ID`, `INC_CLIENT_SECRET`
/// and `INC_ENDPOINT` environment variables (client credentials from the environment are used
/// only when neither a static token nor a token provider is given).
#[must_use]
pub struct StorageBuilder {
    environment_id: Option<String>,
    client_id: Option<String>,
    client_secret: Option<String>,
    oauth_token: Option<String>,
    endpoint: Option<String>,
    endpoint_mask: Option<String>,
    countries_endpoint: Option<String>,
    auth_endpoints: Option<Vec<(String, String)>>,
    secrets: Option<Arc<dyn SecretsAccessor>>,
    custom_ciphers: Option<Vec<(Arc<dyn CustomCipher>, bool)>>,
    encrypt: bool,
    normalize_keys: bool,
    hash_search_keys: bool,
    salt_reuse: SaltReuse,
    derived_key_cache: usize,
    timeout: Option<Duration>,
    retry: RetryConfig,
    transport: Option<Arc<dyn Transport>>,
    token_provider: Option<Arc<dyn TokenProvider>>,
    env: Option<HashMap<String, String>>,
}

impl fmt::Debug for StorageBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never shows the client secret, the token or the secrets.
        f.debug_struct("StorageBuilder")
            .field("environment_id", &self.environment_id)
            .field("client_id", &self.client_id)
            .field("endpoint", &self.endpoint)
            .field("endpoint_mask", &self.endpoint_mask)
            .field("encrypt", &self.encrypt)
            .field("salt_reuse", &self.salt_reuse)
            .field("derived_key_cache", &self.derived_key_cache)
            .field("timeout", &self.timeout)
            .field("retry", &self.retry)
            .finish_non_exhaustive()
    }
}

impl Default for StorageBuilder {
    fn default() -> Self {
        Self {
            environment_id: None,
            client_id: None,
            client_secret: None,
            oauth_token: None,
            endpoint: None,
            endpoint_mask: None,
            countries_endpoint: None,
            auth_endpoints: None,
            secrets: None,
            custom_ciphers: None,
            encrypt: true,
            normalize_keys: false,
            hash_search_keys: true,
            salt_reuse: SaltReuse::default(),
            derived_key_cache: DEFAULT_KEY_CACHE_CAPACITY,
            timeout: None,
            retry: RetryConfig::default(),
            transport: None,
            token_provider: None,
            env: None,
        }
    }
}

impl StorageBuilder {
    /// The environment id (else `INC_ENVIRONMENT_ID`).
    pub fn environment_id(mut self, id: impl Into<String>) -> Self {
        self.environment_id = Some(id.into());
        self
    }

    /// OAuth2 client credentials (else `INC_CLIENT_ID` / `INC_CLIENT_SECRET`).
    pub fn client_credentials(
        mut self,
        client_id: impl Into<String>,
        client_secret: impl Into<String>,
    ) -> Self {
        self.client_id = Some(client_id.into());
        self.client_secret = Some(client_secret.into());
        self
    }

    /// A static bearer token, never refreshed; instead of client credentials.
    pub fn oauth_token(mut self, token: impl Into<String>) -> Self {
        self.oauth_token = Some(token.into());
        self
    }

    /// A fixed API endpoint for every country (else `INC_ENDPOINT`, else routing by country).
    pub fn endpoint(mut self, url: impl Into<String>) -> Self {
        self.endpoint = Some(url.into());
        self
    }

    /// The mask of country hosts (default `-mt-01.api.incountry.io`).
    pub fn endpoint_mask(mut self, mask: impl Into<String>) -> Self {
        self.endpoint_mask = Some(mask.into());
        self
    }

    /// Where the countries list is fetched.
    pub fn countries_endpoint(mut self, url: impl Into<String>) -> Self {
        self.countries_endpoint = Some(url.into());
        self
    }

    /// OAuth token endpoints by auth region; must contain `default`.
    pub fn auth_endpoints<I, K, V>(mut self, endpoints: I) -> Self
    where
        I: IntoIterator<Item = (K, V)>,
        K: Into<String>,
        V: Into<String>,
    {
        self.auth_endpoints = Some(
            endpoints
                .into_iter()
                .map(|(k, v)| (k.into(), v.into()))
                .collect(),
        );
        self
    }

    /// Where the secrets come from (required with encryption on).
    pub fn secrets(mut self, accessor: impl SecretsAccessor + 'static) -> Self {
        self.secrets = Some(Arc::new(accessor));
        self
    }

    /// Adds a custom cipher for reading the data it wrote.
    pub fn custom_cipher(mut self, cipher: impl CustomCipher + 'static) -> Self {
        self.custom_ciphers
            .get_or_insert_with(Vec::new)
            .push((Arc::new(cipher), false));
        self
    }

    /// Adds a custom cipher that also encrypts all new data.
    pub fn current_custom_cipher(mut self, cipher: impl CustomCipher + 'static) -> Self {
        self.custom_ciphers
            .get_or_insert_with(Vec::new)
            .push((Arc::new(cipher), true));
        self
    }

    /// Sets the whole list of custom ciphers (`true` marks the current one); an empty list is
    /// a configuration error, as in the official SDKs.
    pub fn custom_ciphers(
        mut self,
        ciphers: impl IntoIterator<Item = (Arc<dyn CustomCipher>, bool)>,
    ) -> Self {
        self.custom_ciphers = Some(ciphers.into_iter().collect());
        self
    }

    /// Encrypt records (default on); off writes `pt:` bodies and ignores the secrets.
    pub fn encrypt(mut self, on: bool) -> Self {
        self.encrypt = on;
        self
    }

    /// Lower-case key values before hashing (default off).
    pub fn normalize_keys(mut self, on: bool) -> Self {
        self.normalize_keys = on;
        self
    }

    /// Hash `key1..key20` (default on); off sends them plain (needed by `search_keys`).
    pub fn hash_search_keys(mut self, on: bool) -> Self {
        self.hash_search_keys = on;
        self
    }

    /// How long one random salt, and so one PBKDF2-derived key, is reused for new records of a
    /// password secret (default [`SaltReuse::default`]: 10 000 records or 60 s; the IV is fresh
    /// for every record).
    ///
    /// [`SaltReuse::off`] draws a fresh salt for every record, as the official SDKs do, so
    /// records written together cannot be linked by their salt; each write then costs one
    /// PBKDF2 run (milliseconds). See `docs/security.md`.
    pub fn salt_reuse(mut self, reuse: SaltReuse) -> Self {
        self.salt_reuse = reuse;
        self
    }

    /// The most PBKDF2-derived keys kept for decryption (default 1024 keys, about 150 KiB);
    /// 0 disables the cache, so every record read costs one PBKDF2 run. A cache hit saves
    /// milliseconds per record. [`Storage::crypto_stats`] counts hits and derivations.
    pub fn derived_key_cache(mut self, capacity: usize) -> Self {
        self.derived_key_cache = capacity;
        self
    }

    /// The request timeout of the default transport (default 30 s).
    ///
    /// Setting it together with [`transport`](Self::transport) is a configuration error: set
    /// the timeout on your own transport instead.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// The backoff schedule of `429 Too Many Requests` retries (default: 1 s doubling up to
    /// 32 s, six retries).
    ///
    /// ```
    /// use std::time::Duration;
    /// use incountry_storage::{RetryConfig, Storage};
    ///
    /// let builder = Storage::builder().retry(
    ///     RetryConfig::builder()
    ///         .base_delay(Duration::from_millis(500))
    ///         .max_delay(Duration::from_secs(8))
    ///         .build(),
    /// );
    /// ```
    pub fn retry(mut self, retry: RetryConfig) -> Self {
        self.retry = retry;
        self
    }

    /// Sends requests through `transport` instead of the default hyper client (the `429`
    /// backoff still wraps it). The transport owns its timeouts: [`timeout`](Self::timeout)
    /// cannot be combined with it.
    pub fn transport(mut self, transport: impl Transport + 'static) -> Self {
        self.transport = Some(Arc::new(transport));
        self
    }

    /// Gets tokens from `provider` instead of client credentials or a static token.
    pub fn token_provider(mut self, provider: impl TokenProvider + 'static) -> Self {
        self.token_provider = Some(Arc::new(provider));
        self
    }

    /// Reads the `INC_*` fallbacks from `vars` instead of the process environment.
    pub fn env_vars<I, K, V>(mut self, vars: I) -> Self
    where
        I: IntoIterator<Item = (K, V)>,
        K: Into<String>,
        V: Into<String>,
    {
        self.env = Some(
            vars.into_iter()
                .map(|(k, v)| (k.into(), v.into()))
                .collect(),
        );
        self
    }

    fn env_var(&self, name: &str) -> Option<String> {
        match &self.env {
            Some(map) => map.get(name).cloned(),
            None => std::env::var(name).ok(),
        }
    }

    /// Validates the configuration, asks the secrets accessor once, checks the secrets and
    /// the custom ciphers' round trip, and builds the storage. Nothing is sent over the
    /// network.
    pub async fn build(self) -> Result<Storage, StorageError> {
        let environment_id = self
            .environment_id
            .clone()
            .or_else(|| self.env_var(ENV_ENVIRONMENT_ID))
            .unwrap_or_default();
        if environment_id.is_empty() {
            return Err(StorageError::config(
                "environment_id is required: set it with `environment_id(..)` or INC_ENVIRONMENT_ID",
            ));
        }

        for (name, value) in [
            ("timeout", self.timeout),
            ("retry base_delay", Some(self.retry.base_delay)),
            ("retry max_delay", Some(self.retry.max_delay)),
        ] {
            if value.is_some_and(|d| d.is_zero()) {
                return Err(StorageError::config(format!("{name} must be positive")));
            }
        }
        if self.timeout.is_some() && self.transport.is_some() {
            return Err(StorageError::config(
                "timeout applies only to the default transport and is ignored by a custom one: \
                 remove `timeout(..)` and set the timeout on your transport",
            ));
        }
        if let Some(mask) = &self.endpoint_mask {
            if mask.is_empty() {
                return Err(StorageError::config(
                    "endpoint_mask must not be empty when given",
                ));
            }
        }

        let auth_endpoints = match &self.auth_endpoints {
            Some(list) => AuthEndpoints::new(list.iter().map(|(k, v)| (k.as_str(), v.clone())))
                .map_err(|error| StorageError::Config {
                    message: format!("auth_endpoints: {error}"),
                    source: Some(Box::new(error)),
                })?,
            None => AuthEndpoints::default(),
        };

        let explicit_token = self.oauth_token.is_some() || self.token_provider.is_some();
        let (client_id, client_secret) = if self.client_id.is_some() || explicit_token {
            (self.client_id.clone(), self.client_secret.clone())
        } else {
            (self.env_var(ENV_CLIENT_ID), self.env_var(ENV_CLIENT_SECRET))
        };
        let ways = usize::from(client_id.is_some() || client_secret.is_some())
            + usize::from(self.oauth_token.is_some())
            + usize::from(self.token_provider.is_some());
        if ways != 1 {
            return Err(StorageError::config(
                "give exactly one way to authenticate: client_id and client_secret \
                 (or INC_CLIENT_ID and INC_CLIENT_SECRET), or oauth_token, or a token provider",
            ));
        }
        if self.oauth_token.as_deref() == Some("") {
            return Err(StorageError::config("oauth_token must not be empty"));
        }
        if client_id.is_some() || client_secret.is_some() {
            if client_id.as_deref().is_none_or(str::is_empty) {
                return Err(StorageError::config(
                    "client_id is required with client_secret and must not be empty",
                ));
            }
            if client_secret.as_deref().is_none_or(str::is_empty) {
                return Err(StorageError::config(
                    "client_secret is required with client_id and must not be empty",
                ));
            }
        }

        let endpoint = self.endpoint.clone().or_else(|| self.env_var(ENV_ENDPOINT));
        if let Some(endpoint) = &endpoint {
            check_url("endpoint", endpoint)?;
        }
        if let Some(countries) = &self.countries_endpoint {
            check_url("countries_endpoint", countries)?;
        }

        let accessor = if self.encrypt {
            Some(self.secrets.clone().ok_or_else(|| {
                StorageError::config(
                    "encryption is on, so a secrets accessor is required: set `secrets(..)` or turn `encrypt(false)`",
                )
            })?)
        } else {
            None
        };
        let ciphers = match self.custom_ciphers.clone() {
            Some(list) if list.is_empty() => {
                return Err(StorageError::config(
                    "custom_ciphers must contain at least one cipher when given",
                ));
            }
            Some(_) if !self.encrypt => {
                return Err(StorageError::config(
                    "custom ciphers need encryption on; remove them or turn `encrypt(true)`",
                ));
            }
            Some(list) => list,
            None => Vec::new(),
        };

        let inner_transport: Arc<dyn Transport> = match self.transport.clone() {
            Some(transport) => transport,
            None => {
                let mut builder = HyperTransport::builder();
                if let Some(timeout) = self.timeout {
                    builder = builder.request_timeout(timeout);
                }
                Arc::new(builder.build().map_err(|error| StorageError::Config {
                    message: format!("cannot create the HTTP client: {error}"),
                    source: Some(Box::new(error)),
                })?)
            }
        };
        let transport: Arc<dyn Transport> =
            Arc::new(RetryingTransport::new(inner_transport, self.retry));

        let tokens: Arc<dyn TokenProvider> = if let Some(provider) = self.token_provider.clone() {
            provider
        } else if let Some(token) = self.oauth_token.clone() {
            Arc::new(StaticTokenProvider::new(token))
        } else {
            Arc::new(
                OAuthTokenProvider::builder(
                    transport.clone(),
                    client_id.unwrap_or_default(),
                    client_secret.unwrap_or_default(),
                    environment_id.clone(),
                )
                .auth_endpoints(auth_endpoints)
                .build()
                .map_err(StorageError::from_auth)?,
            )
        };

        let mut router = Router::builder(transport.clone());
        if let Some(endpoint) = endpoint {
            router = router.endpoint(endpoint);
        }
        if let Some(mask) = self.endpoint_mask.clone() {
            router = router.endpoint_mask(mask);
        }
        if let Some(countries) = self.countries_endpoint.clone() {
            router = router.countries_endpoint(countries);
        }
        let router = router.build().map_err(StorageError::from_transport)?;

        let keyring = Keyring::new(
            environment_id.clone(),
            self.normalize_keys,
            self.hash_search_keys,
            accessor,
            ciphers,
            CryptoOptions {
                salt_reuse: self.salt_reuse,
                derived_key_cache: self.derived_key_cache,
            },
        );
        // Validates the secrets and runs the custom ciphers' round trip once.
        keyring.codec().await?;

        Ok(Storage::from_inner(Inner {
            environment_id,
            keyring,
            transport,
            tokens,
            router,
        }))
    }
}

fn check_url(what: &str, value: &str) -> Result<(), StorageError> {
    let invalid = |reason: String| {
        StorageError::config(format!(
            "{what} {value:?} is not a valid http(s) URL: {reason}"
        ))
    };
    let url = url::Url::parse(value).map_err(|error| invalid(error.to_string()))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(invalid("the scheme must be http or https".into()));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(invalid("no host".into()));
    }
    Ok(())
}
