//! Group commit: concurrent buys of one (shop, item) share one transaction.
//!
//! Each (shop, item) has a lane. The first buyer to find its lane idle starts a driver task that
//! commits whatever is waiting (so a lone buyer never waits for company); buyers arriving while a
//! batch commits queue up and go together in the next one, up to `max_batch`. The driver is a
//! task of its own, so a batch finishes and every answer is decided even if a caller hangs up.
//!
//! An item's lane runs up to `ITEM_DRIVERS` batches at once: a batch that fits the stock writes
//! its orders before it takes the item's row lock (see `buy_batch` in
//! `db/schema.sql`): while one batch commits (its WAL flush holds the lock) and
//! the next waits for the lock, a third writes its orders, so one item's sales use more than one
//! database core (on two cores, three drivers measured ~15 % faster than two). They overlap
//! only while the stock the last batch left covers every unit in flight plus the next batch:
//! then every buyer in them is served whichever commits first, and near the end of the stock
//! batches go one at a time, in arrival order, so an earlier buyer is never refused for a later
//! one. A shop's enqueue lane locks only its backlog count, from its last statement to its
//! commit, so it runs up to `ENQUEUE_DRIVERS` batches at once, each on its own connection.
//!
//! The drivers run on a thread and runtime of their own, with their own pool (half the request
//! pool's size): see `own_runtime`.

use std::{
    collections::{HashMap, VecDeque},
    sync::{Arc, Mutex},
};

use sqlx::PgPool;
use tokio::{runtime::Handle, sync::oneshot};
use uuid::Uuid;

use super::{
    engine::{apply_batch_in, Applied, BatchRules, Lane},
    order::{BuyOrder, Outcome},
};
use crate::{
    live_sale::refusal_tally::RefusalTally, observability::recorder::names, web::error::ApiError,
};

type Reply = oneshot::Sender<Result<Outcome, Arc<sqlx::Error>>>;

/// Most batches of one item committed at the same time (see the module doc).
const ITEM_DRIVERS: usize = 3;

/// Most batches of one shop's async buys stored at the same time.
const ENQUEUE_DRIVERS: usize = 4;

#[derive(Default)]
struct Waiting {
    waiting: VecDeque<(BuyOrder, Reply)>,
    drivers: usize,
    /// Batches being committed, and the units they ask for.
    committing: usize,
    committing_units: i64,
    /// The least stock a batch of this lane has left so far (stock only goes down while a sale
    /// runs; a lane is forgotten once idle, so a restock counts from the next sale on).
    stock_left: Option<i64>,
}

impl Waiting {
    /// Whether a batch of `units` may be committed beside the ones being committed now.
    fn may_overlap(&self, lane: Lane, units: i64) -> bool {
        match lane {
            Lane::Enqueue => true,
            Lane::Item(_) => self
                .stock_left
                .is_some_and(|stock| stock >= self.committing_units + units),
        }
    }
}

impl Lane {
    fn drivers(self) -> usize {
        match self {
            Self::Item(_) => ITEM_DRIVERS,
            Self::Enqueue => ENQUEUE_DRIVERS,
        }
    }
}

struct Shared {
    /// Connections made on the committer's own runtime, used only there.
    db: PgPool,
    rules: BatchRules,
    max_batch: usize,
    lanes: Mutex<HashMap<(Uuid, Lane), Waiting>>,
    /// Where the orders a batch refused (sold out, paused) are counted, once per batch.
    refusals: RefusalTally,
    runtime: Option<Handle>,
    /// Dropped with the last handle on the committer, which ends its thread.
    _stop: Option<oneshot::Sender<()>>,
}

/// Gathers buys into batches per (shop, item).
#[derive(Clone)]
pub struct GroupCommitter {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for GroupCommitter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GroupCommitter")
            .field("max_batch", &self.shared.max_batch)
            .finish()
    }
}

impl GroupCommitter {
    pub fn new(db: PgPool, max_batch: usize) -> Self {
        Self::with_rules(db, max_batch, BatchRules::default())
    }

    /// Applies each batch under `rules` (explicit transactions behind a transaction pooler, the
    /// queue's cap per shop).
    pub fn with_rules(db: PgPool, max_batch: usize, rules: BatchRules) -> Self {
        Self::counting_refusals(db, max_batch, rules, RefusalTally::default())
    }

    /// Like `with_rules`, counting the orders each batch refuses in `refusals` (for the
    /// admins' live sale view).
    pub fn counting_refusals(
        db: PgPool,
        max_batch: usize,
        rules: BatchRules,
        refusals: RefusalTally,
    ) -> Self {
        let (runtime, stop) = match own_runtime() {
            Some((runtime, stop)) => (Some(runtime), Some(stop)),
            None => (None, None),
        };
        // Half the request pool: a lane holds one connection while it commits, and batches of
        // one item take its row lock one after another anyway.
        let db = if runtime.is_some() {
            let connections = (db.options().get_max_connections() / 2).max(2);
            let waits_like_requests = db.options().get_acquire_timeout();
            crate::db::side_pool(&db, connections as usize, waits_like_requests)
        } else {
            db
        };
        Self {
            shared: Arc::new(Shared {
                db,
                rules,
                max_batch: max_batch.max(1),
                lanes: Mutex::new(HashMap::new()),
                refusals,
                runtime,
                _stop: stop,
            }),
        }
    }

