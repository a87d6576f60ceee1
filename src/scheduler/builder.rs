//! [`SchedulerBuilder`]: the scheduler's settings, checked once at build time.

use std::fmt;
use std::sync::atomic::AtomicBool;
use std::sync::atomic::AtomicUsize;
use std::sync::{Arc, Mutex};

use jiff::tz::TimeZone;
use tokio::sync::{watch, Notify};

use super::clock::{Clock, SystemClock};
use super::error::Error;
use super::events;
use super::job::JobRegistry;
use super::memory::{HistoryLimits, MemoryStore};
use super::store::Store;
use super::trigger;
use super::{Activity, Inner, Lifecycle, Scheduler};

/// Builds a [`Scheduler`]. Every setting has a default.
///
/// ```
/// use taskdeck::store::HistoryLimits;
/// use taskdeck::Scheduler;
/// let scheduler = Scheduler::builder()
///     .timezone("Europe/Berlin")
///     .history(HistoryLimits { per_task: 200, total: 20_000 })
///     .build()?;
/// # Ok::<(), taskdeck::Error>(())
/// ```
#[must_use]
pub struct SchedulerBuilder {
    timezone: Option<String>,
    clock: Arc<dyn Clock>,
    store: Option<Arc<dyn Store>>,
    history: HistoryLimits,
    event_capacity: usize,
    cancel_grace: std::time::Duration,
    timer_slack: std::time::Duration,
    hooks: super::hooks::Hooks,
    alerts: super::AlertSettings,
}

impl fmt::Debug for SchedulerBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SchedulerBuilder")
            .field("timezone", &self.timezone)
            .field("history", &self.history)
            .field("event_capacity", &self.event_capacity)
            .field("timer_slack", &self.timer_slack)
            .finish_non_exhaustive()
    }
}

impl SchedulerBuilder {
    /// The defaults: UTC, system clock, memory store.
    pub(crate) fn new() -> SchedulerBuilder {
        SchedulerBuilder {
            timezone: None,
            clock: Arc::new(SystemClock),
            store: None,
            history: HistoryLimits::default(),
            event_capacity: 1024,
            cancel_grace: std::time::Duration::from_secs(10),
            timer_slack: super::timer::DEFAULT_SLACK,
            hooks: super::hooks::Hooks::default(),
            alerts: super::AlertSettings::default(),
        }
    }

    /// Calls `hook` with each run that failed, panicked, timed out or was interrupted. The
    /// process that finishes a run tells it, so with several replicas each failure is told
    /// once. Calls run in order on a task of their own, each within 30 s, from a queue of
    /// 1,024 (past it, a failure is not told and a warning says so). See `WebhookNotifier`
    /// (feature `webhook`) for alerts over HTTP.
    ///
    /// ```
    /// use taskdeck::Scheduler;
    /// let scheduler = Scheduler::builder()
    ///     .on_failure(|run| async move {
    ///         eprintln!("run {} of {} failed: {:?}", run.id, run.task_id, run.error);
    ///     })
    ///     .build()?;
    /// # Ok::<(), taskdeck::Error>(())
    /// ```
    pub fn on_failure<F, Fut>(mut self, hook: F) -> Self
    where
        F: Fn(super::RunRecord) -> Fut + Send + Sync + 'static,
        Fut: std::future::Future<Output = ()> + Send + 'static,
    {
        self.hooks.failure.push(Arc::new(move |run| {
            Box::pin(hook(run)) as super::HookFuture
        }));
        self
    }

    /// Calls `hook` with each alert raised or resolved: fires missed or skipped, tasks
    /// overdue, runs far over their usual duration, no success within a task's
    /// `no_success_within`, tasks failing again and again (see [`super::AlertKind`]). An alert
    /// is raised once, whichever replica finds it first, and raised again only after it was
    /// resolved (its `resolved_at` is then set: the hook hears of that too, once). Same
    /// queue and limits as `on_failure`. See `WebhookNotifier::alert_hook` (feature
    /// `webhook`).
    ///
    /// ```
    /// use taskdeck::Scheduler;
    /// let scheduler = Scheduler::builder()
    ///     .on_alert(|alert| async move {
    ///         if alert.resolved_at.is_none() {
    ///             eprintln!("{} {}: {}", alert.kind.label(), alert.task_id, alert.message);
    ///         }
    ///     })
    ///     .build()?;
    /// # Ok::<(), taskdeck::Error>(())
    /// ```
    pub fn on_alert<F, Fut>(mut self, hook: F) -> Self
    where
        F: Fn(super::Alert) -> Fut + Send + Sync + 'static,
        Fut: std::future::Future<Output = ()> + Send + 'static,
    {
        self.hooks
            .alert
            .push(Arc::new(move |a| Box::pin(hook(a)) as super::HookFuture));
        self
    }

    /// When alerts are raised: how often to look, after how long a task is overdue, how far
    /// over its usual duration a run is running long, after how many failures in a row a
    /// task is failing. Checked by [`SchedulerBuilder::build`].
    pub fn alerts(mut self, settings: super::AlertSettings) -> Self {
        self.alerts = settings;
        self
    }

    /// Calls `hook` with every event this process's subscribers see (with a shared store,
    /// other replicas' too), in order, from the same bounded queue as `on_failure`.
    pub fn on_event<F, Fut>(mut self, hook: F) -> Self
    where
        F: Fn(super::Event) -> Fut + Send + Sync + 'static,
        Fut: std::future::Future<Output = ()> + Send + 'static,
    {
        self.hooks
            .event
            .push(Arc::new(move |e| Box::pin(hook(e)) as super::HookFuture));
        self
    }

