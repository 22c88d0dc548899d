//! Key derivation: PBKDF2-HMAC-SHA512 over a password and the ciphertext's salt.
//!
//! This is the expensive step of every password-based encryption and decryption (10 000
//! iterations of HMAC-SHA512, a few milliseconds); AES-GCM itself costs microseconds.

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
/// ```
/// let key = incountry_crypto::derive_key(b"password", &[0u8; 64]);
/// assert_eq!(key.len(), 32);
/// ```
pub fn derive_key(password: &[u8], salt: &[u8]) -> Zeroizing<[u8; KEY_LENGTH]> {
    let mut key = Zeroizing::new([0u8; KEY_LENGTH]);
    pbkdf2::pbkdf2_hmac::<Sha512>(password, salt, PBKDF2_ITERATIONS, key.as_mut());
    key
}
