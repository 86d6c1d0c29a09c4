//! Request pacing: one pace shared by every request of a run, the pauses the API's rate-limit
//! answers impose, and the retry delays of faults.
//!
//! The pace is an AIMD controller: a rate-limit answer halves the rate (once per episode:
//! answers to requests sent before the pause it caused are the same episode) and pauses every
//! request; each success raises the rate by a little. `requests_per_second` caps it from above.
//! Every duration is built with checked conversions: no rate or wait can panic.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant, SystemTime};

use rand::Rng;

/// The longest any single wait is taken to be (what tokio calls the far future: 30 years).
const FAR_FUTURE: Duration = Duration::from_secs(86_400 * 365 * 30);
/// A rate-limit answer cuts the rate to this share of the rate requests were sent at.
const CUT_FACTOR: f64 = 0.5;
/// Each success raises the rate by this many requests per second, divided by the rate (at
/// least 1): the rate grows by about this much per second of successes.
const RAISE: f64 = 0.1;
/// The slowest pace a cut leads to (a `requests_per_second` below it still wins).
const MIN_RATE: f64 = 0.1;
/// Departures remembered to measure the rate of an unpaced run at its first rate limit.
const RECENT_DEPARTURES: usize = 32;

/// The pace state of one session (its clones share it).
#[derive(Clone, Default)]
pub(crate) struct SharedPace(Arc<Mutex<PaceState>>);

impl std::fmt::Debug for SharedPace {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let state = self.lock();
        f.debug_struct("SharedPace")
            .field("rate", &state.rate)
            .field("waited", &state.waited)
            .finish()
    }
}

impl SharedPace {
    fn lock(&self) -> MutexGuard<'_, PaceState> {
        // A poisoned lock only means a task panicked mid-update of plain numbers: still valid.
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[derive(Debug, Default)]
struct PaceState {
    /// Requests per second since the first cut; `None` before (then only the cap paces).
    rate: Option<f64>,
    /// The earliest instant the next request may leave.
    next_slot: Option<Instant>,
    /// No request leaves before this (a rate-limit pause).
    paused_until: Option<Instant>,
    /// When the last pause was decided.
    last_pause: Option<Instant>,
    /// Pauses since the last success: each one is longer.
    strikes: u32,
    /// Pause time so far (wall time, not per task).
    waited: Duration,
    /// The last departures.
    recent: VecDeque<Instant>,
}

/// How the pace answers a rate-limit answer.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum RateLimitDecision {
    /// A new pause: no request leaves for `wait`, then they go at `rate` requests per second.
    Pause {
        wait: Duration,
        rate: f64,
        /// What this pause adds to the run's pause time (less than `wait` when it overlaps
        /// the pause in force).
        added: Duration,
        /// Pause time of the run so far, this pause included.
        waited: Duration,
    },
    /// The answer is to a request sent before the current pause: it waits with the others.
    Join,
    /// Pausing `wait` more would pass the run's limit of cumulative waiting.
    GiveUp { wait: Duration, waited: Duration },
}

/// A session's view of its pace, with the run's settings.
#[derive(Debug)]
pub(crate) struct Pacer {
    shared: SharedPace,
    /// `requests_per_second` (positive and finite; checked by the caller).
    cap: Option<f64>,
    pause_initial: Duration,
    pause_max: Duration,
    max_wait: Duration,
}

impl Pacer {
    pub(crate) fn new(
        shared: SharedPace,
        cap: Option<f64>,
        pause_initial: Duration,
        pause_max: Duration,
        max_wait: Duration,
    ) -> Pacer {
        Pacer {
            shared,
            cap,
            pause_initial,
            pause_max,
            max_wait,
        }
    }

    /// The rate requests go at now, if any.
    fn rate(&self, state: &PaceState) -> Option<f64> {
        match (state.rate, self.cap) {
            (Some(rate), Some(cap)) => Some(rate.min(cap)),
            (rate, cap) => rate.or(cap),
        }
    }

    /// Books the next slot for a request wanting to leave at `now`; returns when it may leave.
    pub(crate) fn reserve(&self, now: Instant) -> Instant {
        let mut state = self.shared.lock();
        let mut slot = state.paused_until.map_or(now, |until| until.max(now));
        if let Some(rate) = self.rate(&state) {
            slot = state.next_slot.map_or(slot, |next| next.max(slot));
            state.next_slot = Some(later(slot, interval(rate)));
        }
        slot
    }

