//! The encryption engine: the official SDKs' ciphertext formats over a set of secrets.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use aes_gcm::aead::{Aead, KeyInit};
use aes_gcm::{Aes256Gcm, Nonce};
use rand_core::{OsRng, RngCore};
use zeroize::Zeroizing;

use crate::ciphertext::{self, Format, IV_LENGTH};
use crate::custom::CustomCipher;
use crate::error::{CryptoError, SecretsError};
use crate::kdf::{KEY_LENGTH, SALT_LENGTH, derive_key_into};
use crate::key_cache::{BoxedKey, CacheStats, DEFAULT_KEY_CACHE_CAPACITY, KeyCache, boxed_key};
use crate::salt_reuse::{Clock, SaltReuse, SaltWindow};
use crate::secrets::{DEFAULT_VERSION, Secret, SecretKind, SecretsData};

/// The text every custom cipher must round-trip when a [`Crypto`] is built.
const CUSTOM_CIPHER_PROBE: &str = "incountry";

/// The result of [`Crypto::encrypt`]: what a record stores as `body`, `version` and `is_encrypted`.
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Encrypted {
    /// The ciphertext string, e.g. `2:...`.
    pub ciphertext: String,
    /// The version of the secret used (0 when not encrypted).
    pub key_version: u32,
    /// `false` only for the `pt:` format of no-encryption mode.
    pub is_encrypted: bool,
}

impl fmt::Debug for Encrypted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // A `pt:` ciphertext is the plaintext in base64, so it is not shown.
        f.debug_struct("Encrypted")
            .field("ciphertext", &"[redacted]")
            .field("key_version", &self.key_version)
            .field("is_encrypted", &self.is_encrypted)
            .finish()
    }
}

#[derive(Clone)]
struct RegisteredCipher {
    tag: String,
    cipher: Arc<dyn CustomCipher>,
}

/// Encrypts and decrypts strings in the official SDKs' formats.
///
/// Built with secrets ([`Crypto::new`], [`Crypto::builder`]) it encrypts with the current secret
/// (format `2`, or the current custom cipher) and decrypts `2`, `1`, `pt` and registered custom
/// formats with the secret of the record's version. Built with [`Crypto::plaintext`] it writes
/// `pt:` (base64, not encrypted) and reads only `pt:`.
///
/// Costs: a password secret's key is derived with PBKDF2 (milliseconds); AES-GCM costs
/// microseconds, and raw keys (`isKey`) need no derivation. To keep derivations rare, a
/// `Crypto` (and its clones, which share them)
///
/// - reuses one random salt, hence one derived key, for a bounded window of new ciphertexts
///   ([`SaltReuse`], default 10 000 records or 60 s; the IV is fresh for every record), and
/// - keeps the keys of salts it has seen in a bounded derived-key cache (default
///   1024 keys), so decrypting a ciphertext whose salt was seen before costs no derivation.
///
/// Both are set on [`CryptoBuilder`]; [`Crypto::cache_stats`] counts the derivations. A `Crypto`
/// is `Send + Sync`: share one (or clones of one) between threads.
///
/// ```
/// use incountry_crypto::{Crypto, SecretsData};
///
/// let crypto = Crypto::new(SecretsData::from_password("correct horse battery staple")?)?;
/// let sealed = crypto.encrypt("Grüße")?;
/// assert!(sealed.ciphertext.starts_with("2:"));
/// assert_eq!(crypto.decrypt(&sealed.ciphertext, Some(sealed.key_version))?, "Grüße");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone)]
pub struct Crypto {
    secrets: Option<SecretsData>,
    custom: Vec<RegisteredCipher>,
    current_custom: Option<usize>,
    keys: Arc<DerivedKeys>,
}

/// Where a `Crypto` gets derived keys: the salt-reuse window, the cache, or PBKDF2.
struct DerivedKeys {
    cache: KeyCache,
    window: SaltWindow,
    derivations: AtomicU64,
}

impl DerivedKeys {
    fn new(cache_capacity: usize, reuse: SaltReuse, clock: Clock) -> Self {
        Self {
            cache: KeyCache::new(cache_capacity),
            window: SaltWindow::new(reuse, clock),
            derivations: AtomicU64::new(0),
        }
    }

    /// Runs PBKDF2 for `secret` and `salt` (milliseconds), counting the run.
    fn derive(&self, secret: &Secret, salt: &[u8]) -> BoxedKey {
        let mut key = boxed_key();
        derive_key_into(secret.expose_bytes(), salt, &mut key);
        self.derivations.fetch_add(1, Ordering::Relaxed);
        key
    }

