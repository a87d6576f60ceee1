//! The data the scheduler answers in: task listings and their queries, pages, counts,
//! histograms, instances. The dashboard's seam ([`crate::TaskBackend`]) speaks in these types,
//! and so do the stores; they are plain data, serializable, with no behaviour beyond their
//! own arithmetic.

use std::collections::BTreeMap;
use std::str::FromStr;

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use super::history::{RunId, RunStatus};
use super::store::TaskRecord;
use super::trigger::TriggerKind;

/// Where a task stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TaskState {
    /// Waiting for its next fire.
    Scheduled,
    /// At least one run is going.
    Running,
    /// Paused: does not fire until resumed.
    Paused,
    /// Its trigger will not fire again (a past one-off date, an interval past its end).
    Completed,
}

impl TaskState {
    /// All states, in display order.
    pub const ALL: [TaskState; 4] = [
        TaskState::Scheduled,
        TaskState::Running,
        TaskState::Paused,
        TaskState::Completed,
    ];

    /// The lower-case name used in URLs and JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            TaskState::Scheduled => "scheduled",
            TaskState::Running => "running",
            TaskState::Paused => "paused",
            TaskState::Completed => "completed",
        }
    }
}

impl FromStr for TaskState {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        TaskState::ALL
            .into_iter()
            .find(|st| st.as_str() == s)
            .ok_or_else(|| {
                format!(
                    "unknown task state {s:?}; expected scheduled, running, paused or completed"
                )
            })
    }
}

/// The latest finished run of a task, kept on the task for listing and sorting.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LastRun {
    /// The run.
    pub run_id: RunId,
    /// How it ended.
    pub status: RunStatus,
    /// When it was scheduled.
    #[serde(serialize_with = "super::text::timestamp")]
    pub scheduled_at: Timestamp,
    /// When it ended.
    #[serde(serialize_with = "super::text::opt_timestamp")]
    pub finished_at: Option<Timestamp>,
    /// Its error, if it failed.
    pub error: Option<String>,
}

impl LastRun {
    /// When it ended, or was scheduled if it never ran: the time the last-run sort orders by.
    pub fn at(&self) -> Timestamp {
        self.finished_at.unwrap_or(self.scheduled_at)
    }
}

/// Order of a task list.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TaskSort {
    /// Soonest next fire first; tasks that will not fire last.
    #[default]
    NextRun,
    /// By name, case-insensitively.
    Name,
    /// By id.
    Id,
    /// Most recently finished first when descending.
    LastRun,
    /// By state, then next fire.
    State,
}

impl TaskSort {
    /// All sorts.
    pub const ALL: [TaskSort; 5] = [
        TaskSort::NextRun,
        TaskSort::Name,
        TaskSort::Id,
        TaskSort::LastRun,
        TaskSort::State,
    ];

    /// The name used in URLs and JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            TaskSort::NextRun => "next_run",
            TaskSort::Name => "name",
            TaskSort::Id => "id",
            TaskSort::LastRun => "last_run",
            TaskSort::State => "state",
        }
    }
}

impl FromStr for TaskSort {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        TaskSort::ALL
            .into_iter()
            .find(|st| st.as_str() == s)
            .ok_or_else(|| {
                format!("unknown sort {s:?}; expected next_run, name, id, last_run or state")
            })
    }
}

/// Default rows per page.
pub const DEFAULT_PER_PAGE: u32 = 50;
/// Most rows per page.
pub const MAX_PER_PAGE: u32 = 500;

/// Which tasks to list, in which order, which page.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct TaskQuery {
    /// Case-insensitive text that the id, name or job must contain.
    pub q: Option<String>,
    /// Only tasks in this state.
    pub state: Option<TaskState>,
    /// Only tasks of this job.
    pub job: Option<String>,
    /// Only tasks with this kind of trigger.
    pub trigger: Option<TriggerKind>,
    /// Only tasks with an open alert (the overview's "Needs attention").
    #[serde(default)]
    pub attention: bool,
    /// Order.
    pub sort: TaskSort,
    /// Reverse the order.
    pub desc: bool,
    /// 1-based page number; 0 is read as 1. With a [`cursor`](Self::cursor) it only numbers
    /// the page; the cursor says where the page starts.
    pub page: u32,
    /// Rows per page; 0 means 50, capped at 500.
    pub per_page: u32,
    /// Start the page right after (or end it right before) a row of another page, found by
    /// its sort key: a page found this way costs the same at any depth, where a page number
    /// alone makes the store walk every row before it. The pager's links carry one.
    #[serde(default)]
    pub cursor: Option<TaskCursor>,
}

