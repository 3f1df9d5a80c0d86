//! Why a token was refused, and how each refusal is answered: one type for the verifier and the
//! claim map, below both, so neither has to import the other.

use crate::ProblemKind;

/// Tokens longer than this are refused before any parsing.
pub const MAX_TOKEN_BYTES: usize = 8 * 1024;

/// Why a token was refused. The message is safe to show to the caller.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error("the token is larger than {MAX_TOKEN_BYTES} bytes")]
    TooLarge,
    #[error("the token is malformed")]
    Malformed,
    #[error("the token names no key id (kid)")]
    MissingKeyId,
    #[error("the token's key id is unknown")]
    UnknownKeyId,
    #[error("the token's algorithm does not match its key")]
    AlgorithmMismatch,
    #[error("the token's signature is invalid")]
    BadSignature,
    #[error("the token has no expiry (exp)")]
    MissingExpiry,
    #[error("the token has expired")]
    Expired,
    #[error("the token is not valid yet (nbf)")]
    NotYetValid,
    #[error("the token claims to be issued in the future (iat)")]
    IssuedInFuture,
    #[error("the token's issuer is not accepted")]
    WrongIssuer,
    #[error("the token is not meant for this audience")]
    WrongAudience,
    /// Nothing at the configured shop claim, or not a shop id (the path is in the message).
    #[error("the token names no shop id at {0}")]
    NoShop(String),
    /// The nil shop id keys the operators' global rows; no token may act on it (403).
    #[error("the token names the nil shop id, which is no shop")]
    NilShop,
    #[error("the token names no role at {0}")]
    NoRole(String),
    /// A role value the settings map to neither admin nor shopper: the caller is who they say,
    /// but may do nothing here (403).
    #[error("the token's role is not one this shop accepts")]
    RoleNotAccepted,
    /// The provider's key set could not be had for too long: verification fails closed (503).
    #[error("the keys to check tokens with are not available")]
    KeysUnavailable,
}

impl TokenError {
    /// How the caller is answered: the Worker and the origin alike.
    pub fn kind(&self) -> ProblemKind {
        match self {
            Self::KeysUnavailable => ProblemKind::Unavailable,
            Self::RoleNotAccepted | Self::NilShop => ProblemKind::Forbidden,
            _ => ProblemKind::Unauthenticated,
        }
    }
}
