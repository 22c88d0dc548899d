//! Bearer tokens: `ict1.<payload>.<mac>`, the payload a base64url JSON object
//! `{"env", "aud", "cid", "exp"}` and the mac HMAC-SHA256 over `ict1.<payload>`.

use std::collections::HashMap;
use std::sync::{Arc, PoisonError, RwLock};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

const PREFIX: &str = "ict1.";

/// How many verified tokens [`TokenSigner::verify_cached`] remembers (then it starts over).
const VERIFIED_CAPACITY: usize = 4096;

/// What a token grants.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Claims {
    /// The environment id (the OAuth `scope`).
    pub(crate) env: String,
    /// The audience asked for.
    pub(crate) aud: String,
    /// The client it was issued to.
    pub(crate) cid: String,
    /// Expiry, Unix seconds.
    pub(crate) exp: i64,
}

/// The claims of a token that verified, shared by the requests that present it.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Verified {
    /// The environment id.
    pub(crate) env: Arc<str>,
    /// The client it was issued to.
    pub(crate) cid: Arc<str>,
    /// The audience asked for.
    pub(crate) aud: String,
    /// Expiry, Unix seconds.
    pub(crate) exp: i64,
}

impl From<Claims> for Verified {
    fn from(claims: Claims) -> Self {
        Self {
            env: Arc::from(claims.env),
            cid: Arc::from(claims.cid),
            aud: claims.aud,
            exp: claims.exp,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TokenError {
    Malformed,
    BadSignature,
    Expired,
}

impl TokenError {
    pub(crate) fn describe(self) -> &'static str {
        match self {
            Self::Malformed => "the bearer token is malformed",
            Self::BadSignature => "the bearer token was not issued by this server",
            Self::Expired => "the bearer token has expired",
        }
    }
}

pub(crate) struct TokenSigner {
    /// HMAC-SHA256 keyed once; each token clones it (the key schedule is half the work of
    /// verifying a short token).
    keyed: Hmac<Sha256>,
    /// Tokens that verified, by their exact text: a client presents the same token on every
    /// request until it expires, so most requests skip the MAC, base64 and JSON work. Only
    /// verified tokens get in; expiry is checked on every use.
    verified: RwLock<HashMap<Box<str>, Arc<Verified>>>,
}

impl std::fmt::Debug for TokenSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TokenSigner(<key>)")
    }
}

impl TokenSigner {
    pub(crate) fn new(key: Vec<u8>) -> Self {
        // HMAC takes keys of any length.
        let keyed = Hmac::<Sha256>::new_from_slice(&key)
            .unwrap_or_else(|_| unreachable!("HMAC accepts any key length"));
        Self {
            keyed,
            verified: RwLock::new(HashMap::new()),
        }
    }

    fn mac(&self) -> Hmac<Sha256> {
        self.keyed.clone()
    }

