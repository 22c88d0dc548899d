//! The error type of the storage facade, mapping one to one onto the official SDKs' hierarchy.

use http::{Method, StatusCode};
use incountry_auth::AuthError;
use incountry_crypto::{CryptoError, SecretsError};
use incountry_model::ModelError;
use incountry_transport::TransportError;

/// A boxed error from user code (a secrets accessor, a reader) or a lower layer.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// Which branch of the official SDKs' exception hierarchy an error belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// Client error: invalid configuration.
    Config,
    /// Client error: the secrets accessor failed.
    SecretsProvider,
    /// Client error: the secrets are invalid.
    SecretsValidation,
    /// Client error: invalid input to a call.
    InputValidation,
    /// Server error: the server answered with an error status.
    Server,
    /// Server error: no (complete) response was received.
    Network,
    /// Server error: a success response does not have the expected shape.
    ResponseValidation,
    /// Server error: authentication failed.
    Authentication,
    /// Encryption or decryption failed.
    Crypto,
}

/// Any failure of the storage facade.
///
/// Messages never contain plaintext, secrets or tokens. [`StorageError::kind`] tells the
/// branch of the official hierarchy; [`StorageError::is_client`] and
/// [`StorageError::is_server`] the top level.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StorageError {
    /// The storage configuration is invalid; the message says what to fix.
    #[error("invalid storage configuration: {message}")]
    Config {
        /// What is wrong and how to fix it.
        message: String,
        /// The underlying failure, when there is one.
        #[source]
        source: Option<BoxError>,
    },
    /// The secrets accessor returned an error.
    #[error("the secrets accessor failed: {message}")]
    SecretsProvider {
        /// What failed.
        message: String,
        /// The accessor's error.
        #[source]
        source: Option<BoxError>,
    },
    /// The secrets returned by the accessor are invalid.
    #[error("secrets validation failed: {source}")]
    SecretsValidation {
        /// What is wrong with the secrets.
        #[source]
        source: SecretsError,
    },
    /// Input given to a call breaks a rule; nothing was sent.
    #[error("invalid {field}: {rule}")]
    Validation {
        /// The member at fault, e.g. `record_key`, `key3`, `country`, `headers`.
        field: String,
        /// The rule it breaks.
        rule: String,
        /// The lower layer's error, when there is one.
        #[source]
        source: Option<BoxError>,
    },
    /// The server answered with an error status.
    #[error("{method} {url} failed with HTTP {status}: {body}")]
    Server {
        /// The response status.
        status: StatusCode,
        /// The request method.
        method: Method,
        /// The request URL.
        url: String,
        /// The start of the response body.
        body: String,
    },
    /// The request (to the API or to the token endpoint) got no (complete) response:
    /// connect failure, timeout, reset.
    #[error("network error: {source}")]
    Network {
        /// The request method.
        method: Method,
        /// The request URL.
        url: String,
        /// The transport failure.
        #[source]
        source: TransportError,
    },
    /// A success response does not have the expected shape.
    #[error("response validation failed for {method} {url}: {message}")]
    ResponseValidation {
        /// The request method.
        method: Method,
        /// The request URL.
        url: String,
        /// What was wrong, e.g. `Key mismatch: body`.
        message: String,
        /// The lower layer's error, when there is one.
        #[source]
        source: Option<BoxError>,
    },
    /// Authentication failed: the token endpoint refused or gave an unusable answer, or the
    /// API refused the token. (A token endpoint that cannot be reached is a
    /// [`StorageError::Network`].)
    #[error("authentication failed: {source}")]
    Authentication {
        /// The auth crate's error (status, URL and body excerpt).
        #[source]
        source: AuthError,
    },
    /// Encryption or decryption failed.
    #[error("crypto error: {source}")]
    Crypto {
        /// The crypto crate's error.
        #[source]
        source: CryptoError,
    },
}

