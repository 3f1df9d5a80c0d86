//! Bearer tokens: the claims we trust and the one verifier both the edge and the origin run.
//!
//! Keys come from a JWK set and are chosen by `kid`; each key is bound to exactly one algorithm,
//! so a token can never pick its own (`alg: none`, HS256 signed with a public EC key, ...).

mod claims;
pub mod edge_claims;
pub mod key_refresh;
mod keys;
mod mint;
mod verify;

pub use claims::{AppMetadata, Audience, Role, TokenClaims};
pub use keys::{KeyAlgorithm, KeySet, KeySetError, SigningKey, Strictness};
pub use mint::{mint, Lifetime, MintError};
pub use verify::{HostCheck, TokenError, TokenVerifier, VerifiedToken, MAX_TOKEN_BYTES};
