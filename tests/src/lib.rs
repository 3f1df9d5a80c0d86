//! The end-to-end harness: real Postgres (a fresh database per test from `#[sqlx::test]`), the
//! real origin served in-process on port 0, and the real wasm Worker under miniflare pointed at
//! it. Tests talk HTTP to the Worker with the shop's domain in `Host`, exactly as a browser would.
//!
//! Readiness is awaited, never slept for: the origin is bound before it is announced, and the
//! Worker is used only after its launcher prints `ready`.

pub mod browser;
pub mod challenge_server;
pub mod cloudflare_stand_in;
pub mod clusters;
pub mod dns_server;
pub mod domain_stage;
pub mod edge;
pub mod edge_hop;
pub mod failover_sale;
pub mod ha_cluster;
pub mod host_directory;
pub mod identity_provider;
pub mod load_balancer;
pub mod origin_container;
pub mod origin_link;
pub mod origin_log;
pub mod origin_process;
pub mod origin_server;
pub mod otlp_receiver;
pub mod pgbouncer;
pub mod pictures;
pub mod ports;
pub mod rate_limit_fields;
pub mod replication;
pub mod shop;
pub mod smoke;
pub mod sse;
pub mod stage;
pub mod test_ca;
pub mod tokens;
pub mod two_shops;
pub mod wait;

pub use edge::{Edge, EdgeConfig, LimiterStats};
pub use host_directory::HostDirectory;
pub use origin_link::OriginLink;
pub use origin_process::{OriginConfig, OriginProcess};
pub use origin_server::OriginServer;
pub use shop::Shop;
pub use stage::Stage;
pub use tokens::TestKeys;
pub use two_shops::TwoShops;
