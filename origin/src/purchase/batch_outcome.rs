//! What `buy_batch` decided for one order: the `purchase_outcome` enum (see `db/schema.sql`),
//! decoded by `sqlx`, so an outcome the origin does not know fails to decode instead of falling
//! through to a default.

use crate::idempotency::KeyState;

/// One order's outcome, as `buy_batch` returns it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, sqlx::Type)]
#[sqlx(type_name = "purchase_outcome", rename_all = "snake_case")]
pub enum BatchOutcome {
    Confirmed,
    OutOfStock,
    UnknownItem,
    /// The shop's kill switch is engaged.
    Paused,
    /// Answered by the order's idempotency key.
    Replay,
    Reused,
    InFlight,
}

impl BatchOutcome {
    /// The key's state when the key answered the order, `None` when the batch decided it.
    pub fn answered_by_key(self) -> Option<KeyState> {
        match self {
            Self::Replay => Some(KeyState::Replay),
            Self::Reused => Some(KeyState::Reused),
            Self::InFlight => Some(KeyState::InFlight),
            Self::Confirmed | Self::OutOfStock | Self::UnknownItem | Self::Paused => None,
        }
    }
}
