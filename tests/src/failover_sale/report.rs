//! What one phase showed, the promises it checks, and the lines `bench failover` prints: the
//! figures of a phase in one value, so the test and the benchmark judge a run the same way.

use std::{collections::BTreeMap, time::Duration, time::Instant};

use uuid::Uuid;

use super::{checks::Checks, shoppers::Journal, Fault, EDGE_WRITE_DEADLINE};

/// What one phase showed.
#[derive(Debug)]
pub struct PhaseReport {
    pub fault: Fault,
    pub old_leader: String,
    pub new_leader: String,
    pub shoppers: usize,
    /// Fault -> a new leader in Patroni.
    pub to_new_leader: Duration,
    /// Fault -> the first `201` to a purchase sent after the fault (for a full disk: after
    /// the primary stopped, `primary_stopped_after`).
    pub to_first_sale: Option<Duration>,
    /// Fault -> the old primary stopped taking writes: zero but for a full disk, where it
    /// refuses what needs new space while it runs.
    pub primary_stopped_after: Duration,
    pub acknowledged: usize,
    /// Acknowledged order ids absent on the new primary.
    pub missing: Vec<Uuid>,
    pub stock_left: i64,
    pub units_sold: i64,
    pub initial_stock: i64,
    /// Keys with more than one order.
    pub keys_with_two_orders: i64,
    /// Acknowledged keys with exactly their one order.
    pub keys_with_their_order: i64,
    /// Answers to purchases sent while no primary took writes: status -> count (0 = no answer).
    pub while_down: BTreeMap<u16, usize>,
    /// Of those, 503s without `Retry-After`.
    pub while_down_503_without_retry_after: usize,
    pub while_down_max_latency: Duration,
    /// Inventory reads through the Worker during the phase: answered 200 / sent.
    pub reads_answered: usize,
    pub reads_sent: usize,
    /// The old leader back as a replica on the new timeline, after the fault.
    pub old_leader_rejoined_after: Option<Duration>,
    /// Split brain only: what a write sent straight to the woken old primary got.
    pub old_primary_write: Option<String>,
}

impl PhaseReport {
    /// Everything the phase promises: nothing acknowledged lost, units accounted for, one order
    /// per key, no answer but a 503 with `Retry-After` (or a 201/409) while down, none past the
    /// edge's deadline.
    pub fn violations(&self) -> Vec<String> {
        let mut bad = Vec::new();
        if !self.missing.is_empty() {
            bad.push(format!(
                "{} acknowledged orders missing: {:?}",
                self.missing.len(),
                self.missing
            ));
        }
        if self.stock_left + self.units_sold != self.initial_stock {
            bad.push(format!(
                "stock {} + sold {} != initial {}",
                self.stock_left, self.units_sold, self.initial_stock
            ));
        }
        if self.keys_with_two_orders != 0 {
            bad.push(format!("{} keys bought twice", self.keys_with_two_orders));
        }
        if self.keys_with_their_order != i64::try_from(self.acknowledged).unwrap_or(i64::MAX) {
            bad.push(format!(
                "{} of {} acknowledged keys have their order",
                self.keys_with_their_order, self.acknowledged
            ));
        }
        if self.to_first_sale.is_none() {
            bad.push("no sale after the fault".to_owned());
        }
        let other: Vec<_> = self
            .while_down
            .keys()
            .filter(|status| **status >= 500 && **status != 503)
            .collect();
        if !other.is_empty() {
            bad.push(format!(
                "5xx other than 503 while down: {:?}",
                self.while_down
            ));
        }
        if self.while_down_503_without_retry_after > 0 {
            bad.push(format!(
                "{} 503s without Retry-After",
                self.while_down_503_without_retry_after
            ));
        }
        if self.while_down_max_latency > EDGE_WRITE_DEADLINE + Duration::from_secs(1) {
            bad.push(format!(
                "an answer took {:?}, past the edge's deadline",
                self.while_down_max_latency
            ));
        }
        if let Some(write) = &self.old_primary_write {
            if write.starts_with("committed") {
                bad.push(format!("the old primary took a write: {write}"));
            }
        }
        bad
    }

