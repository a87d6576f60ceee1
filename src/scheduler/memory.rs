//! [`MemoryStore`]: the default store, one process, everything behind one mutex.
//!
//! Kept indexes: tasks by id (ordered), next fire times (ordered, for the timer loop), run
//! history globally (ordered by id) and per task (oldest first), and per-minute run counters
//! for the last 24 hours. History is bounded per task and in total; the oldest runs go first.

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::sync::{RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::Duration;

use jiff::Timestamp;

use super::alerts::{Alert, AlertKind, AlertScan, AlertSweep, LongRun};
use super::clock::add;
use super::error::Error;
use super::history::{RunCursor, RunId, RunQuery, RunRecord, RunStatus};
use super::index::TaskIndex;
use super::model::{
    paging, DurationStats, Histogram, LastRun, Page, SeriesWindow, Stats, TaskQuery, WindowCounts,
    OVERDUE_AFTER,
};
use super::store::{window_delta, DueFire, Store, StoreFuture, TaskRecord};
use super::task::Task;
use super::trigger::Trigger;

/// Most recent runs the duration percentiles are taken over.
const DURATION_SAMPLE: usize = 200;
/// Most alerts [`Store::alerts`] lists.
const ALERTS_LISTED: usize = 1000;
/// Per-minute buckets kept for the run counters: 24 hours.
/// Per-minute counts kept: a day (the overview's windows and the hour chart).
const MINUTES: usize = 24 * 60;

/// Per-hour counts kept: a week (the day and week charts).
const HOURS: usize = 7 * 24;

/// History bounds of a [`MemoryStore`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HistoryLimits {
    /// Runs kept per task. Default 100.
    pub per_task: usize,
    /// Runs kept in all. Default 10,000.
    pub total: usize,
}

impl Default for HistoryLimits {
    fn default() -> Self {
        HistoryLimits {
            per_task: 100,
            total: 10_000,
        }
    }
}

/// The in-memory store: fast, and gone when the process ends.
///
/// ```
/// use taskdeck::store::{HistoryLimits, MemoryStore};
/// let store = MemoryStore::with_limits(HistoryLimits { per_task: 500, total: 50_000 });
/// # drop(store);
/// ```
#[derive(Debug)]
pub struct MemoryStore {
    inner: RwLock<Mem>,
}

impl Default for MemoryStore {
    /// [`MemoryStore::new`] (a derived default left the counter rings empty, and the first
    /// recorded run panicked).
    fn default() -> Self {
        Self::new()
    }
}

#[derive(Debug, Default)]
struct Mem {
    tasks: TaskIndex,
    runs: BTreeMap<RunId, RunRecord>,
    runs_by_task: HashMap<String, VecDeque<RunId>>,
    last_run_id: RunId,
    by_status: BTreeMap<RunStatus, u64>,
    durations: BTreeMap<String, Histogram>,
    minutes: Vec<Minute>,
    /// The same counts per hour (`minute` holds the hour's first minute).
    hours: Vec<Minute>,
    /// The hourly counts of each job (a week's worth each: jobs are few).
    job_hours: HashMap<String, Vec<Minute>>,
    limits: HistoryLimits,
    /// Open alerts by task and kind.
    alerts: BTreeMap<(String, AlertKind), Alert>,
    /// Failed runs in a row, the last one and when it ended, per task (none: absent).
    fail_streak: HashMap<String, (u32, RunId, Timestamp)>,
    /// Tasks with `no_success_within`, by when a success is due.
    success_due: BTreeSet<(Timestamp, String)>,
    /// Per such task: when a success is due (`within` after its last success, or its
    /// creation).
    success_of: HashMap<String, Timestamp>,
    /// Every task's last success.
    last_ok: HashMap<String, (Timestamp, RunId)>,
    /// Runs going (the overview's count of running runs is its length).
    going: BTreeSet<RunId>,
}

#[derive(Clone, Copy, Debug, Default)]
struct Minute {
    minute: i64,
    counts: WindowCounts,
}

impl MemoryStore {
    /// A store with the default history bounds (100 runs per task, 10,000 in all).
    pub fn new() -> Self {
        Self::with_limits(HistoryLimits::default())
    }

    /// A store with the given history bounds (each at least 1).
    pub fn with_limits(limits: HistoryLimits) -> Self {
        MemoryStore {
            inner: RwLock::new(Mem {
                limits: HistoryLimits {
                    per_task: limits.per_task.max(1),
                    total: limits.total.max(1),
                },
                minutes: vec![Minute::default(); MINUTES],
                hours: vec![Minute::default(); HOURS],
                ..Mem::default()
            }),
        }
    }

    // Reads (pages, lookups, stats) share the lock; only changes take it alone. A panic while
    // holding it cannot leave the maps half-updated in a way that matters more than losing
    // the store, so keep serving.
    fn read(&self) -> RwLockReadGuard<'_, Mem> {
        self.inner.read().unwrap_or_else(|p| p.into_inner())
    }

    fn write(&self) -> RwLockWriteGuard<'_, Mem> {
        self.inner.write().unwrap_or_else(|p| p.into_inner())
    }
}

fn ready<'a, T: Send + 'a>(r: Result<T, Error>) -> StoreFuture<'a, T> {
    Box::pin(std::future::ready(r))
}