/// A row's place in a sorted task list, from which the next (or the previous) page starts:
/// the row's id and the value it sorts by. In URLs it is the `after=` or `before=` parameter
/// ([`TaskCursor::encode`], [`TaskCursor::parse`]).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaskCursor {
    before: bool,
    id: String,
    state: u8,
    at: Option<Timestamp>,
    name: String,
}

impl TaskCursor {
    /// The place of `rec` in a list sorted by `sort`; the page asked with it holds the rows
    /// after it in the list's order, or, when `before`, the rows before it.
    pub fn of(rec: &TaskRecord, sort: TaskSort, before: bool) -> TaskCursor {
        let last = rec.last_run.as_ref().map(LastRun::at);
        Self::from_parts(&rec.task, rec.state(), rec.next_fire, last, sort, before)
    }

    /// The place of a listed task, as [`of`](Self::of) for its record.
    pub fn of_info(info: &super::TaskInfo, sort: TaskSort, before: bool) -> TaskCursor {
        let last = info.last_run.as_ref().map(LastRun::at);
        Self::from_parts(&info.task, info.state, info.next_fire, last, sort, before)
    }

    fn from_parts(
        task: &super::Task,
        state: TaskState,
        next: Option<Timestamp>,
        last: Option<Timestamp>,
        sort: TaskSort,
        before: bool,
    ) -> TaskCursor {
        let (state, at, name) = match sort {
            TaskSort::Id => (0, None, String::new()),
            TaskSort::Name => (0, None, super::index::lower(&task.name).into()),
            TaskSort::NextRun => (0, next, String::new()),
            TaskSort::LastRun => (0, last, String::new()),
            TaskSort::State => (super::index::state_ix(state) as u8, next, String::new()),
        };
        TaskCursor {
            before,
            id: task.id.clone(),
            state,
            at,
            name,
        }
    }

    /// The text of a cursor for a list sorted by `sort`: the id, then the value sorted by.
    pub fn encode(&self, sort: TaskSort) -> String {
        use std::fmt::Write as _;
        let mut out = String::with_capacity(self.id.len() + self.name.len() + 24);
        out.push_str(&self.id);
        match sort {
            TaskSort::Id => {}
            TaskSort::Name => {
                out.push('~');
                out.push_str(&self.name);
            }
            TaskSort::NextRun | TaskSort::LastRun | TaskSort::State => {
                out.push('~');
                if sort == TaskSort::State {
                    let _ = write!(out, "{}~", self.state);
                }
                match self.at {
                    Some(t) => {
                        let _ = write!(out, "{}", t.as_nanosecond());
                    }
                    None => out.push('-'),
                }
            }
        }
        out
    }

    /// Reads [`encode`](Self::encode)'s text for a list sorted by `sort`.
    pub fn parse(text: &str, sort: TaskSort, before: bool) -> Result<TaskCursor, String> {
        let bad = || {
            format!(
                "{text:?} is not a place in a list sorted by {}",
                sort.as_str()
            )
        };
        let at = |s: &str| -> Result<Option<Timestamp>, String> {
            if s == "-" {
                return Ok(None);
            }
            let n: i128 = s.parse().map_err(|_| bad())?;
            // Years 1 to 9999: every store can compare with them (PostgreSQL's range ends
            // at 4713 BC; jiff's goes further).
            const FIRST: i128 = -62_135_596_800 * 1_000_000_000;
            const LAST: i128 = 253_402_300_799 * 1_000_000_000;
            if !(FIRST..=LAST).contains(&n) {
                return Err(bad());
            }
            Timestamp::from_nanosecond(n).map(Some).map_err(|_| bad())
        };
        // Stored ids and names hold no NUL (PostgreSQL text cannot).
        if text.contains('\0') {
            return Err(bad());
        }
        let (id, rest) = match sort {
            TaskSort::Id => (text, ""),
            _ => text.split_once('~').ok_or_else(bad)?,
        };
        if id.is_empty() {
            return Err(bad());
        }
        let mut c = TaskCursor {
            before,
            id: id.to_string(),
            state: 0,
            at: None,
            name: String::new(),
        };
        match sort {
            TaskSort::Id => {}
            TaskSort::Name => c.name = rest.to_string(),
            TaskSort::NextRun | TaskSort::LastRun => c.at = at(rest)?,
            TaskSort::State => {
                let (state, t) = rest.split_once('~').ok_or_else(bad)?;
                c.state = state.parse().ok().filter(|s| *s < 4).ok_or_else(bad)?;
                c.at = at(t)?;
            }
        }
        Ok(c)
    }

