//! Criterion benchmarks of the crypto backends `incountry-crypto` can use, on the two primitives
//! of format `2`:
//!
//! - `pbkdf2_sha512/<backend>`: PBKDF2-HMAC-SHA512, 10 000 iterations, 64-byte salt, 32-byte
//!   output (one key derivation of a password-based encryption or decryption);
//! - `aes256gcm_1k/<backend>`: AES-256-GCM encryption then decryption of 1 KiB with a 12-byte
//!   nonce;
//! - `pbkdf2_sha512/incountry_crypto`: the crate's own [`derive_key`] (RustCrypto, the same code
//!   as `rustcrypto`: the difference between the two shows the measurement noise).
//!
//! Backends: RustCrypto (`pbkdf2` + `hmac` + `sha2`, `aes-gcm`), `ring` and `aws-lc-rs`. Every
//! backend is checked against the others before it is timed, so the numbers compare equal work.
//! After criterion, the PBKDF2 backends are also timed interleaved (250 rounds; medians and
//! minima), which compares them fairly on a loaded machine.
//!
//! `ring` and `aws-lc-rs` are optional dependencies enabled only by the `bench-backends` feature,
//! so the AWS-LC C build stays out of ordinary builds. Run with
//! `cargo bench -p incountry-crypto --features bench-backends --bench backends --
//! --warm-up-time 1 --measurement-time 3`; add `--features sha2/asm` to time RustCrypto with
//! `sha2`'s assembly feature.

#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use std::hint::black_box;
use std::num::NonZeroU32;
use std::time::{Duration, Instant};

use aes_gcm::aead::{Aead, KeyInit};
use criterion::{Criterion, Throughput, criterion_group};
use incountry_crypto::{KEY_LENGTH, PBKDF2_ITERATIONS, SALT_LENGTH, derive_key};

const PASSWORD: &[u8] = b"correct horse battery staple";
const SALT: [u8; SALT_LENGTH] = [0x42; SALT_LENGTH];
const KEY: [u8; KEY_LENGTH] = [0x5a; KEY_LENGTH];
const NONCE: [u8; 12] = [0x24; 12];

fn iterations() -> NonZeroU32 {
    NonZeroU32::new(PBKDF2_ITERATIONS).unwrap()
}

fn plaintext_1k() -> Vec<u8> {
    b"incountry-rs benchmark plaintext "
        .iter()
        .copied()
        .cycle()
        .take(1024)
        .collect()
}

// ---------------------------------------------------------------------------------------------
// PBKDF2-HMAC-SHA512

fn pbkdf2_rustcrypto(password: &[u8], salt: &[u8]) -> [u8; KEY_LENGTH] {
    let mut out = [0u8; KEY_LENGTH];
    pbkdf2::pbkdf2_hmac::<sha2::Sha512>(password, salt, PBKDF2_ITERATIONS, &mut out);
    out
}

fn pbkdf2_ring(password: &[u8], salt: &[u8]) -> [u8; KEY_LENGTH] {
    let mut out = [0u8; KEY_LENGTH];
    ring::pbkdf2::derive(
        ring::pbkdf2::PBKDF2_HMAC_SHA512,
        iterations(),
        salt,
        password,
        &mut out,
    );
    out
}

fn pbkdf2_aws_lc(password: &[u8], salt: &[u8]) -> [u8; KEY_LENGTH] {
    let mut out = [0u8; KEY_LENGTH];
    aws_lc_rs::pbkdf2::derive(
        aws_lc_rs::pbkdf2::PBKDF2_HMAC_SHA512,
        iterations(),
        salt,
        password,
        &mut out,
    );
    out
}

fn bench_pbkdf2(c: &mut Criterion) {
    let expected = pbkdf2_rustcrypto(PASSWORD, &SALT);
    assert_eq!(pbkdf2_ring(PASSWORD, &SALT), expected);
    assert_eq!(pbkdf2_aws_lc(PASSWORD, &SALT), expected);
    assert_eq!(*derive_key(PASSWORD, &SALT), expected);

    let mut group = c.benchmark_group("pbkdf2_sha512");
    group.sample_size(20);
    group.bench_function("rustcrypto", |b| {
        b.iter(|| pbkdf2_rustcrypto(black_box(PASSWORD), black_box(&SALT)));
    });
    group.bench_function("ring", |b| {
        b.iter(|| pbkdf2_ring(black_box(PASSWORD), black_box(&SALT)));
    });
    group.bench_function("aws_lc_rs", |b| {
        b.iter(|| pbkdf2_aws_lc(black_box(PASSWORD), black_box(&SALT)));
    });
    group.bench_function("incountry_crypto", |b| {
        b.iter(|| derive_key(black_box(PASSWORD), black_box(&SALT)));
    });
    group.finish();
}

// ---------------------------------------------------------------------------------------------
// AES-256-GCM, 1 KiB encrypt + decrypt

fn gcm_rustcrypto(plaintext: &[u8]) -> Vec<u8> {
    let cipher = aes_gcm::Aes256Gcm::new(&KEY.into());
    let nonce = aes_gcm::Nonce::from_slice(&NONCE);
    let sealed = cipher.encrypt(nonce, plaintext).unwrap();
    cipher.decrypt(nonce, sealed.as_slice()).unwrap()
}