    /// Waits until a request may leave: its slot at the pace, and no pause in force (a pause
    /// decided while it waited sends it back in line). Returns its departure.
    pub(crate) async fn depart(&self) -> Instant {
        loop {
            let slot = self.reserve(Instant::now());
            tokio::time::sleep_until(slot.into()).await;
            let now = Instant::now();
            let mut state = self.shared.lock();
            if state.paused_until.is_none_or(|until| until <= now) {
                if state.recent.len() == RECENT_DEPARTURES {
                    state.recent.pop_front();
                }
                state.recent.push_back(now);
                return now;
            }
        }
    }

    /// A request succeeded: the next rate limit starts a new episode, and the rate grows.
    pub(crate) fn on_success(&self) {
        let mut state = self.shared.lock();
        state.strikes = 0;
        if let Some(rate) = state.rate {
            let raised = rate + RAISE / rate.max(1.0);
            state.rate = Some(self.cap.map_or(raised, |cap| raised.min(cap)));
        }
    }

    /// The API answered a request that left at `departed` with its rate limit, at `now`.
    pub(crate) fn on_rate_limit(
        &self,
        departed: Instant,
        retry_after: Option<Duration>,
        now: Instant,
    ) -> RateLimitDecision {
        let mut state = self.shared.lock();
        if state.last_pause.is_some_and(|pause| departed < pause) {
            return RateLimitDecision::Join;
        }
        let strikes = state.strikes.saturating_add(1);
        let wait = retry_after
            .unwrap_or_else(|| backoff_bound(self.pause_initial, self.pause_max, strikes))
            .min(FAR_FUTURE);
        let until = later(now, wait);
        let extension =
            until.saturating_duration_since(state.paused_until.map_or(now, |p| p.max(now)));
        if state.waited.saturating_add(extension) > self.max_wait {
            return RateLimitDecision::GiveUp {
                wait,
                waited: state.waited,
            };
        }
        if strikes == 1 {
            let current = self
                .rate(&state)
                .unwrap_or_else(|| measured_rate(&state.recent, now));
            let cut = (current * CUT_FACTOR).max(MIN_RATE);
            state.rate = Some(self.cap.map_or(cut, |cap| cut.min(cap)));
        }
        state.strikes = strikes;
        state.waited = state.waited.saturating_add(extension);
        state.paused_until = Some(state.paused_until.map_or(until, |p| p.max(until)));
        state.last_pause = Some(now);
        RateLimitDecision::Pause {
            wait,
            rate: self.rate(&state).unwrap_or(MIN_RATE),
            added: extension,
            waited: state.waited,
        }
    }
}

/// The rate of the last departures, at most one per second less than it is: a run that was
/// not paced yet is cut from what it really sent.
fn measured_rate(recent: &VecDeque<Instant>, now: Instant) -> f64 {
    let span = recent.front().map_or(Duration::ZERO, |first| {
        now.saturating_duration_since(*first)
    });
    recent.len().max(1) as f64 / span.as_secs_f64().max(1.0)
}

/// The time between two requests at `rate` (positive) requests per second, at most the far
/// future.
fn interval(rate: f64) -> Duration {
    Duration::try_from_secs_f64(1.0 / rate).map_or(FAR_FUTURE, |d| d.min(FAR_FUTURE))
}

/// `at + wait`, the wait taken as at most the far future.
fn later(at: Instant, wait: Duration) -> Instant {
    at.checked_add(wait.min(FAR_FUTURE)).unwrap_or(at)
}

/// The upper bound of the delay before retry number `attempt` (1 = the first retry):
/// `initial * 2^(attempt-1)`, at most `max`.
pub(crate) fn backoff_bound(initial: Duration, max: Duration, attempt: u32) -> Duration {
    let factor = 2u32.saturating_pow(attempt.saturating_sub(1));
    initial.saturating_mul(factor).min(max)
}

/// Full jitter: uniform in `[0, bound]`.
pub(crate) fn jitter(bound: Duration) -> Duration {
    let share = rand::rng().random_range(0.0..=1.0);
    // `Duration::mul_f64` panics when the product rounds above `Duration::MAX`.
    Duration::try_from_secs_f64(bound.as_secs_f64() * share).map_or(bound, |d| d.min(bound))
}