    /// The connections batches are committed on, for the pool gauges.
    pub fn pool(&self) -> &PgPool {
        &self.shared.db
    }

    /// Queues `order` on `lane` and waits for the batch that carries it to commit.
    pub async fn submit(&self, lane: Lane, order: BuyOrder) -> Result<Outcome, ApiError> {
        let lane_key = (order.org_id, lane);
        let (reply, answer) = oneshot::channel();
        let start_driver = {
            let mut lanes = self.shared.lanes.lock().unwrap_or_else(|p| p.into_inner());
            let waiting = lanes.entry(lane_key).or_default();
            waiting.waiting.push_back((order, reply));
            // A new driver for the first buyer of an idle lane, or when the batches being
            // committed leave this buyer waiting and the lane may run another.
            let start = waiting.drivers < lane.drivers()
                && (waiting.drivers == 0
                    || (waiting.waiting.len() > 1 && waiting.may_overlap(lane, 0)));
            if start {
                waiting.drivers += 1;
            }
            start
        };
        if start_driver {
            let driver = drive(self.shared.clone(), lane_key);
            match &self.shared.runtime {
                Some(runtime) => runtime.spawn(driver),
                None => tokio::spawn(driver),
            };
        }
        match answer.await {
            Ok(Ok(outcome)) => Ok(outcome),
            Ok(Err(err)) => Err(ApiError::Batch(err)),
            Err(_) => Err(ApiError::Batch(Arc::new(sqlx::Error::PoolClosed))),
        }
    }
}

/// Commits batches for one lane until nobody is waiting, then retires the lane.
async fn drive(shared: Arc<Shared>, lane_key: (Uuid, Lane)) {
    loop {
        let Some((orders, replies, units)) = next_batch(&shared, lane_key) else {
            return;
        };
        metrics_batch_size(orders.len());
        let applied =
            apply_batch_in(&shared.db, shared.rules, lane_key.0, lane_key.1, &orders).await;
        committed(&shared, lane_key, units, applied.as_ref().ok());
        match applied {
            Ok(applied) => {
                shared.refusals.add(lane_key.0, applied.refusals());
                for (reply, outcome) in replies.into_iter().zip(applied.outcomes) {
                    let _ = reply.send(Ok(outcome));
                }
            }
            Err(err) => {
                tracing::warn!(error = %err, size = orders.len(), "purchase batch failed");
                let err = Arc::new(err);
                for reply in replies {
                    let _ = reply.send(Err(err.clone()));
                }
            }
        }
    }
}

type Batch = (Vec<BuyOrder>, Vec<Reply>, i64);

/// Takes the next batch off the lane (and counts it as committing), or retires this driver when
/// nobody waits or the batch may not overlap the ones being committed (the driver committing
/// those takes it next).
fn next_batch(shared: &Shared, lane_key: (Uuid, Lane)) -> Option<Batch> {
    let mut lanes = shared.lanes.lock().unwrap_or_else(|p| p.into_inner());
    let lane = lanes.get_mut(&lane_key)?;
    let take = lane.waiting.len().min(shared.max_batch);
    let units = lane
        .waiting
        .iter()
        .take(take)
        .map(|(order, _)| i64::from(order.quantity))
        .sum();
    if take == 0 || (lane.committing > 0 && !lane.may_overlap(lane_key.1, units)) {
        lane.drivers -= 1;
        if lane.drivers == 0 {
            lanes.remove(&lane_key);
        }
        return None;
    }
    lane.committing += 1;
    lane.committing_units += units;
    let (orders, replies) = lane.waiting.drain(..take).unzip();
    Some((orders, replies, units))
}

/// Counts a batch of `units` as done, and remembers the stock it left.
fn committed(shared: &Shared, lane_key: (Uuid, Lane), units: i64, applied: Option<&Applied>) {
    let mut lanes = shared.lanes.lock().unwrap_or_else(|p| p.into_inner());
    let Some(lane) = lanes.get_mut(&lane_key) else {
        return;
    };
    lane.committing -= 1;
    lane.committing_units -= units;
    if let Some(left) = applied.and_then(|a| a.stock_left).map(i64::from) {
        lane.stock_left = Some(lane.stock_left.map_or(left, |known| known.min(left)));
    }
}

/// A thread with a runtime of its own for the drivers: a lane commits its batches one after
/// another, so the time between a batch's answer and the next batch's start is on every
/// buyer's path. On the request runtime that gap was the wait for a busy worker to notice the
/// database's answer; here nothing else runs.
fn own_runtime() -> Option<(Handle, oneshot::Sender<()>)> {
    let (stop, stopped) = oneshot::channel::<()>();
    let (handle_tx, handle_rx) = std::sync::mpsc::channel();
    std::thread::Builder::new()
        .name("group-commit".into())
        .spawn(move || {
            let Ok(runtime) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            else {
                return;
            };
            let _ = handle_tx.send(runtime.handle().clone());
            runtime.block_on(async {
                let _ = stopped.await;
            });
        })
        .ok()?;
    let handle = handle_rx.recv().ok()?;
    Some((handle, stop))
}

fn metrics_batch_size(size: usize) {
    metrics::histogram!(names::PURCHASE_BATCH_SIZE).record(size as f64);
}
