//! `origin bench ...`: benchmarks that print their figures, each against its baseline in the
//! same run. They create what they need (keys, a scratch database) and clean up after.

pub mod clusters;
pub mod cpu;
pub mod hot_item;
pub mod idempotency;
pub mod load;
pub mod log_sampling;
pub mod replica;
pub mod rls;
pub mod scratch;
pub mod stats;
pub mod tokens;
