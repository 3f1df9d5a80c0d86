//! `origin keys generate`: a fresh signing key pair as JWKs. The private JWK goes to the token
//! issuer; the public set goes to `JWT_JWKS` of the edge and the origin.

use api::token::KeyAlgorithm;
use jwt_compact::jwk::JsonWebKey;
use serde_json::{json, Value};

/// The private key (with `kid` and `alg`) and the public key set for `algorithm`.
pub fn generate(algorithm: KeyAlgorithm, kid: &str) -> anyhow::Result<(Value, Value)> {
    let (private, public) = match algorithm {
        KeyAlgorithm::Es256 => {
            let signing = p256::ecdsa::SigningKey::random(&mut rand_core::OsRng);
            let verifying = *signing.verifying_key();
            let private = jwk_value(&JsonWebKey::from(&signing))?;
            let public = jwk_value(&JsonWebKey::from(&verifying))?;
            (private, public)
        }
        KeyAlgorithm::EdDsa => {
            let pair = ed25519_compact::KeyPair::generate();
            let private = jwk_value(&JsonWebKey::from(&pair.sk))?;
            let public = jwk_value(&JsonWebKey::from(&pair.pk))?;
            (private, public)
        }
        KeyAlgorithm::Rs256 | KeyAlgorithm::Ps256 => {
            let (signing, verifying) = jwt_compact::alg::Rsa::generate(
                &mut rand_core::OsRng,
                jwt_compact::alg::ModulusBits::TwoKibibytes,
            )?;
            let private = jwk_value(&JsonWebKey::from(signing.as_ref()))?;
            let public = jwk_value(&JsonWebKey::from(verifying.as_ref()))?;
            (private, public)
        }
        KeyAlgorithm::Hs256 => {
            let mut secret = [0u8; 32];
            rand_core::RngCore::fill_bytes(&mut rand_core::OsRng, &mut secret);
            let key = jwt_compact::alg::Hs256Key::new(secret);
            let jwk = jwk_value(&JsonWebKey::from(&key))?;
            (jwk.clone(), jwk)
        }
    };
    let private = with_id(private, kid, algorithm);
    let public = json!({ "keys": [with_id(public, kid, algorithm)] });
    Ok((private, public))
}

fn jwk_value(jwk: &JsonWebKey<'_>) -> anyhow::Result<Value> {
    Ok(serde_json::to_value(jwk)?)
}

fn with_id(mut jwk: Value, kid: &str, algorithm: KeyAlgorithm) -> Value {
    if let Value::Object(fields) = &mut jwk {
        fields.insert("kid".into(), kid.into());
        fields.insert("alg".into(), algorithm.name().into());
        fields.insert("use".into(), "sig".into());
    }
    jwk
}
