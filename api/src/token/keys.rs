//! A JWK set turned into typed keys, each bound to one algorithm.

use std::collections::HashMap;

use jwt_compact::{alg::Hs256Key, jwk::JsonWebKey};
use serde::Deserialize;

/// The algorithms the product accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyAlgorithm {
    Hs256,
    Es256,
    EdDsa,
}

impl KeyAlgorithm {
    pub fn name(self) -> &'static str {
        match self {
            Self::Hs256 => "HS256",
            Self::Es256 => "ES256",
            Self::EdDsa => "EdDSA",
        }
    }

    fn from_name(name: &str) -> Option<Self> {
        [Self::Hs256, Self::Es256, Self::EdDsa]
            .into_iter()
            .find(|alg| alg.name() == name)
    }

    /// The algorithm a key's material implies; a declared `alg` must agree with it.
    fn implied_by(jwk: &JsonWebKey<'_>) -> Option<Self> {
        match jwk {
            JsonWebKey::Symmetric { .. } => Some(Self::Hs256),
            JsonWebKey::EllipticCurve { curve, .. } if curve == "P-256" => Some(Self::Es256),
            JsonWebKey::KeyPair { curve, .. } if curve == "Ed25519" => Some(Self::EdDsa),
            _ => None,
        }
    }
}

/// Why a JWK set was refused at start-up.
#[derive(Debug, thiserror::Error)]
pub enum KeySetError {
    #[error("the key set is not valid JSON of the form {{\"keys\": [...]}}: {0}")]
    Json(#[from] serde_json::Error),
    #[error("key {kid:?}: {reason}")]
    Key { kid: String, reason: String },
    #[error("key id {0:?} appears twice")]
    DuplicateKid(String),
}

#[derive(Deserialize)]
struct RawKeySet<'a> {
    #[serde(borrow)]
    keys: Vec<RawKey<'a>>,
}

#[derive(Deserialize)]
struct RawKey<'a> {
    kid: String,
    #[serde(default)]
    alg: Option<String>,
    #[serde(flatten, borrow)]
    material: JsonWebKey<'a>,
}

/// A key that can check signatures.
pub(crate) enum VerifyingKey {
    Hs256(Hs256Key),
    Es256(p256::ecdsa::VerifyingKey),
    EdDsa(ed25519_compact::PublicKey),
}

impl VerifyingKey {
    pub(crate) fn algorithm(&self) -> KeyAlgorithm {
        match self {
            Self::Hs256(_) => KeyAlgorithm::Hs256,
            Self::Es256(_) => KeyAlgorithm::Es256,
            Self::EdDsa(_) => KeyAlgorithm::EdDsa,
        }
    }
}

/// A key that can sign, for issuers and development tokens.
pub enum SigningKey {
    Hs256(Hs256Key),
    Es256(p256::ecdsa::SigningKey),
    EdDsa(ed25519_compact::SecretKey),
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("SigningKey")
            .field(&self.algorithm().name())
            .finish()
    }
}

impl SigningKey {
    pub fn algorithm(&self) -> KeyAlgorithm {
        match self {
            Self::Hs256(_) => KeyAlgorithm::Hs256,
            Self::Es256(_) => KeyAlgorithm::Es256,
            Self::EdDsa(_) => KeyAlgorithm::EdDsa,
        }
    }
}

/// Verifying keys by `kid`, plus the signing keys of entries that carry private material.
pub struct KeySet {
    verifying: HashMap<String, VerifyingKey>,
    signing: Vec<(String, SigningKey)>,
}

impl std::fmt::Debug for KeySet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut kids: Vec<&String> = self.verifying.keys().collect();
        kids.sort();
        f.debug_struct("KeySet").field("kids", &kids).finish()
    }
}

impl KeySet {
    /// Parses `{"keys": [...]}`. Every key needs a `kid`; `alg`, when present, must match the
    /// key material. Symmetric keys shorter than 32 bytes are refused.
    pub fn from_jwks_json(json: &str) -> Result<Self, KeySetError> {
        let raw: RawKeySet<'_> = serde_json::from_str(json)?;
        let mut verifying = HashMap::new();
        let mut signing = Vec::new();
        for key in raw.keys {
            let kid = key.kid.clone();
            let refuse = |reason: String| KeySetError::Key {
                kid: kid.clone(),
                reason,
            };
            let implied = KeyAlgorithm::implied_by(&key.material).ok_or_else(|| {
                refuse("only oct, EC P-256 and OKP Ed25519 keys are supported".into())
            })?;
            if let Some(declared) = key.alg.as_deref() {
                if KeyAlgorithm::from_name(declared) != Some(implied) {
                    return Err(refuse(format!(
                        "alg {declared} does not fit a {} key",
                        implied.name()
                    )));
                }
            }
            let (verify, sign) = typed_keys(implied, &key.material).map_err(refuse)?;
            if verifying.insert(kid.clone(), verify).is_some() {
                return Err(KeySetError::DuplicateKid(kid));
            }
            if let Some(sign) = sign {
                signing.push((kid, sign));
            }
        }
        Ok(Self { verifying, signing })
    }

