//! The derived-key cache: PBKDF2 results by (secret version, salt), so that decrypting a
//! ciphertext whose salt was seen before costs no key derivation.
//!
//! A [`Crypto`](crate::Crypto)'s secrets never change, so within one `Crypto` the pair
//! (version, salt) names exactly one derived key. The cache is bounded (least recently used
//! entry evicted), shared by a `Crypto` and its clones, and safe to use from many threads; no
//! lock is held while a key is derived. Keys live in their own zeroizing heap buffers, wiped when
//! evicted or when the cache is dropped, and never appear in `Debug` output.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};

use zeroize::Zeroizing;

use crate::kdf::{KEY_LENGTH, SALT_LENGTH};

/// A derived key in its own heap buffer: moving the box never copies the key, and dropping it
/// wipes the key where it lies.
pub(crate) type BoxedKey = Box<Zeroizing<[u8; KEY_LENGTH]>>;

/// A fresh all-zero key buffer to derive into.
pub(crate) fn boxed_key() -> BoxedKey {
    Box::new(Zeroizing::new([0u8; KEY_LENGTH]))
}

/// Default capacity of the derived-key cache, in keys (about 150 KiB when full).
pub const DEFAULT_KEY_CACHE_CAPACITY: usize = 1024;

/// Counters of a [`Crypto`](crate::Crypto)'s key derivations and derived-key cache, from
/// [`Crypto::cache_stats`](crate::Crypto::cache_stats).
///
/// Counts since the `Crypto` was built, shared with its clones. Useful to check that a workload
/// is served from the cache: `key_derivations` counts every PBKDF2 run (each costs milliseconds).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct CacheStats {
    /// PBKDF2 runs, for encryption and decryption together.
    pub key_derivations: u64,
    /// Decryptions whose key came from the cache.
    pub hits: u64,
    /// Decryptions that looked in the cache and had to derive the key.
    pub misses: u64,
    /// Keys held now.
    pub entries: usize,
    /// The most keys the cache holds (0: disabled).
    pub capacity: usize,
}

#[derive(Clone, Copy, PartialEq, Eq, Hash)]
struct CacheKey {
    version: u32,
    salt: [u8; SALT_LENGTH],
}

struct Entry {
    key: BoxedKey,
    last_used: u64,
}

#[derive(Default)]
struct Entries {
    map: HashMap<CacheKey, Entry>,
    /// A logical clock: bumped on every use, so the smallest `last_used` is the LRU entry.
    tick: u64,
}

/// A bounded, thread-safe map of derived keys by (secret version, salt).
pub(crate) struct KeyCache {
    capacity: usize,
    entries: Mutex<Entries>,
    hits: AtomicU64,
    misses: AtomicU64,
}

impl KeyCache {
    /// A cache of at most `capacity` keys; 0 disables it.
    pub(crate) fn new(capacity: usize) -> Self {
        Self {
            capacity,
            entries: Mutex::new(Entries::default()),
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
        }
    }

    pub(crate) fn capacity(&self) -> usize {
        self.capacity
    }

    fn lock(&self) -> MutexGuard<'_, Entries> {
        // Every update leaves the map consistent before anything can panic, so a poisoned
        // lock holds valid data.
        self.entries.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// A copy of the key for `version` and `salt`, when cached; counts a hit or a miss.
    pub(crate) fn get(&self, version: u32, salt: &[u8]) -> Option<Zeroizing<[u8; KEY_LENGTH]>> {
        if self.capacity == 0 {
            return None;
        }
        let salt: [u8; SALT_LENGTH] = salt.try_into().ok()?;
        let mut entries = self.lock();
        entries.tick += 1;
        let tick = entries.tick;
        let found = entries
            .map
            .get_mut(&CacheKey { version, salt })
            .map(|entry| {
                entry.last_used = tick;
                Zeroizing::new(**entry.key)
            });
        drop(entries);
        let counter = if found.is_some() {
            &self.hits
        } else {
            &self.misses
        };
        counter.fetch_add(1, Ordering::Relaxed);
        found
    }

    /// Stores a copy of `key` for `version` and `salt`, evicting the least recently used key
    /// when full.
    ///
    /// Eviction scans the entries (microseconds for the default capacity), which only happens
    /// after a key derivation that took milliseconds.
    pub(crate) fn insert(&self, version: u32, salt: &[u8], key: &[u8; KEY_LENGTH]) {
        if self.capacity == 0 {
            return;
        }
        let Ok(salt) = <[u8; SALT_LENGTH]>::try_from(salt) else {
            return;
        };
        let mut boxed = boxed_key();
        boxed.copy_from_slice(key);
        let cache_key = CacheKey { version, salt };
        let mut entries = self.lock();
        entries.tick += 1;
        let last_used = entries.tick;
        if !entries.map.contains_key(&cache_key) && entries.map.len() >= self.capacity {
            let oldest = entries
                .map
                .iter()
                .min_by_key(|(_, entry)| entry.last_used)
                .map(|(k, _)| *k);
            if let Some(oldest) = oldest {
                entries.map.remove(&oldest);
            }
        }
        entries.map.insert(
            cache_key,
            Entry {
                key: boxed,
                last_used,
            },
        );
    }

    /// The cache's counters, with `key_derivations` filled in by the caller.
    pub(crate) fn stats(&self, key_derivations: u64) -> CacheStats {
        CacheStats {
            key_derivations,
            hits: self.hits.load(Ordering::Relaxed),
            misses: self.misses.load(Ordering::Relaxed),
            entries: self.lock().map.len(),
            capacity: self.capacity,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn salt(n: u8) -> [u8; SALT_LENGTH] {
        [n; SALT_LENGTH]
    }

    #[test]
    fn the_least_recently_used_key_is_evicted() {
        let cache = KeyCache::new(2);
        cache.insert(1, &salt(1), &[1; KEY_LENGTH]);
        cache.insert(1, &salt(2), &[2; KEY_LENGTH]);
        // Using salt 1 makes salt 2 the least recently used.
        assert_eq!(cache.get(1, &salt(1)).map(|k| k[0]), Some(1));
        cache.insert(1, &salt(3), &[3; KEY_LENGTH]);
        assert!(cache.get(1, &salt(2)).is_none());
        assert_eq!(cache.get(1, &salt(1)).map(|k| k[0]), Some(1));
        assert_eq!(cache.get(1, &salt(3)).map(|k| k[0]), Some(3));
        assert_eq!(cache.stats(0).entries, 2);
    }

    #[test]
    fn versions_do_not_share_keys() {
        let cache = KeyCache::new(4);
        cache.insert(1, &salt(1), &[1; KEY_LENGTH]);
        assert!(cache.get(2, &salt(1)).is_none());
    }

    #[test]
    fn reinserting_a_cached_key_evicts_nothing() {
        let cache = KeyCache::new(2);
        cache.insert(1, &salt(1), &[1; KEY_LENGTH]);
        cache.insert(1, &salt(2), &[2; KEY_LENGTH]);
        cache.insert(1, &salt(2), &[2; KEY_LENGTH]);
        assert!(cache.get(1, &salt(1)).is_some());
        assert!(cache.get(1, &salt(2)).is_some());
    }

    #[test]
    fn capacity_zero_stores_nothing_and_counts_nothing() {
        let cache = KeyCache::new(0);
        cache.insert(1, &salt(1), &[1; KEY_LENGTH]);
        assert!(cache.get(1, &salt(1)).is_none());
        assert_eq!(cache.stats(0), CacheStats::default());
    }
}
