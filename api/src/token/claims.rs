//! The claims of a verified caller in the product's own layout (Supabase's: tenant and role in
//! `app_metadata`), whatever layout the provider's token had (see `claim_map`). Postgres reads
//! them in this layout through `auth.jwt()`.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// What a caller may do inside its shop. It comes from the token only: no table is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Shopper,
    Admin,
}

/// Claims set by the issuer and never by the user.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AppMetadata {
    pub org_id: Uuid,
    pub role: Role,
}

/// `aud` may be one string or a list of them (RFC 7519 §4.1.3).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Audience {
    One(String),
    Many(Vec<String>),
}

impl Audience {
    pub fn contains(&self, wanted: &str) -> bool {
        match self {
            Self::One(aud) => aud == wanted,
            Self::Many(auds) => auds.iter().any(|aud| aud == wanted),
        }
    }
}

/// Everything but the time claims, which `jwt_compact::Claims` carries around these. Tokens in
/// this layout are what `mint` signs for development and tests.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenClaims {
    pub sub: String,
    pub iss: String,
    pub aud: Audience,
    pub app_metadata: AppMetadata,
}
