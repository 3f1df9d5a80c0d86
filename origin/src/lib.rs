//! The origin: the only place that touches Postgres.
//!
//! The edge Worker forwards shop traffic here as `/api/tenant/{org_id}/...`. Every tenant route
//! checks the bearer token itself (the origin may be reached directly), runs its SQL inside a
//! transaction that carries the caller's claims, and answers refusals as problem+json.
//! `app(state)` builds the whole router so tests serve exactly what production serves.
//!
//! The folders are layers; each uses only the ones listed before it (the test
//! `module_layering` holds this, and `AppState` is the one type every layer may name):
//!
//! 1. `observability`: logs, metrics, traces, the request id.
//! 2. `db`: pools, tenant-scoped transactions, replica positions, the migrations.
//! 3. `web`: the bottom web layer the features use: the one error type and its problem+json,
//!    the extractors (caller, JSON body, read-after position), the edge's proof, write
//!    positions, and the types the OpenAPI annotations share.
//! 4. `events`: the process's fan-out of committed facts (`LISTEN`/`NOTIFY`) and their payloads.
//! 5. The features, each with its handlers: `token_keys`, `idempotency`, `live_sale`,
//!    `pictures` (items' pictures as every feature reads them), `admin`, `kill_switch`,
//!    `purchase`, `shop`, `domains`, `operator`.
//! 6. `config`: the command line and environment, turned into each layer's settings.
//! 7. `app`: the composition: the state, the router, the middleware stack, the OpenAPI
//!    document, the probes, and `serve`.

// No function longer than a screen: `too-many-lines-threshold` in clippy.toml.
#![warn(clippy::too_many_lines)]

pub mod admin;
pub mod app;
pub mod config;
pub mod db;
pub mod domains;
pub mod events;
pub mod idempotency;
pub mod kill_switch;
pub mod live_sale;
pub mod observability;
pub mod operator;
pub mod pictures;
pub mod purchase;
pub mod shop;
pub mod token_keys;
pub mod web;

pub use app::{
    serve::{serve, serve_split},
    state::AppState,
};
pub use config::Settings;
pub use web::error::ApiError;

/// The origin's HTTP application.
pub fn app(state: AppState) -> axum::Router {
    app::router::router(state)
}