    /// The page ends right before this place (going back), rather than starting after it.
    pub fn is_before(&self) -> bool {
        self.before
    }

    /// The row's id.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The row's state as the state sort ranks it (0 scheduled, 1 running, 2 paused, 3
    /// completed).
    pub fn state_rank(&self) -> u8 {
        self.state
    }

    /// The time sorted by: the next fire (sort by next run or state) or the last run's time
    /// (sort by last run). `None` sorts after every time.
    pub fn at(&self) -> Option<Timestamp> {
        self.at
    }

    /// The lower-cased name (sort by name).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// How `rec` compares with this place in a list sorted by `sort`, ascending.
    pub fn compare(&self, rec: &TaskRecord, sort: TaskSort) -> std::cmp::Ordering {
        let o = TaskCursor::of(rec, sort, self.before);
        (o.state, o.at.is_none(), o.at, &o.name, &o.id).cmp(&(
            self.state,
            self.at.is_none(),
            self.at,
            &self.name,
            &self.id,
        ))
    }

    /// Whether `rec` belongs on the page this cursor asks for, in a list sorted by `sort`
    /// (`desc`: reversed): after the place, or before it for a page going back.
    pub fn admits(&self, rec: &TaskRecord, sort: TaskSort, desc: bool) -> bool {
        let mut o = self.compare(rec, sort);
        if desc {
            o = o.reverse();
        }
        if self.before {
            o.is_lt()
        } else {
            o.is_gt()
        }
    }
}

/// `(page, per_page)` with defaults and caps applied, and the row offset.
pub(crate) fn paging(page: u32, per_page: u32) -> (u32, u32, usize) {
    let page = page.max(1);
    let per_page = match per_page {
        0 => DEFAULT_PER_PAGE,
        n => n.min(MAX_PER_PAGE),
    };
    let offset = (page as usize - 1).saturating_mul(per_page as usize);
    (page, per_page, offset)
}

/// One page of a list.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Page<T> {
    /// The rows.
    pub items: Vec<T>,
    /// Rows matching the filter, on all pages.
    pub total: usize,
    /// `total` is an estimate, not a count: the PostgreSQL store counts matches exactly up to
    /// 1,000 and estimates beyond (pages show "about N"). The memory store always counts.
    #[serde(default)]
    pub estimated: bool,
    /// This page's number, from 1.
    pub page: u32,
    /// Rows per page.
    pub per_page: u32,
    /// Whether rows lie beyond this page in the direction it was read from its cursor (after
    /// it for `after=`, before it for `before=`), when the store could tell: it reads one row
    /// more than it shows. `None` for a page asked by number. Not part of the JSON (the API
    /// answers `next_after` and `prev_before` from it).
    #[serde(skip)]
    pub more: Option<bool>,
}

impl<T> Page<T> {
    /// Number of pages (at least 1).
    pub fn pages(&self) -> u32 {
        let per = self.per_page.max(1) as usize;
        u32::try_from(self.total.div_ceil(per).max(1)).unwrap_or(u32::MAX)
    }

    /// Maps the rows, keeping the paging.
    pub fn map<U>(self, f: impl FnMut(T) -> U) -> Page<U> {
        Page {
            items: self.items.into_iter().map(f).collect(),
            total: self.total,
            estimated: self.estimated,
            page: self.page,
            per_page: self.per_page,
            more: self.more,
        }
    }
}

impl<T> Page<T> {
    /// Whether a page follows this one and whether one precedes it, as far as the page can
    /// tell, given the cursor it was asked with (`Some(true)`: before one; `Some(false)`: after
    /// one). A page from a cursor decides by its own rows, not by its number and the total,
    /// which say nothing about the rows left once the list has changed: a full page after a
    /// cursor has more after it if the store saw one more row ([`Page::more`]; without that,
    /// when it is full); a page before one has the page it came from after it.
    pub fn edges(&self, cursor_before: Option<bool>) -> (bool, bool) {
        let full = self.per_page > 0 && self.items.len() >= self.per_page as usize;
        let any = !self.items.is_empty();
        let beyond = self.more.unwrap_or(full);
        match cursor_before {
            Some(true) => (any, beyond),
            Some(false) => (beyond, any),
            None => (
                full && (self.estimated || self.page < self.pages()),
                any && self.page > 1,
            ),
        }
    }
}

