//! The checks a claim must pass to go live, each answering in the owner's words: the HTTP
//! challenge (always), the TXT record (where the hostname was lately another shop's), and
//! Cloudflare's hostname and certificate status (where the platform issues certificates).
//!
//! A check fails in one of three ways: the owner must act (`Failed::Owner`: the claim turns
//! `failed` with the reason), the platform is still at work (`Failed::Waiting`: a certificate
//! being issued; the claim stays `pending`), or a service the check needs did not answer
//! (`Failed::Unreachable`: the claim stays as it was and the owner may simply check again).

pub mod cloudflare;
pub mod http;
pub mod txt;

/// Why a check did not pass.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failed {
    /// The owner must change something (DNS, a record): the reason says what.
    Owner(String),
    /// The platform is still at work (a certificate being issued): nothing to do but wait.
    Waiting(String),
    /// A service the check needs (a resolver, Cloudflare's API) did not answer.
    Unreachable(String),
}

impl Failed {
    pub fn owner(reason: impl Into<String>) -> Self {
        Self::Owner(reason.into())
    }

    pub fn unreachable(reason: impl Into<String>) -> Self {
        Self::Unreachable(reason.into())
    }

    /// A fault on the platform's side, which the owner can do nothing about but wait.
    pub fn internal(reason: impl Into<String>) -> Self {
        Self::Unreachable(reason.into())
    }
}
