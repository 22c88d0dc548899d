//! Fuzzes `Crypto::decrypt` and `Format::of` with arbitrary ciphertext strings.
//!
//! Input layout: the first byte selects the key version, the rest (UTF-8) is the ciphertext.
//! The `Crypto` holds a raw key (version 1, current) and a password (version 2). Nearly all
//! inputs decrypt with the raw key, so no PBKDF2 runs and throughput stays high; only a first
//! byte of `0xff` selects the password and costs a key derivation per well-formed input.

#![no_main]

use std::sync::LazyLock;

use incountry_crypto::{Crypto, CryptoError, Format, Secret, SecretsData};
use libfuzzer_sys::fuzz_target;

/// Version of the raw-key secret (the current version).
const KEY_VERSION: u32 = 1;
/// Version of the password secret.
const PASSWORD_VERSION: u32 = 2;
/// A version no secret has.
const MISSING_VERSION: u32 = 3;
/// The raw AES-256 key; the `2:`/`1:` seeds in `corpus/decrypt` are encrypted with it.
const RAW_KEY: [u8; 32] = *b"incountry-rs fuzz raw key 32 B.!";
/// The password; the password seed in `corpus/decrypt` is encrypted with it.
const PASSWORD: &str = "incountry-rs fuzz password";

static CRYPTO: LazyLock<Crypto> = LazyLock::new(|| {
    let secrets = SecretsData::new(
        KEY_VERSION,
        vec![
            Secret::key(KEY_VERSION, RAW_KEY),
            Secret::password(PASSWORD_VERSION, PASSWORD),
        ],
    )
    .expect("valid fuzz secrets");
    Crypto::new(secrets).expect("valid fuzz crypto")
});

static PLAIN: LazyLock<Crypto> = LazyLock::new(Crypto::plaintext);

fuzz_target!(|data: &[u8]| {
    let Some((&selector, rest)) = data.split_first() else {
        return;
    };
    let Ok(ciphertext) = std::str::from_utf8(rest) else {
        return;
    };
    let key_version = match selector {
        0xff => Some(PASSWORD_VERSION),
        0xfe => Some(MISSING_VERSION),
        0xf0..=0xfd => None,
        _ => Some(KEY_VERSION),
    };

    let format = Format::of(ciphertext);
    let result = CRYPTO.decrypt(ciphertext, key_version);

    match &format {
        // A string whose format cannot be read fails with exactly that format error.
        Err(error) => assert!(
            matches!(&result, Err(CryptoError::Format(e)) if e == error),
            "Format::of failed with {error:?} but decrypt returned {result:?}"
        ),
        // No custom cipher is configured, so custom data never decrypts.
        Ok(Format::Custom(_)) => assert!(result.is_err(), "custom data decrypted"),
        Ok(Format::Plain) => {
            // `pt:` needs no secret: both engines agree, and the text re-encodes to the input.
            let plain = PLAIN.decrypt(ciphertext, key_version);
            assert_eq!(
                result.as_ref().ok(),
                plain.as_ref().ok(),
                "pt: decrypts differently with and without secrets"
            );
            if let Ok(text) = &result {
                let sealed = PLAIN.encrypt(text).expect("pt: encryption cannot fail");
                assert_eq!(sealed.ciphertext, ciphertext, "pt: does not round-trip");
                assert!(!sealed.is_encrypted);
            }
        }
        Ok(_) => {
            // Keyed formats never decrypt in no-encryption mode.
            assert!(matches!(
                PLAIN.decrypt(ciphertext, key_version),
                Err(CryptoError::NoSecrets { .. })
            ));
            if key_version == Some(MISSING_VERSION) {
                assert!(result.is_err(), "decrypted with a missing secret version");
            }
        }
    }
});
