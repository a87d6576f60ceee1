//! The scheduler: jobs registered in code, tasks that bind them to triggers, one timer loop.
//!
//! This module knows nothing of HTTP. The dashboard reaches it only through
//! [`crate::TaskBackend`], which [`Scheduler`] implements.
//!
//! # Timing
//! One tokio task, the timer loop, sleeps until the earliest next fire of any task (read from
//! the store's ordered index of next fire times), claims everything due, and hands each claimed
//! fire to its own tokio task. Any change to the schedule wakes it. There is no task per
//! scheduled job and no polling: an idle scheduler does not wake up.

mod alerts;
mod builder;
mod capture;
mod clock;
mod duration;
mod error;
mod events;
mod history;
mod hooks;
mod index;
mod info;
#[cfg(feature = "dashboard")]
mod info_json;
mod instance;
mod job;
mod live;
mod memory;
mod metrics;
mod model;
#[cfg(feature = "postgres")]
mod postgres;
mod ready;
mod run;
mod store;
mod task;
mod text;
mod timeline;
mod timer;
mod trigger;

use std::fmt;
use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use jiff::tz::TimeZone;
use jiff::Timestamp;
use tokio::sync::{watch, Notify};

pub use alerts::{Alert, AlertCheck, AlertKind, AlertScan, AlertSettings, AlertSweep, LongRun};
pub use builder::SchedulerBuilder;
#[cfg(feature = "tracing-layer")]
pub use capture::RunLogLayer;
pub use clock::{Clock, ManualClock, Sleep, SystemClock};
#[cfg(feature = "dashboard")]
pub(crate) use duration::{format as format_duration, parse as parse_duration};
pub use error::{Error, TriggerError};
pub use events::{Event, EventStream, Recv};
pub use history::{
    LogLevel, LogLine, Progress, RunCause, RunCursor, RunId, RunQuery, RunRecord, RunStatus,
    MAX_LOG_LINES, MAX_LOG_LINES_PER_SEC, MAX_LOG_LINE_BYTES, MAX_PROGRESS_MESSAGE_BYTES,
    MAX_RESULT_BYTES, MAX_SEARCH_BYTES, SEARCH_WINDOW,
};
pub use live::LIVE_EVERY;

/// A running run's progress, as [`Scheduler::live_progress`] lists it: (run, task, job,
/// progress).
pub type LiveProgress = (RunId, String, String, Progress);
pub use hooks::HookFuture;
pub use info::{TaskInfo, TriggerText};
pub use job::{JobError, JobResult, TaskContext};
pub use memory::{HistoryLimits, MemoryStore};
pub use model::{
    DurationStats, Histogram, InstanceInfo, LastRun, Page, Series, SeriesPoint, SeriesWindow,
    StateCounts, Stats, TaskCursor, TaskQuery, TaskSort, TaskState, WindowCounts, DEFAULT_PER_PAGE,
    DURATION_BUCKETS, MAX_PER_PAGE, OVERDUE_AFTER,
};
#[cfg(feature = "postgres")]
pub use postgres::{PostgresStore, PostgresStoreBuilder};
pub use ready::{Readiness, ReadinessCheck};
pub use store::{Beat, DueFire, LiveRunState, Notice, Sharing, Store, StoreFuture, TaskRecord};
pub use task::{Task, TaskOptions, MAX_ARGS_BYTES, MAX_ID_LEN};
pub use timeline::{
    Slot, SlotTask, SlotTasks, Timeline, TimelineQuery, TimelineWindow, MOST_SLOT_TASKS,
    PILEUP_TASKS,
};
pub use trigger::{Trigger, TriggerKind, TriggerSpec};

use history::RunCause as Cause;
use job::JobRegistry;

/// Where the scheduler is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Lifecycle {
    /// Built, not started: tasks can be added, nothing fires.
    Created,
    /// Firing tasks.
    Running,
    /// Draining: no new fires, running jobs asked to stop.
    ShuttingDown,
    /// Done.
    Stopped,
}

/// What the timer loop and executors are doing, for [`Scheduler::settled`] and
/// [`Scheduler::readiness`].
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Activity {
    /// `Some(deadline)` while the timer loop sleeps (`Some(None)`: nothing scheduled);
    /// `None` while it works or has been woken.
    asleep_until: Option<Option<Timestamp>>,
    /// When the timer step now going began; `None` while the loop sleeps.
    step_since: Option<Timestamp>,
    /// Since when the loop backs off from a failing store (each failure is logged).
    failing_since: Option<Timestamp>,
}

