//! Run records: what happened each time a task fired.

use std::str::FromStr;
use std::sync::{Arc, Mutex};

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

/// Id of a run, unique within a store.
pub type RunId = u64;

/// Most log lines kept per run: the newest; earlier ones are counted, not kept.
pub const MAX_LOG_LINES: usize = 200;
/// Most log lines a run may write a second (in bursts of as many); the rest are counted,
/// not kept, so that one chatty run cannot flood the live view or the store.
pub const MAX_LOG_LINES_PER_SEC: u32 = 50;
/// Longest progress message, in bytes; longer ones are cut at a character boundary.
pub const MAX_PROGRESS_MESSAGE_BYTES: usize = 200;
/// Longest kept log line, in bytes; longer lines are cut at a character boundary.
pub const MAX_LOG_LINE_BYTES: usize = 2048;

/// How a run ended, or that it is still going.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RunStatus {
    /// Started and not finished.
    Running,
    /// The job returned `Ok`.
    Succeeded,
    /// The job returned `Err`.
    Failed,
    /// The job panicked; the panic was caught.
    Panicked,
    /// The job ran past the task's timeout and was cancelled.
    TimedOut,
    /// Cancelled by shutdown.
    Cancelled,
    /// The fire came later than the misfire grace time and was not run.
    Missed,
    /// Not run because `max_instances` runs were already going.
    Skipped,
    /// The process running it stopped renewing its lease (it died, or lost its shared store)
    /// and another process recorded the run as interrupted.
    Interrupted,
}

impl RunStatus {
    /// All statuses, in display order.
    pub const ALL: [RunStatus; 9] = [
        RunStatus::Running,
        RunStatus::Succeeded,
        RunStatus::Failed,
        RunStatus::Panicked,
        RunStatus::TimedOut,
        RunStatus::Cancelled,
        RunStatus::Missed,
        RunStatus::Skipped,
        RunStatus::Interrupted,
    ];

    /// The lower-case name used in URLs and JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            RunStatus::Running => "running",
            RunStatus::Succeeded => "succeeded",
            RunStatus::Failed => "failed",
            RunStatus::Panicked => "panicked",
            RunStatus::TimedOut => "timed_out",
            RunStatus::Cancelled => "cancelled",
            RunStatus::Missed => "missed",
            RunStatus::Skipped => "skipped",
            RunStatus::Interrupted => "interrupted",
        }
    }

    /// True for outcomes that count as failures (and are retried): failed, panicked, timed
    /// out, interrupted.
    pub fn is_failure(self) -> bool {
        matches!(
            self,
            RunStatus::Failed | RunStatus::Panicked | RunStatus::TimedOut | RunStatus::Interrupted
        )
    }

    /// True for the outcomes a retry may follow: failed, panicked, timed out, cancelled,
    /// interrupted.
    pub fn is_retryable(self) -> bool {
        self.is_failure() || self == RunStatus::Cancelled
    }

    /// True once the run is over.
    pub fn is_finished(self) -> bool {
        self != RunStatus::Running
    }
}

impl FromStr for RunStatus {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        RunStatus::ALL
            .into_iter()
            .find(|st| st.as_str() == s)
            .ok_or_else(|| {
                format!(
                    "unknown run status {s:?}; expected one of running, succeeded, failed, \
                     panicked, timed_out, cancelled, missed, skipped, interrupted"
                )
            })
    }
}

/// Why a run happened.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RunCause {
    /// The trigger fired.
    Schedule,
    /// Someone asked for it ("run now").
    Manual,
    /// A retry of a failed attempt.
    Retry,
}

impl RunCause {
    /// The lower-case name used in JSON and in the run's `tracing` span.
    pub fn as_str(self) -> &'static str {
        match self {
            RunCause::Schedule => "schedule",
            RunCause::Manual => "manual",
            RunCause::Retry => "retry",
        }
    }
}

