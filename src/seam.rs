//! [`TaskBackend`]: everything the dashboard needs from a scheduler, and nothing more.

use std::fmt;
use std::future::Future;
use std::pin::Pin;

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use crate::scheduler::{
    DurationStats, Error, EventStream, InstanceInfo, Lifecycle, Page, Readiness, ReadinessCheck,
    RunId, RunQuery, RunRecord, Scheduler, Series, SeriesWindow, Stats, Task, TaskInfo, TaskQuery,
    TriggerSpec,
};

/// Each job's run durations in milliseconds: `(job, durations)`.
pub type JobDurations = Vec<(String, Vec<u64>)>;

/// The future type of [`TaskBackend`] methods.
pub type BackendFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T, BackendError>> + Send + 'a>>;

/// What kind of failure a [`BackendError`] is; decides the HTTP status in the web layer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Invalid,
    NotFound,
    Conflict,
    Unsupported,
    Unavailable,
}

/// A backend operation failed. The message is for people and says what to fix.
#[derive(Clone, PartialEq, Eq)]
pub struct BackendError {
    kind: Kind,
    field: Option<&'static str>,
    message: String,
}

impl BackendError {
    /// Bad input (HTTP 400).
    pub fn invalid(message: impl Into<String>) -> Self {
        Self::new(Kind::Invalid, message)
    }
    /// Bad input in a named field (HTTP 400, the field is reported).
    pub fn invalid_field(field: &'static str, message: impl Into<String>) -> Self {
        BackendError {
            field: Some(field),
            ..Self::new(Kind::Invalid, message)
        }
    }
    /// Unknown id (HTTP 404).
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(Kind::NotFound, message)
    }
    /// Conflicts with the current state (HTTP 409).
    pub fn conflict(message: impl Into<String>) -> Self {
        Self::new(Kind::Conflict, message)
    }
    /// The backend does not offer this operation (HTTP 501).
    pub fn unsupported(message: impl Into<String>) -> Self {
        Self::new(Kind::Unsupported, message)
    }
    /// The backend cannot answer now, e.g. its database is down (HTTP 503).
    pub fn unavailable(message: impl Into<String>) -> Self {
        Self::new(Kind::Unavailable, message)
    }
    fn new(kind: Kind, message: impl Into<String>) -> Self {
        BackendError {
            kind,
            field: None,
            message: message.into(),
        }
    }

    /// The message.
    pub fn message(&self) -> &str {
        &self.message
    }
    /// The input field at fault, when known (`"id"`, `"trigger"`, `"options.timeout"`, …).
    pub fn field(&self) -> Option<&'static str> {
        self.field
    }
    /// Bad input.
    pub fn is_invalid(&self) -> bool {
        self.kind == Kind::Invalid
    }
    /// Unknown id.
    pub fn is_not_found(&self) -> bool {
        self.kind == Kind::NotFound
    }
    /// Conflict with current state.
    pub fn is_conflict(&self) -> bool {
        self.kind == Kind::Conflict
    }
    /// Not offered by this backend.
    pub fn is_unsupported(&self) -> bool {
        self.kind == Kind::Unsupported
    }
    /// Temporarily unavailable.
    pub fn is_unavailable(&self) -> bool {
        self.kind == Kind::Unavailable
    }
    /// A short machine-readable code: `invalid`, `not_found`, `conflict`, `unsupported`,
    /// `unavailable`.
    pub fn code(&self) -> &'static str {
        match self.kind {
            Kind::Invalid => "invalid",
            Kind::NotFound => "not_found",
            Kind::Conflict => "conflict",
            Kind::Unsupported => "unsupported",
            Kind::Unavailable => "unavailable",
        }
    }
}

impl fmt::Display for BackendError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

debug_is_display!(BackendError);

impl std::error::Error for BackendError {}

