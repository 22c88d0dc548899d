//! Behaviour of `Crypto`: key versions, error kinds and messages, custom-cipher validation.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use incountry_crypto::{
    Crypto, CryptoError, CustomCipher, CustomCipherError, FormatError, Secret, SecretsData,
    SecretsError,
};

const PASSWORD: &str = "s3cr3t-passw0rd-for-tests";

fn two_versions(current: u32) -> Crypto {
    let secrets = SecretsData::new(
        current,
        vec![Secret::password(1, PASSWORD), Secret::key(2, [9; 32])],
    )
    .unwrap();
    Crypto::new(secrets).unwrap()
}

#[test]
fn encryption_uses_the_current_version_and_decryption_the_records() {
    let v1 = two_versions(1).encrypt("one").unwrap();
    let v2 = two_versions(2).encrypt("two").unwrap();
    assert_eq!((v1.key_version, v2.key_version), (1, 2));
    let reader = two_versions(2);
    assert_eq!(reader.decrypt(&v1.ciphertext, Some(1)).unwrap(), "one");
    assert_eq!(reader.decrypt(&v2.ciphertext, Some(2)).unwrap(), "two");
    assert_eq!(reader.decrypt(&v2.ciphertext, None).unwrap(), "two");
}

#[test]
fn a_wrong_key_says_only_wrong_key_or_corrupted_data() {
    let sealed = two_versions(1).encrypt("data").unwrap();
    let err = two_versions(2)
        .decrypt(&sealed.ciphertext, Some(2))
        .unwrap_err();
    assert!(matches!(err, CryptoError::Decryption));
    assert_eq!(
        err.to_string(),
        "decryption failed: wrong key or corrupted data"
    );
}

#[test]
fn a_missing_version_is_secret_not_found() {
    let sealed = two_versions(1).encrypt("data").unwrap();
    let err = two_versions(1)
        .decrypt(&sealed.ciphertext, Some(5))
        .unwrap_err();
    assert!(matches!(
        err,
        CryptoError::Secrets(SecretsError::NotFound { version: 5 })
    ));
    assert_eq!(err.to_string(), "Secret not found for version 5");
}

#[test]
fn format_problems_are_typed() {
    let crypto = two_versions(1);
    let cases = [
        ("no separator", FormatError::Structure),
        ("2:a:b", FormatError::Structure),
        ("9:AAAA", FormatError::UnknownVersion { tag: "9".into() }),
        (
            "0:7765618db31daf5366a6fc3520010327",
            FormatError::UnknownVersion { tag: "0".into() },
        ),
        ("2:not base64!", FormatError::Base64),
        ("1:xyz", FormatError::Hex),
        ("2:AAAA", FormatError::TooShort { len: 3, min: 92 }),
        ("1:00", FormatError::TooShort { len: 1, min: 92 }),
        ("pt:%%%", FormatError::Base64),
    ];
    for (input, expected) in cases {
        match crypto.decrypt(input, Some(1)) {
            Err(CryptoError::Format(found)) => assert_eq!(found, expected, "{input}"),
            other => panic!("{input}: expected {expected:?}, got {other:?}"),
        }
    }
}

#[test]
fn invalid_utf8_plaintext_is_reported_as_such() {
    let err = Crypto::plaintext().decrypt("pt:/w==", None).unwrap_err();
    assert!(matches!(err, CryptoError::NotUtf8), "{err}");
}

#[test]
fn no_encryption_mode_writes_pt_and_refuses_keyed_data() {
    let crypto = Crypto::plaintext();
    let sealed = crypto.encrypt("hello").unwrap();
    assert_eq!(sealed.ciphertext, "pt:aGVsbG8=");
    assert_eq!((sealed.key_version, sealed.is_encrypted), (0, false));
    let keyed = two_versions(1).encrypt("hello").unwrap();
    let err = crypto.decrypt(&keyed.ciphertext, Some(1)).unwrap_err();
    assert!(matches!(err, CryptoError::NoSecrets { .. }), "{err}");
    // The encrypting side reads `pt:` data without any secret.
    assert_eq!(
        two_versions(1).decrypt("pt:aGVsbG8=", Some(0)).unwrap(),
        "hello"
    );
}

