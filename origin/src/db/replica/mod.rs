//! Read replicas with read-your-writes.
//!
//! With `DATABASE_REPLICA_URL` set, public reads (the inventory) run on a streaming replica so
//! the primary keeps its connections and CPU for purchases; writes and the strict stock check in
//! a purchase always run on the primary. A replica lags the primary a little, so a client that
//! just wrote could read the world from before its write. To rule that out:
//!
//! 1. every successful write answers with the primary's WAL position after its commit
//!    (`X-Write-LSN` header and a cookie of the same value: `web::write_position`);
//! 2. the client sends it back on later reads (`web::read_after::ReadAfter` reads the header or the cookie);
//! 3. such a read runs on the replica only if the replica has replayed at least that far,
//!    otherwise on the primary (`routing::begin_read`). The check is part of the transaction's
//!    first statement, so it costs no extra round trip.
//!
//! A replica that cannot be reached sends reads to the primary instead of failing them.
//! Without a replica, everything runs on the primary and no position is handed out.

pub mod positions;
pub mod routing;

pub use api::write_position::Lsn;
pub use routing::begin_read;
