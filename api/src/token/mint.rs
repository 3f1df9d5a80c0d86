//! Signing tokens: used by `origin token` for development and by issuers' tooling and tests.

use chrono::{DateTime, Utc};
#[cfg(feature = "native-crypto")]
use jwt_compact::alg::{Ed25519, Es256, Rsa};
use jwt_compact::{alg::Hs256, AlgorithmExt, Claims, Header};
use serde::Serialize;

#[cfg(feature = "native-crypto")]
use super::keys::KeyAlgorithm;
use super::keys::SigningKey;

/// The time claims of a token to mint.
#[derive(Debug, Clone, Copy)]
pub struct Lifetime {
    pub issued_at: DateTime<Utc>,
    pub not_before: Option<DateTime<Utc>>,
    pub expires_at: DateTime<Utc>,
}

#[derive(Debug, thiserror::Error)]
#[error("could not sign the token: {0}")]
pub struct MintError(String);

/// Signs `claims` with `key`, naming `kid` in the header. `claims` is usually `TokenClaims`;
/// any object serializes (a provider's own layout, in tests).
pub fn mint<T: Serialize>(
    key: &SigningKey,
    kid: &str,
    claims: T,
    lifetime: Lifetime,
) -> Result<String, MintError> {
    let header = Header::empty().with_key_id(kid);
    let mut full = Claims::new(claims);
    full.issued_at = Some(lifetime.issued_at);
    full.not_before = lifetime.not_before;
    full.expiration = Some(lifetime.expires_at);
    let signed = match key {
        SigningKey::Hs256(k) => Hs256.token(&header, &full, k),
        #[cfg(feature = "native-crypto")]
        SigningKey::Es256(k) => Es256.token(&header, &full, k),
        #[cfg(feature = "native-crypto")]
        SigningKey::EdDsa(k) => Ed25519.token(&header, &full, k),
        #[cfg(feature = "native-crypto")]
        SigningKey::Rsa(KeyAlgorithm::Ps256, k) => Rsa::ps256().token(&header, &full, k),
        #[cfg(feature = "native-crypto")]
        SigningKey::Rsa(_, k) => Rsa::rs256().token(&header, &full, k),
    };
    signed.map_err(|e| MintError(e.to_string()))
}
