//! Salt reuse: one random salt, and so one derived key, for a bounded window of new ciphertexts.
//!
//! Every format-`2` ciphertext carries its salt, so a reader (this crate or any official SDK)
//! derives the right key whatever the writer chose. Reusing a salt for a window of records lets
//! the writer pay for one PBKDF2 run per window instead of one per record, and lets a reader
//! with a derived-key cache do the same. The IV is fresh and random for every record, always.
//! The window closes after a number of records or an age, whichever comes first, and never
//! spans two secret versions. Raw-key secrets need no window: they involve no derivation.
//!
//! Why the defaults are safe is explained in `docs/security.md` ("Salt reuse").

use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use zeroize::Zeroizing;

use crate::kdf::{KEY_LENGTH, SALT_LENGTH};
use crate::key_cache::BoxedKey;

/// How long [`Crypto`](crate::Crypto) keeps encrypting with one random salt (and so one derived
/// key) before it draws a new one. Set with
/// [`CryptoBuilder::salt_reuse`](crate::CryptoBuilder::salt_reuse).
///
/// A window closes after `max_records` ciphertexts or `max_age`, whichever comes first, and
/// whenever the current secret version changes. The default, 10 000 records or 60 seconds,
/// costs one PBKDF2 run per window instead of one per record; see `docs/security.md` for the
/// bounds behind it. [`SaltReuse::off`] draws a fresh salt (and runs PBKDF2) for every record, as
/// the official SDKs do.
///
/// ```
/// use std::time::Duration;
/// use incountry_crypto::SaltReuse;
///
/// let reuse = SaltReuse::new(1_000, Duration::from_secs(10));
/// assert!(reuse.is_enabled());
/// assert!(!SaltReuse::off().is_enabled());
/// assert_eq!(SaltReuse::default(), SaltReuse::new(10_000, Duration::from_secs(60)));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SaltReuse {
    max_records: u64,
    max_age: Duration,
}

impl SaltReuse {
    /// The default number of records per salt: 10 000.
    pub const DEFAULT_MAX_RECORDS: u64 = 10_000;
    /// The default age at which a salt is retired: 60 seconds.
    pub const DEFAULT_MAX_AGE: Duration = Duration::from_secs(60);

    /// One salt for at most `max_records` ciphertexts written within `max_age` of the first.
    ///
    /// `max_records` of 0 or 1, or a zero `max_age`, means no reuse (like [`SaltReuse::off`]).
    pub const fn new(max_records: u64, max_age: Duration) -> Self {
        Self {
            max_records,
            max_age,
        }
    }

    /// A fresh random salt, and a PBKDF2 run, for every ciphertext.
    pub const fn off() -> Self {
        Self::new(0, Duration::ZERO)
    }

    /// The most ciphertexts written with one salt.
    pub const fn max_records(&self) -> u64 {
        self.max_records
    }

    /// The age after which a salt is no longer used for new ciphertexts.
    pub const fn max_age(&self) -> Duration {
        self.max_age
    }

    /// Whether a salt is ever used for more than one ciphertext.
    pub const fn is_enabled(&self) -> bool {
        self.max_records > 1 && !self.max_age.is_zero()
    }
}

impl Default for SaltReuse {
    /// [`SaltReuse::DEFAULT_MAX_RECORDS`] records or [`SaltReuse::DEFAULT_MAX_AGE`].
    fn default() -> Self {
        Self::new(Self::DEFAULT_MAX_RECORDS, Self::DEFAULT_MAX_AGE)
    }
}

/// The time source of the window's age bound.
pub(crate) type Clock = Arc<dyn Fn() -> Instant + Send + Sync>;

/// The salt and key of the open window, handed to one encryption.
pub(crate) struct WindowKey {
    pub(crate) salt: [u8; SALT_LENGTH],
    pub(crate) key: Zeroizing<[u8; KEY_LENGTH]>,
}

struct Window {
    version: u32,
    salt: [u8; SALT_LENGTH],
    key: BoxedKey,
    used: u64,
    opened: Instant,
}

/// The open salt-reuse window of a `Crypto` (shared by its clones).
pub(crate) struct SaltWindow {
    reuse: SaltReuse,
    clock: Clock,
    open: Mutex<Option<Window>>,
}

impl fmt::Debug for SaltWindow {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.reuse, f)
    }
}

impl SaltWindow {
    pub(crate) fn new(reuse: SaltReuse, clock: Clock) -> Self {
        Self {
            reuse,
            clock,
            open: Mutex::new(None),
        }
    }

    pub(crate) fn reuse(&self) -> SaltReuse {
        self.reuse
    }

    fn lock(&self) -> MutexGuard<'_, Option<Window>> {
        // Updates cannot panic halfway, so a poisoned lock holds valid data.
        self.open.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The salt and key for one more ciphertext of secret `version`, when the open window may
    /// take it; counts the ciphertext against the window.
    pub(crate) fn take(&self, version: u32) -> Option<WindowKey> {
        if !self.reuse.is_enabled() {
            return None;
        }
        let now = (self.clock)();
        let mut open = self.lock();
        let window = open.as_mut()?;
        let fits = window.version == version
            && window.used < self.reuse.max_records
            && now.saturating_duration_since(window.opened) < self.reuse.max_age;
        if !fits {
            // Retire it now: its key is wiped and never used again.
            *open = None;
            return None;
        }
        window.used += 1;
        Some(WindowKey {
            salt: window.salt,
            key: Zeroizing::new(**window.key),
        })
    }

    /// Opens a new window for `version` with `salt` and its derived `key`, already used once.
    pub(crate) fn open(&self, version: u32, salt: [u8; SALT_LENGTH], key: BoxedKey) {
        if !self.reuse.is_enabled() {
            return;
        }
        let opened = (self.clock)();
        *self.lock() = Some(Window {
            version,
            salt,
            key,
            used: 1,
            opened,
        });
    }
}
