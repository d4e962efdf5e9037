//! Request rate limits per user and per peer: a token bucket for each key, charged when a
//! caller authenticates, so every front end (REST, TAXII, UI, federation) is limited in one
//! place. The clock is passed in: the buckets do no IO and tests need no sleeps.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Instant;

/// A bucket holds this many seconds' worth of requests: a burst may use them at once.
const BURST_SECONDS: f64 = 10.0;

/// Keys kept before full buckets are dropped (a full bucket is the same as no bucket).
const MAX_KEYS: usize = 100_000;

#[derive(Debug)]
pub struct RateLimiter {
    /// Requests per minute per key; 0 turns the limit off.
    per_minute: u32,
    buckets: Mutex<HashMap<String, Bucket>>,
}

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    at: Instant,
}

impl RateLimiter {
    pub fn new(per_minute: u32) -> RateLimiter {
        RateLimiter {
            per_minute,
            buckets: Mutex::default(),
        }
    }

    fn capacity(&self) -> f64 {
        (f64::from(self.per_minute) / 60.0 * BURST_SECONDS).max(1.0)
    }

    /// Take one request from `key`'s bucket at `now`. When it is empty, the whole seconds
    /// until one request is allowed again (at least 1).
    pub fn take(&self, key: &str, now: Instant) -> Result<(), u64> {
        if self.per_minute == 0 {
            return Ok(());
        }
        let rate = f64::from(self.per_minute) / 60.0;
        let cap = self.capacity();
        let mut buckets = self.buckets.lock().unwrap_or_else(|e| e.into_inner());
        if buckets.len() >= MAX_KEYS && !buckets.contains_key(key) {
            buckets.retain(|_, b| {
                b.tokens + now.saturating_duration_since(b.at).as_secs_f64() * rate < cap
            });
        }
        let b = buckets.entry(key.to_owned()).or_insert(Bucket {
            tokens: cap,
            at: now,
        });
        let refill = now.saturating_duration_since(b.at).as_secs_f64() * rate;
        b.tokens = (b.tokens + refill).min(cap);
        b.at = b.at.max(now);
        if b.tokens >= 1.0 {
            b.tokens -= 1.0;
            Ok(())
        } else {
            Err(((1.0 - b.tokens) / rate).ceil().max(1.0) as u64)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    /// Take `n` requests for `key` at `at`; how many were allowed.
    fn allowed(l: &RateLimiter, key: &str, at: Instant, n: u32) -> u32 {
        (0..n).filter(|_| l.take(key, at).is_ok()).count() as u32
    }

    #[test]
    fn a_burst_then_the_sustained_rate_and_keys_are_independent() {
        let l = RateLimiter::new(600); // 10 per second, bursts of 100
        let t0 = Instant::now();
        assert_eq!(allowed(&l, "alice@EU", t0, 150), 100);
        assert_eq!(l.take("alice@EU", t0), Err(1));
        // Another user is not affected by alice's flood.
        assert_eq!(allowed(&l, "bob@EU", t0, 5), 5);
        // Half a second later, five more requests are allowed, and no more.
        assert_eq!(
            allowed(&l, "alice@EU", t0 + Duration::from_millis(500), 10),
            5
        );
        // A long pause refills the bucket up to the burst, not beyond.
        assert_eq!(
            allowed(&l, "alice@EU", t0 + Duration::from_secs(3600), 200),
            100
        );
    }

    #[test]
    fn zero_turns_the_limit_off_and_a_slow_rate_still_allows_one() {
        let t0 = Instant::now();
        assert_eq!(allowed(&RateLimiter::new(0), "k", t0, 10_000), 10_000);
        let slow = RateLimiter::new(1); // one a minute: the bucket holds at least one
        assert_eq!(allowed(&slow, "k", t0, 3), 1);
        assert_eq!(slow.take("k", t0), Err(60));
    }

    #[test]
    fn an_earlier_instant_does_not_mint_requests() {
        let l = RateLimiter::new(60);
        let t0 = Instant::now() + Duration::from_secs(10);
        assert_eq!(allowed(&l, "k", t0, 20), 10);
        assert_eq!(allowed(&l, "k", t0 - Duration::from_secs(5), 5), 0);
    }
}
