//! Jobs: named async functions registered in code, and the context a run hands them.
//!
//! Only registered names can be run: a task (from code, the dashboard or the API) names a job,
//! and the name is looked up in the registry; nothing is ever loaded by name from input.

use std::collections::BTreeMap;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, RwLock};

use jiff::Timestamp;
use serde::de::DeserializeOwned;
use serde_json::Value;
use tokio::sync::watch;

use super::clock::Clock;
use super::history::{LogBuffer, LogLevel, RunId};

/// The error a job returns. Any `std::error::Error` converts with `?`, and so does a string:
/// `Err("disk full".into())`.
pub type JobError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// What a job returns.
pub type JobResult = Result<(), JobError>;

pub(crate) type JobFuture = Pin<Box<dyn Future<Output = JobResult> + Send + 'static>>;
pub(crate) type JobFn = Arc<dyn Fn(TaskContext) -> JobFuture + Send + Sync + 'static>;

/// Registered jobs by name.
#[derive(Default)]
pub(crate) struct JobRegistry {
    jobs: RwLock<BTreeMap<String, JobFn>>,
}

impl fmt::Debug for JobRegistry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.names()).finish()
    }
}

impl JobRegistry {
    /// Registers `f` under `name`, returning whether a job of that name was replaced.
    pub(crate) fn insert<F, Fut>(&self, name: String, f: F) -> bool
    where
        F: Fn(TaskContext) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = JobResult> + Send + 'static,
    {
        let f: JobFn = Arc::new(move |ctx| Box::pin(f(ctx)));
        let mut jobs = self.jobs.write().unwrap_or_else(|p| p.into_inner());
        jobs.insert(name, f).is_some()
    }

    pub(crate) fn get(&self, name: &str) -> Option<JobFn> {
        let jobs = self.jobs.read().unwrap_or_else(|p| p.into_inner());
        jobs.get(name).cloned()
    }

    pub(crate) fn contains(&self, name: &str) -> bool {
        let jobs = self.jobs.read().unwrap_or_else(|p| p.into_inner());
        jobs.contains_key(name)
    }

    /// Whether each name is registered, under one read of the lock (a page of tasks would
    /// otherwise take it once per row, from every worker at once).
    pub(crate) fn contains_each<'a>(&self, names: impl IntoIterator<Item = &'a str>) -> Vec<bool> {
        let jobs = self.jobs.read().unwrap_or_else(|p| p.into_inner());
        names.into_iter().map(|n| jobs.contains_key(n)).collect()
    }

    pub(crate) fn names(&self) -> Vec<String> {
        let jobs = self.jobs.read().unwrap_or_else(|p| p.into_inner());
        jobs.keys().cloned().collect()
    }
}

/// What a job gets for one run: the task's args, who and when it is, a log, and a
/// cancellation signal.
///
/// ```
/// use taskdeck::{JobResult, TaskContext};
///
/// #[derive(serde::Deserialize)]
/// struct Report { to: String }
///
/// async fn send_report(ctx: TaskContext) -> JobResult {
///     let args: Report = ctx.args_as()?;
///     ctx.log(format!("sending to {}", args.to));
///     Ok(())
/// }
/// ```
#[derive(Clone)]
pub struct TaskContext {
    pub(crate) task_id: Arc<str>,
    pub(crate) run_id: RunId,
    pub(crate) attempt: u32,
    pub(crate) scheduled_at: Timestamp,
    pub(crate) args: Arc<Value>,
    pub(crate) logs: LogBuffer,
    pub(crate) clock: Arc<dyn Clock>,
    /// Shutdown: every run is asked to stop.
    pub(crate) cancel: watch::Receiver<bool>,
    /// This run was cancelled (`Scheduler::cancel_run`): by whom.
    pub(crate) run_cancel: watch::Receiver<Option<String>>,
    /// What the job returned, kept with the run.
    pub(crate) result: Arc<std::sync::Mutex<Option<Value>>>,
}

impl fmt::Debug for TaskContext {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TaskContext")
            .field("task_id", &self.task_id)
            .field("run_id", &self.run_id)
            .field("attempt", &self.attempt)
            .field("scheduled_at", &self.scheduled_at)
            .finish_non_exhaustive()
    }
}

impl TaskContext {
    /// The task's id.
    pub fn task_id(&self) -> &str {
        &self.task_id
    }

    /// This run's id.
    pub fn run_id(&self) -> RunId {
        self.run_id
    }

    /// 1 for the first attempt, 2 for the first retry, …
    pub fn attempt(&self) -> u32 {
        self.attempt
    }

    /// When the trigger said this run should happen.
    pub fn scheduled_at(&self) -> Timestamp {
        self.scheduled_at
    }

