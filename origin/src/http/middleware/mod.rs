//! Layers every request passes through: its id and its deadline. (Proof that a tenant request
//! came through the edge is `http::edge_trust`.)

pub mod request_id;
pub mod request_timeout;