impl Page<super::TaskInfo> {
    /// Where the next page starts ([`TaskQuery::cursor`]) in a list sorted by `sort`, when
    /// one may follow this page, which was asked with `cursor` (see [`Page::edges`]).
    pub fn next_cursor(&self, sort: TaskSort, cursor: Option<&TaskCursor>) -> Option<TaskCursor> {
        let (next, _) = self.edges(cursor.map(TaskCursor::is_before));
        let last = self.items.last().filter(|_| next)?;
        Some(TaskCursor::of_info(last, sort, false))
    }

    /// Where the previous page ends, when one may precede this page.
    pub fn prev_cursor(&self, sort: TaskSort, cursor: Option<&TaskCursor>) -> Option<TaskCursor> {
        let (_, prev) = self.edges(cursor.map(TaskCursor::is_before));
        let first = self.items.first().filter(|_| prev)?;
        Some(TaskCursor::of_info(first, sort, true))
    }
}

/// Counts of tasks by state.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StateCounts {
    /// Waiting for a fire.
    pub scheduled: usize,
    /// With a run going.
    pub running: usize,
    /// Paused.
    pub paused: usize,
    /// Will not fire again.
    pub completed: usize,
}

impl StateCounts {
    /// All tasks.
    pub fn total(&self) -> usize {
        self.scheduled + self.running + self.paused + self.completed
    }

    /// The count for one state.
    pub fn get(&self, state: TaskState) -> usize {
        match state {
            TaskState::Scheduled => self.scheduled,
            TaskState::Running => self.running,
            TaskState::Paused => self.paused,
            TaskState::Completed => self.completed,
        }
    }
}

/// Runs and failures over a time window.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct WindowCounts {
    /// Finished runs (any outcome but missed and skipped).
    pub runs: u64,
    /// Of those, failures (failed, panicked, timed out).
    pub failures: u64,
    /// Fires recorded as missed or skipped.
    pub not_run: u64,
}

impl WindowCounts {
    /// Adds `other` to these counts.
    pub fn add(&mut self, other: WindowCounts) {
        self.runs += other.runs;
        self.failures += other.failures;
        self.not_run += other.not_run;
    }
}

/// Numbers for the overview.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Stats {
    /// Tasks by state.
    pub tasks: StateCounts,
    /// Runs going now.
    pub running_runs: u64,
    /// The last 60 minutes.
    pub last_hour: WindowCounts,
    /// The last 24 hours.
    pub last_day: WindowCounts,
    /// Finished runs by outcome since the store was created.
    pub runs_by_status: BTreeMap<RunStatus, u64>,
    /// Run durations per job since the store was created.
    pub job_durations: BTreeMap<String, Histogram>,
    /// Tasks not paused whose next fire is more than [`OVERDUE_AFTER`] past: no process fired
    /// them (no live replica registers their job, every timer is stuck, or none runs).
    #[serde(default)]
    pub overdue: u64,
}

/// How far past its next fire a task that is not paused counts as overdue.
pub const OVERDUE_AFTER: std::time::Duration = std::time::Duration::from_secs(60);

/// Upper bounds, in seconds, of the [`Histogram`] buckets.
pub const DURATION_BUCKETS: [f64; 14] = [
    0.005, 0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 10.0, 30.0, 60.0, 300.0, 600.0, 1800.0, 3600.0,
];

/// A run-duration histogram over [`DURATION_BUCKETS`] (counts per bucket, not cumulative;
/// longer runs only count in `count` and `sum_seconds`).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Histogram {
    /// Runs per bucket.
    pub buckets: Vec<u64>,
    /// All runs.
    pub count: u64,
    /// Sum of durations, seconds.
    pub sum_seconds: f64,
}

impl Histogram {
    /// Counts one duration.
    pub fn observe(&mut self, ms: u64) {
        if self.buckets.len() != DURATION_BUCKETS.len() {
            self.buckets = vec![0; DURATION_BUCKETS.len()];
        }
        let secs = ms as f64 / 1000.0;
        if let Some(i) = DURATION_BUCKETS.iter().position(|le| secs <= *le) {
            self.buckets[i] += 1;
        }
        self.count += 1;
        self.sum_seconds += secs;
    }
}

/// Duration percentiles over a task's kept history.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DurationStats {
    /// Runs measured.
    pub count: usize,
    /// Median, milliseconds.
    pub p50_ms: u64,
    /// 90th percentile.
    pub p90_ms: u64,
    /// 95th percentile.
    #[serde(default)]
    pub p95_ms: u64,
    /// 99th percentile.
    pub p99_ms: u64,
    /// Longest.
    pub max_ms: u64,
}

