//! Property tests: every text round-trips through every kind of secret, and any altered
//! ciphertext fails to decrypt without panicking.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use base64::Engine as _;
use incountry_crypto::{Crypto, CryptoError, CustomCipher, CustomCipherError, Secret, SecretsData};
use proptest::prelude::*;

/// A reversible toy cipher (byte-wise XOR with the key, hex-encoded) for the custom-key case.
struct XorHex;

impl CustomCipher for XorHex {
    fn version(&self) -> &str {
        "xor-hex"
    }
    fn encrypt(&self, plaintext: &str, key: &[u8], _: u32) -> Result<String, CustomCipherError> {
        Ok(plaintext
            .bytes()
            .zip(key.iter().cycle())
            .map(|(b, k)| format!("{:02x}", b ^ k))
            .collect())
    }
    fn decrypt(&self, ciphertext: &str, key: &[u8], _: u32) -> Result<String, CustomCipherError> {
        let bytes = hex::decode(ciphertext)?;
        let plain: Vec<u8> = bytes
            .iter()
            .zip(key.iter().cycle())
            .map(|(b, k)| b ^ k)
            .collect();
        Ok(String::from_utf8(plain)?)
    }
}

fn password() -> Crypto {
    Crypto::new(SecretsData::from_password("correct horse battery staple").unwrap()).unwrap()
}

fn raw_key() -> Crypto {
    let secrets = SecretsData::new(7, vec![Secret::key(7, [0x42; 32])]).unwrap();
    Crypto::new(secrets).unwrap()
}

fn custom_key() -> Crypto {
    let secrets = SecretsData::new(3, vec![Secret::custom_key(3, b"custom key bytes")]).unwrap();
    Crypto::builder(secrets)
        .current_custom_cipher(XorHex)
        .build()
        .unwrap()
}

fn round_trips(crypto: &Crypto, text: &str) -> Result<(), TestCaseError> {
    let sealed = crypto.encrypt(text).unwrap();
    prop_assert_eq!(
        crypto
            .decrypt(&sealed.ciphertext, Some(sealed.key_version))
            .unwrap(),
        text
    );
    Ok(())
}

proptest! {
    // Password cases run PBKDF2 twice each; keep their count modest.
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn any_text_round_trips_with_a_password(text in any::<String>()) {
        round_trips(&password(), &text)?;
    }
}

proptest! {
    #[test]
    fn any_text_round_trips_with_a_raw_key(text in any::<String>()) {
        round_trips(&raw_key(), &text)?;
    }

    #[test]
    fn any_text_round_trips_with_a_custom_key(text in any::<String>()) {
        round_trips(&custom_key(), &text)?;
    }

    #[test]
    fn any_text_round_trips_without_encryption(text in any::<String>()) {
        round_trips(&Crypto::plaintext(), &text)?;
    }

    #[test]
    fn flipping_any_bit_of_the_sealed_bytes_fails_authentication(
        text in ".{0,64}",
        position in any::<prop::sample::Index>(),
        bit in 0u8..8,
    ) {
        let crypto = raw_key();
        let sealed = crypto.encrypt(&text).unwrap();
        let engine = base64::engine::general_purpose::STANDARD;
        let mut bytes = engine.decode(&sealed.ciphertext[2..]).unwrap();
        // The salt (first 64 bytes) is ignored for raw keys; every other byte is authenticated.
        let at = 64 + position.index(bytes.len() - 64);
        bytes[at] ^= 1 << bit;
        let altered = format!("2:{}", engine.encode(&bytes));
        let err = crypto.decrypt(&altered, Some(7)).unwrap_err();
        prop_assert!(matches!(err, CryptoError::Decryption), "{}", err);
    }

    #[test]
    fn arbitrary_strings_never_panic_the_decryptor(input in any::<String>()) {
        let _ = raw_key().decrypt(&input, None);
        let _ = Crypto::plaintext().decrypt(&input, None);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    /// With a password every byte counts (the salt feeds the key derivation); with a raw key
    /// the salt is ignored, which the bit-flip test below accounts for.
    #[test]
    fn flipping_any_character_of_the_ciphertext_string_fails(
        text in ".{0,64}",
        position in any::<prop::sample::Index>(),
        replacement in any::<char>(),
    ) {
        let crypto = password();
        let sealed = crypto.encrypt(&text).unwrap();
        let mut chars: Vec<char> = sealed.ciphertext.chars().collect();
        let at = position.index(chars.len());
        prop_assume!(chars[at] != replacement);
        chars[at] = replacement;
        let altered: String = chars.into_iter().collect();
        prop_assert!(crypto.decrypt(&altered, Some(0)).is_err());
    }

    #[test]
    fn flipping_any_bit_fails_with_a_password_too(
        position in any::<prop::sample::Index>(),
        bit in 0u8..8,
    ) {
        let crypto = password();
        let sealed = crypto.encrypt("personal data").unwrap();
        let engine = base64::engine::general_purpose::STANDARD;
        let mut bytes = engine.decode(&sealed.ciphertext[2..]).unwrap();
        let at = position.index(bytes.len());
        bytes[at] ^= 1 << bit;
        let altered = format!("2:{}", engine.encode(&bytes));
        let err = crypto.decrypt(&altered, Some(0)).unwrap_err();
        prop_assert!(matches!(err, CryptoError::Decryption), "{}", err);
    }
}
