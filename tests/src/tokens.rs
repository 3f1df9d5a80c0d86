//! Keys and tokens for tests: a fresh HS256, ES256 and EdDSA key per test, and helpers to mint
//! good tokens and every kind of bad one.

use api::token::{
    mint, AppMetadata, Audience, KeyAlgorithm, KeySet, Lifetime, Role, TokenClaims, TokenVerifier,
};
use chrono::{Duration, Utc};
use origin::operator::signing_keys;
use serde_json::Value;
use uuid::Uuid;

pub const ISSUER: &str = "furnitureops";
pub const AUDIENCE: &str = "furnitureops-shops";

pub const HS256_KID: &str = "test-hs256";
pub const ES256_KID: &str = "test-es256";
pub const EDDSA_KID: &str = "test-eddsa";

#[derive(Debug, Clone)]
pub struct TestKeys {
    private: String,
    public: String,
    /// The ES256 public key in JWK form (attackers can read it from the JWKS).
    pub es256_public: Value,
}

impl Default for TestKeys {
    fn default() -> Self {
        Self::new()
    }
}

impl TestKeys {
    pub fn new() -> Self {
        let mut private = Vec::new();
        let mut public = Vec::new();
        let mut es256_public = Value::Null;
        for (alg, kid) in [
            (KeyAlgorithm::Hs256, HS256_KID),
            (KeyAlgorithm::Es256, ES256_KID),
            (KeyAlgorithm::EdDsa, EDDSA_KID),
        ] {
            let (secret, set) = signing_keys::generate(alg, kid).expect("generate test key");
            let public_key = set["keys"][0].clone();
            if alg == KeyAlgorithm::Es256 {
                es256_public = public_key.clone();
            }
            private.push(secret);
            public.push(public_key);
        }
        Self {
            private: serde_json::json!({ "keys": private }).to_string(),
            public: serde_json::json!({ "keys": public }).to_string(),
            es256_public,
        }
    }

    /// The set the Worker and origin verify with: public keys only (and the HS256 secret).
    pub fn public_jwks(&self) -> String {
        self.public.clone()
    }

    /// The set with private material, for minting.
    pub fn signing_set(&self) -> KeySet {
        KeySet::from_jwks_json(&self.private).expect("valid test key set")
    }

    pub fn verifier(&self) -> TokenVerifier {
        let keys = KeySet::from_jwks_json(&self.public).expect("valid public key set");
        TokenVerifier::new(keys, ISSUER, AUDIENCE)
    }

    /// A one-hour HS256 token for `sub` in `org_id` with `role`.
    pub fn token(&self, org_id: Uuid, role: Role, sub: &str) -> String {
        self.token_with(KeyAlgorithm::Hs256, claims(org_id, role, sub), hour())
    }

    /// A token signed with the test key of `algorithm`.
    pub fn token_with(
        &self,
        algorithm: KeyAlgorithm,
        claims: TokenClaims,
        lifetime: Lifetime,
    ) -> String {
        let set = self.signing_set();
        let (kid, key) = set
            .signing_key(algorithm)
            .expect("test key of each algorithm");
        mint(key, kid, claims, lifetime).expect("mint test token")
    }
}

/// Standard claims for a caller of `org_id`.
pub fn claims(org_id: Uuid, role: Role, sub: &str) -> TokenClaims {
    TokenClaims {
        sub: sub.to_owned(),
        iss: ISSUER.to_owned(),
        aud: Audience::One(AUDIENCE.to_owned()),
        app_metadata: AppMetadata { org_id, role },
    }
}

/// Issued now, valid for an hour.
pub fn hour() -> Lifetime {
    let now = Utc::now();
    Lifetime {
        issued_at: now,
        not_before: None,
        expires_at: now + Duration::hours(1),
    }
}
