//! Time source of the scheduler.
//!
//! Every place the scheduler reads the time or waits for it goes through [`Clock`]: the timer
//! loop, jitter, timeouts, retry backoff and the shutdown grace period. Production code uses
//! [`SystemClock`]; tests use [`ManualClock`] and move time forward by hand, so nothing in a
//! test sleeps for real.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use jiff::Timestamp;
use tokio::sync::watch;

/// A boxed future that resolves once a deadline has passed.
pub type Sleep = Pin<Box<dyn Future<Output = ()> + Send + 'static>>;

/// The scheduler's source of time.
///
/// Implementations must be cheap to call: [`Clock::now`] runs on every timer tick and for
/// every run record.
pub trait Clock: Send + Sync + 'static {
    /// The current instant.
    fn now(&self) -> Timestamp;

    /// A future that completes once [`Clock::now`] has reached `deadline`.
    ///
    /// It may complete a little late, never early by the clock's own reading, except that the
    /// timer loop tolerates early wake-ups (it re-reads the time and sleeps again).
    fn sleep_until(&self, deadline: Timestamp) -> Sleep;
}

/// The wall clock, waiting with tokio's timer.
///
/// ```
/// use taskdeck::{Clock, SystemClock};
/// let now = SystemClock.now();
/// assert!(now.as_second() > 1_700_000_000);
/// ```
#[derive(Clone, Copy, Debug, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Timestamp {
        Timestamp::now()
    }

    fn sleep_until(&self, deadline: Timestamp) -> Sleep {
        Box::pin(precise_sleep(deadline))
    }
}

/// Sleeps on tokio's timer until the deadline. The timer has millisecond granularity and
/// rounds up, so a wake-up comes up to about a millisecond late, but it costs nothing while
/// waiting: no yielding in a loop before each deadline (which kept a core busy at a thousand
/// fires a second; see `benches/timer_cpu.rs`).
async fn precise_sleep(deadline: Timestamp) {
    loop {
        let left = duration_between(Timestamp::now(), deadline);
        if left.is_zero() {
            return;
        }
        tokio::time::sleep(left).await;
    }
}

/// A clock that only moves when told to, for deterministic tests.
///
/// Cloning gives another handle to the same clock.
///
/// ```
/// use std::time::Duration;
/// use taskdeck::{Clock, ManualClock};
///
/// let clock = ManualClock::new("2026-01-01T00:00:00Z".parse().unwrap());
/// clock.advance(Duration::from_secs(90));
/// assert_eq!(clock.now().to_string(), "2026-01-01T00:01:30Z");
/// ```
#[derive(Clone)]
pub struct ManualClock {
    now: Arc<watch::Sender<Timestamp>>,
}

impl ManualClock {
    /// A clock standing still at `start`.
    pub fn new(start: Timestamp) -> Self {
        ManualClock {
            now: Arc::new(watch::Sender::new(start)),
        }
    }

    /// Moves the clock forward by `by`, waking every sleeper whose deadline has passed.
    pub fn advance(&self, by: Duration) {
        self.now.send_modify(|t| {
            *t = t.saturating_add(by).unwrap_or(Timestamp::MAX);
        });
    }

    /// Sets the clock to `to`. Moving backwards is allowed (it models a wall-clock step).
    pub fn set(&self, to: Timestamp) {
        self.now.send_replace(to);
    }
}

impl fmt::Debug for ManualClock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ManualClock")
            .field("now", &*self.now.borrow())
            .finish()
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Timestamp {
        *self.now.borrow()
    }

    fn sleep_until(&self, deadline: Timestamp) -> Sleep {
        let mut rx = self.now.subscribe();
        Box::pin(async move {
            // The sender lives as long as any handle to the clock; if every handle is gone the
            // sleep simply ends.
            let _ = rx.wait_for(|now| *now >= deadline).await;
        })
    }
}

/// `to - from` as a std duration, zero when `to` is not after `from`.
pub(crate) fn duration_between(from: Timestamp, to: Timestamp) -> Duration {
    let d = to.duration_since(from);
    Duration::try_from(d).unwrap_or(Duration::ZERO)
}

/// `at + by`, saturating at the end of representable time.
pub(crate) fn add(at: Timestamp, by: Duration) -> Timestamp {
    at.saturating_add(by).unwrap_or(Timestamp::MAX)
}

/// `at - by`, saturating at the start of representable time.
pub(crate) fn sub(at: Timestamp, by: Duration) -> Timestamp {
    at.saturating_sub(by).unwrap_or(Timestamp::MIN)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn manual_sleep_wakes_only_when_advanced_past_deadline() {
        let clock = ManualClock::new(Timestamp::UNIX_EPOCH);
        let deadline = add(Timestamp::UNIX_EPOCH, Duration::from_secs(10));
        let mut sleep = clock.sleep_until(deadline);
        clock.advance(Duration::from_secs(9));
        assert!(futures_poll(&mut sleep).is_pending());
        clock.advance(Duration::from_secs(1));
        sleep.await;
        assert_eq!(clock.now(), deadline);
    }

    fn futures_poll(s: &mut Sleep) -> std::task::Poll<()> {
        let waker = std::task::Waker::noop();
        let mut cx = std::task::Context::from_waker(waker);
        s.as_mut().poll(&mut cx)
    }

    #[test]
    fn duration_between_never_negative() {
        let a = Timestamp::UNIX_EPOCH;
        let b = add(a, Duration::from_millis(1500));
        assert_eq!(duration_between(a, b), Duration::from_millis(1500));
        assert_eq!(duration_between(b, a), Duration::ZERO);
    }
}
