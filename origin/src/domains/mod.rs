//! Custom domains a shop brings itself: the owner claims a hostname, proves it, and it goes
//! live at the edge with no operator step. The `domains` table is the truth; the edge asks
//! `lookup` on a cache miss and keeps the answer.
//!
//! - `hostname`: the one normal form of a hostname, and what cannot be claimed.
//! - `claim`: the rules a claim passes (409 live elsewhere, the cap, the 30-day TXT rule).
//! - `checks`: the HTTP challenge, the TXT record, Cloudflare for SaaS.
//! - `verify`: the checks run for one claim and their outcome stored.
//! - `store`: the SQL; `view`: a row in the owner's words; `settings`: the operator's.
//! - `handlers`: the owner's routes; `lookup`: the edge's.

pub mod checks;
pub mod claim;
pub mod handlers;
pub mod hostname;
pub mod lookup;
pub mod settings;
pub mod store;
pub mod verify;
pub mod view;

pub use settings::{CloudflareSettings, DomainSettings};
