//! The signature algorithms the product accepts, by their JOSE names, and which one a key's
//! material implies: a key is bound to one algorithm, so a token never picks its own.

use jwt_compact::jwk::JsonWebKey;

/// The algorithms the product accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum KeyAlgorithm {
    Hs256,
    Es256,
    EdDsa,
    Rs256,
    Ps256,
}

impl KeyAlgorithm {
    pub fn name(self) -> &'static str {
        match self {
            Self::Hs256 => "HS256",
            Self::Es256 => "ES256",
            Self::EdDsa => "EdDSA",
            Self::Rs256 => "RS256",
            Self::Ps256 => "PS256",
        }
    }

    pub(super) fn from_name(name: &str) -> Option<Self> {
        [
            Self::Hs256,
            Self::Es256,
            Self::EdDsa,
            Self::Rs256,
            Self::Ps256,
        ]
        .into_iter()
        .find(|alg| alg.name() == name)
    }

    /// The algorithm a key's material implies (RSA keys say RS256 unless `alg` says PS256); a
    /// declared `alg` must agree with it.
    pub(super) fn implied_by(jwk: &JsonWebKey<'_>, declared: Option<&str>) -> Option<Self> {
        match jwk {
            JsonWebKey::Symmetric { .. } => Some(Self::Hs256),
            JsonWebKey::EllipticCurve { curve, .. } if curve == "P-256" => Some(Self::Es256),
            JsonWebKey::KeyPair { curve, .. } if curve == "Ed25519" => Some(Self::EdDsa),
            JsonWebKey::Rsa { .. } if declared == Some("PS256") => Some(Self::Ps256),
            JsonWebKey::Rsa { .. } => Some(Self::Rs256),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use jwt_compact::{alg::Hs256, Algorithm};

    /// The jwt-compact names match ours, so `alg` checks compare like with like.
    #[test]
    fn algorithm_names_match_the_library() {
        assert_eq!(Hs256.name(), KeyAlgorithm::Hs256.name());
        #[cfg(feature = "native-crypto")]
        {
            use jwt_compact::alg::{Ed25519, Es256, Rsa};
            assert_eq!(Es256.name(), KeyAlgorithm::Es256.name());
            assert_eq!(Ed25519.name(), KeyAlgorithm::EdDsa.name());
            assert_eq!(Rsa::rs256().name(), KeyAlgorithm::Rs256.name());
            assert_eq!(Rsa::ps256().name(), KeyAlgorithm::Ps256.name());
        }
    }
}
