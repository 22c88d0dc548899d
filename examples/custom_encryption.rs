//! Custom encryption: bring your own cipher while keeping the official record format.
//!
//! ```sh
//! cargo run --example custom_encryption
//! ```
//!
//! The cipher here wraps AES-256-GCM from `incountry-crypto` with the custom key as a raw key;
//! a real one might call an HSM. Its ciphertexts are stored as `c<base64("aes-envelope-v1")>:...`
//! and stay readable as long as the cipher is registered, even after it stops being current.

use std::error::Error;

use incountry_crypto::Crypto;
use incountry_storage::{CustomCipher, Record, Secret, SecretsData};

mod common;

/// AES-256-GCM under the custom key (which must be 32 bytes).
struct AesEnvelope;

impl AesEnvelope {
    fn crypto(key: &[u8], key_version: u32) -> Result<Crypto, Box<dyn Error + Send + Sync>> {
        let key: [u8; 32] = key
            .try_into()
            .map_err(|_| "the custom key must be 32 bytes")?;
        let secrets = SecretsData::new(key_version, vec![Secret::key(key_version, key)])?;
        Ok(Crypto::new(secrets)?)
    }
}

impl CustomCipher for AesEnvelope {
    fn version(&self) -> &str {
        "aes-envelope-v1"
    }

    fn encrypt(
        &self,
        plaintext: &str,
        key: &[u8],
        key_version: u32,
    ) -> Result<String, Box<dyn Error + Send + Sync>> {
        Ok(Self::crypto(key, key_version)?
            .encrypt(plaintext)?
            .ciphertext)
    }

    fn decrypt(
        &self,
        ciphertext: &str,
        key: &[u8],
        key_version: u32,
    ) -> Result<String, Box<dyn Error + Send + Sync>> {
        Ok(Self::crypto(key, key_version)?.decrypt(ciphertext, Some(key_version))?)
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn Error>> {
    let secrets = SecretsData::new(
        1,
        vec![Secret::custom_key(1, b"32 bytes of key from your HSM..!")],
    )?;
    let (server, builder) = common::embedded().await?;
    // The cipher must encrypt and decrypt "incountry" with the custom key, checked at build().
    let storage = builder
        .secrets(secrets)
        .current_custom_cipher(AesEnvelope)
        .build()
        .await?;

    storage
        .write(
            "jp",
            Record::new("order-1").with_body("delivery to 1-2-3 Chiyoda"),
        )
        .await?;
    let record = storage.read("jp", "order-1").await?;
    println!(
        "wrote and read order-1 with the custom cipher: {:?}",
        record.body().unwrap_or_default()
    );
    server.shutdown().await?;
    Ok(())
}