impl From<Error> for BackendError {
    fn from(e: Error) -> Self {
        let message = e.to_string();
        match &e {
            Error::InvalidTask { field, .. } => BackendError::invalid_field(field, message),
            Error::Trigger(_) => BackendError::invalid_field("trigger", message),
            Error::UnknownJob { .. } => BackendError::invalid_field("job", message),
            _ if e.is_not_found() => BackendError::not_found(message),
            _ if e.is_conflict() => BackendError::conflict(message),
            Error::Start(_) => BackendError::conflict(message),
            _ => BackendError::unavailable(message),
        }
    }
}

/// A task with what its detail page shows beyond the list row.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TaskDetail {
    /// The task.
    pub info: TaskInfo,
    /// Its next fire times (up to 10).
    pub upcoming: Vec<Timestamp>,
    /// Duration percentiles of its kept runs.
    pub durations: DurationStats,
}

/// A trigger's description and first fire times, for forms.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TriggerPreview {
    /// The trigger in words.
    pub text: String,
    /// Its first fire times from now.
    pub fires: Vec<Timestamp>,
}

/// The scheduler as a whole.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SchedulerStatus {
    /// Where it is in its life.
    pub lifecycle: Lifecycle,
    /// Paused as a whole.
    pub paused: bool,
    /// Its default zone, as an IANA name.
    pub timezone: String,
    /// Its clock reading.
    pub now: Timestamp,
}

/// An action on many tasks at once.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BulkAction {
    /// Run each now.
    Run,
    /// Pause each.
    Pause,
    /// Resume each.
    Resume,
    /// Remove each.
    Remove,
}

impl BulkAction {
    /// The name used in URLs (`run`, `pause`, `resume`, `remove`).
    pub fn as_str(self) -> &'static str {
        match self {
            BulkAction::Run => "run",
            BulkAction::Pause => "pause",
            BulkAction::Resume => "resume",
            BulkAction::Remove => "remove",
        }
    }
}

impl std::str::FromStr for BulkAction {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "run" => Ok(BulkAction::Run),
            "pause" => Ok(BulkAction::Pause),
            "resume" => Ok(BulkAction::Resume),
            "remove" => Ok(BulkAction::Remove),
            _ => Err(format!(
                "unknown action {s:?}; expected run, pause, resume or remove"
            )),
        }
    }
}

/// What a bulk action did to each task.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BulkOutcome {
    /// Ids it worked on.
    pub done: Vec<String>,
    /// Ids it failed on, with why.
    pub failed: Vec<(String, String)>,
}