    pub(crate) fn issue(&self, claims: &Claims) -> String {
        let payload = URL_SAFE_NO_PAD.encode(serde_json::to_vec(claims).unwrap_or_default());
        let signed = format!("{PREFIX}{payload}");
        let mut mac = self.mac();
        mac.update(signed.as_bytes());
        let tag = URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes());
        format!("{signed}.{tag}")
    }

    pub(crate) fn verify(&self, token: &str, now: DateTime<Utc>) -> Result<Claims, TokenError> {
        let rest = token.strip_prefix(PREFIX).ok_or(TokenError::Malformed)?;
        let (payload, tag) = rest.split_once('.').ok_or(TokenError::Malformed)?;
        let tag = URL_SAFE_NO_PAD
            .decode(tag)
            .map_err(|_| TokenError::Malformed)?;
        let mut mac = self.mac();
        mac.update(PREFIX.as_bytes());
        mac.update(payload.as_bytes());
        mac.verify_slice(&tag)
            .map_err(|_| TokenError::BadSignature)?;
        let bytes = URL_SAFE_NO_PAD
            .decode(payload)
            .map_err(|_| TokenError::Malformed)?;
        let claims: Claims = serde_json::from_slice(&bytes).map_err(|_| TokenError::Malformed)?;
        if claims.exp <= now.timestamp() {
            return Err(TokenError::Expired);
        }
        Ok(claims)
    }

    /// [`verify`](Self::verify), remembering tokens that verified.
    pub(crate) fn verify_cached(
        &self,
        token: &str,
        now: DateTime<Utc>,
    ) -> Result<Arc<Verified>, TokenError> {
        let known = self
            .verified
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(token)
            .cloned();
        if let Some(verified) = known {
            if verified.exp <= now.timestamp() {
                return Err(TokenError::Expired);
            }
            return Ok(verified);
        }
        let verified = Arc::new(Verified::from(self.verify(token, now)?));
        let mut cache = self
            .verified
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        if cache.len() >= VERIFIED_CAPACITY {
            // Mostly expired tokens by then; the live ones verify again once.
            cache.clear();
        }
        cache.insert(Box::from(token), verified.clone());
        Ok(verified)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claims(exp: i64) -> Claims {
        Claims {
            env: "env".into(),
            aud: "http://x".into(),
            cid: "c".into(),
            exp,
        }
    }

    #[test]
    fn a_token_verifies_until_it_expires() {
        let signer = TokenSigner::new(b"key".to_vec());
        let now = Utc::now();
        let token = signer.issue(&claims(now.timestamp() + 10));
        assert_eq!(signer.verify(&token, now), Ok(claims(now.timestamp() + 10)));
        let later = now + chrono::Duration::seconds(11);
        assert_eq!(signer.verify(&token, later), Err(TokenError::Expired));
    }

    #[test]
    fn a_remembered_token_still_expires_and_forgeries_are_never_remembered() {
        let signer = TokenSigner::new(b"key".to_vec());
        let now = Utc::now();
        let token = signer.issue(&claims(now.timestamp() + 10));
        let first = signer.verify_cached(&token, now).unwrap();
        assert_eq!(*first, Verified::from(claims(now.timestamp() + 10)));
        // The second use is served from memory: the same shared claims.
        let again = signer.verify_cached(&token, now).unwrap();
        assert!(Arc::ptr_eq(&first, &again));
        let later = now + chrono::Duration::seconds(11);
        assert_eq!(
            signer.verify_cached(&token, later),
            Err(TokenError::Expired)
        );
        // A token signed with another key is refused every time and never cached.
        let other = TokenSigner::new(b"other".to_vec()).issue(&claims(now.timestamp() + 10));
        for _ in 0..2 {
            assert_eq!(
                signer.verify_cached(&other, now),
                Err(TokenError::BadSignature)
            );
        }
        assert_eq!(
            signer
                .verified
                .read()
                .unwrap()
                .keys()
                .map(|k| &**k)
                .collect::<Vec<_>>(),
            vec![token.as_str()]
        );
    }

    #[test]
    fn the_cache_of_verified_tokens_is_bounded() {
        let signer = TokenSigner::new(b"key".to_vec());
        let now = Utc::now();
        for i in 0..VERIFIED_CAPACITY + 10 {
            let token = signer.issue(&Claims {
                cid: format!("client-{i}"),
                ..claims(now.timestamp() + 10)
            });
            signer.verify_cached(&token, now).unwrap();
            assert!(signer.verified.read().unwrap().len() <= VERIFIED_CAPACITY);
        }
    }

    #[test]
    fn another_key_or_a_changed_payload_is_refused() {
        let signer = TokenSigner::new(b"key".to_vec());
        let now = Utc::now();
        let token = signer.issue(&claims(now.timestamp() + 10));
        let other = TokenSigner::new(b"other".to_vec());
        assert_eq!(other.verify(&token, now), Err(TokenError::BadSignature));
        let forged = signer
            .issue(&Claims {
                env: "other-env".into(),
                ..claims(now.timestamp() + 10)
            })
            .split('.')
            .nth(1)
            .map(str::to_owned)
            .unwrap_or_default();
        let mut parts: Vec<&str> = token.split('.').collect();
        parts[1] = &forged;
        assert_eq!(
            signer.verify(&parts.join("."), now),
            Err(TokenError::BadSignature)
        );
        assert_eq!(signer.verify("garbage", now), Err(TokenError::Malformed));
    }
}
