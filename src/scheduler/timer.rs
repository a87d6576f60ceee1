//! The timer loop: sleep until the earliest next fire, claim what is due, hand it out.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use jiff::Timestamp;

use super::clock::add;
use super::run::dispatch;
use super::Inner;

/// Most tasks claimed per store call. Small batches let the first runs start on another
/// worker while the timer loop claims the rest.
const CLAIM_BATCH: usize = 64;
/// The same for a shared store, where each claim costs a transaction that walks the due index
/// past what other replicas hold: a burst of 20,000 due fires on 3 PostgreSQL replicas drained
/// at 5,221 fires/s with 64 a claim and 10,323 with 256 (on the memory store 256 made a burst
/// of 1,000 start later: median 4.2 to 5.8 ms).
const SHARED_CLAIM_BATCH: usize = 256;
/// Default [`crate::SchedulerBuilder::timer_slack`]. At 1,000 fires a second on the memory
/// store (`benches/timer_cpu.rs`, 2-core VM), one run of each: no slack cost 30.2 µs of CPU
/// per fire with p99 lateness 2.0 ms; 2 ms, 20.5 µs and 3.1 ms; 3 ms, 18.6 µs and 4.1 ms;
/// 4 ms, 14.7 µs and 5.1 ms (over a 5 ms bound). Over nine runs, 3 ms against none: median
/// 19.8 against 24.1 µs.
pub(crate) const DEFAULT_SLACK: Duration = Duration::from_millis(3);
/// The largest slack the builder accepts: past a few milliseconds it saves no CPU worth the
/// lateness.
pub(crate) const MAX_SLACK: Duration = Duration::from_millis(100);
/// First wait before asking a failing store again; it doubles up to 30 s.
const STORE_RETRY: Duration = Duration::from_secs(1);

pub(crate) async fn run(inner: Arc<Inner>) {
    let mut stop = inner.lifecycle.subscribe();
    let sharing = inner.store.sharing();
    let batch = if sharing.is_some() {
        SHARED_CLAIM_BATCH
    } else {
        CLAIM_BATCH
    };
    if sharing.is_some() {
        super::instance::join(&inner).await;
    }
    let mut retry = STORE_RETRY;
    loop {
        if inner.is_stopping() {
            break;
        }
        let now = inner.clock.now();
        inner.activity.send_modify(|a| {
            a.asleep_until = None;
            a.step_since = Some(now);
        });
        // Whether the store failed this step (readiness reads it; no one waits on it, so
        // setting it wakes no one).
        let failing = |failed: bool| {
            inner.activity.send_if_modified(|a| {
                a.failing_since = failed.then(|| a.failing_since.unwrap_or(now));
                false
            });
        };
        let wait_until = if inner.paused.load(Ordering::SeqCst) {
            // Paused, it asks the store nothing: an earlier failure is no longer news.
            failing(false);
            None
        } else {
            match tick(&inner, now, batch).await {
                Tick::More => {
                    retry = STORE_RETRY;
                    failing(false);
                    // Let this worker run some of the runs just spawned before claiming more.
                    tokio::task::yield_now().await;
                    continue;
                }
                Tick::Next(t) => {
                    retry = STORE_RETRY;
                    failing(false);
                    // Fires due within the slack of this wake-up wait to share the next one.
                    t.map(|t| t.max(add(now, inner.timer_slack)))
                }
                Tick::Failed => {
                    failing(true);
                    let at = add(now, retry);
                    retry = super::instance::backoff(retry);
                    Some(at)
                }
            }
        };
        // A shared store's notices can be lost (a reconnect): look again now and then.
        let wait_until = match sharing {
            Some(s) => {
                let cap = add(now, s.poll);
                Some(wait_until.map_or(cap, |t| t.min(cap)))
            }
            None => wait_until,
        };
        inner.activity.send_modify(|a| {
            a.asleep_until = Some(wait_until);
            a.step_since = None;
        });
        let sleep = async {
            match wait_until {
                Some(t) => inner.clock.sleep_until(t).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            () = sleep => {}
            () = inner.wake.notified() => {}
            _ = stop.wait_for(|_| inner.is_stopping()) => {}
        }
    }
    tracing::debug!("timer loop ended");
}

enum Tick {
    /// A full batch was claimed: claim again right away.
    More,
    /// Sleep until this (or until woken).
    Next(Option<Timestamp>),
    /// The store failed (logged): try again after a backoff.
    Failed,
}

async fn tick(inner: &Arc<Inner>, now: Timestamp, batch: usize) -> Tick {
    let due = match inner.store.claim_due(now, batch).await {
        Ok(due) => due,
        Err(e) => {
            tracing::error!(error = %e, "claiming due fires failed; retrying with backoff");
            return Tick::Failed;
        }
    };
    let full = due.len() == batch;
    if !due.is_empty() {
        dispatch(inner, due).await;
    }
    if full {
        return Tick::More;
    }
    match inner.store.next_due().await {
        Ok(next) => Tick::Next(next),
        Err(e) => {
            tracing::error!(error = %e, "reading the next fire time failed; retrying with backoff");
            Tick::Failed
        }
    }
}
