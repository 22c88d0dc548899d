//! Per-client rate limiting: a token bucket per client id.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How many storage requests a client may make: `per_minute` on average, in bursts of up to
/// `burst`, whatever environments its tokens are for. Beyond it the server answers 429 with
/// `Retry-After`. Tokens issued in-process without a client
/// ([`Server::issue_token`](crate::Server::issue_token)) count per environment instead.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct RateLimit {
    /// Requests a minute, on average (at least 1).
    pub per_minute: u32,
    /// Requests allowed at once after a quiet spell (at least 1).
    pub burst: u32,
}

impl RateLimit {
    /// `per_minute` requests a minute, in bursts of up to `burst`.
    pub fn new(per_minute: u32, burst: u32) -> Self {
        Self {
            per_minute: per_minute.max(1),
            burst: burst.max(1),
        }
    }
}

#[derive(Debug)]
struct Bucket {
    tokens: f64,
    at: Instant,
}

impl Bucket {
    /// The tokens it holds at `now`, refilled at `per_second` up to `burst`.
    fn tokens_at(&self, now: Instant, per_second: f64, burst: f64) -> f64 {
        let elapsed = now.saturating_duration_since(self.at).as_secs_f64();
        (self.tokens + elapsed * per_second).min(burst)
    }
}

/// A wait as a `Retry-After` value: whole seconds, rounded up, at least one.
pub(crate) fn retry_after_seconds(wait: Duration) -> u64 {
    (wait.as_secs() + u64::from(wait.subsec_nanos() > 0)).max(1)
}

#[derive(Debug)]
pub(crate) struct Limiter {
    limit: RateLimit,
    buckets: Mutex<HashMap<String, Bucket>>,
}

impl Limiter {
    pub(crate) fn new(limit: RateLimit) -> Self {
        Self {
            limit: RateLimit::new(limit.per_minute, limit.burst),
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// Takes one request from the bucket of `client` (or of `env` for tokens without a
    /// client), or says how long until one is available.
    pub(crate) fn take(&self, client: &str, env: &str, now: Instant) -> Result<(), Duration> {
        let key = if client.is_empty() {
            format!("env\0{env}")
        } else {
            format!("client\0{client}")
        };
        let per_second = f64::from(self.limit.per_minute) / 60.0;
        let burst = f64::from(self.limit.burst);
        let mut buckets = self
            .buckets
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let bucket = buckets.entry(key).or_insert(Bucket {
            tokens: burst,
            at: now,
        });
        bucket.tokens = bucket.tokens_at(now, per_second, burst);
        bucket.at = now;
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            Ok(())
        } else {
            Err(Duration::from_secs_f64((1.0 - bucket.tokens) / per_second))
        }
    }
}

/// Most keys a [`FailureLimiter`] remembers; beyond it, keys whose buckets have refilled are
/// forgotten first, then the oldest.
const MAX_FAILURE_KEYS: usize = 16_384;

/// Counts failed token requests per client id and per source address, so that guessing
/// secrets is slowed to [`ServerConfig::token_failure_limit`](crate::ServerConfig).
#[derive(Debug)]
pub(crate) struct FailureLimiter {
    limit: RateLimit,
    buckets: Mutex<HashMap<String, Bucket>>,
}

impl FailureLimiter {
    pub(crate) fn new(limit: RateLimit) -> Self {
        Self {
            limit: RateLimit::new(limit.per_minute, limit.burst),
            buckets: Mutex::new(HashMap::new()),
        }
    }

    fn per_second(&self) -> f64 {
        f64::from(self.limit.per_minute) / 60.0
    }

    /// How long `keys` must wait before another attempt, if any of them used up its
    /// failures.
    pub(crate) fn blocked(&self, keys: &[String], now: Instant) -> Option<Duration> {
        let buckets = self
            .buckets
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let burst = f64::from(self.limit.burst);
        keys.iter()
            .filter_map(|key| buckets.get(key))
            .filter_map(|bucket| {
                let tokens = bucket.tokens_at(now, self.per_second(), burst);
                (tokens < 1.0).then(|| Duration::from_secs_f64((1.0 - tokens) / self.per_second()))
            })
            .max()
    }

