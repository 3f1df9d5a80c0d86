//! A JWK set turned into typed keys, each bound to one algorithm by its `kid`.
//!
//! With `native-crypto` (the origin, tools) every key is checked in Rust. Without it (the wasm
//! Worker) only HS256 is: the other keys are kept as their public JWK for the runtime's
//! WebCrypto, which checks RSA and the curves at native speed and keeps them out of the wasm.

use std::collections::HashMap;

use jwt_compact::{alg::Hs256Key, jwk::JsonWebKey};
use serde::Deserialize;

pub use super::algorithm::KeyAlgorithm;

/// Why a JWK set was refused.
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
struct RawKeySet {
    keys: Vec<serde_json::Value>,
}

#[derive(Deserialize)]
struct RawKey<'a> {
    #[serde(default)]
    kid: Option<String>,
    #[serde(default)]
    alg: Option<String>,
    #[serde(default, rename = "use")]
    usage: Option<String>,
    #[serde(flatten, borrow)]
    material: JsonWebKey<'a>,
}

/// How strictly a set is read. An operator's own `JWT_JWKS` must be all usable; a provider's
/// published set may carry keys for other uses (encryption, RS384, ...), which are skipped, and
/// symmetric (`oct`) keys are skipped too: a key that is published can be read by anyone, and
/// anyone who reads an HS256 key can sign with it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Strictness {
    Strict,
    SkipUnsupported,
}

/// A key that can check signatures.
#[derive(Clone)]
pub(crate) enum VerifyingKey {
    Hs256(Hs256Key),
    #[cfg(feature = "native-crypto")]
    Es256(p256::ecdsa::VerifyingKey),
    #[cfg(feature = "native-crypto")]
    EdDsa(ed25519_compact::PublicKey),
    #[cfg(feature = "native-crypto")]
    Rsa(KeyAlgorithm, rsa::RsaPublicKey),
    /// Checked by the host runtime (WebCrypto): the public JWK as published.
    #[cfg(not(feature = "native-crypto"))]
    Host(KeyAlgorithm, std::rc::Rc<serde_json::Value>),
}

/// The algorithm of a key of either kind: their variants are named alike.
macro_rules! algorithm_of {
    ($key:expr $(, $extra:pat => $alg:expr)?) => {
        match $key {
            Self::Hs256(_) => KeyAlgorithm::Hs256,
            #[cfg(feature = "native-crypto")]
            Self::Es256(_) => KeyAlgorithm::Es256,
            #[cfg(feature = "native-crypto")]
            Self::EdDsa(_) => KeyAlgorithm::EdDsa,
            #[cfg(feature = "native-crypto")]
            Self::Rsa(alg, _) => *alg,
            $($extra => $alg,)?
        }
    };
}

impl VerifyingKey {
    pub(crate) fn algorithm(&self) -> KeyAlgorithm {
        #[cfg(feature = "native-crypto")]
        return algorithm_of!(self);
        #[cfg(not(feature = "native-crypto"))]
        return algorithm_of!(self, Self::Host(alg, _) => *alg);
    }
}

/// A key that can sign, for issuers and development tokens.
pub enum SigningKey {
    Hs256(Hs256Key),
    #[cfg(feature = "native-crypto")]
    Es256(p256::ecdsa::SigningKey),
    #[cfg(feature = "native-crypto")]
    EdDsa(ed25519_compact::SecretKey),
    #[cfg(feature = "native-crypto")]
    Rsa(KeyAlgorithm, Box<rsa::RsaPrivateKey>),
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
        algorithm_of!(self)
    }
}

/// Verifying keys by `kid`, plus the signing keys of entries that carry private material.
pub struct KeySet {
    verifying: HashMap<String, VerifyingKey>,
    signing: Vec<(String, SigningKey)>,
}

impl std::fmt::Debug for KeySet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeySet")
            .field("kids", &self.kids())
            .finish()
    }
}