    /// The salt and key for a new ciphertext of `secret`.
    fn sealing_key(&self, secret: &Secret) -> ([u8; SALT_LENGTH], Zeroizing<[u8; KEY_LENGTH]>) {
        let mut salt = [0u8; SALT_LENGTH];
        if secret.kind() == SecretKind::Key {
            // No derivation, so no window: a fresh salt (unused by the cipher) as before.
            OsRng.fill_bytes(&mut salt);
            return (salt, raw_key(secret));
        }
        if let Some(window) = self.window.take(secret.version()) {
            return (window.salt, window.key);
        }
        OsRng.fill_bytes(&mut salt);
        let key = self.derive(secret, &salt);
        let copy = Zeroizing::new(**key);
        if self.window.reuse().is_enabled() {
            // The records of this window will likely be read back: spare the reader a derivation.
            self.cache.insert(secret.version(), &salt, &key);
            self.window.open(secret.version(), salt, key);
        }
        (salt, copy)
    }
}

impl fmt::Debug for Crypto {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let custom: Vec<&str> = self.custom.iter().map(|c| c.cipher.version()).collect();
        f.debug_struct("Crypto")
            .field("secrets", &self.secrets)
            .field("custom_ciphers", &custom)
            .field(
                "current_custom_cipher",
                &self.current_custom.map(|i| custom[i]),
            )
            .field("salt_reuse", &self.keys.window)
            .field("derived_key_cache_capacity", &self.keys.cache.capacity())
            .finish()
    }
}

impl Crypto {
    /// Encryption with `secrets` and the built-in format only.
    ///
    /// Fails when a secret is marked for custom encryption, since no custom cipher is configured.
    pub fn new(secrets: SecretsData) -> Result<Self, CryptoError> {
        Self::builder(secrets).build()
    }

    /// Starts a configuration: custom ciphers, derived-key cache, salt reuse.
    pub fn builder(secrets: SecretsData) -> CryptoBuilder {
        CryptoBuilder {
            secrets,
            ciphers: Vec::new(),
            cache_capacity: DEFAULT_KEY_CACHE_CAPACITY,
            salt_reuse: SaltReuse::default(),
            clock: None,
        }
    }

    /// No-encryption mode: writes `pt:` (base64, version 0, not encrypted), reads only `pt:`.
    pub fn plaintext() -> Self {
        Self {
            secrets: None,
            custom: Vec::new(),
            current_custom: None,
            keys: Arc::new(DerivedKeys::new(
                0,
                SaltReuse::off(),
                Arc::new(Instant::now),
            )),
        }
    }

