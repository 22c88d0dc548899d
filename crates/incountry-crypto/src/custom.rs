//! The custom-cipher seam: bring your own encryption, keep the official record format.

use crate::error::CustomCipherError;

/// A user-supplied cipher, used instead of the built-in AES-GCM format when it is current.
///
/// Each cipher has a unique version name; its ciphertexts are stored as
/// `c<base64(version name)>:<base64(output)>`, so records written with it stay readable while
/// it is registered, even after another cipher (or the default format) becomes current.
/// The key passed in is the bytes of the secret of the record's version, which must be marked
/// `isForCustomEncryption` ([`Secret::custom_key`](crate::Secret::custom_key)).
///
/// ```
/// use incountry_crypto::{Crypto, CustomCipher, CustomCipherError, Secret, SecretsData};
///
/// /// A toy cipher (XOR with the key, hex-encoded). Never use this for real data.
/// struct Xor;
///
/// impl CustomCipher for Xor {
///     fn version(&self) -> &str { "xor-demo" }
///     fn encrypt(&self, plaintext: &str, key: &[u8], _v: u32) -> Result<String, CustomCipherError> {
///         Ok(plaintext.bytes().zip(key.iter().cycle()).map(|(b, k)| format!("{:02x}", b ^ k)).collect())
///     }
///     fn decrypt(&self, ciphertext: &str, key: &[u8], _v: u32) -> Result<String, CustomCipherError> {
///         let bytes = hex::decode(ciphertext)?;
///         let plain = bytes.iter().zip(key.iter().cycle()).map(|(b, k)| b ^ k).collect();
///         Ok(String::from_utf8(plain)?)
///     }
/// }
///
/// let secrets = SecretsData::new(1, vec![Secret::custom_key(1, b"demo key material")])?;
/// let crypto = Crypto::builder(secrets).current_custom_cipher(Xor).build()?;
/// let sealed = crypto.encrypt("hello")?;
/// assert!(sealed.ciphertext.starts_with("ceG9yLWRlbW8=:"));
/// assert_eq!(crypto.decrypt(&sealed.ciphertext, Some(sealed.key_version))?, "hello");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub trait CustomCipher: Send + Sync {
    /// The unique version name that tags this cipher's ciphertexts.
    fn version(&self) -> &str;

    /// Encrypts `plaintext` with `key` (the current secret's bytes, version `key_version`).
    fn encrypt(
        &self,
        plaintext: &str,
        key: &[u8],
        key_version: u32,
    ) -> Result<String, CustomCipherError>;

    /// Decrypts what [`encrypt`](CustomCipher::encrypt) returned, with the secret of the
    /// record's version.
    fn decrypt(
        &self,
        ciphertext: &str,
        key: &[u8],
        key_version: u32,
    ) -> Result<String, CustomCipherError>;
}
