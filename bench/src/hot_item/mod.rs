//! `bench hot-item`: 500 concurrent buyers of one item, three ways, side by side.
//!
//! `row-lock` (the seed's per-purchase transaction, the baseline), `group-commit` (this
//! product's synchronous path) and `queue` (async enqueue, then the workers' drain), first with
//! the purchase engine called in-process, then over HTTP against `serve`. Every mode does the
//! full per-purchase work (stock, order, idempotency record, audit row) and is checked for
//! oversell: initial stock = remaining stock + units in orders, and orders = confirmations.
//! The `admin-streams` level (`admin_streams`) runs the HTTP group-commit load again, without and
//! with shop admins watching the live sale, side by side.
//! The `ha` level (`ha`) runs the HTTP group-commit load against the single node and against
//! the HA stack (synchronous replication) side by side.
//! `--token-alg` adds group-commit runs over HTTP per token algorithm, sealed (the Worker's
//! way) and direct (`token_algorithms`).
//! Every table has the raw-SQL reference (`raw_sql`) run twice, first and last, in the same
//! invocation: each mode's CPU per purchase is printed as a ratio to its CPU per unit.

mod admin_streams;
mod ha;
mod http;
mod load;
mod raw_sql;
mod report;
mod row_lock;
mod token_algorithms;

use std::{sync::Arc, time::Duration};

use anyhow::Context;
use sqlx::{postgres::PgConnectOptions, PgPool};
use uuid::Uuid;

use self::{
    load::{Answer, LoadResult},
    report::{print_table, print_token_table, Row},
};
use crate::{scratch::with_scratch_database, stats::summarize};
use origin::{
    db::{self, AppRole, PoolLimits},
    idempotency::{fingerprint, IdempotencyKey, KeyUse},
    operator::tenants::{self, NewItem},
    purchase::{queue, BatchRules, BuyOrder, GroupCommitter, Lane, Outcome},
};

pub use row_lock::{buy_one, http_buy, RowLockOutcome};
pub use token_algorithms::TokenAlg;

/// The queue's cap per shop, lifted: the bench measures how fast the queue fills and drains,
/// and 500 buyers enqueueing for seconds outrun the default cap by design.
pub const UNCAPPED_QUEUE: i64 = i64::MAX;

#[derive(Debug, Clone, Copy)]
pub struct Options {
    pub concurrency: usize,
    pub seconds: f64,
    pub pool_size: u32,
    pub queue_workers: usize,
    pub queue_batch: i32,
    pub max_batch: usize,
    /// Admin streams attached in every other run of the `admin-streams` level.
    pub admin_streams: usize,
    /// Rounds of (without, with) runs of the `admin-streams` level.
    pub rounds: usize,
}

/// Where the purchase engine is called from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Level {
    /// Directly, from tasks in this process (a lone buyer first).
    InProcess,
    /// Over HTTP against the real router, served on 127.0.0.1.
    Http,
    /// Over HTTP as `serve` serves it, without and with admin streams watching the sale.
    AdminStreams,
    /// Over HTTP, the single node vs the HA stack (Patroni, synchronous replication, HAProxy).
    Ha,
}

const INITIAL_STOCK: i32 = 50_000_000;
const ISSUER: &str = "bench";

struct Bench {
    org_id: Uuid,
    owner: PgPool,
    app: PgPool,
    opts: Options,
}

pub async fn run(
    owner_url: &str,
    app_role: &AppRole,
    opts: Options,
    levels: &[Level],
    token_alg: Option<TokenAlg>,
) -> anyhow::Result<()> {
    anyhow::ensure!(
        token_alg.is_none() || levels.contains(&Level::Http),
        "--token-alg runs over HTTP: add http to --levels"
    );
    let role = app_role.clone();
    let levels = levels.to_vec();
    with_scratch_database(owner_url, "hot_item", |options, owner| async move {
        if let Some(database) = options.get_database() {
            crate::cpu::watch_postgres(database);
        }
        let bench = Bench::new(&options, owner, &role, opts).await?;
        let mut rows = Vec::new();
        let with_reference = levels.contains(&Level::InProcess) || levels.contains(&Level::Http);
        if with_reference {
            raw_sql::prepare(&options, bench.org_id).await?;
            rows.push(raw_sql::run(&options, bench.org_id, bench.duration()).await?);
        }
        if levels.contains(&Level::InProcess) {
            // A lone buyer first: group commit must not make a single purchase slower.
            rows.push(bench.lone().in_process_row_lock().await?.at("lone buyer"));
            rows.push(
                bench
                    .lone()
                    .in_process_group_commit()
                    .await?
                    .at("lone buyer"),
            );
            rows.push(bench.in_process_row_lock().await?);
            rows.push(bench.in_process_group_commit().await?);
            rows.push(bench.in_process_queue().await?);
        }
        if levels.contains(&Level::Http) {
            rows.extend(bench.http_levels().await?);
        }
        if with_reference {
            // Once more at the end, as the product's tables have grown: both runs count.
            let last = raw_sql::run(&options, bench.org_id, bench.duration()).await?;
            rows[0].add(last);
        }
        let token_rows = match token_alg {
            Some(choice) => bench.token_rows(choice).await?,
            None => Vec::new(),
        };
        if !rows.is_empty() {
            print_table(&rows, opts);
        }
        if !token_rows.is_empty() {
            print_token_table(&token_rows, opts);
        }
        anyhow::ensure!(
            rows.iter()
                .chain(token_rows.iter().map(|t| &t.row))
                .all(|r| !r.oversell),
            "oversell detected"
        );
        let panicked: u64 = rows
            .iter()
            .chain(token_rows.iter().map(|t| &t.row))
            .map(|r| r.result.panicked)
            .sum();
        anyhow::ensure!(panicked == 0, "{panicked} buyer tasks panicked");
        if levels.contains(&Level::AdminStreams) {
            bench.admin_stream_runs().await?;
        }
        if levels.contains(&Level::Ha) {
            bench.ha_runs(&role).await?;
        }
        Ok(())
    })
    .await
}