/// Severity of a log line.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LogLevel {
    /// Fine detail.
    Debug,
    /// Normal progress.
    Info,
    /// Something to look at.
    Warn,
    /// Something failed.
    Error,
}

/// One line a job wrote during a run.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogLine {
    /// When it was written.
    pub at: Timestamp,
    /// Severity.
    pub level: LogLevel,
    /// The text.
    pub message: String,
}

/// What happened when a task fired once.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RunRecord {
    /// Unique id.
    pub id: RunId,
    /// The task.
    pub task_id: String,
    /// The task's job at the time.
    pub job: String,
    /// Why it ran.
    pub cause: RunCause,
    /// When the trigger said it should run.
    #[serde(serialize_with = "super::text::timestamp")]
    pub scheduled_at: Timestamp,
    /// When the job was called (absent for missed and skipped fires).
    #[serde(serialize_with = "super::text::opt_timestamp")]
    pub started_at: Option<Timestamp>,
    /// When it ended.
    #[serde(serialize_with = "super::text::opt_timestamp")]
    pub finished_at: Option<Timestamp>,
    /// Outcome.
    pub status: RunStatus,
    /// The error, panic message or timeout, for failures.
    pub error: Option<String>,
    /// 1 for the first attempt, 2 for the first retry, …
    pub attempt: u32,
    /// Lines the job logged (bounded by [`MAX_LOG_LINES`]).
    pub logs: Vec<LogLine>,
    /// Lines that were not kept because the bound was reached.
    pub logs_dropped: u32,
    /// The args it ran with (the task's at the time; a retry's are its original's).
    #[serde(default)]
    pub args: serde_json::Value,
    /// What the job returned ([`crate::TaskContext::set_result`],
    /// `Scheduler::register_returning`), at most [`MAX_RESULT_BYTES`] of JSON.
    #[serde(default)]
    pub result: Option<serde_json::Value>,
    /// The run this one retries, when started by a retry from the dashboard or
    /// [`crate::Scheduler::retry_run`].
    #[serde(default)]
    pub retry_of: Option<RunId>,
    /// How far it got, as its job last told ([`crate::TaskContext::progress`]).
    #[serde(default)]
    pub progress: Option<Progress>,
    /// While it runs in the process that answers: how many lines it has kept so far, so
    /// that [`crate::Event::RunLog`]'s `seq` tells which of its lines are new. 0 otherwise.
    #[serde(default)]
    pub logs_seq: u64,
}

/// How many of the newest runs a text search ([`RunQuery::q`]) looks through.
pub const SEARCH_WINDOW: usize = 100_000;

/// Longest search text accepted.
pub const MAX_SEARCH_BYTES: usize = 200;

impl RunRecord {
    /// True when the error or a log line contains `needle`, already lower-cased.
    pub(crate) fn mentions(&self, needle: &str) -> bool {
        let has = |s: &str| s.to_lowercase().contains(needle);
        self.error.as_deref().is_some_and(has) || self.logs.iter().any(|l| has(&l.message))
    }
}

/// Largest result kept with a run, as JSON text; a larger one is replaced by a note saying
/// how large it was.
pub const MAX_RESULT_BYTES: usize = 16 * 1024;

/// `value` as kept with a run: itself, or a note when its JSON is over [`MAX_RESULT_BYTES`].
pub(crate) fn bounded_result(value: serde_json::Value) -> serde_json::Value {
    let size = serde_json::to_string(&value).map_or(0, |s| s.len());
    if size > MAX_RESULT_BYTES {
        serde_json::json!({
            "truncated": true,
            "bytes": size,
            "note": format!("the result was {size} bytes of JSON; at most {MAX_RESULT_BYTES} are kept"),
        })
    } else {
        value
    }
}

impl RunRecord {
    /// Run time in milliseconds, once finished.
    pub fn duration_ms(&self) -> Option<u64> {
        let (s, f) = (self.started_at?, self.finished_at?);
        let d = f.duration_since(s);
        u64::try_from(d.as_millis()).ok()
    }

