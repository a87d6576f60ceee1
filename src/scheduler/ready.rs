//! Readiness: does the store answer, and is the timer loop keeping time? What
//! `GET /health/ready` reports, and what [`Scheduler::readiness`] answers.

use std::time::Duration;

use jiff::Timestamp;
use serde::Serialize;

use super::{Activity, Lifecycle, Scheduler};

/// The longest one timer step (claim the due fires, hand them out, read the next fire time)
/// may take before the loop counts as stuck.
pub(crate) const STUCK_AFTER: Duration = Duration::from_secs(30);
/// How long past its wake-up time a sleeping timer loop may be before it counts as stuck.
pub(crate) const OVERSLEPT_AFTER: Duration = Duration::from_secs(5);

/// One check of a readiness answer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ReadinessCheck {
    /// `scheduler`, `store` or `timer`.
    pub name: &'static str,
    /// Whether it passed.
    pub ok: bool,
    /// What was seen: `ok`, or why not.
    pub detail: String,
}

/// Whether this process can do its work: the answer of [`Scheduler::readiness`] and of
/// `GET /health/ready`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Readiness {
    /// Every check passed.
    pub ready: bool,
    /// The checks, in order: the scheduler's state, the store, the timer loop.
    pub checks: Vec<ReadinessCheck>,
}

impl Readiness {
    /// A readiness answer from its checks.
    pub fn from_checks(checks: Vec<ReadinessCheck>) -> Readiness {
        Readiness {
            ready: checks.iter().all(|c| c.ok),
            checks,
        }
    }

    /// The first failed check's `name: detail`, or `None` when ready.
    pub fn reason(&self) -> Option<String> {
        self.checks
            .iter()
            .find(|c| !c.ok)
            .map(|c| format!("{}: {}", c.name, c.detail))
    }
}

fn check(name: &'static str, result: Result<String, String>) -> ReadinessCheck {
    match result {
        Ok(detail) => ReadinessCheck {
            name,
            ok: true,
            detail,
        },
        Err(detail) => ReadinessCheck {
            name,
            ok: false,
            detail,
        },
    }
}

fn ago(now: Timestamp, then: Timestamp) -> String {
    let d = now.duration_since(then).unsigned_abs();
    super::duration::format(Duration::from_secs(d.as_secs()))
}

