//! The wire contract between the edge Worker, the origin and every client.
//!
//! Both sides compile this crate (wasm32 for the Worker, native for the origin), so a DTO, a
//! problem type or a token rule is written once and cannot drift between them. It holds no I/O:
//! no tokio, no sqlx, no worker bindings.

// No function longer than a screen: `too-many-lines-threshold` in clippy.toml.
#![warn(clippy::too_many_lines)]

pub mod admin;
pub mod cursor;
pub mod domains;
pub mod edge_key;
pub mod edge_proof;
pub mod headers;
pub mod images;
pub mod inventory;
pub mod live_sale;
pub mod page;
pub mod problem;
pub mod purchase;
pub mod routes;
pub mod sales;
pub mod shop;
pub mod token;
pub mod write_position;

pub use problem::{Problem, ProblemKind};
