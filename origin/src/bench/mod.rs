//! `origin bench ...`: benchmarks that print their figures, each against its baseline in the
//! same run. They create what they need (keys, a scratch database) and clean up after.

pub mod rls;
pub mod stats;
pub mod tokens;