pub(crate) struct Inner {
    store: Arc<dyn Store>,
    jobs: JobRegistry,
    clock: Arc<dyn Clock>,
    tz: TimeZone,
    events: events::EventBus,
    wake: Notify,
    paused: AtomicBool,
    lifecycle: watch::Sender<Lifecycle>,
    /// Soft stop: `TaskContext::cancelled` resolves.
    cancel: watch::Sender<bool>,
    /// Hard stop: running attempts are aborted and recorded as cancelled.
    abort: watch::Sender<bool>,
    activity: watch::Sender<Activity>,
    /// Spawned runs still going; `activity` is notified when this drops to zero.
    in_flight: AtomicUsize,
    timer: Mutex<Option<tokio::task::JoinHandle<()>>>,
    /// Heartbeat loop of a shared store; awaited on shutdown so this process leaves.
    heartbeat: Mutex<Option<tokio::task::JoinHandle<()>>>,
    started_at: Mutex<Option<Timestamp>>,
    /// What this process did, for `/metrics`.
    metrics: metrics::SchedulerMetrics,
    /// Runs executing in this process, each with its cancel signal (who cancelled it).
    running: Mutex<std::collections::HashMap<RunId, watch::Sender<Option<String>>>>,
    /// How long a cancelled run may take to stop before it is aborted.
    cancel_grace: Duration,
    /// Least time between two wake-ups of the timer loop for fires (not for notices).
    timer_slack: Duration,
    /// `on_failure`, `on_alert` and `on_event`.
    hooks: Arc<hooks::Hooks>,
    /// When alerts are raised.
    alert_settings: AlertSettings,
    /// Jobs' usual durations, for running-long alerts.
    usual: alerts::Usual,
    /// This process's running runs, for the live view.
    live: live::Live,
    /// The store's notices are relayed to this process (its scheduler runs).
    relaying: AtomicBool,
    /// The timeline's tasks, as read at a schedule generation, and its answers per query as
    /// counted in a minute.
    timeline: timeline::Kept,
}

/// Begins and drives a retry of run `id` in this process.
pub(crate) async fn retry_here(inner: &Arc<Inner>, id: RunId) -> Result<RunRecord, Error> {
    let old = inner
        .store
        .get_run(id)
        .await?
        .ok_or(Error::UnknownRun { id })?;
    let rec = inner
        .store
        .get(&old.task_id)
        .await?
        .ok_or_else(|| Error::UnknownTask {
            id: old.task_id.clone(),
        })?;
    let task = rec.task;
    job_unchanged(&old, &task)?;
    let now = inner.clock.now();
    let lineage = run::Lineage {
        args: old.args.clone(),
        retry_of: id,
    };
    let run = run::begin_one_checked(inner, &task, now, Cause::Retry, 1, Some(lineage)).await?;
    if run.status == RunStatus::Skipped {
        // Recorded as skipped without using up the run's one retry: it may be tried again.
        return Err(Error::RunState {
            id,
            message: format!(
                "task {:?} already has {} run(s) going, its max_instances: run {id} was not \
                 retried; retry it once one ends",
                task.id, task.options.max_instances
            ),
        });
    }
    if run.status == RunStatus::Running {
        let inner2 = inner.clone();
        let first = run.clone();
        inner.spawn_tracked(async move { run::drive(inner2, task, first).await });
    }
    Ok(run)
}

/// A retry runs the task's job with the old run's args: refused when the task has been given
/// another job since, whose args these are not.
fn job_unchanged(old: &RunRecord, task: &Task) -> Result<(), Error> {
    if old.job == task.job {
        return Ok(());
    }
    Err(Error::RunState {
        id: old.id,
        message: format!(
            "run {} ran job {:?}, but task {:?} now runs job {:?}: its args were for the old \
             job, so it is not retried; run the task instead",
            old.id, old.job, task.id, task.job
        ),
    })
}

/// "succeeded", "is running", … for messages about a run's state.
fn status_words(status: RunStatus) -> String {
    match status {
        RunStatus::Running => "is still running".into(),
        s => s.as_str().replace('_', " "),
    }
}

impl Inner {
    /// Signals run `id`, if it runs in this process, that `by` cancelled it. True if it does.
    pub(crate) fn cancel_here(&self, id: RunId, by: &str) -> bool {
        let running = self.running.lock().unwrap_or_else(|p| p.into_inner());
        match running.get(&id) {
            Some(tx) => {
                tx.send_if_modified(|c| {
                    if c.is_none() {
                        *c = Some(by.to_string());
                        true
                    } else {
                        false
                    }
                });
                true
            }
            None => false,
        }
    }

    pub(crate) fn is_stopping(&self) -> bool {
        matches!(
            *self.lifecycle.borrow(),
            Lifecycle::ShuttingDown | Lifecycle::Stopped
        )
    }

    /// Wakes the timer loop because the schedule changed.
    pub(crate) fn poke(&self) {
        self.activity.send_modify(|a| a.asleep_until = None);
        self.wake.notify_one();
    }

    pub(crate) fn emit_finished(&self, rec: &RunRecord) {
        self.events.send(self.finished_event(rec));
    }

    /// The news that `rec` ended, counted in this process's metrics: every run this process
    /// records as ended passes here once.
    pub(crate) fn finished_event(&self, rec: &RunRecord) -> Event {
        self.metrics.finished(rec);
        Event::finished(rec)
    }

