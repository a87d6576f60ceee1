//! Where tasks, their state and their runs live: the [`Store`] trait.
//!
//! The scheduler keeps nothing of its own about tasks; every read and change goes through a
//! store, so a shared store makes several scheduler processes act as one. The operations are
//! shaped for that: [`Store::claim_due`] hands out each due fire exactly once and advances the
//! task's next fire time in the same step, and [`Store::begin_run`] checks `max_instances` and
//! counts the run in the same step. A database store implements them with row locks
//! (`SELECT … FOR UPDATE SKIP LOCKED`); [`crate::store::MemoryStore`] with one mutex.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use jiff::tz::TimeZone;
use jiff::Timestamp;

use tokio::sync::broadcast;

use super::alerts::{Alert, AlertScan, AlertSweep};
use super::error::Error;
use super::events::Event;
use super::history::{RunId, RunQuery, RunRecord, RunStatus};
use super::model::{
    DurationStats, InstanceInfo, LastRun, Page, Stats, TaskQuery, TaskState, WindowCounts,
};
use super::task::Task;
use super::trigger::Trigger;

/// A running run as [`Store::live_runs`] writes it: its id, kept lines, count of lines not
/// kept, and progress.
pub type LiveRunState = (
    RunId,
    Vec<super::history::LogLine>,
    u32,
    Option<super::history::Progress>,
);

/// The future type of every [`Store`] method.
pub type StoreFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T, Error>> + Send + 'a>>;

/// A task as stored: its definition plus the scheduler's state for it.
#[derive(Clone, Debug)]
pub struct TaskRecord {
    /// The definition (shared: listing and claiming do not copy it).
    pub task: Arc<Task>,
    /// The compiled trigger.
    pub trigger: Trigger,
    /// When the current schedule began (added, resumed-from for intervals, or trigger changed).
    pub anchor: Timestamp,
    /// When the task was added.
    pub created_at: Timestamp,
    /// When it was last changed.
    pub updated_at: Timestamp,
    /// When it fires next; `None` when paused or exhausted.
    pub next_fire: Option<Timestamp>,
    /// Its latest finished run.
    pub last_run: Option<LastRun>,
    /// Runs going now.
    pub running: u32,
}

impl TaskRecord {
    /// Where the task stands.
    pub fn state(&self) -> TaskState {
        if self.running > 0 {
            TaskState::Running
        } else if self.task.paused {
            TaskState::Paused
        } else if self.next_fire.is_none() {
            TaskState::Completed
        } else {
            TaskState::Scheduled
        }
    }
}

/// Most fire times listed for one claim; beyond it they are only counted.
pub(crate) const MAX_CATCHUP: usize = 1000;

impl TaskRecord {
    /// Replaces the definition (keeping the paused flag); a changed trigger restarts the
    /// schedule at `now`. What [`Store::update`] does to the stored record.
    pub(crate) fn apply_update(&mut self, task: Task, trigger: Trigger, now: Timestamp) {
        let paused = self.task.paused;
        if self.task.trigger != task.trigger {
            self.anchor = now;
        }
        self.task = Arc::new(Task { paused, ..task });
        self.trigger = trigger;
        self.updated_at = now;
        self.next_fire = if paused {
            None
        } else {
            self.trigger.next_after(now, self.anchor)
        };
    }

    /// Pauses or resumes; resuming schedules the next fire after `now`. What
    /// [`Store::set_paused`] does to the stored record.
    pub(crate) fn apply_paused(&mut self, paused: bool, now: Timestamp) {
        let was = self.task.paused;
        if was != paused {
            Arc::make_mut(&mut self.task).paused = paused;
            self.updated_at = now;
        }
        if paused {
            self.next_fire = None;
        } else if was {
            self.next_fire = self.trigger.next_after(now, self.anchor);
        }
    }

    /// The fires due at `now` starting with `first` (the stored next fire), and the next fire
    /// after them. Past [`MAX_CATCHUP`] fires the rest are skipped (`truncated`).
    pub(crate) fn due_fires(
        &self,
        first: Timestamp,
        now: Timestamp,
    ) -> (DueFire, Option<Timestamp>) {
        let mut fires = vec![first];
        let mut truncated = false;
        let mut cursor = first;
        let next = loop {
            match self.trigger.next_after(cursor, self.anchor) {
                // The fire `first` stands for, at a finer precision than the store keeps
                // (PostgreSQL keeps microseconds; a one-off date may carry nanoseconds): the
                // same fire, not another one.
                Some(t) if t.as_microsecond() == first.as_microsecond() => cursor = t,
                Some(t) if t <= now => {
                    if fires.len() < MAX_CATCHUP {
                        fires.push(t);
                        cursor = t;
                    } else {
                        // Too many to list: jump straight past `now`.
                        truncated = true;
                        break self.trigger.next_after(now, self.anchor);
                    }
                }
                other => break other,
            }
        };
        let due = DueFire {
            task: self.task.clone(),
            fires,
            truncated,
        };
        (due, next)
    }
}

