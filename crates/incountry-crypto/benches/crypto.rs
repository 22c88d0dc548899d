//! Criterion benchmarks of the costs that matter in `incountry-crypto`.
//!
//! - `pbkdf2/derive_key`: one bare PBKDF2-HMAC-SHA512 derivation (10 000 iterations, 64-byte
//!   salt), the floor of every password-based encryption and decryption;
//! - `password/encrypt_1k`, `password/decrypt_1k`: format `2` with a password secret, salt reuse
//!   off and no derived-key cache, which should cost one derivation plus microseconds of AES-GCM
//!   and base64;
//! - `password_default/encrypt_1k`, `password_default/decrypt_1k`: the same with the default salt
//!   reuse and derived-key cache, where the key comes from the window or the cache;
//! - `raw_key/encrypt_1k`, `raw_key/decrypt_1k`: format `2` with a raw 32-byte key (no PBKDF2);
//! - `hash_key/short`: the SHA-256 blind index of a short key value.
//!
//! Run with `cargo bench -p incountry-crypto --bench crypto`.

#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use incountry_crypto::{Crypto, SALT_LENGTH, SaltReuse, Secret, SecretsData, derive_key, hash_key};

/// 1 KiB of ASCII plaintext.
fn plaintext_1k() -> String {
    "incountry-rs benchmark plaintext "
        .chars()
        .cycle()
        .take(1024)
        .collect()
}

fn password_crypto() -> Crypto {
    Crypto::builder(SecretsData::from_password("correct horse battery staple").unwrap())
        .salt_reuse(SaltReuse::off())
        .derived_key_cache(0)
        .build()
        .unwrap()
}

fn password_default_crypto() -> Crypto {
    Crypto::new(SecretsData::from_password("correct horse battery staple").unwrap()).unwrap()
}

fn raw_key_crypto() -> Crypto {
    let secrets = SecretsData::new(1, vec![Secret::key(1, [0x5a; 32])]).unwrap();
    Crypto::new(secrets).unwrap()
}

fn bench_pbkdf2(c: &mut Criterion) {
    let salt = [0x42u8; SALT_LENGTH];
    c.bench_function("pbkdf2/derive_key", |b| {
        b.iter(|| derive_key(black_box(b"correct horse battery staple"), black_box(&salt)));
    });
}

fn bench_cipher(c: &mut Criterion, group_name: &str, crypto: &Crypto) {
    let plaintext = plaintext_1k();
    let sealed = crypto.encrypt(&plaintext).unwrap();
    assert_eq!(
        crypto
            .decrypt(&sealed.ciphertext, Some(sealed.key_version))
            .unwrap(),
        plaintext
    );
    let mut group = c.benchmark_group(group_name);
    group.throughput(Throughput::Bytes(plaintext.len() as u64));
    group.bench_function("encrypt_1k", |b| {
        b.iter(|| crypto.encrypt(black_box(&plaintext)).unwrap());
    });
    group.bench_function("decrypt_1k", |b| {
        b.iter(|| {
            crypto
                .decrypt(black_box(&sealed.ciphertext), Some(sealed.key_version))
                .unwrap()
        });
    });
    group.finish();
}

fn bench_password(c: &mut Criterion) {
    bench_cipher(c, "password", &password_crypto());
}

fn bench_password_default(c: &mut Criterion) {
    bench_cipher(c, "password_default", &password_default_crypto());
}

fn bench_raw_key(c: &mut Criterion) {
    bench_cipher(c, "raw_key", &raw_key_crypto());
}

fn bench_hash_key(c: &mut Criterion) {
    c.bench_function("hash_key/short", |b| {
        b.iter(|| hash_key(black_box("InCountryKey"), black_box("InCountry"), false));
    });
}

criterion_group!(
    benches,
    bench_pbkdf2,
    bench_password,
    bench_password_default,
    bench_raw_key,
    bench_hash_key
);
criterion_main!(benches);
