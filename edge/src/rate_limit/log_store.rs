//! The limiter object's SQLite storage: for each holder (a client's key, or `shop` for the
//! ceiling across all clients) and route class, a log of admissions, a count of recent
//! refusals and a cooldown, plus the time when everything stored will have expired.
//!
//! Admissions are rows with a weight, so a batch an isolate admitted on its own is one row,
//! not one row per request (rows written are what SQLite storage bills). Rows older than their
//! window are swept by the checks that read them, and the whole storage by the object's alarm
//! once the shop is quiet.

use serde::Deserialize;
use worker::{Result, SqlStorage, SqlStorageValue};

use super::sliding_window::LogState;

const SCHEMA: &str = "
    CREATE TABLE IF NOT EXISTS admissions (
        holder TEXT NOT NULL, class TEXT NOT NULL, at_ms INTEGER NOT NULL, weight INTEGER NOT NULL);
    CREATE INDEX IF NOT EXISTS admissions_by_holder ON admissions (holder, class, at_ms);
    CREATE INDEX IF NOT EXISTS admissions_by_age ON admissions (class, at_ms);
    CREATE TABLE IF NOT EXISTS refusals (holder TEXT NOT NULL, class TEXT NOT NULL, at_ms INTEGER NOT NULL);
    CREATE INDEX IF NOT EXISTS refusals_by_holder ON refusals (holder, class, at_ms);
    CREATE TABLE IF NOT EXISTS cooldowns (
        holder TEXT NOT NULL, class TEXT NOT NULL, until_ms INTEGER NOT NULL,
        PRIMARY KEY (holder, class));
    CREATE TABLE IF NOT EXISTS quiet (id INTEGER PRIMARY KEY CHECK (id = 1), at_ms INTEGER NOT NULL);
";

/// Holder names of the shop's ceilings start so; client keys always carry a `sub:`, `ip:` or
/// `admin:` prefix.
const CEILING_PREFIX: &str = "shop%";
/// Admins' holder names, swept apart from other clients' (their window may differ).
const ADMIN_PREFIX: &str = "admin:%";

/// One holder's log of one route class.
#[derive(Debug, Clone)]
pub struct LogKey {
    holder: SqlStorageValue,
    class: SqlStorageValue,
}

impl LogKey {
    pub fn new(holder: &str, class: &str) -> Self {
        Self {
            holder: SqlStorageValue::from(holder),
            class: SqlStorageValue::from(class),
        }
    }