    /// The report as printed by `bench failover`.
    pub fn lines(&self) -> Vec<String> {
        let secs = |d: Option<Duration>| {
            d.map_or_else(
                || "never".to_owned(),
                |d| format!("{:.1} s", d.as_secs_f64()),
            )
        };
        let mut lines = vec![
            format!(
                "{:?} on {} ({} shoppers): new leader {} after {}",
                self.fault,
                self.old_leader,
                self.shoppers,
                self.new_leader,
                secs(Some(self.to_new_leader))
            ),
            format!("  fault -> first 201 again       {}", secs(self.to_first_sale)),
            format!(
                "  201s acknowledged              {} ({} missing on the new primary)",
                self.acknowledged,
                self.missing.len()
            ),
            format!(
                "  stock + sold = initial         {} + {} = {} (initial {})",
                self.stock_left,
                self.units_sold,
                self.stock_left + self.units_sold,
                self.initial_stock
            ),
            format!(
                "  keys -> one order              {} of {} acknowledged; {} keys with two",
                self.keys_with_their_order, self.acknowledged, self.keys_with_two_orders
            ),
            format!(
                "  while no primary (status: n)   {:?}; 503 without Retry-After {}; max latency {:.2} s (edge deadline {} s)",
                self.while_down,
                self.while_down_503_without_retry_after,
                self.while_down_max_latency.as_secs_f64(),
                EDGE_WRITE_DEADLINE.as_secs()
            ),
            format!(
                "  inventory reads answered       {} of {}",
                self.reads_answered, self.reads_sent
            ),
            format!(
                "  old leader rejoined (pg_rewind) {}",
                secs(self.old_leader_rejoined_after)
            ),
        ];
        if self.fault == Fault::DiskFull {
            lines.insert(
                2,
                format!(
                    "  old primary stopped after      {:.1} s (refusing meanwhile)",
                    self.primary_stopped_after.as_secs_f64()
                ),
            );
        }
        if let Some(write) = &self.old_primary_write {
            lines.push(format!(
                "  write straight to the woken old primary: {write}"
            ));
        }
        lines
    }
}

/// What the phase itself timed, besides the journal and the checks.
pub(super) struct Timeline {
    pub(super) fault: Fault,
    pub(super) old_leader: String,
    pub(super) new_leader: String,
    pub(super) shoppers: usize,
    pub(super) fault_at: Instant,
    pub(super) writes_stopped_at: Instant,
    pub(super) to_new_leader: Duration,
    /// The first `201` after the writes stopped: (sent, answered), from that moment.
    pub(super) first_sale: Option<(Duration, Duration)>,
    pub(super) old_leader_rejoined_after: Option<Duration>,
    pub(super) old_primary_write: Option<String>,
    pub(super) initial_stock: i64,
}

impl PhaseReport {
    /// Puts the phase's timeline, the shoppers' journal and the checks on the new primary
    /// together. "While down" is from the fault until the purchase that got the first `201`
    /// was sent.
    pub(super) fn new(timeline: Timeline, journal: &Journal, checks: Checks) -> Self {
        let fault_at = timeline.fault_at;
        let first_sale_sent = timeline
            .first_sale
            .map(|(sent, _)| timeline.writes_stopped_at + sent);
        let while_down: Vec<_> = journal
            .attempts
            .iter()
            .filter(|a| a.sent >= fault_at && first_sale_sent.is_none_or(|at| a.sent < at))
            .collect();
        Self {
            fault: timeline.fault,
            old_leader: timeline.old_leader,
            new_leader: timeline.new_leader,
            shoppers: timeline.shoppers,
            to_new_leader: timeline.to_new_leader,
            to_first_sale: timeline.first_sale.map(|(_, answered)| answered),
            primary_stopped_after: timeline.writes_stopped_at - fault_at,
            acknowledged: journal.acknowledged.len(),
            missing: checks.missing,
            stock_left: checks.stock_left,
            units_sold: checks.units_sold,
            initial_stock: timeline.initial_stock,
            keys_with_two_orders: checks.keys_with_two_orders,
            keys_with_their_order: checks.keys_with_their_order,
            while_down: while_down.iter().fold(BTreeMap::new(), |mut counts, a| {
                *counts.entry(a.status).or_insert(0) += 1;
                counts
            }),
            while_down_503_without_retry_after: while_down
                .iter()
                .filter(|a| a.status == 503 && !a.retry_after)
                .count(),
            while_down_max_latency: while_down
                .iter()
                .map(|a| a.latency)
                .max()
                .unwrap_or_default(),
            reads_answered: journal.reads.iter().filter(|r| r.status == 200).count(),
            reads_sent: journal.reads.len(),
            old_leader_rejoined_after: timeline.old_leader_rejoined_after,
            old_primary_write: timeline.old_primary_write,
        }
    }
}