    /// Spawns `fut`, counting it in flight until it ends.
    pub(crate) fn spawn_tracked<F>(self: &Arc<Self>, fut: F)
    where
        F: Future<Output = ()> + Send + 'static,
    {
        struct Done(Arc<Inner>);
        impl Drop for Done {
            fn drop(&mut self) {
                if self.0.in_flight.fetch_sub(1, Ordering::AcqRel) == 1 {
                    self.0.activity.send_modify(|_| {});
                }
            }
        }
        self.in_flight.fetch_add(1, Ordering::AcqRel);
        let done = Done(self.clone());
        tokio::spawn(async move {
            let _done = done;
            fut.await;
        });
    }

    /// Sleeps until `until` on the scheduler's clock; false if shutdown aborted the wait.
    pub(crate) async fn sleep_unless_aborted(&self, until: Timestamp) -> bool {
        tokio::select! {
            () = self.clock.sleep_until(until) => true,
            () = self.aborted() => false,
        }
    }

    /// Completes once shutdown aborts running work.
    pub(crate) async fn aborted(&self) {
        let mut abort = self.abort.subscribe();
        let _ = abort.wait_for(|a| *a).await;
    }

    /// Completes once no fire is being handled.
    pub(crate) async fn drained(&self) {
        let mut activity = self.activity.subscribe();
        while self.in_flight.load(Ordering::Acquire) > 0 {
            if activity.changed().await.is_err() {
                return;
            }
        }
    }
}

/// The scheduler handle. Cheap to clone; all clones drive the same scheduler.
///
/// ```
/// use std::time::Duration;
/// use taskdeck::{Scheduler, Task, TaskContext};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let scheduler = Scheduler::builder().timezone("Europe/Berlin").build()?;
/// scheduler.register("send_report", |ctx: TaskContext| async move {
///     ctx.log(format!("report for {}", ctx.args()["to"]));
///     Ok(())
/// });
/// scheduler
///     .add(Task::new("nightly-report", "send_report")
///         .cron("0 30 3 * * *")?
///         .args(serde_json::json!({"to": "ops"})))
///     .await?;
/// scheduler.start()?;
/// // … serve, work …
/// scheduler.shutdown(Duration::from_secs(10)).await;
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct Scheduler {
    inner: Arc<Inner>,
}

impl fmt::Debug for Scheduler {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Scheduler")
            .field("lifecycle", &*self.inner.lifecycle.borrow())
            .field("paused", &self.is_paused())
            .field("jobs", &self.inner.jobs)
            .finish_non_exhaustive()
    }
}

impl Scheduler {
    /// A builder with defaults: UTC, system clock, memory store.
    pub fn builder() -> SchedulerBuilder {
        SchedulerBuilder::new()
    }

    /// Registers a job under `name`. Tasks name jobs; only registered names run. Registering a
    /// name again replaces the job (and logs a warning).
    pub fn register<F, Fut>(&self, name: impl Into<String>, job: F)
    where
        F: Fn(TaskContext) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = JobResult> + Send + 'static,
    {
        let name = name.into();
        if self.inner.jobs.insert(name.clone(), job) {
            tracing::warn!(job = %name, "job registered twice; the later one replaces the first");
        }
    }

    /// Registers a job that returns a value: it is kept as the run's result (JSON, at most
    /// 16 KiB), shown on the run's page and in the API. Otherwise like [`Scheduler::register`].
    ///
    /// ```
    /// # let scheduler = taskdeck::Scheduler::builder().build().unwrap();
    /// scheduler.register_returning("count_orders", |_ctx| async move {
    ///     Ok(serde_json::json!({ "orders": 42 }))
    /// });
    /// ```
    pub fn register_returning<F, Fut, T>(&self, name: impl Into<String>, job: F)
    where
        F: Fn(TaskContext) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<T, job::JobError>> + Send + 'static,
        T: serde::Serialize + Send + 'static,
    {
        let job = Arc::new(job);
        self.register(name, move |ctx: TaskContext| {
            let job = job.clone();
            async move {
                let value = job(ctx.clone()).await?;
                ctx.set_result(value);
                Ok(())
            }
        });
    }

    /// Names of the registered jobs, sorted.
    pub fn jobs(&self) -> Vec<String> {
        self.inner.jobs.names()
    }

    /// The jobs stored tasks name, sorted: with a shared store, those of every replica's
    /// tasks, whether any replica has the job registered or not.
    pub async fn task_jobs(&self) -> Result<Vec<String>, Error> {
        self.inner.store.jobs().await
    }

    /// This process's figures in the Prometheus text format: fires it claimed, runs it
    /// finished by outcome, runs going, start lateness and run durations per job, each since
    /// it started. They add up across replicas (`sum()`); the dashboard's `/metrics` serves
    /// them beside the cluster-wide ones. Append them to an exporter of your own, or take them
    /// from the `metrics` facade (feature `metrics`).
    pub fn prometheus_metrics(&self) -> String {
        let mut t = crate::metrics::Text::default();
        self.inner.metrics.write(
            &mut t,
            self.inner.in_flight.load(Ordering::Relaxed),
            self.inner.paused.load(Ordering::Relaxed),
        );
        t.0
    }

    /// The zone for cron triggers that name none.
    pub fn timezone(&self) -> &TimeZone {
        &self.inner.tz
    }