    /// Counts one failure against each of `keys`.
    pub(crate) fn failed(&self, keys: &[String], now: Instant) {
        let mut buckets = self
            .buckets
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let burst = f64::from(self.limit.burst);
        let per_second = self.per_second();
        if buckets.len() + keys.len() > MAX_FAILURE_KEYS {
            // Forget the keys that are whole again; if that is not enough, the oldest.
            buckets.retain(|_, bucket| bucket.tokens_at(now, per_second, burst) < burst);
            while buckets.len() + keys.len() > MAX_FAILURE_KEYS {
                let Some(oldest) = buckets
                    .iter()
                    .min_by_key(|(_, bucket)| bucket.at)
                    .map(|(key, _)| key.clone())
                else {
                    break;
                };
                buckets.remove(&oldest);
            }
        }
        for key in keys {
            let bucket = buckets.entry(key.clone()).or_insert(Bucket {
                tokens: burst,
                at: now,
            });
            bucket.tokens = (bucket.tokens_at(now, per_second, burst) - 1.0).max(0.0);
            bucket.at = now;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bucket_allows_a_burst_then_refills_over_time() {
        let limiter = Limiter::new(RateLimit::new(60, 2));
        let start = Instant::now();
        assert_eq!(limiter.take("", "e", start), Ok(()));
        assert_eq!(limiter.take("", "e", start), Ok(()));
        let wait = limiter.take("", "e", start).unwrap_err();
        assert!(
            wait > Duration::from_millis(900) && wait <= Duration::from_secs(1),
            "{wait:?}"
        );
        assert_eq!(
            limiter.take("", "other", start),
            Ok(()),
            "environments have their own buckets"
        );
        assert_eq!(
            limiter.take("", "e", start + Duration::from_secs(1)),
            Ok(())
        );
        assert!(
            limiter
                .take("", "e", start + Duration::from_secs(1))
                .is_err()
        );
    }

    #[test]
    fn a_client_has_one_bucket_across_environments() {
        let limiter = Limiter::new(RateLimit::new(60, 1));
        let start = Instant::now();
        assert_eq!(limiter.take("c", "e1", start), Ok(()));
        assert!(limiter.take("c", "e2", start).is_err());
        assert_eq!(limiter.take("d", "e1", start), Ok(()), "another client");
        assert_eq!(
            limiter.take("", "e1", start),
            Ok(()),
            "no client: per environment"
        );
    }
}

#[cfg(test)]
mod failure_tests {
    use super::*;

    #[test]
    fn failures_block_after_the_burst_and_unblock_over_time() {
        let limiter = FailureLimiter::new(RateLimit::new(60, 3));
        let start = Instant::now();
        let keys = ["client\0a".to_owned(), format!("source\0{}", "1.2.3.4")];
        for _ in 0..3 {
            assert_eq!(limiter.blocked(&keys, start), None);
            limiter.failed(&keys, start);
        }
        let wait = limiter.blocked(&keys, start).unwrap_or_default();
        assert!(
            wait > Duration::from_millis(900) && wait <= Duration::from_secs(1),
            "{wait:?}"
        );
        assert_eq!(
            limiter.blocked(&["client\0b".to_owned()], start),
            None,
            "another client from another address is not blocked"
        );
        assert!(
            limiter.blocked(&keys[1..], start).is_some(),
            "the address is blocked alone"
        );
        assert_eq!(limiter.blocked(&keys, start + Duration::from_secs(1)), None);
    }

    #[test]
    fn the_failure_table_stays_bounded() {
        let limiter = FailureLimiter::new(RateLimit::new(1, 1));
        let start = Instant::now();
        for n in 0..(MAX_FAILURE_KEYS + 100) {
            limiter.failed(&[format!("source\0{n}")], start);
        }
        let size = limiter
            .buckets
            .lock()
            .map(|b| b.len())
            .unwrap_or(usize::MAX);
        assert!(size <= MAX_FAILURE_KEYS, "{size}");
    }
}