impl KeySet {
    /// Parses `{"keys": [...]}`. Every key needs a `kid`; `alg`, when present, must match the
    /// key material. Symmetric keys shorter than 32 bytes and RSA keys under 2048 bits are
    /// refused.
    pub fn from_jwks_json(json: &str) -> Result<Self, KeySetError> {
        Self::from_sources(&[(json, Strictness::Strict)])
    }

    /// One set from several documents (the operator's `JWT_JWKS` beside a provider's set); a
    /// `kid` may appear once across all of them.
    pub fn from_sources(sources: &[(&str, Strictness)]) -> Result<Self, KeySetError> {
        let mut set = Self {
            verifying: HashMap::new(),
            signing: Vec::new(),
        };
        for (json, strictness) in sources {
            let raw: RawKeySet = serde_json::from_str(json)?;
            for value in &raw.keys {
                match set.add(value, *strictness) {
                    Ok(()) => {}
                    Err(KeySetError::Key { .. }) if *strictness == Strictness::SkipUnsupported => {}
                    Err(err) => return Err(err),
                }
            }
        }
        Ok(set)
    }

    fn add(
        &mut self,
        value: &serde_json::Value,
        strictness: Strictness,
    ) -> Result<(), KeySetError> {
        let refuse = |kid: &str, reason: String| KeySetError::Key {
            kid: kid.to_owned(),
            reason,
        };
        let key = RawKey::deserialize(value).map_err(|e| refuse("?", e.to_string()))?;
        let kid = key
            .kid
            .clone()
            .ok_or_else(|| refuse("?", "no kid".into()))?;
        if key.usage.as_deref().is_some_and(|usage| usage != "sig") {
            return Err(refuse(&kid, "not a signing key".into()));
        }
        let declared = key.alg.as_deref();
        let implied = KeyAlgorithm::implied_by(&key.material, declared).ok_or_else(|| {
            refuse(
                &kid,
                "only oct, RSA, EC P-256 and OKP Ed25519 keys are supported".into(),
            )
        })?;
        if implied == KeyAlgorithm::Hs256 && strictness == Strictness::SkipUnsupported {
            return Err(refuse(
                &kid,
                "a published key set holds no secret keys".into(),
            ));
        }
        if let Some(declared) = declared {
            if KeyAlgorithm::from_name(declared) != Some(implied) {
                return Err(refuse(
                    &kid,
                    format!("alg {declared} does not fit a {} key", implied.name()),
                ));
            }
        }
        let (verify, sign) =
            typed_keys(implied, &key.material, value).map_err(|reason| refuse(&kid, reason))?;
        if self.verifying.contains_key(&kid) {
            return Err(KeySetError::DuplicateKid(kid));
        }
        self.verifying.insert(kid.clone(), verify);
        if let Some(sign) = sign {
            self.signing.push((kid, sign));
        }
        Ok(())
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

    /// The key ids, sorted.
    pub fn kids(&self) -> Vec<&str> {
        let mut kids: Vec<&str> = self.verifying.keys().map(String::as_str).collect();
        kids.sort_unstable();
        kids
    }
}

const MIN_HMAC_KEY_BYTES: usize = 32;
#[cfg(feature = "native-crypto")]
const MIN_RSA_BITS: usize = 2048;

type TypedKeys = (VerifyingKey, Option<SigningKey>);

fn typed_keys(
    alg: KeyAlgorithm,
    jwk: &JsonWebKey<'_>,
    #[cfg_attr(feature = "native-crypto", allow(unused_variables))] published: &serde_json::Value,
) -> Result<TypedKeys, String> {
    let err = |e: jwt_compact::jwk::JwkError| e.to_string();
    if alg == KeyAlgorithm::Hs256 {
        let key = Hs256Key::try_from(jwk).map_err(err)?;
        if key.as_ref().len() < MIN_HMAC_KEY_BYTES {
            return Err(format!(
                "an HS256 key needs at least {MIN_HMAC_KEY_BYTES} bytes"
            ));
        }
        let sign = Hs256Key::try_from(jwk).map_err(err)?;
        return Ok((VerifyingKey::Hs256(key), Some(SigningKey::Hs256(sign))));
    }
    #[cfg(feature = "native-crypto")]
    {
        native_keys(alg, jwk)
    }
    #[cfg(not(feature = "native-crypto"))]
    {
        Ok((
            VerifyingKey::Host(alg, std::rc::Rc::new(public_only(published))),
            None,
        ))
    }
}

/// The JWK without private members, which WebCrypto would refuse for a verify-only import.
#[cfg(not(feature = "native-crypto"))]
fn public_only(published: &serde_json::Value) -> serde_json::Value {
    let mut jwk = published.clone();
    if let serde_json::Value::Object(fields) = &mut jwk {
        for private in ["d", "p", "q", "dp", "dq", "qi", "oth", "key_ops", "use"] {
            fields.remove(private);
        }
    }
    jwk
}

#[cfg(feature = "native-crypto")]
fn native_keys(alg: KeyAlgorithm, jwk: &JsonWebKey<'_>) -> Result<TypedKeys, String> {
    use rsa::traits::PublicKeyParts;

    let err = |e: jwt_compact::jwk::JwkError| e.to_string();
    let has_private = match jwk {
        JsonWebKey::EllipticCurve { secret, .. } | JsonWebKey::KeyPair { secret, .. } => {
            secret.is_some()
        }
        JsonWebKey::Rsa { private_parts, .. } => private_parts.is_some(),
        _ => false,
    };
    Ok(match alg {
        KeyAlgorithm::Hs256 => unreachable!("HS256 keys are typed before"),
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
        KeyAlgorithm::Rs256 | KeyAlgorithm::Ps256 => {
            let verify = rsa::RsaPublicKey::try_from(jwk).map_err(err)?;
            if verify.size() * 8 < MIN_RSA_BITS {
                return Err(format!("an RSA key needs at least {MIN_RSA_BITS} bits"));
            }
            let sign = has_private
                .then(|| rsa::RsaPrivateKey::try_from(jwk).map_err(err))
                .transpose()?;
            (
                VerifyingKey::Rsa(alg, verify),
                sign.map(|key| SigningKey::Rsa(alg, Box::new(key))),
            )
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_hmac_keys_and_mismatched_alg_are_refused() {
        let short = r#"{"keys":[{"kid":"a","kty":"oct","k":"c2hvcnQ"}]}"#;
        assert!(KeySet::from_jwks_json(short).is_err());
        let mismatched = r#"{"keys":[{"kid":"a","alg":"ES256","kty":"oct","k":"MDEyMzQ1Njc4OTAxMjM0NTY3ODkwMTIzNDU2Nzg5MDE"}]}"#;
        assert!(KeySet::from_jwks_json(mismatched).is_err());
        let good = r#"{"keys":[{"kid":"a","alg":"HS256","kty":"oct","k":"MDEyMzQ1Njc4OTAxMjM0NTY3ODkwMTIzNDU2Nzg5MDE"}]}"#;
        assert!(KeySet::from_jwks_json(good).is_ok());
    }

    #[test]
    fn a_provider_set_skips_keys_it_cannot_use_and_secret_keys() {
        let own = r#"{"keys":[{"kid":"own","kty":"oct","k":"MDEyMzQ1Njc4OTAxMjM0NTY3ODkwMTIzNDU2Nzg5MDE"}]}"#;
        let published = r#"{"keys":[{"kid":"enc","use":"enc","kty":"oct","k":"MDEyMzQ1Njc4OTAxMjM0NTY3ODkwMTIzNDU2Nzg5MDE"},{"kid":"a","kty":"oct","k":"MDEyMzQ1Njc4OTAxMjM0NTY3ODkwMTIzNDU2Nzg5MDE"}]}"#;
        let keys = KeySet::from_sources(&[
            (own, Strictness::Strict),
            (published, Strictness::SkipUnsupported),
        ])
        .expect("lenient");
        assert_eq!(keys.kids(), ["own"], "a published HS256 key signs nothing");
        assert!(KeySet::from_jwks_json(published).is_err());
    }
}