impl StorageError {
    /// The branch of the official hierarchy this error belongs to.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Self::Config { .. } => ErrorKind::Config,
            Self::SecretsProvider { .. } => ErrorKind::SecretsProvider,
            Self::SecretsValidation { .. } => ErrorKind::SecretsValidation,
            Self::Validation { .. } => ErrorKind::InputValidation,
            Self::Server { .. } => ErrorKind::Server,
            Self::Network { .. } => ErrorKind::Network,
            Self::ResponseValidation { .. } => ErrorKind::ResponseValidation,
            Self::Authentication { .. } => ErrorKind::Authentication,
            Self::Crypto { .. } => ErrorKind::Crypto,
        }
    }

    /// Whether this is a client error (configuration, secrets, input).
    pub fn is_client(&self) -> bool {
        matches!(
            self.kind(),
            ErrorKind::Config
                | ErrorKind::SecretsProvider
                | ErrorKind::SecretsValidation
                | ErrorKind::InputValidation
        )
    }

    /// Whether this is a server error (status, network, response validation, authentication).
    pub fn is_server(&self) -> bool {
        matches!(
            self.kind(),
            ErrorKind::Server
                | ErrorKind::Network
                | ErrorKind::ResponseValidation
                | ErrorKind::Authentication
        )
    }

    /// The HTTP status of a server error (a `401` for a refused token).
    pub fn status(&self) -> Option<StatusCode> {
        match self {
            Self::Server { status, .. } => Some(*status),
            Self::Authentication { source } => match source {
                AuthError::TokenEndpointStatus { status, .. } => Some(*status),
                AuthError::Unauthorized { .. } => Some(StatusCode::UNAUTHORIZED),
                _ => None,
            },
            _ => None,
        }
    }

    /// The method of the request the error is about.
    pub fn method(&self) -> Option<&Method> {
        match self {
            Self::Server { method, .. }
            | Self::Network { method, .. }
            | Self::ResponseValidation { method, .. } => Some(method),
            Self::Authentication {
                source: AuthError::Unauthorized { method, .. },
            } => Some(method),
            _ => None,
        }
    }

    /// The URL of the request the error is about.
    pub fn url(&self) -> Option<&str> {
        match self {
            Self::Server { url, .. }
            | Self::Network { url, .. }
            | Self::ResponseValidation { url, .. } => Some(url),
            Self::Authentication {
                source:
                    AuthError::Unauthorized { url, .. }
                    | AuthError::TokenEndpointStatus { url, .. }
                    | AuthError::TokenResponse { url, .. }
                    | AuthError::TokenRequest { url, .. },
            } => Some(url),
            _ => None,
        }
    }

    /// The field an input-validation error is about.
    pub fn field(&self) -> Option<&str> {
        match self {
            Self::Validation { field, .. } => Some(field),
            _ => None,
        }
    }

    pub(crate) fn config(message: impl Into<String>) -> Self {
        Self::Config {
            message: message.into(),
            source: None,
        }
    }

    pub(crate) fn validation(field: impl Into<String>, rule: impl Into<String>) -> Self {
        Self::Validation {
            field: field.into(),
            rule: rule.into(),
            source: None,
        }
    }

    /// Maps a model error raised by input (before sending).
    pub(crate) fn from_input(error: ModelError) -> Self {
        match error {
            ModelError::Validation { field, rule } => Self::Validation {
                field,
                rule,
                source: None,
            },
            ModelError::Encrypt(source) | ModelError::Decrypt(source) => Self::from_crypto(source),
            other => Self::Validation {
                field: other.field().unwrap_or("record").to_owned(),
                rule: other.to_string(),
                source: Some(Box::new(other)),
            },
        }
    }

    /// Maps a model error raised by a response (after receiving).
    pub(crate) fn from_response(error: ModelError, method: &Method, url: &str) -> Self {
        match error {
            ModelError::Encrypt(source) | ModelError::Decrypt(source) => Self::from_crypto(source),
            other => Self::ResponseValidation {
                method: method.clone(),
                url: url.to_owned(),
                message: other.to_string(),
                source: Some(Box::new(other)),
            },
        }
    }

    pub(crate) fn from_crypto(error: CryptoError) -> Self {
        match error {
            CryptoError::Secrets(source) if !matches!(source, SecretsError::NotFound { .. }) => {
                Self::SecretsValidation { source }
            }
            source => Self::Crypto { source },
        }
    }

    pub(crate) fn from_transport(error: TransportError) -> Self {
        match error {
            TransportError::Status {
                status,
                method,
                url,
                body,
            } => Self::Server {
                status,
                method,
                url,
                body,
            },
            TransportError::Network {
                kind,
                method,
                url,
                source,
            } => Self::Network {
                method: method.clone(),
                url: url.clone(),
                source: TransportError::Network {
                    kind,
                    method,
                    url,
                    source,
                },
            },
            TransportError::ResponseValidation {
                ref method,
                ref url,
                ref message,
            } => Self::ResponseValidation {
                method: method.clone(),
                url: url.clone(),
                message: message.clone(),
                source: Some(Box::new(error)),
            },
            TransportError::BodyTooLarge {
                ref method,
                ref url,
                limit,
            } => Self::ResponseValidation {
                method: method.clone(),
                url: url.clone(),
                message: format!("the response body exceeds {limit} bytes"),
                source: Some(Box::new(error)),
            },
            TransportError::InvalidCountry { .. } => Self::Validation {
                field: "country".into(),
                rule: "must be two ASCII letters".into(),
                source: Some(Box::new(error)),
            },
            TransportError::Header(_) => Self::Validation {
                field: "headers".into(),
                rule: error.to_string(),
                source: Some(Box::new(error)),
            },
            other => Self::Config {
                message: other.to_string(),
                source: Some(Box::new(other)),
            },
        }
    }

    pub(crate) fn from_auth(error: AuthError) -> Self {
        match error {
            AuthError::Transport(inner) => Self::from_transport(inner),
            // An unreachable (or hung) token endpoint is a network failure like an unreachable
            // API: no answer came back, the credentials were never judged.
            AuthError::TokenRequest {
                url,
                source: source @ TransportError::Network { .. },
            } => Self::Network {
                method: Method::POST,
                url,
                source,
            },
            AuthError::Config(ref message) => Self::Config {
                message: message.clone(),
                source: Some(Box::new(error)),
            },
            source => Self::Authentication { source },
        }
    }
}