    /// Counters of key derivations and of the derived-key cache since this `Crypto` was built
    /// (shared with its clones).
    ///
    /// ```
    /// use incountry_crypto::{Crypto, SecretsData};
    ///
    /// let crypto = Crypto::new(SecretsData::from_password("a long password")?)?;
    /// let sealed = crypto.encrypt("data")?;
    /// crypto.decrypt(&sealed.ciphertext, None)?;
    /// // One derivation opened the salt-reuse window; reading back hit the cache.
    /// let stats = crypto.cache_stats();
    /// assert_eq!((stats.key_derivations, stats.hits), (1, 1));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn cache_stats(&self) -> CacheStats {
        self.keys
            .cache
            .stats(self.keys.derivations.load(Ordering::Relaxed))
    }

    /// The secrets, or `None` in no-encryption mode.
    pub fn secrets(&self) -> Option<&SecretsData> {
        self.secrets.as_ref()
    }

    /// The version new data is encrypted with (0 in no-encryption mode).
    pub fn current_version(&self) -> u32 {
        self.secrets
            .as_ref()
            .map_or(DEFAULT_VERSION, SecretsData::current_version)
    }

    /// Encrypts `plaintext` with the current secret (and the current custom cipher, if any).
    ///
    /// Fresh random IV for every call. With a password secret the salt is reused within the
    /// [`SaltReuse`] window, so only the first call of a window costs a PBKDF2 run; with
    /// [`SaltReuse::off`] every call draws a fresh salt and costs one.
    pub fn encrypt(&self, plaintext: &str) -> Result<Encrypted, CryptoError> {
        let Some(secrets) = &self.secrets else {
            return Ok(Encrypted {
                ciphertext: format!(
                    "{}:{}",
                    ciphertext::TAG_PLAIN,
                    ciphertext::encode_base64(plaintext.as_bytes())
                ),
                key_version: DEFAULT_VERSION,
                is_encrypted: false,
            });
        };
        let secret = secrets.current();
        let ciphertext = match self.current_custom {
            Some(index) => encrypt_custom(&self.custom[index], secret, plaintext)?,
            None => self.encrypt_v2(secret, plaintext)?,
        };
        Ok(Encrypted {
            ciphertext,
            key_version: secret.version(),
            is_encrypted: true,
        })
    }

    /// Decrypts a ciphertext of any supported format.
    ///
    /// `key_version` is the record's `version`: the secret to use. `None` means the current
    /// version. `pt:` data needs no secret.
    pub fn decrypt(
        &self,
        ciphertext: &str,
        key_version: Option<u32>,
    ) -> Result<String, CryptoError> {
        let (tag, payload) = ciphertext::split(ciphertext)?;
        match ciphertext::parse_tag(tag)? {
            Format::Plain => utf8(ciphertext::decode_base64(payload)?),
            Format::V2 => self.decrypt_sealed(
                self.secret_for(tag, key_version)?,
                &ciphertext::decode_base64(payload)?,
            ),
            Format::V1 => self.decrypt_sealed(
                self.secret_for(tag, key_version)?,
                &ciphertext::decode_hex(payload)?,
            ),
            Format::Custom(version) => {
                let secret = self.secret_for(tag, key_version)?;
                let cipher = self
                    .custom
                    .iter()
                    .find(|c| c.tag == tag)
                    .ok_or(CryptoError::UnknownCustomCipher { version })?;
                decrypt_custom(cipher, secret, payload)
            }
        }
    }

    /// The secret of `key_version` (default: current) for keyed data tagged `tag`.
    fn secret_for(&self, tag: &str, key_version: Option<u32>) -> Result<&Secret, CryptoError> {
        let secrets = self
            .secrets
            .as_ref()
            .ok_or_else(|| CryptoError::NoSecrets {
                format: tag.chars().take(32).collect(),
            })?;
        Ok(secrets.get(key_version.unwrap_or_else(|| secrets.current_version()))?)
    }

    fn encrypt_v2(&self, secret: &Secret, plaintext: &str) -> Result<String, CryptoError> {
        let (salt, key) = self.keys.sealing_key(secret);
        let mut blob = Vec::with_capacity(SALT_LENGTH + IV_LENGTH + plaintext.len() + 16);
        blob.extend_from_slice(&salt);
        let mut iv = [0u8; IV_LENGTH];
        OsRng.fill_bytes(&mut iv);
        blob.extend_from_slice(&iv);
        let cipher = Aes256Gcm::new(key.as_ref().into());
        let sealed = cipher
            .encrypt(Nonce::from_slice(&iv), plaintext.as_bytes())
            .map_err(|_| CryptoError::Config("AES-GCM refused the plaintext length".into()))?;
        blob.extend_from_slice(&sealed);
        Ok(format!(
            "{}:{}",
            ciphertext::TAG_V2,
            ciphertext::encode_base64(&blob)
        ))
    }

    /// Decrypts a `2`/`1` payload; the key comes from the cache when its salt was seen before,
    /// and a derived key enters the cache once it has opened the ciphertext.
    fn decrypt_sealed(&self, secret: &Secret, blob: &[u8]) -> Result<String, CryptoError> {
        let sealed = ciphertext::unpack(blob)?;
        let nonce = Nonce::from_slice(sealed.iv);
        if secret.kind() == SecretKind::Key {
            let cipher = Aes256Gcm::new(raw_key(secret).as_ref().into());
            return open(&cipher, nonce, sealed.ciphertext_and_tag);
        }
        let keys = &self.keys;
        if let Some(key) = keys.cache.get(secret.version(), sealed.salt) {
            return open(
                &Aes256Gcm::new(key.as_ref().into()),
                nonce,
                sealed.ciphertext_and_tag,
            );
        }
        // Custom keys used with the default format are derived like passwords, as the
        // official SDKs do.
        let key = keys.derive(secret, sealed.salt);
        let plain = open(
            &Aes256Gcm::new(key.as_ref().as_ref().into()),
            nonce,
            sealed.ciphertext_and_tag,
        )?;
        // Only keys that opened a ciphertext are kept, so forged salts cannot flush the cache.
        keys.cache.insert(secret.version(), sealed.salt, &key);
        Ok(plain)
    }
}