impl Bench {
    async fn new(
        options: &PgConnectOptions,
        owner: PgPool,
        role: &AppRole,
        opts: Options,
    ) -> anyhow::Result<Self> {
        let limits = PoolLimits {
            max_connections: opts.pool_size,
            acquire_timeout: Duration::from_secs(60),
        };
        let app = db::connect_with(role.connect_options(options), limits).await?;
        let org_id = tenants::add(&owner, "Hot item bench", "bench.hot-item.test").await?;
        Ok(Self {
            org_id,
            owner,
            app,
            opts,
        })
    }

    /// The same bench with one buyer and a short run.
    fn lone(&self) -> Self {
        Self {
            org_id: self.org_id,
            owner: self.owner.clone(),
            app: self.app.clone(),
            opts: Options {
                concurrency: 1,
                seconds: self.opts.seconds.min(2.0),
                ..self.opts
            },
        }
    }

    fn duration(&self) -> Duration {
        Duration::from_secs_f64(self.opts.seconds)
    }

    async fn new_item(&self, sku: &str) -> anyhow::Result<Uuid> {
        let item = NewItem {
            sku,
            name: sku,
            price_cents: 49_900,
            stock: INITIAL_STOCK,
        };
        tenants::stock_items(&self.owner, self.org_id, &[item]).await?;
        let id: Uuid =
            sqlx::query_scalar("SELECT id FROM inventory WHERE organization_id = $1 AND sku = $2")
                .bind(self.org_id)
                .bind(sku)
                .fetch_one(&self.owner)
                .await?;
        Ok(id)
    }

    /// True when stock and orders of `item` do not add up to `confirmed` sales from the initial stock.
    async fn oversold(&self, item: Uuid, confirmed: u64) -> anyhow::Result<bool> {
        let (stock, units, orders): (i32, i64, i64) = sqlx::query_as(
            "SELECT i.stock, coalesce(sum(o.quantity), 0)::bigint, count(o.id)
             FROM inventory i LEFT JOIN orders o ON o.organization_id = i.organization_id AND o.item_id = i.id
             WHERE i.organization_id = $1 AND i.id = $2 GROUP BY i.stock",
        )
        .bind(self.org_id)
        .bind(item)
        .fetch_one(&self.owner)
        .await?;
        Ok(i64::from(stock) + units != i64::from(INITIAL_STOCK)
            || u64::try_from(orders).unwrap_or(0) != confirmed)
    }

    /// Sales per batch of `item`, on average: its sales over its audit rows, one per committed
    /// batch (`None` where sales were audited one row each).
    async fn sales_per_batch(&self, item: Uuid) -> anyhow::Result<Option<f64>> {
        Ok(sqlx::query_scalar(
            "SELECT avg(cardinality(sales))::float8 FROM audit_log
             WHERE organization_id = $1 AND target = 'item:' || $2 AND sales IS NOT NULL",
        )
        .bind(self.org_id)
        .bind(item.to_string())
        .fetch_one(&self.owner)
        .await?)
    }

    fn row(level: &'static str, mode: &'static str, mut result: LoadResult, oversell: bool) -> Row {
        let summary = summarize(&mut result.latencies);
        Row {
            level,
            mode,
            result,
            summary,
            oversell,
            drain_per_second: None,
            sales_per_batch: None,
        }
    }

