//! Retrying `429 Too Many Requests` with exponential backoff and jitter.

use std::fmt;
use std::hash::{BuildHasher, Hasher};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use http::{Request, Response, StatusCode, header::RETRY_AFTER};

use crate::body::Body;
use crate::clock::{Clock, SystemClock};
use crate::error::TransportError;
use crate::transport::Transport;

/// The backoff schedule for `429` answers.
///
/// Retry `n` (from 0) waits `base_delay * 2^n` times a random factor in `[0.8, 1.2)`, as long
/// as `base_delay * 2^n <= max_delay`; with the defaults (1 s, 32 s) that is up to six
/// retries, waiting about 1, 2, 4, 8, 16 and 32 s.
///
/// Built with [`RetryConfig::builder`] (or [`RetryConfig::default`]); new settings may be
/// added, so it cannot be built with a struct literal.
///
/// ```
/// use std::time::Duration;
/// use incountry_transport::RetryConfig;
///
/// let retry = RetryConfig::builder()
///     .base_delay(Duration::from_millis(200))
///     .max_delay(Duration::from_secs(2))
///     .build();
/// let delays: Vec<Duration> = retry.delays().collect();
/// assert_eq!(delays.len(), 4); // 0.2, 0.4, 0.8 and 1.6 s
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct RetryConfig {
    /// The first delay (default 1 s).
    pub base_delay: Duration,
    /// The longest delay of the schedule (default 32 s); also caps a server's `Retry-After`.
    pub max_delay: Duration,
}

impl Default for RetryConfig {
    fn default() -> Self {
        Self {
            base_delay: Duration::from_secs(1),
            max_delay: Duration::from_secs(32),
        }
    }
}

impl RetryConfig {
    /// Starts from the defaults (1 s, 32 s).
    pub fn builder() -> RetryConfigBuilder {
        RetryConfigBuilder {
            config: Self::default(),
        }
    }

    /// The nominal delays of the schedule, before jitter: `base, 2*base, ...` up to `max`.
    ///
    /// Empty when `base_delay` is zero or longer than `max_delay`.
    pub fn delays(&self) -> impl Iterator<Item = Duration> + use<> {
        let max = self.max_delay;
        let first =
            (!self.base_delay.is_zero() && self.base_delay <= max).then_some(self.base_delay);
        std::iter::successors(first, move |delay| {
            delay.checked_mul(2).filter(|next| *next <= max)
        })
    }
}

/// Configures a [`RetryConfig`]; created by [`RetryConfig::builder`], starting from the defaults.
#[derive(Debug, Clone, Copy)]
#[must_use]
pub struct RetryConfigBuilder {
    config: RetryConfig,
}

impl RetryConfigBuilder {
    /// The first delay (default 1 s); the next ones double it.
    pub fn base_delay(mut self, delay: Duration) -> Self {
        self.config.base_delay = delay;
        self
    }

    /// The longest delay of the schedule (default 32 s); also caps a server's `Retry-After`.
    pub fn max_delay(mut self, delay: Duration) -> Self {
        self.config.max_delay = delay;
        self
    }

    /// The schedule.
    pub fn build(self) -> RetryConfig {
        self.config
    }
}

/// Waits for a while; behind a trait so tests can record waits instead of sleeping.
#[async_trait]
pub trait Sleeper: Send + Sync + fmt::Debug {
    /// Returns after `duration`.
    async fn sleep(&self, duration: Duration);
}

/// Sleeps on the tokio timer.
#[derive(Debug, Clone, Copy, Default)]
pub struct TokioSleeper;

#[async_trait]
impl Sleeper for TokioSleeper {
    async fn sleep(&self, duration: Duration) {
        tokio::time::sleep(duration).await;
    }
}

/// A source of uniformly distributed numbers in `[0, 1)`, for jitter.
pub trait RandomSource: Send + Sync + fmt::Debug {
    /// The next number in `[0, 1)`.
    fn next_unit(&self) -> f64;
}

/// A small non-cryptographic generator (xorshift64*) seeded from the standard library's
/// per-process random hash keys; good enough to spread retries.
#[derive(Debug)]
pub struct DefaultRandom {
    state: AtomicU64,
}

