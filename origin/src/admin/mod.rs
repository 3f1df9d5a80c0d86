//! Shop admins changing their shop: item writes and their pictures, each idempotent and
//! audited, and the audit log they can read back.

pub mod audit;
pub mod guarded_write;
pub mod images;
pub mod items;