    /// The scheduler's clock reading.
    pub fn now(&self) -> Timestamp {
        self.inner.clock.now()
    }

    /// Where the scheduler is in its life.
    pub fn lifecycle(&self) -> Lifecycle {
        *self.inner.lifecycle.borrow()
    }

    /// Checks a task against the registry and the clock, returning its compiled trigger.
    fn check(&self, task: &mut Task) -> Result<Trigger, Error> {
        task.normalize()?;
        if !self.inner.jobs.contains(&task.job) {
            return Err(Error::UnknownJob {
                job: task.job.clone(),
            });
        }
        let trigger = Trigger::new(&task.trigger, &self.inner.tz)?;
        trigger.check_future(self.now())?;
        Ok(trigger)
    }

    /// Adds a task. Errors: unknown job, duplicate id, bad id/options/trigger, a date in the past.
    pub async fn add(&self, mut task: Task) -> Result<TaskInfo, Error> {
        let trigger = self.check(&mut task)?;
        let now = self.now();
        let next_fire = if task.paused {
            None
        } else {
            trigger.next_after(now, now)
        };
        let rec = TaskRecord {
            task: Arc::new(task),
            trigger,
            anchor: now,
            created_at: now,
            updated_at: now,
            next_fire,
            last_run: None,
            running: 0,
        };
        let info = self.info(rec.clone());
        self.inner.store.insert(rec).await?;
        tracing::info!(task = %info.task.id, job = %info.task.job, trigger = %info.trigger_text, "task added");
        self.changed(Event::TaskAdded {
            task_id: info.task.id.clone(),
        });
        Ok(info)
    }

    /// Replaces a task's name, job, trigger, args and options (its paused flag is kept). A
    /// changed trigger restarts its schedule from now.
    pub async fn update(&self, mut task: Task) -> Result<TaskInfo, Error> {
        let trigger = self.check(&mut task)?;
        let rec = self.inner.store.update(task, trigger, self.now()).await?;
        self.changed(Event::TaskUpdated {
            task_id: rec.task.id.clone(),
        });
        tracing::info!(task = %rec.task.id, "task updated");
        Ok(self.info(rec))
    }

    /// Removes a task. Runs going on finish; its history is kept.
    pub async fn remove(&self, id: &str) -> Result<(), Error> {
        self.inner.store.remove(id).await?;
        self.changed(Event::TaskRemoved {
            task_id: id.to_string(),
        });
        tracing::info!(task = %id, "task removed");
        Ok(())
    }

    /// Pauses a task: it does not fire until resumed. Runs going on finish.
    pub async fn pause(&self, id: &str) -> Result<TaskInfo, Error> {
        self.set_paused(id, true).await
    }

    /// Resumes a task from now; fires missed while paused are not made up.
    pub async fn resume(&self, id: &str) -> Result<TaskInfo, Error> {
        self.set_paused(id, false).await
    }

    async fn set_paused(&self, id: &str, paused: bool) -> Result<TaskInfo, Error> {
        let rec = self.inner.store.set_paused(id, paused, self.now()).await?;
        let task_id = id.to_string();
        self.changed(if paused {
            Event::TaskPaused { task_id }
        } else {
            Event::TaskResumed { task_id }
        });
        tracing::info!(task = %id, paused, "task paused or resumed");
        Ok(self.info(rec))
    }

    /// The schedule changed: wake the timer loop and tell subscribers.
    fn changed(&self, event: Event) {
        self.inner.poke();
        self.inner.events.send(event);
    }

    /// Runs a task now, outside its schedule (also when paused). Returns the run as begun:
    /// `Running`, or `Skipped` when `max_instances` runs are already going. Needs a started
    /// scheduler.
    pub async fn run_now(&self, id: &str) -> Result<RunRecord, Error> {
        self.run_now_as(id, None).await
    }

    /// Runs a task now, as [`run_now`](Self::run_now), with `args` in place of the task's
    /// own for this run only: the run records them (and a retry of it runs with them again);
    /// the task is unchanged. Args over [`MAX_ARGS_BYTES`] are refused, as for a task.
    pub async fn run_now_with(
        &self,
        id: &str,
        args: serde_json::Value,
    ) -> Result<RunRecord, Error> {
        task::check_args(&args)?;
        self.run_now_as(id, Some(args)).await
    }

    async fn run_now_as(
        &self,
        id: &str,
        args: Option<serde_json::Value>,
    ) -> Result<RunRecord, Error> {
        match self.lifecycle() {
            Lifecycle::Running => {}
            Lifecycle::Created => {
                return Err(Error::Start(
                    "run_now needs a started scheduler; call start() first".into(),
                ))
            }
            Lifecycle::ShuttingDown | Lifecycle::Stopped => return Err(Error::ShuttingDown),
        }
        let rec = self
            .inner
            .store
            .get(id)
            .await?
            .ok_or_else(|| Error::UnknownTask { id: id.to_string() })?;
        let task = match args {
            None => rec.task,
            Some(args) => Arc::new(Task {
                args,
                ..Task::clone(&rec.task)
            }),
        };
        let now = self.now();
        let Some(run) = run::begin_one(&self.inner, &task, now, Cause::Manual, 1, None).await
        else {
            return Err(Error::UnknownTask { id: id.to_string() });
        };
        if run.status == RunStatus::Running {
            let inner = self.inner.clone();
            let first = run.clone();
            self.inner
                .spawn_tracked(async move { run::drive(inner, task, first).await });
        }
        Ok(run)
    }

