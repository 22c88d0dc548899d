//! Fuzzes `SecretsData::from_json` with arbitrary text and checks the invariants of what it
//! accepts.

#![no_main]

use incountry_crypto::{Crypto, SecretKind, SecretsData};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(json) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(secrets) = SecretsData::from_json(json) else {
        return;
    };

    let current = secrets.current();
    assert_eq!(current.version(), secrets.current_version());
    assert!(!secrets.secrets().is_empty());
    for (i, secret) in secrets.secrets().iter().enumerate() {
        // Versions are unique, so `get` finds exactly this secret.
        let found = secrets.get(secret.version()).expect("a listed version");
        assert!(
            std::ptr::eq(found, secret),
            "secret {i} shadowed by a duplicate version"
        );
        assert!(!secret.expose_bytes().is_empty(), "empty secret accepted");
        if secret.kind() == SecretKind::Key {
            assert_eq!(
                secret.expose_bytes().len(),
                32,
                "raw key of the wrong length"
            );
        }
    }
    let unknown = (0..=u32::MAX)
        .find(|v| secrets.secrets().iter().all(|s| s.version() != *v))
        .expect("fewer than 2^32 secrets");
    assert!(secrets.get(unknown).is_err());
    let _ = format!("{secrets:?}");

    // Without custom ciphers, a `Crypto` builds exactly when no custom keys are present.
    let crypto = Crypto::new(secrets.clone());
    assert_eq!(crypto.is_ok(), !secrets.has_custom_keys());
    // With a raw current key (no PBKDF2, so cheap) encryption round-trips.
    if let Ok(crypto) = crypto {
        if current.kind() == SecretKind::Key {
            let sealed = crypto.encrypt("fuzz").expect("encryption with a raw key");
            assert_eq!(sealed.key_version, secrets.current_version());
            assert_eq!(
                crypto
                    .decrypt(&sealed.ciphertext, Some(sealed.key_version))
                    .ok()
                    .as_deref(),
                Some("fuzz")
            );
        }
    }
});
