//! Key derivation: PBKDF2-HMAC-SHA512 over a password and the ciphertext's salt.
//!
//! This is the expensive step of every password-based encryption and decryption (10 000
//! iterations of HMAC-SHA512, a few milliseconds); AES-GCM itself costs microseconds.
//!
//! The implementation is RustCrypto's `pbkdf2` + `hmac` + `sha2` (SHA-512 with AVX2 when the CPU
//! has it): measured against `ring` and `aws-lc-rs` it was the fastest on our machines (see
//! `docs/performance.md`, "Crypto backends").

use sha2::Sha512;
use zeroize::Zeroizing;

/// Length of an AES-256 key in bytes.
pub const KEY_LENGTH: usize = 32;
/// Length of the random salt stored at the start of every ciphertext payload.
pub const SALT_LENGTH: usize = 64;
/// PBKDF2 iterations used by the official SDKs.
pub const PBKDF2_ITERATIONS: u32 = 10_000;

/// Derives the AES-256 key for `password` and `salt`: PBKDF2-HMAC-SHA512, 10 000 iterations,
/// 32 bytes. Costs one full PBKDF2 run; the key is wiped when the returned value is dropped.
///
/// [`Crypto`](crate::Crypto) calls this only when its derived-key cache and salt-reuse window
/// cannot supply the key.
///
/// ```
/// let key = incountry_crypto::derive_key(b"password", &[0u8; 64]);
/// assert_eq!(key.len(), 32);
/// ```
pub fn derive_key(password: &[u8], salt: &[u8]) -> Zeroizing<[u8; KEY_LENGTH]> {
    let mut key = Zeroizing::new([0u8; KEY_LENGTH]);
    derive_key_into(password, salt, &mut key);
    key
}

/// Like [`derive_key`], writing into `out` in place (so the key is never moved or copied).
pub(crate) fn derive_key_into(password: &[u8], salt: &[u8], out: &mut [u8; KEY_LENGTH]) {
    pbkdf2::pbkdf2_hmac::<Sha512>(password, salt, PBKDF2_ITERATIONS, out);
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The official parameters, checked against an independent value: Python's
    /// `hashlib.pbkdf2_hmac("sha512", b"password", bytes(64), 10000, 32)`.
    #[test]
    fn the_official_parameters_give_the_reference_key() {
        let key = derive_key(b"password", &[0u8; SALT_LENGTH]);
        assert_eq!(hex::encode(*key), EXPECTED_PASSWORD_ZERO_SALT);
    }

    const EXPECTED_PASSWORD_ZERO_SALT: &str =
        "178c12e67cb99caff501ab05a293ca6f96db81ba5caad5be192493957d2012f4";
}
