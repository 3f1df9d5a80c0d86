//! Layers every request passes through: its id, its deadline, a `500` for a handler that
//! panics, and (on tenant routes) proof that it came through the edge.

pub mod catch_panic;
pub mod edge_secret;
pub mod request_id;
pub mod request_timeout;