    /// How late the job started compared with its schedule, in milliseconds.
    pub fn lateness_ms(&self) -> Option<i64> {
        let s = self.started_at?;
        i64::try_from(s.duration_since(self.scheduled_at).as_millis()).ok()
    }
}

/// Which runs to list.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct RunQuery {
    /// Only this task's runs.
    pub task_id: Option<String>,
    /// Only runs with this status.
    pub status: Option<RunStatus>,
    /// Only failures (failed, panicked, timed out).
    pub failures_only: bool,
    /// Only runs scheduled at or after this.
    pub since: Option<Timestamp>,
    /// Only runs scheduled before this.
    pub until: Option<Timestamp>,
    /// Only runs of this job.
    pub job: Option<String>,
    /// Only runs whose error or a log line contains this text (case-insensitive), among the
    /// newest [`SEARCH_WINDOW`] runs: the cost of a search is bounded, whatever the history.
    pub q: Option<String>,
    /// 1-based page number; 0 is read as 1. With a [`cursor`](Self::cursor) it only numbers
    /// the page.
    pub page: u32,
    /// Rows per page; 0 means 50, capped at 500.
    pub per_page: u32,
    /// Start the page right after (or end it right before) a run of another page: found by
    /// index at any depth, where a page number makes the store walk every run before it.
    pub cursor: Option<RunCursor>,
}

/// Where a page of runs (newest first) starts: the `after=` and `before=` URL parameters.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RunCursor {
    /// The runs older than this one.
    After(RunId),
    /// The runs newer than this one (the page before).
    Before(RunId),
}

impl RunCursor {
    /// The run the page starts after or ends before.
    pub fn run_id(self) -> RunId {
        match self {
            RunCursor::After(id) | RunCursor::Before(id) => id,
        }
    }

    /// Whether run `id` belongs on the page this cursor asks for.
    pub fn admits(self, id: RunId) -> bool {
        match self {
            RunCursor::After(c) => id < c,
            RunCursor::Before(c) => id > c,
        }
    }

    /// The next page's cursor after `page` (newest first, asked with `cursor`), when one may
    /// follow it (see [`Page::edges`](super::Page::edges)).
    pub fn next_of(page: &super::Page<RunRecord>, cursor: Option<RunCursor>) -> Option<RunCursor> {
        let (next, _) = page.edges(cursor.map(|c| matches!(c, RunCursor::Before(_))));
        let last = page.items.last().filter(|_| next)?;
        Some(RunCursor::After(last.id))
    }

    /// The previous page's cursor before `page`, when one may precede it.
    pub fn prev_of(page: &super::Page<RunRecord>, cursor: Option<RunCursor>) -> Option<RunCursor> {
        let (_, prev) = page.edges(cursor.map(|c| matches!(c, RunCursor::Before(_))));
        let first = page.items.first().filter(|_| prev)?;
        Some(RunCursor::Before(first.id))
    }
}

/// How far a running run has got, as its job tells it ([`crate::TaskContext::progress`]).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Progress {
    /// Steps done.
    pub done: u64,
    /// Steps in all; 0 when not known.
    pub total: u64,
    /// What it is doing (at most [`MAX_PROGRESS_MESSAGE_BYTES`]).
    pub message: String,
    /// When it was told.
    #[serde(serialize_with = "super::text::timestamp")]
    pub at: Timestamp,
}

impl Progress {
    /// Done as a share of the total, 0 to 100; `None` when the total is not known.
    pub fn percent(&self) -> Option<u8> {
        (self.total > 0)
            .then(|| (u128::from(self.done.min(self.total)) * 100 / u128::from(self.total)) as u8)
    }
}

