//! Derived keys: salt reuse on encryption and the derived-key cache on decryption.
//!
//! Ciphertexts are taken apart (`2:` + base64 of salt ‖ IV ‖ ciphertext ‖ tag) to see which salt
//! and IV each one carries; [`Crypto::cache_stats`] counts the PBKDF2 runs. Time is a manual
//! clock, never a sleep.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use incountry_crypto::{
    CacheStats, Crypto, CryptoError, IV_LENGTH, SALT_LENGTH, SaltReuse, Secret, SecretsData,
    derive_key,
};

const PASSWORD: &str = "derived-keys test password";

fn password_secrets() -> SecretsData {
    SecretsData::from_password(PASSWORD).unwrap()
}

/// Passwords at versions 1 and 2, `current` the current one.
fn two_passwords(current: u32) -> SecretsData {
    SecretsData::new(
        current,
        vec![
            Secret::password(1, "first password"),
            Secret::password(2, "second password"),
        ],
    )
    .unwrap()
}

/// A clock that moves only when told to.
#[derive(Clone)]
struct ManualClock(Arc<Mutex<Instant>>);

impl ManualClock {
    fn new() -> Self {
        Self(Arc::new(Mutex::new(Instant::now())))
    }
    fn now(&self) -> Instant {
        *self.0.lock().unwrap()
    }
    fn advance(&self, by: Duration) {
        *self.0.lock().unwrap() += by;
    }
}

fn writer(secrets: SecretsData, reuse: SaltReuse, clock: &ManualClock) -> Crypto {
    let clock = clock.clone();
    Crypto::builder(secrets)
        .salt_reuse(reuse)
        .clock(move || clock.now())
        .build()
        .unwrap()
}

/// The salt and IV of a format-2 ciphertext.
fn salt_and_iv(ciphertext: &str) -> (Vec<u8>, Vec<u8>) {
    let payload = STANDARD
        .decode(ciphertext.strip_prefix("2:").unwrap())
        .unwrap();
    (
        payload[..SALT_LENGTH].to_vec(),
        payload[SALT_LENGTH..SALT_LENGTH + IV_LENGTH].to_vec(),
    )
}

fn encrypt_n(crypto: &Crypto, n: usize) -> Vec<String> {
    (0..n)
        .map(|i| crypto.encrypt(&format!("record {i}")).unwrap().ciphertext)
        .collect()
}

fn salts(ciphertexts: &[String]) -> Vec<Vec<u8>> {
    ciphertexts.iter().map(|c| salt_and_iv(c).0).collect()
}

fn distinct<T: std::hash::Hash + Eq>(items: impl IntoIterator<Item = T>) -> usize {
    items.into_iter().collect::<HashSet<_>>().len()
}

// ---------------------------------------------------------------------------------------------
// Salt reuse

#[test]
fn within_a_window_ciphertexts_share_the_salt_but_never_the_iv() {
    let clock = ManualClock::new();
    let crypto = writer(
        password_secrets(),
        SaltReuse::new(5, Duration::from_secs(60)),
        &clock,
    );
    let sealed = encrypt_n(&crypto, 5);
    assert_eq!(distinct(salts(&sealed)), 1, "one salt for the window");
    assert_eq!(
        distinct(sealed.iter().map(|c| salt_and_iv(c).1)),
        5,
        "a fresh IV for every record"
    );
    assert_eq!(crypto.cache_stats().key_derivations, 1);
    // Every record reads back, by this Crypto and by one that shares nothing with it.
    let reader = Crypto::new(password_secrets()).unwrap();
    for (i, ciphertext) in sealed.iter().enumerate() {
        assert_eq!(
            crypto.decrypt(ciphertext, None).unwrap(),
            format!("record {i}")
        );
        assert_eq!(
            reader.decrypt(ciphertext, None).unwrap(),
            format!("record {i}")
        );
    }
}

