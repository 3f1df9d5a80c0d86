//! The HTTP layer: the router and the state every handler gets, the one error type and its
//! problem+json answer, the extractors (caller, JSON body), the middleware every request passes
//! through, the OpenAPI document, and the probes and metrics endpoint of the origin itself.
//!
//! Features (`shop`, `admin`, `kill_switch`, `purchase`) hold their own handlers; the router
//! imports them, never the reverse. What handlers share for their OpenAPI annotations lives in
//! `openapi::doc_types`, a leaf that imports no handler.

pub mod caller;
pub mod edge_trust;
pub mod error;
pub mod health;
pub mod json_body;
pub mod metrics_endpoint;
pub mod middleware;
pub mod openapi;
pub mod router;
pub mod state;
