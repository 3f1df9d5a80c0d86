//! What every handler can reach: the pools and the token verifier.

use std::sync::Arc;

use api::token::TokenVerifier;
use secrecy::SecretString;
use sqlx::PgPool;

use crate::ops::OpsSettings;

#[derive(Debug, Clone)]
pub struct AppState {
    /// Connected as the application role: row-level security applies.
    pub db: PgPool,
    pub tokens: Arc<TokenVerifier>,
    pub edge_secret: Option<Arc<SecretString>>,
    /// A streaming replica for reads (see `replica`), as the application role.
    pub replica: Option<PgPool>,
    pub ops: OpsSettings,
}

impl AppState {
    pub fn new(db: PgPool, tokens: TokenVerifier) -> Self {
        Self {
            db,
            tokens: Arc::new(tokens),
            edge_secret: None,
            replica: None,
            ops: OpsSettings::default(),
        }
    }

    /// Requires `secret` on tenant routes (see `edge_secret`).
    pub fn with_edge_secret(mut self, secret: Option<SecretString>) -> Self {
        self.edge_secret = secret.map(Arc::new);
        self
    }

    /// Sends reads to `replica` (see `replica::begin_read`).
    pub fn with_replica(mut self, replica: Option<PgPool>) -> Self {
        self.replica = replica;
        self
    }

    /// Request deadline and log sampling.
    pub fn with_ops(mut self, ops: OpsSettings) -> Self {
        self.ops = ops;
        self
    }
}
