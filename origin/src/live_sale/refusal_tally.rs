//! Refused purchases, counted in this process and published to every origin once a second.
//!
//! A refusal writes nothing, so the database has no notification to send for it. The process
//! that saw it counts it instead: the group committer once per batch that refused any order
//! (sold out, paused), and the edge's reports (rate limited, paused at the edge) once per report.
//! Once a second the counts of every shop that had any are published with one `pg_notify`
//! statement on `REFUSALS_CHANNEL`, and every origin's listener hands them to its admins' live
//! views: a console attached to any origin behind a load balancer sees the refusals of all of
//! them, about a second late. A process that dies loses at most the second it had not yet
//! published; no purchase waits for any of this.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex, PoisonError},
    time::Duration,
};

use api::live_sale::Refusals;
use sqlx::PgPool;
use uuid::Uuid;

use crate::events::channels::{RefusalCounts, REFUSALS_CHANNEL};

/// How often the counts are published.
const PUBLISH_EVERY: Duration = Duration::from_secs(1);

/// This process's refusal counts since they were last published, per shop.
#[derive(Debug, Clone, Default)]
pub struct RefusalTally {
    shops: Arc<Mutex<HashMap<Uuid, Refusals>>>,
}

impl RefusalTally {
    /// Adds `refused` to `org_id`'s counts (nothing to add: nothing is locked).
    pub fn add(&self, org_id: Uuid, refused: Refusals) {
        if refused.is_empty() {
            return;
        }
        let mut shops = self.shops.lock().unwrap_or_else(PoisonError::into_inner);
        shops.entry(org_id).or_default().add(refused);
    }

    /// Takes every shop's counts, leaving none.
    pub fn take(&self) -> Vec<RefusalCounts> {
        let mut shops = self.shops.lock().unwrap_or_else(PoisonError::into_inner);
        shops
            .drain()
            .map(|(org_id, refused)| RefusalCounts { org_id, refused })
            .collect()
    }

    /// Publishes the counts once a second until the process ends. Counts that cannot be
    /// published (the database is away) are dropped, not retried: a live view shows the
    /// present, and the next second's counts go out as usual.
    pub async fn publish_every_second(self, db: PgPool) {
        let mut ticks = tokio::time::interval(PUBLISH_EVERY);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticks.tick().await;
            let counts = self.take();
            if counts.is_empty() {
                continue;
            }
            if let Err(err) = publish(&db, &counts).await {
                tracing::warn!(error = %err, shops = counts.len(), "refusal counts not published");
            }
        }
    }
}

/// One statement for every shop's counts.
async fn publish(db: &PgPool, counts: &[RefusalCounts]) -> Result<(), sqlx::Error> {
    let payloads: Vec<String> = counts
        .iter()
        .filter_map(|count| serde_json::to_string(count).ok())
        .collect();
    sqlx::query!(
        r#"SELECT pg_notify($1, payload) AS "notified!: String" FROM unnest($2::text[]) AS payload"#,
        REFUSALS_CHANNEL,
        &payloads
    )
    .fetch_all(db)
    .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_add_up_per_shop_and_are_taken_once() {
        let tally = RefusalTally::default();
        let (a, b) = (Uuid::new_v4(), Uuid::new_v4());
        let sold_out = |n| Refusals {
            sold_out: n,
            ..Refusals::default()
        };
        tally.add(a, sold_out(2));
        tally.add(a, sold_out(3));
        tally.add(b, Refusals::default());
        let taken = tally.take();
        assert_eq!(
            taken,
            vec![RefusalCounts {
                org_id: a,
                refused: sold_out(5)
            }]
        );
        assert!(tally.take().is_empty());
    }

    #[test]
    fn the_payload_is_flat() {
        let count = RefusalCounts {
            org_id: Uuid::nil(),
            refused: Refusals {
                sold_out: 1,
                rate_limited: 2,
                paused: 3,
                busy: 0,
            },
        };
        let json = serde_json::to_value(count).unwrap();
        assert_eq!(json["rate_limited"], 2);
        assert_eq!(
            serde_json::from_value::<RefusalCounts>(json).unwrap(),
            count
        );
    }
}
