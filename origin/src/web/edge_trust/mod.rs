//! What the origin trusts the edge with, when `EDGE_SHARED_SECRET` is set: the edge's proof on
//! each request (`api::edge_proof`), checked by `require_proof` on every tenant route, and the
//! claims the edge verified, sealed to one request (`api::token::edge_claims`, opened in
//! `web::caller`). Both keys are derived from the secret, which never travels.
//!
//! A proof is good once: `ReplayGuard` remembers the proofs accepted within their window, so a
//! request copied off the wire cannot be sent again, even unchanged. The guard is per process;
//! several origins behind one balancer each keep their own, so the edge-to-origin hop must
//! still run over TLS (docs/operations.md), which keeps copies from being made at all.

mod replay_guard;
mod require_proof;

use std::sync::Arc;

use api::{edge_key::EdgeSecret, edge_proof::EdgeProofKey, token::edge_claims::EdgeClaimsKey};

pub use replay_guard::ReplayGuard;
pub use require_proof::require_proof;

/// The keys derived from the edge's secret, and the memory of proofs already used.
#[derive(Debug, Clone)]
pub struct EdgeTrust {
    pub proofs: EdgeProofKey,
    pub claims: EdgeClaimsKey,
    pub replays: Arc<ReplayGuard>,
}

impl EdgeTrust {
    pub fn new(secret: &EdgeSecret) -> Self {
        Self {
            proofs: EdgeProofKey::new(secret),
            claims: EdgeClaimsKey::new(secret),
            replays: Arc::new(ReplayGuard::default()),
        }
    }
}
