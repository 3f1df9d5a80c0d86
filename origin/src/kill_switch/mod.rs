//! The kill switch: pause every purchase of a shop (or, for operators, of all shops) at once.
//!
//! The origin is authoritative: every purchase transaction reads the switch. A cooldown stops
//! flapping: after a flip the switch cannot flip back until the cooldown ends, unless an admin
//! forces it, which the audit log records.

pub mod handlers;
pub mod switch;

pub use switch::{flip, paused, Flip, FlipOrder, Paused, GLOBAL};