/// A `Retry-After` value (delay seconds or an HTTP-date) as a delay from `now`.
pub(crate) fn parse_retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let value = value.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let at = jiff::fmt::rfc2822::DateTimeParser::new()
        .parse_timestamp(value)
        .ok()?;
    // HTTP-dates have whole seconds; one before 1970 is simply in the past.
    let at = SystemTime::UNIX_EPOCH.checked_add(Duration::from_secs(
        u64::try_from(at.as_second()).unwrap_or(0),
    ))?;
    Some(at.duration_since(now).unwrap_or(Duration::ZERO))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pacer(cap: Option<f64>) -> Pacer {
        Pacer::new(
            SharedPace::default(),
            cap,
            Duration::from_millis(500),
            Duration::from_secs(30),
            Duration::from_secs(900),
        )
    }

    #[test]
    fn the_cap_spaces_requests_and_keeps_no_burst_credit() {
        let pacer = pacer(Some(4.0));
        let t0 = Instant::now();
        let slots: Vec<Duration> = (0..5).map(|_| pacer.reserve(t0) - t0).collect();
        let expected: Vec<Duration> = (0..5).map(|i| Duration::from_millis(250 * i)).collect();
        assert_eq!(slots, expected);
        // Idle for 10 s: the next request leaves at once, the one after waits a full interval.
        let later = t0 + Duration::from_secs(10);
        assert_eq!(pacer.reserve(later), later);
        assert_eq!(pacer.reserve(later), later + Duration::from_millis(250));
    }

    #[test]
    fn the_cap_schedule_respects_the_quota_in_every_window() {
        // 1,000 requests from 8 eager tasks at 50 req/s: every 1 s window holds at most 51.
        let pacer = pacer(Some(50.0));
        let t0 = Instant::now();
        let mut slots: Vec<Instant> = (0..1000).map(|_| pacer.reserve(t0)).collect();
        slots.sort();
        for (i, start) in slots.iter().enumerate() {
            let in_window = slots[i..]
                .iter()
                .take_while(|&&s| s < *start + Duration::from_secs(1))
                .count();
            assert!(in_window <= 51, "{in_window} requests in one second");
        }
        assert_eq!(*slots.last().unwrap() - t0, Duration::from_millis(20 * 999));
    }

    #[test]
    fn tiny_rates_and_huge_waits_never_panic() {
        for cap in [1e-30, f64::MIN_POSITIVE, 1e-300] {
            let pacer = pacer(Some(cap));
            let t0 = Instant::now();
            assert_eq!(pacer.reserve(t0), t0);
            assert!(pacer.reserve(t0) >= t0 + Duration::from_secs(86_400 * 365));
        }
        let pacer = Pacer::new(
            SharedPace::default(),
            None,
            Duration::MAX,
            Duration::MAX,
            Duration::MAX,
        );
        let t0 = Instant::now();
        let decision = pacer.on_rate_limit(t0, Some(Duration::MAX), t0);
        assert!(
            matches!(decision, RateLimitDecision::Pause { .. }),
            "{decision:?}"
        );
        assert!(pacer.reserve(t0) > t0 + Duration::from_secs(86_400 * 365));
        assert!(jitter(Duration::MAX) <= Duration::MAX);
        assert_eq!(
            backoff_bound(Duration::MAX, Duration::MAX, 40),
            Duration::MAX
        );
        assert_eq!(interval(f64::MIN_POSITIVE), FAR_FUTURE);
    }

    #[test]
    fn a_rate_limit_halves_the_pace_once_per_episode_and_pauses_everyone() {
        let pacer = pacer(None);
        let t0 = Instant::now();
        // Unpaced: 8 requests leave at once; the answers to all of them come back limited.
        assert_eq!(pacer.reserve(t0), t0);
        pacer.shared.lock().recent.extend([t0; 8]);
        let first = pacer.on_rate_limit(t0, None, t0 + Duration::from_millis(10));
        let RateLimitDecision::Pause {
            wait,
            rate,
            added,
            waited,
        } = first
        else {
            panic!("{first:?}");
        };
        // 8 requests in (at least) one second, halved; the first pause is backoff_initial.
        assert_eq!(
            (wait, rate, added, waited),
            (Duration::from_millis(500), 4.0, wait, wait)
        );
        for _ in 0..7 {
            let late = pacer.on_rate_limit(t0, None, t0 + Duration::from_millis(20));
            assert_eq!(late, RateLimitDecision::Join);
        }
        // Nobody leaves during the pause; then they go 250 ms apart.
        let resume = t0 + Duration::from_millis(510);
        assert_eq!(pacer.reserve(t0 + Duration::from_millis(30)), resume);
        assert_eq!(
            pacer.reserve(t0 + Duration::from_millis(30)),
            resume + Duration::from_millis(250)
        );
        // Still refused after the pause (no success in between): a longer pause, no new cut.
        let again = pacer.on_rate_limit(resume, None, resume + Duration::from_millis(10));
        let RateLimitDecision::Pause { wait, rate, .. } = again else {
            panic!("{again:?}");
        };
        assert_eq!((wait, rate), (Duration::from_secs(1), 4.0));
        // Successes raise the pace slowly; the next refusal cuts it again and pauses briefly.
        for _ in 0..10 {
            pacer.on_success();
        }
        let raised = pacer.shared.lock().rate.unwrap();
        assert!(raised > 4.2 && raised < 4.3, "{raised}");
        let t1 = resume + Duration::from_secs(5);
        let RateLimitDecision::Pause { wait, rate, .. } = pacer.on_rate_limit(t1, None, t1) else {
            panic!("no pause");
        };
        assert_eq!(wait, Duration::from_millis(500));
        assert!((rate - raised / 2.0).abs() < 1e-9, "{rate}");
    }

    #[test]
    fn the_cap_bounds_the_pace_and_the_budget_bounds_the_waiting() {
        let pacer = Pacer::new(
            SharedPace::default(),
            Some(3.0),
            Duration::from_secs(1),
            Duration::from_secs(4),
            Duration::from_secs(10),
        );
        let t0 = Instant::now();
        for _ in 0..100 {
            pacer.on_success();
        }
        let mut now = t0;
        let mut waits = Vec::new();
        loop {
            match pacer.on_rate_limit(now, None, now) {
                RateLimitDecision::Pause {
                    wait, rate, waited, ..
                } => {
                    assert!(rate <= 3.0);
                    waits.push(wait.as_secs());
                    now += wait;
                    assert_eq!(waited, Duration::from_secs(waits.iter().sum()));
                }
                RateLimitDecision::GiveUp { wait, waited } => {
                    assert_eq!(
                        (wait, waited),
                        (Duration::from_secs(4), Duration::from_secs(7))
                    );
                    break;
                }
                RateLimitDecision::Join => panic!("a request sent after the pause"),
            }
        }
        // Growing pauses (1, 2, 4) within the 10 s budget; 4 more would pass it.
        assert_eq!(waits, [1, 2, 4]);
        assert_eq!(pacer.shared.lock().rate, Some(1.5));
        // Retry-After is honoured as given, and checked against the budget too.
        let pacer = pacer_with_budget(Duration::from_secs(60));
        let d = pacer.on_rate_limit(t0, Some(Duration::from_secs(20)), t0);
        assert!(
            matches!(d, RateLimitDecision::Pause { wait, .. } if wait == Duration::from_secs(20))
        );
        let t1 = t0 + Duration::from_secs(20);
        let d = pacer.on_rate_limit(t1, Some(Duration::from_secs(3600)), t1);
        assert!(matches!(d, RateLimitDecision::GiveUp { .. }), "{d:?}");
    }

    fn pacer_with_budget(max_wait: Duration) -> Pacer {
        Pacer::new(
            SharedPace::default(),
            None,
            Duration::from_millis(500),
            Duration::from_secs(30),
            max_wait,
        )
    }

    #[test]
    fn backoff_doubles_up_to_the_cap() {
        let (initial, max) = (Duration::from_millis(500), Duration::from_secs(30));
        let bounds: Vec<u128> = (1..=9)
            .map(|a| backoff_bound(initial, max, a).as_millis())
            .collect();
        assert_eq!(
            bounds,
            [500, 1000, 2000, 4000, 8000, 16000, 30000, 30000, 30000]
        );
        assert_eq!(backoff_bound(initial, max, u32::MAX), max);
        for _ in 0..100 {
            assert!(jitter(Duration::from_millis(10)) <= Duration::from_millis(10));
        }
    }

    #[test]
    fn retry_after_takes_seconds_and_http_dates() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(784_111_777);
        assert_eq!(parse_retry_after(" 7 ", now), Some(Duration::from_secs(7)));
        // RFC 9110's example date is 784,111,777 s after the epoch.
        assert_eq!(
            parse_retry_after("Sun, 06 Nov 1994 08:49:47 GMT", now),
            Some(Duration::from_secs(10))
        );
        assert_eq!(
            parse_retry_after("Sun, 06 Nov 1994 08:49:27 GMT", now),
            Some(Duration::ZERO)
        );
        assert_eq!(parse_retry_after("soon", now), None);
        assert_eq!(
            parse_retry_after("18446744073709551615", now),
            Some(Duration::from_secs(u64::MAX))
        );
    }
}