/// A run's log buffer, shared by [`crate::TaskContext::log`], the tracing layer and the
/// live view: the newest [`MAX_LOG_LINES`] lines, the count of those not kept (over the
/// bound, or over [`MAX_LOG_LINES_PER_SEC`]), the run's progress, and how much of each has
/// been published.
#[derive(Clone, Debug, Default)]
pub(crate) struct LogBuffer {
    inner: Arc<Mutex<LogLines>>,
}

#[derive(Debug, Default)]
struct LogLines {
    lines: std::collections::VecDeque<LogLine>,
    dropped: u32,
    /// Lines kept so far, ever (the sequence number of the next one).
    seq: u64,
    /// The rate bound: when the run's first line came, the second since then it counts,
    /// and the lines taken in it.
    since: Option<std::time::Instant>,
    second: i64,
    in_second: u32,
    progress: Option<Progress>,
    /// What was last published: the line sequence, the dropped count, the progress.
    published: (u64, u32, bool),
}

/// Most bytes of log text one [`crate::Event::RunLog`] carries.
const MAX_NEWS_BYTES: usize = 16 * 1024;

/// What a run's buffer gained since it was last published.
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct LiveNews {
    /// New lines (the newest kept, if more came than are kept), and the sequence number
    /// after the last of them.
    pub(crate) lines: Vec<LogLine>,
    pub(crate) seq: u64,
    pub(crate) dropped: u32,
    /// The progress, when it changed.
    pub(crate) progress: Option<Progress>,
}

impl LogBuffer {
    pub(crate) fn push(&self, at: Timestamp, level: LogLevel, message: &str) {
        self.push_at(std::time::Instant::now(), at, level, message);
    }

    /// [`LogBuffer::push`], the rate counted in seconds of `now` (a monotonic clock, whatever
    /// clock stamps the lines: the job's and the tracing layer's may differ).
    pub(crate) fn push_at(
        &self,
        now: std::time::Instant,
        at: Timestamp,
        level: LogLevel,
        message: &str,
    ) {
        let Ok(mut g) = self.inner.lock() else { return };
        let start = *g.since.get_or_insert(now);
        let second = now.saturating_duration_since(start).as_secs() as i64;
        if g.second != second {
            g.second = second;
            g.in_second = 0;
        }
        if g.in_second >= MAX_LOG_LINES_PER_SEC {
            g.dropped = g.dropped.saturating_add(1);
            return;
        }
        g.in_second += 1;
        if g.lines.len() >= MAX_LOG_LINES {
            g.lines.pop_front();
            g.dropped = g.dropped.saturating_add(1);
        }
        g.lines.push_back(LogLine {
            at,
            level,
            message: without_nul(truncate(message, MAX_LOG_LINE_BYTES)),
        });
        g.seq += 1;
    }

    pub(crate) fn set_progress(&self, p: Progress) {
        if let Ok(mut g) = self.inner.lock() {
            g.progress = Some(p);
            g.published.2 = false;
        }
    }

    /// The lines kept, the count not kept, the progress and the lines kept so far, as they
    /// stand.
    pub(crate) fn snapshot(&self) -> (Vec<LogLine>, u32, Option<Progress>, u64) {
        match self.inner.lock() {
            Ok(g) => (
                g.lines.iter().cloned().collect(),
                g.dropped,
                g.progress.clone(),
                g.seq,
            ),
            Err(_) => (Vec::new(), 0, None, 0),
        }
    }

    /// What is new since the last call, or `None` when nothing is.
    pub(crate) fn news(&self) -> Option<LiveNews> {
        let mut g = self.inner.lock().ok()?;
        let (seq, dropped, progress_told) = g.published;
        if g.seq == seq && g.dropped == dropped && progress_told {
            return None;
        }
        let new = usize::try_from(g.seq - seq)
            .unwrap_or(usize::MAX)
            .min(g.lines.len());
        // The newest of them, at most MAX_NEWS_BYTES of text: an event sits in every
        // subscriber's queue until read (a viewer that sees a gap reads the log again).
        let mut bytes = 0;
        let mut lines: Vec<LogLine> = g
            .lines
            .iter()
            .rev()
            .take(new)
            .take_while(|l| {
                bytes += l.message.len();
                bytes <= MAX_NEWS_BYTES
            })
            .cloned()
            .collect();
        lines.reverse();
        let progress = if progress_told {
            None
        } else {
            g.progress.clone()
        };
        g.published = (g.seq, g.dropped, true);
        Some(LiveNews {
            lines,
            seq: g.seq,
            dropped: g.dropped,
            progress,
        })
    }