/// Configures a [`Crypto`]: custom ciphers, the derived-key cache and salt reuse. Created by
/// [`Crypto::builder`].
///
/// ```
/// use std::time::Duration;
/// use incountry_crypto::{Crypto, SaltReuse, SecretsData};
///
/// let crypto = Crypto::builder(SecretsData::from_password("a long password")?)
///     .derived_key_cache(4096)
///     .salt_reuse(SaltReuse::new(1_000, Duration::from_secs(10)))
///     .build()?;
/// assert_eq!(crypto.cache_stats().capacity, 4096);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[must_use]
pub struct CryptoBuilder {
    secrets: SecretsData,
    ciphers: Vec<(Arc<dyn CustomCipher>, bool)>,
    cache_capacity: usize,
    salt_reuse: SaltReuse,
    clock: Option<Clock>,
}

impl fmt::Debug for CryptoBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CryptoBuilder")
            .field("secrets", &self.secrets)
            .field("custom_ciphers", &self.ciphers.len())
            .field("derived_key_cache_capacity", &self.cache_capacity)
            .field("salt_reuse", &self.salt_reuse)
            .finish()
    }
}

impl CryptoBuilder {
    /// The most derived keys kept for decryption, by (secret version, salt); 0 disables the
    /// cache. Default: 1024 keys (about 150 KiB). A hit saves one PBKDF2 run.
    pub fn derived_key_cache(mut self, capacity: usize) -> Self {
        self.cache_capacity = capacity;
        self
    }

    /// How long one random salt (and its derived key) is reused for new ciphertexts of a
    /// password secret. Default: [`SaltReuse::default`] (10 000 records or 60 s);
    /// [`SaltReuse::off`] runs PBKDF2 for every record, as the official SDKs do.
    pub fn salt_reuse(mut self, reuse: SaltReuse) -> Self {
        self.salt_reuse = reuse;
        self
    }

    /// The time source of the salt-reuse window's age bound; default [`Instant::now`].
    ///
    /// Lets tests move time forward without sleeping.
    pub fn clock(mut self, now: impl Fn() -> Instant + Send + Sync + 'static) -> Self {
        self.clock = Some(Arc::new(now));
        self
    }

    fn derived_keys(&mut self) -> Arc<DerivedKeys> {
        let clock: Clock = match self.clock.take() {
            Some(clock) => clock,
            None => Arc::new(Instant::now),
        };
        Arc::new(DerivedKeys::new(
            self.cache_capacity,
            self.salt_reuse,
            clock,
        ))
    }

    /// Registers a custom cipher for decryption of the data it wrote.
    pub fn custom_cipher(mut self, cipher: impl CustomCipher + 'static) -> Self {
        self.ciphers.push((Arc::new(cipher), false));
        self
    }

    /// Registers a custom cipher and makes it encrypt all new data.
    pub fn current_custom_cipher(mut self, cipher: impl CustomCipher + 'static) -> Self {
        self.ciphers.push((Arc::new(cipher), true));
        self
    }

    /// Like [`custom_cipher`](Self::custom_cipher) for a shared cipher; `current` makes it encrypt new data.
    pub fn shared_custom_cipher(mut self, cipher: Arc<dyn CustomCipher>, current: bool) -> Self {
        self.ciphers.push((cipher, current));
        self
    }

    /// Validates the configuration and builds the [`Crypto`].
    ///
    /// Checks: custom keys are present exactly when custom ciphers are; version names are
    /// non-empty and unique; at most one cipher is current; each cipher encrypts and decrypts
    /// the text `incountry` back with at least one of the custom keys (so it runs each cipher
    /// once per custom key).
    pub fn build(mut self) -> Result<Crypto, CryptoError> {
        let keys = self.derived_keys();
        let Self {
            secrets, ciphers, ..
        } = self;
        if ciphers.is_empty() {
            if secrets.has_custom_keys() {
                return Err(SecretsError::UnexpectedCustomKeys.into());
            }
            return Ok(Crypto {
                secrets: Some(secrets),
                custom: Vec::new(),
                current_custom: None,
                keys,
            });
        }
        if !secrets.has_custom_keys() {
            return Err(SecretsError::MissingCustomKeys.into());
        }
        let mut custom = Vec::with_capacity(ciphers.len());
        let mut current_custom = None;
        for (index, (cipher, current)) in ciphers.into_iter().enumerate() {
            let version = cipher.version();
            if version.is_empty() {
                return Err(CryptoError::Config(
                    "a custom cipher has an empty version name".into(),
                ));
            }
            if custom
                .iter()
                .any(|c: &RegisteredCipher| c.cipher.version() == version)
            {
                return Err(CryptoError::Config(format!(
                    "two custom ciphers share the version name {version:?}; names must be unique"
                )));
            }
            if current {
                if current_custom.is_some() {
                    return Err(CryptoError::Config(
                        "more than one custom cipher is marked current; at most one may be".into(),
                    ));
                }
                current_custom = Some(index);
            }
            let registered = RegisteredCipher {
                tag: ciphertext::custom_tag(version),
                cipher,
            };
            probe(&registered, &secrets)?;
            custom.push(registered);
        }
        Ok(Crypto {
            secrets: Some(secrets),
            custom,
            current_custom,
            keys,
        })
    }
}