/// Everything a dashboard needs from a scheduler. Object-safe: use `Arc<dyn TaskBackend>`.
///
/// The web layer talks to the scheduler only through this trait, so the dashboard can sit on
/// another scheduler too: implement the trait over that scheduler's own API, mapping its tasks
/// and runs into the plain data types here ([`TaskInfo`], [`RunRecord`], [`Stats`], …), and
/// hand it to the dashboard. [`crate::Scheduler`] implements it.
///
/// # Adapting another scheduler
/// ```
/// use taskdeck::*;
///
/// /// A read-only view of some other system's jobs.
/// struct Legacy;
///
/// impl TaskBackend for Legacy {
///     fn list<'a>(&'a self, q: &'a TaskQuery) -> BackendFuture<'a, Page<TaskInfo>> {
///         Box::pin(async move {
///             Ok(Page { items: vec![], total: 0, estimated: false, page: q.page.max(1), per_page: 50, more: None })
///         })
///     }
///     fn get<'a>(&'a self, id: &'a str) -> BackendFuture<'a, TaskDetail> {
///         Box::pin(async move { Err(BackendError::not_found(format!("no task {id:?}"))) })
///     }
///     // … the other methods likewise; mutating ones may answer
///     // `BackendError::unsupported("read-only backend")`.
/// #   fn create(&self, _: Task) -> BackendFuture<'_, TaskInfo> { unsupported() }
/// #   fn update(&self, _: Task) -> BackendFuture<'_, TaskInfo> { unsupported() }
/// #   fn remove<'a>(&'a self, _: &'a str) -> BackendFuture<'a, ()> { unsupported() }
/// #   fn pause<'a>(&'a self, _: &'a str) -> BackendFuture<'a, TaskInfo> { unsupported() }
/// #   fn resume<'a>(&'a self, _: &'a str) -> BackendFuture<'a, TaskInfo> { unsupported() }
/// #   fn run_now<'a>(&'a self, _: &'a str) -> BackendFuture<'a, RunRecord> { unsupported() }
/// #   fn runs<'a>(&'a self, _: &'a RunQuery) -> BackendFuture<'a, Page<RunRecord>> { unsupported() }
/// #   fn run(&self, _: RunId) -> BackendFuture<'_, RunRecord> { unsupported() }
/// #   fn stats(&self) -> BackendFuture<'_, Stats> { Box::pin(async { Ok(Stats::default()) }) }
/// #   fn subscribe(&self) -> EventStream { EventStream::closed() }
/// #   fn preview<'a>(&'a self, _: &'a TriggerSpec, _: usize) -> BackendFuture<'a, TriggerPreview> { unsupported() }
/// #   fn jobs(&self) -> BackendFuture<'_, Vec<String>> { Box::pin(async { Ok(vec![]) }) }
/// #   fn status(&self) -> BackendFuture<'_, SchedulerStatus> { Box::pin(async { Ok(SchedulerStatus { lifecycle: Lifecycle::Running, paused: false, timezone: "UTC".into(), now: jiff::Timestamp::UNIX_EPOCH }) }) }
/// #   fn set_paused(&self, _: bool) -> BackendFuture<'_, ()> { unsupported() }
/// }
/// # fn unsupported<T: Send + 'static>() -> BackendFuture<'static, T> { Box::pin(async { Err(BackendError::unsupported("read-only")) }) }
/// ```
pub trait TaskBackend: Send + Sync + 'static {
    /// A filtered, sorted page of tasks.
    fn list<'a>(&'a self, query: &'a TaskQuery) -> BackendFuture<'a, Page<TaskInfo>>;
    /// One task with its next fires and duration percentiles.
    fn get<'a>(&'a self, id: &'a str) -> BackendFuture<'a, TaskDetail>;
    /// Adds a task.
    fn create(&self, task: Task) -> BackendFuture<'_, TaskInfo>;
    /// Replaces a task's definition (found by `task.id`).
    fn update(&self, task: Task) -> BackendFuture<'_, TaskInfo>;
    /// Removes a task.
    fn remove<'a>(&'a self, id: &'a str) -> BackendFuture<'a, ()>;
    /// Pauses a task.
    fn pause<'a>(&'a self, id: &'a str) -> BackendFuture<'a, TaskInfo>;
    /// Resumes a task.
    fn resume<'a>(&'a self, id: &'a str) -> BackendFuture<'a, TaskInfo>;
    /// Runs a task now; the run as begun (running, or skipped by `max_instances`).
    fn run_now<'a>(&'a self, id: &'a str) -> BackendFuture<'a, RunRecord>;
    /// Runs a task now with `args` in place of its own, for this run only. Default: not
    /// offered (the dashboard hides "Run now with…").
    fn run_now_with<'a>(
        &'a self,
        _id: &'a str,
        _args: serde_json::Value,
    ) -> BackendFuture<'a, RunRecord> {
        ready(Err(BackendError::unsupported(
            "this backend cannot run a task with other arguments",
        )))
    }
    /// Whether [`TaskBackend::run_now_with`] is offered. Default: no.
    fn runs_with_args(&self) -> bool {
        false
    }
    /// The job of task `id`, `None` for an unknown task: what the dashboard's narrowing hook
    /// is told about a target. Default: read through [`TaskBackend::get`].
    fn job_of<'a>(&'a self, id: &'a str) -> BackendFuture<'a, Option<String>> {
        Box::pin(async move {
            match self.get(id).await {
                Ok(d) => Ok(Some(d.info.task.job.clone())),
                Err(e) if e.is_not_found() => Ok(None),
                Err(e) => Err(e),
            }
        })
    }
    /// The progress of running runs ([`Scheduler::live_progress`]): (run, task, job,
    /// progress). Default: none.
    fn live_progress(&self) -> BackendFuture<'_, Vec<crate::LiveProgress>> {
        ready(Ok(Vec::new()))
    }
    /// Upcoming fires per slot ([`Scheduler::timeline`]). Default: not supported (the
    /// timeline page says so).
    fn timeline<'a>(
        &'a self,
        _query: &'a crate::TimelineQuery,
    ) -> BackendFuture<'a, std::sync::Arc<crate::Timeline>> {
        ready(Err(BackendError::unsupported(
            "this backend does not work out upcoming fires",
        )))
    }
    /// The tasks that fire in one slot of a timeline ([`Scheduler::timeline_slot`]); `None`
    /// when the window does not hold `at`. Default: not supported.
    fn timeline_slot<'a>(
        &'a self,
        _query: &'a crate::TimelineQuery,
        _at: Timestamp,
    ) -> BackendFuture<'a, Option<crate::SlotTasks>> {
        ready(Err(BackendError::unsupported(
            "this backend does not work out upcoming fires",
        )))
    }
    /// Applies `action` to each id, collecting per-id results.
    fn bulk<'a>(&'a self, action: BulkAction, ids: &'a [String]) -> BackendFuture<'a, BulkOutcome> {
        Box::pin(async move {
            let mut out = BulkOutcome::default();
            for id in ids {
                let r = match action {
                    BulkAction::Run => self.run_now(id).await.map(drop),
                    BulkAction::Pause => self.pause(id).await.map(drop),
                    BulkAction::Resume => self.resume(id).await.map(drop),
                    BulkAction::Remove => self.remove(id).await,
                };
                match r {
                    Ok(()) => out.done.push(id.clone()),
                    Err(e) => out.failed.push((id.clone(), e.message)),
                }
            }
            Ok(out)
        })
    }
    /// A filtered page of runs, newest first.
    fn runs<'a>(&'a self, query: &'a RunQuery) -> BackendFuture<'a, Page<RunRecord>>;
    /// One run.
    fn run(&self, id: RunId) -> BackendFuture<'_, RunRecord>;
    /// Counts for the overview.
    fn stats(&self) -> BackendFuture<'_, Stats>;
    /// Change events.
    fn subscribe(&self) -> EventStream;
    /// Describes a trigger and previews its first `n` fires, checking it.
    fn preview<'a>(&'a self, spec: &'a TriggerSpec, n: usize) -> BackendFuture<'a, TriggerPreview>;
    /// Names of the jobs tasks may use.
    fn jobs(&self) -> BackendFuture<'_, Vec<String>>;
    /// The jobs stored tasks name, registered anywhere or not, sorted. Default: none known.
    fn task_jobs(&self) -> BackendFuture<'_, Vec<String>> {
        Box::pin(std::future::ready(Ok(Vec::new())))
    }
    /// The scheduler as a whole.
    fn status(&self) -> BackendFuture<'_, SchedulerStatus>;
    /// Pauses (`true`) or resumes (`false`) the whole scheduler.
    fn set_paused(&self, paused: bool) -> BackendFuture<'_, ()>;
    /// This process's own figures in the Prometheus text format, added up across replicas
    /// by whoever scrapes them (`/metrics` puts them first). Default: none.
    fn prometheus_metrics(&self) -> String {
        String::new()
    }
    /// Whether the scheduler behind this backend can do its work, answered within about
    /// `bound` (`GET /health/ready`). Default: from [`status`](Self::status): ready unless
    /// it fails, is late, or the scheduler is shutting down.
    fn readiness(&self, bound: std::time::Duration) -> BackendFuture<'_, Readiness> {
        Box::pin(async move {
            let detail = match tokio::time::timeout(bound, self.status()).await {
                Ok(Ok(s)) => match s.lifecycle {
                    Lifecycle::ShuttingDown | Lifecycle::Stopped => {
                        Err(format!("{:?}", s.lifecycle).to_lowercase())
                    }
                    _ => Ok("ok".to_string()),
                },
                Ok(Err(e)) => {
                    // The answer is public: the error goes to the log only.
                    tracing::warn!(error = %e, "readiness: the backend failed to answer");
                    Err("failed to answer (the error is logged)".to_string())
                }
                Err(_) => Err(format!("did not answer within {} ms", bound.as_millis())),
            };
            Ok(Readiness::from_checks(vec![ReadinessCheck {
                name: "scheduler",
                ok: detail.is_ok(),
                detail: detail.unwrap_or_else(|e| e),
            }]))
        })
    }
    /// The scheduler processes behind this backend, for the Instances page. Default: none
    /// known (the page says so).
    fn instances(&self) -> BackendFuture<'_, Vec<InstanceInfo>> {
        Box::pin(std::future::ready(Ok(Vec::new())))
    }
    /// The open alerts of one task or of all, oldest first, at most 1,000 (the overview's
    /// "Needs attention", a task's page). Default: none.
    fn alerts<'a>(
        &'a self,
        _task_id: Option<&'a str>,
    ) -> BackendFuture<'a, Vec<crate::scheduler::Alert>> {
        Box::pin(std::future::ready(Ok(Vec::new())))
    }
    /// How many alerts are open, by kind, all of them (the overview's count, `/metrics`).
    /// Default: counted from [`TaskBackend::alerts`].
    fn alert_counts(&self) -> BackendFuture<'_, Vec<(crate::scheduler::AlertKind, u64)>> {
        Box::pin(async move {
            let all = self.alerts(None).await?;
            Ok(crate::scheduler::AlertKind::tally(
                all.iter().map(|a| a.kind),
            ))
        })
    }
    /// Runs and failures over a window: all, or a task's or a job's. Default: not offered
    /// (the charts say so).
    fn series<'a>(
        &'a self,
        _window: SeriesWindow,
        _task: Option<&'a str>,
        _job: Option<&'a str>,
    ) -> BackendFuture<'a, Series> {
        ready(Err(BackendError::unsupported(
            "this backend keeps no counts over time",
        )))
    }
    /// Each job's runs and failures over a window (a day or a week), from counters every run
    /// adds to. Default: `None` (the jobs page counts the kept runs and says so).
    fn job_series(
        &self,
        _window: SeriesWindow,
    ) -> BackendFuture<'_, Option<Vec<(String, Series)>>> {
        ready(Ok(None))
    }
    /// Each job's tasks by state, from counts kept as tasks change. Default: `None` (the
    /// jobs page counts each job's tasks through [`TaskBackend::list`]).
    fn job_task_counts(&self) -> BackendFuture<'_, Option<Vec<(String, crate::StateCounts)>>> {
        ready(Ok(None))
    }
    /// The durations in milliseconds of each job's newest finished runs scheduled since
    /// `since`, at most `per_job` a job. Default: `None` (the jobs page reads them through
    /// [`TaskBackend::runs`]).
    fn job_run_durations<'a>(
        &'a self,
        _jobs: &'a [String],
        _since: jiff::Timestamp,
        _per_job: u32,
    ) -> BackendFuture<'a, Option<JobDurations>> {
        ready(Ok(None))
    }
    /// Asks a running run to stop; `by` names who asked. Default: not offered.
    fn cancel_run<'a>(&'a self, _id: RunId, _by: &'a str) -> BackendFuture<'a, RunRecord> {
        ready(Err(BackendError::unsupported(
            "this backend cannot cancel runs",
        )))
    }
    /// Starts a retry of a finished run; `None` when another process starts it. Default: not
    /// offered.
    fn retry_run(&self, _id: RunId) -> BackendFuture<'_, Option<RunRecord>> {
        ready(Err(BackendError::unsupported(
            "this backend cannot retry runs",
        )))
    }
}