    /// Asks a running run to stop, on whichever process runs it (with a shared store, the
    /// others hear of it within about a second): [`TaskContext::cancelled`] resolves, and after
    /// the [`SchedulerBuilder::cancel_grace`] a job still going is aborted. The run ends as
    /// cancelled, saying `by` whom. Returns the run as it stands; an error when it is not
    /// running.
    pub async fn cancel_run(&self, id: RunId, by: &str) -> Result<RunRecord, Error> {
        let rec = self.run(id).await?;
        if rec.status != RunStatus::Running {
            return Err(Error::RunState {
                id,
                message: format!(
                    "run {id} is not running (it {}); only a running run can be cancelled",
                    status_words(rec.status)
                ),
            });
        }
        let by: String = by.chars().take(128).collect();
        let event = Event::RunCancelRequested {
            run_id: id,
            task_id: rec.task_id.clone(),
            by: by.clone(),
        };
        if !self.inner.cancel_here(id, &by) {
            self.inner.store.announce(event.clone()).await?;
        }
        tracing::info!(run = id, task = %rec.task_id, by = %by, "run cancel requested");
        self.inner.events.send(event);
        Ok(rec)
    }

    /// Starts a new run of a finished run's task with the same args, cause `retry` and a link
    /// to it (`retry_of`). For runs that failed, panicked, timed out, were cancelled or were
    /// interrupted, each at most once; an error for others, and when the task is gone.
    ///
    /// With a shared store and a job this process does not have, the retry is handed to a
    /// process that has it: `Ok(None)`, and the new run appears with `retry_of` set.
    pub async fn retry_run(&self, id: RunId) -> Result<Option<RunRecord>, Error> {
        match self.lifecycle() {
            Lifecycle::Running => {}
            Lifecycle::Created => {
                return Err(Error::Start(
                    "retry_run needs a started scheduler; call start() first".into(),
                ))
            }
            Lifecycle::ShuttingDown | Lifecycle::Stopped => return Err(Error::ShuttingDown),
        }
        let old = self.run(id).await?;
        if !old.status.is_retryable() {
            return Err(Error::RunState {
                id,
                message: format!(
                    "run {id} {}; only failed, panicked, timed-out, cancelled or interrupted runs can be retried",
                    status_words(old.status)
                ),
            });
        }
        let task = self
            .inner
            .store
            .get(&old.task_id)
            .await?
            .ok_or_else(|| Error::UnknownTask {
                id: old.task_id.clone(),
            })?
            .task;
        job_unchanged(&old, &task)?;
        if !self.inner.jobs.contains(&old.job) && self.inner.store.sharing().is_some() {
            // Handed over only when a live replica has the job: otherwise say so.
            let instances = self.inner.store.instances().await?;
            if !instances
                .iter()
                .any(|i| !i.stale && i.jobs.contains(&old.job))
            {
                return Err(Error::RunState {
                    id,
                    message: format!(
                        "no running replica has job {:?} registered; run {id} cannot be retried now",
                        old.job
                    ),
                });
            }
            self.inner
                .store
                .announce(Event::RetryRequested {
                    run_id: id,
                    task_id: old.task_id.clone(),
                })
                .await?;
            return Ok(None);
        }
        retry_here(&self.inner, id).await.map(Some)
    }

    /// Pauses the whole scheduler: nothing fires until [`Scheduler::resume_all`]. Runs going on
    /// finish. Fires that come due meanwhile are handled on resume by the misfire rules.
    pub fn pause_all(&self) {
        if !self.inner.paused.swap(true, Ordering::SeqCst) {
            tracing::info!("scheduler paused");
            self.inner.events.send(Event::SchedulerPaused);
            self.inner.poke();
        }
    }

    /// Resumes the whole scheduler.
    pub fn resume_all(&self) {
        if self.inner.paused.swap(false, Ordering::SeqCst) {
            tracing::info!("scheduler resumed");
            self.inner.events.send(Event::SchedulerResumed);
            self.inner.poke();
        }
    }

    /// True while the whole scheduler is paused.
    pub fn is_paused(&self) -> bool {
        self.inner.paused.load(Ordering::SeqCst)
    }

    /// One task.
    pub async fn get(&self, id: &str) -> Result<TaskInfo, Error> {
        let rec = self
            .inner
            .store
            .get(id)
            .await?
            .ok_or_else(|| Error::UnknownTask { id: id.to_string() })?;
        Ok(self.info(rec))
    }

    /// A filtered, sorted page of tasks.
    pub async fn list(&self, query: &TaskQuery) -> Result<Page<TaskInfo>, Error> {
        let page = self.inner.store.list(query).await?;
        let registered = self
            .inner
            .jobs
            .contains_each(page.items.iter().map(|r| r.task.job.as_str()));
        let mut registered = registered.into_iter();
        Ok(page.map(|r| TaskInfo::new(r, registered.next().unwrap_or(false))))
    }