impl Scheduler {
    /// Whether this process can do its work, answered within about `bound`:
    ///
    /// - **scheduler**: not shutting down or stopped;
    /// - **store**: answers a trivial query within `bound` (PostgreSQL: `select 1` on a pooled
    ///   connection; the memory store always does);
    /// - **timer**: once started, the timer loop is neither stuck in one step for more than
    ///   30 s, nor asleep more than 5 s past the time it meant to wake, nor backing off from a
    ///   failing store; it has not ended. Not started is not a failure (a dashboard-only
    ///   process runs no timer).
    pub async fn readiness(&self, bound: Duration) -> Readiness {
        let inner = &self.inner;
        let lifecycle = *inner.lifecycle.borrow();
        let scheduler = check(
            "scheduler",
            match lifecycle {
                Lifecycle::Created => Ok("not started".into()),
                Lifecycle::Running => Ok("running".into()),
                Lifecycle::ShuttingDown => Err("shutting down".into()),
                Lifecycle::Stopped => Err("stopped".into()),
            },
        );
        let store = check(
            "store",
            match tokio::time::timeout(bound, inner.store.ping()).await {
                Ok(Ok(())) => Ok("ok".into()),
                // The answer is public: the error (hosts, users) goes to the log only.
                Ok(Err(e)) => {
                    tracing::warn!(error = %e, "readiness: the store failed to answer");
                    Err("failed to answer (the error is logged)".into())
                }
                Err(_) => Err(format!(
                    "did not answer within {}",
                    super::duration::format(bound)
                )),
            },
        );
        let now = inner.clock.now();
        let timer = check(
            "timer",
            if lifecycle != Lifecycle::Running {
                Ok("not running".into())
            } else if inner
                .timer
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .as_ref()
                .is_some_and(|t| t.is_finished())
            {
                Err("the timer loop has ended".into())
            } else {
                let activity = *inner.activity.borrow();
                match activity {
                    Activity {
                        failing_since: Some(since),
                        ..
                    } => {
                        // Backing off (up to 30 s): once the store answers again, look at once.
                        if store.ok {
                            inner.poke();
                        }
                        Err(format!(
                            "backing off from a failing store for {} (the error is logged)",
                            ago(now, since)
                        ))
                    }
                    Activity {
                        step_since: Some(since),
                        ..
                    } if now.duration_since(since).unsigned_abs() > STUCK_AFTER => Err(format!(
                        "one step of the timer loop has taken {}",
                        ago(now, since)
                    )),
                    Activity {
                        asleep_until: Some(Some(t)),
                        ..
                    } if now.duration_since(t).unsigned_abs() > OVERSLEPT_AFTER && now > t => {
                        Err(format!(
                            "the timer loop meant to wake at {t:.0} and still sleeps, {} later",
                            ago(now, t)
                        ))
                    }
                    _ => Ok("ok".into()),
                }
            },
        );
        Readiness::from_checks(vec![scheduler, store, timer])
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;

    use super::*;
    use crate::scheduler::history::{RunId, RunQuery, RunRecord};
    use crate::scheduler::model::{DurationStats, Page, Stats, TaskQuery};
    use crate::scheduler::store::{DueFire, Store, StoreFuture, TaskRecord};
    use crate::scheduler::{Clock, Error, MemoryStore, Task, TaskContext, Trigger};

    /// A memory store whose claims fail, or whose ping never answers, on demand.
    #[derive(Default)]
    struct Flaky {
        inner: MemoryStore,
        claims_fail: Arc<AtomicBool>,
        ping_hangs: Arc<AtomicBool>,
    }

    impl Store for Flaky {
        fn insert(&self, rec: TaskRecord) -> StoreFuture<'_, ()> {
            self.inner.insert(rec)
        }
        fn update(
            &self,
            task: Task,
            trigger: Trigger,
            now: Timestamp,
        ) -> StoreFuture<'_, TaskRecord> {
            self.inner.update(task, trigger, now)
        }
        fn remove<'a>(&'a self, id: &'a str) -> StoreFuture<'a, TaskRecord> {
            self.inner.remove(id)
        }
        fn set_paused<'a>(
            &'a self,
            id: &'a str,
            p: bool,
            now: Timestamp,
        ) -> StoreFuture<'a, TaskRecord> {
            self.inner.set_paused(id, p, now)
        }
        fn get<'a>(&'a self, id: &'a str) -> StoreFuture<'a, Option<TaskRecord>> {
            self.inner.get(id)
        }
        fn list<'a>(&'a self, q: &'a TaskQuery) -> StoreFuture<'a, Page<TaskRecord>> {
            self.inner.list(q)
        }
        fn claim_due(&self, now: Timestamp, limit: usize) -> StoreFuture<'_, Vec<DueFire>> {
            if self.claims_fail.load(Ordering::SeqCst) {
                return Box::pin(async { Err(Error::Store("connection refused".into())) });
            }
            self.inner.claim_due(now, limit)
        }
        fn next_due(&self) -> StoreFuture<'_, Option<Timestamp>> {
            self.inner.next_due()
        }
        fn begin_runs(&self, d: Vec<(RunRecord, u32)>) -> StoreFuture<'_, Vec<Option<RunRecord>>> {
            self.inner.begin_runs(d)
        }
        fn record_run(&self, d: RunRecord) -> StoreFuture<'_, RunRecord> {
            self.inner.record_run(d)
        }
        fn finish_run(&self, r: RunRecord) -> StoreFuture<'_, ()> {
            self.inner.finish_run(r)
        }
        fn get_run(&self, id: RunId) -> StoreFuture<'_, Option<RunRecord>> {
            self.inner.get_run(id)
        }
        fn list_runs<'a>(&'a self, q: &'a RunQuery) -> StoreFuture<'a, Page<RunRecord>> {
            self.inner.list_runs(q)
        }
        fn stats(&self, now: Timestamp) -> StoreFuture<'_, Stats> {
            self.inner.stats(now)
        }
        fn durations<'a>(&'a self, id: &'a str) -> StoreFuture<'a, DurationStats> {
            self.inner.durations(id)
        }
        fn jobs(&self) -> StoreFuture<'_, Vec<String>> {
            self.inner.jobs()
        }
        fn ping(&self) -> StoreFuture<'_, ()> {
            if self.ping_hangs.load(Ordering::SeqCst) {
                return Box::pin(std::future::pending());
            }
            self.inner.ping()
        }
    }

    fn failed(r: &Readiness) -> Vec<&'static str> {
        r.checks.iter().filter(|c| !c.ok).map(|c| c.name).collect()
    }

    #[tokio::test]
    async fn ready_until_the_store_or_the_timer_fails_and_not_when_shutting_down() {
        let store = Flaky::default();
        let (claims_fail, ping_hangs) = (store.claims_fail.clone(), store.ping_hangs.clone());
        let s = Scheduler::builder().store(store).build().unwrap();
        let r = s.readiness(Duration::from_millis(200)).await;
        assert!(r.ready, "{r:?}");
        assert_eq!(r.checks[0].detail, "not started");

        s.register("noop", |_: TaskContext| async { Ok(()) });
        s.add(Task::new("t", "noop").every(Duration::from_millis(50)))
            .await
            .unwrap();
        s.start().unwrap();
        assert!(s.readiness(Duration::from_millis(200)).await.ready);

        // The store stops answering: not ready, within the bound.
        ping_hangs.store(true, Ordering::SeqCst);
        let r = s.readiness(Duration::from_millis(100)).await;
        assert_eq!(failed(&r), ["store"], "{r:?}");
        assert_eq!(r.reason().unwrap(), "store: did not answer within 100ms");
        ping_hangs.store(false, Ordering::SeqCst);

        // The timer loop's claims fail: it backs off, and says why.
        claims_fail.store(true, Ordering::SeqCst);
        s.inner.poke();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        let r = loop {
            let r = s.readiness(Duration::from_millis(200)).await;
            if !r.ready {
                break r;
            }
            assert!(tokio::time::Instant::now() < deadline, "still ready: {r:?}");
            tokio::time::sleep(Duration::from_millis(10)).await;
        };
        assert_eq!(failed(&r), ["timer"], "{r:?}");
        assert!(
            r.checks[2]
                .detail
                .contains("backing off from a failing store"),
            "{r:?}"
        );
        assert!(
            !r.checks[2].detail.contains("connection refused"),
            "no error text: {r:?}"
        );
        // And it recovers once the store does (its backoff starts at one second).
        claims_fail.store(false, Ordering::SeqCst);
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        while !s.readiness(Duration::from_millis(200)).await.ready {
            assert!(tokio::time::Instant::now() < deadline, "did not recover");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }

        s.shutdown(Duration::from_secs(1)).await;
        let r = s.readiness(Duration::from_millis(200)).await;
        assert_eq!(failed(&r), ["scheduler"], "{r:?}");
        assert_eq!(r.reason().unwrap(), "scheduler: stopped");
    }

    #[test]
    fn a_timer_asleep_past_its_wake_up_or_stuck_in_a_step_is_not_ready() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let clock = crate::ManualClock::new(Timestamp::from_second(1_800_000_000).unwrap());
            let s = Scheduler::builder().clock(clock.clone()).build().unwrap();
            s.start().unwrap();
            // Nothing scheduled: the loop sleeps until woken, and that is fine.
            tokio::task::yield_now().await;
            assert!(s.readiness(Duration::from_millis(100)).await.ready);
            let now = clock.now();
            // As if the loop had meant to wake 10 s ago and not done so.
            s.inner.activity.send_modify(|a| {
                a.step_since = None;
                a.asleep_until = Some(Some(now - Duration::from_secs(10)));
            });
            let r = s.readiness(Duration::from_millis(100)).await;
            assert_eq!(failed(&r), ["timer"], "{r:?}");
            assert!(
                r.checks[2].detail.contains("still sleeps, 10s later"),
                "{r:?}"
            );
            // As if one step had been going for a minute.
            s.inner.activity.send_modify(|a| {
                a.step_since = Some(now - Duration::from_secs(60));
                a.asleep_until = None;
            });
            let r = s.readiness(Duration::from_millis(100)).await;
            assert!(r.checks[2].detail.contains("has taken 1m"), "{r:?}");
            s.inner.activity.send_modify(|a| {
                a.step_since = None;
                a.asleep_until = Some(None);
            });
            assert!(s.readiness(Duration::from_millis(100)).await.ready);
        });
    }
}
