//! The composition layer, the top of the stack: the state every handler gets, the router that
//! mounts every feature's handlers, the middleware stack, the OpenAPI document, the origin's
//! own probes and metrics endpoint, and `serve`. Nothing below imports it, except the
//! `AppState` type its handlers and extractors take.

pub mod health;
pub mod metrics_endpoint;
pub mod middleware;
pub mod openapi;
pub mod probe_pools;
pub mod router;
pub mod serve;
pub mod starting;
pub mod startup;
pub mod state;