    /// The job of task `id` (one read of the store), `None` for an unknown task.
    pub async fn job_of(&self, id: &str) -> Result<Option<String>, Error> {
        Ok(self.inner.store.get(id).await?.map(|r| r.task.job.clone()))
    }

    /// Upcoming fires of the tasks `query` picks, per minute over the next 24 hours or per
    /// hour over the next 7 days, with the busiest slots and the minutes where many tasks
    /// start together. Paused tasks, and tasks with nothing left to fire, are not counted;
    /// jitter is not (fires are at their nominal times).
    ///
    /// The tasks are read from the store once and kept until the schedule changes (on any
    /// replica); an answer is kept for the minute it was counted in.
    pub async fn timeline(&self, query: &TimelineQuery) -> Result<Arc<Timeline>, Error> {
        let query = &query.normalised();
        let now = self.inner.clock.now();
        let generation = self.generation(now);
        let kept = &self.inner.timeline;
        if let Some(t) = kept.answer(query, generation, now) {
            return Ok(t);
        }
        // One count at a time: who waited finds the answer kept. The right to count goes
        // with the counting, which goes on (and keeps its answer) if this request goes away.
        let counting = kept.counting().await;
        if let Some(t) = kept.answer(query, generation, now) {
            return Ok(t);
        }
        let plan = self.timeline_plan(generation).await?;
        let (inner, q) = (self.inner.clone(), query.clone());
        tokio::task::spawn_blocking(move || {
            let _counting = counting;
            let t = Arc::new(plan.timeline(&q, now));
            inner.timeline.keep(&q, generation, now, t.clone());
            t
        })
        .await
        .map_err(|e| Error::Store(format!("counting the timeline: {e}")))
    }

    /// The schedule's generation as the timeline knows it: the event bus's, where a shared
    /// store's notices are relayed to it while the scheduler runs, and where not (a
    /// dashboard whose scheduler is not started), first brought up to date with the notices
    /// the timeline hears itself.
    fn generation(&self, now: Timestamp) -> u64 {
        let relayed =
            self.inner.store.sharing().is_none() || self.inner.relaying.load(Ordering::Acquire);
        if !relayed {
            self.inner
                .timeline
                .hear(&self.inner.events, &*self.inner.store, now);
        }
        self.inner.events.schedule()
    }

    /// The timeline's kept tasks, as of `generation` or later.
    async fn timeline_plan(&self, generation: u64) -> Result<Arc<timeline::Plan>, Error> {
        self.inner
            .timeline
            .plan(generation, &self.inner.events, &*self.inner.store)
            .await
    }

    /// The tasks `query` picks that fire in the slot of its window that holds `at` (the
    /// most fires first, at most [`MOST_SLOT_TASKS`]); `None` when the window does not hold
    /// `at`.
    pub async fn timeline_slot(
        &self,
        query: &TimelineQuery,
        at: Timestamp,
    ) -> Result<Option<SlotTasks>, Error> {
        let query = &query.normalised();
        let now = self.inner.clock.now();
        let generation = self.generation(now);
        let plan = self.timeline_plan(generation).await?;
        let q = query.clone();
        tokio::task::spawn_blocking(move || plan.slot_tasks(&q, at, now))
            .await
            .map_err(|e| Error::Store(format!("listing a slot's tasks: {e}")))
    }

    /// The next `n` fire times of a task (none when paused).
    pub async fn preview(&self, id: &str, n: usize) -> Result<Vec<Timestamp>, Error> {
        let rec = self
            .inner
            .store
            .get(id)
            .await?
            .ok_or_else(|| Error::UnknownTask { id: id.to_string() })?;
        let Some(first) = rec.next_fire else {
            return Ok(Vec::new());
        };
        let mut out = vec![first];
        out.extend(rec.trigger.preview(first, rec.anchor, n.saturating_sub(1)));
        out.truncate(n);
        Ok(out)
    }

    /// The first `n` fire times a trigger would have if added now, with its description.
    pub fn preview_trigger(
        &self,
        spec: &TriggerSpec,
        n: usize,
    ) -> Result<(String, Vec<Timestamp>), Error> {
        let trigger = Trigger::new(spec, &self.inner.tz)?;
        let now = self.now();
        trigger.check_future(now)?;
        Ok((trigger.describe(), trigger.preview(now, now, n)))
    }

    /// A filtered page of runs, newest first.
    pub async fn runs(&self, query: &RunQuery) -> Result<Page<RunRecord>, Error> {
        self.inner.store.list_runs(query).await
    }

    /// One run.
    pub async fn run(&self, id: RunId) -> Result<RunRecord, Error> {
        let mut rec = self
            .inner
            .store
            .get_run(id)
            .await?
            .ok_or(Error::UnknownRun { id })?;
        // Running here: what it has logged so far, and its progress.
        if rec.status == RunStatus::Running {
            live::overlay(&self.inner, &mut rec);
        }
        Ok(rec)
    }