    pub(crate) fn verifying_key(&self, kid: &str) -> Option<&VerifyingKey> {
        self.verifying.get(kid)
    }

    /// The first private key of `algorithm` with its `kid`.
    pub fn signing_key(&self, algorithm: KeyAlgorithm) -> Option<(&str, &SigningKey)> {
        self.signing
            .iter()
            .find(|(_, key)| key.algorithm() == algorithm)
            .map(|(kid, key)| (kid.as_str(), key))
    }

    pub fn is_empty(&self) -> bool {
        self.verifying.is_empty()
    }
}

const MIN_HMAC_KEY_BYTES: usize = 32;

fn typed_keys(
    alg: KeyAlgorithm,
    jwk: &JsonWebKey<'_>,
) -> Result<(VerifyingKey, Option<SigningKey>), String> {
    let has_private = match jwk {
        JsonWebKey::EllipticCurve { secret, .. } | JsonWebKey::KeyPair { secret, .. } => {
            secret.is_some()
        }
        _ => false,
    };
    let err = |e: jwt_compact::jwk::JwkError| e.to_string();
    Ok(match alg {
        KeyAlgorithm::Hs256 => {
            let key = Hs256Key::try_from(jwk).map_err(err)?;
            if key.as_ref().len() < MIN_HMAC_KEY_BYTES {
                return Err(format!(
                    "an HS256 key needs at least {MIN_HMAC_KEY_BYTES} bytes"
                ));
            }
            let sign = Hs256Key::try_from(jwk).map_err(err)?;
            (VerifyingKey::Hs256(key), Some(SigningKey::Hs256(sign)))
        }
        KeyAlgorithm::Es256 => {
            let verify = p256::ecdsa::VerifyingKey::try_from(jwk).map_err(err)?;
            let sign = has_private
                .then(|| p256::ecdsa::SigningKey::try_from(jwk).map_err(err))
                .transpose()?;
            (VerifyingKey::Es256(verify), sign.map(SigningKey::Es256))
        }
        KeyAlgorithm::EdDsa => {
            let verify = ed25519_compact::PublicKey::try_from(jwk).map_err(err)?;
            let sign = has_private
                .then(|| ed25519_compact::SecretKey::try_from(jwk).map_err(err))
                .transpose()?;
            (VerifyingKey::EdDsa(verify), sign.map(SigningKey::EdDsa))
        }
    })
}

/// Confirms the jwt-compact algorithm names match ours, so `alg` checks compare like with like.
#[cfg(test)]
mod tests {
    use super::*;
    use jwt_compact::{
        alg::{Ed25519, Es256, Hs256},
        Algorithm,
    };

    #[test]
    fn algorithm_names_match_the_library() {
        assert_eq!(Hs256.name(), KeyAlgorithm::Hs256.name());
        assert_eq!(Es256.name(), KeyAlgorithm::Es256.name());
        assert_eq!(Ed25519.name(), KeyAlgorithm::EdDsa.name());
    }

    #[test]
    fn short_hmac_keys_and_mismatched_alg_are_refused() {
        let short = r#"{"keys":[{"kid":"a","kty":"oct","k":"c2hvcnQ"}]}"#;
        assert!(KeySet::from_jwks_json(short).is_err());
        let mismatched = r#"{"keys":[{"kid":"a","alg":"ES256","kty":"oct","k":"MDEyMzQ1Njc4OTAxMjM0NTY3ODkwMTIzNDU2Nzg5MDE"}]}"#;
        assert!(KeySet::from_jwks_json(mismatched).is_err());
        let good = r#"{"keys":[{"kid":"a","alg":"HS256","kty":"oct","k":"MDEyMzQ1Njc4OTAxMjM0NTY3ODkwMTIzNDU2Nzg5MDE"}]}"#;
        assert!(KeySet::from_jwks_json(good).is_ok());
    }
}
