//! How long the edge waits for the origin, per route class (`ORIGIN_DEADLINES_MS`).
//!
//! Reads are short (2 s): a shopper would rather see the last good stock now than fresh stock
//! later, and a read costs nothing to repeat. Writes wait a little longer than the origin's own
//! request timeout (`REQUEST_TIMEOUT_MS`, 10 s), so a purchase the origin commits is answered
//! rather than cut off; one cut off anyway is found again by retrying it with its
//! Idempotency-Key.
//!
//! A request's origin work shares one budget: the kill-switch poll a purchase makes first
//! comes out of the purchase's write deadline, so no request is held past its deadline in all.

use std::time::Duration;

use serde::Deserialize;

use crate::{clock::now_ms, route::RouteClass};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Deadlines {
    read: u64,
    write: u64,
}

impl Default for Deadlines {
    fn default() -> Self {
        Self {
            read: 2_000,
            write: 11_000,
        }
    }
}

impl Deadlines {
    pub fn of(&self, class: RouteClass) -> Duration {
        Duration::from_millis(self.millis(class))
    }

    fn millis(&self, class: RouteClass) -> u64 {
        match class {
            RouteClass::Read => self.read,
            RouteClass::Write => self.write,
        }
    }

    /// The budget of a request of `class`, starting now.
    pub fn budget(&self, class: RouteClass) -> Budget {
        Budget {
            ends_at_ms: now_ms() + self.millis(class),
        }
    }
}

/// What is left of a request's time with the origin.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Budget {
    ends_at_ms: u64,
}

impl Budget {
    pub fn left(&self) -> Duration {
        Duration::from_millis(self.ends_at_ms.saturating_sub(now_ms()))
    }
}