    /// The task's JSON args.
    pub fn args(&self) -> &Value {
        &self.args
    }

    /// The args decoded into `T`; the error says which field did not fit.
    pub fn args_as<T: DeserializeOwned>(&self) -> Result<T, JobError> {
        T::deserialize(&*self.args)
            .map_err(|e| format!("task args do not fit: {}", without_values(&e.to_string())).into())
    }

    /// Adds an info line to the run's log, shown live on the run's page and kept with it
    /// (bounded: the newest [`MAX_LOG_LINES`](crate::MAX_LOG_LINES), at most
    /// [`MAX_LOG_LINES_PER_SEC`](crate::MAX_LOG_LINES_PER_SEC) a second; the rest are
    /// counted).
    pub fn log(&self, message: impl AsRef<str>) {
        self.log_at(LogLevel::Info, message);
    }

    /// Adds a line of the given level to the run's log.
    pub fn log_at(&self, level: LogLevel, message: impl AsRef<str>) {
        self.logs.push(self.clock.now(), level, message.as_ref());
    }

    /// Tells how far the run has got: `done` of `total` steps (`total` 0 when not known) and
    /// what it is doing. Shown live as a progress bar on the run's page, in its task's row
    /// and on the jobs page, and kept with the run. The message is cut at
    /// [`MAX_PROGRESS_MESSAGE_BYTES`](crate::MAX_PROGRESS_MESSAGE_BYTES).
    pub fn progress(&self, done: u64, total: u64, message: impl AsRef<str>) {
        self.logs.set_progress(super::history::Progress {
            done,
            total,
            message: super::history::without_nul(super::history::truncate(
                message.as_ref(),
                super::history::MAX_PROGRESS_MESSAGE_BYTES,
            )),
            at: self.clock.now(),
        });
    }

    /// True once this run should stop: someone cancelled it ([`crate::Scheduler::cancel_run`],
    /// the dashboard) or the scheduler is shutting down. Poll it between steps of a long job.
    pub fn is_cancelled(&self) -> bool {
        *self.cancel.borrow() || self.run_cancel.borrow().is_some()
    }

    /// Completes when this run should stop (see [`TaskContext::is_cancelled`]). A job that
    /// selects on this can finish cleanly within the grace period (`cancel_grace` for a
    /// cancelled run, the shutdown grace for a shutdown); one that does not is aborted after
    /// it. Either way the run ends as cancelled.
    pub async fn cancelled(&self) {
        let mut shutdown = self.cancel.clone();
        let mut run = self.run_cancel.clone();
        // An error means the scheduler is gone, which is also a reason to stop.
        tokio::select! {
            _ = shutdown.wait_for(|c| *c) => {}
            _ = run.wait_for(|c| c.is_some()) => {}
        }
    }

    /// Keeps `value` as this run's result, shown on its page and in the API (replacing any
    /// result set before). JSON over 16 KiB is replaced by a note of its size.
    pub fn set_result(&self, value: impl serde::Serialize) {
        let v = match serde_json::to_value(value) {
            Ok(v) => super::history::bounded_result(v),
            Err(e) => serde_json::json!({ "error": format!("the result is not JSON: {e}") }),
        };
        *self.result.lock().unwrap_or_else(|p| p.into_inner()) = Some(v);
    }
}

/// A decoding error without the values it quotes (`invalid type: string "hunter2"` becomes
/// `invalid type: a string`): args may hold secrets, and a run's error is shown to viewers.
fn without_values(message: &str) -> String {
    let mut out = String::with_capacity(message.len());
    let mut rest = message;
    while let Some(i) = rest.find("string \"") {
        out.push_str(&rest[..i]);
        out.push_str("a string");
        let after = &rest[i + "string \"".len()..];
        // The value is quoted as Rust writes a string's debug form: it ends at the first
        // quote that is not escaped.
        let mut escaped = false;
        let end = after.char_indices().find_map(|(j, c)| {
            let close = c == '"' && !escaped;
            escaped = c == '\\' && !escaped;
            close.then_some(j)
        });
        rest = match end {
            Some(end) => &after[end + 1..],
            None => "",
        };
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod value_tests {
    #[test]
    fn decoding_errors_do_not_quote_the_args() {
        let ctx_err = |v: serde_json::Value| {
            #[derive(serde::Deserialize, Debug)]
            #[allow(dead_code)]
            struct Args {
                n: u32,
            }
            let e = serde_json::from_value::<Args>(v).unwrap_err().to_string();
            super::without_values(&e)
        };
        let e = ctx_err(serde_json::json!({"n": "hunter2\", \"zq9"}));
        assert!(!e.contains("hunter2") && !e.contains("zq9"), "{e}");
        assert!(e.contains("invalid type: a string, expected u32"), "{e}");
    }
}
