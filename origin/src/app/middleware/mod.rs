//! Layers every request passes through: its deadline, and a `500` for a handler that panics.
//! (The request id is `observability::request_id`; proof that a tenant request came through
//! the edge is `web::edge_trust`.)

pub mod catch_panic;
pub mod request_timeout;
