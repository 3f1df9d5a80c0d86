//! Which Postgres server the origin writes to, told on `/metrics`: behind HAProxy and Patroni
//! the address the origin dials never changes, so only the server itself can say which node
//! answered. Every new connection asks (`inet_server_addr()`, `inet_server_port()`,
//! `pg_is_in_recovery()`) and counts itself, so a failover shows as the gauge moving to another
//! node and the connection counter jumping as the pools reconnect.

use std::sync::Mutex;

use sqlx::PgConnection;

use crate::observability::recorder::names;

/// The server last seen in each role (primary, standby), so its series drops to 0 when another
/// takes over that role. Kept per role: the replica pool's connections (and the probes' own)
/// must not hide which server the writes go to.
static LAST_SERVER: Mutex<[Option<String>; 2]> = Mutex::new([None, None]);

/// Runs on every new connection of the primary's pools: records the server and counts the
/// connection. A server that cannot say who it is still counts; the gauge is left as it was.
pub async fn observe(conn: &mut PgConnection) -> Result<(), sqlx::Error> {
    metrics::counter!(names::DB_CONNECTIONS_OPENED).increment(1);
    // In a transaction: behind a transaction pooler, a statement's prepare and execute outside
    // one may reach different server connections.
    let mut tx = sqlx::Connection::begin(conn).await?;
    let identity = sqlx::query!(
        r#"SELECT coalesce(host(inet_server_addr()), 'local') AS "addr!",
                  coalesce(inet_server_port(), 0) AS "port!",
                  pg_is_in_recovery() AS "in_recovery!""#
    )
    .fetch_one(&mut *tx)
    .await?;
    tx.commit().await?;
    let server = format!("{}:{}", identity.addr, identity.port);
    let role = if identity.in_recovery {
        "standby"
    } else {
        "primary"
    };
    record(server, role);
    Ok(())
}

fn record(server: String, role: &'static str) {
    let slot = usize::from(role == "standby");
    let mut last = LAST_SERVER
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    if let Some(old_server) = last[slot].as_ref() {
        if *old_server != server {
            metrics::gauge!(names::DB_SERVER, "server" => old_server.clone(), "role" => role)
                .set(0.0);
        }
    }
    metrics::gauge!(names::DB_SERVER, "server" => server.clone(), "role" => role).set(1.0);
    last[slot] = Some(server);
}
