//! What every handler can reach: the pool and the token verifier.

use std::sync::Arc;

use api::token::TokenVerifier;
use secrecy::SecretString;
use sqlx::PgPool;

#[derive(Debug, Clone)]
pub struct AppState {
    /// Connected as the application role: row-level security applies.
    pub db: PgPool,
    pub tokens: Arc<TokenVerifier>,
    pub edge_secret: Option<Arc<SecretString>>,
}

impl AppState {
    pub fn new(db: PgPool, tokens: TokenVerifier) -> Self {
        Self {
            db,
            tokens: Arc::new(tokens),
            edge_secret: None,
        }
    }

    /// Requires `secret` on tenant routes (see `edge_secret`).
    pub fn with_edge_secret(mut self, secret: Option<SecretString>) -> Self {
        self.edge_secret = secret.map(Arc::new);
        self
    }
}
