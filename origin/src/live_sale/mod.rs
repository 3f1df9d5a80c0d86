//! The live sale view shop admins watch in their console: per shop, once a second, units sold
//! and stock left per item, and purchases refused by reason (sold out, rate limited, paused).
//!
//! Why it is built this way:
//!
//! - **Aggregates, not events.** A console during a flash sale must cost the origin what it
//!   costs during a quiet hour. So an admin stream (`stream`, `GET /api/admin/events`) carries
//!   one aggregate a second (`seconds`), never one event per purchase, and the aggregate is
//!   folded from what every origin process already receives: the database's one stock
//!   notification per committed batch, which says how many units the batch sold (`buy_batch` in
//!   `db/schema.sql`). A purchase itself touches nothing here.
//! - **Refusals are counted where they happen.** A refused purchase writes nothing, so there is
//!   no notification to fold: the group committer counts the sold-out and paused orders of each
//!   batch that had any, and the edge counts what it refuses by itself (its rate limiter's 429s
//!   and the buys it refuses while sales are paused) and reports the counts at most once a
//!   second per shop and isolate (`edge_reports`). The counts are published once a second per
//!   process (`refusal_tally`), so nothing is made up and nothing is counted per purchase.
//! - **Every origin shows the whole shop.** Behind a load balancer a console is attached to one
//!   origin while purchases land on all of them. Stock notifications reach every listener, and
//!   so do the refusal counts, which go through `pg_notify` for that reason: each origin's view
//!   is the shop's, with refusals up to about a second later than sales.
//! - **Streams are streams.** An admin stream takes a place under the same per-user and
//!   per-shop caps as `GET /api/events`, and ends when its token expires.

pub mod edge_reports;
pub mod refusal_tally;
pub mod seconds;
pub mod stream;