    fn params(&self, more: impl IntoIterator<Item = SqlStorageValue>) -> Vec<SqlStorageValue> {
        [self.holder.clone(), self.class.clone()]
            .into_iter()
            .chain(more)
            .collect()
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

pub fn integer(value: u64) -> SqlStorageValue {
    SqlStorageValue::Integer(i64::try_from(value).unwrap_or(i64::MAX))
}

/// The logs of one limiter object.
#[derive(Debug)]
pub struct LogStore {
    sql: SqlStorage,
}

impl LogStore {
    /// Creates the tables; needed once per instance, and again after the storage was deleted.
    pub fn create_schema(sql: &SqlStorage) -> Result<()> {
        sql.exec(SCHEMA, None)?;
        Ok(())
    }

    pub fn new(sql: SqlStorage) -> Self {
        Self { sql }
    }

    /// The cooldown of `key`, if one was ever stored.
    pub fn cooldown_until(&self, key: &LogKey) -> Result<Option<u64>> {
        Ok(self
            .sql
            .exec(
                "SELECT until_ms FROM cooldowns WHERE holder = ? AND class = ?",
                key.params([]),
            )?
            .to_array::<Until>()?
            .first()
            .map(|row| row.until_ms))
    }

    /// The log of `key` at `now`, entries at or before `horizon` dropped; refusals are only
    /// read when the quota is used up, since only then do they matter.
    pub fn state(
        &self,
        key: &LogKey,
        horizon: u64,
        limit: u32,
        cooldown_until_ms: Option<u64>,
    ) -> Result<LogState> {
        self.sql.exec(
            "DELETE FROM admissions WHERE holder = ? AND class = ? AND at_ms <= ?",
            key.params([integer(horizon)]),
        )?;
        let admitted: Admitted = self
            .sql
            .exec(
                "SELECT max(coalesce(sum(weight), 0), 0) AS count, min(at_ms) AS oldest
                 FROM admissions WHERE holder = ? AND class = ?",
                key.params([]),
            )?
            .one()?;
        let refusals = if admitted.count >= limit {
            self.sql.exec(
                "DELETE FROM refusals WHERE holder = ? AND class = ? AND at_ms <= ?",
                key.params([integer(horizon)]),
            )?;
            self.sql
                .exec(
                    "SELECT count(*) AS count FROM refusals WHERE holder = ? AND class = ?",
                    key.params([]),
                )?
                .one::<Count>()?
                .count
        } else {
            0
        };
        Ok(LogState {
            admitted: admitted.count,
            oldest_admitted_ms: admitted.oldest,
            refusals,
            cooldown_until_ms,
        })
    }

    pub fn admit(&self, key: &LogKey, at_ms: u64, weight: u32) -> Result<()> {
        if weight > 0 {
            self.sql.exec(
                "INSERT INTO admissions (holder, class, at_ms, weight) VALUES (?, ?, ?, ?)",
                key.params([integer(at_ms), integer(u64::from(weight))]),
            )?;
        }
        Ok(())
    }

    /// Takes `weight` admissions back: a row of negative weight, which leaves the window a
    /// moment after the admissions it cancels (a refund follows its admission by one origin
    /// round trip), so the count is never above the truth for longer than that.
    pub fn give_back(&self, key: &LogKey, at_ms: u64, weight: u32) -> Result<()> {
        if weight > 0 {
            self.sql.exec(
                "INSERT INTO admissions (holder, class, at_ms, weight) VALUES (?, ?, ?, ?)",
                key.params([integer(at_ms), SqlStorageValue::Integer(-i64::from(weight))]),
            )?;
        }
        Ok(())
    }

    pub fn refuse(&self, key: &LogKey, at_ms: u64) -> Result<()> {
        self.sql.exec(
            "INSERT INTO refusals (holder, class, at_ms) VALUES (?, ?, ?)",
            key.params([integer(at_ms)]),
        )?;
        Ok(())
    }

    pub fn start_cooldown(&self, key: &LogKey, until_ms: u64) -> Result<()> {
        self.sql.exec(
            "DELETE FROM refusals WHERE holder = ? AND class = ?",
            key.params([]),
        )?;
        self.sql.exec(
            "INSERT INTO cooldowns (holder, class, until_ms) VALUES (?, ?, ?)
             ON CONFLICT (holder, class) DO UPDATE SET until_ms = excluded.until_ms",
            key.params([integer(until_ms)]),
        )?;
        Ok(())
    }

    /// Drops the admissions of every client (or, with `admins`, every admin) of `class` at or
    /// before `horizon` (all of them share one quota), and cooldowns that ended: clients that
    /// went away leave nothing behind while the shop stays busy.
    pub fn sweep_clients(&self, class: &str, horizon: u64, now: u64, admins: bool) -> Result<()> {
        let (sql, params) = if admins {
            (
                "DELETE FROM admissions WHERE class = ? AND at_ms <= ? AND holder LIKE ?",
                vec![class.into(), integer(horizon), ADMIN_PREFIX.into()],
            )
        } else {
            (
                "DELETE FROM admissions WHERE class = ? AND at_ms <= ?
                 AND holder NOT LIKE ? AND holder NOT LIKE ?",
                vec![
                    class.into(),
                    integer(horizon),
                    CEILING_PREFIX.into(),
                    ADMIN_PREFIX.into(),
                ],
            )
        };
        self.sql.exec(sql, params)?;
        self.sql.exec(
            "DELETE FROM cooldowns WHERE until_ms <= ?",
            vec![integer(now)],
        )?;
        Ok(())
    }

    /// Moves the stored quiet time forward to `at_ms` (never back).
    pub fn quiet_no_earlier_than(&self, at_ms: u64) -> Result<()> {
        self.sql.exec(
            "INSERT INTO quiet (id, at_ms) VALUES (1, ?)
             ON CONFLICT (id) DO UPDATE SET at_ms = max(at_ms, excluded.at_ms)",
            vec![integer(at_ms)],
        )?;
        Ok(())
    }

    /// When every window and cooldown stored will have passed.
    pub fn quiet_at(&self) -> Result<Option<u64>> {
        let rows = self
            .sql
            .exec("SELECT at_ms FROM quiet WHERE id = 1", None)?
            .to_array::<Quiet>()?;
        Ok(rows.first().map(|row| row.at_ms))
    }
}
