//! A bare axum server: one route answering `ok`, mimalloc as the origin has, no layers, no
//! state. `scripts/bench-serve` loads it with the same `wrk` settings as the origin, in the same
//! run, so the origin's CPU per answer is read against what HTTP alone costs on this machine,
//! not only against the origin's own floor.
//!
//! Usage: `bare-axum 127.0.0.1:3903`.

use axum::{routing::get, Router};

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let address = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:3903".to_owned());
    let listener = tokio::net::TcpListener::bind(&address).await?;
    let app = Router::new().route("/", get(|| async { "ok" }));
    axum::serve(listener, app).await
}
