//! The `RateLimiter` Durable Object: one instance per (shop, client), named by the Worker, so
//! every request of that client, from any isolate anywhere, is checked against one log.
//!
//! The log lives in the object's SQLite storage. A check reads and writes it synchronously, with
//! no await in between, so concurrent requests to the object are decided one after the other and
//! the limit is exact. Idle objects clean up after themselves: an alarm set for when the last
//! window and cooldown have passed deletes their storage.

use std::cell::Cell;

use serde::Deserialize;
use worker::{
    durable_object, DurableObject, Env, Request, Response, Result, SqlStorage, SqlStorageValue,
    State,
};

use super::{
    protocol::{CheckRequest, Verdict},
    sliding_window::{decide, window_ms, Decision, LogState},
};
use crate::clock::now_ms;

const SCHEMA: &str = "
    CREATE TABLE IF NOT EXISTS admitted (class TEXT NOT NULL, at_ms INTEGER NOT NULL);
    CREATE INDEX IF NOT EXISTS admitted_by_class ON admitted (class, at_ms);
    CREATE TABLE IF NOT EXISTS refused (class TEXT NOT NULL, at_ms INTEGER NOT NULL);
    CREATE TABLE IF NOT EXISTS cooldown (class TEXT PRIMARY KEY, until_ms INTEGER NOT NULL);
    CREATE TABLE IF NOT EXISTS quiet (id INTEGER PRIMARY KEY CHECK (id = 1), at_ms INTEGER NOT NULL);
";

/// Granularity of the stored quiet time.
const QUIET_STEP_MS: u64 = 5_000;

#[durable_object(alarm)]
pub struct RateLimiter {
    state: State,
    schema_ready: Cell<bool>,
    alarm_set: Cell<bool>,
    /// The quiet time last written to storage by this instance.
    quiet_written: Cell<u64>,
}

impl DurableObject for RateLimiter {
    fn new(state: State, _env: Env) -> Self {
        Self {
            state,
            schema_ready: Cell::new(false),
            alarm_set: Cell::new(false),
            quiet_written: Cell::new(0),
        }
    }

    async fn fetch(&self, mut req: Request) -> Result<Response> {
        let check: CheckRequest = req.json().await?;
        let now = now_ms();
        let verdict = self.check(&check, now)?;
        if !self.alarm_set.get() {
            self.alarm_set.set(true);
            let quiet_at = self.quiet_at()?.unwrap_or(now);
            self.state
                .storage()
                .set_alarm(i64::try_from(quiet_at.saturating_sub(now)).unwrap_or(i64::MAX))
                .await?;
        }
        Response::from_json(&verdict)
    }

    async fn alarm(&self) -> Result<Response> {
        let now = now_ms();
        match self.quiet_at()? {
            Some(quiet_at) if quiet_at > now => {
                let wait = i64::try_from(quiet_at - now).unwrap_or(i64::MAX);
                self.state.storage().set_alarm(wait).await?;
            }
            _ => {
                self.state.storage().delete_all().await?;
                self.schema_ready.set(false);
                self.alarm_set.set(false);
                self.quiet_written.set(0);
            }
        }
        Response::empty()
    }
}

impl std::fmt::Debug for RateLimiter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RateLimiter").finish_non_exhaustive()
    }
}

#[derive(Deserialize)]
struct Admitted {
    count: u32,
    oldest: Option<u64>,
}

#[derive(Deserialize)]
struct Count {
    count: u32,
}

#[derive(Deserialize)]
struct Until {
    until_ms: u64,
}

#[derive(Deserialize)]
struct Quiet {
    at_ms: u64,
}

fn integer(value: u64) -> SqlStorageValue {
    SqlStorageValue::Integer(i64::try_from(value).unwrap_or(i64::MAX))
}