impl Default for DefaultRandom {
    fn default() -> Self {
        let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
        hasher.write_u64(0x9e37_79b9_7f4a_7c15);
        Self {
            state: AtomicU64::new(hasher.finish() | 1),
        }
    }
}

impl RandomSource for DefaultRandom {
    fn next_unit(&self) -> f64 {
        let step = |mut x: u64| {
            x ^= x >> 12;
            x ^= x << 25;
            x ^= x >> 27;
            x
        };
        let previous = self
            .state
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |x| Some(step(x)))
            .unwrap_or_else(|x| x);
        let value = step(previous).wrapping_mul(0x2545_f491_4f6c_dd1d);
        (value >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// A [`Transport`] that retries `429 Too Many Requests` on the [`RetryConfig`] schedule.
///
/// A `Retry-After` header (delta-seconds or an HTTP date) replaces the computed delay of that
/// retry, capped at `max_delay`, and still uses up one step of the schedule. Requests with a
/// streamed body cannot be sent twice: their `429` is returned at once. When the schedule is
/// used up, the last `429` response is returned for the caller to map to an error.
#[derive(Debug, Clone)]
pub struct RetryingTransport<T> {
    inner: T,
    config: RetryConfig,
    sleeper: Arc<dyn Sleeper>,
    random: Arc<dyn RandomSource>,
    clock: Arc<dyn Clock>,
}

impl<T: Transport> RetryingTransport<T> {
    /// Wraps `inner`, sleeping on tokio, with random jitter and the system clock.
    pub fn new(inner: T, config: RetryConfig) -> Self {
        Self {
            inner,
            config,
            sleeper: Arc::new(TokioSleeper),
            random: Arc::new(DefaultRandom::default()),
            clock: Arc::new(SystemClock),
        }
    }

    /// Replaces how the transport waits between attempts.
    pub fn with_sleeper(mut self, sleeper: Arc<dyn Sleeper>) -> Self {
        self.sleeper = sleeper;
        self
    }

    /// Replaces the source of jitter.
    pub fn with_random(mut self, random: Arc<dyn RandomSource>) -> Self {
        self.random = random;
        self
    }

    /// Replaces the clock used to read `Retry-After` dates.
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// The wrapped transport.
    pub fn inner(&self) -> &T {
        &self.inner
    }

    /// The delay before the next attempt: the server's `Retry-After` when it has a valid
    /// one, else the nominal delay times the jitter factor.
    fn delay(&self, nominal: Duration, response: &Response<Body>) -> Duration {
        if let Some(after) = self.retry_after(response) {
            return after.min(self.config.max_delay);
        }
        let unit = self.random.next_unit();
        let unit = if (0.0..1.0).contains(&unit) {
            unit
        } else {
            0.5
        };
        nominal.mul_f64(0.8 + unit * 0.4)
    }

    fn retry_after(&self, response: &Response<Body>) -> Option<Duration> {
        let value = response.headers().get(RETRY_AFTER)?.to_str().ok()?.trim();
        if !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit()) {
            return Some(Duration::from_secs(value.parse().unwrap_or(u64::MAX)));
        }
        let date = httpdate::parse_http_date(value).ok()?;
        Some(
            date.duration_since(self.clock.system_time())
                .unwrap_or(Duration::ZERO),
        )
    }
}

#[async_trait]
impl<T: Transport> Transport for RetryingTransport<T> {
    async fn send(&self, request: Request<Body>) -> Result<Response<Body>, TransportError> {
        let Some(bytes) = request.body().as_bytes().cloned() else {
            // A streamed body can be read only once: no retry.
            return self.inner.send(request).await;
        };
        let (parts, _) = request.into_parts();
        let mut delays = self.config.delays();
        loop {
            let attempt = Request::from_parts(parts.clone(), Body::full(bytes.clone()));
            let response = self.inner.send(attempt).await?;
            if response.status() != StatusCode::TOO_MANY_REQUESTS {
                return Ok(response);
            }
            let Some(nominal) = delays.next() else {
                return Ok(response);
            };
            let delay = self.delay(nominal, &response);
            tracing::debug!(?delay, url = %parts.uri, "429 Too Many Requests, retrying");
            // Read a little of the body so the connection can go back to the pool.
            let _ = response.into_body().collect_limited(64 * 1024).await;
            self.sleeper.sleep(delay).await;
        }
    }
}
