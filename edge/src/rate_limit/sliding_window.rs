//! The exact sliding-window log, as a pure decision over what the log holds when a request
//! arrives. Only admitted requests enter the log, and a request is admitted only while fewer
//! than `limit` entries are younger than the window, so no window of that length ever holds
//! more than `limit` admissions. Refusals are counted separately to detect a client that keeps
//! hammering; once a cooldown starts, requests are refused without reading or writing either
//! log until it ends.

use super::{
    fields::Scope,
    policy::{Cooldown, Quota},
    protocol::Verdict,
};

/// The log for one route class at the moment of a request, entries older than the window
/// already dropped.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LogState {
    pub admitted: u32,
    pub oldest_admitted_ms: Option<u64>,
    pub refusals: u32,
    pub cooldown_until_ms: Option<u64>,
}

/// What to do with the request, and what to write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Admit it and log it.
    Admit { remaining: u32, reset_ms: u64 },
    /// Refuse it and count the refusal.
    Refuse { reset_ms: u64 },
    /// Refuse it and start a cooldown (the refusal count starts over after it).
    StartCooldown { until_ms: u64 },
    /// Refuse it without touching the log: a cooldown is in force.
    CoolingDown { until_ms: u64 },
}

pub fn window_ms(quota: Quota) -> u64 {
    u64::from(quota.window_seconds) * 1_000
}

pub fn decide(log: &LogState, quota: Quota, cooldown: Cooldown, now_ms: u64) -> Decision {
    if let Some(until_ms) = log.cooldown_until_ms.filter(|until| *until > now_ms) {
        return Decision::CoolingDown { until_ms };
    }
    let window = window_ms(quota);
    // When the oldest admission leaves the window, a slot frees up.
    let reset_ms = log
        .oldest_admitted_ms
        .map_or(window, |oldest| (oldest + window).saturating_sub(now_ms));
    if log.admitted < quota.limit {
        return Decision::Admit {
            remaining: quota.limit - log.admitted - 1,
            reset_ms,
        };
    }
    if cooldown.after_refusals > 0 && log.refusals + 1 >= cooldown.after_refusals {
        Decision::StartCooldown {
            until_ms: now_ms + u64::from(cooldown.seconds) * 1_000,
        }
    } else {
        Decision::Refuse { reset_ms }
    }
}

impl Decision {
    pub fn verdict(self, scope: Scope, now_ms: u64) -> Verdict {
        match self {
            Self::Admit {
                remaining,
                reset_ms,
            } => Verdict {
                admitted: true,
                scope,
                remaining,
                reset_ms,
                cooling_down: false,
            },
            Self::Refuse { reset_ms } => Verdict {
                admitted: false,
                scope,
                remaining: 0,
                reset_ms,
                cooling_down: false,
            },
            Self::StartCooldown { until_ms } | Self::CoolingDown { until_ms } => Verdict {
                admitted: false,
                scope,
                remaining: 0,
                reset_ms: until_ms.saturating_sub(now_ms),
                cooling_down: true,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const QUOTA: Quota = Quota {
        limit: 3,
        window_seconds: 10,
    };
    const COOLDOWN: Cooldown = Cooldown {
        after_refusals: 2,
        seconds: 30,
    };

    /// Runs `decide` over a log kept in memory, applying each decision as the object does.
    struct Log {
        admitted: Vec<u64>,
        refusals: Vec<u64>,
        cooldown_until_ms: Option<u64>,
    }

    impl Log {
        fn new() -> Self {
            Self {
                admitted: Vec::new(),
                refusals: Vec::new(),
                cooldown_until_ms: None,
            }
        }

        fn request(&mut self, now: u64) -> Decision {
            let window = window_ms(QUOTA);
            let cooling = self.cooldown_until_ms.is_some_and(|until| until > now);
            if !cooling {
                self.admitted.retain(|at| *at > now - window);
                self.refusals.retain(|at| *at > now - window);
            }
            let state = LogState {
                admitted: self.admitted.len() as u32,
                oldest_admitted_ms: self.admitted.first().copied(),
                refusals: self.refusals.len() as u32,
                cooldown_until_ms: self.cooldown_until_ms,
            };
            let decision = decide(&state, QUOTA, COOLDOWN, now);
            match decision {
                Decision::Admit { .. } => self.admitted.push(now),
                Decision::Refuse { .. } => self.refusals.push(now),
                Decision::StartCooldown { until_ms } => {
                    self.refusals.clear();
                    self.cooldown_until_ms = Some(until_ms);
                }
                Decision::CoolingDown { .. } => {}
            }
            decision
        }
    }

    /// A realistic clock reading: the log never sees times near zero.
    const T0: u64 = 1_700_000_000_000;

    #[test]
    fn admits_exactly_the_limit_then_says_when_a_slot_frees() {
        let mut log = Log::new();
        assert_eq!(
            log.request(T0 + 1_000),
            Decision::Admit {
                remaining: 2,
                reset_ms: 10_000
            }
        );
        assert!(matches!(
            log.request(T0 + 2_000),
            Decision::Admit { remaining: 1, .. }
        ));
        assert!(matches!(
            log.request(T0 + 3_000),
            Decision::Admit { remaining: 0, .. }
        ));
        assert_eq!(
            log.request(T0 + 4_000),
            Decision::Refuse { reset_ms: 7_000 }
        );
        // The first admission leaves the window at T0 + 11 000 ms, not a moment before.
        assert_eq!(
            log.request(T0 + 10_999),
            Decision::StartCooldown {
                until_ms: T0 + 40_999
            }
        );
    }

    #[test]
    fn no_window_ever_holds_more_than_the_limit() {
        let mut log = Log::new();
        let mut admitted = Vec::new();
        for step in 0..100 {
            let now = T0 + step * 700;
            if let Decision::Admit { .. } = log.request(now) {
                admitted.push(now);
            }
            log.cooldown_until_ms = None;
        }
        for (i, start) in admitted.iter().enumerate() {
            let in_window = admitted[i..]
                .iter()
                .take_while(|at| **at < start + window_ms(QUOTA))
                .count();
            assert!(in_window <= 3, "window from {start} holds {in_window}");
        }
        assert!(
            admitted.len() >= 15,
            "the quota is used: {}",
            admitted.len()
        );
    }

    #[test]
    fn a_cooldown_refuses_without_looking_and_then_ends() {
        let mut log = Log::new();
        for at in [0, 1, 2] {
            log.request(T0 + at);
        }
        log.request(T0 + 3);
        let until_ms = T0 + 30_004;
        assert_eq!(log.request(T0 + 4), Decision::StartCooldown { until_ms });
        for at in [5, 15_000, 30_003] {
            assert_eq!(log.request(T0 + at), Decision::CoolingDown { until_ms });
        }
        assert_eq!(log.admitted.len(), 3, "the log was not touched");
        assert!(matches!(
            log.request(until_ms),
            Decision::Admit { remaining: 2, .. }
        ));
    }

    #[test]
    fn verdicts_count_down_to_the_end_of_a_cooldown() {
        let verdict = Decision::CoolingDown { until_ms: 5_500 }.verdict(Scope::Client, 1_000);
        assert_eq!(
            verdict,
            Verdict {
                admitted: false,
                scope: Scope::Client,
                remaining: 0,
                reset_ms: 4_500,
                cooling_down: true
            }
        );
    }
}
