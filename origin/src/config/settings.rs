//! The purchase path's tunables, with their defaults written once: `Settings::default()` and
//! the command line (`ServeArgs`) read the same associated constants.

use crate::{
    events::hub::StreamCaps,
    purchase::{BatchRules, BatchTransaction, DEFAULT_QUEUE_PENDING_CAP},
};

/// Tunables of the purchase path.
#[derive(Debug, Clone)]
pub struct Settings {
    /// How long a kill-switch flip blocks the opposite flip.
    pub kill_switch_cooldown: chrono::Duration,
    /// Most buys one group-commit transaction carries.
    pub max_batch: usize,
    /// Queue workers `serve` runs (0: leave the queue to `origin worker` processes).
    pub queue_workers: usize,
    /// Most queued purchases one worker transaction claims.
    pub queue_batch: i32,
    /// Most event streams open at once per user and per shop, in this process.
    pub stream_caps: StreamCaps,
    /// Most items one shop may hold (creates past it are refused).
    pub item_cap: i64,
    /// Most async buys one shop may have waiting in the queue (more are refused with `429`).
    pub queue_pending_cap: i64,
}

/// The defaults, read by `Settings::default()` and by the command line's (`config`), so a
/// test's settings and an unconfigured `serve` cannot drift apart.
impl Settings {
    pub const DEFAULT_KILL_SWITCH_COOLDOWN_SECONDS: i64 = 300;
    pub const DEFAULT_MAX_BATCH: usize = 64;
    pub const DEFAULT_QUEUE_WORKERS: usize = 1;
    pub const DEFAULT_QUEUE_BATCH: i32 = 50;
    pub const DEFAULT_ITEM_CAP: i64 = 10_000;
    pub const DEFAULT_QUEUE_PENDING_CAP: i64 = DEFAULT_QUEUE_PENDING_CAP;
}

impl Settings {
    /// How the group committer applies batches, given how they become transactions.
    pub fn batch_rules(&self, transaction: BatchTransaction) -> BatchRules {
        BatchRules {
            transaction,
            queue_pending_cap: self.queue_pending_cap,
        }
    }
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            kill_switch_cooldown: chrono::Duration::seconds(
                Self::DEFAULT_KILL_SWITCH_COOLDOWN_SECONDS,
            ),
            max_batch: Self::DEFAULT_MAX_BATCH,
            queue_workers: Self::DEFAULT_QUEUE_WORKERS,
            queue_batch: Self::DEFAULT_QUEUE_BATCH,
            stream_caps: StreamCaps::DEFAULT,
            item_cap: Self::DEFAULT_ITEM_CAP,
            queue_pending_cap: Self::DEFAULT_QUEUE_PENDING_CAP,
        }
    }
}
