//! What the database found for a key: the `idempotency_key_state` enum of
//! `settle_idempotency_keys` (see `db/schema.sql`), decoded by `sqlx` so the two sides cannot
//! disagree on a word without the decode failing.

/// One key's state, as `settle_idempotency_keys` and `settle_purchase_keys` return it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, sqlx::Type)]
#[sqlx(type_name = "idempotency_key_state", rename_all = "snake_case")]
pub enum KeyState {
    /// The order carries no key.
    None,
    /// First use: its lock is taken, nothing stored yet.
    Fresh,
    /// Another transaction holds the key's lock.
    InFlight,
    /// Stored with the same fingerprint.
    Replay,
    /// Stored with another fingerprint.
    Reused,
}