impl RateLimiter {
    fn sql(&self) -> Result<SqlStorage> {
        let sql = self.state.storage().sql();
        if !self.schema_ready.get() {
            sql.exec(SCHEMA, None)?;
            self.schema_ready.set(true);
        }
        Ok(sql)
    }

    /// Decides one request and writes what the decision says. Synchronous on purpose: nothing
    /// else runs in this object between the read and the write.
    fn check(&self, check: &CheckRequest, now: u64) -> Result<Verdict> {
        let sql = self.sql()?;
        let class = SqlStorageValue::from(check.class.name());
        let cooldown_until_ms = sql
            .exec(
                "SELECT until_ms FROM cooldown WHERE class = ?",
                vec![class.clone()],
            )?
            .to_array::<Until>()?
            .first()
            .map(|row| row.until_ms);
        if let Some(until_ms) = cooldown_until_ms.filter(|until| *until > now) {
            return Ok(Decision::CoolingDown { until_ms }.verdict(now));
        }

        let window = window_ms(check);
        let horizon = integer(now.saturating_sub(window));
        sql.exec(
            "DELETE FROM admitted WHERE class = ? AND at_ms <= ?",
            vec![class.clone(), horizon.clone()],
        )?;
        let admitted: Admitted = sql
            .exec(
                "SELECT count(*) AS count, min(at_ms) AS oldest FROM admitted WHERE class = ?",
                vec![class.clone()],
            )?
            .one()?;
        // Refusals only matter once the quota is used up.
        let refusals = if admitted.count >= check.quota.limit {
            sql.exec(
                "DELETE FROM refused WHERE class = ? AND at_ms <= ?",
                vec![class.clone(), horizon],
            )?;
            sql.exec(
                "SELECT count(*) AS count FROM refused WHERE class = ?",
                vec![class.clone()],
            )?
            .one::<Count>()?
            .count
        } else {
            0
        };
        let log = LogState {
            admitted: admitted.count,
            oldest_admitted_ms: admitted.oldest,
            refusals,
            cooldown_until_ms,
        };

        let decision = decide(&log, check, now);
        let mut quiet_at = now + window;
        match decision {
            Decision::Admit { .. } => {
                sql.exec(
                    "INSERT INTO admitted (class, at_ms) VALUES (?, ?)",
                    vec![class, integer(now)],
                )?;
            }
            Decision::Refuse { .. } => {
                sql.exec(
                    "INSERT INTO refused (class, at_ms) VALUES (?, ?)",
                    vec![class, integer(now)],
                )?;
            }
            Decision::StartCooldown { until_ms } => {
                sql.exec("DELETE FROM refused WHERE class = ?", vec![class.clone()])?;
                sql.exec(
                    "INSERT INTO cooldown (class, until_ms) VALUES (?, ?)
                     ON CONFLICT (class) DO UPDATE SET until_ms = excluded.until_ms",
                    vec![class, integer(until_ms)],
                )?;
                quiet_at = quiet_at.max(until_ms);
            }
            Decision::CoolingDown { .. } => {}
        }
        // Rounded up so that the stored time is never early and is rewritten only every few
        // seconds, not on every request.
        let quiet_at = quiet_at.div_ceil(QUIET_STEP_MS) * QUIET_STEP_MS;
        if quiet_at > self.quiet_written.get() {
            sql.exec(
                "INSERT INTO quiet (id, at_ms) VALUES (1, ?)
                 ON CONFLICT (id) DO UPDATE SET at_ms = max(at_ms, excluded.at_ms)",
                vec![integer(quiet_at)],
            )?;
            self.quiet_written.set(quiet_at);
        }
        Ok(decision.verdict(now))
    }

    /// When every window and cooldown of this client will have passed.
    fn quiet_at(&self) -> Result<Option<u64>> {
        let rows = self
            .sql()?
            .exec("SELECT at_ms FROM quiet WHERE id = 1", None)?
            .to_array::<Quiet>()?;
        Ok(rows.first().map(|row| row.at_ms))
    }
}