/// A due fire handed out by [`Store::claim_due`].
#[derive(Clone, Debug)]
pub struct DueFire {
    /// The task's definition at claim time.
    pub task: Arc<Task>,
    /// The scheduled times that came due, oldest first (at least one).
    pub fires: Vec<Timestamp>,
    /// More fires came due than are listed (a long outage of a fast trigger); the rest were
    /// passed over.
    pub truncated: bool,
}

/// The minute (seconds since the epoch / 60) a stored run counts in, and what it adds there.
pub(crate) fn window_delta(run: &RunRecord) -> (i64, WindowCounts) {
    let at = run.finished_at.unwrap_or(run.scheduled_at);
    let mut d = WindowCounts::default();
    match run.status {
        RunStatus::Missed | RunStatus::Skipped => d.not_run = 1,
        RunStatus::Running => {}
        st => {
            d.runs = 1;
            d.failures = u64::from(st.is_failure());
        }
    }
    (at.as_second().div_euclid(60), d)
}

/// How a store shared by several processes wants the scheduler to keep in touch: see
/// [`Store::sharing`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Sharing {
    /// How often the scheduler calls [`Store::heartbeat`].
    pub heartbeat: Duration,
    /// Longest the timer loop sleeps without asking the store, in case a change notice from
    /// another process was lost.
    pub poll: Duration,
}

/// What a process reports on each heartbeat.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Beat {
    /// Jobs registered in this process: it only claims fires of tasks running these.
    pub jobs: Vec<String>,
    /// Runs this process is executing now.
    pub running: u64,
}

/// A change made through the store by this or another process, announced by a shared store
/// (see [`Store::notices`]).
#[derive(Clone, Debug, PartialEq)]
pub struct Notice {
    /// What changed; `None` when the store cannot tell (it reconnected and may have missed
    /// notices), which means "look again".
    pub event: Option<Event>,
    /// It came from another process.
    pub foreign: bool,
}

