//! Keys and tokens for tests: a fresh HS256 key per test, signed the same way `origin token` does.

use api::token::{KeyAlgorithm, KeySet, Role, TokenVerifier};
use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine};
use chrono::Duration;
use origin::dev_tokens::{mint_token, TokenRequest};
use uuid::Uuid;

pub const ISSUER: &str = "furnitureops";
pub const AUDIENCE: &str = "furnitureops-shops";

#[derive(Debug, Clone)]
pub struct TestKeys {
    jwks: String,
}

impl Default for TestKeys {
    fn default() -> Self {
        Self::new()
    }
}

impl TestKeys {
    pub fn new() -> Self {
        let secret = format!("{}{}", Uuid::new_v4().simple(), Uuid::new_v4().simple());
        let k = URL_SAFE_NO_PAD.encode(secret.as_bytes());
        Self {
            jwks: format!(
                r#"{{"keys":[{{"kid":"test-hs256","alg":"HS256","kty":"oct","k":"{k}"}}]}}"#
            ),
        }
    }

    /// The set the Worker and origin verify with.
    pub fn public_jwks(&self) -> String {
        self.jwks.clone()
    }

    pub fn key_set(&self) -> KeySet {
        KeySet::from_jwks_json(&self.jwks).expect("valid test key set")
    }

    pub fn verifier(&self) -> TokenVerifier {
        TokenVerifier::new(self.key_set(), ISSUER, AUDIENCE)
    }

    /// A one-hour token for `sub` in `org_id` with `role`.
    pub fn token(&self, org_id: Uuid, role: Role, sub: &str) -> String {
        let request = TokenRequest {
            org_id,
            role,
            sub: sub.to_owned(),
            issuer: ISSUER.to_owned(),
            audience: AUDIENCE.to_owned(),
            ttl: Duration::hours(1),
            algorithm: KeyAlgorithm::Hs256,
        };
        mint_token(&self.key_set(), &request).expect("mint test token")
    }
}
