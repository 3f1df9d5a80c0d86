//! The circuit breaker in front of the origin: after `after_failures` origin calls in a row
//! fail (no connection, no answer before the deadline, a 502 or 504), the edge stops calling
//! for a pause, refusing at once what the origin would have to answer and serving inventory
//! from its last good copy. When the pause is over one call goes through as a probe; an answer
//! closes the breaker, a failure opens it again for twice as long, up to `longest_pause_ms`.
//!
//! The state lives in the isolate's memory, one breaker per isolate, not in a Durable Object:
//! asking an object on every request would add the round trip (and the dependency) the breaker
//! exists to avoid, and the point is that a dead origin costs each isolate a handful of
//! failures and then nothing. Isolates learn on their own, each within `after_failures` calls.
//! Only plain data is kept, never a request or a promise: workerd ties I/O objects to the
//! request that made them.
//!
//! A 503 does not count as a failure: it is the origin speaking (paused sales, its own
//! database backpressure), with a `Retry-After` of its own. Neither does any 4xx or a 500.

use serde::Deserialize;

/// When the breaker opens and for how long (`ORIGIN_BREAKER`, any part may be left out).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct BreakerPolicy {
    pub after_failures: u32,
    pub first_pause_ms: u64,
    pub longest_pause_ms: u64,
}

impl Default for BreakerPolicy {
    fn default() -> Self {
        Self {
            after_failures: 5,
            first_pause_ms: 1_000,
            longest_pause_ms: 30_000,
        }
    }
}

/// How one origin call went, as far as the breaker cares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Health {
    Answered,
    Failed,
}

impl Health {
    /// A gateway error means the origin (or what stands in front of it) did not answer.
    pub fn of_status(status: u16) -> Self {
        if matches!(status, 502 | 504) {
            Self::Failed
        } else {
            Self::Answered
        }
    }
}

/// May a call go to the origin now?
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Permission {
    Go,
    /// Go, as the one call that tests whether the origin is back.
    Probe,
    /// Do not call; the origin is resting for about this long.
    Refused {
        retry_after_ms: u64,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Closed {
        failures_in_a_row: u32,
    },
    Open {
        until_ms: u64,
        pause_ms: u64,
    },
    /// A probe is out; others are refused until it reports or its lease ends (its request may
    /// have been cancelled before it could report).
    Probing {
        lease_until_ms: u64,
        pause_ms: u64,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Breaker {
    state: State,
}

impl Default for Breaker {
    fn default() -> Self {
        Self {
            state: State::Closed {
                failures_in_a_row: 0,
            },
        }
    }
}

impl Breaker {
    /// Whether a call may go now; a call let through as a probe holds the probe for
    /// `lease_ms` (its deadline), after which another may probe.
    pub fn admit(&mut self, now_ms: u64, lease_ms: u64) -> Permission {
        match self.state {
            State::Closed { .. } => Permission::Go,
            State::Open { until_ms, .. }
            | State::Probing {
                lease_until_ms: until_ms,
                ..
            } if now_ms < until_ms => Permission::Refused {
                retry_after_ms: until_ms - now_ms,
            },
            State::Open { pause_ms, .. } | State::Probing { pause_ms, .. } => {
                self.state = State::Probing {
                    lease_until_ms: now_ms + lease_ms,
                    pause_ms,
                };
                Permission::Probe
            }
        }
    }

    /// How long the origin is still resting, without changing anything: `None` when a call
    /// would be let through.
    pub fn resting_for(&self, now_ms: u64) -> Option<u64> {
        match self.state {
            State::Closed { .. } => None,
            State::Open { until_ms, .. }
            | State::Probing {
                lease_until_ms: until_ms,
                ..
            } => (now_ms < until_ms).then(|| until_ms - now_ms),
        }
    }

    pub fn record(&mut self, health: Health, policy: &BreakerPolicy, now_ms: u64) {
        let pause_from = |pause_ms: u64| State::Open {
            until_ms: now_ms + pause_ms,
            pause_ms,
        };
        self.state = match (health, self.state) {
            (Health::Answered, _) => State::Closed {
                failures_in_a_row: 0,
            },
            (Health::Failed, State::Closed { failures_in_a_row }) => {
                let failures_in_a_row = failures_in_a_row + 1;
                if failures_in_a_row >= policy.after_failures.max(1) {
                    pause_from(policy.first_pause_ms)
                } else {
                    State::Closed { failures_in_a_row }
                }
            }
            (Health::Failed, State::Probing { pause_ms, .. }) => {
                pause_from((pause_ms * 2).min(policy.longest_pause_ms.max(pause_ms)))
            }
            // A late failure of a call let through before the breaker opened changes nothing.
            (Health::Failed, open @ State::Open { .. }) => open,
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const POLICY: BreakerPolicy = BreakerPolicy {
        after_failures: 3,
        first_pause_ms: 1_000,
        longest_pause_ms: 3_000,
    };
    const LEASE: u64 = 500;

    fn fail(breaker: &mut Breaker, now: u64) {
        breaker.record(Health::Failed, &POLICY, now);
    }

    #[test]
    fn it_opens_after_failures_in_a_row_only() {
        let mut breaker = Breaker::default();
        fail(&mut breaker, 0);
        fail(&mut breaker, 0);
        breaker.record(Health::Answered, &POLICY, 0);
        fail(&mut breaker, 0);
        fail(&mut breaker, 0);
        assert_eq!(breaker.admit(10, LEASE), Permission::Go);
        fail(&mut breaker, 10);
        assert_eq!(
            breaker.admit(10, LEASE),
            Permission::Refused {
                retry_after_ms: 1_000
            }
        );
        assert_eq!(breaker.resting_for(400), Some(610));
    }

    #[test]
    fn after_the_pause_one_probe_goes_and_an_answer_closes_it() {
        let mut breaker = Breaker::default();
        (0..3).for_each(|_| fail(&mut breaker, 0));
        assert_eq!(breaker.admit(1_000, LEASE), Permission::Probe);
        assert!(matches!(
            breaker.admit(1_001, LEASE),
            Permission::Refused { .. }
        ));
        breaker.record(Health::Answered, &POLICY, 1_050);
        assert_eq!(breaker.admit(1_051, LEASE), Permission::Go);
        assert_eq!(breaker.resting_for(1_051), None);
    }

    #[test]
    fn failed_probes_double_the_pause_up_to_the_longest() {
        let mut breaker = Breaker::default();
        (0..3).for_each(|_| fail(&mut breaker, 0));
        let mut now = 0;
        for expected_pause in [2_000, 3_000, 3_000] {
            now += 5_000;
            assert_eq!(breaker.admit(now, LEASE), Permission::Probe);
            fail(&mut breaker, now);
            assert_eq!(breaker.resting_for(now), Some(expected_pause));
        }
    }

    #[test]
    fn a_probe_that_never_reports_is_replaced_after_its_lease() {
        let mut breaker = Breaker::default();
        (0..3).for_each(|_| fail(&mut breaker, 0));
        assert_eq!(breaker.admit(1_000, LEASE), Permission::Probe);
        assert!(matches!(
            breaker.admit(1_499, LEASE),
            Permission::Refused { .. }
        ));
        assert_eq!(breaker.admit(1_500, LEASE), Permission::Probe);
    }

    #[test]
    fn only_gateway_errors_count_as_failures() {
        for status in [200, 201, 404, 409, 429, 500, 503] {
            assert_eq!(Health::of_status(status), Health::Answered, "{status}");
        }
        for status in [502, 504] {
            assert_eq!(Health::of_status(status), Health::Failed, "{status}");
        }
    }
}