    pub(crate) fn take(&self) -> (Vec<LogLine>, u32) {
        match self.inner.lock() {
            Ok(mut g) => (std::mem::take(&mut g.lines).into(), g.dropped),
            Err(_) => (Vec::new(), 0),
        }
    }

    /// The progress, when the job told one.
    pub(crate) fn progress(&self) -> Option<Progress> {
        self.inner.lock().ok()?.progress.clone()
    }
}

/// `s` without NUL characters (PostgreSQL's JSON cannot hold them), as `U+FFFD`.
pub(crate) fn without_nul(s: &str) -> String {
    if s.contains('\0') {
        s.replace('\0', "\u{fffd}")
    } else {
        s.to_string()
    }
}

/// `s` cut to at most `max` bytes at a character boundary.
pub(crate) fn truncate(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_buffer_keeps_the_newest_lines_at_a_bounded_rate() {
        let b = LogBuffer::default();
        // Over several seconds, within the rate: the newest MAX_LOG_LINES are kept.
        let total = MAX_LOG_LINES + 5;
        let t0 = std::time::Instant::now();
        let second = |n: u64| t0 + std::time::Duration::from_secs(n);
        for i in 0..total {
            let now = second((i as u32 / MAX_LOG_LINES_PER_SEC) as u64);
            b.push_at(
                now,
                Timestamp::UNIX_EPOCH,
                LogLevel::Info,
                &format!("line {i}"),
            );
        }
        let news = b.news().unwrap();
        assert_eq!(news.seq, total as u64);
        assert_eq!(news.lines.len(), MAX_LOG_LINES, "the newest kept");
        assert_eq!(news.lines[0].message, "line 5");
        assert_eq!(news.dropped, 5);
        assert!(b.news().is_none(), "nothing new");
        // A burst within one second: past the rate, counted and not kept.
        let at = Timestamp::from_second(100).unwrap();
        for i in 0..(MAX_LOG_LINES_PER_SEC + 7) {
            b.push_at(second(100), at, LogLevel::Info, &format!("burst\0{i}"));
        }
        let news = b.news().unwrap();
        assert_eq!(news.lines.len(), MAX_LOG_LINES_PER_SEC as usize);
        assert_eq!(news.lines[0].message, "burst\u{fffd}0", "no NUL kept");
        assert_eq!(news.dropped, 5 + MAX_LOG_LINES_PER_SEC + 7);
        // Progress is news once.
        b.set_progress(Progress {
            done: 3,
            total: 4,
            message: "x".into(),
            at,
        });
        let news = b.news().unwrap();
        assert!(news.lines.is_empty());
        assert_eq!(news.progress.unwrap().percent(), Some(75));
        assert!(b.news().is_none());
        let (lines, _) = b.take();
        assert_eq!(lines.len(), MAX_LOG_LINES);
    }

    #[test]
    fn truncate_respects_char_boundaries() {
        assert_eq!(truncate("héllo", 2), "h");
        assert_eq!(truncate("héllo", 3), "hé");
        assert_eq!(truncate("abc", 10), "abc");
    }

    #[test]
    fn status_names_round_trip() {
        for st in RunStatus::ALL {
            assert_eq!(st.as_str().parse::<RunStatus>().unwrap(), st);
            assert_eq!(
                serde_json::to_string(&st).unwrap(),
                format!("\"{}\"", st.as_str())
            );
        }
        assert!("exploded".parse::<RunStatus>().is_err());
    }
}
