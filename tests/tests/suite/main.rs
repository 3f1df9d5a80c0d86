//! The end-to-end suite: one binary, a module per behaviour. Each test gets a fresh database,
//! an origin on a free port and, where the edge is part of the behaviour, its own wasm Worker
//! under miniflare; so tests share nothing but the machine, and one link of the product serves
//! them all.
//!
//! Two behaviours have binaries of their own because they read what is process-wide by
//! nature: `request_logs` installs the log subscriber, and `operations_endpoints` reads exact
//! values off the metrics recorder, which any other test in the same process would move.

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

mod admin_console;
mod admin_items;
mod admin_sale_stream;
mod alert_rules;
mod audit_log;
mod backpressure;
mod cache_busting;
mod claim_mapping;
mod custom_domains;
mod custom_domains_checks;
mod custom_domains_console;
mod custom_domains_edge;
mod demo_shop;
mod edge_admission;
mod edge_cache;
mod edge_kill_switch;
mod edge_trust;
mod event_stream_limits;
mod failover;
mod flash_sale;
mod flash_sale_faults;
mod idempotency;
mod idempotency_retention;
mod identity_providers;
mod inventory_pages;
mod kill_switch;
mod limiter_under_attack;
mod limiter_unreachable;
mod module_layering;
mod origin_container;
mod origin_outage;
mod overlapping_batches;
mod pgbouncer;
mod picture_console;
mod picture_orphans;
mod picture_refusals;
mod product_pictures;
mod purchase_queue_limits;
mod rate_limiting;
mod read_floods;
mod read_replica;
mod request_identity;
mod restore;
mod scale_out;
mod schema_file;
mod sold_out_at_edge;
mod storefront;
mod storefront_assets;
mod storefront_outage;
mod tenant_isolation;
mod token_attacks;
mod walking_skeleton;