fn gcm_ring(plaintext: &[u8]) -> Vec<u8> {
    use ring::aead::{AES_256_GCM, Aad, LessSafeKey, Nonce, UnboundKey};
    let key = LessSafeKey::new(UnboundKey::new(&AES_256_GCM, &KEY).unwrap());
    let mut buffer = plaintext.to_vec();
    key.seal_in_place_append_tag(
        Nonce::assume_unique_for_key(NONCE),
        Aad::empty(),
        &mut buffer,
    )
    .unwrap();
    let len = key
        .open_in_place(
            Nonce::assume_unique_for_key(NONCE),
            Aad::empty(),
            &mut buffer,
        )
        .unwrap()
        .len();
    buffer.truncate(len);
    buffer
}

fn gcm_aws_lc(plaintext: &[u8]) -> Vec<u8> {
    use aws_lc_rs::aead::{AES_256_GCM, Aad, LessSafeKey, Nonce, UnboundKey};
    let key = LessSafeKey::new(UnboundKey::new(&AES_256_GCM, &KEY).unwrap());
    let mut buffer = plaintext.to_vec();
    key.seal_in_place_append_tag(
        Nonce::assume_unique_for_key(NONCE),
        Aad::empty(),
        &mut buffer,
    )
    .unwrap();
    let len = key
        .open_in_place(
            Nonce::assume_unique_for_key(NONCE),
            Aad::empty(),
            &mut buffer,
        )
        .unwrap()
        .len();
    buffer.truncate(len);
    buffer
}

fn bench_gcm(c: &mut Criterion) {
    let plaintext = plaintext_1k();
    // Same ciphertext from every backend, and each round-trips.
    let cipher = aes_gcm::Aes256Gcm::new(&KEY.into());
    let reference = cipher
        .encrypt(aes_gcm::Nonce::from_slice(&NONCE), plaintext.as_slice())
        .unwrap();
    let mut ring_sealed = plaintext.clone();
    ring::aead::LessSafeKey::new(
        ring::aead::UnboundKey::new(&ring::aead::AES_256_GCM, &KEY).unwrap(),
    )
    .seal_in_place_append_tag(
        ring::aead::Nonce::assume_unique_for_key(NONCE),
        ring::aead::Aad::empty(),
        &mut ring_sealed,
    )
    .unwrap();
    assert_eq!(ring_sealed, reference);
    for round_trip in [gcm_rustcrypto, gcm_ring, gcm_aws_lc] {
        assert_eq!(round_trip(&plaintext), plaintext);
    }

    let mut group = c.benchmark_group("aes256gcm_1k");
    group.throughput(Throughput::Bytes(plaintext.len() as u64));
    group.bench_function("rustcrypto", |b| {
        b.iter(|| gcm_rustcrypto(black_box(&plaintext)));
    });
    group.bench_function("ring", |b| b.iter(|| gcm_ring(black_box(&plaintext))));
    group.bench_function("aws_lc_rs", |b| {
        b.iter(|| gcm_aws_lc(black_box(&plaintext)));
    });
    group.finish();
}

// ---------------------------------------------------------------------------------------------
// Interleaved PBKDF2 comparison

/// Times the PBKDF2 backends round-robin (rotating the order every round) and prints medians,
/// minima and their ratios to the fastest.
///
/// Criterion times one backend after the other, so on a shared machine a change of load between
/// two of them shows up as a difference between backends; interleaving spreads the load evenly.
fn interleaved_pbkdf2(rounds: usize) {
    let rustcrypto: fn(&[u8], &[u8]) -> [u8; KEY_LENGTH] = pbkdf2_rustcrypto;
    let ring: fn(&[u8], &[u8]) -> [u8; KEY_LENGTH] = pbkdf2_ring;
    let aws_lc: fn(&[u8], &[u8]) -> [u8; KEY_LENGTH] = pbkdf2_aws_lc;
    let ours: fn(&[u8], &[u8]) -> [u8; KEY_LENGTH] = |password, salt| *derive_key(password, salt);
    let backends = [
        ("rustcrypto", rustcrypto),
        ("ring", ring),
        ("aws_lc_rs", aws_lc),
        ("incountry_crypto", ours),
    ];
    let mut times = vec![Vec::with_capacity(rounds); backends.len()];
    for round in 0..rounds {
        for offset in 0..backends.len() {
            let i = (round + offset) % backends.len();
            let start = Instant::now();
            black_box((backends[i].1)(black_box(PASSWORD), black_box(&SALT)));
            times[i].push(start.elapsed());
        }
    }
    for t in &mut times {
        t.sort();
    }
    let medians: Vec<Duration> = times.iter().map(|t| t[t.len() / 2]).collect();
    let minima: Vec<Duration> = times.iter().map(|t| t[0]).collect();
    let fastest_median = medians.iter().min().copied().unwrap();
    let fastest_minimum = minima.iter().min().copied().unwrap();
    println!("interleaved pbkdf2_sha512, {rounds} rounds (median, minimum, each / the fastest):");
    for (i, (name, _)) in backends.iter().enumerate() {
        println!(
            "  {name:<18} median {:>7.3} ms {:.3}x   minimum {:>7.3} ms {:.3}x",
            medians[i].as_secs_f64() * 1e3,
            medians[i].as_secs_f64() / fastest_median.as_secs_f64(),
            minima[i].as_secs_f64() * 1e3,
            minima[i].as_secs_f64() / fastest_minimum.as_secs_f64(),
        );
    }
}

criterion_group!(benches, bench_pbkdf2, bench_gcm);

fn main() {
    benches();
    // Only under `cargo bench` (not `cargo test --benches`, which runs each benchmark once).
    if std::env::args().any(|arg| arg == "--bench") {
        interleaved_pbkdf2(250);
    }
    Criterion::default().configure_from_args().final_summary();
}
