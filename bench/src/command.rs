//! The benchmark commands and their flags.

use clap::Subcommand;
use origin::{config::DatabaseArgs, db};

#[derive(Debug, Subcommand)]
pub enum BenchCommand {
    /// Token verifications per second at the origin per algorithm (HS256, ES256, EdDSA, RS256).
    /// Then the same check in the Worker under miniflare (needs `scripts/build-edge` first).
    Tokens {
        #[arg(long, default_value_t = 2.0)]
        seconds: f64,
        /// Requests per row through the Worker (0: skip the Worker).
        #[arg(long, default_value_t = 4_000)]
        worker_requests: usize,
    },
    /// 500 buyers of one item: row-lock vs group-commit vs queue, in-process and over HTTP.
    HotItem {
        #[command(flatten)]
        database: DatabaseArgs,
        #[arg(long, env = "DATABASE_APP_USER", default_value = "furnitureops_app")]
        app_user: String,
        #[arg(long, default_value_t = 500)]
        concurrency: usize,
        #[arg(long, default_value_t = 5.0)]
        seconds: f64,
        #[arg(long, default_value_t = 20)]
        pool_size: u32,
        #[arg(long, default_value_t = 2)]
        queue_workers: usize,
        #[arg(long, default_value_t = 50)]
        queue_batch: i32,
        /// Most buys per group-commit transaction (serve's PURCHASE_BATCH_MAX).
        #[arg(long, default_value_t = 64)]
        max_batch: usize,
        /// Which levels to run (in-process and http each with its own row-lock baseline;
        /// admin-streams: the http group-commit load without and with admin streams; ha: the http
        /// group-commit load on the single node and on the HA stack, side by side).
        #[arg(long, value_delimiter = ',', default_value = "in-process,http")]
        levels: Vec<crate::hot_item::Level>,
        /// Admin streams (GET /api/admin/events) attached in the admin-streams level.
        #[arg(long, default_value_t = 50)]
        admin_streams: usize,
        /// Rounds of runs without and with admin streams, alternating.
        #[arg(long, default_value_t = 2)]
        rounds: usize,
        /// Adds group-commit runs over HTTP with tokens of this algorithm (`all`: HS256, ES256
        /// and RS256), each sealed as the Worker calls the origin and direct with the full JWT,
        /// next to HS256 in the same run.
        #[arg(long, value_enum)]
        token_alg: Option<crate::hot_item::TokenAlg>,
    },
    /// Idempotency lookups at 1M vs 10M keys; retiring a day by DROP vs DELETE.
    Idempotency(IdempotencyBench),
    /// Row-level security overhead on the inventory listing, app role vs owner.
    Rls {
        #[command(flatten)]
        database: DatabaseArgs,
        #[arg(long, env = "DATABASE_APP_USER", default_value = "furnitureops_app")]
        app_user: String,
        #[arg(long, default_value_t = 3000)]
        iterations: usize,
    },
    /// GET /api/inventory throughput with reads on the primary vs on a streaming replica
    /// (throwaway clusters it makes and removes itself).
    Replica {
        #[arg(long, default_value_t = 10.0)]
        seconds: f64,
        #[arg(long, default_value_t = 32)]
        clients: usize,
        #[arg(long, default_value_t = 200)]
        items: usize,
        #[arg(long, default_value_t = 20)]
        pool_size: u32,
    },
    /// Through the real Worker under miniflare: origin hits under cached load, the rate
    /// limiter's cost per request, honest readers through an origin outage, a hot-item sale
    /// quiet and under a bot storm, a hype drop, the Worker's size, and a flood of unknown
    /// hostnames beside a custom domain's readers (needs `scripts/build-edge` first).
    Edge {
        #[command(flatten)]
        database: DatabaseArgs,
        /// Which sections to run (cache, limiter, outage, storm, drop, images, size, domains); all
        /// when none is named. `memo` runs only when named.
        sections: Vec<String>,
        /// `storm`: requests per second of the cache-busting readers, and as many of the
        /// rotating-address scraper.
        #[arg(long, default_value_t = crate::edge_storm::DEFAULT_ATTACK_RATE)]
        storm_rate: f64,
        /// `storm`: which phase runs first (repeated runs alternate it).
        #[arg(long, value_enum, default_value_t)]
        storm_order: crate::edge_storm::Order,
        /// `memo`: how many distinct client addresses to send through one isolate.
        #[arg(long, default_value_t = 1_000_000)]
        memo_addresses: u64,
        /// `drop`: shoppers in the first wave, all arriving at once.
        #[arg(long, default_value_t = 2_000)]
        drop_shoppers: usize,
        /// `drop`: units of the first wave's item.
        #[arg(long, default_value_t = 1_000)]
        drop_units: i32,
    },
    /// Heap an idle `GET /api/events` stream holds on the origin, against bare TCP connections.
    Streams {
        #[command(flatten)]
        database: DatabaseArgs,
        #[arg(long, env = "DATABASE_APP_USER", default_value = "furnitureops_app")]
        app_user: String,
        #[arg(long, default_value_t = 1_000)]
        streams: usize,
    },
    /// Purchases/s of one hot item and of many items through HAProxy, with one origin process
    /// and with three (needs `cargo build --release -p origin` first).
    ScaleOut {
        #[command(flatten)]
        database: DatabaseArgs,
        #[arg(long, default_value_t = 5.0)]
        seconds: f64,
        #[arg(long, default_value_t = 256)]
        clients: usize,
        #[arg(long, default_value_t = 1_000)]
        items: usize,
        /// DATABASE_MAX_CONNECTIONS of every origin.
        #[arg(long, default_value_t = 8)]
        pool_size: u32,
    },
    /// A queue claim's cost with one shop paused on a long backlog, and whom it serves: the
    /// fair per-shop claim against the previous claim in queue order.
    QueueClaim {
        #[command(flatten)]
        database: DatabaseArgs,
        #[arg(long, default_value_t = 100_000)]
        backlog: i32,
        #[arg(long, default_value_t = 50)]
        waiting: i32,
        #[arg(long, default_value_t = 200)]
        claims: usize,
        #[arg(long, default_value_t = 50)]
        batch: i32,
    },
    /// A flash sale through the Worker on the HA database while its primary is killed, then
    /// frozen: recovery time, acknowledged orders missing (must be 0), what shoppers got.
    Failover {
        #[arg(long, default_value_t = 32)]
        shoppers: usize,
        /// Seconds of selling before each fault.
        #[arg(long, default_value_t = 5.0)]
        before: f64,
        /// Seconds of selling after the first sale that follows each fault.
        #[arg(long, default_value_t = 5.0)]
        after: f64,
        #[arg(long, value_delimiter = ',', default_value = "kill,freeze")]
        phases: Vec<crate::failover::Phase>,
    },
    /// Log lines written per 10k requests with sampling off and on.
    LogSampling {
        #[command(flatten)]
        database: DatabaseArgs,
        #[arg(long, env = "DATABASE_APP_USER", default_value = "furnitureops_app")]
        app_user: String,
        #[arg(long, default_value_t = 10_000)]
        requests: usize,
        #[arg(long, default_value_t = 16)]
        clients: usize,
    },
}

