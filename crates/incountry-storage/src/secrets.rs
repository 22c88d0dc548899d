//! Where the storage gets its secrets: an async accessor, and the cache of the crypto built
//! from the last secrets it returned.

use std::fmt;
use std::future::Future;
use std::sync::Arc;

use async_trait::async_trait;
use incountry_crypto::{CacheStats, Crypto, CustomCipher, SaltReuse, SecretsData};
use incountry_model::RecordCodec;

use crate::error::{BoxError, StorageError};

/// Gives the current secrets; asked before every call that encrypts or decrypts, so secrets
/// can be rotated (or fetched from a vault or KMS) without rebuilding the storage.
///
/// Implemented by [`SecretsData`] (static secrets) and by closures returning a future of
/// `Result<SecretsData, E>`:
///
/// ```
/// use incountry_crypto::SecretsData;
/// use incountry_storage::SecretsAccessor;
///
/// fn takes(_: impl SecretsAccessor) {}
/// takes(SecretsData::from_password("a long password")?);
/// takes(|| async { SecretsData::from_password("from a vault") });
/// # Ok::<(), incountry_crypto::SecretsError>(())
/// ```
#[async_trait]
pub trait SecretsAccessor: Send + Sync {
    /// The current secrets.
    async fn secrets(&self) -> Result<SecretsData, BoxError>;
}

#[async_trait]
impl SecretsAccessor for SecretsData {
    async fn secrets(&self) -> Result<SecretsData, BoxError> {
        Ok(self.clone())
    }
}

#[async_trait]
impl<F, Fut, E> SecretsAccessor for F
where
    F: Fn() -> Fut + Send + Sync,
    Fut: Future<Output = Result<SecretsData, E>> + Send,
    E: Into<BoxError>,
{
    async fn secrets(&self) -> Result<SecretsData, BoxError> {
        (self)().await.map_err(Into::into)
    }
}

/// The settings of the [`Crypto`] a [`Keyring`] builds for each set of secrets.
#[derive(Debug, Clone, Copy)]
pub(crate) struct CryptoOptions {
    pub(crate) salt_reuse: SaltReuse,
    pub(crate) derived_key_cache: usize,
}

/// The secrets accessor, the custom ciphers and the codec built from the last secrets.
pub(crate) struct Keyring {
    environment_id: String,
    normalize_keys: bool,
    hash_search_keys: bool,
    accessor: Option<Arc<dyn SecretsAccessor>>,
    ciphers: Vec<(Arc<dyn CustomCipher>, bool)>,
    options: CryptoOptions,
    cache: tokio::sync::Mutex<Option<(SecretsData, Arc<RecordCodec>)>>,
}

impl fmt::Debug for Keyring {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Keyring")
            .field("encrypt", &self.accessor.is_some())
            .field("custom_ciphers", &self.ciphers.len())
            .field("crypto", &self.options)
            .finish_non_exhaustive()
    }
}

impl Keyring {
    pub(crate) fn new(
        environment_id: String,
        normalize_keys: bool,
        hash_search_keys: bool,
        accessor: Option<Arc<dyn SecretsAccessor>>,
        ciphers: Vec<(Arc<dyn CustomCipher>, bool)>,
        options: CryptoOptions,
    ) -> Self {
        Self {
            environment_id,
            normalize_keys,
            hash_search_keys,
            accessor,
            ciphers,
            options,
            cache: tokio::sync::Mutex::new(None),
        }
    }

    pub(crate) fn encrypts(&self) -> bool {
        self.accessor.is_some()
    }

    /// The key-derivation counters of the crypto built from the last secrets, or `None`
    /// when encryption is off.
    pub(crate) async fn crypto_stats(&self) -> Option<CacheStats> {
        self.accessor.as_ref()?;
        let cache = self.cache.lock().await;
        cache
            .as_ref()
            .map(|(_, codec)| codec.crypto().cache_stats())
    }

    fn codec_for(&self, crypto: Crypto) -> RecordCodec {
        RecordCodec::new(self.environment_id.clone(), crypto)
            .normalize_keys(self.normalize_keys)
            .hash_search_keys(self.hash_search_keys)
    }

    /// A codec without secrets, for hashing keys (which needs no secret).
    pub(crate) fn hashing_codec(&self) -> RecordCodec {
        self.codec_for(Crypto::plaintext())
    }

    /// The codec for the current secrets: asks the accessor, and rebuilds the crypto (running
    /// the custom ciphers' round trip) only when the secrets changed.
    pub(crate) async fn codec(&self) -> Result<Arc<RecordCodec>, StorageError> {
        let Some(accessor) = &self.accessor else {
            return Ok(Arc::new(self.codec_for(Crypto::plaintext())));
        };
        let secrets = accessor
            .secrets()
            .await
            .map_err(|source| StorageError::SecretsProvider {
                message: source.to_string(),
                source: Some(source),
            })?;
        let mut cache = self.cache.lock().await;
        if let Some((cached, codec)) = cache.as_ref() {
            if same_secrets(cached, &secrets) {
                return Ok(codec.clone());
            }
        }
        let mut builder = Crypto::builder(secrets.clone())
            .salt_reuse(self.options.salt_reuse)
            .derived_key_cache(self.options.derived_key_cache);
        for (cipher, current) in &self.ciphers {
            builder = builder.shared_custom_cipher(cipher.clone(), *current);
        }
        let crypto = builder.build().map_err(|error| match error {
            incountry_crypto::CryptoError::Secrets(source) => {
                StorageError::SecretsValidation { source }
            }
            other => StorageError::Config {
                message: other.to_string(),
                source: Some(Box::new(other)),
            },
        })?;
        let codec = Arc::new(self.codec_for(crypto));
        *cache = Some((secrets, codec.clone()));
        Ok(codec)
    }
}

fn same_secrets(a: &SecretsData, b: &SecretsData) -> bool {
    a.current_version() == b.current_version()
        && a.secrets().len() == b.secrets().len()
        && a.secrets().iter().zip(b.secrets()).all(|(x, y)| {
            x.version() == y.version()
                && x.kind() == y.kind()
                && x.expose_bytes() == y.expose_bytes()
        })
}
