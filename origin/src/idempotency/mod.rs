//! Idempotency keys, as the IETF idempotency-key draft and Stripe do them.
//!
//! A key is scoped to (tenant, user). The first request stores its final status and body in the
//! same transaction as the change it made, so an answer is either committed together with its
//! effect or not at all. A repeat with the same fingerprint (method, path, body) gets the stored
//! answer back byte for byte with `Idempotent-Replayed: true`; another fingerprint gets `422`;
//! a repeat while the first is still running gets `409` with `Retry-After`.

mod key;
mod key_state;
pub mod partitions;
pub mod replay;
pub mod retention;
mod store;

pub use key::{fingerprint, IdempotencyKey, KeyUse, HEADER, REPLAYED_HEADER, RETENTION_HOURS};
pub use key_state::KeyState;
pub use store::{claim, lock_id, lookup_since, record, Claim, StoredResponse};