#[test]
fn the_record_bound_opens_a_new_salt() {
    let clock = ManualClock::new();
    let crypto = writer(
        password_secrets(),
        SaltReuse::new(3, Duration::from_secs(60)),
        &clock,
    );
    let salts = salts(&encrypt_n(&crypto, 7));
    assert_eq!(salts[0], salts[1]);
    assert_eq!(salts[1], salts[2]);
    assert_ne!(salts[2], salts[3], "the fourth record starts a new window");
    assert_eq!(salts[3], salts[5]);
    assert_ne!(salts[5], salts[6]);
    assert_eq!(distinct(salts), 3);
    assert_eq!(crypto.cache_stats().key_derivations, 3);
}

#[test]
fn the_age_bound_opens_a_new_salt() {
    let clock = ManualClock::new();
    let crypto = writer(
        password_secrets(),
        SaltReuse::new(1_000, Duration::from_secs(60)),
        &clock,
    );
    let first = crypto.encrypt("a").unwrap().ciphertext;
    clock.advance(Duration::from_millis(59_999));
    let still_young = crypto.encrypt("b").unwrap().ciphertext;
    clock.advance(Duration::from_millis(1));
    let too_old = crypto.encrypt("c").unwrap().ciphertext;
    let next = crypto.encrypt("d").unwrap().ciphertext;
    assert_eq!(salt_and_iv(&first).0, salt_and_iv(&still_young).0);
    assert_ne!(salt_and_iv(&still_young).0, salt_and_iv(&too_old).0);
    assert_eq!(salt_and_iv(&too_old).0, salt_and_iv(&next).0);
}

#[test]
fn off_draws_a_fresh_salt_and_derives_for_every_record() {
    let crypto = Crypto::builder(password_secrets())
        .salt_reuse(SaltReuse::off())
        .build()
        .unwrap();
    let sealed = encrypt_n(&crypto, 4);
    assert_eq!(distinct(salts(&sealed)), 4);
    assert_eq!(crypto.cache_stats().key_derivations, 4);
    for (i, ciphertext) in sealed.iter().enumerate() {
        assert_eq!(
            crypto.decrypt(ciphertext, None).unwrap(),
            format!("record {i}")
        );
    }
}

#[test]
fn a_bound_of_one_record_or_zero_age_is_off() {
    for reuse in [
        SaltReuse::new(1, Duration::from_secs(60)),
        SaltReuse::new(0, Duration::from_secs(60)),
        SaltReuse::new(100, Duration::ZERO),
    ] {
        assert!(!reuse.is_enabled(), "{reuse:?}");
        let crypto = Crypto::builder(password_secrets())
            .salt_reuse(reuse)
            .build()
            .unwrap();
        assert_eq!(distinct(salts(&encrypt_n(&crypto, 3))), 3, "{reuse:?}");
    }
}

#[test]
fn salt_reuse_is_on_by_default() {
    assert_eq!(
        SaltReuse::default(),
        SaltReuse::new(10_000, Duration::from_secs(60))
    );
    let crypto = Crypto::new(password_secrets()).unwrap();
    assert_eq!(distinct(salts(&encrypt_n(&crypto, 3))), 1);
}

#[test]
fn a_new_current_version_never_continues_the_old_window() {
    let clock = ManualClock::new();
    let reuse = SaltReuse::new(100, Duration::from_secs(60));
    let old = writer(two_passwords(1), reuse, &clock);
    let new = writer(two_passwords(2), reuse, &clock);
    let v1 = old.encrypt("under version 1").unwrap();
    let v2 = new.encrypt("under version 2").unwrap();
    assert_eq!((v1.key_version, v2.key_version), (1, 2));
    assert_ne!(salt_and_iv(&v1.ciphertext).0, salt_and_iv(&v2.ciphertext).0);
    // Clones share the window, and the window stays with its version.
    let v1_again = old.clone().encrypt("again").unwrap();
    assert_eq!(
        salt_and_iv(&v1.ciphertext).0,
        salt_and_iv(&v1_again.ciphertext).0
    );
    assert_eq!(
        new.decrypt(&v1.ciphertext, Some(1)).unwrap(),
        "under version 1"
    );
    assert_eq!(
        old.decrypt(&v2.ciphertext, Some(2)).unwrap(),
        "under version 2"
    );
}