#[test]
fn nothing_secret_appears_in_debug_output() {
    let crypto = two_versions(1);
    let shown = format!("{crypto:?} {:?}", crypto.encrypt("plain text").unwrap());
    assert!(!shown.contains(PASSWORD), "{shown}");
    assert!(!shown.contains("plain text"));
    assert!(!shown.contains("9, 9, 9"));
}

struct Reverse(&'static str);

impl CustomCipher for Reverse {
    fn version(&self) -> &str {
        self.0
    }
    fn encrypt(&self, plaintext: &str, _: &[u8], _: u32) -> Result<String, CustomCipherError> {
        Ok(plaintext.chars().rev().collect())
    }
    fn decrypt(&self, ciphertext: &str, _: &[u8], _: u32) -> Result<String, CustomCipherError> {
        Ok(ciphertext.chars().rev().collect())
    }
}

/// Encrypts but cannot decrypt its own output.
struct Broken;

impl CustomCipher for Broken {
    fn version(&self) -> &str {
        "broken"
    }
    fn encrypt(&self, plaintext: &str, _: &[u8], _: u32) -> Result<String, CustomCipherError> {
        Ok(plaintext.to_uppercase())
    }
    fn decrypt(&self, ciphertext: &str, _: &[u8], _: u32) -> Result<String, CustomCipherError> {
        Ok(ciphertext.to_owned())
    }
}

/// Fails on every call.
struct Failing;

impl CustomCipher for Failing {
    fn version(&self) -> &str {
        "failing"
    }
    fn encrypt(&self, _: &str, _: &[u8], _: u32) -> Result<String, CustomCipherError> {
        Err("hardware module offline".into())
    }
    fn decrypt(&self, _: &str, _: &[u8], _: u32) -> Result<String, CustomCipherError> {
        Err("hardware module offline".into())
    }
}

fn custom_secrets() -> SecretsData {
    SecretsData::new(
        2,
        vec![
            Secret::password(1, PASSWORD),
            Secret::custom_key(2, b"custom"),
        ],
    )
    .unwrap()
}

#[test]
fn custom_cipher_data_stays_readable_after_it_stops_being_current() {
    let writer = Crypto::builder(custom_secrets())
        .current_custom_cipher(Reverse("rev"))
        .build()
        .unwrap();
    let sealed = writer.encrypt("abc").unwrap();
    assert_eq!(sealed.ciphertext, "ccmV2:Y2Jh");
    let reader = Crypto::builder(custom_secrets())
        .custom_cipher(Reverse("rev"))
        .build()
        .unwrap();
    assert_eq!(reader.decrypt(&sealed.ciphertext, Some(2)).unwrap(), "abc");
    // Without a current custom cipher, new data uses the default format.
    assert!(reader.encrypt("x").unwrap().ciphertext.starts_with("2:"));
}

#[test]
fn custom_cipher_configuration_is_validated() {
    let err = Crypto::builder(custom_secrets())
        .current_custom_cipher(Reverse("a"))
        .current_custom_cipher(Reverse("b"))
        .build()
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("more than one custom cipher is marked current"),
        "{err}"
    );

    let err = Crypto::builder(custom_secrets())
        .custom_cipher(Reverse("same"))
        .custom_cipher(Reverse("same"))
        .build()
        .unwrap_err();
    assert!(err.to_string().contains("\"same\""), "{err}");

    let err = Crypto::builder(custom_secrets())
        .custom_cipher(Reverse(""))
        .build()
        .unwrap_err();
    assert!(err.to_string().contains("empty version name"), "{err}");

    let err = Crypto::builder(custom_secrets())
        .custom_cipher(Broken)
        .build()
        .unwrap_err();
    assert!(
        err.to_string().contains("does not decrypt its own output"),
        "{err}"
    );

    let err = Crypto::builder(custom_secrets())
        .custom_cipher(Failing)
        .build()
        .unwrap_err();
    assert!(
        matches!(
            err,
            CryptoError::CustomCipher {
                operation: "encrypt",
                ..
            }
        ),
        "{err}"
    );
    let source = std::error::Error::source(&err).unwrap().to_string();
    assert_eq!(source, "hardware module offline");
}

