//! The `RateLimiter` Durable Object: one instance per shop, named by the Worker
//! (`shop:{org_id}`), holding the exact log of every client of the shop that the isolates
//! could not decide on their own, and the shop's ceiling across all clients. One object per
//! shop, not per client, so rotating addresses or tokens never creates objects, and a write is
//! checked against its client's quota and the shop's ceiling in a single request.
//!
//! A check reads and writes the logs synchronously, with no await in between, so concurrent
//! requests to the object are decided one after the other and the limits are exact. Idle
//! objects clean up after themselves: an alarm set for when the last window and cooldown have
//! passed deletes their storage. The object counts the requests it serves, for the cost figures
//! of the tests and the bench.

use std::cell::Cell;

use worker::{durable_object, DurableObject, Env, Method, Request, Response, Result, State};

use super::{
    fields::Scope,
    log_store::{LogKey, LogStore},
    policy::Cooldown,
    protocol::{CheckRequest, Stats, Verdict, STATS_PATH},
    sliding_window::{decide, window_ms, Decision},
};
use crate::clock::now_ms;

/// Granularity of the stored quiet time.
const QUIET_STEP_MS: u64 = 5_000;

#[durable_object(alarm)]
pub struct RateLimiter {
    state: State,
    schema_ready: Cell<bool>,
    alarm_set: Cell<bool>,
    /// The quiet time last written to storage by this instance.
    quiet_written: Cell<u64>,
    stats: Cell<Stats>,
}

impl DurableObject for RateLimiter {
    fn new(state: State, _env: Env) -> Self {
        Self {
            state,
            schema_ready: Cell::new(false),
            alarm_set: Cell::new(false),
            quiet_written: Cell::new(0),
            stats: Cell::new(Stats::default()),
        }
    }

    async fn fetch(&self, mut req: Request) -> Result<Response> {
        if req.method() == Method::Get && req.path() == STATS_PATH {
            return Response::from_json(&self.stats.get());
        }
        self.stats.set(Stats {
            checks: self.stats.get().checks + 1,
            ..self.stats.get()
        });
        let check: CheckRequest = req.json().await?;
        let now = now_ms();
        let verdict = self.check(&check, now)?;
        if !self.alarm_set.get() {
            self.alarm_set.set(true);
            let quiet_at = self.store()?.quiet_at()?.unwrap_or(now);
            self.state
                .storage()
                .set_alarm(i64::try_from(quiet_at.saturating_sub(now)).unwrap_or(i64::MAX))
                .await?;
        }
        Response::from_json(&verdict)
    }

    async fn alarm(&self) -> Result<Response> {
        self.stats.set(Stats {
            alarms: self.stats.get().alarms + 1,
            ..self.stats.get()
        });
        let now = now_ms();
        match self.store()?.quiet_at()? {
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

impl RateLimiter {
    fn store(&self) -> Result<LogStore> {
        let sql = self.state.storage().sql();
        if !self.schema_ready.get() {
            LogStore::create_schema(&sql)?;
            self.schema_ready.set(true);
        }
        Ok(LogStore::new(sql))
    }

    /// Decides one request against every log it names and writes what the decisions say: the
    /// request is admitted, and logged everywhere, only if every log admits it. Synchronous on
    /// purpose: nothing else runs in this object between the reads and the writes.
    fn check(&self, request: &CheckRequest, now: u64) -> Result<Verdict> {
        let store = self.store()?;
        let class = request.class.name();
        let mut quiet_at = now;
        let mut admissions = Vec::with_capacity(request.checks.len());
        for check in &request.checks {
            let key = LogKey::new(check.holder(), class);
            let window = window_ms(check.quota);
            let horizon = now.saturating_sub(window);
            quiet_at = quiet_at.max(now + window);
            if check.client.is_some() {
                // Upload logs are filed under the admins' prefix, and swept with theirs.
                let admins = matches!(check.scope(), Scope::Admin | Scope::Upload);
                store.sweep_clients(class, horizon, now, admins)?;
            }
            // What the isolate admitted on its own is the log's, whatever happens next.
            store.admit(&key, now, check.admitted_locally)?;
            store.give_back(&key, now, check.given_back)?;
            let cooldown_until_ms = match check.cooldown {
                Cooldown::NONE => None,
                _ => store.cooldown_until(&key)?,
            };
            let log = store.state(&key, horizon, check.quota.limit, cooldown_until_ms)?;
            let decision = decide(&log, check.quota, check.cooldown, now);
            match decision {
                Decision::Admit { .. } => admissions.push((key, decision, check.scope())),
                Decision::Refuse { .. } => {
                    store.refuse(&key, now)?;
                    return self.settle(decision.verdict(check.scope(), now), quiet_at);
                }
                Decision::StartCooldown { until_ms } => {
                    store.start_cooldown(&key, until_ms)?;
                    let verdict = decision.verdict(check.scope(), now);
                    return self.settle(verdict, quiet_at.max(until_ms));
                }
                Decision::CoolingDown { .. } => {
                    return self.settle(decision.verdict(check.scope(), now), quiet_at);
                }
            }
        }
        for (key, _, _) in &admissions {
            store.admit(key, now, 1)?;
        }
        let Some((_, decision, scope)) = admissions.first() else {
            return Err(worker::Error::RustError("a check that names no log".into()));
        };
        self.settle(decision.verdict(*scope, now), quiet_at)
    }

    /// Stores when everything written so far will have expired, rounded up so that the stored
    /// time is never early and is rewritten only every few seconds, not on every request.
    fn settle(&self, verdict: Verdict, quiet_at: u64) -> Result<Verdict> {
        let quiet_at = quiet_at.div_ceil(QUIET_STEP_MS) * QUIET_STEP_MS;
        if quiet_at > self.quiet_written.get() {
            self.store()?.quiet_no_earlier_than(quiet_at)?;
            self.quiet_written.set(quiet_at);
        }
        Ok(verdict)
    }
}