#[test]
fn raw_keys_need_no_window_and_no_derivation() {
    let crypto = Crypto::new(SecretsData::new(3, vec![Secret::key(3, [7; 32])]).unwrap()).unwrap();
    let sealed = encrypt_n(&crypto, 3);
    assert_eq!(distinct(salts(&sealed)), 3);
    assert_eq!(crypto.decrypt(&sealed[0], None).unwrap(), "record 0");
    assert_eq!(crypto.cache_stats().key_derivations, 0);
}

#[test]
fn concurrent_writers_never_exceed_the_record_bound() {
    let clock = ManualClock::new();
    let crypto = writer(
        password_secrets(),
        SaltReuse::new(10, Duration::from_secs(60)),
        &clock,
    );
    let threads: Vec<_> = (0..4)
        .map(|t| {
            let crypto = crypto.clone();
            std::thread::spawn(move || {
                (0..25)
                    .map(|i| {
                        let text = format!("thread {t} record {i}");
                        (crypto.encrypt(&text).unwrap().ciphertext, text)
                    })
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    let sealed: Vec<(String, String)> = threads
        .into_iter()
        .flat_map(|t| t.join().unwrap())
        .collect();
    let mut per_salt: HashMap<Vec<u8>, usize> = HashMap::new();
    for (ciphertext, _) in &sealed {
        *per_salt.entry(salt_and_iv(ciphertext).0).or_default() += 1;
    }
    assert!(per_salt.values().all(|&n| n <= 10), "{per_salt:?}");
    assert_eq!(distinct(sealed.iter().map(|(c, _)| salt_and_iv(c).1)), 100);
    for (ciphertext, text) in &sealed {
        assert_eq!(&crypto.decrypt(ciphertext, None).unwrap(), text);
    }
}

// ---------------------------------------------------------------------------------------------
// Derived-key cache

fn reader(capacity: usize) -> Crypto {
    Crypto::builder(password_secrets())
        .derived_key_cache(capacity)
        .build()
        .unwrap()
}

/// Ciphertexts with distinct salts, from a writer that shares nothing with the reader.
fn fresh_salts(n: usize) -> Vec<String> {
    let writer = Crypto::builder(password_secrets())
        .salt_reuse(SaltReuse::off())
        .build()
        .unwrap();
    encrypt_n(&writer, n)
}

#[test]
fn a_seen_salt_decrypts_again_without_a_derivation() {
    let sealed = fresh_salts(1);
    let crypto = reader(16);
    assert_eq!(crypto.decrypt(&sealed[0], None).unwrap(), "record 0");
    assert_eq!(crypto.decrypt(&sealed[0], None).unwrap(), "record 0");
    let stats = crypto.cache_stats();
    assert_eq!(
        (
            stats.key_derivations,
            stats.hits,
            stats.misses,
            stats.entries
        ),
        (1, 1, 1, 1)
    );
}

#[test]
fn a_window_of_records_costs_a_reader_one_derivation() {
    let clock = ManualClock::new();
    let writer = writer(
        password_secrets(),
        SaltReuse::new(50, Duration::from_secs(60)),
        &clock,
    );
    let sealed = encrypt_n(&writer, 50);
    let crypto = reader(16);
    for (i, ciphertext) in sealed.iter().enumerate() {
        assert_eq!(
            crypto.decrypt(ciphertext, None).unwrap(),
            format!("record {i}")
        );
    }
    assert_eq!(crypto.cache_stats().key_derivations, 1);
    // The writer itself reads its window back from the cache.
    for ciphertext in &sealed {
        writer.decrypt(ciphertext, None).unwrap();
    }
    assert_eq!(writer.cache_stats().key_derivations, 1);
}

#[test]
fn a_full_cache_evicts_the_least_recently_used_key() {
    let sealed = fresh_salts(3);
    let crypto = reader(2);
    let derivations = |c: &Crypto| c.cache_stats().key_derivations;
    crypto.decrypt(&sealed[0], None).unwrap();
    crypto.decrypt(&sealed[1], None).unwrap();
    crypto.decrypt(&sealed[0], None).unwrap(); // hit: 1 is now the least recently used
    assert_eq!(derivations(&crypto), 2);
    crypto.decrypt(&sealed[2], None).unwrap(); // evicts 1
    assert_eq!(crypto.cache_stats().entries, 2);
    crypto.decrypt(&sealed[0], None).unwrap();
    crypto.decrypt(&sealed[2], None).unwrap();
    assert_eq!(derivations(&crypto), 3, "0 and 2 stayed cached");
    assert_eq!(crypto.decrypt(&sealed[1], None).unwrap(), "record 1");
    assert_eq!(derivations(&crypto), 4, "1 was evicted");
    assert_eq!(crypto.cache_stats().entries, 2);
}

#[test]
fn capacity_zero_disables_the_cache() {
    let sealed = fresh_salts(1);
    let crypto = reader(0);
    for _ in 0..3 {
        assert_eq!(crypto.decrypt(&sealed[0], None).unwrap(), "record 0");
    }
    let stats: CacheStats = crypto.cache_stats();
    assert_eq!(
        (
            stats.key_derivations,
            stats.hits,
            stats.entries,
            stats.capacity
        ),
        (3, 0, 0, 0)
    );
}

#[test]
fn keys_that_fail_to_decrypt_are_not_cached() {
    let sealed = Crypto::new(two_passwords(1))
        .unwrap()
        .encrypt("under version 1")
        .unwrap();
    let crypto = Crypto::new(two_passwords(2)).unwrap();
    for _ in 0..2 {
        let err = crypto.decrypt(&sealed.ciphertext, Some(2)).unwrap_err();
        assert!(matches!(err, CryptoError::Decryption), "{err}");
    }
    assert_eq!(crypto.cache_stats().entries, 0);
    assert_eq!(crypto.cache_stats().key_derivations, 2);
    // The right version still works and is cached separately.
    assert_eq!(
        crypto.decrypt(&sealed.ciphertext, Some(1)).unwrap(),
        "under version 1"
    );
    assert_eq!(crypto.cache_stats().entries, 1);
}

#[test]
fn clones_share_the_cache() {
    let sealed = fresh_salts(1);
    let crypto = reader(4);
    crypto.decrypt(&sealed[0], None).unwrap();
    let clone = crypto.clone();
    clone.decrypt(&sealed[0], None).unwrap();
    assert_eq!(clone.cache_stats().key_derivations, 1);
}

#[test]
fn debug_output_shows_the_configuration_but_no_key() {
    let crypto = Crypto::builder(password_secrets())
        .derived_key_cache(8)
        .build()
        .unwrap();
    let ciphertext = crypto.encrypt("secret text").unwrap().ciphertext;
    crypto.decrypt(&ciphertext, None).unwrap();
    let (salt, _) = salt_and_iv(&ciphertext);
    let key = derive_key(PASSWORD.as_bytes(), &salt);
    let shown = format!("{crypto:?}");
    assert!(shown.contains("derived_key_cache_capacity: 8"), "{shown}");
    assert!(shown.contains("max_records: 10000"), "{shown}");
    for forbidden in [
        hex::encode(*key),
        format!("{:?}", *key),
        format!("{:?}", &key[..4]).trim_end_matches(']').to_owned(),
        format!("{salt:?}").trim_end_matches(']').to_owned(),
        PASSWORD.to_owned(),
    ] {
        assert!(!shown.contains(&forbidden), "{shown} contains {forbidden}");
    }
}

#[test]
fn crypto_is_shareable_between_threads() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<Crypto>();
}
