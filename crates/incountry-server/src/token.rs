//! Bearer tokens: `ict1.<payload>.<mac>`, the payload a base64url JSON object
//! `{"env", "aud", "cid", "exp"}` and the mac HMAC-SHA256 over `ict1.<payload>`.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

const PREFIX: &str = "ict1.";

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
    key: Vec<u8>,
}

impl std::fmt::Debug for TokenSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TokenSigner(<key>)")
    }
}

impl TokenSigner {
    pub(crate) fn new(key: Vec<u8>) -> Self {
        Self { key }
    }

    fn mac(&self) -> Hmac<Sha256> {
        // HMAC takes keys of any length.
        Hmac::<Sha256>::new_from_slice(&self.key)
            .unwrap_or_else(|_| unreachable!("HMAC accepts any key length"))
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
