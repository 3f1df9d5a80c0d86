//! Bearer tokens: the claims we trust and the one verifier both the edge and the origin run.
//!
//! Keys come from a JWK set and are chosen by `kid`; each key is bound to exactly one algorithm,
//! so a token can never pick its own (`alg: none`, HS256 signed with a public EC key, ...).
//! Where a provider puts the shop and role is configured (`claim_map`); past verification every
//! token reads as `TokenClaims`, in the product's own (Supabase's) layout.

mod algorithm;
mod bearer;
pub mod claim_map;
pub mod claim_path;
mod claims;
pub mod edge_claims;
mod error;
pub mod key_refresh;
mod keys;
mod mint;
mod verify;

pub use bearer::bearer_token;
pub use claim_map::{Acceptance, AcceptanceError, ClaimMap, ProviderClaims};
pub use claims::{AppMetadata, Audience, Role, TokenClaims};
pub use error::{TokenError, MAX_TOKEN_BYTES};
pub use keys::{KeyAlgorithm, KeySet, KeySetError, SigningKey, Strictness};
pub use mint::{mint, Lifetime, MintError};
pub use verify::{HostCheck, TokenVerifier, VerifiedToken};