/// Checks that `cipher` round-trips the probe text with at least one custom key.
fn probe(cipher: &RegisteredCipher, secrets: &SecretsData) -> Result<(), CryptoError> {
    let version = cipher.cipher.version();
    let mut last_error = None;
    for secret in secrets
        .secrets()
        .iter()
        .filter(|s| s.kind() == SecretKind::CustomKey)
    {
        let key = secret.expose_bytes();
        let outcome = cipher
            .cipher
            .encrypt(CUSTOM_CIPHER_PROBE, key, secret.version())
            .map_err(|source| custom_error(version, "encrypt", source))
            .and_then(|sealed| {
                cipher
                    .cipher
                    .decrypt(&sealed, key, secret.version())
                    .map_err(|source| custom_error(version, "decrypt", source))
            });
        match outcome {
            Ok(text) if text == CUSTOM_CIPHER_PROBE => return Ok(()),
            Ok(_) => {
                last_error = Some(CryptoError::Config(format!(
                    "custom cipher {version:?} does not decrypt its own output back to the original text"
                )));
            }
            Err(error) => last_error = Some(error),
        }
    }
    Err(last_error.unwrap_or_else(|| SecretsError::MissingCustomKeys.into()))
}

fn custom_error(
    version: &str,
    operation: &'static str,
    source: crate::error::CustomCipherError,
) -> CryptoError {
    CryptoError::CustomCipher {
        version: version.to_owned(),
        operation,
        source,
    }
}

/// The raw AES key of an `isKey` secret.
fn raw_key(secret: &Secret) -> Zeroizing<[u8; KEY_LENGTH]> {
    let mut key = Zeroizing::new([0u8; KEY_LENGTH]);
    // `SecretsData` validates raw keys to 32 bytes; a shorter one would fail to decrypt.
    let bytes = secret.expose_bytes();
    let len = bytes.len().min(KEY_LENGTH);
    key[..len].copy_from_slice(&bytes[..len]);
    key
}

fn open(
    cipher: &Aes256Gcm,
    nonce: &Nonce<aes_gcm::aead::consts::U12>,
    sealed: &[u8],
) -> Result<String, CryptoError> {
    let plain = cipher
        .decrypt(nonce, sealed)
        .map_err(|_| CryptoError::Decryption)?;
    utf8(plain)
}

fn encrypt_custom(
    cipher: &RegisteredCipher,
    secret: &Secret,
    plaintext: &str,
) -> Result<String, CryptoError> {
    if secret.kind() != SecretKind::CustomKey {
        return Err(SecretsError::NotForCustomEncryption {
            version: secret.version(),
        }
        .into());
    }
    let output = cipher
        .cipher
        .encrypt(plaintext, secret.expose_bytes(), secret.version())
        .map_err(|source| custom_error(cipher.cipher.version(), "encrypt", source))?;
    Ok(format!(
        "{}:{}",
        cipher.tag,
        ciphertext::encode_base64(output.as_bytes())
    ))
}

fn decrypt_custom(
    cipher: &RegisteredCipher,
    secret: &Secret,
    payload: &str,
) -> Result<String, CryptoError> {
    if secret.kind() != SecretKind::CustomKey {
        return Err(SecretsError::NotForCustomEncryption {
            version: secret.version(),
        }
        .into());
    }
    let input = utf8(ciphertext::decode_base64(payload)?)?;
    cipher
        .cipher
        .decrypt(&input, secret.expose_bytes(), secret.version())
        .map_err(|source| custom_error(cipher.cipher.version(), "decrypt", source))
}

fn utf8(bytes: Vec<u8>) -> Result<String, CryptoError> {
    String::from_utf8(bytes).map_err(|_| CryptoError::NotUtf8)
}
