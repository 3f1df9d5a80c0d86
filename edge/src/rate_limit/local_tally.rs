//! Counting in isolate memory, so that most requests never cost a Durable Object request.
//!
//! A tally approximates a sliding window with two fixed windows (the current one, and the one
//! before it weighted by how much of it still overlaps the sliding window), in a few bytes per
//! key whatever the quota. Below its threshold (a share of the quota) a request is admitted
//! here and remembered as unreported; at or past it, the request must be checked by the limiter
//! object, which is first told how many this isolate admitted on its own. So in one isolate the
//! object's log is complete, and a key spread over many isolates can pass its quota by at most
//! the unreported admissions of the others (isolates x threshold).

/// The local count of one key (a client or a shop) for one route class.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LocalTally {
    window_ms: u64,
    window_start_ms: u64,
    previous: u32,
    current: u32,
    /// Admitted here and not yet reported to the object.
    unreported: u32,
    /// Reported admissions given back here, not yet reported to the object.
    given_back: u32,
}

impl LocalTally {
    pub fn new(window_ms: u64, now_ms: u64) -> Self {
        Self {
            window_ms: window_ms.max(1),
            window_start_ms: now_ms,
            previous: 0,
            current: 0,
            unreported: 0,
            given_back: 0,
        }
    }

    /// Admits one request here when the estimate is below `threshold`; `None` means the
    /// object must decide.
    pub fn admit_below(&mut self, threshold: u32, now_ms: u64) -> Option<u32> {
        let estimate = self.estimate(now_ms);
        (estimate < threshold).then(|| {
            self.current += 1;
            self.unreported += 1;
            estimate
        })
    }

    /// Counts a request the object admitted.
    pub fn count_admitted(&mut self, now_ms: u64) {
        self.roll(now_ms);
        self.current += 1;
    }

    /// Counts `weight` more admissions than were made (a client paying for a costly read),
    /// reported to the object with the next check.
    pub fn charge(&mut self, weight: u32, now_ms: u64) {
        self.roll(now_ms);
        self.current = self.current.saturating_add(weight);
        self.unreported = self.unreported.saturating_add(weight);
    }

    /// Takes back one admission: one not yet reported is simply forgotten, one the object
    /// has is reported as given back with the next check.
    pub fn give_back(&mut self, now_ms: u64) {
        self.roll(now_ms);
        self.current = self.current.saturating_sub(1);
        if self.unreported > 0 {
            self.unreported -= 1;
        } else {
            self.given_back = self.given_back.saturating_add(1);
        }
    }

    /// The admissions given back to report with the next object check.
    pub fn take_given_back(&mut self) -> u32 {
        std::mem::take(&mut self.given_back)
    }

    /// Puts back given-back admissions that could not be reported.
    pub fn restore_given_back(&mut self, count: u32) {
        self.given_back += count;
    }

    /// The admissions to report with the next object check; they are then the object's.
    pub fn take_unreported(&mut self) -> u32 {
        std::mem::take(&mut self.unreported)
    }

    /// Puts back admissions that could not be reported.
    pub fn restore_unreported(&mut self, count: u32) {
        self.unreported += count;
    }

    /// Milliseconds until the current fixed window ends.
    pub fn reset_ms(&self, now_ms: u64) -> u64 {
        (self.window_start_ms + self.window_ms).saturating_sub(now_ms)
    }

    /// When this tally no longer says anything and may be forgotten.
    pub fn stale_at_ms(&self) -> u64 {
        self.window_start_ms + 2 * self.window_ms
    }

    /// Admissions in the sliding window ending now, estimated.
    fn estimate(&mut self, now_ms: u64) -> u32 {
        self.roll(now_ms);
        let into_window = now_ms.saturating_sub(self.window_start_ms);
        let overlap = self.window_ms.saturating_sub(into_window);
        let previous = u64::from(self.previous) * overlap / self.window_ms;
        u32::try_from(previous).unwrap_or(u32::MAX) + self.current
    }

    fn roll(&mut self, now_ms: u64) {
        let elapsed = now_ms.saturating_sub(self.window_start_ms);
        if elapsed < self.window_ms {
            return;
        }
        self.previous = if elapsed < 2 * self.window_ms {
            self.current
        } else {
            0
        };
        self.current = 0;
        self.window_start_ms += elapsed / self.window_ms * self.window_ms;
    }
}

/// The share of a quota counted in the isolate before the object is asked.
pub fn threshold(limit: u32, percent: u32) -> u32 {
    u32::try_from(u64::from(limit) * u64::from(percent) / 100).unwrap_or(u32::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    const T0: u64 = 1_700_000_000_000;

    #[test]
    fn admits_locally_up_to_the_threshold_then_asks_the_object() {
        let mut tally = LocalTally::new(60_000, T0);
        for n in 0..5 {
            assert_eq!(
                tally.admit_below(5, T0 + n),
                Some(u32::try_from(n).unwrap())
            );
        }
        assert_eq!(tally.admit_below(5, T0 + 10), None);
        assert_eq!(tally.take_unreported(), 5);
        assert_eq!(tally.take_unreported(), 0, "reported once");
        tally.count_admitted(T0 + 11);
        assert_eq!(tally.admit_below(7, T0 + 12), Some(6));
    }

    #[test]
    fn the_previous_window_fades_out_as_the_sliding_window_moves_on() {
        let mut tally = LocalTally::new(10_000, T0);
        for _ in 0..10 {
            tally.admit_below(100, T0);
        }
        assert_eq!(tally.estimate(T0 + 10_000), 10, "all of it still overlaps");
        assert_eq!(tally.estimate(T0 + 15_000), 5);
        assert_eq!(tally.estimate(T0 + 20_000), 0);
        assert_eq!(tally.estimate(T0 + 95_000), 0);
        assert_eq!(tally.reset_ms(T0 + 95_000), 5_000);
    }

    #[test]
    fn charges_and_give_backs_are_reported_to_the_object() {
        let mut tally = LocalTally::new(60_000, T0);
        tally.admit_below(100, T0);
        tally.charge(9, T0);
        assert_eq!(tally.estimate(T0), 10);
        tally.give_back(T0);
        assert_eq!(tally.take_unreported(), 9);
        assert_eq!(
            tally.take_given_back(),
            0,
            "forgotten before it was reported"
        );
        tally.give_back(T0);
        assert_eq!(tally.estimate(T0), 8);
        assert_eq!(
            tally.take_given_back(),
            1,
            "reported, so given back to the object"
        );
    }

    #[test]
    fn thresholds_round_down_so_a_quota_of_one_is_always_exact() {
        assert_eq!(threshold(300, 50), 150);
        assert_eq!(threshold(3, 50), 1);
        assert_eq!(threshold(1, 50), 0);
        assert_eq!(threshold(6_000, 10), 600);
    }
}