#[test]
fn custom_keys_are_required_exactly_when_custom_ciphers_are_configured() {
    let err = Crypto::new(custom_secrets()).unwrap_err();
    assert!(
        matches!(
            err,
            CryptoError::Secrets(SecretsError::UnexpectedCustomKeys)
        ),
        "{err}"
    );
    let plain = SecretsData::from_password(PASSWORD).unwrap();
    let err = Crypto::builder(plain)
        .custom_cipher(Reverse("r"))
        .build()
        .unwrap_err();
    assert!(
        matches!(err, CryptoError::Secrets(SecretsError::MissingCustomKeys)),
        "{err}"
    );
}

#[test]
fn a_current_custom_cipher_needs_a_custom_current_secret() {
    let secrets = SecretsData::new(
        1,
        vec![
            Secret::password(1, PASSWORD),
            Secret::custom_key(2, b"custom"),
        ],
    )
    .unwrap();
    let crypto = Crypto::builder(secrets)
        .current_custom_cipher(Reverse("r"))
        .build()
        .unwrap();
    let err = crypto.encrypt("x").unwrap_err();
    assert!(
        matches!(
            err,
            CryptoError::Secrets(SecretsError::NotForCustomEncryption { version: 1 })
        ),
        "{err}"
    );
}

#[test]
fn unregistered_custom_data_names_the_missing_cipher() {
    let crypto = two_versions(1);
    let err = crypto.decrypt("ccmV2:Y2Jh", Some(1)).unwrap_err();
    assert!(
        matches!(&err, CryptoError::UnknownCustomCipher { version } if version == "rev"),
        "{err}"
    );
}

#[test]
fn secrets_are_validated_as_the_spec_says() {
    type Check = fn(&SecretsError) -> bool;
    let cases: [(&str, Check); 7] = [
        (r#"{"currentVersion": 1, "secrets": []}"#, |e| {
            *e == SecretsError::Empty
        }),
        (
            r#"{"currentVersion": 2, "secrets": [{"secret": "a", "version": 1}]}"#,
            |e| *e == SecretsError::CurrentVersionMissing { current: 2 },
        ),
        (
            r#"{"currentVersion": 1, "secrets": [{"secret": "a", "version": 1}, {"secret": "b", "version": 1}]}"#,
            |e| *e == SecretsError::DuplicateVersion { version: 1 },
        ),
        (
            r#"{"currentVersion": 1, "secrets": [{"secret": "AAAA", "version": 1, "isKey": true, "isForCustomEncryption": true}]}"#,
            |e| *e == SecretsError::KeyAndCustom { version: 1 },
        ),
        (
            r#"{"currentVersion": 1, "secrets": [{"secret": "not base64!", "version": 1, "isKey": true}]}"#,
            |e| *e == SecretsError::KeyEncoding { version: 1 },
        ),
        (
            r#"{"currentVersion": 1, "secrets": [{"secret": "", "version": 1}]}"#,
            |e| *e == SecretsError::EmptySecret { version: 1 },
        ),
        (r#"[1, 2]"#, |e| matches!(e, SecretsError::Invalid(_))),
    ];
    for (json, expected) in cases {
        let err = SecretsData::from_json(json).unwrap_err();
        assert!(expected(&err), "{json}: {err}");
    }
    let ok = SecretsData::from_json(
        r#"{"currentVersion": 0, "secrets": [{"secret": "cGFzc3dvcmRwYXNzd29yZHBhc3N3b3JkcGFzc3dvcmQ=", "version": 0, "isKey": true}]}"#,
    );
    assert!(ok.is_ok());
}
