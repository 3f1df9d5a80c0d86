//! The flooder pays: each client (its address, as the rate limiter keys it) may make this
//! isolate ask the origin about hosts it knows nothing of only so many times a minute. A
//! request for a random hostname costs its sender one unit; past the budget it is refused with
//! 429 before any KV read or origin call. Hosts the isolate already knows (a known shop, or a
//! miss it remembers) cost nothing, so honest shoppers never spend it and never wait on a
//! Durable Object for it.

use crate::{isolate_memo::IsolateMemo, rate_limit::Client};

thread_local! {
    /// Per client: lookups made in the current window, and when the window ends.
    static SPENT: IsolateMemo<Client, (u64, u64)> = IsolateMemo::default();
}

/// Spends one lookup of `client`'s budget of `limit` per `window_ms`; when it is spent, the
/// seconds until it refills.
pub fn spend(client: &Client, limit: u64, window_ms: u64, now_ms: u64) -> Result<(), u64> {
    SPENT.with(|spent| {
        let (count, ends_at) = spent.get(client, now_ms).unwrap_or((0, now_ms + window_ms));
        if count >= limit {
            return Err(ends_at.saturating_sub(now_ms).div_ceil(1_000).max(1));
        }
        spent.remember(client.clone(), (count + 1, ends_at), ends_at, now_ms);
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_client_spends_its_own_budget_and_gets_it_back_next_window() {
        let (flooder, honest) = (Client::test("ip:203.0.113.9"), Client::test("ip:1.2.3.4"));
        for _ in 0..3 {
            assert_eq!(spend(&flooder, 3, 60_000, 1_000), Ok(()));
        }
        assert_eq!(spend(&flooder, 3, 60_000, 31_000), Err(30));
        assert_eq!(spend(&honest, 3, 60_000, 31_000), Ok(()));
        assert_eq!(spend(&flooder, 3, 60_000, 61_000), Ok(()));
    }
}