    /// How long a cancelled run ([`Scheduler::cancel_run`]) may take to stop by itself after
    /// [`crate::TaskContext::cancelled`] resolves, before it is aborted. Default 10 s.
    pub fn cancel_grace(mut self, grace: std::time::Duration) -> Self {
        self.cancel_grace = grace;
        self
    }

    /// How late a fire may start so that it shares a wake-up with the fires just before it.
    /// Default 3 ms, at most 100 ms; zero wakes for every fire on its own.
    ///
    /// After a tick that was not a full batch, the timer sleeps until the next fire is due or
    /// until this long after the tick began, whichever is later, then starts everything that
    /// came due meanwhile. A fire that comes due more than `slack` after the last wake-up
    /// still wakes the timer on time, so sparse schedules start as promptly as before; only
    /// fires closer together than `slack` are grouped, each up to `slack` later than it would
    /// otherwise start (which is about a millisecond after its time: tokio's timer rounds up).
    /// Adding, changing or resuming a task and a shared store's notices wake the timer at
    /// once regardless; run-now does not wait for the timer at all. A task's
    /// [`crate::Task::misfire_grace`] is extended by the slack.
    ///
    /// Each wake-up of a sleeping thread costs CPU (16 to 51 µs on a 2-core VM, up to 74 µs
    /// for a tokio task); at 1,000
    /// fires a second, 3 ms of slack wakes once for every three fires. See `benches/timer_cpu.rs`.
    ///
    /// Tests that step a [`ManualClock`](crate::ManualClock) by less than the slack see a
    /// fire due within the slack of the last wake-up wait for the clock to pass it; build
    /// those with `timer_slack(Duration::ZERO)`.
    ///
    /// ```
    /// use std::time::Duration;
    /// use taskdeck::Scheduler;
    /// let scheduler = Scheduler::builder().timer_slack(Duration::ZERO).build()?;
    /// # Ok::<(), taskdeck::Error>(())
    /// ```
    pub fn timer_slack(mut self, slack: std::time::Duration) -> Self {
        self.timer_slack = slack;
        self
    }

    /// Zone for cron triggers that name none (an IANA name). Default `UTC`.
    pub fn timezone(mut self, zone: &str) -> Self {
        self.timezone = Some(zone.to_string());
        self
    }

    /// The time source. Default [`SystemClock`]; tests use [`ManualClock`](crate::ManualClock).
    pub fn clock(mut self, clock: impl Clock) -> Self {
        self.clock = Arc::new(clock);
        self
    }

    /// Where tasks and runs live. Default a [`MemoryStore`] with [`SchedulerBuilder::history`]
    /// bounds.
    pub fn store(mut self, store: impl Store) -> Self {
        self.store = Some(Arc::new(store));
        self
    }

    /// History bounds of the default memory store. Default 100 runs per task, 10,000 in all.
    pub fn history(mut self, limits: HistoryLimits) -> Self {
        self.history = limits;
        self
    }

    /// Events a subscriber may fall behind by before it is told it lagged. Default 1024.
    pub fn event_capacity(mut self, n: usize) -> Self {
        self.event_capacity = n;
        self
    }

    /// Checks the settings and builds the scheduler (not started).
    pub fn build(self) -> Result<Scheduler, Error> {
        let tz = match &self.timezone {
            Some(name) => trigger::parse_zone(name).map_err(|e| Error::InvalidConfig {
                setting: "timezone",
                message: e.to_string(),
            })?,
            None => TimeZone::UTC,
        };
        if self.event_capacity == 0 {
            return Err(Error::InvalidConfig {
                setting: "event_capacity",
                message: "must be at least 1".into(),
            });
        }
        if self.timer_slack > super::timer::MAX_SLACK {
            return Err(Error::InvalidConfig {
                setting: "timer_slack",
                message: format!(
                    "must be at most {:?}, not {:?}",
                    super::timer::MAX_SLACK,
                    self.timer_slack
                ),
            });
        }
        self.alerts.check()?;
        let store = self
            .store
            .unwrap_or_else(|| Arc::new(MemoryStore::with_limits(self.history)));
        store.bind(&tz);
        Ok(Scheduler {
            inner: Arc::new(Inner {
                store,
                jobs: JobRegistry::default(),
                clock: self.clock,
                tz,
                events: events::EventBus::new(self.event_capacity),
                wake: Notify::new(),
                paused: AtomicBool::new(false),
                lifecycle: watch::Sender::new(Lifecycle::Created),
                cancel: watch::Sender::new(false),
                abort: watch::Sender::new(false),
                activity: watch::Sender::new(Activity::default()),
                in_flight: AtomicUsize::new(0),
                timer: Mutex::new(None),
                heartbeat: Mutex::new(None),
                started_at: Mutex::new(None),
                metrics: Default::default(),
                running: Mutex::new(std::collections::HashMap::new()),
                cancel_grace: self.cancel_grace,
                timer_slack: self.timer_slack,
                hooks: Arc::new(self.hooks),
                alert_settings: self.alerts,
                usual: Default::default(),
                timeline: Default::default(),
                live: Default::default(),
                relaying: Default::default(),
            }),
        })
    }
}
