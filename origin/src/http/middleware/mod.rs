//! Layers every request passes through: its id, its deadline, and (on tenant routes) proof that
//! it came through the edge.

pub mod edge_secret;
pub mod request_id;
pub mod request_timeout;
