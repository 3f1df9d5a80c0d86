//! `bench`: every benchmark of the product, one command each. Each prints its figures against
//! its baseline measured in the same run, builds what it needs (keys, a scratch database, the
//! origin in-process, throwaway clusters, the Worker under miniflare), sends bounded load to
//! 127.0.0.1 only, and cleans up after itself.
//!
//! Kept out of the origin crate so the server binary carries only what serving needs.

mod command;
mod cpu;
mod edge;
mod edge_domains;
mod edge_drop;
mod edge_images;
mod edge_limiter;
mod edge_memo;
mod edge_outage;
mod edge_storm;
mod failover;
mod hot_item;
mod idempotency;
mod load;
mod log_sampling;
mod queue_claim;
mod replica;
mod rls;
mod scale_out;
mod scratch;
mod stats;
mod streams;
mod tokens;
mod worker_tokens;

use std::alloc::System;

use cap::Cap;
use clap::Parser;

/// Counts live heap bytes, so a benchmark can say what a connection or a stream holds.
#[global_allocator]
static HEAP: Cap<System> = Cap::new(System, usize::MAX);

#[derive(Debug, Parser)]
#[command(
    name = "bench",
    about = "FurnitureOps benchmarks that print their figures"
)]
struct Cli {
    #[command(subcommand)]
    command: command::BenchCommand,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    command::run(Cli::parse().command).await
}