    /// The progress of running runs that told one ([`TaskContext::progress`]): this
    /// process's, and with a shared store every replica's as of its last tick; (run, task,
    /// job, progress), newest run first, at most 500.
    pub async fn live_progress(&self) -> Result<Vec<LiveProgress>, Error> {
        const MOST: usize = 500;
        let mut all = self.inner.live.progress();
        if self.inner.store.sharing().is_some() {
            let here: std::collections::HashSet<RunId> = all.iter().map(|p| p.0).collect();
            let elsewhere = self.inner.store.live_progress(MOST).await?;
            all.extend(elsewhere.into_iter().filter(|p| !here.contains(&p.0)));
        }
        all.sort_by_key(|p| std::cmp::Reverse(p.0));
        all.truncate(MOST);
        Ok(all)
    }

    /// Runs and failures over `window`: every run's (from the store's counters, every replica's
    /// with a shared store), or only those of a task or a job (from the kept run history,
    /// the newest 10,000 runs of the window at most).
    pub async fn series(
        &self,
        window: SeriesWindow,
        task: Option<&str>,
        job: Option<&str>,
    ) -> Result<Series, Error> {
        let now = self.now();
        if task.is_none() && job.is_none() {
            let counts = self.inner.store.series_counts(now, window).await?;
            return Ok(window.bucket(now, counts));
        }
        let counts = self.inner.store.series_of(now, window, task, job).await?;
        Ok(window.bucket(now, counts))
    }

    /// Runs and failures of each job over `window` (a day or a week, per hour), from counters
    /// every run adds to, like the overview's (so a job's day agrees with the overview's
    /// however little history is kept). `None` when the store keeps no such counters, or for
    /// the hour window.
    pub async fn job_series(
        &self,
        window: SeriesWindow,
    ) -> Result<Option<Vec<(String, Series)>>, Error> {
        let now = self.now();
        let Some(rows) = self.inner.store.job_series_counts(now, window).await? else {
            return Ok(None);
        };
        let mut by_job: std::collections::BTreeMap<String, Vec<(i64, WindowCounts)>> =
            std::collections::BTreeMap::new();
        for (job, minute, c) in rows {
            by_job.entry(job).or_default().push((minute, c));
        }
        Ok(Some(
            by_job
                .into_iter()
                .map(|(job, counts)| (job, window.bucket(now, counts)))
                .collect(),
        ))
    }

    /// Each job's tasks by state, from counts the store keeps as tasks change; `None` when
    /// it keeps none (see [`Store::job_task_counts`](crate::store::Store::job_task_counts)).
    pub async fn job_task_counts(&self) -> Result<Option<Vec<(String, StateCounts)>>, Error> {
        self.inner.store.job_task_counts().await
    }

    /// The durations in milliseconds of each job's newest finished runs scheduled since
    /// `since`, at most `per_job` a job.
    pub async fn job_run_durations(
        &self,
        jobs: &[String],
        since: Timestamp,
        per_job: u32,
    ) -> Result<Vec<(String, Vec<u64>)>, Error> {
        self.inner
            .store
            .job_run_durations(jobs, since, per_job)
            .await
    }

    /// Counts for an overview.
    pub async fn stats(&self) -> Result<Stats, Error> {
        self.inner.store.stats(self.now()).await
    }

    /// Duration percentiles of a task's kept runs.
    pub async fn durations(&self, id: &str) -> Result<DurationStats, Error> {
        self.inner.store.durations(id).await
    }

    /// The scheduler processes sharing this scheduler's store (live and stale), or just this
    /// one for a private store.
    pub async fn instances(&self) -> Result<Vec<InstanceInfo>, Error> {
        if self.inner.store.sharing().is_some() {
            return self.inner.store.instances().await;
        }
        let now = self.now();
        let started = *self
            .inner
            .started_at
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        Ok(vec![InstanceInfo {
            id: "local".into(),
            host: instance::hostname(),
            pid: std::process::id(),
            started_at: started.unwrap_or(now),
            heartbeat_at: now,
            running: self.inner.in_flight.load(Ordering::Acquire) as u64,
            jobs: self.jobs(),
            stale: false,
            this: true,
        }])
    }

    /// Looks for overdue, long-running, failing and no-success tasks now, and for open
    /// alerts whose condition ended, as every process does every
    /// [`AlertSettings::check_every`]; raises and resolves them (telling `on_alert` hooks and
    /// subscribers of what this call opened or closed) and returns what it told.
    pub async fn check_alerts(&self) -> Result<AlertCheck, Error> {
        alerts::check(&self.inner).await
    }

    /// The open alerts of task `task_id`, or of every task (every replica's, with a shared
    /// store), oldest first, at most 1,000.
    pub async fn alerts(&self, task_id: Option<&str>) -> Result<Vec<Alert>, Error> {
        self.inner.store.alerts(task_id).await
    }

    /// How many alerts are open, by kind: all of them, beyond the 1,000 listed.
    pub async fn alert_counts(&self) -> Result<Vec<(AlertKind, u64)>, Error> {
        self.inner.store.alert_counts().await
    }