/// An answer known at once, as a backend future.
fn ready<'a, T: Send + 'a>(r: Result<T, BackendError>) -> BackendFuture<'a, T> {
    Box::pin(std::future::ready(r))
}

fn boxed<'a, T, F>(f: F) -> BackendFuture<'a, T>
where
    F: Future<Output = Result<T, Error>> + Send + 'a,
{
    Box::pin(async move { f.await.map_err(BackendError::from) })
}

impl TaskBackend for Scheduler {
    fn list<'a>(&'a self, query: &'a TaskQuery) -> BackendFuture<'a, Page<TaskInfo>> {
        boxed(Scheduler::list(self, query))
    }

    fn get<'a>(&'a self, id: &'a str) -> BackendFuture<'a, TaskDetail> {
        boxed(async move {
            let info = Scheduler::get(self, id).await?;
            let upcoming = self.preview(id, 10).await?;
            let durations = self.durations(id).await?;
            Ok(TaskDetail {
                info,
                upcoming,
                durations,
            })
        })
    }

    fn create(&self, task: Task) -> BackendFuture<'_, TaskInfo> {
        boxed(self.add(task))
    }

    fn update(&self, task: Task) -> BackendFuture<'_, TaskInfo> {
        boxed(Scheduler::update(self, task))
    }

    fn remove<'a>(&'a self, id: &'a str) -> BackendFuture<'a, ()> {
        boxed(Scheduler::remove(self, id))
    }

    fn pause<'a>(&'a self, id: &'a str) -> BackendFuture<'a, TaskInfo> {
        boxed(Scheduler::pause(self, id))
    }

    fn resume<'a>(&'a self, id: &'a str) -> BackendFuture<'a, TaskInfo> {
        boxed(Scheduler::resume(self, id))
    }

    fn run_now<'a>(&'a self, id: &'a str) -> BackendFuture<'a, RunRecord> {
        boxed(Scheduler::run_now(self, id))
    }

    fn run_now_with<'a>(
        &'a self,
        id: &'a str,
        args: serde_json::Value,
    ) -> BackendFuture<'a, RunRecord> {
        boxed(Scheduler::run_now_with(self, id, args))
    }

    fn runs_with_args(&self) -> bool {
        true
    }

    fn job_of<'a>(&'a self, id: &'a str) -> BackendFuture<'a, Option<String>> {
        boxed(Scheduler::job_of(self, id))
    }

    fn live_progress(&self) -> BackendFuture<'_, Vec<crate::LiveProgress>> {
        boxed(Scheduler::live_progress(self))
    }

    fn timeline<'a>(
        &'a self,
        query: &'a crate::TimelineQuery,
    ) -> BackendFuture<'a, std::sync::Arc<crate::Timeline>> {
        boxed(Scheduler::timeline(self, query))
    }

    fn timeline_slot<'a>(
        &'a self,
        query: &'a crate::TimelineQuery,
        at: Timestamp,
    ) -> BackendFuture<'a, Option<crate::SlotTasks>> {
        boxed(Scheduler::timeline_slot(self, query, at))
    }

    fn runs<'a>(&'a self, query: &'a RunQuery) -> BackendFuture<'a, Page<RunRecord>> {
        boxed(Scheduler::runs(self, query))
    }

    fn run(&self, id: RunId) -> BackendFuture<'_, RunRecord> {
        boxed(Scheduler::run(self, id))
    }

    fn cancel_run<'a>(&'a self, id: RunId, by: &'a str) -> BackendFuture<'a, RunRecord> {
        boxed(Scheduler::cancel_run(self, id, by))
    }

    fn series<'a>(
        &'a self,
        window: SeriesWindow,
        task: Option<&'a str>,
        job: Option<&'a str>,
    ) -> BackendFuture<'a, Series> {
        boxed(Scheduler::series(self, window, task, job))
    }

    fn retry_run(&self, id: RunId) -> BackendFuture<'_, Option<RunRecord>> {
        boxed(Scheduler::retry_run(self, id))
    }

    fn stats(&self) -> BackendFuture<'_, Stats> {
        boxed(Scheduler::stats(self))
    }

    fn subscribe(&self) -> EventStream {
        Scheduler::subscribe(self)
    }

    /// Worked out on tokio's blocking threads: a cron expression can take a long search (one
    /// that never fires, tens of milliseconds), which must not hold an async thread.
    fn preview<'a>(&'a self, spec: &'a TriggerSpec, n: usize) -> BackendFuture<'a, TriggerPreview> {
        let this = self.clone();
        let spec = spec.clone();
        Box::pin(async move {
            let work = move || {
                this.preview_trigger(&spec, n)
                    .map(|(text, fires)| TriggerPreview { text, fires })
                    .map_err(BackendError::from)
            };
            match tokio::runtime::Handle::try_current() {
                Ok(rt) => rt.spawn_blocking(work).await.unwrap_or_else(|_| {
                    Err(BackendError::unavailable(
                        "the preview could not be worked out",
                    ))
                }),
                Err(_) => work(),
            }
        })
    }

    fn jobs(&self) -> BackendFuture<'_, Vec<String>> {
        ready(Ok(Scheduler::jobs(self)))
    }

    fn task_jobs(&self) -> BackendFuture<'_, Vec<String>> {
        Box::pin(async move { Scheduler::task_jobs(self).await.map_err(BackendError::from) })
    }

    fn status(&self) -> BackendFuture<'_, SchedulerStatus> {
        ready(Ok(SchedulerStatus {
            lifecycle: self.lifecycle(),
            paused: self.is_paused(),
            timezone: self.timezone().iana_name().unwrap_or("UTC").to_string(),
            now: self.now(),
        }))
    }

    fn set_paused(&self, paused: bool) -> BackendFuture<'_, ()> {
        if paused {
            self.pause_all();
        } else {
            self.resume_all();
        }
        ready(Ok(()))
    }

    fn instances(&self) -> BackendFuture<'_, Vec<InstanceInfo>> {
        boxed(Scheduler::instances(self))
    }

    fn alerts<'a>(
        &'a self,
        task_id: Option<&'a str>,
    ) -> BackendFuture<'a, Vec<crate::scheduler::Alert>> {
        boxed(Scheduler::alerts(self, task_id))
    }

    fn alert_counts(&self) -> BackendFuture<'_, Vec<(crate::scheduler::AlertKind, u64)>> {
        boxed(Scheduler::alert_counts(self))
    }

    fn job_series(&self, window: SeriesWindow) -> BackendFuture<'_, Option<Vec<(String, Series)>>> {
        boxed(Scheduler::job_series(self, window))
    }

    fn job_task_counts(&self) -> BackendFuture<'_, Option<Vec<(String, crate::StateCounts)>>> {
        boxed(Scheduler::job_task_counts(self))
    }

    fn job_run_durations<'a>(
        &'a self,
        jobs: &'a [String],
        since: jiff::Timestamp,
        per_job: u32,
    ) -> BackendFuture<'a, Option<JobDurations>> {
        Box::pin(async move {
            Ok(Some(
                Scheduler::job_run_durations(self, jobs, since, per_job).await?,
            ))
        })
    }

    fn readiness(&self, bound: std::time::Duration) -> BackendFuture<'_, Readiness> {
        Box::pin(async move { Ok(Scheduler::readiness(self, bound).await) })
    }

    fn prometheus_metrics(&self) -> String {
        Scheduler::prometheus_metrics(self)
    }
}