fn unknown(id: &str) -> Error {
    Error::UnknownTask { id: id.to_string() }
}

impl Mem {
    /// A page of runs from a cursor: the runs `keep` admits (among the newest `window` when
    /// searching) older than the cursor, or newer for the page before, found from the
    /// cursor's place in the history rather than by walking to it; the total counts them all.
    fn runs_at(
        &self,
        q: &RunQuery,
        c: RunCursor,
        (page, per_page): (u32, u32),
        keep: impl Fn(&RunRecord) -> bool,
        window: usize,
        unfiltered: bool,
    ) -> Page<RunRecord> {
        let per = per_page as usize;
        if unfiltered {
            // Straight from the cursor's place in the history (ids ascending): the page's cost.
            // Read from the cursor outwards, one more than the page: whether any lies beyond.
            let mut ids: Vec<RunId> = match &q.task_id {
                Some(task) => {
                    let none = VecDeque::new();
                    let ids = self.runs_by_task.get(task).unwrap_or(&none);
                    match c {
                        RunCursor::After(c) => {
                            let at = ids.partition_point(|id| *id < c);
                            ids.range(..at).rev().take(per + 1).copied().collect()
                        }
                        RunCursor::Before(c) => {
                            let at = ids.partition_point(|id| *id <= c);
                            ids.range(at..).take(per + 1).copied().collect()
                        }
                    }
                }
                None => match c {
                    RunCursor::After(id) => self
                        .runs
                        .range(..id)
                        .rev()
                        .take(per + 1)
                        .map(|(k, _)| *k)
                        .collect(),
                    RunCursor::Before(id) => self
                        .runs
                        .range(id.saturating_add(1)..)
                        .take(per + 1)
                        .map(|(k, _)| *k)
                        .collect(),
                },
            };
            let more = ids.len() > per;
            ids.truncate(per);
            if matches!(c, RunCursor::Before(_)) {
                ids.reverse();
            }
            let total = match &q.task_id {
                Some(task) => self.runs_by_task.get(task).map_or(0, VecDeque::len),
                None => self.runs.len(),
            };
            return Page {
                items: ids
                    .iter()
                    .filter_map(|id| self.runs.get(id).cloned())
                    .collect(),
                total,
                estimated: false,
                page,
                per_page,
                more: Some(more),
            };
        }
        let ids: Box<dyn DoubleEndedIterator<Item = RunId> + '_> = match &q.task_id {
            Some(task) => match self.runs_by_task.get(task) {
                Some(ids) => Box::new(ids.iter().copied()),
                None => Box::new(std::iter::empty()),
            },
            None => Box::new(self.runs.keys().copied()),
        };
        // Newest first, as the list is ordered: one pass counts the matches and keeps the
        // page (the first `per` older than the cursor, or the last `per` newer than it).
        let (mut total, mut admitted) = (0, 0);
        let mut kept: VecDeque<&RunRecord> = VecDeque::with_capacity(per);
        for r in ids.rev().take(window).filter_map(|id| self.runs.get(&id)) {
            if !keep(r) {
                continue;
            }
            total += 1;
            admitted += usize::from(c.admits(r.id));
            match c {
                RunCursor::After(_) if c.admits(r.id) && kept.len() < per => kept.push_back(r),
                RunCursor::Before(_) if c.admits(r.id) => {
                    if kept.len() == per {
                        kept.pop_front();
                    }
                    kept.push_back(r);
                }
                _ => {}
            }
        }
        let items: Vec<RunRecord> = kept.into_iter().cloned().collect();
        Page {
            items,
            total,
            estimated: false,
            page,
            per_page,
            more: Some(admitted > per),
        }
    }

    /// Sets when task `id` is due a success (`within` after `base`), or forgets it.
    fn set_success_due(&mut self, id: &str, base: Timestamp, within: Option<Duration>) {
        if let Some(due) = self.success_of.remove(id) {
            self.success_due.remove(&(due, id.to_string()));
        }
        if let Some(w) = within {
            let due = add(base, w);
            self.success_of.insert(id.to_string(), due);
            self.success_due.insert((due, id.to_string()));
        }
    }

    /// Whether open alert `a` has ended: by what happened, never by the clock (see
    /// [`Store::sweep_alerts`]).
    fn alert_ended(&self, a: &Alert) -> bool {
        let Some(rec) = self.tasks.get(&a.task_id) else {
            return true;
        };
        let succeeded_since = || self.last_ok.get(&a.task_id).is_some_and(|t| t.0 > a.since);
        match a.kind {
            AlertKind::Overdue => rec.task.paused || rec.next_fire != Some(a.since),
            AlertKind::NoSuccess => {
                rec.task.paused || !self.success_of.contains_key(&a.task_id) || succeeded_since()
            }
            // A success after the failed run it was raised on.
            AlertKind::Failing => self
                .last_ok
                .get(&a.task_id)
                .is_some_and(|t| t.1 > a.run_id.unwrap_or(0)),
            AlertKind::RunningLong => a.run_id.is_none_or(|r| !self.going.contains(&r)),
            AlertKind::Missed | AlertKind::Skipped => {
                let after = a.run_id.unwrap_or(0);
                self.runs_by_task.get(&a.task_id).is_some_and(|q| {
                    q.iter().rev().take_while(|r| **r > after).any(|r| {
                        self.runs.get(r).is_some_and(|r| {
                            r.cause == super::history::RunCause::Schedule
                                && !matches!(r.status, RunStatus::Missed | RunStatus::Skipped)
                        })
                    })
                })
            }
        }
    }

    fn set_next(&mut self, id: &str, next: Option<Timestamp>) {
        self.tasks.modify(id, |r| r.next_fire = next);
    }

    fn insert_run(&mut self, mut run: RunRecord) -> RunRecord {
        self.last_run_id += 1;
        run.id = self.last_run_id;
        let per_task = self.limits.per_task;
        let q = match self.runs_by_task.get_mut(&run.task_id) {
            Some(q) => q,
            None => self.runs_by_task.entry(run.task_id.clone()).or_default(),
        };
        q.push_back(run.id);
        if q.len() > per_task {
            if let Some(old) = q.pop_front() {
                self.runs.remove(&old);
            }
        }
        self.runs.insert(run.id, run.clone());
        while self.runs.len() > self.limits.total {
            let Some((_, old)) = self.runs.pop_first() else {
                break;
            };
            if let Some(q) = self.runs_by_task.get_mut(&old.task_id) {
                // Per-task queues are in id order, so the globally oldest is at the front.
                if q.front() == Some(&old.id) {
                    q.pop_front();
                }
                if q.is_empty() {
                    self.runs_by_task.remove(&old.task_id);
                }
            }
        }
        if run.status.is_finished() {
            self.count(&run);
        }
        run
    }

    fn count(&mut self, run: &RunRecord) {
        if run.status.is_finished() {
            *self.by_status.entry(run.status).or_default() += 1;
        }
        if let Some(ms) = run.duration_ms() {
            match self.durations.get_mut(&run.job) {
                Some(h) => h.observe(ms),
                None => {
                    let mut h = Histogram::default();
                    h.observe(ms);
                    self.durations.insert(run.job.clone(), h);
                }
            }
        }
        let (minute, delta) = window_delta(run);
        let slot = &mut self.minutes[minute.rem_euclid(MINUTES as i64) as usize];
        if slot.minute != minute {
            *slot = Minute {
                minute,
                counts: WindowCounts::default(),
            };
        }
        slot.counts.add(delta);
        let hour = minute.div_euclid(60);
        let ix = hour.rem_euclid(HOURS as i64) as usize;
        let add_hour = |slot: &mut Minute| {
            if slot.minute != hour * 60 {
                *slot = Minute {
                    minute: hour * 60,
                    counts: WindowCounts::default(),
                };
            }
            slot.counts.add(delta);
        };
        add_hour(&mut self.hours[ix]);
        let ring = match self.job_hours.get_mut(&run.job) {
            Some(r) => r,
            None => self
                .job_hours
                .entry(run.job.clone())
                .or_insert_with(|| vec![Minute::default(); HOURS]),
        };
        add_hour(&mut ring[ix]);
    }

    fn window(&self, now: Timestamp, minutes: i64) -> WindowCounts {
        let now_min = now.as_second().div_euclid(60);
        let mut out = WindowCounts::default();
        for m in &self.minutes {
            if m.minute > now_min - minutes && m.minute <= now_min {
                out.add(m.counts);
            }
        }
        out
    }
}