    /// Subscribes to change events.
    pub fn subscribe(&self) -> EventStream {
        self.inner.events.subscribe()
    }

    fn info(&self, rec: TaskRecord) -> TaskInfo {
        let registered = self.inner.jobs.contains(&rec.task.job);
        TaskInfo::new(rec, registered)
    }

    /// Starts the timer loop on the current tokio runtime.
    ///
    /// Errors when called outside a runtime, twice, or after shutdown.
    pub fn start(&self) -> Result<(), Error> {
        let handle = tokio::runtime::Handle::try_current()
            .map_err(|_| Error::Start("no tokio runtime; call start() from within one".into()))?;
        let mut started = Ok(());
        self.inner.lifecycle.send_if_modified(|l| match l {
            Lifecycle::Created => {
                *l = Lifecycle::Running;
                true
            }
            Lifecycle::Running => {
                started = Err(Error::Start("already started".into()));
                false
            }
            _ => {
                started = Err(Error::ShuttingDown);
                false
            }
        });
        started?;
        *self
            .inner
            .started_at
            .lock()
            .unwrap_or_else(|p| p.into_inner()) = Some(self.now());
        let inner = self.inner.clone();
        let timer = handle.spawn(timer::run(inner));
        *self.inner.timer.lock().unwrap_or_else(|p| p.into_inner()) = Some(timer);
        if let Some(sharing) = self.inner.store.sharing() {
            let beats = handle.spawn(instance::heartbeats(self.inner.clone(), sharing));
            *self
                .inner
                .heartbeat
                .lock()
                .unwrap_or_else(|p| p.into_inner()) = Some(beats);
            if let Some(notices) = self.inner.store.notices() {
                handle.spawn(instance::relay(self.inner.clone(), notices));
            }
        }
        self.inner.hooks.start(self.inner.events.subscribe());
        handle.spawn(alerts::watch(self.inner.clone(), self.now()));
        handle.spawn(live::publish(self.inner.clone()));
        tracing::info!(jobs = self.inner.jobs.names().len(), "scheduler started");
        Ok(())
    }

    /// Stops firing, asks running jobs to stop ([`TaskContext::cancelled`]), waits up to
    /// `grace` (on the scheduler's clock) for them, then aborts the rest and records them as
    /// cancelled. Safe to call more than once.
    pub async fn shutdown(&self, grace: Duration) {
        let was = self.inner.lifecycle.send_replace(Lifecycle::ShuttingDown);
        if matches!(was, Lifecycle::Stopped) {
            self.inner.lifecycle.send_replace(Lifecycle::Stopped);
            return;
        }
        tracing::info!(grace = %duration::format(grace), "scheduler shutting down");
        self.inner.events.send(Event::ShuttingDown);
        self.inner.wake.notify_one();
        let timer = self
            .inner
            .timer
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take();
        if let Some(timer) = timer {
            let _ = timer.await;
        }
        self.inner.cancel.send_replace(true);
        let deadline = clock::add(self.now(), grace);
        tokio::select! {
            () = self.inner.drained() => {}
            () = self.inner.clock.sleep_until(deadline) => {
                let left = self.inner.in_flight.load(Ordering::Acquire);
                tracing::warn!(runs = left, "shutdown grace period over; aborting runs still going");
            }
        }
        self.inner.abort.send_replace(true);
        // Aborted runs record themselves as cancelled right away; a job blocking its thread
        // cannot be aborted, so do not wait on it forever.
        let drained = tokio::time::timeout(Duration::from_secs(5), self.inner.drained()).await;
        if drained.is_err() {
            tracing::error!("runs did not end after abort; a job may be blocking its thread");
        }
        let beats = self
            .inner
            .heartbeat
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take();
        if let Some(beats) = beats {
            let _ = tokio::time::timeout(Duration::from_secs(5), beats).await;
        }
        self.inner.lifecycle.send_replace(Lifecycle::Stopped);
        tracing::info!("scheduler stopped");
    }

    /// Waits until the timer loop is asleep until after the clock's current reading and no
    /// fire is being handled: everything due has been handled, except fires the timer slack
    /// holds back (below). Meant for tests with a [`ManualClock`]: advance the clock,
    /// then `settled().await`, then look. Returns at once when the scheduler is not running.
    ///
    /// A fire due within [`SchedulerBuilder::timer_slack`] of the timer's last wake-up waits
    /// for the clock to pass the slack; a test that steps the clock by less than that builds
    /// the scheduler with `timer_slack(Duration::ZERO)`.
    pub async fn settled(&self) {
        let mut activity = self.inner.activity.subscribe();
        let mut life = self.inner.lifecycle.subscribe();
        loop {
            if self.lifecycle() != Lifecycle::Running {
                return;
            }
            let now = self.now();
            let idle = {
                let a = activity.borrow_and_update();
                self.inner.in_flight.load(Ordering::Acquire) == 0
                    && matches!(a.asleep_until, Some(d) if d.is_none_or(|d| d > now))
            };
            if idle {
                return;
            }
            tokio::select! {
                _ = activity.changed() => {}
                _ = life.changed() => {}
            }
        }
    }
}