impl DurationStats {
    /// Percentiles of `durations` (sorted in place), nearest-rank.
    pub fn from_durations(durations: &mut [u64]) -> DurationStats {
        if durations.is_empty() {
            return DurationStats::default();
        }
        durations.sort_unstable();
        let pick = |p: usize| {
            let rank = (p * durations.len()).div_ceil(100).max(1);
            durations[rank - 1]
        };
        DurationStats {
            count: durations.len(),
            p50_ms: pick(50),
            p90_ms: pick(90),
            p95_ms: pick(95),
            p99_ms: pick(99),
            max_ms: durations[durations.len() - 1],
        }
    }
}

/// One scheduler process sharing a store.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct InstanceInfo {
    /// Its id, unique per process start.
    pub id: String,
    /// Host name.
    pub host: String,
    /// Process id.
    pub pid: u32,
    /// When it started.
    pub started_at: Timestamp,
    /// Its latest heartbeat.
    pub heartbeat_at: Timestamp,
    /// Runs it is executing now.
    pub running: u64,
    /// Jobs registered in it.
    pub jobs: Vec<String>,
    /// It missed heartbeats: it died, hangs or lost the store.
    pub stale: bool,
    /// This process.
    pub this: bool,
}

/// The span of a chart over time: its buckets' size and count.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum SeriesWindow {
    /// The last hour, per minute (60 buckets).
    #[serde(rename = "1h")]
    Hour,
    /// The last 24 hours, per hour (24 buckets).
    #[serde(rename = "24h")]
    Day,
    /// The last 7 days, per hour (168 buckets).
    #[serde(rename = "7d")]
    Week,
}

impl SeriesWindow {
    /// Every window, shortest first.
    pub const ALL: [SeriesWindow; 3] = [SeriesWindow::Hour, SeriesWindow::Day, SeriesWindow::Week];

    /// `1h`, `24h` or `7d`.
    pub fn as_str(self) -> &'static str {
        match self {
            SeriesWindow::Hour => "1h",
            SeriesWindow::Day => "24h",
            SeriesWindow::Week => "7d",
        }
    }

    /// Minutes per bucket.
    pub fn bucket_minutes(self) -> i64 {
        match self {
            SeriesWindow::Hour => 1,
            SeriesWindow::Day | SeriesWindow::Week => 60,
        }
    }

    /// Buckets in the window.
    pub fn buckets(self) -> usize {
        match self {
            SeriesWindow::Hour => 60,
            SeriesWindow::Day => 24,
            SeriesWindow::Week => 168,
        }
    }

    /// The window's length in minutes.
    pub fn minutes(self) -> i64 {
        self.bucket_minutes() * self.buckets() as i64
    }

    /// The buckets for minute counts `(minute, counts)` ending with the bucket of `now`.
    pub fn bucket(
        self,
        now: Timestamp,
        counts: impl IntoIterator<Item = (i64, WindowCounts)>,
    ) -> Series {
        let size = self.bucket_minutes();
        let now_bucket = now.as_second().div_euclid(60).div_euclid(size);
        let first = now_bucket - self.buckets() as i64 + 1;
        let mut points: Vec<SeriesPoint> = (0..self.buckets() as i64)
            .map(|i| SeriesPoint {
                start: Timestamp::from_second((first + i) * size * 60).unwrap_or(now),
                runs: 0,
                failures: 0,
            })
            .collect();
        for (minute, c) in counts {
            let b = minute.div_euclid(size) - first;
            if let Some(p) = usize::try_from(b).ok().and_then(|b| points.get_mut(b)) {
                p.runs += c.runs;
                p.failures += c.failures;
            }
        }
        Series {
            window: self,
            bucket_minutes: size,
            points,
        }
    }
}

impl std::str::FromStr for SeriesWindow {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "1h" => Ok(SeriesWindow::Hour),
            "24h" => Ok(SeriesWindow::Day),
            "7d" => Ok(SeriesWindow::Week),
            other => Err(format!("unknown window {other:?}; expected 1h, 24h or 7d")),
        }
    }
}

/// One bucket of a chart: runs that finished in it, and how many of them failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct SeriesPoint {
    /// The bucket's start.
    #[serde(serialize_with = "super::text::timestamp")]
    pub start: Timestamp,
    /// Finished runs (any outcome but missed and skipped).
    pub runs: u64,
    /// Of those, failures (failed, panicked, timed out, interrupted).
    pub failures: u64,
}

/// Runs and failures over time.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Series {
    /// The window.
    pub window: SeriesWindow,
    /// Minutes per bucket.
    pub bucket_minutes: i64,
    /// Oldest first, the last holding now.
    pub points: Vec<SeriesPoint>,
}