impl Store for MemoryStore {
    fn series_of<'a>(
        &'a self,
        now: Timestamp,
        window: SeriesWindow,
        task: Option<&'a str>,
        job: Option<&'a str>,
    ) -> StoreFuture<'a, Vec<(i64, WindowCounts)>> {
        // Counted in place: no run is copied.
        let m = self.read();
        let since = now - jiff::SignedDuration::from_mins(window.minutes());
        let keep = |r: &RunRecord| {
            job.is_none_or(|j| r.job == j) && r.finished_at.unwrap_or(r.scheduled_at) >= since
        };
        let out: Vec<(i64, WindowCounts)> = match task {
            Some(t) => m
                .runs_by_task
                .get(t)
                .into_iter()
                .flatten()
                .filter_map(|id| m.runs.get(id))
                .filter(|r| keep(r))
                .map(window_delta)
                .collect(),
            None => m
                .runs
                .values()
                .rev()
                .take(super::history::SEARCH_WINDOW)
                .filter(|r| keep(r))
                .map(window_delta)
                .collect(),
        };
        ready(Ok(out))
    }

    fn series_counts(
        &self,
        now: Timestamp,
        window: SeriesWindow,
    ) -> StoreFuture<'_, Vec<(i64, WindowCounts)>> {
        let m = self.read();
        let now_min = now.as_second().div_euclid(60);
        let ring = if window.bucket_minutes() == 1 {
            &m.minutes
        } else {
            &m.hours
        };
        let from = now_min - window.minutes();
        let out = ring
            .iter()
            .filter(|s| s.minute > from - window.bucket_minutes() && s.minute <= now_min)
            .map(|s| (s.minute, s.counts))
            .collect();
        ready(Ok(out))
    }

    fn job_series_counts(
        &self,
        now: Timestamp,
        window: SeriesWindow,
    ) -> StoreFuture<'_, Option<Vec<(String, i64, WindowCounts)>>> {
        if window.bucket_minutes() != 60 {
            return ready(Ok(None));
        }
        let m = self.read();
        let now_min = now.as_second().div_euclid(60);
        let from = now_min - window.minutes();
        let out = m
            .job_hours
            .iter()
            .flat_map(|(job, ring)| {
                ring.iter()
                    .filter(move |s| s.minute > from - 60 && s.minute <= now_min)
                    .map(move |s| (job.clone(), s.minute, s.counts))
            })
            .collect();
        ready(Ok(Some(out)))
    }

    fn job_task_counts(&self) -> StoreFuture<'_, Option<Vec<(String, crate::StateCounts)>>> {
        ready(Ok(Some(self.read().tasks.job_states())))
    }

    fn insert(&self, rec: TaskRecord) -> StoreFuture<'_, ()> {
        let mut m = self.write();
        let id = rec.task.id.clone();
        let (created, within) = (rec.created_at, rec.task.options.no_success_within);
        if m.tasks.insert(rec) {
            m.set_success_due(&id, created, within);
            ready(Ok(()))
        } else {
            ready(Err(Error::DuplicateTask { id }))
        }
    }

    fn update(&self, task: Task, trigger: Trigger, now: Timestamp) -> StoreFuture<'_, TaskRecord> {
        let mut m = self.write();
        let id = task.id.clone();
        let rec = m.tasks.modify(&id, move |r| {
            r.apply_update(task, trigger, now);
            r.clone()
        });
        if let Some(r) = &rec {
            let base = m.last_ok.get(&id).map_or(r.created_at, |t| t.0);
            m.set_success_due(&id, base, r.task.options.no_success_within);
        }
        ready(rec.ok_or_else(|| unknown(&id)))
    }

    fn remove<'a>(&'a self, id: &'a str) -> StoreFuture<'a, TaskRecord> {
        let mut m = self.write();
        m.set_success_due(id, Timestamp::UNIX_EPOCH, None);
        m.fail_streak.remove(id);
        m.last_ok.remove(id);
        ready(m.tasks.remove(id).ok_or_else(|| unknown(id)))
    }

    fn set_paused<'a>(
        &'a self,
        id: &'a str,
        paused: bool,
        now: Timestamp,
    ) -> StoreFuture<'a, TaskRecord> {
        let rec = self.write().tasks.modify(id, |r| {
            r.apply_paused(paused, now);
            r.clone()
        });
        ready(rec.ok_or_else(|| unknown(id)))
    }

    fn get<'a>(&'a self, id: &'a str) -> StoreFuture<'a, Option<TaskRecord>> {
        ready(Ok(self.read().tasks.get(id).cloned()))
    }

    fn list<'a>(&'a self, q: &'a TaskQuery) -> StoreFuture<'a, Page<TaskRecord>> {
        let m = self.read();
        let (page, per_page, offset) = paging(q.page, q.per_page);
        let (items, total, more) = if q.attention {
            let mut ids: Vec<&str> = m.alerts.keys().map(|(id, _)| id.as_str()).collect();
            ids.dedup();
            m.tasks
                .list_among(ids.into_iter(), q, offset, per_page as usize)
        } else {
            m.tasks.list(q, offset, per_page as usize)
        };
        ready(Ok(Page {
            items,
            total,
            estimated: false,
            page,
            per_page,
            more,
        }))
    }

    fn claim_due(&self, now: Timestamp, limit: usize) -> StoreFuture<'_, Vec<DueFire>> {
        let mut m = self.write();
        let mut out = Vec::new();
        while out.len() < limit {
            let Some((first, id)) = m.tasks.first_due() else {
                break;
            };
            if first > now {
                break;
            }
            let Some(rec) = m.tasks.get(&id) else {
                break;
            };
            let (due, next) = rec.due_fires(first, now);
            out.push(due);
            m.set_next(&id, next);
        }
        ready(Ok(out))
    }

    fn next_due(&self) -> StoreFuture<'_, Option<Timestamp>> {
        ready(Ok(self.read().tasks.first_due().map(|(t, _)| t)))
    }

    fn begin_runs(&self, drafts: Vec<(RunRecord, u32)>) -> StoreFuture<'_, Vec<Option<RunRecord>>> {
        let mut m = self.write();
        // A run is retried at most once.
        for (d, _) in &drafts {
            if let Some(of) = d.retry_of {
                if m.runs.values().any(|r| r.retry_of == Some(of)) {
                    return ready(Err(Error::RunState {
                        id: of,
                        message: format!("run {of} was already retried"),
                    }));
                }
            }
        }
        let out = drafts
            .into_iter()
            .map(|(mut draft, max_instances)| {
                let going = m.tasks.modify(&draft.task_id, |r| {
                    let going = r.running;
                    if going < max_instances {
                        r.running += 1;
                    }
                    going
                })?;
                if going >= max_instances {
                    draft.status = RunStatus::Skipped;
                    // A skipped retry does not use up the run's one retry.
                    draft.retry_of = None;
                    draft.started_at = None;
                    draft.finished_at = draft.finished_at.or(Some(draft.scheduled_at));
                    draft.error = Some(format!(
                        "{going} run(s) already going; max_instances is {max_instances}"
                    ));
                } else {
                    draft.status = RunStatus::Running;
                }
                let run = m.insert_run(draft);
                if run.status == RunStatus::Running {
                    m.going.insert(run.id);
                }
                Some(run)
            })
            .collect();
        ready(Ok(out))
    }

    fn record_run(&self, draft: RunRecord) -> StoreFuture<'_, RunRecord> {
        ready(Ok(self.write().insert_run(draft)))
    }

    fn finish_run(&self, run: RunRecord) -> StoreFuture<'_, ()> {
        let mut m = self.write();
        m.going.remove(&run.id);
        m.count(&run);
        let at = run.finished_at.unwrap_or(run.scheduled_at);
        if run.status == RunStatus::Succeeded && m.tasks.get(&run.task_id).is_some() {
            m.fail_streak.remove(&run.task_id);
            let newer = m.last_ok.get(&run.task_id).is_none_or(|t| t.1 < run.id);
            if newer {
                m.last_ok.insert(run.task_id.clone(), (at, run.id));
                let within = m
                    .tasks
                    .get(&run.task_id)
                    .and_then(|r| r.task.options.no_success_within);
                m.set_success_due(&run.task_id, at, within);
            }
        } else if run.status.is_failure() && m.tasks.get(&run.task_id).is_some() {
            let s = m
                .fail_streak
                .entry(run.task_id.clone())
                .or_insert((0, run.id, at));
            *s = (s.0 + 1, run.id, at);
        }
        m.tasks.modify(&run.task_id, |r| {
            r.running = r.running.saturating_sub(1);
            if r.last_run.as_ref().is_none_or(|l| l.run_id <= run.id) {
                r.last_run = Some(LastRun {
                    run_id: run.id,
                    status: run.status,
                    scheduled_at: run.scheduled_at,
                    finished_at: run.finished_at,
                    error: run.error.clone(),
                });
            }
        });
        if let Some(slot) = m.runs.get_mut(&run.id) {
            *slot = run;
        }
        ready(Ok(()))
    }

    fn get_run(&self, id: RunId) -> StoreFuture<'_, Option<RunRecord>> {
        ready(Ok(self.read().runs.get(&id).cloned()))
    }

    fn list_runs<'a>(&'a self, q: &'a RunQuery) -> StoreFuture<'a, Page<RunRecord>> {
        let m = self.read();
        let (page, per_page, offset) = paging(q.page, q.per_page);
        let needle = q.q.as_deref().map(str::to_lowercase);
        let keep = |r: &RunRecord| {
            q.status.is_none_or(|s| r.status == s)
                && (!q.failures_only || r.status.is_failure())
                && q.since.is_none_or(|t| r.scheduled_at >= t)
                && q.until.is_none_or(|t| r.scheduled_at < t)
                && q.job.as_deref().is_none_or(|j| r.job == j)
                && needle.as_deref().is_none_or(|n| r.mentions(n))
        };
        // A search looks through the newest runs only: its cost is bounded.
        let window = if needle.is_some() {
            super::history::SEARCH_WINDOW
        } else {
            usize::MAX
        };
        let unfiltered = q.status.is_none()
            && !q.failures_only
            && q.since.is_none()
            && q.until.is_none()
            && q.job.is_none()
            && needle.is_none();
        if let Some(c) = q.cursor {
            return ready(Ok(m.runs_at(
                q,
                c,
                (page, per_page),
                keep,
                window,
                unfiltered,
            )));
        }
        if unfiltered {
            // Newest first straight from the history's order: cost is the page, not the
            // history's length.
            let (items, total): (Vec<RunRecord>, usize) = match &q.task_id {
                Some(task) => match m.runs_by_task.get(task) {
                    Some(ids) => (
                        ids.iter()
                            .rev()
                            .skip(offset)
                            .take(per_page as usize)
                            .filter_map(|id| m.runs.get(id).cloned())
                            .collect(),
                        ids.len(),
                    ),
                    None => (Vec::new(), 0),
                },
                None => (
                    m.runs
                        .values()
                        .rev()
                        .skip(offset)
                        .take(per_page as usize)
                        .cloned()
                        .collect(),
                    m.runs.len(),
                ),
            };
            return ready(Ok(Page {
                items,
                total,
                estimated: false,
                page,
                per_page,
                more: None,
            }));
        }
        let mut total = 0usize;
        let mut items = Vec::with_capacity(per_page as usize);
        let mut take = |r: &RunRecord| {
            if keep(r) {
                if total >= offset && items.len() < per_page as usize {
                    items.push(r.clone());
                }
                total += 1;
            }
        };
        match &q.task_id {
            Some(task) => {
                if let Some(ids) = m.runs_by_task.get(task) {
                    for id in ids.iter().rev().take(window) {
                        if let Some(r) = m.runs.get(id) {
                            take(r);
                        }
                    }
                }
            }
            None => m.runs.values().rev().take(window).for_each(take),
        }
        ready(Ok(Page {
            items,
            total,
            estimated: false,
            page,
            per_page,
            more: None,
        }))
    }

    fn stats(&self, now: Timestamp) -> StoreFuture<'_, Stats> {
        let m = self.read();
        let mut stats = Stats {
            running_runs: m.going.len() as u64,
            last_hour: m.window(now, 60),
            last_day: m.window(now, MINUTES as i64),
            runs_by_status: m.by_status.clone(),
            job_durations: m.durations.clone(),
            ..Stats::default()
        };
        stats.tasks = m.tasks.states();
        stats.overdue = m.tasks.overdue(now - OVERDUE_AFTER);
        ready(Ok(stats))
    }

    fn durations<'a>(&'a self, task_id: &'a str) -> StoreFuture<'a, DurationStats> {
        let m = self.read();
        let mut d: Vec<u64> = m
            .runs_by_task
            .get(task_id)
            .into_iter()
            .flat_map(|q| q.iter().rev())
            .filter_map(|id| m.runs.get(id))
            .filter(|r| r.status.is_finished())
            .filter_map(RunRecord::duration_ms)
            .take(DURATION_SAMPLE)
            .collect();
        ready(Ok(DurationStats::from_durations(&mut d)))
    }

    fn jobs(&self) -> StoreFuture<'_, Vec<String>> {
        ready(Ok(self.read().tasks.jobs()))
    }

    fn scheduled(&self) -> StoreFuture<'_, Vec<TaskRecord>> {
        let m = self.read();
        ready(Ok(m
            .tasks
            .values()
            .filter(|r| !r.task.paused && r.next_fire.is_some())
            .cloned()
            .collect()))
    }

    fn raise_alerts(&self, alerts: Vec<Alert>) -> StoreFuture<'_, Vec<Alert>> {
        let mut m = self.write();
        let mut opened = Vec::new();
        for a in alerts {
            if m.tasks.get(&a.task_id).is_none() {
                continue;
            }
            let key = (a.task_id.clone(), a.kind);
            match m.alerts.get_mut(&key) {
                Some(open) => {
                    if matches!(a.kind, AlertKind::Missed | AlertKind::Skipped) {
                        open.run_id = open.run_id.max(a.run_id);
                    }
                }
                None => {
                    m.alerts.insert(key, a.clone());
                    opened.push(a);
                }
            }
        }
        ready(Ok(opened))
    }

    fn sweep_alerts(&self, scan: AlertScan) -> StoreFuture<'_, AlertSweep> {
        let mut m = self.write();
        let ended: Vec<(String, AlertKind)> = m
            .alerts
            .iter()
            .filter(|(_, a)| m.alert_ended(a))
            .map(|(k, _)| k.clone())
            .take(scan.limit)
            .collect();
        let mut out = AlertSweep::default();
        for k in ended {
            if let Some(mut a) = m.alerts.remove(&k) {
                a.resolved_at = Some(scan.now);
                out.resolved.push(a);
            }
        }
        let open = |id: &str, kind: AlertKind| m.alerts.contains_key(&(id.to_string(), kind));
        for r in m.tasks.overdue_tasks(scan.overdue_before) {
            if out.found.len() >= scan.limit {
                break;
            }
            if let (Some(next), false) = (r.next_fire, open(&r.task.id, AlertKind::Overdue)) {
                out.found
                    .push(Alert::overdue(&r.task.id, &r.task.job, next, scan.now));
            }
        }
        let mut found = 0;
        for (_, id) in m.success_due.range(..(scan.now, String::new())) {
            let Some(r) = m.tasks.get(id) else { continue };
            if found >= scan.limit {
                break;
            }
            if r.task.paused || open(id, AlertKind::NoSuccess) {
                continue;
            }
            let Some(within) = r.task.options.no_success_within else {
                continue;
            };
            let base = m.last_ok.get(id).map_or(r.created_at, |t| t.0);
            found += 1;
            out.found
                .push(Alert::no_success(id, &r.task.job, base, within, scan.now));
        }
        let failing = m
            .fail_streak
            .iter()
            .filter(|(id, s)| s.0 >= scan.failing_after && !open(id, AlertKind::Failing))
            .take(scan.limit);
        for (id, (n, run, at)) in failing {
            if let Some(r) = m.tasks.get(id) {
                out.found.push(Alert::failing(
                    id,
                    &r.task.job,
                    *n,
                    Some(*run),
                    *at,
                    scan.now,
                ));
            }
        }
        out.long_runs = m
            .going
            .iter()
            .filter_map(|id| m.runs.get(id))
            .filter(|r| r.started_at.is_some_and(|s| s < scan.long_before))
            .filter(|r| !open(&r.task_id, AlertKind::RunningLong))
            .take(scan.limit)
            .map(|r| LongRun {
                run_id: r.id,
                task_id: r.task_id.clone(),
                job: r.job.clone(),
                started_at: r.started_at.unwrap_or(r.scheduled_at),
                expect_within: m
                    .tasks
                    .get(&r.task_id)
                    .and_then(|t| t.task.options.expect_within),
            })
            .collect();
        ready(Ok(out))
    }

    fn alerts<'a>(&'a self, task_id: Option<&'a str>) -> StoreFuture<'a, Vec<Alert>> {
        let m = self.read();
        let mut all: Vec<&Alert> = match task_id {
            Some(id) => m
                .alerts
                .range((id.to_string(), AlertKind::Missed)..)
                .take_while(|((t, _), _)| t == id)
                .map(|(_, a)| a)
                .collect(),
            None => m.alerts.values().collect(),
        };
        // The oldest 1,000 without sorting (or copying) all of them.
        let order =
            |a: &&Alert, b: &&Alert| (a.raised_at, &a.task_id).cmp(&(b.raised_at, &b.task_id));
        if all.len() > ALERTS_LISTED {
            all.select_nth_unstable_by(ALERTS_LISTED, order);
            all.truncate(ALERTS_LISTED);
        }
        all.sort_by(order);
        ready(Ok(all.into_iter().cloned().collect()))
    }

    fn alert_counts(&self) -> StoreFuture<'_, Vec<(AlertKind, u64)>> {
        let m = self.read();
        ready(Ok(AlertKind::tally(m.alerts.keys().map(|k| k.1))))
    }
}

