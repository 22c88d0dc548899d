//! Time as the SDK reads it, behind a trait so that tests can move it by hand.

use std::fmt;
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime};

/// A source of the current time: monotonic for caches and expiry, wall-clock for HTTP dates.
pub trait Clock: Send + Sync + fmt::Debug {
    /// The current monotonic instant.
    fn now(&self) -> Instant;
    /// The current wall-clock time.
    fn system_time(&self) -> SystemTime;
}

/// The real clock of the machine.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Instant {
        Instant::now()
    }

    fn system_time(&self) -> SystemTime {
        SystemTime::now()
    }
}

/// A clock that stands still until [`advance`](Self::advance) moves it; for tests.
#[derive(Debug)]
pub struct ManualClock {
    start: Instant,
    start_system: SystemTime,
    offset: Mutex<Duration>,
}

impl ManualClock {
    /// A clock reading the real time of its creation.
    pub fn new() -> Self {
        Self::at(SystemTime::now())
    }

    /// A clock whose wall-clock time starts at `system_time`.
    pub fn at(system_time: SystemTime) -> Self {
        Self {
            start: Instant::now(),
            start_system: system_time,
            offset: Mutex::new(Duration::ZERO),
        }
    }

    /// Moves the clock forward.
    pub fn advance(&self, by: Duration) {
        let mut offset = self
            .offset
            .lock()
            .unwrap_or_else(|poison| poison.into_inner());
        *offset += by;
    }

    fn offset(&self) -> Duration {
        *self
            .offset
            .lock()
            .unwrap_or_else(|poison| poison.into_inner())
    }
}

impl Default for ManualClock {
    fn default() -> Self {
        Self::new()
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Instant {
        self.start + self.offset()
    }

    fn system_time(&self) -> SystemTime {
        self.start_system + self.offset()
    }
}
