//! Layers every request passes through: its id, its deadline, and a `500` for a handler that
//! panics. (Proof that a tenant request came through the edge is `http::edge_trust`.)

pub mod catch_panic;
pub mod request_id;
pub mod request_timeout;
