//! Request pacing: the client-side rate limit and the retry delays.

use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime};

use rand::Rng;

/// A rate limit shared by every task: requests leave at least `1 / rate` apart. No burst
/// credit builds up while idle, so any window of `t` seconds holds at most `t * rate + 1`
/// requests: a run stays under its quota whatever the concurrency.
#[derive(Debug)]
pub(crate) struct RateLimiter {
    interval: Duration,
    /// The earliest instant the next request may leave.
    next_slot: Mutex<Option<Instant>>,
}

impl RateLimiter {
    /// A limiter for `requests_per_second` (finite and positive; checked by the caller).
    pub(crate) fn new(requests_per_second: f64) -> RateLimiter {
        RateLimiter {
            interval: Duration::from_secs_f64(1.0 / requests_per_second),
            next_slot: Mutex::new(None),
        }
    }

    /// Books the next slot for a request wanting to leave at `now`; returns when it may leave.
    pub(crate) fn reserve(&self, now: Instant) -> Instant {
        // A poisoned lock only means another task panicked mid-update of an Instant: still valid.
        let mut next_slot = self
            .next_slot
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let slot = next_slot.map_or(now, |next| next.max(now));
        *next_slot = Some(slot + self.interval);
        slot
    }

    /// Waits for a slot.
    pub(crate) async fn acquire(&self) {
        let slot = self.reserve(Instant::now());
        tokio::time::sleep_until(slot.into()).await;
    }
}

/// The upper bound of the delay before retry number `attempt` (1 = the first retry):
/// `initial * 2^(attempt-1)`, at most `max`.
pub(crate) fn backoff_bound(initial: Duration, max: Duration, attempt: u32) -> Duration {
    let factor = 2u32.saturating_pow(attempt.saturating_sub(1));
    initial.saturating_mul(factor).min(max)
}

/// Full jitter: uniform in `[0, bound]`.
pub(crate) fn jitter(bound: Duration) -> Duration {
    bound.mul_f64(rand::rng().random_range(0.0..=1.0))
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
    let at =
        SystemTime::UNIX_EPOCH + Duration::from_secs(u64::try_from(at.as_second()).unwrap_or(0));
    Some(at.duration_since(now).unwrap_or(Duration::ZERO))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limiter_spaces_requests_and_keeps_no_burst_credit() {
        let limiter = RateLimiter::new(4.0);
        let t0 = Instant::now();
        let slots: Vec<Duration> = (0..5).map(|_| limiter.reserve(t0) - t0).collect();
        let expected: Vec<Duration> = (0..5).map(|i| Duration::from_millis(250 * i)).collect();
        assert_eq!(slots, expected);
        // Idle for 10 s: the next request leaves at once, the one after waits a full interval.
        let later = t0 + Duration::from_secs(10);
        assert_eq!(limiter.reserve(later), later);
        assert_eq!(limiter.reserve(later), later + Duration::from_millis(250));
    }

    #[test]
    fn limiter_schedule_respects_the_quota_in_every_window() {
        // 1,000 requests from 8 eager tasks at 50 req/s: every 1 s window holds at most 51.
        let limiter = RateLimiter::new(50.0);
        let t0 = Instant::now();
        let mut slots: Vec<Instant> = (0..1000).map(|_| limiter.reserve(t0)).collect();
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
    }
}
