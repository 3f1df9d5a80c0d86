//! The durable purchase queue (`Prefer: respond-async`).
//!
//! Enqueueing rides the group committer too (lane `Enqueue`): concurrent async buys of a shop
//! are stored by one transaction, together with their idempotency records, and answered `202`.
//! Workers then claim pending rows (`FOR UPDATE SKIP LOCKED`), sell them per item with the same
//! `engine::buy_item` as synchronous buys, and record each outcome in that same transaction: a
//! worker that dies mid-batch rolls back, and another takes the rows. Nothing is applied twice.

pub mod enqueue;
pub mod worker;

pub use worker::{drain_once, run_worker};