    async fn in_process_row_lock(&self) -> anyhow::Result<Row> {
        let item = self
            .new_item(&format!("ROW-LOCK-{}", self.opts.concurrency))
            .await?;
        let (app, org) = (self.app.clone(), self.org_id);
        let result = load::run(self.opts.concurrency, self.duration(), move |task, n| {
            let app = app.clone();
            async move {
                let sub = format!("buyer-{task}");
                match buy_one(
                    &app,
                    org,
                    &sub,
                    item,
                    1,
                    &format!("{item}-{task}-{n}"),
                    "bench",
                )
                .await
                {
                    Ok(RowLockOutcome::Confirmed(_)) => Answer::Confirmed,
                    Ok(RowLockOutcome::OutOfStock | RowLockOutcome::Replayed(_)) => Answer::Refused,
                    Err(_) => Answer::ServerError,
                }
            }
        })
        .await;
        let oversell = self.oversold(item, result.confirmed).await?;
        Ok(Self::row("in-process", "row-lock", result, oversell))
    }

    fn order(&self, task: usize, n: u64, item_id: Uuid) -> BuyOrder {
        let sub = format!("buyer-{task}");
        // Keys are unique per mode: each mode buys its own item.
        let key = format!("{item_id}-{task}-{n}");
        BuyOrder {
            org_id: self.org_id,
            customer_sub: sub.clone(),
            item_id,
            quantity: 1,
            request_id: key.clone(),
            key: IdempotencyKey::parse(&key).map(|key| KeyUse {
                org_id: self.org_id,
                customer_sub: sub,
                key,
                fingerprint: fingerprint("POST", "buy", item_id.as_bytes()),
                request_id: "bench".into(),
            }),
        }
    }

    async fn committed_load(&self, item: Uuid, lane: Lane) -> LoadResult {
        let committer = GroupCommitter::with_rules(
            self.app.clone(),
            self.opts.max_batch,
            BatchRules {
                queue_pending_cap: UNCAPPED_QUEUE,
                ..BatchRules::default()
            },
        );
        let template = Arc::new(Self {
            org_id: self.org_id,
            owner: self.owner.clone(),
            app: self.app.clone(),
            opts: self.opts,
        });
        load::run(self.opts.concurrency, self.duration(), move |task, n| {
            let committer = committer.clone();
            let order = template.order(task, n, item);
            async move {
                match committer.submit(lane, order).await {
                    Ok(Outcome::Final(stored)) if stored.status == 201 => Answer::Confirmed,
                    Ok(Outcome::Final(stored)) if stored.status == 202 => Answer::Accepted,
                    Ok(_) => Answer::Refused,
                    Err(_) => Answer::ServerError,
                }
            }
        })
        .await
    }

    async fn in_process_group_commit(&self) -> anyhow::Result<Row> {
        let item = self
            .new_item(&format!("GROUP-COMMIT-{}", self.opts.concurrency))
            .await?;
        let result = self.committed_load(item, Lane::Item(item)).await;
        let oversell = self.oversold(item, result.confirmed).await?;
        let mut row = Self::row("in-process", "group-commit", result, oversell);
        row.sales_per_batch = self.sales_per_batch(item).await?;
        Ok(row)
    }

    async fn in_process_queue(&self) -> anyhow::Result<Row> {
        let item = self.new_item("QUEUE").await?;
        let mut result = self.committed_load(item, Lane::Enqueue).await;
        let drained = self.drain(item).await?;
        result.add_cpu(drained.cpu);
        let oversell = self.oversold(item, drained.confirmed).await?;
        let mut row = Self::row("in-process", "queue", result, oversell);
        row.drain_per_second = Some(drained.per_second);
        row.sales_per_batch = self.sales_per_batch(item).await?;
        Ok(row)
    }

    /// Runs the queue workers until nothing is pending.
    async fn drain(&self, item: Uuid) -> anyhow::Result<Drained> {
        let pending: i64 =
            sqlx::query_scalar("SELECT count(*) FROM purchase_queue WHERE status = 'pending'")
                .fetch_one(&self.owner)
                .await?;
        // The drain applies the purchases the load only queued: its CPU is theirs too.
        let cpu = crate::cpu::CpuMeter::start();
        let started = std::time::Instant::now();
        let mut workers = tokio::task::JoinSet::new();
        for _ in 0..self.opts.queue_workers.max(1) {
            let app = self.app.clone();
            let batch = self.opts.queue_batch;
            workers.spawn(async move {
                while queue::drain_once(&app, batch).await? > 0 {}
                Ok::<_, sqlx::Error>(())
            });
        }
        while let Some(done) = workers.join_next().await {
            done.context("queue worker panicked")??;
        }
        let elapsed = started.elapsed().as_secs_f64();
        let cpu = cpu.stop();
        let confirmed: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM purchase_queue WHERE item_id = $1 AND status = 'confirmed'",
        )
        .bind(item)
        .fetch_one(&self.owner)
        .await?;
        Ok(Drained {
            confirmed: u64::try_from(confirmed).unwrap_or(0),
            per_second: pending as f64 / elapsed,
            cpu,
        })
    }
}

/// What a queue's drain did: purchases confirmed, at what rate, and the CPU it took.
struct Drained {
    confirmed: u64,
    per_second: f64,
    cpu: Option<crate::cpu::CpuUse>,
}
