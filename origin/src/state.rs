//! What every handler can reach: the pool and the token verifier.

use std::sync::Arc;

use api::token::TokenVerifier;
use sqlx::PgPool;

#[derive(Debug, Clone)]
pub struct AppState {
    pub db: PgPool,
    pub tokens: Arc<TokenVerifier>,
}

impl AppState {
    pub fn new(db: PgPool, tokens: TokenVerifier) -> Self {
        Self {
            db,
            tokens: Arc::new(tokens),
        }
    }
}