#[derive(Debug, clap::Args)]
pub struct IdempotencyBench {
    #[command(flatten)]
    database: DatabaseArgs,
    /// Stored keys for the first measurement.
    #[arg(long, default_value_t = 1_000_000)]
    small: i64,
    /// Stored keys for the second measurement.
    #[arg(long, default_value_t = 10_000_000)]
    large: i64,
    /// Keys in the day retired by DELETE vs DROP.
    #[arg(long, default_value_t = 1_800_000)]
    day: i64,
    #[arg(long, default_value_t = 5_000)]
    lookups: usize,
}

/// Runs one benchmark command.
pub async fn run(command: BenchCommand) -> anyhow::Result<()> {
    match command {
        BenchCommand::Tokens {
            seconds,
            worker_requests,
        } => {
            crate::tokens::run(seconds)?;
            if worker_requests > 0 {
                crate::worker_tokens::run(worker_requests).await?;
            }
            Ok(())
        }
        BenchCommand::HotItem {
            database,
            app_user,
            concurrency,
            seconds,
            pool_size,
            queue_workers,
            queue_batch,
            max_batch,
            levels,
            admin_streams,
            rounds,
            token_alg,
        } => {
            let role = db::AppRole {
                user: app_user,
                password: None,
            };
            let opts = crate::hot_item::Options {
                concurrency,
                seconds,
                pool_size,
                queue_workers,
                queue_batch,
                max_batch,
                admin_streams,
                rounds,
            };
            crate::hot_item::run(database.url(), &role, opts, &levels, token_alg).await
        }
        BenchCommand::Idempotency(args) => {
            let sizes = crate::idempotency::Sizes {
                small: args.small,
                large: args.large,
                day: args.day,
                lookups: args.lookups,
            };
            crate::idempotency::run(args.database.url(), sizes).await
        }
        BenchCommand::Rls {
            database,
            app_user,
            iterations,
        } => {
            let role = db::AppRole {
                user: app_user,
                password: None,
            };
            crate::rls::run(database.url(), &role, iterations).await
        }
        BenchCommand::Replica {
            seconds,
            clients,
            items,
            pool_size,
        } => {
            crate::replica::run(crate::replica::ReplicaBench {
                seconds,
                clients,
                items,
                pool_size,
            })
            .await
        }
        BenchCommand::Streams {
            database,
            app_user,
            streams,
        } => {
            let role = db::AppRole {
                user: app_user,
                password: None,
            };
            crate::streams::run(database.url(), &role, streams.max(2)).await
        }
        BenchCommand::Edge {
            database,
            sections,
            storm_rate,
            storm_order,
            memo_addresses,
            drop_shoppers,
            drop_units,
        } => {
            let run = crate::edge::EdgeRun {
                sections,
                storm_rate,
                storm_order,
                memo_addresses,
                drop_wave: crate::edge_drop::Wave {
                    shoppers: drop_shoppers,
                    units: drop_units,
                },
            };
            crate::edge::run(database.url(), run).await
        }
        BenchCommand::ScaleOut {
            database,
            seconds,
            clients,
            items,
            pool_size,
        } => {
            let bench = crate::scale_out::ScaleOutBench {
                seconds,
                clients,
                items,
                pool_size,
            };
            crate::scale_out::run(database.url(), bench).await
        }
        BenchCommand::QueueClaim {
            database,
            backlog,
            waiting,
            claims,
            batch,
        } => {
            let bench = crate::queue_claim::QueueClaimBench {
                backlog,
                waiting,
                claims,
                batch,
            };
            crate::queue_claim::run(database.url(), bench).await
        }
        BenchCommand::Failover {
            shoppers,
            before,
            after,
            phases,
        } => {
            crate::failover::run(crate::failover::FailoverBench {
                shoppers,
                before: std::time::Duration::from_secs_f64(before),
                after: std::time::Duration::from_secs_f64(after),
                phases,
            })
            .await
        }
        BenchCommand::LogSampling {
            database,
            app_user,
            requests,
            clients,
        } => {
            let role = db::AppRole {
                user: app_user,
                password: None,
            };
            crate::log_sampling::run(database.url(), &role, requests, clients).await
        }
    }
}