/// Storage of tasks, their scheduling state and run history.
///
/// All methods are async and object-safe so a store can sit behind `Arc<dyn Store>` and talk to
/// a database.
pub trait Store: Send + Sync + 'static {
    /// Adds a task. Fails with [`Error::DuplicateTask`] if the id is taken.
    fn insert(&self, rec: TaskRecord) -> StoreFuture<'_, ()>;

    /// Replaces a task's definition. When the trigger changed, its schedule restarts at `now`;
    /// the next fire is recomputed unless the task is paused. The paused flag of `task` is
    /// ignored (use [`Store::set_paused`]).
    fn update(&self, task: Task, trigger: Trigger, now: Timestamp) -> StoreFuture<'_, TaskRecord>;

    /// Removes a task, returning what it was. Its runs stay in the history.
    fn remove<'a>(&'a self, id: &'a str) -> StoreFuture<'a, TaskRecord>;

    /// Pauses or resumes a task. Resuming schedules the next fire after `now`; fires missed
    /// while paused are not made up.
    fn set_paused<'a>(
        &'a self,
        id: &'a str,
        paused: bool,
        now: Timestamp,
    ) -> StoreFuture<'a, TaskRecord>;

    /// One task.
    fn get<'a>(&'a self, id: &'a str) -> StoreFuture<'a, Option<TaskRecord>>;

    /// A filtered, sorted page of tasks.
    fn list<'a>(&'a self, query: &'a TaskQuery) -> StoreFuture<'a, Page<TaskRecord>>;

    /// Hands out every fire due at `now` (at most `limit` tasks), advancing each task's next fire
    /// past `now` in the same step, so no fire is handed out twice.
    fn claim_due(&self, now: Timestamp, limit: usize) -> StoreFuture<'_, Vec<DueFire>>;

    /// The earliest next fire over unpaused tasks.
    fn next_due(&self) -> StoreFuture<'_, Option<Timestamp>>;

    /// Starts runs, each given as a draft and its task's `max_instances`: if fewer than that
    /// many runs of the task are going, counts the run and stores it as running; otherwise
    /// stores it as skipped. Assigns run ids. `None` for a draft whose task no longer exists.
    /// Batched so a timer tick with many due fires costs one store round trip.
    fn begin_runs(&self, drafts: Vec<(RunRecord, u32)>) -> StoreFuture<'_, Vec<Option<RunRecord>>>;

    /// Stores a run that did not start (missed), assigning its id.
    fn record_run(&self, draft: RunRecord) -> StoreFuture<'_, RunRecord>;

    /// Stores the end of a run begun with [`Store::begin_runs`]: uncounts it and updates the
    /// task's last run.
    fn finish_run(&self, run: RunRecord) -> StoreFuture<'_, ()>;

    /// One run.
    fn get_run(&self, id: RunId) -> StoreFuture<'_, Option<RunRecord>>;

    /// A filtered page of runs, newest first.
    fn list_runs<'a>(&'a self, query: &'a RunQuery) -> StoreFuture<'a, Page<RunRecord>>;

    /// Counts for the overview at `now`.
    fn stats(&self, now: Timestamp) -> StoreFuture<'_, Stats>;

    /// Duration percentiles over a task's kept runs.
    fn durations<'a>(&'a self, task_id: &'a str) -> StoreFuture<'a, DurationStats>;

    /// The distinct job names of stored tasks, sorted.
    fn jobs(&self) -> StoreFuture<'_, Vec<String>>;

    /// What running runs logged so far (each run's kept lines and count not kept) and how
    /// far they got, written while they run so that every replica's dashboard shows them.
    /// Default: nothing (the process that runs them shows them).
    fn live_runs(&self, _runs: Vec<LiveRunState>) -> StoreFuture<'_, ()> {
        Box::pin(std::future::ready(Ok(())))
    }

    /// The progress of running runs that told one, as [`Store::live_runs`] wrote it: (run,
    /// task, job, progress), newest first, at most `most`. Default: none.
    fn live_progress(&self, _most: usize) -> StoreFuture<'_, Vec<super::LiveProgress>> {
        Box::pin(std::future::ready(Ok(Vec::new())))
    }

    /// Every task that will fire: not paused, with a next fire time (the timeline reads them
    /// all). Default: the tasks list, page after page in id order.
    fn scheduled(&self) -> StoreFuture<'_, Vec<TaskRecord>> {
        Box::pin(async move {
            let mut out = Vec::new();
            let mut q = TaskQuery {
                sort: super::model::TaskSort::Id,
                per_page: 500,
                ..TaskQuery::default()
            };
            loop {
                let page = self.list(&q).await?;
                let last = page
                    .items
                    .last()
                    .map(|r| super::model::TaskCursor::of(r, super::model::TaskSort::Id, false));
                let more = page
                    .more
                    .unwrap_or(page.items.len() >= page.per_page as usize);
                out.extend(
                    page.items
                        .into_iter()
                        .filter(|r| !r.task.paused && r.next_fire.is_some()),
                );
                match last {
                    Some(c) if more => q.cursor = Some(c),
                    _ => return Ok(out),
                }
            }
        })
    }

    /// Tells the store the scheduler's default zone (for cron triggers that name none), which
    /// a store that reads tasks back from a database needs to compile them. Called once by
    /// [`crate::SchedulerBuilder::build`].
    fn bind(&self, _timezone: &TimeZone) {}

    /// `Some` for a store shared by several processes: the scheduler then heartbeats, listens
    /// for [`Store::notices`] and caps its sleep. `None` (the default) for a private store.
    fn sharing(&self) -> Option<Sharing> {
        None
    }

    /// A shared store's heartbeat: records this process as alive, renews the leases of its
    /// runs, and returns runs of dead processes that it recorded as
    /// [`RunStatus::Interrupted`] (the scheduler retries them when their task says so).
    fn heartbeat(&self, _beat: Beat) -> StoreFuture<'_, Vec<RunRecord>> {
        Box::pin(std::future::ready(Ok(Vec::new())))
    }

    /// This process is stopping: forget it as an instance.
    fn leave(&self) -> StoreFuture<'_, ()> {
        Box::pin(std::future::ready(Ok(())))
    }

    /// Answers when the store can serve requests: PostgreSQL runs `select 1` on a pooled
    /// connection. Default: at once (a store in this process). Readiness probes call it.
    fn ping(&self) -> StoreFuture<'_, ()> {
        Box::pin(std::future::ready(Ok(())))
    }

    /// The processes sharing this store; empty for a private store.
    fn instances(&self) -> StoreFuture<'_, Vec<InstanceInfo>> {
        Box::pin(std::future::ready(Ok(Vec::new())))
    }

    /// Run counts for the overview's charts over `window` up to `now`, every process's: each
    /// `(minute since the epoch, counts)`, per minute or already summed per hour (keyed by the
    /// hour's first minute) as the window's buckets are. Default: none (the charts stay empty).
    fn series_counts(
        &self,
        _now: Timestamp,
        _window: crate::scheduler::SeriesWindow,
    ) -> StoreFuture<'_, Vec<(i64, WindowCounts)>> {
        Box::pin(std::future::ready(Ok(Vec::new())))
    }

    /// Run counts of one task's or one job's kept runs over `window` up to `now`, per minute
    /// (`(minute, counts)`: a run counts in the minute it finished). Default: read through
    /// [`Store::list_runs`], the newest 10,000 runs of the window at most.
    fn series_of<'a>(
        &'a self,
        now: Timestamp,
        window: crate::scheduler::SeriesWindow,
        task: Option<&'a str>,
        job: Option<&'a str>,
    ) -> StoreFuture<'a, Vec<(i64, WindowCounts)>> {
        Box::pin(async move {
            let since = now - jiff::SignedDuration::from_mins(window.minutes());
            let mut counts = Vec::new();
            for page in 1..=20u32 {
                let runs = self
                    .list_runs(&RunQuery {
                        task_id: task.map(String::from),
                        job: job.map(String::from),
                        since: Some(since),
                        page,
                        per_page: 500,
                        ..RunQuery::default()
                    })
                    .await?;
                let last = runs.items.len() < 500;
                counts.extend(runs.items.iter().map(window_delta));
                if last {
                    break;
                }
            }
            Ok(counts)
        })
    }

    /// Run counts per job over `window` (an hour-bucketed one: a day or a week) up to `now`,
    /// from counters every run adds to (like [`Store::series_counts`], not from the kept
    /// history): `(job, hour's first minute, counts)`. `None` when the store keeps no such
    /// counters (the default): the jobs page then counts the kept runs and says so.
    fn job_series_counts(
        &self,
        _now: Timestamp,
        _window: crate::scheduler::SeriesWindow,
    ) -> StoreFuture<'_, Option<Vec<(String, i64, WindowCounts)>>> {
        Box::pin(std::future::ready(Ok(None)))
    }

    /// Each job's tasks by state, counted as they change (the jobs page), for every job a
    /// task names. `None` when the store keeps no such counts (the default): the jobs page
    /// then counts through [`Store::list`]. The PostgreSQL store counts a task with a run
    /// going in the state it has apart from the run (`running` is 0).
    fn job_task_counts(&self) -> StoreFuture<'_, Option<Vec<(String, crate::StateCounts)>>> {
        Box::pin(std::future::ready(Ok(None)))
    }

    /// The durations in milliseconds of each job's newest finished runs scheduled since
    /// `since`, at most `per_job` a job (the jobs page's mean and p95). Default: read through
    /// [`Store::list_runs`].
    fn job_run_durations<'a>(
        &'a self,
        jobs: &'a [String],
        since: Timestamp,
        per_job: u32,
    ) -> StoreFuture<'a, Vec<(String, Vec<u64>)>> {
        Box::pin(async move {
            let mut out = Vec::with_capacity(jobs.len());
            for job in jobs {
                let runs = self
                    .list_runs(&RunQuery {
                        job: Some(job.clone()),
                        since: Some(since),
                        per_page: per_job,
                        ..RunQuery::default()
                    })
                    .await?;
                let ms = runs
                    .items
                    .iter()
                    .filter_map(RunRecord::duration_ms)
                    .collect();
                out.push((job.clone(), ms));
            }
            Ok(out)
        })
    }

    /// Tells every process sharing the store of `event` (a cancel for a run another process
    /// may be running). A store of one process has no one to tell. Default: nothing.
    fn announce(&self, _event: Event) -> StoreFuture<'_, ()> {
        Box::pin(std::future::ready(Ok(())))
    }

    /// Opens each alert not open yet for its task and kind (and whose task exists), and
    /// returns those this call opened: its caller tells them, so with a shared store exactly
    /// one process must get each. An open missed or skipped alert takes the newer run id (its
    /// recovery is a run begun after it). Default: none opened (a store that keeps no alerts
    /// raises none).
    fn raise_alerts(&self, _alerts: Vec<Alert>) -> StoreFuture<'_, Vec<Alert>> {
        Box::pin(std::future::ready(Ok(Vec::new())))
    }

    /// One look for alerts (see [`AlertScan`] and [`AlertSweep`]): closes open alerts whose
    /// condition ended, returning them with `resolved_at` set (once across processes), and
    /// lists tasks and runs that may need one. Whether an alert ended depends on what
    /// happened, never on a clock (replicas' clocks and settings may differ; a threshold read
    /// both ways would make alerts flap): it ended when its task is gone, or, missed or
    /// skipped, a scheduled run of the task began after the alert's run; overdue, the task's
    /// next fire is no longer the one it was raised for (`since`) or the task is paused; no
    /// success, a run succeeded after `since` or the task is paused or has no window;
    /// failing, a run succeeded after `since`; running long, its run is no longer going.
    /// Default: nothing.
    fn sweep_alerts(&self, _scan: AlertScan) -> StoreFuture<'_, AlertSweep> {
        Box::pin(std::future::ready(Ok(AlertSweep::default())))
    }

    /// The open alerts (of one task, or of all), oldest first, at most 1,000. Default: none.
    fn alerts<'a>(&'a self, _task_id: Option<&'a str>) -> StoreFuture<'a, Vec<Alert>> {
        Box::pin(std::future::ready(Ok(Vec::new())))
    }

    /// How many alerts are open, by kind (all of them, beyond the 1,000 `alerts` lists).
    /// Default: counted from [`Store::alerts`].
    fn alert_counts(&self) -> StoreFuture<'_, Vec<(super::AlertKind, u64)>> {
        Box::pin(async move {
            let all = self.alerts(None).await?;
            Ok(super::AlertKind::tally(all.iter().map(|a| a.kind)))
        })
    }

    /// Duration percentiles of a job's newest successful runs (at most 200), for running-long
    /// alerts. Default: read through [`Store::list_runs`].
    fn job_durations<'a>(&'a self, job: &'a str) -> StoreFuture<'a, DurationStats> {
        Box::pin(async move {
            let runs = self
                .list_runs(&RunQuery {
                    job: Some(job.to_string()),
                    status: Some(RunStatus::Succeeded),
                    per_page: 200,
                    ..RunQuery::default()
                })
                .await?;
            let mut d: Vec<u64> = runs
                .items
                .iter()
                .filter_map(RunRecord::duration_ms)
                .collect();
            Ok(DurationStats::from_durations(&mut d))
        })
    }

    /// Changes announced by a shared store, including those of other processes.
    fn notices(&self) -> Option<broadcast::Receiver<Notice>> {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scheduler::model::paging;

    #[test]
    fn a_fire_stored_at_microseconds_is_not_fired_twice() {
        let at: Timestamp = "2026-11-23T22:20:07.992986333Z".parse().unwrap();
        let stored: Timestamp = "2026-11-23T22:20:07.992986Z".parse().unwrap();
        let task = Task::new("once", "job").at(at);
        let trigger = Trigger::new(&task.trigger, &jiff::tz::TimeZone::UTC).unwrap();
        let rec = TaskRecord {
            task: Arc::new(task),
            trigger,
            anchor: stored,
            created_at: stored,
            updated_at: stored,
            next_fire: Some(stored),
            last_run: None,
            running: 0,
        };
        for now in [stored, at, at + Duration::from_secs(1)] {
            let (due, next) = rec.due_fires(stored, now);
            assert_eq!(due.fires, vec![stored], "now {now}");
            assert_eq!(next, None, "now {now}");
        }
    }

    #[test]
    fn paging_defaults_and_caps() {
        assert_eq!(paging(0, 0), (1, 50, 0));
        assert_eq!(paging(3, 20), (3, 20, 40));
        assert_eq!(paging(2, 10_000), (2, 500, 500));
        assert_eq!(paging(u32::MAX, 500).2, (u32::MAX as usize - 1) * 500);
    }

    #[test]
    fn percentiles_nearest_rank() {
        let mut d: Vec<u64> = (1..=100).collect();
        let s = DurationStats::from_durations(&mut d);
        assert_eq!((s.p50_ms, s.p90_ms, s.p99_ms, s.max_ms), (50, 90, 99, 100));
        let mut one = vec![7];
        assert_eq!(DurationStats::from_durations(&mut one).p99_ms, 7);
        assert_eq!(DurationStats::from_durations(&mut []).count, 0);
    }

    #[test]
    fn pages_count() {
        let p = Page::<u8> {
            items: vec![],
            total: 101,
            estimated: false,
            page: 1,
            per_page: 50,
            more: None,
        };
        assert_eq!(p.pages(), 3);
        let empty = Page::<u8> {
            items: vec![],
            total: 0,
            estimated: false,
            page: 1,
            per_page: 50,
            more: None,
        };
        assert_eq!(empty.pages(), 1);
    }
}