/// Counts by state of the tasks matching nothing but `state`; used by tests.
#[cfg(test)]
fn count_state(store: &MemoryStore, state: super::model::TaskState) -> usize {
    store
        .read()
        .tasks
        .values()
        .filter(|r| r.state() == state)
        .count()
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use std::sync::Arc;

    use super::*;
    use crate::scheduler::history::RunCause;
    use crate::scheduler::model::{TaskSort, TaskState};
    use crate::scheduler::trigger::TriggerSpec;

    fn ts(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    fn record(id: &str, every: u64, now: Timestamp) -> TaskRecord {
        let task = Task::new(id, "job").every(Duration::from_secs(every));
        let trigger = Trigger::new(&task.trigger, &jiff::tz::TimeZone::UTC).unwrap();
        let next = trigger.next_after(now, now);
        TaskRecord {
            task: Arc::new(task),
            trigger,
            anchor: now,
            created_at: now,
            updated_at: now,
            next_fire: next,
            last_run: None,
            running: 0,
        }
    }

    fn draft(task: &str, at: Timestamp) -> RunRecord {
        RunRecord {
            id: 0,
            task_id: task.into(),
            job: "job".into(),
            cause: RunCause::Schedule,
            scheduled_at: at,
            started_at: Some(at),
            finished_at: None,
            status: RunStatus::Running,
            error: None,
            attempt: 1,
            logs: vec![],
            logs_dropped: 0,
            args: serde_json::Value::Null,
            result: None,
            retry_of: None,
            progress: None,
            logs_seq: 0,
        }
    }

    fn begin(s: &MemoryStore, d: RunRecord, max: u32) -> Option<RunRecord> {
        block(s.begin_runs(vec![(d, max)])).unwrap().pop().flatten()
    }

    fn block<T>(f: StoreFuture<'_, T>) -> Result<T, Error> {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap()
            .block_on(f)
    }

    #[test]
    fn claim_hands_out_each_fire_once_and_lists_backlog() {
        let s = MemoryStore::new();
        let t0 = ts("2026-01-01T00:00:00Z");
        block(s.insert(record("a", 10, t0))).unwrap();
        assert_eq!(
            block(s.next_due()).unwrap(),
            Some(ts("2026-01-01T00:00:10Z"))
        );
        let later = ts("2026-01-01T00:00:35Z");
        let due = block(s.claim_due(later, 100)).unwrap();
        assert_eq!(due.len(), 1);
        assert_eq!(due[0].fires.len(), 3, "10s, 20s, 30s");
        assert!(block(s.claim_due(later, 100)).unwrap().is_empty());
        assert_eq!(
            block(s.next_due()).unwrap(),
            Some(ts("2026-01-01T00:00:40Z"))
        );
    }

    #[test]
    fn pause_removes_from_due_and_resume_skips_backlog() {
        let s = MemoryStore::new();
        let t0 = ts("2026-01-01T00:00:00Z");
        block(s.insert(record("a", 10, t0))).unwrap();
        block(s.set_paused("a", true, t0)).unwrap();
        assert_eq!(block(s.next_due()).unwrap(), None);
        assert_eq!(count_state(&s, TaskState::Paused), 1);
        let later = ts("2026-01-01T00:01:05Z");
        let rec = block(s.set_paused("a", false, later)).unwrap();
        assert_eq!(rec.next_fire, Some(ts("2026-01-01T00:01:10Z")));
    }

    #[test]
    fn begin_run_enforces_max_instances() {
        let s = MemoryStore::new();
        let t0 = ts("2026-01-01T00:00:00Z");
        block(s.insert(record("a", 10, t0))).unwrap();
        let r1 = begin(&s, draft("a", t0), 1).unwrap();
        assert_eq!(r1.status, RunStatus::Running);
        let r2 = begin(&s, draft("a", t0), 1).unwrap();
        assert_eq!(r2.status, RunStatus::Skipped);
        assert_ne!(r1.id, r2.id);
        let mut done = r1.clone();
        done.status = RunStatus::Succeeded;
        done.finished_at = Some(t0);
        block(s.finish_run(done)).unwrap();
        let r3 = begin(&s, draft("a", t0), 1).unwrap();
        assert_eq!(r3.status, RunStatus::Running);
        assert_eq!(begin(&s, draft("gone", t0), 1), None);
    }

    #[test]
    fn history_is_bounded_per_task_and_in_total() {
        let s = MemoryStore::with_limits(HistoryLimits {
            per_task: 3,
            total: 5,
        });
        let t0 = ts("2026-01-01T00:00:00Z");
        for id in ["a", "b"] {
            block(s.insert(record(id, 10, t0))).unwrap();
        }
        for _ in 0..5 {
            let mut r = draft("a", t0);
            r.status = RunStatus::Missed;
            block(s.record_run(r)).unwrap();
        }
        let q = RunQuery {
            task_id: Some("a".into()),
            ..RunQuery::default()
        };
        let page = block(s.list_runs(&q)).unwrap();
        assert_eq!(page.total, 3);
        assert_eq!(
            page.items.iter().map(|r| r.id).collect::<Vec<_>>(),
            vec![5, 4, 3],
            "newest first"
        );
        for _ in 0..4 {
            let mut r = draft("b", t0);
            r.status = RunStatus::Missed;
            block(s.record_run(r)).unwrap();
        }
        let all = block(s.list_runs(&RunQuery::default())).unwrap();
        assert_eq!(all.total, 5);
        // b's own bound dropped run 6, the total bound dropped run 3.
        assert_eq!(
            block(s.list_runs(&q)).unwrap().total,
            2,
            "a keeps runs 4 and 5"
        );
    }

    struct ListCase {
        what: &'static str,
        query: TaskQuery,
        want: &'static [&'static str],
        total: usize,
    }

    #[test]
    fn list_filters_sorts_and_pages() {
        let s = MemoryStore::new();
        let t0 = ts("2026-01-01T00:00:00Z");
        for (id, every) in [("alpha", 30), ("Bravo", 10), ("charlie", 20), ("delta", 40)] {
            let mut r = record(id, every, t0);
            let t = Arc::make_mut(&mut r.task);
            t.name = id.to_string();
            if id == "delta" {
                t.job = "other".into();
            }
            block(s.insert(r)).unwrap();
        }
        block(s.set_paused("charlie", true, t0)).unwrap();
        let cron = TriggerSpec::Cron {
            expr: "0 * * * *".into(),
            timezone: None,
        };
        let mut t = Task::new("alpha", "job").name("alpha");
        t.trigger = cron.clone();
        let trig = Trigger::new(&cron, &jiff::tz::TimeZone::UTC).unwrap();
        block(s.update(t, trig, t0)).unwrap();

        let cases = [
            ListCase {
                what: "default: next run ascending, paused last",
                query: TaskQuery::default(),
                want: &["Bravo", "delta", "alpha", "charlie"],
                total: 4,
            },
            ListCase {
                what: "name descending, case-insensitive",
                query: TaskQuery {
                    sort: TaskSort::Name,
                    desc: true,
                    ..TaskQuery::default()
                },
                want: &["delta", "charlie", "Bravo", "alpha"],
                total: 4,
            },
            ListCase {
                what: "search is case-insensitive over id, name, job",
                query: TaskQuery {
                    q: Some("OTH".into()),
                    ..TaskQuery::default()
                },
                want: &["delta"],
                total: 1,
            },
            ListCase {
                what: "state filter",
                query: TaskQuery {
                    state: Some(TaskState::Paused),
                    ..TaskQuery::default()
                },
                want: &["charlie"],
                total: 1,
            },
            ListCase {
                what: "trigger kind filter",
                query: TaskQuery {
                    trigger: Some(crate::TriggerKind::Cron),
                    ..TaskQuery::default()
                },
                want: &["alpha"],
                total: 1,
            },
            ListCase {
                what: "job filter with paging",
                query: TaskQuery {
                    job: Some("job".into()),
                    sort: TaskSort::Id,
                    page: 2,
                    per_page: 2,
                    ..TaskQuery::default()
                },
                want: &["charlie"],
                total: 3,
            },
            ListCase {
                what: "page past the end is empty, total still counted",
                query: TaskQuery {
                    page: 9,
                    ..TaskQuery::default()
                },
                want: &[],
                total: 4,
            },
        ];
        for c in &cases {
            let page = block(s.list(&c.query)).unwrap();
            let ids: Vec<&str> = page.items.iter().map(|r| r.task.id.as_str()).collect();
            assert_eq!(ids, c.want, "{}", c.what);
            assert_eq!(page.total, c.total, "{}", c.what);
        }
    }

    #[test]
    fn a_default_store_records_runs() {
        let s = MemoryStore::default();
        let at: Timestamp = "2026-01-01T00:00:00Z".parse().unwrap();
        let mut d = draft("t", at);
        d.status = RunStatus::Succeeded;
        d.finished_at = Some(at);
        block(s.record_run(d)).unwrap();
        assert_eq!(block(s.stats(at)).unwrap().last_hour.runs, 1);
    }

    #[test]
    fn windows_count_runs_and_failures() {
        let s = MemoryStore::new();
        let t0 = ts("2026-01-01T12:00:00Z");
        block(s.insert(record("a", 10, t0))).unwrap();
        for (status, minutes_ago) in [
            (RunStatus::Succeeded, 5),
            (RunStatus::Failed, 10),
            (RunStatus::Failed, 120),
            (RunStatus::Missed, 1),
            (RunStatus::Succeeded, 60 * 25),
        ] {
            let at = t0 - Duration::from_secs(minutes_ago * 60);
            let mut r = draft("a", at);
            r.status = status;
            r.finished_at = Some(at);
            block(s.record_run(r)).unwrap();
        }
        let st = block(s.stats(t0)).unwrap();
        assert_eq!(
            st.last_hour,
            WindowCounts {
                runs: 2,
                failures: 1,
                not_run: 1
            }
        );
        assert_eq!(
            st.last_day,
            WindowCounts {
                runs: 3,
                failures: 2,
                not_run: 1
            }
        );
        assert_eq!(st.tasks.scheduled, 1);
    }
}
