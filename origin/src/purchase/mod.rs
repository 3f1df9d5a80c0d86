//! Purchases: the heart of the product.
//!
//! Concurrent buys of the same (shop, item) are gathered into one batch (`GroupCommitter`) and
//! applied by one call of the database's `buy_batch` (`engine::apply_batch`), a transaction that
//! locks the item row once, fills the requests first come first served, and writes every order,
//! idempotency record and audit row with set-based SQL. Each caller then gets its own answer (`buy` is the route).
//! `Prefer: respond-async` buys are stored in a queue table instead and applied by the same
//! engine from `queue` workers; `status` answers where a queued purchase stands.

mod batch_outcome;
pub mod buy;
mod engine;
mod group_commit;
mod key_records;
mod order;
pub mod queue;
pub mod status;

pub use engine::{
    apply_batch, apply_batch_in, buy_item, Applied, BatchRules, BatchTransaction, Decision, Lane,
    Sold, DEFAULT_QUEUE_PENDING_CAP,
};
pub use group_commit::GroupCommitter;
pub use order::{BuyOrder, Outcome};
